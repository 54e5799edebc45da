/**
 * Planes through the merged diffuse map (`merged_diffuse.h5`), expanded from the asymmetric unit by the space group:
 * each grid point of the plane (sub-indices `round(hkl·ndiv)`) is mapped to the asymmetric unit with the same rule as
 * the voxel index of the binned data (`map_to_asu`, non-anomalous) and takes that voxel's merged intensity; a point
 * whose voxel has no data is empty (NaN). Planes larger than {@link MAX_SLICE_PIXELS} on a side are reduced by
 * averaging blocks of f × f grid points (the empty ones left out), so an image never exceeds that size whatever the
 * map.
 *
 * A plane is written as three comma-separated entries, two of them the axis letters in their own places and one a
 * number, e.g. `h,k,0` (the hk0 plane), `h,0,l`, `0,k,l` or `h,k,0.5` (the plane l = 0.5); the number must lie on
 * the map's grid (a multiple of 1/ndiv, within 10⁻⁶).
 *
 * @packageDocumentation
 */
import { ConfigError } from "../errors.ts";
import type { MergedDiffuseMap } from "../io/merged-diffuse.ts";
import type { SpaceGroup } from "../symmetry/space-group.ts";
import { voxelIndexOfKernel, type VoxelGrid } from "../voxelize/voxel-grid.ts";

/** Largest image side, in pixels: larger planes are averaged in blocks. */
export const MAX_SLICE_PIXELS = 512;

/** The three principal planes through the origin, in page order. */
export const PRINCIPAL_PLANES = ["h,k,0", "h,0,l", "0,k,l"] as const;

const AXES = ["h", "k", "l"] as const;

/** A plane of the map: two free axes and a fixed coordinate. */
export interface SlicePlane {
  /** The plane as written, normalised (e.g. `h,k,0.5`). */
  text: string;
  /** Short name: `hk0`, `h0l`, `0kl` for the principal planes, else the text. */
  name: string;
  /** Horizontal axis (0 = h, 1 = k, 2 = l). */
  u: number;
  /** Vertical axis. */
  v: number;
  /** The fixed axis. */
  fixed: number;
  /** The fixed coordinate in reciprocal-lattice units. */
  value: number;
}

/**
 * Parses a plane (`h,k,0.5`).
 *
 * @throws {@link ConfigError} naming the text when it is not two axis letters in place and one finite number
 */
export function parseSlicePlane(text: string): SlicePlane {
  const parts = text.split(",").map((s) => s.trim().toLowerCase());
  const bad = (why: string): ConfigError =>
    new ConfigError(`slice "${text.slice(0, 60)}": ${why} (write e.g. "h,k,0" or "h,k,0.5")`);
  if (parts.length !== 3) throw bad("expected three comma-separated entries");
  const free: number[] = [];
  let fixed = -1;
  let value = 0;
  parts.forEach((p, i) => {
    if (p === AXES[i]) {
      free.push(i);
    } else if (/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(p) && Number.isFinite(Number(p))) {
      if (fixed >= 0) throw bad("only one entry may be a number");
      fixed = i;
      value = Number(p) === 0 ? 0 : Number(p);
    } else {
      throw bad(`entry ${i + 1} must be "${AXES[i]}" or a number`);
    }
  });
  if (fixed < 0) throw bad("one entry must be a number");
  const normalised = parts.map((p, i) => (i === fixed ? String(value) : p)).join(",");
  const principal = value === 0 ? normalised.replaceAll(",", "") : normalised;
  return { text: normalised, name: principal, u: free[0], v: free[1], fixed, value };
}

/** A plane sampled on the map's grid. */
export interface MapSlice {
  /** The plane. */
  plane: SlicePlane;
  /** Image width (horizontal axis, increasing to the right). */
  width: number;
  /** Image height (vertical axis, increasing upwards: row 0 is the top). */
  height: number;
  /** Intensities, row-major from the top row; NaN where empty. */
  values: Float64Array;
  /** Horizontal axis range covered, reciprocal-lattice units [first pixel centre, last pixel centre]. */
  uRange: [number, number];
  /** Vertical axis range covered [bottom pixel centre, top pixel centre]. */
  vRange: [number, number];
  /** Grid points per pixel side (1 unless the plane was reduced). */
  block: number;
  /** Pixel side in reciprocal-lattice units (`block / ndiv`). */
  pitch: number;
  /** Pixels with data. */
  nFilled: number;
}

/** Finds the row of a voxel index (undefined when the map has no such voxel). */
export interface VoxelRowLookup {
  get(index: number): number | undefined;
}

/**
 * The row of each voxel index of the map, by binary search over the sorted indices (a `Map` would stop at 2^24
 * entries; a map may hold more voxels).
 */
export function voxelRows(map: Pick<MergedDiffuseMap, "voxelIndex">): VoxelRowLookup {
  const n = map.voxelIndex.length;
  let sorted = true;
  for (let r = 1; r < n && sorted; r++) sorted = map.voxelIndex[r] > map.voxelIndex[r - 1];
  const order = sorted
    ? null
    : Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => map.voxelIndex[a] - map.voxelIndex[b]);
  const keys = order === null ? map.voxelIndex : Float64Array.from(order, (r) => map.voxelIndex[r]);
  return {
    get(index: number): number | undefined {
      let lo = 0;
      let hi = n - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1;
        const k = keys[mid];
        if (k === index) return order === null ? mid : order[mid];
        if (k < index) lo = mid + 1;
        else hi = mid - 1;
      }
      return undefined;
    },
  };
}

/**
 * Samples a plane of the map.
 *
 * @param map - the merged map (voxel indices and intensities)
 * @param rows - {@link voxelRows} of the map
 * @param grid - the map's voxel grid (from its `ndiv` and `hkl_max` attributes)
 * @param group - the space group the map was merged in
 * @param plane - the plane
 * @returns the sampled plane
 * @throws {@link ConfigError} when the fixed coordinate is not on the grid or outside it
 */
export function sliceMap(
  map: Pick<MergedDiffuseMap, "intensity">,
  rows: VoxelRowLookup,
  grid: VoxelGrid,
  group: SpaceGroup,
  plane: SlicePlane,
): MapSlice {
  const fixedSub = plane.value * grid.ndiv;
  const rounded = Math.round(fixedSub);
  if (Math.abs(fixedSub - rounded) > 1e-6) {
    throw new ConfigError(
      `slice "${plane.text}": ${plane.value} is not on the map's grid (multiples of 1/${grid.ndiv})`,
    );
  }
  const fixedMax = grid.hklMax[plane.fixed] * grid.ndiv;
  if (Math.abs(rounded) > fixedMax) {
    throw new ConfigError(
      `slice "${plane.text}": ${plane.value} is outside the map (|${AXES[plane.fixed]}| ≤ ${grid.hklMax[plane.fixed]})`,
    );
  }
  const uMax = grid.hklMax[plane.u] * grid.ndiv;
  const vMax = grid.hklMax[plane.v] * grid.ndiv;
  const nu = 2 * uMax + 1;
  const nv = 2 * vMax + 1;
  const block = Math.max(1, Math.ceil(Math.max(nu, nv) / MAX_SLICE_PIXELS));
  const width = Math.ceil(nu / block);
  const height = Math.ceil(nv / block);
  const sum = new Float64Array(width * height);
  const count = new Int32Array(width * height);
  const line = new Int32Array(3 * nu);
  const mapped = new Int32Array(3 * nu);
  for (let j = 0; j < nv; j++) {
    const vs = j - vMax;
    for (let i = 0; i < nu; i++) {
      line[3 * i + plane.u] = i - uMax;
      line[3 * i + plane.v] = vs;
      line[3 * i + plane.fixed] = rounded;
    }
    group.mapToAsuBatch(line, false, mapped);
    const y = height - 1 - Math.floor(j / block);
    for (let i = 0; i < nu; i++) {
      const index = voxelIndexOfKernel(grid, mapped[3 * i], mapped[3 * i + 1], mapped[3 * i + 2]);
      const r = index < 0 ? undefined : rows.get(index);
      if (r === undefined) continue;
      const p = y * width + Math.floor(i / block);
      sum[p] += map.intensity[r];
      count[p]++;
    }
  }
  const values = new Float64Array(width * height);
  let nFilled = 0;
  for (let p = 0; p < values.length; p++) {
    values[p] = count[p] > 0 ? sum[p] / count[p] : Number.NaN;
    if (count[p] > 0) nFilled++;
  }
  const centre = (k: number, n: number, max: number): number =>
    (k * block + (Math.min(n, (k + 1) * block) - 1)) / 2 - max;
  return {
    plane,
    width,
    height,
    values,
    uRange: [centre(0, nu, uMax) / grid.ndiv, centre(width - 1, nu, uMax) / grid.ndiv],
    vRange: [centre(0, nv, vMax) / grid.ndiv, centre(height - 1, nv, vMax) / grid.ndiv],
    block,
    pitch: block / grid.ndiv,
    nFilled,
  };
}

/**
 * The colour range of a slice: the 1st and 99th percentiles of its filled pixels (so one hot voxel does not wash out
 * the rest), widened to a non-empty interval.
 *
 * @returns `[low, high]`, or `[0, 1]` when the slice is empty
 */
export function sliceColourRange(values: Float64Array): [number, number] {
  const filled = values.filter((x) => !Number.isNaN(x)).sort();
  if (filled.length === 0) return [0, 1];
  const q = (p: number): number =>
    filled[Math.min(filled.length - 1, Math.max(0, Math.round(p * (filled.length - 1))))];
  let lo = q(0.01);
  let hi = q(0.99);
  if (!(hi > lo)) {
    const pad = Math.max(Math.abs(lo) * 0.05, 1e-12);
    lo -= pad;
    hi += pad;
  }
  return [lo, hi];
}
