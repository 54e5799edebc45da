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
import { roundHalfEven } from "../voxelize/voxelize.ts";
import { GeometryCache, type CachedPanelGeometry } from "./geometry-cache.ts";
import type { BeamFrame, PanelFrame } from "./pixel-geometry.ts";
import type { VoxelAccumulator } from "./voxel-accumulator.ts";

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
  const { q, qLength, correction } = geometry;
  const [a0, a1, a2, b0, b1, b2, c0, c1, c2] = realSpace;
  const ndiv = settings.grid.ndiv;
  const H0 = settings.grid.hklMax[0] * ndiv;
  const H1 = settings.grid.hklMax[1] * ndiv;
  const H2 = settings.grid.hklMax[2] * ndiv;
  const D1 = settings.grid.dims[1];
  const D2 = settings.grid.dims[2];
  const qMax = 1 / settings.dMin;
  const qMin = settings.dMax === undefined ? 0 : 1 / settings.dMax;
  counts.pixels += n;
  let untrusted = 0;
  let masked = 0;
  let outsideResolution = 0;
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
  for (let i = 0; i < n; i++) {
    const v = data[i];
    if (!(v > lo && v < hi) || v < 0) {
      untrusted++;
      continue;
    }
    if (mask !== undefined && mask[i] === 0) {
      masked++;
      continue;
    }
    const qq = qLength[i];
    if (!(qq <= qMax && qq >= qMin)) {
      outsideResolution++;
      continue;
    }
    const qx = q[3 * i];
    const qy = q[3 * i + 1];
    const qz = q[3 * i + 2];
    // the rounding of voxelize/: Math.round is the nearest integer except at exact halves (it rounds those up),
    // which alone go through voxelize's own function (calling it for every pixel costs a third of the loop)
    const fh = (a0 * qx + a1 * qy + a2 * qz) * ndiv;
    const fk = (b0 * qx + b1 * qy + b2 * qz) * ndiv;
    const fl = (c0 * qx + c1 * qy + c2 * qz) * ndiv;
    let hh = Math.round(fh);
    let kk = Math.round(fk);
    let ll = Math.round(fl);
    if (hh - fh === 0.5) hh = roundHalfEven(fh);
    if (kk - fk === 0.5) kk = roundHalfEven(fk);
    if (ll - fl === 0.5) ll = roundHalfEven(fl);
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
    sk += correction[i];
    sx += qx;
    sy += qy;
    sz += qz;
    sl += qq;
    sp++;
  }
  if (sp > 0) acc.add(runKey, sc, sn, sk, sx, sy, sz, sl, sp);
  counts.untrusted += untrusted;
  counts.masked += masked;
  counts.outsideResolution += outsideResolution;
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
  const geometry = cache.get(still.panels, still.beam, {
    polarization: settings.polarization,
    solidAngle: settings.solidAngle,
    qe: settings.qe,
  });
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
  return combineAsymmetricUnit(acc, settings, counts);
}

/** Maps the raw voxels of `acc` to the asymmetric unit and combines those that meet (see the module text). */
function combineAsymmetricUnit(acc: VoxelAccumulator, settings: BinningSettings, counts: StillPixelCounts): StillRows {
  const grid = settings.grid;
  const n = acc.size;
  const H0 = grid.hklMax[0] * grid.ndiv;
  const H1 = grid.hklMax[1] * grid.ndiv;
  const H2 = grid.hklMax[2] * grid.ndiv;
  const sub = new Int32Array(3 * n);
  for (let s = 0; s < n; s++) {
    const key = acc.keys[s];
    const l = key % grid.dims[2];
    const rest = (key - l) / grid.dims[2];
    const k = rest % grid.dims[1];
    const h = (rest - k) / grid.dims[1];
    sub[3 * s] = h - H0;
    sub[3 * s + 1] = k - H1;
    sub[3 * s + 2] = l - H2;
  }
  settings.spaceGroup.mapToAsuBatch(sub, false, sub);
  const rowOf = new Map<number, number>();
  const slotRow = new Int32Array(n);
  let rows = 0;
  for (let s = 0; s < n; s++) {
    const v = voxelIndexOfKernel(grid, sub[3 * s], sub[3 * s + 1], sub[3 * s + 2]);
    if (v < 0) {
      slotRow[s] = -1;
      counts.outsideGrid += acc.pixels[s];
      continue;
    }
    let r = rowOf.get(v);
    if (r === undefined) {
      r = rows++;
      rowOf.set(v, r);
    }
    slotRow[s] = r;
  }
  const voxel = new Float64Array(rows);
  const sumCounts = new Float64Array(rows);
  const sumNet = new Float64Array(rows);
  const sumCorr = new Float64Array(rows);
  const sumQLength = new Float64Array(rows);
  const pixels = new Int32Array(rows);
  const largest = new Int32Array(rows).fill(-1);
  for (const [v, r] of rowOf) voxel[r] = v;
  for (let s = 0; s < n; s++) {
    const r = slotRow[s];
    if (r < 0) continue;
    sumCounts[r] += acc.counts[s];
    sumNet[r] += acc.net[s];
    sumCorr[r] += acc.correction[s];
    sumQLength[r] += acc.qLength[s];
    pixels[r] += acc.pixels[s];
    if (largest[r] < 0 || acc.pixels[s] > acc.pixels[largest[r]]) largest[r] = s;
  }
  const intensity = new Float64Array(rows);
  const sigma = new Float64Array(rows);
  const q = new Float64Array(3 * rows);
  for (let r = 0; r < rows; r++) {
    intensity[r] = sumNet[r] / sumCorr[r];
    sigma[r] = Math.sqrt(Math.max(sumCounts[r], 1)) / sumCorr[r];
    const s = largest[r];
    const qx = acc.q[3 * s];
    const qy = acc.q[3 * s + 1];
    const qz = acc.q[3 * s + 2];
    const norm = Math.sqrt(qx * qx + qy * qy + qz * qz);
    const scale = norm > 0 ? sumQLength[r] / pixels[r] / norm : 0;
    q[3 * r] = qx * scale;
    q[3 * r + 1] = qy * scale;
    q[3 * r + 2] = qz * scale;
    counts.used += pixels[r];
  }
  return { voxel, intensity, sigma, q, pixels, counts };
}
