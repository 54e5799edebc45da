/**
 * The DIALS basic error model `σ'² = a²(σ² + (b·I)²)` (`dials/algorithms/scaling/error_model/error_model.py`): the
 * model's variances, σ' on the merged-intensity scale and the normalised deviations δ_hl. The selection of the
 * reflections it is refined on is in `error-model-data.ts`, the intensity bins of the `b` target in
 * `error-model-bins.ts`, the refinement itself in `error-model-refinement.ts`.
 *
 * @packageDocumentation
 */
import { requireFiniteArgument, requireInstanceArgument } from "../errors.ts";

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
    requireFiniteArgument(a, "BasicErrorModel: a");
    requireFiniteArgument(b, "BasicErrorModel: b");
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
   * @throws ConfigError when an array is not a Float64Array or the lengths differ.
   */
  updateVariances(variance: Float64Array, intensity: Float64Array, out?: Float64Array): Float64Array {
    requireInstanceArgument(variance, Float64Array, "BasicErrorModel.updateVariances: variance");
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
   * @throws ConfigError when an array is not a Float64Array or the lengths differ.
   */
  calcSigmaprime(
    variance: Float64Array,
    intensity: Float64Array,
    inverseScale: Float64Array,
    out?: Float64Array,
  ): Float64Array {
    requireInstanceArgument(variance, Float64Array, "BasicErrorModel.calcSigmaprime: variance");
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
   * @throws ConfigError when an array is not a Float64Array or the lengths differ.
   */
  calcDeltahl(
    intensity: Float64Array,
    inverseScale: Float64Array,
    Ih: Float64Array,
    nh: Float64Array,
    sigmaprime: Float64Array,
    out?: Float64Array,
  ): Float64Array {
    requireInstanceArgument(intensity, Float64Array, "BasicErrorModel.calcDeltahl: intensity");
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

/** Checks that every array is a Float64Array of length `n` (`out` may be undefined). */
function checkLengths(where: string, n: number, arrays: [string, Float64Array | undefined][]): void {
  for (const [name, arr] of arrays)
    if (name !== "out" || arr !== undefined) requireInstanceArgument(arr, Float64Array, `${where}: ${name}`, n);
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
