/**
 * The outlier step of joint refinement over a range of groups: DIALS `standard` outliers among the usable rows at the
 * model's inverse scales, then every row's weight set to 1/σ² (usable rows) or 0 (outliers and unusable rows). Works on
 * a view of the rows (resident columns, or a shard read from a scratch file) with per-range temporaries only, so it
 * runs unchanged on paged observations and in parallel on disjoint shards.
 *
 * @packageDocumentation
 */
import { medianInPlace } from "../dials/outlier-rejection.ts";
import {
  BOUNDED_PASSES_MIN_ROWS,
  boundableRow,
  formGroupProducts,
  groupScratch,
  standardPassesOnProducts,
  type GroupScratch,
} from "../dials/standard-outlier-passes.ts";
import { sliceRows } from "../observations/row-columns.ts";
import { inverseScalesInRange, type JointModelState } from "./inverse-scales.ts";
import type { GroupedColumns } from "./joint-normal-equations.ts";

/** What {@link outlierWeightsInRange} found. */
export interface OutlierWeightCounts {
  /** Outlier rows. */
  nOutliers: number;
  /** Rows whose weight changed (0 exactly when the outlier set is the one the weights held before). */
  nChanged: number;
  /** Rows that became or stopped being outliers (0 exactly when the outlier set is unchanged, whatever the weights). */
  nFlipped: number;
}

/**
 * The error model of each data class as the passes apply it: σ'² = a²(σ² + (b·I)²) with (a, b) of the Bragg class for
 * the rows of groups below `nBraggGroups` and of the diffuse class for the others (I the row's unscaled intensity).
 */
export interface RowErrorModel {
  /** Groups [0, nBraggGroups) are Bragg. */
  readonly nBraggGroups: number;
  /** a of the Bragg class. */
  readonly braggA: number;
  /** b of the Bragg class. */
  readonly braggB: number;
  /** a of the diffuse class. */
  readonly diffuseA: number;
  /** b of the diffuse class. */
  readonly diffuseB: number;
}

/**
 * Finds the outliers of groups [groupBegin, groupEnd) at the inverse scales of `state` and rewrites the weights of
 * their rows (the columns' variances are read: every row of the range must have one). With `errorModel`, the test and
 * the weights use σ'² of the model instead of σ² (which rows are usable does not change). Unchecked.
 *
 * @param boundedFrom - smallest group that takes the bounded passes (tests change it to exercise both ways).
 *   @defaultValue BOUNDED_PASSES_MIN_ROWS
 */
export function outlierWeightsInRange(
  columns: GroupedColumns,
  state: JointModelState,
  zmax: number,
  groupBegin: number,
  groupEnd: number,
  errorModel?: RowErrorModel,
  boundedFrom = BOUNDED_PASSES_MIN_ROWS,
): OutlierWeightCounts {
  const { groupStart } = columns;
  const offset = columns.rowOffset ?? 0;
  const lo = groupStart[groupBegin] - offset;
  const hi = groupStart[groupEnd] - offset;
  const m = hi - lo;
  const { still, intensity, variance, weight, qMagnitude } = sliceRows(columns.rows, lo, hi);
  const g = new Float32Array(m);
  inverseScalesInRange(state, still, qMagnitude, 0, m, g);
  let largest = 0;
  for (let h = groupBegin; h < groupEnd; h++) largest = Math.max(largest, groupStart[h + 1] - groupStart[h]);
  const work: GroupWork = {
    s: groupScratch(largest),
    weight: new Float64Array(largest),
    selection: new Float64Array(largest),
    flags: new Uint8Array(m),
    counts: { nOutliers: 0, nChanged: 0, nFlipped: 0 },
  };
  const rows: RangeRows = { intensity, variance, weight, g };
  const first = offset + lo;
  for (let h = groupBegin; h < groupEnd; h++) {
    const bragg = errorModel === undefined || h < errorModel.nBraggGroups;
    const a = errorModel === undefined ? 1 : bragg ? errorModel.braggA : errorModel.diffuseA;
    const b = errorModel === undefined ? 0 : bragg ? errorModel.braggB : errorModel.diffuseB;
    groupOutlierWeights(
      rows,
      work,
      errorModel !== undefined,
      a * a,
      b,
      groupStart[h] - first,
      groupStart[h + 1] - first,
      zmax,
      boundedFrom,
    );
  }
  return work.counts;
}

/** The rows of a range (index o − first), with their inverse scales. */
interface RangeRows {
  intensity: Float32Array;
  variance: Float32Array;
  weight: Float32Array;
  g: Float32Array;
}

/**
 * The working arrays of one range: the scratch of the group passes, each usable row's weight before the cap and a copy
 * the median selection permutes (sized for the largest group), the outlier flag of each row of the range, and the
 * counts so far.
 */
interface GroupWork {
  s: GroupScratch;
  weight: Float64Array;
  selection: Float64Array;
  flags: Uint8Array;
  counts: OutlierWeightCounts;
}

/**
 * One group (rows [b, e) of the range) in one sweep over its rows, the rest in cache: its usable rows (positive
 * initial weight) gathered with their weights 1/σ² (or 1/σ'², σ'² = a²(σ² + (b·I)²) with `model`), the products of
 * the group passes and whether the bound holds; the weights capped at 10 × the median when the largest is more than
 * 10 × the smallest (then products and bound formed again from the capped weights); DIALS's standard passes
 * (`standardGroupedOutliersInRange`'s numbers, row for row); then every row's weight rewritten (float32): 0 for
 * outliers and unusable rows, else the weight before the cap; counted into `work.counts`. The loops stay in this one
 * function: it runs for every group of a shard, so it is optimised after the first few groups.
 */
function groupOutlierWeights(
  rows: RangeRows,
  work: GroupWork,
  model: boolean,
  a2: number,
  bb: number,
  b: number,
  e: number,
  zmax: number,
  boundedFrom: number,
): void {
  const { intensity, variance, weight, g } = rows;
  const { s, selection, flags, counts } = work;
  const w0 = work.weight;
  const { row, g: sg, intensity: sI, w: sv, wgI: sA, wg2: sB } = s;
  let m = 0;
  let wMin = Infinity;
  let wMax = -Infinity;
  let nan = false;
  let bound = true;
  for (let o = b; o < e; o++) {
    const I = intensity[o];
    const v = variance[o];
    // initialWeight(v, I) > 0 (1/v > 0 for every finite v > 0)
    if (!(v > 0 && v < Infinity && Number.isFinite(I))) continue;
    let variance2 = v;
    if (model) {
      const bi = bb * I;
      variance2 = a2 * (v + bi * bi);
    }
    const w = 1 / variance2;
    const gi = g[o];
    row[m] = o;
    sg[m] = gi;
    sI[m] = I;
    w0[m] = w;
    selection[m] = w;
    // the products and the variance 1/w of formGroupProducts, from the weight as yet uncapped
    const wgI = w * gi * I;
    const wg2 = w * gi * gi;
    const vw = 1 / w;
    sA[m] = wgI;
    sB[m] = wg2;
    sv[m] = vw;
    if (bound && !boundableRow(gi, I, vw, wgI, wg2)) bound = false;
    if (w < wMin) wMin = w;
    if (w > wMax) wMax = w;
    if (w !== w) nan = true;
    m++;
  }
  // groups of two or fewer members are never tested (and their weight cap is irrelevant)
  if (m > 2) {
    // the cap changes nothing when the largest weight is at most 10 × the smallest (see
    // standardGroupedOutliersInRange): the products stand
    if (nan || !(wMax <= 10 * wMin)) {
      const ceiling = 10 * medianInPlace(selection, m);
      for (let t = 0; t < m; t++) s.w[t] = w0[t] > ceiling ? ceiling : w0[t];
      formGroupProducts(s, m);
      bound = true;
      for (let t = 0; t < m && bound; t++) bound = boundableRow(s.g[t], s.intensity[t], s.w[t], s.wgI[t], s.wg2[t]);
    }
    const nRejected = standardPassesOnProducts(s, m, zmax, m >= boundedFrom && bound);
    for (let t = 0; t < nRejected; t++) flags[s.rejected[t]] = 1;
  }
  let { nOutliers, nChanged, nFlipped } = counts;
  for (let o = b, t = 0; o < e; o++) {
    const I = intensity[o];
    const v = variance[o];
    const usable = v > 0 && v < Infinity && Number.isFinite(I);
    const outlier = flags[o];
    let w = 0;
    if (usable) {
      if (outlier === 0) w = Math.fround(w0[t]);
      t++;
    }
    nOutliers += outlier;
    if (w !== weight[o]) nChanged++;
    if (usable && (weight[o] === 0) !== (outlier !== 0)) nFlipped++;
    weight[o] = w;
  }
  counts.nOutliers = nOutliers;
  counts.nChanged = nChanged;
  counts.nFlipped = nFlipped;
}
