/**
 * CC½ of the merged diffuse map: the Pearson correlation of the two random half-set means over the voxels where both
 * halves hold observations, overall (`cc_half` of `refinement.json`) or per |q| shell (the diagnostics). Both use the
 * same sums and the same formula, `cov/√(vx·vy)` with `cov = Σxy − ΣxΣy/n`, `vx = Σx² − (Σx)²/n`, `vy = Σy² − (Σy)²/n`,
 * summed in ascending voxel order; they differ only in the fewest pairs for which a value is reported (see
 * {@link CC_HALF_MIN_PAIRS} and {@link SHELL_CC_HALF_MIN_PAIRS}).
 *
 * @packageDocumentation
 */
import { requireFunctionArgument, requireNumbersArgument, requireObjectArgument } from "../errors.ts";
import type { MergedDiffuse } from "./merge.ts";

/**
 * Fewest voxel pairs of the overall CC½: 2, the fewest for which a correlation is defined (below, 0 is reported).
 */
export const CC_HALF_MIN_PAIRS = 2;

/**
 * Fewest voxel pairs of a shell's CC½: 3. A shell with 2 pairs would always show a correlation of ±1, which says
 * nothing, so it shows 0 instead. (The overall value keeps {@link CC_HALF_MIN_PAIRS}, as it always has: outputs do not
 * change.)
 */
export const SHELL_CC_HALF_MIN_PAIRS = 3;

/** Running sums of the half-set pairs (x, y) = (half-set 1 mean, half-set 2 mean) of a set of voxels. */
export interface HalfSetSums {
  n: number;
  sx: number;
  sy: number;
  sxx: number;
  syy: number;
  sxy: number;
}

/** Sums of no pairs. */
export function emptyHalfSetSums(): HalfSetSums {
  return { n: 0, sx: 0, sy: 0, sxx: 0, syy: 0, sxy: 0 };
}

/** Whether voxel `r` of the map has observations in both half sets (the voxels CC½ is computed over). */
export function hasBothHalves(map: MergedDiffuse, r: number): boolean {
  return map.halfSetCount1[r] > 0 && map.halfSetCount2[r] > 0;
}

/** Adds the half-set pair of voxel `r` of the map to the sums. */
export function addHalfSetPair(sums: HalfSetSums, map: MergedDiffuse, r: number): void {
  const x = map.halfSet1[r];
  const y = map.halfSet2[r];
  sums.n++;
  sums.sx += x;
  sums.sy += y;
  sums.sxx += x * x;
  sums.syy += y * y;
  sums.sxy += x * y;
}

/**
 * The Pearson correlation of the summed pairs; 0 with fewer than `minPairs` pairs or when either variance is not
 * positive.
 */
export function halfSetCorrelation(sums: HalfSetSums, minPairs: number): number {
  const { n, sx, sy, sxx, syy, sxy } = sums;
  if (n < minPairs) return 0;
  const vx = sxx - (sx * sx) / n;
  const vy = syy - (sy * sy) / n;
  return vx > 0 && vy > 0 ? (sxy - (sx * sy) / n) / Math.sqrt(vx * vy) : 0;
}

/**
 * Pearson correlation of the half-set means over voxels where both halves are non-empty (CC½); 0 if undefined.
 *
 * @param map - The merged map.
 * @param select - Voxels to include (among those with both halves). @defaultValue all
 * @returns The correlation and the number of voxels it was computed over.
 */
export function ccHalf(map: MergedDiffuse, select?: (row: number) => boolean): { cc: number; n: number } {
  requireObjectArgument(map, "ccHalf: map (mergeDiffuse)");
  requireNumbersArgument(map.voxelIndex, "ccHalf: map.voxelIndex");
  for (const key of ["halfSet1", "halfSet2", "halfSetCount1", "halfSetCount2"] as const)
    requireNumbersArgument(map[key], `ccHalf: map.${key}`, map.voxelIndex.length);
  if (select !== undefined) requireFunctionArgument(select, "ccHalf: select");
  const sums = emptyHalfSetSums();
  for (let r = 0; r < map.voxelIndex.length; r++) {
    if (!hasBothHalves(map, r)) continue;
    if (select !== undefined && !select(r)) continue;
    addHalfSetPair(sums, map, r);
  }
  return { cc: halfSetCorrelation(sums, CC_HALF_MIN_PAIRS), n: sums.n };
}
