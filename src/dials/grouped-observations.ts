/**
 * The small input structure shared by outlier rejection, the error model and the diffuse model: observations with a
 * symmetry-group id per row. It is what a single-block Ih table exposes (DIALS `IhTableBlock`).
 *
 * @packageDocumentation
 */
import { ConfigError, requireInstanceArgument, requireIntegerArgument, requireObjectArgument } from "../errors.ts";

/**
 * Observations with a group id per row.
 *
 * Rows are in "row order": the order of the rows of a DIALS Ih table block (dataset-major, then sorted asymmetric-unit
 * Miller index). Group ids run over `0..nGroups-1` in sorted (h,k,l) order. Outlier tie-breaks and the order of the
 * returned outlier indices follow the row order.
 */
export interface GroupedObservations {
  /** Number of groups; every `groupIndex` entry is in `[0, nGroups)`. */
  nGroups: number;
  /** Group id of each row. */
  groupIndex: Int32Array;
  /** Unscaled intensity `I` of each row. */
  intensity: Float64Array;
  /** Variance `σ²` of each row. */
  variance: Float64Array;
  /** Inverse scale factor `g` of each row. */
  inverseScale: Float64Array;
  /**
   * Weight of each row.
   *
   * @defaultValue `1/variance`
   */
  weights?: Float64Array;
}

/**
 * Row lists per group in compressed form: the rows of group `j` are `rows[start[j]..start[j+1])`, ascending.
 */
export interface GroupRows {
  /** Offsets into `rows`, length `nGroups + 1`. */
  start: Int32Array;
  /** Row indices grouped by group id, ascending within a group. */
  rows: Int32Array;
}

/**
 * Check the shape of a {@link GroupedObservations}: equal column lengths, an integer `nGroups` and group ids in range.
 *
 * @param obs - The observations to check.
 * @param where - The name of the calling function, used in error messages.
 * @throws {@link ConfigError} when a column has the wrong length or a group id is out of range.
 */
export function validateGroupedObservations(obs: GroupedObservations, where: string): void {
  requireObjectArgument(obs, `${where}: observations`);
  requireInstanceArgument(obs.groupIndex, Int32Array, `${where}: groupIndex`);
  for (const key of ["intensity", "variance", "inverseScale"] as const)
    requireInstanceArgument(obs[key], Float64Array, `${where}: ${key}`);
  if (obs.weights !== undefined) requireInstanceArgument(obs.weights, Float64Array, `${where}: weights`);
  const n = obs.groupIndex.length;
  if (!Number.isInteger(obs.nGroups) || obs.nGroups < 0) {
    throw new ConfigError(`${where}: nGroups must be a non-negative integer, got ${obs.nGroups}`);
  }
  const columns: [string, Float64Array | undefined][] = [
    ["intensity", obs.intensity],
    ["variance", obs.variance],
    ["inverseScale", obs.inverseScale],
    ["weights", obs.weights],
  ];
  for (const [name, column] of columns) {
    if (column !== undefined && column.length !== n) {
      throw new ConfigError(`${where}: ${name} has length ${column.length}, expected ${n} (the length of groupIndex)`);
    }
  }
  for (let i = 0; i < n; i++) {
    const gi = obs.groupIndex[i];
    if (gi < 0 || gi >= obs.nGroups) {
      throw new ConfigError(`${where}: groupIndex[${i}] = ${gi} is outside [0, ${obs.nGroups})`);
    }
  }
}

/**
 * Build the per-group row lists (a counting sort; rows stay ascending within each group).
 *
 * @param groupIndex - Group id of each row, each in 0..nGroups−1.
 * @param nGroups - Number of groups.
 * @returns The rows of each group in compressed form.
 * @throws ConfigError when an argument has the wrong type or a group id is out of range
 */
export function groupRows(groupIndex: Int32Array, nGroups: number): GroupRows {
  requireInstanceArgument(groupIndex, Int32Array, "groupRows: groupIndex");
  requireIntegerArgument(nGroups, "groupRows: nGroups");
  for (let i = 0; i < groupIndex.length; i++)
    if (groupIndex[i] < 0 || groupIndex[i] >= nGroups)
      throw new ConfigError(`groupRows: groupIndex[${i}] = ${groupIndex[i]} is outside [0, ${nGroups})`);
  return groupRowsKernel(groupIndex, nGroups);
}

/** Unchecked kernel of {@link groupRows} for callers that validated the group ids already. @internal */
export function groupRowsKernel(groupIndex: Int32Array, nGroups: number): GroupRows {
  const start = new Int32Array(nGroups + 1);
  for (const g of groupIndex) start[g + 1]++;
  for (let j = 0; j < nGroups; j++) start[j + 1] += start[j];
  const next = start.slice(0, nGroups);
  const rows = new Int32Array(groupIndex.length);
  for (let i = 0; i < groupIndex.length; i++) rows[next[groupIndex[i]]++] = i;
  return { start, rows };
}

/**
 * The weights of the observations: `obs.weights` when given, otherwise `1/variance`.
 *
 * @param obs - The observations.
 * @returns A new array of weights.
 */
export function observationWeights(obs: GroupedObservations): Float64Array {
  if (obs.weights !== undefined) return obs.weights.slice();
  const w = new Float64Array(obs.variance.length);
  for (let i = 0; i < w.length; i++) w[i] = 1 / obs.variance[i];
  return w;
}
