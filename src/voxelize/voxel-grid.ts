/**
 * The linear voxel index of the binned diffuse layout: `sub = round(hkl·ndiv)` mapped to the asymmetric unit, then
 * `idx = ((h + H0)·D1 + (k + H1))·D2 + (l + H2)` with `Hi = hklMax_i·ndiv` and `Di = 2·Hi + 1` (the rule written by the
 * simulators into the `voxel_index_rule` attribute).
 *
 * @packageDocumentation
 */
import { ConfigError } from "../errors.ts";

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

/**
 * Builds and checks a grid.
 *
 * @throws {@link ConfigError} when ndiv or hklMax are not positive integers or the dims disagree with them.
 */
export function makeVoxelGrid(ndiv: number, hklMax: readonly [number, number, number]): VoxelGrid {
  if (!Number.isInteger(ndiv) || ndiv < 1) throw new ConfigError(`ndiv must be a positive integer, got ${ndiv}`);
  for (const h of hklMax) {
    if (!Number.isInteger(h) || h < 1)
      throw new ConfigError(`hkl_max must be positive integers, got [${hklMax.join(", ")}]`);
  }
  const dims: [number, number, number] = [2 * hklMax[0] * ndiv + 1, 2 * hklMax[1] * ndiv + 1, 2 * hklMax[2] * ndiv + 1];
  if (dims[0] * dims[1] * dims[2] > Number.MAX_SAFE_INTEGER)
    throw new ConfigError("voxel grid too large for exact indices");
  return { ndiv, hklMax: [hklMax[0], hklMax[1], hklMax[2]], dims };
}

/** Linear index of sub-indices (h, k, l) already on the grid; −1 when outside it. */
export function voxelIndexOf(grid: VoxelGrid, h: number, k: number, l: number): number {
  const h0 = grid.hklMax[0] * grid.ndiv;
  const h1 = grid.hklMax[1] * grid.ndiv;
  const h2 = grid.hklMax[2] * grid.ndiv;
  if (Math.abs(h) > h0 || Math.abs(k) > h1 || Math.abs(l) > h2) return -1;
  return ((h + h0) * grid.dims[1] + (k + h1)) * grid.dims[2] + (l + h2);
}

/** Writes the voxel centre (h, k, l in reciprocal-lattice units) of a linear index into `out[offset..offset+3)`. */
export function voxelCentre(grid: VoxelGrid, index: number, out: Float64Array, offset: number): void {
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
