/**
 * The outlier step of joint refinement over a range of groups: DIALS `standard` outliers among the usable rows at the
 * model's inverse scales, then every row's weight set to 1/σ² (usable rows) or 0 (outliers and unusable rows). Works on
 * a view of the rows (resident columns, or a shard read from a scratch file) with per-range temporaries only, so it
 * runs unchanged on paged observations and in parallel on disjoint shards.
 *
 * @packageDocumentation
 */
import { initialWeight } from "../observations/initial-weight.ts";
import { standardGroupedOutliersInRange } from "../dials/outlier-rejection.ts";
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
 * σ'² of the rows of groups [groupBegin, groupEnd) (row o at index o − rowOffset − lo) under `model`, into `out`.
 * Unchecked.
 */
export function errorModelVariancesInRange(
  groupStart: Int32Array,
  variance: Float32Array,
  intensity: Float32Array,
  model: RowErrorModel,
  groupBegin: number,
  groupEnd: number,
  first: number,
  out: Float64Array,
): void {
  for (let h = groupBegin; h < groupEnd; h++) {
    const bragg = h < model.nBraggGroups;
    const a = bragg ? model.braggA : model.diffuseA;
    const b = bragg ? model.braggB : model.diffuseB;
    const a2 = a * a;
    for (let o = groupStart[h] - first; o < groupStart[h + 1] - first; o++) {
      const bi = b * intensity[o];
      out[o] = a2 * (variance[o] + bi * bi);
    }
  }
}

/**
 * Finds the outliers of groups [groupBegin, groupEnd) at the inverse scales of `state` and rewrites the weights of
 * their rows (the columns' variances are read: every row of the range must have one). With `errorModel`, the test and
 * the weights use σ'² of the model instead of σ² (which rows are usable does not change). Unchecked.
 */
export function outlierWeightsInRange(
  columns: GroupedColumns,
  state: JointModelState,
  zmax: number,
  groupBegin: number,
  groupEnd: number,
  errorModel?: RowErrorModel,
): OutlierWeightCounts {
  const { groupStart } = columns;
  const offset = columns.rowOffset ?? 0;
  const lo = groupStart[groupBegin] - offset;
  const hi = groupStart[groupEnd] - offset;
  const m = hi - lo;
  const { still, intensity, variance, weight, qMagnitude } = sliceRows(columns.rows, lo, hi);
  const g = new Float32Array(m);
  inverseScalesInRange(state, still, qMagnitude, 0, m, g);
  const usable = usableRows(variance, intensity, m);
  const flags = new Uint8Array(m);
  let adjusted: Float64Array | undefined;
  if (errorModel !== undefined) {
    adjusted = new Float64Array(m);
    errorModelVariancesInRange(
      groupStart,
      variance,
      intensity,
      errorModel,
      groupBegin,
      groupEnd,
      offset + lo,
      adjusted,
    );
  }
  standardGroupedOutliersInRange(
    groupStart,
    intensity,
    adjusted ?? variance,
    usable,
    g,
    zmax,
    groupBegin,
    groupEnd,
    flags,
    offset + lo,
  );
  return rewriteWeights(usable, flags, variance, intensity, adjusted, weight);
}

// The loops over the rows are functions of their own: with few shards (one for up to ~2^18 rows) each runs once per
// outlier step, on cold code, and one long function would be deoptimised at each of its later loops.

/** Whether each of the m rows is usable (its initial weight is positive). */
function usableRows(variance: Float32Array, intensity: Float32Array, m: number): Uint8Array {
  const usable = new Uint8Array(m);
  for (let t = 0; t < usable.length; t++) usable[t] = initialWeight(variance[t], intensity[t]) > 0 ? 1 : 0;
  return usable;
}

/**
 * Every row's weight rewritten (float32): 0 for outliers (`flags`) and unusable rows, else the initial weight 1/σ², or
 * 1/σ'² with the model's variances (`adjusted`); with the counts of the step.
 */
function rewriteWeights(
  usable: Uint8Array,
  flags: Uint8Array,
  variance: Float32Array,
  intensity: Float32Array,
  adjusted: Float64Array | undefined,
  weight: Float32Array,
): OutlierWeightCounts {
  let nOutliers = 0;
  let nChanged = 0;
  let nFlipped = 0;
  for (let t = 0; t < weight.length; t++) {
    const usableRow = usable[t] !== 0;
    const w = Math.fround(
      flags[t] !== 0 || !usableRow
        ? 0
        : adjusted === undefined
          ? initialWeight(variance[t], intensity[t])
          : 1 / adjusted[t],
    );
    nOutliers += flags[t];
    if (w !== weight[t]) nChanged++;
    if (usableRow && (weight[t] === 0) !== (flags[t] !== 0)) nFlipped++;
    weight[t] = w;
  }
  return { nOutliers, nChanged, nFlipped };
}
