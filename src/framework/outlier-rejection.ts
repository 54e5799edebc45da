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
import { ConfigError } from "../errors.ts";
import {
  groupRows,
  observationWeights,
  validateGroupedObservations,
  type GroupedObservations,
} from "./grouped-observations.ts";

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

/** z assigned when the weighted sum Σwg² of a group is exactly zero, to force rejection (as DIALS does). */
const ZERO_SUM_Z = 1000;

function resolveZmax(options: OutlierRejectionOptions | undefined, where: string): number {
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

/** Median of `values[lo..hi)` (mean of the two central values for an even count), as scitbx `median_functor`. */
function medianOf(values: Float64Array): number {
  const n = values.length;
  if (n === 1) return values[0];
  values.sort();
  const k = n >> 1;
  return n % 2 === 1 ? values[k] : (values[k - 1] + values[k]) / 2;
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
  const { start, rows } = groupRows(groupIndex, nGroups);
  for (let j = 0; j < nGroups; j++) {
    const s = start[j];
    const e = start[j + 1];
    if (e === s) continue;
    const buf = new Float64Array(e - s);
    for (let k = s; k < e; k++) buf[k - s] = weights[rows[k]];
    const ceiling = 10 * medianOf(buf);
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

function standardKernel(
  groupIndex: Int32Array,
  nGroups: number,
  intensity: Float64Array,
  g: Float64Array,
  w: Float64Array,
  zmax: number,
): Int32Array {
  const n = groupIndex.length;
  let active = new Int32Array(n);
  for (let i = 0; i < n; i++) active[i] = i;
  let nActive = n;
  const sumWgI = new Float64Array(nGroups);
  const sumWg2 = new Float64Array(nGroups);
  const count = new Int32Array(nGroups);
  const maxZ = new Float64Array(nGroups);
  const argMax = new Int32Array(nGroups);
  const outliers: number[] = [];
  for (;;) {
    for (let k = 0; k < nActive; k++) {
      const gi = groupIndex[active[k]];
      sumWgI[gi] = 0;
      sumWg2[gi] = 0;
      count[gi] = 0;
      maxZ[gi] = zmax;
      argMax[gi] = -1;
    }
    for (let k = 0; k < nActive; k++) {
      const i = active[k];
      const gi = groupIndex[i];
      sumWgI[gi] += w[i] * g[i] * intensity[i];
      sumWg2[gi] += w[i] * g[i] * g[i];
      count[gi]++;
    }
    for (let k = 0; k < nActive; k++) {
      const i = active[k];
      const gi = groupIndex[i];
      if (count[gi] <= 2) continue;
      const othersWgI = sumWgI[gi] - w[i] * g[i] * intensity[i];
      const othersWg2 = sumWg2[gi] - w[i] * g[i] * g[i];
      let z: number;
      if (othersWg2 === 0) {
        z = ZERO_SUM_Z;
      } else {
        z = Math.abs((intensity[i] - (g[i] * othersWgI) / othersWg2) / Math.sqrt(1 / w[i] + (g[i] * g[i]) / othersWg2));
      }
      if (z > maxZ[gi]) {
        maxZ[gi] = z;
        argMax[gi] = i;
      }
    }
    const next = new Int32Array(nActive);
    let nNext = 0;
    let nNew = 0;
    for (let k = 0; k < nActive; k++) {
      const i = active[k];
      const best = argMax[groupIndex[i]];
      if (best < 0) continue;
      if (best === i) {
        outliers.push(i);
        nNew++;
      } else {
        next[nNext++] = i;
      }
    }
    if (nNew === 0) break;
    active = next;
    nActive = nNext;
  }
  return Int32Array.from(outliers);
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
