/**
 * Unchecked evaluation of a DIALS 1-D Gaussian smoother at one point, for hot loops (no allocation).
 *
 * The maths is DIALS's `GaussianSmoother::value_weight` (`gaussian_smoother.h`): `z = (x − x0)/spacing`, the index
 * range `[i1, i2)` from `idx_range` with `iround` (round half away from zero), raw weights
 * `w_j = exp(−((z − pos_j)/σ)²)`. The public, validated class is `GaussianSmoother1D` in `src/framework`; this kernel
 * takes the same numbers as plain fields so the per-observation passes can call it without a method dispatch.
 *
 * @packageDocumentation
 */

/** The constants of a 1-D Gaussian smoother, as plain numbers (see `GaussianSmoother1D`). */
export interface SmootherKernelState {
  /** Number of smoother values K (2, 3 or numIntervals + 2). */
  readonly nValues: number;
  /** Lower end of the data range (data units). */
  readonly x0: number;
  /** Spacing of the values in data units. */
  readonly spacing: number;
  /** Gaussian width in normalised units. */
  readonly sigma: number;
  /** Number of neighbouring values averaged (≤ nValues). */
  readonly nAverage: number;
  /** Positions of the values in normalised units (length nValues). */
  readonly positions: Float64Array;
}

/** Round half away from zero, as `boost::math::iround`. */
export function iround(x: number): number {
  return x >= 0 ? Math.floor(x + 0.5) : -Math.floor(-x + 0.5);
}

/**
 * DIALS's `idx_range`: writes the half-open range `[out[o], out[o+1])` of the values averaged at normalised
 * coordinate `z` (all values when nValues ≤ 3; otherwise the `nAverage` nearest, clipped to the ends, using `iround`).
 */
export function smootherIndexRange(z: number, nValues: number, nAverage: number, out: Int32Array, o: number): void {
  if (nValues <= 3) {
    out[o] = 0;
    out[o + 1] = nValues;
    return;
  }
  let i1 = iround(z - nAverage / 2) + 1;
  let i2 = i1 + nAverage;
  if (i1 < 0) {
    i1 = 0;
    i2 = Math.max(2, i2);
  }
  if (i2 > nValues) {
    i2 = nValues;
    i1 = Math.min(i1, nValues - 2);
  }
  out[o] = i1;
  out[o + 1] = i2;
}

/**
 * Fills `weights[0 .. count)` with the raw Gaussian weights of the values `first .. first + count − 1` at data
 * coordinate `x`, and returns `first`; the count is written to `countOut[0]`. At most `nAverage` (or all values when
 * nValues ≤ 3) are used, so `weights` needs room for `max(nAverage, 3)` entries; `countOut` needs room for 2 entries.
 */
export function smootherWeightsAt(
  state: SmootherKernelState,
  x: number,
  weights: Float64Array,
  countOut: Int32Array,
): number {
  const z = (x - state.x0) / state.spacing;
  smootherIndexRange(z, state.nValues, state.nAverage, countOut, 0);
  const i1 = countOut[0];
  const i2 = countOut[1];
  const sigma = state.sigma;
  const positions = state.positions;
  for (let j = i1; j < i2; j++) {
    const d = (z - positions[j]) / sigma;
    weights[j - i1] = Math.exp(-d * d);
  }
  countOut[0] = i2 - i1;
  return i1;
}
