/**
 * DIALS outlier rejection on groups of symmetry-equivalent observations (`dials/algorithms/scaling/outlier_rejection.py`
 * and `determine_outlier_indices` / `limit_outlier_weights` in `scaling_helper.h`): the iterative leave-one-out
 * "standard" algorithm (`NormDevOutlierRejection`), the one-pass "simple" algorithm (`SimpleNormDevOutlierRejection`)
 * and rejection against a reference ("target", `TargetedOutlierRejection`).
 *
 * All functions return row indices of the input {@link GroupedObservations} in the order DIALS produces them: for each
 * round, the outliers found in that round in ascending row order.
 *
 * @packageDocumentation
 */
import {
  ConfigError,
  requireInstanceArgument,
  requireIntegerArgument,
  requireNumbersArgument,
  requireObjectArgument,
  requireOptionsArgument,
} from "../errors.ts";
import {
  groupRowsKernel,
  observationWeights,
  validateGroupedObservations,
  type GroupedObservations,
} from "./grouped-observations.ts";
import { BOUNDED_PASSES_MIN_ROWS, groupScratch, standardGroupPasses, ZERO_SUM_Z } from "./standard-outlier-passes.ts";

/** Options of {@link rejectOutliersStandard}, {@link rejectOutliersSimple} and {@link rejectOutliersTarget}. */
export interface OutlierRejectionOptions {
  /**
   * Normalised-deviation threshold: a row is an outlier when |z| > zmax (strict).
   *
   * @defaultValue 6.0 (DIALS `outlier_zmax`)
   */
  zmax?: number;
}

/** The per-group reference of {@link rejectOutliersTarget}. */
export interface OutlierReference {
  /** Reference intensity Ih_ref of each group (length `nGroups`); NaN or 0 means "no reference for this group". */
  intensity: Float64Array;
  /** Reference variance σ²_ref of each group (length `nGroups`). */
  variance: Float64Array;
}

function resolveZmax(options: OutlierRejectionOptions | undefined, where: string): number {
  requireOptionsArgument(options, `${where}: options`);
  const zmax = options?.zmax ?? 6.0;
  if (!Number.isFinite(zmax) || zmax < 0) {
    throw new ConfigError(`${where}: zmax must be a finite non-negative number, got ${zmax}`);
  }
  return zmax;
}

function checkedWeights(obs: GroupedObservations, where: string): Float64Array {
  const w = observationWeights(obs);
  for (let i = 0; i < w.length; i++) {
    if (!(w[i] > 0) || !Number.isFinite(w[i])) {
      throw new ConfigError(
        `${where}: weight of row ${i} is ${w[i]}; weights (default 1/variance) must be finite and > 0`,
      );
    }
  }
  return w;
}

/** Below this many values, selection is done by insertion sort. */
const SMALL_SELECT = 24;

/** Sorts `a[lo..hi]` (inclusive) ascending by insertion (a NaN-free range). */
function insertionSort(a: Float64Array, lo: number, hi: number): void {
  for (let i = lo + 1; i <= hi; i++) {
    const v = a[i];
    let j = i - 1;
    while (j >= lo && a[j] > v) {
      a[j + 1] = a[j];
      j--;
    }
    a[j + 1] = v;
  }
}

/**
 * Partial sort in place (`nth_element`): afterwards `a[k]` holds the value that a full ascending sort of `a[0..n)`
 * would put there, with no larger value before it and no smaller one after it (equal as numbers: −0 and +0 may trade
 * places). Hoare partitioning around a median-of-three pivot; the range must hold no NaN.
 *
 * @internal
 */
export function selectInPlace(a: Float64Array, n: number, k: number): void {
  let lo = 0;
  let hi = n - 1;
  while (hi - lo > SMALL_SELECT) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < a[lo]) swap(a, mid, lo);
    if (a[hi] < a[lo]) swap(a, hi, lo);
    if (a[hi] < a[mid]) swap(a, hi, mid);
    const pivot = a[mid];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        swap(a, i, j);
        i++;
        j--;
      }
    }
    // a[lo..j] ≤ pivot ≤ a[i..hi]; anything strictly between j and i equals the pivot
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return;
  }
  insertionSort(a, lo, hi);
}

function swap(a: Float64Array, i: number, j: number): void {
  const t = a[i];
  a[i] = a[j];
  a[j] = t;
}

/**
 * Median of `values[0..n)` (mean of the two central values for an even count), as scitbx `median_functor`; the
 * values are reordered. Exactly the median of a full sort: the central order statistics come from a selection.
 *
 * @internal
 */
export function medianInPlace(values: Float64Array, n: number): number {
  if (n === 1) return values[0];
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(values[i])) {
      // a typed-array sort puts NaN last; keep exactly that behaviour for such (invalid) input
      const sorted = values.subarray(0, n).sort();
      const h = n >> 1;
      return n % 2 === 1 ? sorted[h] : (sorted[h - 1] + sorted[h]) / 2;
    }
  }
  const k = n >> 1;
  if (n <= SMALL_SELECT) insertionSort(values, 0, n - 1);
  else selectInPlace(values, n, k);
  if (n % 2 === 1) return values[k];
  // the (k−1)-th order statistic is the largest value left of position k
  let below = values[0];
  for (let i = 1; i < k; i++) if (values[i] > below) below = values[i];
  return (below + values[k]) / 2;
}

/**
 * Cap each weight at 10 × the median weight of its group (DIALS `limit_outlier_weights`, applied before the standard
 * and simple algorithms so that a few very precise observations cannot dominate a group mean).
 *
 * @param weights - Weight of each row (not modified).
 * @param groupIndex - Group id of each row, in `[0, nGroups)`.
 * @param nGroups - Number of groups.
 * @returns A new array of capped weights.
 * @throws {@link ConfigError} when the lengths differ or a group id is out of range.
 */
export function limitOutlierWeights(weights: Float64Array, groupIndex: Int32Array, nGroups: number): Float64Array {
  requireInstanceArgument(weights, Float64Array, "limitOutlierWeights: weights");
  requireInstanceArgument(groupIndex, Int32Array, "limitOutlierWeights: groupIndex");
  requireIntegerArgument(nGroups, "limitOutlierWeights: nGroups");
  if (weights.length !== groupIndex.length) {
    throw new ConfigError(
      `limitOutlierWeights: weights has length ${weights.length}, groupIndex has length ${groupIndex.length}`,
    );
  }
  for (let i = 0; i < groupIndex.length; i++) {
    if (groupIndex[i] < 0 || groupIndex[i] >= nGroups) {
      throw new ConfigError(`limitOutlierWeights: groupIndex[${i}] = ${groupIndex[i]} is outside [0, ${nGroups})`);
    }
  }
  return limitOutlierWeightsUnchecked(weights, groupIndex, nGroups);
}

function limitOutlierWeightsUnchecked(weights: Float64Array, groupIndex: Int32Array, nGroups: number): Float64Array {
  const out = weights.slice();
  const { start, rows } = groupRowsKernel(groupIndex, nGroups);
  let largest = 0;
  for (let j = 0; j < nGroups; j++) largest = Math.max(largest, start[j + 1] - start[j]);
  const buf = new Float64Array(largest);
  for (let j = 0; j < nGroups; j++) {
    const s = start[j];
    const e = start[j + 1];
    if (e === s) continue;
    for (let k = s; k < e; k++) buf[k - s] = weights[rows[k]];
    const ceiling = 10 * medianInPlace(buf, e - s);
    for (let k = s; k < e; k++) {
      const r = rows[k];
      if (out[r] > ceiling) out[r] = ceiling;
    }
  }
  return out;
}

/**
 * The "standard" DIALS outlier rejection (`NormDevOutlierRejection`): iterative leave-one-out normalised deviations.
 *
 * Each round, for every row of a group with more than two (remaining) members,
 * `z = |I − g·(ΣwgI)_others/(Σwg²)_others| / sqrt(1/w + g²/(Σwg²)_others)`, where "others" are the other remaining
 * members of the group (z = 1000 when (Σwg²)_others is 0). In each group only the single largest z is rejected, and
 * only when it exceeds zmax (strictly; the first maximum in row order wins). The next round works only on the remaining
 * members of the groups that produced an outlier; rounds stop when one adds nothing. Weights are capped first with
 * {@link limitOutlierWeights}, once, on the whole input.
 *
 * @param obs - The observations (weights default to 1/variance and must be finite and positive).
 * @param options - See {@link OutlierRejectionOptions}.
 * @returns Outlier row indices: round by round, ascending row order within a round (DIALS order).
 * @throws {@link ConfigError} on malformed input, a non-positive weight or a bad zmax.
 */
export function rejectOutliersStandard(obs: GroupedObservations, options?: OutlierRejectionOptions): Int32Array {
  const where = "rejectOutliersStandard";
  validateGroupedObservations(obs, where);
  const zmax = resolveZmax(options, where);
  const w = limitOutlierWeightsUnchecked(checkedWeights(obs, where), obs.groupIndex, obs.nGroups);
  return standardKernel(obs.groupIndex, obs.nGroups, obs.intensity, obs.inverseScale, w, zmax);
}

/** Rows stored group by group (compressed): what {@link rejectOutliersStandardGrouped} reads. */
export interface GroupedRowColumns {
  /** Offsets: the rows of group h are `groupStart[h] .. groupStart[h+1]` (length nGroups + 1, from 0, non-decreasing). */
  readonly groupStart: Int32Array;
  /** Unscaled intensity `I` of each row (single or double precision; all sums are in double precision). */
  readonly intensity: Float32Array | Float64Array;
  /** Variance `σ²` of each row; the weight is `1/σ²`. */
  readonly variance: Float32Array | Float64Array;
}

/**
 * {@link rejectOutliersStandard} on rows that are already stored group by group, restricted to the rows flagged in
 * `usable`, without building a new table: the same outliers (same weights capped at 10 × the group median of the usable rows,
 * same sums in the same order, same tie-breaks) as `rejectOutliersStandard` on the usable rows taken in storage order,
 * returned as row indices in ascending order. Groups are independent, so each is iterated to completion in turn; the
 * median is found by selection, not sorting. A group of m usable rows with k outliers costs O((m + k) log m) in the
 * bounded passes (`standard-outlier-passes.ts`) plus O(m) for each near tie of z they settle by DIALS's sums,
 * O(m · passes) at worst.
 *
 * @param columns - Group offsets, intensities and variances.
 * @param usable - 1 for the rows that take part (length = number of rows).
 * @param inverseScale - Inverse scale `g` of each row.
 * @param options - See {@link OutlierRejectionOptions}.
 * @returns Outlier rows, ascending.
 * @throws {@link ConfigError} on inconsistent lengths or offsets, a usable row whose weight 1/σ² is not finite and
 *   positive, or a bad zmax.
 */
export function rejectOutliersStandardGrouped(
  columns: GroupedRowColumns,
  usable: Uint8Array,
  inverseScale: Float32Array | Float64Array,
  options?: OutlierRejectionOptions,
): Int32Array {
  const where = "rejectOutliersStandardGrouped";
  const zmax = resolveZmax(options, where);
  requireObjectArgument(columns, `${where}: columns ({ groupStart, intensity, variance })`);
  requireInstanceArgument(columns.groupStart, Int32Array, `${where}: columns.groupStart`);
  requireNumbersArgument(columns.intensity, `${where}: columns.intensity`);
  requireNumbersArgument(columns.variance, `${where}: columns.variance`);
  requireNumbersArgument(usable, `${where}: usable`);
  requireNumbersArgument(inverseScale, `${where}: inverseScale`);
  const { groupStart, intensity, variance } = columns;
  const n = intensity.length;
  const nGroups = groupStart.length - 1;
  if (nGroups < 0 || groupStart[0] !== 0 || groupStart[nGroups] !== n) {
    throw new ConfigError(`${where}: groupStart must run from 0 to the number of rows ${n}`);
  }
  for (let h = 0; h < nGroups; h++) {
    if (groupStart[h + 1] < groupStart[h]) {
      throw new ConfigError(`${where}: groupStart decreases at group ${h}`);
    }
  }
  const lengths: [string, number][] = [
    ["variance", variance.length],
    ["usable", usable.length],
    ["inverseScale", inverseScale.length],
  ];
  for (const [name, length] of lengths) {
    if (length !== n) throw new ConfigError(`${where}: ${name} has length ${length}, expected ${n}`);
  }
  for (let o = 0; o < n; o++) {
    if (usable[o] === 0) continue;
    const w = 1 / variance[o];
    if (!(w > 0) || !Number.isFinite(w)) {
      throw new ConfigError(`${where}: weight of row ${o} is ${w}; weights 1/variance must be finite and > 0`);
    }
  }
  const flags = new Uint8Array(n);
  standardGroupedOutliersInRange(groupStart, intensity, variance, usable, inverseScale, zmax, 0, nGroups, flags);
  return flaggedRows(flags);
}

/**
 * The grouped standard outlier search over groups `[groupBegin, groupEnd)`: sets `flags[o] = 1` for every outlier row
 * (other rows untouched). Groups are independent, so disjoint group ranges can run in parallel. The row arrays may be
 * a view starting at absolute row `rowOffset` (row o at index o − rowOffset; `groupStart` stays absolute). Groups of
 * `boundedFrom` rows or more take the bounded passes of `standard-outlier-passes.ts` (the same outliers; tests lower
 * it to exercise them on small groups, or raise it to get the row-by-row passes). Unchecked.
 *
 * @internal
 */
export function standardGroupedOutliersInRange(
  groupStart: Int32Array,
  intensity: Float32Array | Float64Array,
  variance: Float32Array | Float64Array,
  usable: Uint8Array,
  g: Float32Array | Float64Array,
  zmax: number,
  groupBegin: number,
  groupEnd: number,
  flags: Uint8Array,
  rowOffset = 0,
  boundedFrom = BOUNDED_PASSES_MIN_ROWS,
): void {
  let largest = 0;
  for (let h = groupBegin; h < groupEnd; h++) largest = Math.max(largest, groupStart[h + 1] - groupStart[h]);
  const s = groupScratch(largest);
  // a copy of the weights that the median selection permutes
  const selection = new Float64Array(largest);
  for (let h = groupBegin; h < groupEnd; h++) {
    const b = groupStart[h] - rowOffset;
    const e = groupStart[h + 1] - rowOffset;
    let m = 0;
    let wMin = Infinity;
    let wMax = -Infinity;
    let nan = false;
    for (let o = b; o < e; o++) {
      if (usable[o] === 0) continue;
      const w = 1 / variance[o];
      s.row[m] = o;
      s.w[m] = w;
      s.g[m] = g[o];
      s.intensity[m] = intensity[o];
      selection[m] = w;
      if (w < wMin) wMin = w;
      if (w > wMax) wMax = w;
      if (w !== w) nan = true;
      m++;
    }
    // groups of two or fewer members are never tested (and their weight cap is irrelevant)
    if (m <= 2) continue;
    // the cap at 10 × the median weight changes nothing when the largest weight is at most 10 × the smallest (the
    // median is at least the smallest, and rounding is monotonic: 10·median as computed is at least 10·min as
    // computed): the median's selection is then skipped (most groups of similar weights), the weights are the same
    if (nan || !(wMax <= 10 * wMin)) {
      const ceiling = 10 * medianInPlace(selection, m);
      for (let t = 0; t < m; t++) if (s.w[t] > ceiling) s.w[t] = ceiling;
    }
    const nRejected = standardGroupPasses(s, m, zmax, boundedFrom);
    for (let t = 0; t < nRejected; t++) flags[s.rejected[t]] = 1;
  }
}

/** The indices of the rows flagged 1, ascending. */
function flaggedRows(flags: Uint8Array): Int32Array {
  let n = 0;
  for (let o = 0; o < flags.length; o++) if (flags[o] !== 0) n++;
  const rows = new Int32Array(n);
  for (let o = 0, t = 0; o < flags.length; o++) if (flags[o] !== 0) rows[t++] = o;
  return rows;
}

/**
 * The standard algorithm on rows in any group order (weights already capped): each group is iterated to completion
 * with {@link standardGroupPasses} on its rows in ascending row order, and the outliers are then listed as DIALS's
 * round-by-round iteration finds them: the first outlier of every group (ascending rows), then the second, and so on.
 */
function standardKernel(
  groupIndex: Int32Array,
  nGroups: number,
  intensity: Float64Array,
  g: Float64Array,
  w: Float64Array,
  zmax: number,
): Int32Array {
  const { start, rows } = groupRowsKernel(groupIndex, nGroups);
  let largest = 0;
  for (let j = 0; j < nGroups; j++) largest = Math.max(largest, start[j + 1] - start[j]);
  const s = groupScratch(largest);
  // the outliers and the pass (round) that rejects each, group by group
  const outRow = new Int32Array(groupIndex.length);
  const outPass = new Int32Array(groupIndex.length);
  let nOut = 0;
  let nPasses = 0;
  for (let j = 0; j < nGroups; j++) {
    const m = start[j + 1] - start[j];
    if (m <= 2) continue;
    for (let t = 0; t < m; t++) {
      const i = rows[start[j] + t];
      s.row[t] = i;
      s.w[t] = w[i];
      s.g[t] = g[i];
      s.intensity[t] = intensity[i];
    }
    const nRejected = standardGroupPasses(s, m, zmax);
    for (let p = 0; p < nRejected; p++) {
      outRow[nOut] = s.rejected[p];
      outPass[nOut++] = p;
    }
    nPasses = Math.max(nPasses, nRejected);
  }
  // bucket by pass, ascending rows within a pass
  const passStart = new Int32Array(nPasses + 1);
  for (let k = 0; k < nOut; k++) passStart[outPass[k] + 1]++;
  for (let p = 0; p < nPasses; p++) passStart[p + 1] += passStart[p];
  const next = passStart.slice(0, nPasses);
  const outliers = new Int32Array(nOut);
  for (let k = 0; k < nOut; k++) outliers[next[outPass[k]]++] = outRow[k];
  for (let p = 0; p < nPasses; p++) outliers.subarray(passStart[p], passStart[p + 1]).sort();
  return outliers;
}

/**
 * The "simple" DIALS outlier rejection (`SimpleNormDevOutlierRejection`): one pass, with the group mean *including*
 * the tested row: `z = |I − g·ΣwgI/Σwg²| / sqrt(1/w + (g/Σwg²)²)`, rejected when z > zmax (z = 1000 when Σwg² is 0).
 * Weights are capped first with {@link limitOutlierWeights}. All groups are tested, whatever their size.
 *
 * DIALS quirk, kept on purpose: the second variance term is `(g/Σwg²)²`, not the `g²/Σwg²` that the variance of the
 * weighted mean would give. Copying it keeps the outlier sets identical to DIALS.
 *
 * @param obs - The observations (weights default to 1/variance and must be finite and positive).
 * @param options - See {@link OutlierRejectionOptions}.
 * @returns Outlier row indices in ascending row order (DIALS order).
 * @throws {@link ConfigError} on malformed input, a non-positive weight or a bad zmax.
 */
export function rejectOutliersSimple(obs: GroupedObservations, options?: OutlierRejectionOptions): Int32Array {
  const where = "rejectOutliersSimple";
  validateGroupedObservations(obs, where);
  const zmax = resolveZmax(options, where);
  const w = limitOutlierWeightsUnchecked(checkedWeights(obs, where), obs.groupIndex, obs.nGroups);
  const { groupIndex, intensity, inverseScale: g } = obs;
  const n = groupIndex.length;
  const sumWgI = new Float64Array(obs.nGroups);
  const sumWg2 = new Float64Array(obs.nGroups);
  for (let i = 0; i < n; i++) {
    sumWgI[groupIndex[i]] += w[i] * g[i] * intensity[i];
    sumWg2[groupIndex[i]] += w[i] * g[i] * g[i];
  }
  const outliers: number[] = [];
  for (let i = 0; i < n; i++) {
    const s2 = sumWg2[groupIndex[i]];
    let z: number;
    if (s2 === 0) {
      z = ZERO_SUM_Z;
    } else {
      const gOverS = g[i] / s2;
      z = Math.abs((intensity[i] - (g[i] * sumWgI[groupIndex[i]]) / s2) / Math.sqrt(1 / w[i] + gOverS * gOverS));
    }
    if (z > zmax) outliers.push(i);
  }
  return Int32Array.from(outliers);
}

/**
 * Outlier rejection against a reference (`TargetedOutlierRejection`): for rows whose group has a reference,
 * `z = |I − g·Ih_ref| / sqrt(σ² + g²·σ²_ref)`, rejected when z > zmax. Rows of groups without a reference are never
 * rejected. No weight cap is applied (DIALS uses the raw variances here).
 *
 * In DIALS, Ih_ref is the target table's weighted mean for the group and σ²_ref is the variance of a target reflection
 * of that group (the last one in the target table's order); a reference Ih of exactly 0 counts as absent there too.
 *
 * @param obs - The observations (weights are not used).
 * @param reference - Per-group reference intensity and variance; NaN or 0 intensity = no reference.
 * @param options - See {@link OutlierRejectionOptions}.
 * @returns Outlier row indices in ascending row order (DIALS order).
 * @throws {@link ConfigError} on malformed input, reference arrays of the wrong length or a bad zmax.
 */
export function rejectOutliersTarget(
  obs: GroupedObservations,
  reference: OutlierReference,
  options?: OutlierRejectionOptions,
): Int32Array {
  const where = "rejectOutliersTarget";
  validateGroupedObservations(obs, where);
  const zmax = resolveZmax(options, where);
  requireObjectArgument(reference, `${where}: reference ({ intensity, variance })`);
  requireInstanceArgument(reference.intensity, Float64Array, `${where}: reference.intensity`);
  requireInstanceArgument(reference.variance, Float64Array, `${where}: reference.variance`);
  if (reference.intensity.length !== obs.nGroups || reference.variance.length !== obs.nGroups) {
    throw new ConfigError(
      `${where}: reference intensity/variance have lengths ${reference.intensity.length}/${reference.variance.length}, expected nGroups = ${obs.nGroups}`,
    );
  }
  const { groupIndex, intensity, variance, inverseScale: g } = obs;
  const outliers: number[] = [];
  for (let i = 0; i < groupIndex.length; i++) {
    const ih = reference.intensity[groupIndex[i]];
    if (Number.isNaN(ih) || ih === 0) continue;
    const vRef = reference.variance[groupIndex[i]];
    const z = Math.abs((intensity[i] - g[i] * ih) / Math.sqrt(variance[i] + g[i] * g[i] * vRef));
    if (z > zmax) outliers.push(i);
  }
  return Int32Array.from(outliers);
}
