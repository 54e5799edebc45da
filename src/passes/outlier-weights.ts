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
}

/**
 * Finds the outliers of groups [groupBegin, groupEnd) at the inverse scales of `state` and rewrites the weights of
 * their rows (the columns' variances are read: every row of the range must have one). Unchecked.
 */
export function outlierWeightsInRange(
  columns: GroupedColumns,
  state: JointModelState,
  zmax: number,
  groupBegin: number,
  groupEnd: number,
): OutlierWeightCounts {
  const { groupStart } = columns;
  const offset = columns.rowOffset ?? 0;
  const lo = groupStart[groupBegin] - offset;
  const hi = groupStart[groupEnd] - offset;
  const m = hi - lo;
  const { still, intensity, variance, weight, qMagnitude } = sliceRows(columns.rows, lo, hi);
  const g = new Float32Array(m);
  inverseScalesInRange(state, still, qMagnitude, 0, m, g);
  const usable = new Uint8Array(m);
  for (let t = 0; t < m; t++) usable[t] = initialWeight(variance[t], intensity[t]) > 0 ? 1 : 0;
  const flags = new Uint8Array(m);
  standardGroupedOutliersInRange(
    groupStart,
    intensity,
    variance,
    usable,
    g,
    zmax,
    groupBegin,
    groupEnd,
    flags,
    offset + lo,
  );
  let nOutliers = 0;
  let nChanged = 0;
  for (let t = 0; t < m; t++) {
    const w = Math.fround(flags[t] !== 0 ? 0 : initialWeight(variance[t], intensity[t]));
    nOutliers += flags[t];
    if (w !== weight[t]) nChanged++;
    weight[t] = w;
  }
  return { nOutliers, nChanged };
}
