/**
 * The linear voxel index of the binned diffuse layout: `sub = round(hkl·ndiv)` mapped to the asymmetric unit, then
 * `idx = ((h + H0)·D1 + (k + H1))·D2 + (l + H2)` with `Hi = hklMax_i·ndiv` and `Di = 2·Hi + 1` (the rule written by the
 * simulators into the `voxel_index_rule` attribute).
 *
 * @packageDocumentation
 */
import {
  ConfigError,
  describeValue,
  requireInstanceArgument,
  requireIntegerArgument,
  requireNumbersArgument,
  requireObjectArgument,
} from "../errors.ts";
import type { BinnedDiffuseAttributes } from "../io/binned-diffuse.ts";

/** Grid parameters of the voxel index. */
export interface VoxelGrid {
  /** Voxel subdivisions per reciprocal-lattice unit. */
  readonly ndiv: number;
  /** Largest |h|, |k|, |l| covered. */
  readonly hklMax: readonly [number, number, number];
  /** Grid dimensions (2·hklMax·ndiv + 1 per axis). */
  readonly dims: readonly [number, number, number];
}

/** The rule text stored in the `voxel_index_rule` attribute. */
export const VOXEL_INDEX_RULE =
  "sub=round(hkl*ndiv); asu=map_to_asu(sub) (non-anomalous); idx=((h+hmax0*ndiv)*dims1+(k+hmax1*ndiv))*dims2+(l+hmax2*ndiv)";

/** The four grid attributes of a binned diffuse file written on `grid` (the writers of `voxelize` and `extract`). */
export function binnedGridAttributes(grid: VoxelGrid): BinnedDiffuseAttributes {
  return {
    ndiv: grid.ndiv,
    hklMax: [grid.hklMax[0], grid.hklMax[1], grid.hklMax[2]],
    voxelGridDims: [grid.dims[0], grid.dims[1], grid.dims[2]],
    voxelIndexRule: VOXEL_INDEX_RULE,
  };
}

/**
 * Builds and checks a grid.
 *
 * @throws {@link ConfigError} when ndiv or hklMax are not positive integers or the dims disagree with them.
 */
export function makeVoxelGrid(ndiv: number, hklMax: readonly [number, number, number]): VoxelGrid {
  if (!Number.isInteger(ndiv) || ndiv < 1)
    throw new ConfigError(`ndiv must be a positive integer, got ${describeValue(ndiv)}`);
  requireNumbersArgument(hklMax, "hkl_max", 3);
  for (const h of hklMax) {
    if (!Number.isInteger(h) || h < 1)
      throw new ConfigError(`hkl_max must be positive integers, got [${hklMax.join(", ")}]`);
  }
  const dims: [number, number, number] = [2 * hklMax[0] * ndiv + 1, 2 * hklMax[1] * ndiv + 1, 2 * hklMax[2] * ndiv + 1];
  if (dims[0] * dims[1] * dims[2] > Number.MAX_SAFE_INTEGER)
    throw new ConfigError("voxel grid too large for exact indices");
  return { ndiv, hklMax: [hklMax[0], hklMax[1], hklMax[2]], dims };
}

/**
 * Throws a {@link ConfigError} unless `grid` is a voxel grid as {@link makeVoxelGrid} builds it (`fn` names the
 * public function): checked once per call of a public function, never in the loops over the voxels.
 */
export function checkVoxelGrid(grid: unknown, fn: string): asserts grid is VoxelGrid {
  requireObjectArgument(grid, `${fn}: grid (makeVoxelGrid)`);
  const g = grid as VoxelGrid;
  const expected = makeVoxelGrid(g.ndiv, g.hklMax).dims;
  requireNumbersArgument(g.dims, `${fn}: grid.dims`, 3);
  if (g.dims.some((d, i) => d !== expected[i]))
    throw new ConfigError(`${fn}: grid.dims [${g.dims.join(", ")}] disagree with ndiv and hkl_max (makeVoxelGrid)`);
}

/**
 * Linear index of integer sub-indices (h, k, l) = round(hkl·ndiv) on the grid; −1 when outside it.
 *
 * @throws {@link ConfigError} for a malformed grid or non-integer sub-indices
 */
export function voxelIndexOf(grid: VoxelGrid, h: number, k: number, l: number): number {
  checkVoxelGrid(grid, "voxelIndexOf");
  for (const [name, v] of [
    ["h", h],
    ["k", k],
    ["l", l],
  ] as const)
    requireIntegerArgument(v, `voxelIndexOf: ${name} (sub-index, round(hkl·ndiv))`, -Number.MAX_SAFE_INTEGER);
  return voxelIndexOfKernel(grid, h, k, l);
}

/** Unchecked kernel of {@link voxelIndexOf}, for the loops over rows: the grid and indices are trusted. @internal */
export function voxelIndexOfKernel(grid: VoxelGrid, h: number, k: number, l: number): number {
  const h0 = grid.hklMax[0] * grid.ndiv;
  const h1 = grid.hklMax[1] * grid.ndiv;
  const h2 = grid.hklMax[2] * grid.ndiv;
  if (Math.abs(h) > h0 || Math.abs(k) > h1 || Math.abs(l) > h2) return -1;
  return ((h + h0) * grid.dims[1] + (k + h1)) * grid.dims[2] + (l + h2);
}

/**
 * Writes the voxel centre (h, k, l in reciprocal-lattice units) of a linear index into `out[offset..offset+3)`.
 *
 * @throws {@link ConfigError} for a malformed grid, an index outside it or an `out` too short
 */
export function voxelCentre(grid: VoxelGrid, index: number, out: Float64Array, offset: number): void {
  checkVoxelGrid(grid, "voxelCentre");
  requireIntegerArgument(index, "voxelCentre: index", 0, grid.dims[0] * grid.dims[1] * grid.dims[2] - 1);
  requireInstanceArgument(out, Float64Array, "voxelCentre: out");
  requireIntegerArgument(offset, "voxelCentre: offset", 0, out.length - 3);
  voxelCentreKernel(grid, index, out, offset);
}

/** Unchecked kernel of {@link voxelCentre}, for the loops over rows: the arguments are trusted. @internal */
export function voxelCentreKernel(grid: VoxelGrid, index: number, out: Float64Array, offset: number): void {
  const d1 = grid.dims[1];
  const d2 = grid.dims[2];
  const l = (index % d2) - grid.hklMax[2] * grid.ndiv;
  const rest = Math.floor(index / d2);
  const k = (rest % d1) - grid.hklMax[1] * grid.ndiv;
  const h = Math.floor(rest / d1) - grid.hklMax[0] * grid.ndiv;
  out[offset] = h / grid.ndiv;
  out[offset + 1] = k / grid.ndiv;
  out[offset + 2] = l / grid.ndiv;
}
