/**
 * Warnings when a fit cannot be trusted, as a pure function of a small summary of the run ({@link FitWarningInput}):
 * scales poorly determined (large relative ESDs, or few multiply-observed groups per still), a normalised residual
 * sd far from 1 per data class (after the error model when there is one), scales that move by more than their ESDs
 * when the outliers are rejected, an outlier fraction above 1 %, stills with very few observations, a scale range
 * over 100×, and an error model at a bound of its search or fixed for lack of data. Every threshold is a field of
 * {@link FIT_WARNING_THRESHOLDS}. Each warning is a stable `code` and a one-line message naming the stills, classes
 * and numbers behind it; the README ("Validation and failures") says what to do about each.
 *
 * @packageDocumentation
 */
import { requireNumbersArgument, requireObjectArgument, requireOptionsArgument } from "../errors.ts";
import type { FitWarning } from "../io/scales-json.ts";

export type { FitWarning };

/** The thresholds of {@link fitWarnings} (defaults of the checks; they are not options of the run). */
export const FIT_WARNING_THRESHOLDS = {
  /** A still's scale is poorly determined when its ESD is above this fraction of the scale (5 %). */
  maxRelativeScaleEsd: 0.05,
  /**
   * A still's scale is poorly determined when fewer than this many multiply-observed groups (Bragg groups or voxels
   * with ≥ 2 used observations) hold one of its used observations: only those tie it to the other stills.
   */
  minSharedGroupsPerStill: 20,
  /**
   * The normalised residuals of a class should have sd ≈ 1 (σ right): a warning when the sd is above this factor or
   * below its inverse (1.5: σ misreported by half or more, or by a third).
   */
  residualSdFactor: 1.5,
  /** Fewest normalised residuals of a class for its sd to be judged (fewer say too little). */
  minResidualsForSd: 30,
  /**
   * A still's scale moved too far when the outliers were rejected if the move (between the first cycle's scales and
   * the final ones, both in the geometric-mean-1 gauge) is above this many final ESDs.
   */
  maxRejectionShiftEsds: 3,
  /** Largest fraction of a class's usable observations rejected as outliers (1 %). */
  maxOutlierFraction: 0.01,
  /** Fewest used observations (Bragg + diffuse) of a refined still. */
  minObservationsPerStill: 50,
  /** Largest ratio of the largest refined scale to the smallest. */
  maxScaleRange: 100,
} as const;

/** Thresholds of {@link fitWarnings} (the fields of {@link FIT_WARNING_THRESHOLDS}). */
export type FitWarningThresholds = { readonly [K in keyof typeof FIT_WARNING_THRESHOLDS]: number };

/**
 * What the checks need to know of an error model of one data class (a structural subset of the refinement's
 * error-model summary: `basic` is DIALS's σ'² = a²(σ² + (b·I)²), `none` keeps the σ as given).
 */
export interface ErrorModelSummaryLike {
  /** The model. */
  readonly model: "basic" | "none";
  /** Refined (or fixed) a. */
  readonly a: number;
  /** Refined (or fixed) b. */
  readonly b: number;
  /** False when the model was fixed rather than refined. */
  readonly refined: boolean;
  /** Why the model was fixed (e.g. too few multiply-observed groups), when it was. */
  readonly fixedReason?: string | undefined;
  /** True when a parameter ended at a bound of its search. */
  readonly atBound: boolean;
  /** The sd of the class's normalised residuals with the σ as given (`before`) and with σ' (`after`). */
  readonly normalisedResidualSd: { readonly before: number; readonly after: number };
}

/** The fit statistics of one data class (Bragg or diffuse). */
export interface ClassFitStatistics {
  /** Observations used at the end (weight > 0). */
  readonly nUsed: number;
  /** Usable observations rejected as outliers. */
  readonly nOutliers: number;
  /** Count and sd of the class's normalised residuals at the run's weights, or null when it has none. */
  readonly residuals: { readonly n: number; readonly sd: number } | null;
}

/** The summary of a run the warnings are computed from. Per-still arrays are in one order, of one length. */
export interface FitWarningInput {
  /** Still ids of the refined stills. */
  readonly stills: readonly number[];
  /** Refined scale b per still. */
  readonly scales: readonly number[];
  /** ESD of each b. */
  readonly scaleEsds: readonly number[];
  /** Used observations (Bragg + diffuse) per still. */
  readonly nObservations: readonly number[];
  /** Multiply-observed groups (≥ 2 used observations) holding a used observation of the still, per still. */
  readonly nSharedGroups: readonly number[];
  /** b per still as the first cycle refined it, before any outlier was rejected (undefined: rejection off). */
  readonly scalesBeforeRejection?: readonly number[] | undefined;
  /** Per data class: undefined when the run has no data of that class. */
  readonly classes: {
    readonly bragg?: ClassFitStatistics | undefined;
    readonly diffuse?: ClassFitStatistics | undefined;
  };
  /** The error model per class, when the run refined or fixed one. */
  readonly errorModel?:
    | { readonly bragg?: ErrorModelSummaryLike | undefined; readonly diffuse?: ErrorModelSummaryLike | undefined }
    | undefined;
}

/** The data classes in the order the warnings name them. */
/** Throws a ConfigError unless the arguments of {@link fitWarnings} have the documented shape. */
function checkFitWarningInput(input: unknown, thresholds: unknown): void {
  const fn = "fitWarnings";
  requireObjectArgument(input, `${fn}: input`);
  const i = input as FitWarningInput;
  requireNumbersArgument(i.stills, `${fn}: input.stills`);
  for (const key of ["scales", "scaleEsds", "nObservations", "nSharedGroups"] as const)
    requireNumbersArgument(i[key], `${fn}: input.${key}`, i.stills.length);
  if (i.scalesBeforeRejection !== undefined)
    requireNumbersArgument(i.scalesBeforeRejection, `${fn}: input.scalesBeforeRejection`, i.stills.length);
  requireObjectArgument(i.classes, `${fn}: input.classes`);
  for (const c of ["bragg", "diffuse"] as const) requireOptionsArgument(i.classes[c], `${fn}: input.classes.${c}`);
  requireOptionsArgument(i.errorModel, `${fn}: input.errorModel`);
  requireObjectArgument(thresholds, `${fn}: thresholds`);
}

const CLASSES = [
  ["bragg", "Bragg"],
  ["diffuse", "diffuse"],
] as const;

/** Most still ids a message lists. */
const MAX_LISTED = 5;

/** `n` items, named up to {@link MAX_LISTED}. */
function listStills(ids: readonly number[]): string {
  const shown = ids.slice(0, MAX_LISTED).join(", ");
  return ids.length > MAX_LISTED ? `${shown}, … (${ids.length} in all)` : shown;
}

/** A number with 3 significant digits. */
function g3(x: number): string {
  return x.toPrecision(3);
}

/** Stills whose relative ESD is too large, and stills with too few multiply-observed groups. */
function poorlyDetermined(input: FitWarningInput, t: FitWarningThresholds): FitWarning[] {
  const out: FitWarning[] = [];
  const large: number[] = [];
  let worst = 0;
  let worstStill = -1;
  input.scales.forEach((b, i) => {
    const rel = input.scaleEsds[i] / b;
    if (rel > t.maxRelativeScaleEsd) large.push(input.stills[i]);
    if (rel > worst) {
      worst = rel;
      worstStill = input.stills[i];
    }
  });
  if (large.length > 0) {
    out.push({
      code: "scales_poorly_determined",
      message:
        `${large.length} of ${input.scales.length} stills have a scale ESD above ${100 * t.maxRelativeScaleEsd} % ` +
        `of the scale (largest ${g3(100 * worst)} % on still ${worstStill}; stills ${listStills(large)})`,
    });
  }
  const few: number[] = [];
  let fewest = Infinity;
  input.nSharedGroups.forEach((n, i) => {
    if (n < t.minSharedGroupsPerStill) few.push(input.stills[i]);
    fewest = Math.min(fewest, n);
  });
  if (few.length > 0) {
    out.push({
      code: "few_shared_groups",
      message:
        `${few.length} of ${input.scales.length} stills share fewer than ${t.minSharedGroupsPerStill} ` +
        `multiply-observed groups with the others (fewest ${fewest}; stills ${listStills(few)}): their scales rest on few comparisons`,
    });
  }
  return out;
}

/** Per class: the normalised residual sd outside [1/f, f] (after the error model when there is one). */
function residualSd(input: FitWarningInput, t: FitWarningThresholds): FitWarning[] {
  const out: FitWarning[] = [];
  for (const [key, name] of CLASSES) {
    const stats = input.classes[key];
    const model = input.errorModel?.[key];
    const withModel = model !== undefined && model.model !== "none";
    let sd: number;
    let detail: string;
    if (withModel) {
      sd = model.normalisedResidualSd.after;
      detail = `after the error model (${g3(model.normalisedResidualSd.before)} before)`;
    } else {
      const r = stats?.residuals;
      if (r === undefined || r === null || r.n < t.minResidualsForSd) continue;
      sd = r.sd;
      detail = `over ${r.n} residuals, σ taken as given`;
    }
    if (!(sd > t.residualSdFactor || sd < 1 / t.residualSdFactor)) continue;
    out.push({
      code: "residual_sd",
      message:
        `${name} normalised residual sd ${g3(sd)} ${detail}, expected 1 (warning outside ` +
        `${g3(1 / t.residualSdFactor)}–${t.residualSdFactor}): the ${name} σ are ${sd > 1 ? "too small" : "too large"}, ` +
        "so the weights, the outlier test and the ESDs are off",
    });
  }
  return out;
}

/** Geometric mean of positive values. */
function geometricMean(values: readonly number[]): number {
  let s = 0;
  for (const v of values) s += Math.log(v);
  return Math.exp(s / values.length);
}

/** Stills whose scale moved by more than the threshold in ESDs between the first cycle and the end. */
function rejectionShifts(input: FitWarningInput, t: FitWarningThresholds): FitWarning[] {
  const before = input.scalesBeforeRejection;
  if (before === undefined || before.length !== input.scales.length || before.length === 0) return [];
  const g0 = geometricMean(before);
  const g1 = geometricMean(input.scales);
  const moved: number[] = [];
  let worstEsds = 0;
  let worstRatio = 1;
  let worstStill = -1;
  input.scales.forEach((b, i) => {
    const b1 = b / g1;
    const b0 = before[i] / g0;
    const esds = Math.abs(b1 - b0) / (input.scaleEsds[i] / g1);
    if (!(esds > t.maxRejectionShiftEsds)) return;
    moved.push(input.stills[i]);
    if (esds > worstEsds) {
      worstEsds = esds;
      worstRatio = Math.max(b1 / b0, b0 / b1);
      worstStill = input.stills[i];
    }
  });
  if (moved.length === 0) return [];
  const nOutliers = (input.classes.bragg?.nOutliers ?? 0) + (input.classes.diffuse?.nOutliers ?? 0);
  return [
    {
      code: "scales_moved_by_rejection",
      message:
        `rejecting ${nOutliers} outlier${nOutliers === 1 ? "" : "s"} moved the scales of ${moved.length} of ` +
        `${input.scales.length} stills by more than ${t.maxRejectionShiftEsds} ESDs (up to ${g3(worstEsds)} ESDs, ` +
        `×${g3(worstRatio)}, on still ${worstStill}; stills ${listStills(moved)}): a few observations decide these scales, or their ESDs understate the uncertainty`,
    },
  ];
}

/** Per class: more than the threshold fraction of the usable observations rejected. */
function outlierFraction(input: FitWarningInput, t: FitWarningThresholds): FitWarning[] {
  const out: FitWarning[] = [];
  for (const [key, name] of CLASSES) {
    const stats = input.classes[key];
    if (stats === undefined) continue;
    const usable = stats.nUsed + stats.nOutliers;
    if (usable === 0) continue;
    const fraction = stats.nOutliers / usable;
    if (!(fraction > t.maxOutlierFraction)) continue;
    out.push({
      code: "outlier_fraction",
      message:
        `${g3(100 * fraction)} % of the usable ${name} observations (${stats.nOutliers} of ${usable}) were rejected ` +
        `as outliers, above ${100 * t.maxOutlierFraction} %: σ too small or a model that does not fit`,
    });
  }
  return out;
}

/** Stills with fewer used observations than the threshold. */
function fewObservations(input: FitWarningInput, t: FitWarningThresholds): FitWarning[] {
  const few: number[] = [];
  let fewest = Infinity;
  input.nObservations.forEach((n, i) => {
    if (n < t.minObservationsPerStill) few.push(input.stills[i]);
    fewest = Math.min(fewest, n);
  });
  if (few.length === 0) return [];
  return [
    {
      code: "few_observations",
      message:
        `${few.length} of ${input.scales.length} stills have fewer than ${t.minObservationsPerStill} used ` +
        `observations (fewest ${fewest}; stills ${listStills(few)})`,
    },
  ];
}

/** The ratio of the largest scale to the smallest above the threshold. */
function scaleRange(input: FitWarningInput, t: FitWarningThresholds): FitWarning[] {
  if (input.scales.length === 0) return [];
  let lo = 0;
  let hi = 0;
  input.scales.forEach((b, i) => {
    if (b < input.scales[lo]) lo = i;
    if (b > input.scales[hi]) hi = i;
  });
  const range = input.scales[hi] / input.scales[lo];
  if (!(range > t.maxScaleRange)) return [];
  return [
    {
      code: "scale_range",
      message:
        `the scales span ${g3(range)}× (still ${input.stills[lo]} at ${g3(input.scales[lo])}, still ` +
        `${input.stills[hi]} at ${g3(input.scales[hi])}), above ${t.maxScaleRange}×: check those stills`,
    },
  ];
}

/** Per class: the error model at a bound of its search, or fixed for lack of data. */
function errorModelWarnings(input: FitWarningInput): FitWarning[] {
  const out: FitWarning[] = [];
  for (const [key, name] of CLASSES) {
    const m = input.errorModel?.[key];
    if (m === undefined || m.model === "none") continue;
    const ab = `a = ${g3(m.a)}, b = ${g3(m.b)}`;
    if (!m.refined) {
      out.push({
        code: "error_model_fixed",
        message: `the ${name} error model was fixed at ${ab}, not refined: ${m.fixedReason ?? "too few multiply-observed groups"}`,
      });
    } else if (m.atBound) {
      out.push({
        code: "error_model_at_bound",
        message: `the ${name} error model ended at a bound of its search (${ab}): its σ' may still be wrong`,
      });
    }
  }
  return out;
}

/**
 * The warnings of a run, in a fixed order (determination, residuals, rejection, outliers, observations, range,
 * error model); empty when nothing was found.
 *
 * @param input - The run's summary (see {@link FitWarningInput}).
 * @param thresholds - The thresholds. @defaultValue {@link FIT_WARNING_THRESHOLDS}
 */
export function fitWarnings(
  input: FitWarningInput,
  thresholds: FitWarningThresholds = FIT_WARNING_THRESHOLDS,
): FitWarning[] {
  checkFitWarningInput(input, thresholds);
  return [
    ...poorlyDetermined(input, thresholds),
    ...residualSd(input, thresholds),
    ...rejectionShifts(input, thresholds),
    ...outlierFraction(input, thresholds),
    ...fewObservations(input, thresholds),
    ...scaleRange(input, thresholds),
    ...errorModelWarnings(input),
  ];
}
