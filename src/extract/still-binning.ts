/**
 * The extraction kernel for one still: every pixel of every panel → validity and masks → lab position, q = s1 − s0,
 * corrections → fractional hkl = A⁻¹·q with the still's own A → voxel (`sub = round(hkl·ndiv)` with the rounding of
 * `voxelize/`, mapped to the asymmetric unit) → sums per voxel. Counts are summed per (still, voxel) before dividing:
 * `I = Σ(c − bg) / Σ corr`, `σ = √Σc / Σ corr` (a voxel whose counts sum to 0 gets the variance of one count, so
 * that empty voxels are kept: dropping them would bias the mean up).
 *
 * Pixels are first summed per raw (unmapped) sub-index, then the distinct raw voxels are mapped to the asymmetric unit
 * in one batch and combined: symmetry-equivalent voxels that one still reaches twice become one row. The row's q is
 * the direction of Σq over the pixels of its largest raw voxel, scaled to the mean |q| of all its pixels (so |q|, the
 * only use the scaler makes of it, is the pixels' mean).
 *
 * @packageDocumentation
 */
import type { SpaceGroup } from "../symmetry/space-group.ts";
import { voxelIndexOfKernel, type VoxelGrid } from "../voxelize/voxel-grid.ts";
import { roundHalfEvenSmall } from "../voxelize/voxelize.ts";
import {
  CACHED_PIXEL_STRIDE,
  cachedGeometrySettings,
  GeometryCache,
  type CachedPanelGeometry,
} from "./geometry-cache.ts";
import type { BeamFrame, PanelFrame } from "./pixel-geometry.ts";
import {
  SLOT_STRIDE,
  SUM_CORRECTION,
  SUM_COUNTS,
  SUM_NET,
  SUM_PIXELS,
  SUM_QLENGTH,
  SUM_QX,
  SUM_QY,
  SUM_QZ,
  VoxelAccumulator,
} from "./voxel-accumulator.ts";

/** Pixel values of one panel, row-major (slow, fast). */
export type PixelValues =
  Int32Array | Uint32Array | Uint16Array | Int16Array | Uint8Array | Float32Array | Float64Array;

/** One still's pixels and models. */
export interface StillPixels {
  readonly panels: readonly PanelFrame[];
  /** Per panel, `imageSize[0]·imageSize[1]` values. */
  readonly data: readonly PixelValues[];
  /** Per panel, 1 = use the pixel, 0 = masked (user mask and Bragg boxes); undefined = use every pixel. */
  readonly mask?: readonly (Uint8Array | undefined)[];
  /** Per panel, a constant background image subtracted from the counts. */
  readonly background?: readonly Float32Array[];
  readonly beam: BeamFrame;
  /** Real-space a, b, c (the rows of A⁻¹), 9 numbers. */
  readonly realSpace: readonly number[];
}

/** What the kernel applies. */
export interface BinningSettings {
  readonly grid: VoxelGrid;
  readonly spaceGroup: SpaceGroup;
  /** High-resolution limit (Å). */
  readonly dMin: number;
  /** Low-resolution limit (Å), or undefined for none. */
  readonly dMax: number | undefined;
  /** Divide by the polarization factor. */
  readonly polarization: boolean;
  /** Divide by the relative solid angle. */
  readonly solidAngle: boolean;
  /** Divide by the detector quantum efficiency (only on panels with μ and thickness). */
  readonly qe: boolean;
}

/** Pixel counts of one still. */
export interface StillPixelCounts {
  /** Pixels read. */
  pixels: number;
  /** Outside the trusted range or negative. */
  untrusted: number;
  /** Masked by the user mask or a Bragg box. */
  masked: number;
  /** Beyond d_min or d_max. */
  outsideResolution: number;
  /** Asymmetric-unit index outside the voxel grid. */
  outsideGrid: number;
  /** Summed into a row. */
  used: number;
}

/** The rows of one still. */
export interface StillRows {
  readonly voxel: Float64Array;
  readonly intensity: Float64Array;
  readonly sigma: Float64Array;
  /** Mean q of each row (3 per row). */
  readonly q: Float64Array;
  /** Pixels per row. */
  readonly pixels: Int32Array;
  readonly counts: StillPixelCounts;
}

/**
 * Counts the pixels `[from, to)` outside the resolution limits into `counts`: untrusted, else masked, else outside
 * the resolution (the order in which the binning tests a pixel).
 */
function countOutside(
  data: PixelValues,
  mask: Uint8Array | undefined,
  from: number,
  to: number,
  lo: number,
  hi: number,
  counts: StillPixelCounts,
): void {
  let untrusted = 0;
  let masked = 0;
  for (let i = from; i < to; i++) {
    const v = data[i];
    if (!(v > lo && v < hi) || v < 0) untrusted++;
    else if (mask !== undefined && mask[i] === 0) masked++;
  }
  counts.untrusted += untrusted;
  counts.masked += masked;
  counts.outsideResolution += to - from - untrusted - masked;
}

/** Sums one panel's pixels into `acc` (the hot loop; every per-pixel geometry value comes from `geometry`). */
function binPanel(
  panel: PanelFrame,
  geometry: CachedPanelGeometry,
  data: PixelValues,
  mask: Uint8Array | undefined,
  background: Float32Array | undefined,
  realSpace: readonly number[],
  settings: BinningSettings,
  acc: VoxelAccumulator,
  counts: StillPixelCounts,
): void {
  const n = panel.imageSize[0] * panel.imageSize[1];
  const [lo, hi] = panel.trustedRange;
  const { spans, pixels: g } = geometry;
  const [a0, a1, a2, b0, b1, b2, c0, c1, c2] = realSpace;
  const ndiv = settings.grid.ndiv;
  const H0 = settings.grid.hklMax[0] * ndiv;
  const H1 = settings.grid.hklMax[1] * ndiv;
  const H2 = settings.grid.hklMax[2] * ndiv;
  const D1 = settings.grid.dims[1];
  const D2 = settings.grid.dims[2];
  counts.pixels += n;
  let untrusted = 0;
  let masked = 0;
  let outsideGrid = 0;
  // neighbouring pixels mostly share a voxel: a run of one voxel is summed here and added to `acc` when it ends
  let runKey = -1;
  let sc = 0;
  let sn = 0;
  let sk = 0;
  let sx = 0;
  let sy = 0;
  let sz = 0;
  let sl = 0;
  let sp = 0;
  let done = 0;
  let j = 0;
  for (let s = 0; s < spans.length; s += 2) {
    const start = spans[s];
    const end = spans[s + 1];
    if (start > done) countOutside(data, mask, done, start, lo, hi, counts);
    done = end;
    for (let i = start; i < end; i++, j += CACHED_PIXEL_STRIDE) {
      const v = data[i];
      if (!(v > lo && v < hi) || v < 0) {
        untrusted++;
        continue;
      }
      if (mask !== undefined && mask[i] === 0) {
        masked++;
        continue;
      }
      const qx = g[j];
      const qy = g[j + 1];
      const qz = g[j + 2];
      // the rounding of voxelize/ (half to even)
      const hh = roundHalfEvenSmall((a0 * qx + a1 * qy + a2 * qz) * ndiv);
      const kk = roundHalfEvenSmall((b0 * qx + b1 * qy + b2 * qz) * ndiv);
      const ll = roundHalfEvenSmall((c0 * qx + c1 * qy + c2 * qz) * ndiv);
      if (hh > H0 || hh < -H0 || kk > H1 || kk < -H1 || ll > H2 || ll < -H2) {
        outsideGrid++;
        continue;
      }
      const key = ((hh + H0) * D1 + (kk + H1)) * D2 + (ll + H2);
      if (key !== runKey) {
        if (sp > 0) acc.add(runKey, sc, sn, sk, sx, sy, sz, sl, sp);
        runKey = key;
        sc = sn = sk = sx = sy = sz = sl = sp = 0;
      }
      sc += v;
      sn += background === undefined ? v : v - background[i];
      sk += g[j + 4];
      sx += qx;
      sy += qy;
      sz += qz;
      sl += g[j + 3];
      sp++;
    }
  }
  if (n > done) countOutside(data, mask, done, n, lo, hi, counts);
  if (sp > 0) acc.add(runKey, sc, sn, sk, sx, sy, sz, sl, sp);
  counts.untrusted += untrusted;
  counts.masked += masked;
  counts.outsideGrid += outsideGrid;
}

/**
 * Bins one still. `acc` is scratch (cleared here) and `cache` the per-pixel geometry, both reused between the stills
 * of a thread.
 */
export function binStill(
  still: StillPixels,
  settings: BinningSettings,
  acc: VoxelAccumulator,
  cache: GeometryCache = new GeometryCache(),
): StillRows {
  acc.clear();
  const geometry = cache.get(still.panels, still.beam, cachedGeometrySettings(settings));
  const counts: StillPixelCounts = {
    pixels: 0,
    untrusted: 0,
    masked: 0,
    outsideResolution: 0,
    outsideGrid: 0,
    used: 0,
  };
  still.panels.forEach((panel, p) => {
    binPanel(
      panel,
      geometry[p],
      still.data[p],
      still.mask?.[p],
      still.background?.[p],
      still.realSpace,
      settings,
      acc,
      counts,
    );
  });
  return combineAsymmetricUnit(acc, acc.second(), settings, counts);
}

// The three loops of the combine are separate functions that end with their loop: V8 compiles a long loop on its
// first run (on-stack replacement) before the code after it has run, and code after the loop would then leave the
// compiled code on every call.

/** The grid sub-indices (h, k, l) of each slot of `acc`, 3 per slot. */
function slotIndices(acc: VoxelAccumulator, grid: VoxelGrid): Int32Array {
  const n = acc.size;
  const H0 = grid.hklMax[0] * grid.ndiv;
  const H1 = grid.hklMax[1] * grid.ndiv;
  const H2 = grid.hklMax[2] * grid.ndiv;
  const D1 = grid.dims[1];
  const D2 = grid.dims[2];
  const sub = new Int32Array(3 * n);
  const keys = acc.keys;
  if (grid.dims[0] * D1 * D2 <= 2 ** 31) {
    // integer division (a floating-point % is a library call in V8)
    for (let s = 0; s < n; s++) {
      const key = keys[s] | 0;
      const l = key % D2;
      const rest = ((key - l) / D2) | 0;
      const k = rest % D1;
      sub[3 * s] = (rest - k) / D1 - H0;
      sub[3 * s + 1] = k - H1;
      sub[3 * s + 2] = l - H2;
    }
    return sub;
  }
  for (let s = 0; s < n; s++) {
    const key = keys[s];
    const l = key % D2;
    const rest = (key - l) / D2;
    const k = rest % D1;
    const h = (rest - k) / D1;
    sub[3 * s] = h - H0;
    sub[3 * s + 1] = k - H1;
    sub[3 * s + 2] = l - H2;
  }
  return sub;
}

/**
 * Sums the slots of `acc` into the rows of `rowAcc` (keyed by the voxel of each slot's asymmetric-unit sub-index
 * `sub`; rows in order of their first slot, each summing its slots in slot order) and sets `largest[r]` to the slot
 * of most pixels of row r (the first of equals). Returns the pixels of slots outside the grid.
 */
function sumRows(
  acc: VoxelAccumulator,
  sub: Int32Array,
  grid: VoxelGrid,
  rowAcc: VoxelAccumulator,
  largest: Int32Array,
): number {
  const n = acc.size;
  const sums = acc.sums;
  let outside = 0;
  for (let s = 0; s < n; s++) {
    const o = SLOT_STRIDE * s;
    const v = voxelIndexOfKernel(grid, sub[3 * s], sub[3 * s + 1], sub[3 * s + 2]);
    if (v < 0) {
      outside += sums[o + SUM_PIXELS];
      continue;
    }
    const before = rowAcc.size;
    const r = rowAcc.slot(v);
    if (r === before || sums[o + SUM_PIXELS] > sums[SLOT_STRIDE * largest[r] + SUM_PIXELS]) largest[r] = s;
    const rowSums = rowAcc.sums;
    const t = SLOT_STRIDE * r;
    rowSums[t + SUM_COUNTS] += sums[o + SUM_COUNTS];
    rowSums[t + SUM_NET] += sums[o + SUM_NET];
    rowSums[t + SUM_CORRECTION] += sums[o + SUM_CORRECTION];
    rowSums[t + SUM_QLENGTH] += sums[o + SUM_QLENGTH];
    rowSums[t + SUM_PIXELS] += sums[o + SUM_PIXELS];
  }
  return outside;
}

/** Fills the rows' I, σ, mean q and pixels from their sums. Returns the pixels of all rows. */
function finishRows(
  rowSums: Float64Array,
  slotSums: Float64Array,
  largest: Int32Array,
  rows: { intensity: Float64Array; sigma: Float64Array; q: Float64Array; pixels: Int32Array },
): number {
  const { intensity, sigma, q, pixels } = rows;
  let used = 0;
  for (let r = 0; r < pixels.length; r++) {
    const t = SLOT_STRIDE * r;
    const sumCorr = rowSums[t + SUM_CORRECTION];
    const nPixels = rowSums[t + SUM_PIXELS];
    pixels[r] = nPixels;
    intensity[r] = rowSums[t + SUM_NET] / sumCorr;
    sigma[r] = Math.sqrt(Math.max(rowSums[t + SUM_COUNTS], 1)) / sumCorr;
    const o = SLOT_STRIDE * largest[r];
    const qx = slotSums[o + SUM_QX];
    const qy = slotSums[o + SUM_QY];
    const qz = slotSums[o + SUM_QZ];
    const norm = Math.sqrt(qx * qx + qy * qy + qz * qz);
    const scale = norm > 0 ? rowSums[t + SUM_QLENGTH] / nPixels / norm : 0;
    q[3 * r] = qx * scale;
    q[3 * r + 1] = qy * scale;
    q[3 * r + 2] = qz * scale;
    used += nPixels;
  }
  return used;
}

/** Maps the raw voxels of `acc` to the asymmetric unit and combines those that meet (see the module text). */
function combineAsymmetricUnit(
  acc: VoxelAccumulator,
  rowAcc: VoxelAccumulator,
  settings: BinningSettings,
  counts: StillPixelCounts,
): StillRows {
  const sub = slotIndices(acc, settings.grid);
  settings.spaceGroup.mapToAsuBatch(sub, false, sub);
  rowAcc.clear();
  const largest = new Int32Array(acc.size);
  counts.outsideGrid += sumRows(acc, sub, settings.grid, rowAcc, largest);
  const n = rowAcc.size;
  const voxel = rowAcc.keys.slice(0, n);
  const rows = {
    intensity: new Float64Array(n),
    sigma: new Float64Array(n),
    q: new Float64Array(3 * n),
    pixels: new Int32Array(n),
  };
  counts.used += finishRows(rowAcc.sums, acc.sums, largest, rows);
  return { voxel, ...rows, counts };
}
