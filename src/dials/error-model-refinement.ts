/**
 * Refinement of the DIALS basic error model (`dials/algorithms/scaling/error_model/`: `engine.py`,
 * `error_model_target.py`) on the reflections selected by {@link prepareErrorModelData}. Two minimisations are offered:
 *
 * - "individual" (DIALS default): alternately, `a` from a straight-line fit to the normal probability plot of the
 *   normalised deviations δ_hl (central region |x| < 1.5), and `b` by a 1-D minimisation of the binned-variance target
 *   `Σ_b w_b[(0.5 − var_b)² + 1/var_b − 1.25]/Σ_b w_b` (minimum at var_b = 1), until |Δa/a| < 0.01.
 * - "regression": a linear fit `y = p0·x + p1` with `x = σ²/I²`, `y = Σ_group (I − g·Ih)²/(n−1)/I²`, then
 *   `a = √p0`, `b = √p1/a`.
 *
 * Where DIALS runs LBFGS on a quadratic (the `a` line fit and the regression) we use the closed-form least-squares
 * optimum, which is the point LBFGS converges to. The `b` target is minimised with Brent's method from a bracket found
 * downhill from the current `b` (DIALS: LBFGS from the current `b`).
 *
 * @packageDocumentation
 */
import { ConfigError, RefinementFailure, requireOptionsArgument } from "../errors.ts";
import { brentMinimise } from "../solve/brent.ts";
import { SortFloat64Scratch, sortFloat64 } from "../runtime/sort-float64.ts";
import {
  binVariancesKernel,
  createErrorModelBins,
  type ErrorModelBinOptions,
  type ErrorModelBins,
} from "./error-model-bins.ts";
import {
  prepareErrorModelData,
  type ErrorModelData,
  type ErrorModelFilterOptions,
  type ErrorModelObservations,
} from "./error-model-data.ts";
import { normalCdf, normalQuantile } from "./normal-distribution.ts";

/**
 * The x values of the normal probability plot used to fit `a` (DIALS `calculate_sorted_deviations`): with n deltas,
 * `i0 = ceil(Φ(−1.5)·n − 0.5)`, `i1 = ceil(Φ(1.5)·n − 0.5)` and `x_k = Φ⁻¹(v_k)` for the `i1 − i0` points
 * `v_k = k·((i1 + 0.5)/n − (i0 + 0.5)/n)/(i1 − i0) + (i0 + 0.5)/n` (numpy `linspace` without endpoint).
 *
 * @param n - Number of deltas.
 * @returns The index range [i0, i1) of the sorted deltas and the expected normal quantiles.
 */
export function normalProbabilityPlotX(n: number): { i0: number; i1: number; x: Float64Array } {
  const i0 = Math.ceil(normalCdf(-1.5) * n - 0.5);
  const i1 = Math.ceil(normalCdf(1.5) * n - 0.5);
  const num = Math.max(0, i1 - i0);
  const start = (i0 + 0.5) / n;
  const stop = (i1 + 0.5) / n;
  const step = (stop - start) / num;
  const x = new Float64Array(num);
  for (let k = 0; k < num; k++) x[k] = normalQuantile(k * step + start);
  return { i0, i1, x };
}

/** Options of {@link refineErrorModel}. */
export interface ErrorModelRefinementOptions extends ErrorModelFilterOptions {
  /**
   * Minimisation method: "individual" (alternating a and b) or "regression" (one linear fit).
   *
   * @defaultValue "individual"
   */
  minimisation?: "individual" | "regression";
  /**
   * Number of intensity bins for the b target.
   *
   * @defaultValue 10
   */
  nBins?: number;
  /**
   * Fix `a` at this value (it is then not refined).
   *
   * @defaultValue undefined (a starts at 1.0 and is refined)
   */
  fixA?: number;
  /**
   * Fix `b` at this value (it is then not refined).
   *
   * @defaultValue undefined (b starts at 0.02 and is refined)
   */
  fixB?: number;
  /**
   * Maximum number of a/b cycles of the "individual" minimisation.
   *
   * @defaultValue 50
   */
  maxCycles?: number;
  /**
   * The normalised deviation's prefactor: "dials" is DIALS's `√((n−1)/n)`, which with Ih the mean *including* the
   * observation gives var(δ) = ((n−1)/n)² for right σ (a bias towards small a at low multiplicity, e.g. stills);
   * "unbiased" is `√(n/(n−1))`, which gives var(δ) = 1 for right σ and equal weights (Evans's δ with the mean of the
   * other observations).
   *
   * @defaultValue "dials"
   */
  deviationPrefactor?: "dials" | "unbiased";
  /**
   * The "individual" fit keeps its a only when the a/b cycles converged with a above this; otherwise it takes DIALS's
   * fallback (a = 1, b refined alone). DIALS's 0.4 presumes σ in counting units; 0 keeps any positive a.
   *
   * @defaultValue 0.4
   */
  fallbackBelowA?: number;
}

/** Result of {@link refineErrorModel}. */
export interface ErrorModelRefinementResult {
  /** Refined (or fixed) `a`. */
  a: number;
  /** Refined (or fixed) `b`, non-negative. */
  b: number;
  /** Number of reflections used. */
  nUsed: number;
  /** Number of a/b cycles run ("individual"); 1 for "regression"; 0 when both parameters are fixed. */
  cycles: number;
  /**
   * Whether the a/b cycles converged (|Δa/a| < 0.01) with a > 0.4; false means DIALS's fallback (a = 1, b refined
   * alone) was taken. True for "regression" and for single-parameter refinement.
   */
  converged: boolean;
  /** The bins used for the b target. */
  bins: ErrorModelBins;
  /** Bin variances of δ before correction (a = 1, b = 0). */
  initialBinVariances: Float64Array;
  /** Bin variances of δ with the final parameters. */
  binVariances: Float64Array;
}

/** Precomputed per-reflection quantities for fast δ evaluation. */
interface DeltaContext {
  /** sqrt((n_h−1)/n_h)·(I/g − Ih)·g: δ = num / (a·sqrt(σ² + b²I²)). */
  num: Float64Array;
  variance: Float64Array;
  intensity: Float64Array;
}

function deltaKernel(ctx: DeltaContext, a: number, b: number, out: Float64Array): void {
  const { num, variance, intensity } = ctx;
  for (let i = 0; i < out.length; i++) {
    const bi = b * intensity[i];
    out[i] = num[i] / (a * Math.sqrt(variance[i] + bi * bi));
  }
}

/**
 * Refine the DIALS basic error model on grouped observations (DIALS `run_error_model_refinement` with
 * `ErrorModelRefinery` or the regression refiner). The reflections are first selected with
 * {@link prepareErrorModelData}.
 *
 * "individual": up to `maxCycles` cycles of (a ← a·c1, c1 the slope of the least-squares line through the central
 * normal probability plot; then b by minimising the binned-variance target), stopping when |Δa/a| < 0.01. If that
 * converged with a > 0.4, a is refined once more; otherwise a = 1, b = 0.02 and b alone is refined (DIALS fallback).
 * With `fixA` or `fixB`, only the other parameter is refined, once.
 *
 * Deviation from DIALS, only in degenerate cases: if the a fit gives a non-finite or non-positive a, the cycles stop and
 * the fallback is taken at once (DIALS would carry on with that a).
 *
 * "regression": least squares of `y = p0·x + p1` (x = σ²/I², y = Σ_group (I − g·Ih)²/(n−1)/I²), a = √p0,
 * b = √p1/a (with one parameter fixed, the corresponding one-parameter fit).
 *
 * @param obs - The observations (see {@link ErrorModelObservations}); outliers should already be removed.
 * @param options - See {@link ErrorModelRefinementOptions}.
 * @returns The refined parameters and diagnostics.
 * @throws {@link ConfigError} on malformed input or options; {@link RefinementFailure} when too few reflections remain
 * or the regression gives a non-positive a² or b².
 */
export function refineErrorModel(
  obs: ErrorModelObservations,
  options?: ErrorModelRefinementOptions,
): ErrorModelRefinementResult {
  const where = "refineErrorModel";
  requireOptionsArgument(options, `${where}: options`);
  const minimisation: string = options?.minimisation ?? "individual";
  if (minimisation !== "individual" && minimisation !== "regression") {
    throw new ConfigError(`${where}: minimisation must be "individual" or "regression", got ${minimisation}`);
  }
  const maxCycles = options?.maxCycles ?? 50;
  if (!Number.isInteger(maxCycles) || maxCycles < 1) {
    throw new ConfigError(`${where}: maxCycles must be a positive integer, got ${maxCycles}`);
  }
  for (const [name, value] of [
    ["fixA", options?.fixA],
    ["fixB", options?.fixB],
  ] as const) {
    if (value !== undefined && !Number.isFinite(value)) {
      throw new ConfigError(`${where}: ${name} must be a finite number, got ${value}`);
    }
  }
  const unbiased = options?.deviationPrefactor === "unbiased";
  const data = prepareErrorModelData(obs, options);
  const n = data.rows.length;
  const expected = expectedIntensities(data);
  const binOptions: ErrorModelBinOptions = { minReflectionsRequired: options?.minReflectionsRequired ?? 250 };
  if (options?.nBins !== undefined) binOptions.nBins = options.nBins;
  const bins = createErrorModelBins(expected, binOptions);

  const ctx: DeltaContext = {
    num: deltaNumerators(data, unbiased),
    variance: data.variance,
    intensity: data.intensity,
  };
  const delta = new Float64Array(n);
  deltaKernel(ctx, 1.0, 0.0, delta);
  const initialBinVariances = binVariancesKernel(delta, bins);

  let a = options?.fixA ?? 1.0;
  let b = options?.fixB ?? 0.02;
  const refineA = options?.fixA === undefined;
  const refineB = options?.fixB === undefined;
  let cycles = 0;
  let converged = true;

  if (minimisation === "regression") {
    ({ a, b } = regressionFit(data, a, b, refineA, refineB));
    cycles = refineA || refineB ? 1 : 0;
  } else if (refineA || refineB) {
    const minA = options?.fallbackBelowA ?? 0.4;
    ({ a, b, cycles, converged } = individualFit(ctx, bins, delta, a, b, refineA, refineB, maxCycles, minA));
  }
  b = Math.abs(b);
  deltaKernel(ctx, a, b, delta);
  const binVariances = binVariancesKernel(delta, bins);
  return { a, b, nUsed: n, cycles, converged, bins, initialBinVariances, binVariances };
}

// The loops over the reflections are functions of their own (the error model is refined once per refinement cycle, on
// cold code: one long function would be deoptimised at each of its later loops).

/** The expected intensity g·Ih (times partiality when given) of each reflection. */
function expectedIntensities(data: ErrorModelData): Float64Array {
  const { Ih, inverseScale, partiality } = data;
  const expected = new Float64Array(Ih.length);
  for (let i = 0; i < expected.length; i++) {
    expected[i] = Ih[i] * inverseScale[i] * (partiality === undefined ? 1 : partiality[i]);
  }
  return expected;
}

/** The numerator of each reflection's δ: prefactor·(I/g − Ih)·g (see {@link DeltaContext}). */
function deltaNumerators(data: ErrorModelData, unbiased: boolean): Float64Array {
  const { nh, inverseScale, intensity, Ih } = data;
  const num = new Float64Array(nh.length);
  for (let i = 0; i < num.length; i++) {
    const n = nh[i];
    const g = inverseScale[i];
    const prefactor = unbiased ? Math.sqrt(n / (n - 1)) : Math.sqrt((n - 1) / n);
    num[i] = prefactor * (intensity[i] / g - Ih[i]) * g;
  }
  return num;
}

/**
 * The "individual" minimisation of {@link refineErrorModel}: a/b cycles until |Δa/a| < 0.01 (then a once more, or the
 * DIALS fallback a = 1 with b refined alone), or one fit of the single free parameter. `delta` is scratch of length n.
 */
function individualFit(
  ctx: DeltaContext,
  bins: ErrorModelBins,
  delta: Float64Array,
  a0: number,
  b0: number,
  refineA: boolean,
  refineB: boolean,
  maxCycles: number,
  minA: number,
): { a: number; b: number; cycles: number; converged: boolean } {
  const n = ctx.num.length;
  let a = a0;
  let b = b0;
  let cycles = 0;
  let converged = true;
  const plot = normalProbabilityPlotX(n);
  if (plot.x.length < 2) {
    throw new RefinementFailure(`error model: too few reflections (${n}) for the normal probability plot`);
  }
  const line = lineAbscissae(plot.x);
  // δ is sorted where it is computed (`delta` is scratch), with the sort's working arrays kept for every a fit
  const sortScratch = new SortFloat64Scratch();
  const fitA = (aCur: number, bCur: number): number => {
    deltaKernel(ctx, aCur, bCur, delta);
    return aCur * lineSlope(line, sortFloat64(delta, sortScratch), plot.i0);
  };
  const binned = binnedContext(ctx, bins);
  const fitB = (aCur: number, bCur: number): number => minimiseB(binned, bins, aCur, bCur);
  if (refineA && refineB) {
    const avals: number[] = [];
    converged = false;
    for (let cycle = 0; cycle < maxCycles; cycle++) {
      cycles++;
      a = fitA(a, b);
      avals.push(a);
      if (!(Number.isFinite(a) && a > 0)) break;
      b = fitB(a, b);
      if (avals.length >= 2) {
        const r1 = avals[avals.length - 1];
        const r2 = avals[avals.length - 2];
        if (r2 > 0 ? Math.abs((r2 - r1) / r2) < 0.01 : true) {
          converged = true;
          break;
        }
      }
    }
    if (converged && a > minA) {
      a = fitA(a, b);
    } else {
      converged = false;
      a = 1.0;
      b = fitB(1.0, 0.02);
    }
  } else if (refineA) {
    a = fitA(a, b);
    cycles = 1;
  } else {
    b = fitB(a, b);
    cycles = 1;
  }
  return { a, b, cycles, converged };
}

/** The abscissae of the line fit with their mean and Σ(x − mean)², which every fit of a shares. */
interface LineAbscissae {
  x: Float64Array;
  mx: number;
  sxx: number;
}

/** x with its mean (the sum in index order over the count) and Σ(x − mean)² (in index order). */
function lineAbscissae(x: Float64Array): LineAbscissae {
  const m = x.length;
  let sx = 0;
  for (let k = 0; k < m; k++) sx += x[k];
  const mx = sx / m;
  let sxx = 0;
  for (let k = 0; k < m; k++) {
    const dx = x[k] - mx;
    sxx += dx * dx;
  }
  return { x, mx, sxx };
}

/**
 * Slope c1 of the least-squares line y = c0 + c1·x through (x_k, sorted[i0 + k]): Σ(x − x̄)(y − ȳ)/Σ(x − x̄)², each
 * sum in index order (the x sums, the same for every fit, come with `line`). The two loops over y are functions of
 * their own (the fit runs a handful of times per refinement cycle, on cold code).
 */
function lineSlope(line: LineAbscissae, sorted: Float64Array, i0: number): number {
  const m = line.x.length;
  const my = rangeSum(sorted, i0, m) / m;
  return crossDeviations(line.x, line.mx, sorted, i0, my) / line.sxx;
}

/** Σ y[i0 + k] for k < m, in index order. */
function rangeSum(y: Float64Array, i0: number, m: number): number {
  let sy = 0;
  for (let k = 0; k < m; k++) sy += y[i0 + k];
  return sy;
}

/** Σ (x_k − mx)·(y[i0 + k] − my), in index order. */
function crossDeviations(x: Float64Array, mx: number, y: Float64Array, i0: number, my: number): number {
  let sxy = 0;
  for (let k = 0; k < x.length; k++) sxy += (x[k] - mx) * (y[i0 + k] - my);
  return sxy;
}

/**
 * The rows of {@link DeltaContext} that fall in a bin, compacted once per b minimisation (the bins do not change
 * while b is refined) and placed bin by bin (in row order within a bin): what every evaluation of the b target reads.
 */
interface BinnedDeltaContext extends DeltaContext {
  /** The rows of bin k are [binStart[k], binStart[k + 1]). */
  binStart: Int32Array;
}

function binnedContext(ctx: DeltaContext, bins: ErrorModelBins): BinnedDeltaContext {
  const nb = bins.reflPerBin.length;
  const binStart = binStarts(bins.binIndex, nb);
  const m = binStart[nb];
  const out: BinnedDeltaContext = {
    num: new Float64Array(m),
    variance: new Float64Array(m),
    intensity: new Float64Array(m),
    binStart,
  };
  placeByBin(ctx, bins.binIndex, binStart.slice(0, nb), out);
  return out;
}

/** The first slot of each of the `nb` bins when the rows are placed bin by bin (length nb + 1; −1: no bin). */
function binStarts(binIndex: Int32Array, nb: number): Int32Array {
  const binStart = new Int32Array(nb + 1);
  for (let i = 0; i < binIndex.length; i++) {
    const k = binIndex[i];
    if (k >= 0) binStart[k + 1]++;
  }
  for (let k = 0; k < nb; k++) binStart[k + 1] += binStart[k];
  return binStart;
}

/** Each binned row of `ctx` to the next slot of its bin (`next`, advanced) in `out`. */
function placeByBin(ctx: DeltaContext, binIndex: Int32Array, next: Int32Array, out: DeltaContext): void {
  for (let i = 0; i < binIndex.length; i++) {
    const k = binIndex[i];
    if (k < 0) continue;
    const j = next[k]++;
    out.num[j] = ctx.num[i];
    out.variance[j] = ctx.variance[i];
    out.intensity[j] = ctx.intensity[i];
  }
}

/**
 * The b target Σ_b w_b[(0.5 − var_b)² + 1/var_b − 1.25]/Σ_b w_b. Empty bins (possible only with very few reflections
 * per bin) are skipped; DIALS would get NaN from them. δ and the bin sums in one loop over each bin's rows (the same
 * numbers as {@link deltaKernel} then {@link binVariancesKernel}: each bin's sums in row order).
 */
function bTarget(ctx: BinnedDeltaContext, bins: ErrorModelBins, a: number, b: number): number {
  const nb = bins.reflPerBin.length;
  const { num, variance, intensity, binStart } = ctx;
  let f = 0;
  let sw = 0;
  for (let k = 0; k < nb; k++) {
    let s1 = 0;
    let s2 = 0;
    for (let i = binStart[k]; i < binStart[k + 1]; i++) {
      const bi = b * intensity[i];
      const d = num[i] / (a * Math.sqrt(variance[i] + bi * bi));
      s1 += d;
      s2 += d * d;
    }
    if (bins.reflPerBin[k] === 0) continue;
    const c = bins.reflPerBin[k];
    const v = s2 / c - (s1 * s1) / (c * c);
    const w = bins.weights[k];
    f += ((0.5 - v) * (0.5 - v) + 1 / v - 1.25) * w;
    sw += w;
  }
  return f / sw;
}

/** Minimise the b target over b ≥ 0 (it depends on b² only), starting from the current b. */
function minimiseB(ctx: BinnedDeltaContext, bins: ErrorModelBins, a: number, b0: number): number {
  const f = (b: number): number => bTarget(ctx, bins, a, b);
  const x0 = Math.abs(b0);
  const h = Math.max(0.1 * x0, 1e-3);
  const f0 = f(x0);
  let lo: number;
  let hi: number;
  const fUp = f(x0 + h);
  if (fUp < f0) {
    // go uphill in b until f increases
    let prev = x0;
    let cur = x0 + h;
    let fCur = fUp;
    let step = h;
    for (;;) {
      step *= 2;
      const nxt = cur + step;
      const fNxt = f(nxt);
      if (!(fNxt < fCur) || nxt > 1e3) {
        lo = prev;
        hi = nxt;
        break;
      }
      prev = cur;
      cur = nxt;
      fCur = fNxt;
    }
  } else {
    const down = Math.max(0, x0 - h);
    const fDown = f(down);
    if (!(fDown < f0)) {
      lo = down;
      hi = x0 + h;
    } else {
      let prev = x0;
      let cur = down;
      let fCur = fDown;
      let step = h;
      for (;;) {
        if (cur === 0) {
          lo = 0;
          hi = prev;
          break;
        }
        step *= 2;
        const nxt = Math.max(0, cur - step);
        const fNxt = f(nxt);
        if (!(fNxt < fCur)) {
          lo = nxt;
          hi = prev;
          break;
        }
        prev = cur;
        cur = nxt;
        fCur = fNxt;
      }
    }
  }
  return brentMinimise(f, lo, hi, 1e-10);
}

/** DIALS regression minimisation (`ErrorModelTargetRegression` + `ErrorModelRegressionAPM.resolve_model_parameters`). */
function regressionFit(
  data: ErrorModelData,
  a: number,
  b: number,
  refineA: boolean,
  refineB: boolean,
): { a: number; b: number } {
  const n = data.rows.length;
  let nGroups = 0;
  for (const gi of data.groupIndex) if (gi + 1 > nGroups) nGroups = gi + 1;
  const groupSum = new Float64Array(nGroups);
  for (let i = 0; i < n; i++) {
    const r = data.intensity[i] - data.inverseScale[i] * data.Ih[i];
    groupSum[data.groupIndex[i]] += (r * r) / (data.nh[i] - 1.0);
  }
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const isq = data.intensity[i] * data.intensity[i];
    y[i] = groupSum[data.groupIndex[i]] / isq;
    x[i] = data.variance[i] / isq;
  }
  if (refineA && refineB) {
    let sx = 0;
    let sy = 0;
    for (let i = 0; i < n; i++) {
      sx += x[i];
      sy += y[i];
    }
    const mx = sx / n;
    const my = sy / n;
    let sxx = 0;
    let sxy = 0;
    for (let i = 0; i < n; i++) {
      sxx += (x[i] - mx) * (x[i] - mx);
      sxy += (x[i] - mx) * (y[i] - my);
    }
    const p0 = sxy / sxx;
    const p1 = my - p0 * mx;
    if (!(p0 > 0)) throw new RefinementFailure("error model regression resulted in a non-positive value for a^2");
    if (!(p1 > 0)) throw new RefinementFailure("error model regression resulted in a non-positive value for b^2");
    const aNew = Math.sqrt(p0);
    return { a: aNew, b: Math.sqrt(p1) / aNew };
  }
  if (refineA) {
    const b2 = b * b;
    let num = 0;
    let den = 0;
    for (let i = 0; i < n; i++) {
      num += y[i] * (x[i] + b2);
      den += (x[i] + b2) * (x[i] + b2);
    }
    const p = num / den;
    if (!(p > 0)) throw new RefinementFailure("error model regression resulted in a non-positive value for a^2");
    return { a: Math.sqrt(p), b };
  }
  if (refineB) {
    const a2 = a * a;
    let s = 0;
    for (let i = 0; i < n; i++) s += y[i] - a2 * x[i];
    const p = s / (n * a2);
    if (!(p > 0)) throw new RefinementFailure("error model regression resulted in a non-positive value for b^2");
    return { a, b: Math.sqrt(p) };
  }
  return { a, b };
}
