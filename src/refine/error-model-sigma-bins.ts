/**
 * σ' against I for one data class, in a few intensity bins: per bin of log-spaced intensity the mean σ as reported
 * and the mean σ' = a·√(σ² + (b·I)²) of the error model, both on the scale of the raw (unscaled) intensity the model
 * takes. `scales.json` records the bins of each class's error model and the report plots them, so the document stays
 * small (at most {@link ERROR_MODEL_SIGMA_BINS} entries per class, never one per row).
 *
 * @packageDocumentation
 */
import { ConfigError } from "../errors.ts";

/** Intensity bins of the σ'-against-I summary of a class (log-spaced between the smallest and largest positive I). */
export const ERROR_MODEL_SIGMA_BINS = 20;

/** One intensity bin of {@link errorModelSigmaBins}. */
export interface SigmaBin {
  /** Lower edge of the bin (intensity). */
  iMin: number;
  /** Upper edge of the bin (intensity; the last bin includes it). */
  iMax: number;
  /** Observations in the bin. */
  n: number;
  /** Mean intensity of the bin's observations. */
  meanIntensity: number;
  /** Mean σ as reported. */
  meanSigma: number;
  /** Mean σ' = a·√(σ² + (b·I)²). */
  meanSigmaPrime: number;
}

/**
 * The mean reported σ and the mean σ' of the observations with positive intensity, in `nBins` bins equally spaced in
 * log I from the smallest to the largest such intensity (one bin when they are equal); empty bins are left out, as
 * are observations with I ≤ 0 or a non-finite I or σ² (a log axis has no place for them).
 *
 * @param intensity - The observations' intensities I (raw, as the error model takes them).
 * @param variance - Their reported variances σ².
 * @param a - The model's a.
 * @param b - The model's b.
 * @param nBins - Number of bins. @defaultValue {@link ERROR_MODEL_SIGMA_BINS}
 * @returns The non-empty bins in increasing intensity (empty without a positive intensity).
 * @throws {@link ConfigError} when the lengths differ, a or b is not finite, or `nBins` is not a positive integer.
 */
export function errorModelSigmaBins(
  intensity: ArrayLike<number>,
  variance: ArrayLike<number>,
  a: number,
  b: number,
  nBins: number = ERROR_MODEL_SIGMA_BINS,
): SigmaBin[] {
  if (intensity.length !== variance.length) {
    throw new ConfigError(
      `errorModelSigmaBins: variance has ${variance.length} entries, intensity ${intensity.length}`,
    );
  }
  if (!Number.isFinite(a) || !Number.isFinite(b)) {
    throw new ConfigError(`errorModelSigmaBins: a and b must be finite, got a = ${a}, b = ${b}`);
  }
  if (!Number.isInteger(nBins) || nBins < 1) {
    throw new ConfigError(`errorModelSigmaBins: nBins must be a positive integer, got ${nBins}`);
  }
  const [lo, hi] = intensityRange(intensity, variance);
  if (!(lo <= hi)) return [];
  const k = hi > lo ? nBins : 1;
  const logLo = Math.log(lo);
  const span = Math.log(hi) - logLo;
  const n = new Float64Array(k);
  const sumI = new Float64Array(k);
  const sumSigma = new Float64Array(k);
  const sumPrime = new Float64Array(k);
  const scale = span > 0 ? k / span : 0;
  addToSigmaBins(intensity, variance, a, b, scale, logLo, n, sumI, sumSigma, sumPrime);
  const edge = (j: number): number => (j === 0 ? lo : j === k ? hi : Math.exp(logLo + (span * j) / k));
  const bins: SigmaBin[] = [];
  for (let j = 0; j < k; j++) {
    if (n[j] === 0) continue;
    bins.push({
      iMin: edge(j),
      iMax: edge(j + 1),
      n: n[j],
      meanIntensity: sumI[j] / n[j],
      meanSigma: sumSigma[j] / n[j],
      meanSigmaPrime: sumPrime[j] / n[j],
    });
  }
  return bins;
}

// The two loops over the rows are functions of their own (run once per refinement cycle, on cold code: one long
// function would be deoptimised at its second loop).

/**
 * The smallest and largest I of the rows taking part: 0 < I < ∞ and 0 ≤ σ² < ∞ (the comparisons are false for NaN);
 * (∞, −∞) for none.
 */
function intensityRange(intensity: ArrayLike<number>, variance: ArrayLike<number>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < intensity.length; i++) {
    const I = intensity[i];
    const v = variance[i];
    if (!(I > 0 && I < Infinity && v >= 0 && v < Infinity)) continue;
    if (I < lo) lo = I;
    if (I > hi) hi = I;
  }
  return [lo, hi];
}

/** Adds each row taking part to its bin ⌊scale·(log I − logLo)⌋ (at most the last): count, ΣI, Σσ, Σσ'. */
function addToSigmaBins(
  intensity: ArrayLike<number>,
  variance: ArrayLike<number>,
  a: number,
  b: number,
  scale: number,
  logLo: number,
  n: Float64Array,
  sumI: Float64Array,
  sumSigma: Float64Array,
  sumPrime: Float64Array,
): void {
  const k = n.length;
  for (let i = 0; i < intensity.length; i++) {
    const I = intensity[i];
    const v = variance[i];
    if (!(I > 0 && I < Infinity && v >= 0 && v < Infinity)) continue;
    const bin = Math.min(k - 1, Math.floor(scale * (Math.log(I) - logLo)));
    const bi = b * I;
    n[bin]++;
    sumI[bin] += I;
    sumSigma[bin] += Math.sqrt(v);
    sumPrime[bin] += a * Math.sqrt(v + bi * bi);
  }
}
