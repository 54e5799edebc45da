/**
 * The DIALS basic error model `σ'² = a²(σ² + (b·I)²)` and its refinement (`dials/algorithms/scaling/error_model/`:
 * `error_model.py`, `engine.py`, `error_model_target.py`).
 *
 * Refinement works on the suitable reflections of a global Ih table (DIALS builds it with anomalous = true and the
 * outliers removed; that is the caller's job here). Two minimisations are offered:
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
import { ConfigError, RefinementFailure } from "../errors.ts";
import { validateGroupedObservations, type GroupedObservations } from "./grouped-observations.ts";
import { normalCdf, normalQuantile } from "./normal-distribution.ts";

/**
 * The DIALS basic two-parameter error model `σ'² = a²(σ² + (b·I)²)` (`BasicErrorModel`), with DIALS's defaults
 * a = 1.0 and b = 0.02.
 */
export class BasicErrorModel {
  /** Multiplicative parameter `a`. */
  a: number;
  /** Intensity-proportional parameter `b` (only b² matters). */
  b: number;

  /**
   * @param a - Initial `a`. @defaultValue 1.0
   * @param b - Initial `b`. @defaultValue 0.02
   */
  constructor(a = 1.0, b = 0.02) {
    this.a = a;
    this.b = b;
  }

  /**
   * The error-model variance of one observation, `a²(σ² + (b·I)²)`, using the raw (unscaled) intensity as DIALS does.
   *
   * @param variance - σ².
   * @param intensity - Raw intensity I.
   * @returns σ'².
   */
  varianceOf(variance: number, intensity: number): number {
    const bi = this.b * intensity;
    return this.a * this.a * (variance + bi * bi);
  }

  /**
   * Apply {@link BasicErrorModel.varianceOf} to arrays (DIALS `update_variances`).
   *
   * @param variance - σ² of each observation.
   * @param intensity - Raw intensity of each observation.
   * @param out - Optional output array of the same length.
   * @returns The new variances.
   * @throws {@link ConfigError} when the lengths differ.
   */
  updateVariances(variance: Float64Array, intensity: Float64Array, out?: Float64Array): Float64Array {
    const n = variance.length;
    checkLengths("BasicErrorModel.updateVariances", n, [
      ["intensity", intensity],
      ["out", out],
    ]);
    const res = out ?? new Float64Array(n);
    const a2 = this.a * this.a;
    for (let i = 0; i < n; i++) {
      const bi = this.b * intensity[i];
      res[i] = a2 * (variance[i] + bi * bi);
    }
    return res;
  }

  /**
   * σ' on the scale of the merged intensity: `a·sqrt(σ² + (b·I)²)/g` (DIALS `calc_sigmaprime`).
   *
   * @param variance - σ² of each observation.
   * @param intensity - Raw intensity of each observation.
   * @param inverseScale - Inverse scale factor g of each observation.
   * @param out - Optional output array of the same length.
   * @returns σ' of each observation.
   * @throws {@link ConfigError} when the lengths differ.
   */
  calcSigmaprime(
    variance: Float64Array,
    intensity: Float64Array,
    inverseScale: Float64Array,
    out?: Float64Array,
  ): Float64Array {
    const n = variance.length;
    checkLengths("BasicErrorModel.calcSigmaprime", n, [
      ["intensity", intensity],
      ["inverseScale", inverseScale],
      ["out", out],
    ]);
    const res = out ?? new Float64Array(n);
    sigmaprimeKernel(this.a, this.b, variance, intensity, inverseScale, res);
    return res;
  }

  /**
   * Normalised deviations `δ_hl = sqrt((n_h − 1)/n_h)·(I/g − Ih)/σ'` (DIALS `calc_deltahl`).
   *
   * @param intensity - Raw intensity of each observation.
   * @param inverseScale - Inverse scale factor g of each observation.
   * @param Ih - Merged intensity Ih of each observation's group, per observation.
   * @param nh - Number of observations in each observation's group, per observation.
   * @param sigmaprime - σ' of each observation (see {@link BasicErrorModel.calcSigmaprime}).
   * @param out - Optional output array of the same length.
   * @returns δ_hl of each observation.
   * @throws {@link ConfigError} when the lengths differ.
   */
  calcDeltahl(
    intensity: Float64Array,
    inverseScale: Float64Array,
    Ih: Float64Array,
    nh: Float64Array,
    sigmaprime: Float64Array,
    out?: Float64Array,
  ): Float64Array {
    const n = intensity.length;
    checkLengths("BasicErrorModel.calcDeltahl", n, [
      ["inverseScale", inverseScale],
      ["Ih", Ih],
      ["nh", nh],
      ["sigmaprime", sigmaprime],
      ["out", out],
    ]);
    const res = out ?? new Float64Array(n);
    for (let i = 0; i < n; i++) {
      res[i] = (Math.sqrt((nh[i] - 1) / nh[i]) * (intensity[i] / inverseScale[i] - Ih[i])) / sigmaprime[i];
    }
    return res;
  }
}

function checkLengths(where: string, n: number, arrays: [string, Float64Array | undefined][]): void {
  for (const [name, arr] of arrays) {
    if (arr !== undefined && arr.length !== n) {
      throw new ConfigError(`${where}: ${name} has length ${arr.length}, expected ${n}`);
    }
  }
}

function sigmaprimeKernel(
  a: number,
  b: number,
  variance: Float64Array,
  intensity: Float64Array,
  g: Float64Array,
  out: Float64Array,
): void {
  for (let i = 0; i < out.length; i++) {
    const bi = b * intensity[i];
    out[i] = (a * Math.sqrt(variance[i] + bi * bi)) / g[i];
  }
}

/** The reflections selected for error-model refinement, in row order of the input. */
export interface ErrorModelData {
  /** Row index in the input of each selected reflection. */
  rows: Int32Array;
  /** Group id (of the input) of each selected reflection. */
  groupIndex: Int32Array;
  /** Raw intensity. */
  intensity: Float64Array;
  /** Variance σ². */
  variance: Float64Array;
  /** Inverse scale factor g. */
  inverseScale: Float64Array;
  /** Ih of the reflection's group, computed on the whole input (DIALS keeps the Ih of the unfiltered table). */
  Ih: Float64Array;
  /** Number of selected reflections in the reflection's group. */
  nh: Float64Array;
  /** Partiality, when the input has it. */
  partiality: Float64Array | undefined;
}

/** Options of {@link prepareErrorModelData}. */
export interface ErrorModelFilterOptions {
  /**
   * Minimum expected intensity g·Ih (times partiality for stills) of a reflection used in refinement.
   *
   * @defaultValue 25
   */
  minIh?: number;
  /**
   * Reflections with partiality ≤ this are dropped (when partiality is given).
   *
   * @defaultValue 0.4
   */
  minPartiality?: number;
  /**
   * Fewer reflections than this after filtering is an error (DIALS `BasicErrorModel.min_reflections_required`).
   *
   * @defaultValue 250
   */
  minReflectionsRequired?: number;
  /**
   * Use the stills filter (I/σ ≥ stillsMinIsigma, g·Ih·p > minIh, |δ| < 6, multiplicity ≥ stillsMinMultiplicity).
   *
   * @defaultValue false
   */
  stills?: boolean;
  /**
   * Stills filter: minimum I/σ of a reflection.
   *
   * @defaultValue 2.0
   */
  stillsMinIsigma?: number;
  /**
   * Stills filter: minimum multiplicity after the other stills filters.
   *
   * @defaultValue 4
   */
  stillsMinMultiplicity?: number;
}

/** Observations for the error model: {@link GroupedObservations} plus optional partiality and per-group Ih. */
export type ErrorModelObservations = GroupedObservations & {
  /** Partiality of each row (optional). */
  partiality?: Float64Array;
  /**
   * Merged intensity of each group (length nGroups).
   *
   * @defaultValue the weighted mean ΣwgI/Σwg² over all rows of the group, with the weights of the observations
   */
  Ih?: Float64Array;
};

/** A working selection of rows with the per-row columns the filters need. */
interface Table {
  rows: Int32Array;
  group: Int32Array;
  I: Float64Array;
  v: Float64Array;
  g: Float64Array;
  Ih: Float64Array;
  p: Float64Array | undefined;
}

function selectTable(t: Table, keep: Uint8Array): Table {
  let m = 0;
  for (const k of keep) m += k;
  const out: Table = {
    rows: new Int32Array(m),
    group: new Int32Array(m),
    I: new Float64Array(m),
    v: new Float64Array(m),
    g: new Float64Array(m),
    Ih: new Float64Array(m),
    p: t.p === undefined ? undefined : new Float64Array(m),
  };
  let j = 0;
  for (let i = 0; i < keep.length; i++) {
    if (keep[i] === 0) continue;
    out.rows[j] = t.rows[i];
    out.group[j] = t.group[i];
    out.I[j] = t.I[i];
    out.v[j] = t.v[i];
    out.g[j] = t.g[i];
    out.Ih[j] = t.Ih[i];
    if (out.p !== undefined && t.p !== undefined) out.p[j] = t.p[i];
    j++;
  }
  return out;
}

/** Per-group sums of `values` over the table rows (length nGroups). */
function groupSums(t: Table, nGroups: number, values: Float64Array): Float64Array {
  const s = new Float64Array(nGroups);
  for (let i = 0; i < t.group.length; i++) s[t.group[i]] += values[i];
  return s;
}

function groupCounts(t: Table, nGroups: number): Float64Array {
  const s = new Float64Array(nGroups);
  for (const gi of t.group) s[gi] += 1;
  return s;
}

function perRow(t: Table, perGroup: Float64Array): Float64Array {
  const out = new Float64Array(t.group.length);
  for (let i = 0; i < out.length; i++) out[i] = perGroup[t.group[i]];
  return out;
}

function requireCount(n: number, min: number): void {
  if (n < min) {
    throw new RefinementFailure(`error model: insufficient reflections (${n} < ${min}) to perform error modelling`);
  }
}

/**
 * Select the reflections used for error-model refinement, exactly as DIALS `filter_unsuitable_reflections` (or
 * `filter_unsuitable_reflections_stills` with `stills`):
 *
 * 1. partiality > minPartiality (when partiality is given);
 * 2. keep groups with mean(I/σ²) > 0.85;
 * 3. keep reflections with g·Ih > minIh, n_h > 1 and I > 0.001; at least minReflectionsRequired must remain;
 * 4. keep reflections whose group still has n_h > 1;
 * 5. drop groups whose internal variance ratio Σ(I/g − Ih)²/(n−1) / mean(σ²/g²) is ≥ max(50, max(Ih)/40);
 *    at least minReflectionsRequired must remain.
 *
 * Ih is computed once on the whole input and kept through the filters, as DIALS's `select` keeps `Ih_values`.
 *
 * @param obs - The observations (see {@link ErrorModelObservations}).
 * @param options - See {@link ErrorModelFilterOptions}.
 * @returns The selected reflections.
 * @throws {@link ConfigError} on malformed input; {@link RefinementFailure} when too few reflections remain.
 */
export function prepareErrorModelData(obs: ErrorModelObservations, options?: ErrorModelFilterOptions): ErrorModelData {
  const where = "prepareErrorModelData";
  validateGroupedObservations(obs, where);
  const n = obs.groupIndex.length;
  if (obs.partiality !== undefined && obs.partiality.length !== n) {
    throw new ConfigError(`${where}: partiality has length ${obs.partiality.length}, expected ${n}`);
  }
  if (obs.Ih !== undefined && obs.Ih.length !== obs.nGroups) {
    throw new ConfigError(
      `${where}: Ih has length ${obs.Ih.length}, expected nGroups = ${obs.nGroups} (one per group)`,
    );
  }
  const minIh = options?.minIh ?? 25;
  const minPartiality = options?.minPartiality ?? 0.4;
  const minRefl = options?.minReflectionsRequired ?? 250;
  const nGroups = obs.nGroups;

  let IhGroup: Float64Array;
  if (obs.Ih !== undefined) {
    IhGroup = obs.Ih;
  } else {
    const num = new Float64Array(nGroups);
    const den = new Float64Array(nGroups);
    for (let i = 0; i < n; i++) {
      const w = obs.weights === undefined ? 1 / obs.variance[i] : obs.weights[i];
      const g = obs.inverseScale[i];
      num[obs.groupIndex[i]] += w * g * obs.intensity[i];
      den[obs.groupIndex[i]] += w * g * g;
    }
    IhGroup = new Float64Array(nGroups);
    for (let j = 0; j < nGroups; j++) IhGroup[j] = num[j] / den[j];
  }
  let t: Table = {
    rows: Int32Array.from({ length: n }, (_, i) => i),
    group: obs.groupIndex.slice(),
    I: obs.intensity.slice(),
    v: obs.variance.slice(),
    g: obs.inverseScale.slice(),
    Ih: Float64Array.from(obs.groupIndex, (gi) => IhGroup[gi]),
    p: obs.partiality?.slice(),
  };

  if (t.p !== undefined) {
    const p = t.p;
    t = selectTable(
      t,
      Uint8Array.from(p, (x) => (x > minPartiality ? 1 : 0)),
    );
  }
  if (options?.stills === true) {
    t = stillsFilter(t, nGroups, minIh, options.stillsMinIsigma ?? 2.0, options.stillsMinMultiplicity ?? 4);
    requireCount(t.rows.length, minRefl);
    return finishData(t, nGroups);
  }
  // 2. groups with mean I/σ² > 0.85
  {
    const ratio = Float64Array.from(t.I, (x, i) => x / t.v[i]);
    const sum = groupSums(t, nGroups, ratio);
    const cnt = groupCounts(t, nGroups);
    t = selectTable(
      t,
      Uint8Array.from(t.group, (gi) => (sum[gi] / cnt[gi] > 0.85 ? 1 : 0)),
    );
  }
  // 3. g·Ih > minIh, n_h > 1, I > 0.001
  {
    const cnt = groupCounts(t, nGroups);
    t = selectTable(
      t,
      Uint8Array.from(t.group, (gi, i) => (t.Ih[i] * t.g[i] > minIh && cnt[gi] > 1 && t.I[i] > 0.001 ? 1 : 0)),
    );
  }
  requireCount(t.rows.length, minRefl);
  // 4. n_h > 1 again
  {
    const cnt = groupCounts(t, nGroups);
    t = selectTable(
      t,
      Uint8Array.from(t.group, (gi) => (cnt[gi] > 1 ? 1 : 0)),
    );
  }
  // 5. internal variance ratio
  {
    const cnt = groupCounts(t, nGroups);
    const dev2 = Float64Array.from(t.I, (x, i) => (x / t.g[i] - t.Ih[i]) ** 2);
    const vg = Float64Array.from(t.v, (x, i) => x / t.g[i] ** 2);
    const sumDev2 = groupSums(t, nGroups, dev2);
    const sumVg = groupSums(t, nGroups, vg);
    let maxIh = Number.NEGATIVE_INFINITY;
    for (const x of t.Ih) if (x > maxIh) maxIh = x;
    const limit = Math.max(50, maxIh / 40);
    const keepGroup = new Uint8Array(nGroups);
    for (let j = 0; j < nGroups; j++) {
      const ratio = sumDev2[j] / (cnt[j] - 1) / (sumVg[j] / cnt[j]);
      keepGroup[j] = ratio < limit ? 1 : 0;
    }
    t = selectTable(
      t,
      Uint8Array.from(t.group, (gi) => keepGroup[gi]),
    );
  }
  requireCount(t.rows.length, minRefl);
  return finishData(t, nGroups);
}

function stillsFilter(t: Table, nGroups: number, minIh: number, minIsigma: number, minMultiplicity: number): Table {
  let s = selectTable(
    t,
    Uint8Array.from(t.I, (x, i) => (x / Math.sqrt(t.v[i]) >= minIsigma ? 1 : 0)),
  );
  s = selectTable(
    s,
    Uint8Array.from(s.Ih, (x, i) => (x * s.g[i] * (s.p === undefined ? 1 : s.p[i]) > minIh ? 1 : 0)),
  );
  {
    const cnt = groupCounts(s, nGroups);
    const keep = new Uint8Array(s.rows.length);
    for (let i = 0; i < keep.length; i++) {
      const nh = cnt[s.group[i]];
      const delta = (Math.sqrt((nh - 1) / nh) * (s.I[i] / s.g[i] - s.Ih[i])) / (Math.sqrt(s.v[i]) / s.g[i]);
      keep[i] = Math.abs(delta) < 6.0 ? 1 : 0;
    }
    s = selectTable(s, keep);
  }
  const cnt = groupCounts(s, nGroups);
  return selectTable(
    s,
    Uint8Array.from(s.group, (gi) => (cnt[gi] >= minMultiplicity ? 1 : 0)),
  );
}

function finishData(t: Table, nGroups: number): ErrorModelData {
  return {
    rows: t.rows,
    groupIndex: t.group,
    intensity: t.I,
    variance: t.v,
    inverseScale: t.g,
    Ih: t.Ih,
    nh: perRow(t, groupCounts(t, nGroups)),
    partiality: t.p,
  };
}

/** The intensity bins of the error model (DIALS `ErrorModelBinner`). */
export interface ErrorModelBins {
  /** Bin of each reflection, or −1 when it falls in no bin. */
  binIndex: Int32Array;
  /** Number of reflections counted for each bin (DIALS `refl_per_bin`). */
  reflPerBin: Float64Array;
  /** Bin boundaries in expected intensity, descending (length nBins + 1 after any merging). */
  binBoundaries: Float64Array;
  /** Weight of each bin in the b target: the mean expected intensity between its boundaries. */
  weights: Float64Array;
}

/** Options of {@link createErrorModelBins}. */
export interface ErrorModelBinOptions {
  /**
   * Number of bins, equally spaced in log(expected intensity).
   *
   * @defaultValue 10
   */
  nBins?: number;
  /**
   * Minimum reflections per bin before the `n/(3·nBins)` cap (raised to n/100 above 100× this).
   *
   * @defaultValue 250
   */
  minReflectionsRequired?: number;
}

/**
 * Bin reflections by expected intensity g·Ih(·partiality) as DIALS `ErrorModelBinner._create_summation_matrix`:
 * `nBins` bins equally spaced in log from the maximum down to max(1, minimum) (the last lower boundary is
 * minimum − 0.01); a bin with fewer than `min(minReflectionsRequired, ⌊n/(3·nBins)⌋)` reflections is enlarged down to
 * the intensity of the reflection at that rank; bins with fewer than that minimum − 5 reflections are dropped. When
 * bins are dropped, the weight of each kept bin is the mean over the range between the kept boundaries (a DIALS
 * quirk: it then includes the dropped bins' reflections), while its count stays its own.
 *
 * @param expectedIntensity - g·Ih (times partiality when present) of each reflection.
 * @param options - See {@link ErrorModelBinOptions}.
 * @returns The bins.
 * @throws {@link ConfigError} on an empty input or a bad bin count.
 */
export function createErrorModelBins(expectedIntensity: Float64Array, options?: ErrorModelBinOptions): ErrorModelBins {
  const nBins = options?.nBins ?? 10;
  let minRefl = options?.minReflectionsRequired ?? 250;
  if (!Number.isInteger(nBins) || nBins < 1) {
    throw new ConfigError(`createErrorModelBins: nBins must be a positive integer, got ${nBins}`);
  }
  const Ih = expectedIntensity;
  const n = Ih.length;
  if (n === 0) throw new ConfigError("createErrorModelBins: no reflections to bin");
  const sizeOrder = Int32Array.from({ length: n }, (_, i) => i).sort((p, q) => Ih[q] - Ih[p]);
  let Imax = Number.NEGATIVE_INFINITY;
  let minIh = Number.POSITIVE_INFINITY;
  for (const x of Ih) {
    if (x > Imax) Imax = x;
    if (x < minIh) minIh = x;
  }
  const Imin = Math.max(1.0, minIh);
  const spacing = (Math.log(Imax) - Math.log(Imin)) / nBins;
  const bounds = new Float64Array(nBins + 1);
  bounds[0] = Imax;
  for (let i = 1; i <= nBins; i++) bounds[i] = Math.exp(Math.log(Imax) - i * spacing);
  bounds[nBins] = minIh - 0.01;
  if (n > 100 * minRefl) minRefl = Math.trunc(n / 100);
  const minPerBin = Math.min(minRefl, Math.trunc(n / (3.0 * nBins)));
  const col = new Int32Array(n).fill(-1);
  const counts = new Float64Array(nBins);
  let nCumul = 0;
  for (let i = 0; i < nBins; i++) {
    const maximum = bounds[i];
    let minimum = bounds[i + 1];
    let nIn = 0;
    for (const x of Ih) if (x <= maximum && x > minimum) nIn++;
    if (nIn < minPerBin) {
      const m = nCumul + minPerBin;
      if (m < n) {
        bounds[i + 1] = Ih[sizeOrder[m]];
        minimum = bounds[i + 1];
        nIn = 0;
        for (const x of Ih) if (x <= maximum && x > minimum) nIn++;
      }
    }
    counts[i] = nIn;
    for (let r = 0; r < n; r++) if (Ih[r] <= maximum && Ih[r] > minimum) col[r] = i;
    nCumul += nIn;
  }
  const keep: number[] = [];
  for (let i = 0; i < nBins; i++) if (counts[i] >= minPerBin - 5) keep.push(i);
  let finalBounds: Float64Array;
  const newIndex = new Int32Array(nBins).fill(-1);
  keep.forEach((c, k) => (newIndex[c] = k));
  if (keep.length === nBins) {
    finalBounds = bounds;
  } else {
    finalBounds = new Float64Array(keep.length + 1);
    keep.forEach((c, k) => (finalBounds[k] = bounds[c]));
    finalBounds[keep.length] = bounds[nBins];
  }
  const binIndex = Int32Array.from(col, (c) => (c < 0 ? -1 : newIndex[c]));
  const reflPerBin = Float64Array.from(keep, (c) => counts[c]);
  const weights = new Float64Array(keep.length);
  for (let k = 0; k < keep.length; k++) {
    let s = 0;
    let m = 0;
    for (const x of Ih) {
      if (x <= finalBounds[k] && x > finalBounds[k + 1]) {
        s += x;
        m++;
      }
    }
    weights[k] = s / m;
  }
  return { binIndex, reflPerBin, binBoundaries: finalBounds, weights };
}

/**
 * Bin variances of δ: `var_b = Σδ²/n_b − (Σδ)²/n_b²` (DIALS `calculate_bin_variances`).
 *
 * @param delta - δ of each reflection.
 * @param bins - The bins.
 * @returns The variance of each bin.
 * @throws {@link ConfigError} when the lengths differ.
 */
export function calculateBinVariances(delta: Float64Array, bins: ErrorModelBins): Float64Array {
  if (delta.length !== bins.binIndex.length) {
    throw new ConfigError(`calculateBinVariances: delta has length ${delta.length}, expected ${bins.binIndex.length}`);
  }
  return binVariancesKernel(delta, bins);
}

function binVariancesKernel(delta: Float64Array, bins: ErrorModelBins): Float64Array {
  const nb = bins.reflPerBin.length;
  const s1 = new Float64Array(nb);
  const s2 = new Float64Array(nb);
  for (let i = 0; i < delta.length; i++) {
    const b = bins.binIndex[i];
    if (b < 0) continue;
    s1[b] += delta[i];
    s2[b] += delta[i] * delta[i];
  }
  const out = new Float64Array(nb);
  for (let b = 0; b < nb; b++) {
    const c = bins.reflPerBin[b];
    out[b] = s2[b] / c - (s1[b] * s1[b]) / (c * c);
  }
  return out;
}

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
  const data = prepareErrorModelData(obs, options);
  const n = data.rows.length;
  const expected = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    expected[i] = data.Ih[i] * data.inverseScale[i] * (data.partiality === undefined ? 1 : data.partiality[i]);
  }
  const binOptions: ErrorModelBinOptions = { minReflectionsRequired: options?.minReflectionsRequired ?? 250 };
  if (options?.nBins !== undefined) binOptions.nBins = options.nBins;
  const bins = createErrorModelBins(expected, binOptions);

  const ctx: DeltaContext = {
    num: new Float64Array(n),
    variance: data.variance,
    intensity: data.intensity,
  };
  for (let i = 0; i < n; i++) {
    const nh = data.nh[i];
    const g = data.inverseScale[i];
    ctx.num[i] = Math.sqrt((nh - 1) / nh) * (data.intensity[i] / g - data.Ih[i]) * g;
  }
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
    const plot = normalProbabilityPlotX(n);
    if (plot.x.length < 2) {
      throw new RefinementFailure(`error model: too few reflections (${n}) for the normal probability plot`);
    }
    const fitA = (aCur: number, bCur: number): number => {
      deltaKernel(ctx, aCur, bCur, delta);
      const sorted = delta.slice().sort();
      return aCur * lineSlope(plot.x, sorted, plot.i0);
    };
    const fitB = (aCur: number, bCur: number): number => minimiseB(ctx, bins, aCur, bCur, delta);
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
      if (converged && a > 0.4) {
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
  }
  b = Math.abs(b);
  deltaKernel(ctx, a, b, delta);
  const binVariances = binVariancesKernel(delta, bins);
  return { a, b, nUsed: n, cycles, converged, bins, initialBinVariances, binVariances };
}

/** Slope c1 of the least-squares line y = c0 + c1·x through (x_k, sorted[i0 + k]). */
function lineSlope(x: Float64Array, sorted: Float64Array, i0: number): number {
  const m = x.length;
  let sx = 0;
  let sy = 0;
  for (let k = 0; k < m; k++) {
    sx += x[k];
    sy += sorted[i0 + k];
  }
  const mx = sx / m;
  const my = sy / m;
  let sxx = 0;
  let sxy = 0;
  for (let k = 0; k < m; k++) {
    const dx = x[k] - mx;
    sxx += dx * dx;
    sxy += dx * (sorted[i0 + k] - my);
  }
  return sxy / sxx;
}

/**
 * The b target Σ_b w_b[(0.5 − var_b)² + 1/var_b − 1.25]/Σ_b w_b. Empty bins (possible only with very few reflections
 * per bin) are skipped; DIALS would get NaN from them.
 */
function bTarget(ctx: DeltaContext, bins: ErrorModelBins, a: number, b: number, scratch: Float64Array): number {
  deltaKernel(ctx, a, b, scratch);
  const vars = binVariancesKernel(scratch, bins);
  let f = 0;
  let sw = 0;
  for (let k = 0; k < vars.length; k++) {
    if (bins.reflPerBin[k] === 0) continue;
    const v = vars[k];
    const w = bins.weights[k];
    f += ((0.5 - v) * (0.5 - v) + 1 / v - 1.25) * w;
    sw += w;
  }
  return f / sw;
}

/** Minimise the b target over b ≥ 0 (it depends on b² only), starting from the current b. */
function minimiseB(ctx: DeltaContext, bins: ErrorModelBins, a: number, b0: number, scratch: Float64Array): number {
  const f = (b: number): number => bTarget(ctx, bins, a, b, scratch);
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

/** Brent's derivative-free minimisation of f on [ax, bx] (golden section with parabolic steps). */
function brentMinimise(f: (x: number) => number, ax: number, bx: number, tol: number): number {
  const golden = 0.5 * (3 - Math.sqrt(5));
  const eps = Math.sqrt(Number.EPSILON);
  let lo = ax;
  let hi = bx;
  let x = lo + golden * (hi - lo);
  let w = x;
  let v = x;
  let fx = f(x);
  let fw = fx;
  let fv = fx;
  let d = 0;
  let e = 0;
  for (let iter = 0; iter < 200; iter++) {
    const xm = 0.5 * (lo + hi);
    const tol1 = eps * Math.abs(x) + tol / 3;
    const tol2 = 2 * tol1;
    if (Math.abs(x - xm) <= tol2 - 0.5 * (hi - lo)) break;
    let useGolden = true;
    if (Math.abs(e) > tol1) {
      let r = (x - w) * (fx - fv);
      let q = (x - v) * (fx - fw);
      let p = (x - v) * q - (x - w) * r;
      q = 2 * (q - r);
      if (q > 0) p = -p;
      else q = -q;
      r = e;
      e = d;
      if (Math.abs(p) < Math.abs(0.5 * q * r) && p > q * (lo - x) && p < q * (hi - x)) {
        d = p / q;
        const u = x + d;
        if (u - lo < tol2 || hi - u < tol2) d = xm >= x ? tol1 : -tol1;
        useGolden = false;
      }
    }
    if (useGolden) {
      e = (x >= xm ? lo : hi) - x;
      d = golden * e;
    }
    const u = Math.abs(d) >= tol1 ? x + d : x + (d >= 0 ? tol1 : -tol1);
    const fu = f(u);
    if (fu <= fx) {
      if (u < x) hi = x;
      else lo = x;
      v = w;
      fv = fw;
      w = x;
      fw = fx;
      x = u;
      fx = fu;
    } else {
      if (u < x) lo = u;
      else hi = u;
      if (fu <= fw || w === x) {
        v = w;
        fv = fw;
        w = u;
        fw = fu;
      } else if (fu <= fv || v === x || v === w) {
        v = u;
        fv = fu;
      }
    }
  }
  return x;
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
