/**
 * The error model of each data class (Bragg, diffuse) of the joint refinement: DIALS's basic model
 * `σ'² = a²(σ² + (b·I)²)` refined per class by the DIALS port (`dials/error-model-refinement.ts`: DIALS's reflection
 * filter, intensity bins, the normal-probability fit of `a` and the binned-variance target of `b`) on the class's
 * used (non-outlier) rows at the current scales, with each group's reference the weighted mean at the current
 * weights, as DIALS refines it on its global Ih table. Each refinement costs one pass over the class's rows (which are
 * copied, at most `errorModelMaxRows` of them, into compact arrays: O(rows), never rows × parameters).
 *
 * When a class cannot determine (a, b) — too few reflections after DIALS's filter, or too few groups with two or more
 * members — its model is fixed instead and the reason recorded: DIALS's default for stills, a = 1 and b = 0.02, for
 * Bragg; a = 1 and b = 0 (σ as given) for diffuse.
 *
 * @packageDocumentation
 */
import { RefinementFailure } from "../errors.ts";
import { refineErrorModel, type ErrorModelRefinementOptions } from "../dials/error-model-refinement.ts";
import type { ScalingObservations } from "../observations/scaling-observations.ts";
import { forEachInverseScaleBatch } from "../passes/inverse-scale-batches.ts";
import type { JointModelState } from "../passes/inverse-scales.ts";
import type { RowErrorModel } from "../passes/outlier-weights.ts";
import { errorModelSigmaBins, type SigmaBin } from "./error-model-sigma-bins.ts";
import type { ErrorModelKind } from "./scaling-options.ts";

/** What the refinement reports of one class's error model. */
export interface ErrorModelSummary {
  /** "basic" (DIALS's basic model) or "none" (σ as given: a = 1, b = 0). */
  model: ErrorModelKind;
  /** The model's a. */
  a: number;
  /** The model's b (≥ 0). */
  b: number;
  /** Whether (a, b) were refined on the data (false: fixed, see `fixedReason`; always false for "none"). */
  refined: boolean;
  /** Why the model was fixed instead of refined (only when a "basic" model could not be refined). */
  fixedReason?: string;
  /**
   * Whether the refinement ended at a limit of DIALS's procedure: its a/b cycles did not converge, or a fell to 0.4 or
   * below, so that a was reset to 1 and b refined alone (DIALS's fallback).
   */
  atBound: boolean;
  /**
   * Standard deviation of the normalised deviations δ = √(n/(n−1))·(I/g − Ih)/σ of the class's used rows in groups of
   * two or more, with σ as given (`before`) and with the model's σ' (`after`); 0 without such rows.
   */
  normalisedResidualSd: { before: number; after: number };
  /**
   * σ' against I: the mean reported σ and the mean σ' of the class's used rows (those the model was refined on) per
   * log-spaced intensity bin ({@link errorModelSigmaBins}); only for a "basic" model.
   */
  sigmaBins?: SigmaBin[];
}

/** The error model of each class present (undefined for a class without observations). */
export interface ClassErrorModels {
  /** Bragg reflections. */
  readonly bragg: ErrorModelSummary | undefined;
  /** Diffuse voxels. */
  readonly diffuse: ErrorModelSummary | undefined;
}

/** The fixed model of the Bragg class when it cannot be refined: DIALS's default for stills. */
export const BRAGG_FIXED_ERROR_MODEL: Readonly<{ a: number; b: number }> = Object.freeze({ a: 1, b: 0.02 });

/** The fixed model of the diffuse class when it cannot be refined: σ as given. */
export const DIFFUSE_FIXED_ERROR_MODEL: Readonly<{ a: number; b: number }> = Object.freeze({ a: 1, b: 0 });

/** The per-row model the passes apply for these class models (a = 1, b = 0 for a missing class). */
export function rowErrorModelOf(obs: ScalingObservations, models: ClassErrorModels): RowErrorModel {
  return {
    nBraggGroups: obs.nBraggGroups,
    braggA: models.bragg?.a ?? 1,
    braggB: models.bragg?.b ?? 0,
    diffuseA: models.diffuse?.a ?? 1,
    diffuseB: models.diffuse?.b ?? 0,
  };
}

/** The used rows of one class, in compact arrays (group ids dense from 0). */
export interface ClassRows {
  /** Number of groups (ids 0 … nGroups − 1). */
  nGroups: number;
  /** Number of rows. */
  n: number;
  /** Group of each row. */
  groupIndex: Int32Array;
  /** Intensity I of each row (raw, unscaled). */
  intensity: Float64Array;
  /** Reported variance σ² of each row. */
  variance: Float64Array;
  /** Inverse scale g of each row. */
  inverseScale: Float64Array;
  /** Weight of each row in its group's reference (> 0). */
  weights: Float64Array;
}

function grow<T extends Int32Array | Float64Array>(a: T, n: number): T {
  if (n <= a.length) return a;
  const b = new (a.constructor as new (k: number) => T)(Math.max(n, 2 * a.length));
  b.set(a);
  return b;
}

/**
 * The used rows (weight > 0) of groups [groupBegin, groupEnd), every `stride`-th group, with g at `state` (one pass
 * over those rows, window by window).
 */
function collectClassRows(
  obs: ScalingObservations,
  state: JointModelState,
  precomputed: Float32Array | undefined,
  groupBegin: number,
  groupEnd: number,
  stride: number,
): ClassRows {
  const initial = Math.min(1 << 16, Math.max(16, obs.groupStart[groupEnd] - obs.groupStart[groupBegin]));
  let groupIndex = new Int32Array(initial);
  let intensity = new Float64Array(initial);
  let variance = new Float64Array(initial);
  let inverseScale = new Float64Array(initial);
  let weights = new Float64Array(initial);
  let n = 0;
  let nGroups = 0;
  const { groupStart } = obs;
  forEachInverseScaleBatch(
    obs,
    state,
    (win, hBegin, hEnd, g, gRow) => {
      const base = win.rowBegin;
      const rows = win.rows;
      for (let h = hBegin; h < hEnd; h++) {
        if ((h - groupBegin) % stride !== 0) continue;
        const size = groupStart[h + 1] - groupStart[h];
        if (n + size > groupIndex.length) {
          groupIndex = grow(groupIndex, n + size);
          intensity = grow(intensity, n + size);
          variance = grow(variance, n + size);
          inverseScale = grow(inverseScale, n + size);
          weights = grow(weights, n + size);
        }
        const before = n;
        for (let o = groupStart[h]; o < groupStart[h + 1]; o++) {
          const w = rows.weight[o - base];
          if (w === 0) continue;
          groupIndex[n] = nGroups;
          intensity[n] = rows.intensity[o - base];
          variance[n] = rows.variance[o - base];
          inverseScale[n] = g[o - gRow];
          weights[n] = w;
          n++;
        }
        if (n > before) nGroups++;
      }
    },
    { groupBegin, groupEnd, precomputed },
  );
  return {
    nGroups,
    n,
    groupIndex: groupIndex.subarray(0, n),
    intensity: intensity.subarray(0, n),
    variance: variance.subarray(0, n),
    inverseScale: inverseScale.subarray(0, n),
    weights: weights.subarray(0, n),
  };
}

/**
 * Standard deviation of δ = √(n/(n−1))·(I/g − Ih)/σ' over the rows in groups of two or more (Ih = Σwg·I/Σwg² the
 * weighted mean at the rows' weights w, σ' = a·√(σ² + (b·I)²)/g on the scale of Ih, n the group's rows); 0 with
 * fewer than two such rows. a = 1, b = 0 gives the sd with the σ as reported.
 */
export function normalisedResidualSd(c: ClassRows, a: number, b: number): number {
  const S = new Float64Array(c.nGroups);
  const T = new Float64Array(c.nGroups);
  const count = new Int32Array(c.nGroups);
  for (let i = 0; i < c.n; i++) {
    const h = c.groupIndex[i];
    const g = c.inverseScale[i];
    S[h] += c.weights[i] * g * g;
    T[h] += c.weights[i] * g * c.intensity[i];
    count[h]++;
  }
  let s1 = 0;
  let s2 = 0;
  let m = 0;
  for (let i = 0; i < c.n; i++) {
    const h = c.groupIndex[i];
    const nh = count[h];
    if (nh < 2) continue;
    const g = c.inverseScale[i];
    const bi = b * c.intensity[i];
    const sigma = (a * Math.sqrt(c.variance[i] + bi * bi)) / g;
    const d = (Math.sqrt(nh / (nh - 1)) * (c.intensity[i] / g - T[h] / S[h])) / sigma;
    if (!Number.isFinite(d)) continue;
    s1 += d;
    s2 += d * d;
    m++;
  }
  if (m < 2) return 0;
  return Math.sqrt(Math.max(0, (s2 - (s1 * s1) / m) / (m - 1)));
}

/** Number of groups with two or more used rows. */
function multiMemberGroups(c: ClassRows): number {
  const count = new Int32Array(c.nGroups);
  for (let i = 0; i < c.n; i++) count[c.groupIndex[i]]++;
  let k = 0;
  for (const x of count) if (x >= 2) k++;
  return k;
}

/** The error model of one class: refined, or fixed with the reason. */
function classModel(
  c: ClassRows,
  fixed: Readonly<{ a: number; b: number }>,
  filter: ErrorModelRefinementOptions,
): ErrorModelSummary {
  const before = normalisedResidualSd(c, 1, 0);
  const fixedModel = (reason: string): ErrorModelSummary => ({
    model: "basic",
    a: fixed.a,
    b: fixed.b,
    refined: false,
    fixedReason: reason,
    atBound: false,
    normalisedResidualSd: { before, after: normalisedResidualSd(c, fixed.a, fixed.b) },
    sigmaBins: errorModelSigmaBins(c.intensity, c.variance, fixed.a, fixed.b),
  });
  const nMulti = multiMemberGroups(c);
  if (nMulti < MIN_MULTI_MEMBER_GROUPS) {
    return fixedModel(
      `${nMulti} groups with two or more observations (fewer than ${MIN_MULTI_MEMBER_GROUPS}): a, b undetermined`,
    );
  }
  let fit: ReturnType<typeof refineErrorModel>;
  try {
    fit = refineErrorModel(c, { ...filter, deviationPrefactor: "unbiased" });
  } catch (e) {
    if (e instanceof RefinementFailure) return fixedModel(e.message);
    throw e;
  }
  if (!(Number.isFinite(fit.a) && fit.a > 0 && Number.isFinite(fit.b))) {
    return fixedModel(`the refined model is not usable (a = ${fit.a}, b = ${fit.b})`);
  }
  return {
    model: "basic",
    a: fit.a,
    b: fit.b,
    refined: true,
    atBound: !fit.converged,
    normalisedResidualSd: { before, after: normalisedResidualSd(c, fit.a, fit.b) },
    sigmaBins: errorModelSigmaBins(c.intensity, c.variance, fit.a, fit.b),
  };
}

/**
 * DIALS's reflection filter as the diffuse class uses it: diffuse intensities and σ are not counts, so the counting
 * tests (group mean I/σ² > 0.85, expected intensity above 25) and DIALS's fallback for a ≤ 0.4 are off; the
 * multiplicity, positive-intensity and internal-variance tests stay.
 */
const DIFFUSE_FILTER: ErrorModelRefinementOptions = Object.freeze({
  minMeanIOverVariance: -Infinity,
  minIh: 0,
  fallbackBelowA: 0,
});

/** Fewer groups with two or more used observations than this leave (a, b) undetermined: the model is fixed. */
export const MIN_MULTI_MEMBER_GROUPS = 20;

/**
 * Refines (kind "basic") or summarises (kind "none": a = 1, b = 0) the error model of each class at the model state
 * `state`, on the rows' current weights (outliers, weight 0, left out).
 *
 * @param precomputed - g of every row at `state` when already computed (resident rows). @defaultValue computed
 */
export function refineClassErrorModels(
  obs: ScalingObservations,
  state: JointModelState,
  kind: ErrorModelKind,
  maxRows: number,
  precomputed?: Float32Array,
): ClassErrorModels {
  const one = (
    groupBegin: number,
    groupEnd: number,
    nRows: number,
    fixed: Readonly<{ a: number; b: number }>,
    filter: ErrorModelRefinementOptions,
  ) => {
    if (groupEnd <= groupBegin || nRows === 0) return undefined;
    const stride = Math.max(1, Math.ceil(nRows / maxRows));
    const rows = collectClassRows(obs, state, precomputed, groupBegin, groupEnd, stride);
    if (kind === "basic") return classModel(rows, fixed, filter);
    const sd = normalisedResidualSd(rows, 1, 0);
    return {
      model: "none" as const,
      a: 1,
      b: 0,
      refined: false,
      atBound: false,
      normalisedResidualSd: { before: sd, after: sd },
    };
  };
  return {
    bragg: one(0, obs.nBraggGroups, obs.nBraggRows, BRAGG_FIXED_ERROR_MODEL, {}),
    diffuse: one(obs.nBraggGroups, obs.nGroups, obs.n - obs.nBraggRows, DIFFUSE_FIXED_ERROR_MODEL, DIFFUSE_FILTER),
  };
}

/** Relative change of a (and absolute change of b) below which the models count as stable between cycles. */
export const ERROR_MODEL_STABLE_TOLERANCE = 1e-3;

/** Whether every class's (a, b) moved by less than {@link ERROR_MODEL_STABLE_TOLERANCE} from `previous`. */
export function errorModelsStable(previous: ClassErrorModels, current: ClassErrorModels): boolean {
  const same = (p: ErrorModelSummary | undefined, c: ErrorModelSummary | undefined): boolean => {
    if (p === undefined || c === undefined) return p === c;
    return (
      Math.abs(c.a - p.a) <= ERROR_MODEL_STABLE_TOLERANCE * Math.abs(p.a) &&
      Math.abs(c.b - p.b) <= ERROR_MODEL_STABLE_TOLERANCE
    );
  };
  return same(previous.bragg, current.bragg) && same(previous.diffuse, current.diffuse);
}
