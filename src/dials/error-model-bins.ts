/**
 * The intensity bins of the DIALS error model (`ErrorModelBinner` in
 * `dials/algorithms/scaling/error_model/error_model.py`) and the variance of the normalised deviations δ in each bin,
 * the quantity the `b` target drives towards 1.
 *
 * @packageDocumentation
 */
import { ConfigError, requireInstanceArgument, requireOptionsArgument } from "../errors.ts";
import { selectInPlace } from "./outlier-rejection.ts";

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
  requireInstanceArgument(expectedIntensity, Float64Array, "createErrorModelBins: expectedIntensity");
  requireOptionsArgument(options, "createErrorModelBins: options");
  const nBins = options?.nBins ?? 10;
  let minRefl = options?.minReflectionsRequired ?? 250;
  if (!Number.isInteger(nBins) || nBins < 1) {
    throw new ConfigError(`createErrorModelBins: nBins must be a positive integer, got ${nBins}`);
  }
  const Ih = expectedIntensity;
  const n = Ih.length;
  if (n === 0) throw new ConfigError("createErrorModelBins: no reflections to bin");
  // the count in a bin (min, max] is #(≤ max) − #(≤ min), each count one scan (kept: a bin's maximum is the previous
  // bin's minimum), and the reflection of rank m in descending order is the (n − 1 − m)-th smallest, found by
  // selection: the numbers an ascending sort gives (NaN, last in it, is never ≤ a bound and falls in no bin)
  const hasNaN = anyNaN(Ih);
  const counts0 = new Map<number, number>();
  const countAtMost = (v: number): number => {
    let c = counts0.get(v);
    if (c === undefined) {
      c = countNotAbove(Ih, v);
      counts0.set(v, c);
    }
    return c;
  };
  const countIn = (maximum: number, minimum: number): number =>
    Math.max(0, countAtMost(maximum) - countAtMost(minimum));
  // with NaN present, or a zero at that rank (−0 and +0 sort apart in the ascending sort, tie there; a selection may
  // also trade them), the rank is taken as DIALS's descending sort of the indices orders them (equal values and NaN in
  // row order)
  let selection: Float64Array | undefined;
  const rankValue = (m: number): number => {
    if (!hasNaN) {
      selection ??= Ih.slice();
      selectInPlace(selection, n, n - 1 - m);
      const v = selection[n - 1 - m];
      if (v !== 0) return v;
    }
    return Ih[Int32Array.from({ length: n }, (_, i) => i).sort((p, q) => Ih[q] - Ih[p])[m]];
  };
  const [minIh, Imax] = extremes(Ih);
  const Imin = Math.max(1.0, minIh);
  const spacing = (Math.log(Imax) - Math.log(Imin)) / nBins;
  const bounds = new Float64Array(nBins + 1);
  bounds[0] = Imax;
  for (let i = 1; i <= nBins; i++) bounds[i] = Math.exp(Math.log(Imax) - i * spacing);
  bounds[nBins] = minIh - 0.01;
  if (n > 100 * minRefl) minRefl = Math.trunc(n / 100);
  const minPerBin = Math.min(minRefl, Math.trunc(n / (3.0 * nBins)));
  const counts = new Float64Array(nBins);
  let nCumul = 0;
  for (let i = 0; i < nBins; i++) {
    const maximum = bounds[i];
    let nIn = countIn(maximum, bounds[i + 1]);
    if (nIn < minPerBin) {
      const m = nCumul + minPerBin;
      if (m < n) {
        bounds[i + 1] = rankValue(m);
        nIn = countIn(maximum, bounds[i + 1]);
      }
    }
    counts[i] = nIn;
    nCumul += nIn;
  }
  // bin i is (bounds[i + 1], bounds[i]] with the final bounds (bin i's are final once step i ran); a reflection in
  // several (possible only when an enlarged bin reaches past the next boundary) belongs to the last, as each bin's
  // assignment overwrote the previous ones
  const col = lastBinOf(Ih, bounds);
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
  const binIndex = renumberedBins(col, newIndex);
  const reflPerBin = Float64Array.from(keep, (c) => counts[c]);
  const weights = meansBetweenBounds(Ih, finalBounds);
  return { binIndex, reflPerBin, binBoundaries: finalBounds, weights };
}

// The loops over the reflections are functions of their own: the bins are made once per refinement cycle, on cold
// code, and one long function would be deoptimised at each of its later loops.

/** The smallest and the largest value (NaN ignored; +∞, −∞ for none). */
function extremes(x: Float64Array): [number, number] {
  let max = Number.NEGATIVE_INFINITY;
  let min = Number.POSITIVE_INFINITY;
  for (let r = 0; r < x.length; r++) {
    const v = x[r];
    if (v > max) max = v;
    if (v < min) min = v;
  }
  return [min, max];
}

/** Whether x holds a NaN. */
function anyNaN(x: Float64Array): boolean {
  for (let r = 0; r < x.length; r++) if (x[r] !== x[r]) return true;
  return false;
}

/** The number of values of x at most v (NaN never is). */
function countNotAbove(x: Float64Array, v: number): number {
  let c = 0;
  for (let r = 0; r < x.length; r++) if (x[r] <= v) c++;
  return c;
}

/**
 * The bin i with x in (bounds[i + 1], bounds[i]] of each value, the last such bin when there are several (as each
 * bin's assignment overwrote the previous ones); −1 for none.
 */
function lastBinOf(x: Float64Array, bounds: Float64Array): Int32Array {
  const nBins = bounds.length - 1;
  const col = new Int32Array(x.length).fill(-1);
  for (let r = 0; r < x.length; r++) {
    const v = x[r];
    for (let i = nBins - 1; i >= 0; i--) {
      if (v <= bounds[i] && v > bounds[i + 1]) {
        col[r] = i;
        break;
      }
    }
  }
  return col;
}

/** Each value's bin under the new numbering (−1 stays −1). */
function renumberedBins(col: Int32Array, newIndex: Int32Array): Int32Array {
  const binIndex = new Int32Array(col.length);
  for (let r = 0; r < col.length; r++) binIndex[r] = col[r] < 0 ? -1 : newIndex[col[r]];
  return binIndex;
}

/** Each bin's mean over the values between its boundaries (bounds[k + 1], bounds[k]], summed in row order. */
function meansBetweenBounds(x: Float64Array, bounds: Float64Array): Float64Array {
  const nKept = bounds.length - 1;
  const sum = new Float64Array(nKept);
  const num = new Float64Array(nKept);
  for (let r = 0; r < x.length; r++) {
    const v = x[r];
    for (let k = 0; k < nKept; k++) {
      if (v <= bounds[k] && v > bounds[k + 1]) {
        sum[k] += v;
        num[k]++;
      }
    }
  }
  const weights = new Float64Array(nKept);
  for (let k = 0; k < nKept; k++) weights[k] = sum[k] / num[k];
  return weights;
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

/** {@link calculateBinVariances} without the length check. */
export function binVariancesKernel(delta: Float64Array, bins: ErrorModelBins): Float64Array {
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
