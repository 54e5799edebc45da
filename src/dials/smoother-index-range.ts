/**
 * Shared pieces of the DIALS Gaussian smoothers (`gaussian_smoother.h`, `gaussian_smoother_2D.h`,
 * `gaussian_smoother_3D.h`): `boost::math::iround`, the per-axis geometry and the `idx_range` rule.
 *
 * @packageDocumentation
 */
import { ConfigError, requireNumbersArgument } from "../errors.ts";
import { smootherIndexRange } from "./smoother-weights.ts";

/**
 * Round half away from zero, like `boost::math::iround` (JavaScript's `Math.round` rounds halves up, which changes
 * the set of averaged smoother points on DIALS's own test case). The kernel layer's implementation.
 */
export { iround } from "./smoother-weights.ts";

/**
 * Number of smoother values for a number of intervals: 2 for 1, 3 for 2, otherwise `numIntervals + 2`.
 *
 * @param numIntervals - number of intervals (samples), at least 1
 */
export function smootherNumValues(numIntervals: number): number {
  return numIntervals === 1 ? 2 : numIntervals === 2 ? 3 : numIntervals + 2;
}

/** Default smoother width for a number of averaged points: `0.65 + 0.05·(naverage − 2)`. */
export function defaultSigma(naverage: number): number {
  return 0.65 + 0.05 * (naverage - 2);
}

/**
 * One axis of a Gaussian smoother: range origin, spacing, positions (normalised units) and the averaging window.
 * Internal building block shared by {@link GaussianSmoother1D}-like classes.
 */
export class SmootherAxis {
  /** Lower end of the data range (data units). */
  readonly x0: number;
  /** Number of intervals. */
  readonly nSamples: number;
  /** Number of values (parameters) along this axis. */
  readonly nValues: number;
  /** Interval width in data units. */
  readonly spacing: number;
  /** Positions of the values in normalised units. */
  readonly positions: Float64Array;
  /** Number of points averaged, `min(numAverage, nValues)`. */
  nAverage = 0;

  /**
   * @param range - `[x0, x1]` data range, `x1 > x0`
   * @param numIntervals - positive integer number of intervals
   * @param label - axis name used in error messages
   */
  constructor(range: readonly [number, number], numIntervals: number, label: string) {
    if (!Number.isInteger(numIntervals) || numIntervals < 1) {
      throw new ConfigError(
        `Gaussian smoother ${label}: number of intervals must be a positive integer, got ${numIntervals}`,
      );
    }
    requireNumbersArgument(range, `Gaussian smoother ${label}: range [min, max]`, 2);
    const [x0, x1] = range;
    const spacing = (x1 - x0) / numIntervals;
    if (!Number.isFinite(x0) || !Number.isFinite(x1) || !(spacing > 0)) {
      throw new ConfigError(`Gaussian smoother ${label}: range [${x0}, ${x1}] must be finite and increasing`);
    }
    this.x0 = x0;
    this.nSamples = numIntervals;
    this.nValues = smootherNumValues(numIntervals);
    this.spacing = spacing;
    this.positions = new Float64Array(this.nValues);
    const shift = this.nValues < 4 ? 0 : -0.5;
    for (let i = 0; i < this.nValues; i++) this.positions[i] = i + shift;
  }

  /**
   * Set the averaging window, `min(numAverage, nValues)`, which must lie in [1, 5].
   *
   * @param numAverage - requested number of averaged points
   * @param label - axis name used in error messages
   */
  setAverage(numAverage: number, label: string): void {
    const n = Math.min(numAverage, this.nValues);
    if (!Number.isInteger(n) || n < 1 || n > 5) {
      throw new ConfigError(
        `Gaussian smoother ${label}: number of averaged points must be in [1, 5], got ${numAverage}`,
      );
    }
    this.nAverage = n;
  }

  /** Normalised coordinate `(x − x0)/spacing`. */
  normalise(x: number): number {
    return (x - this.x0) / this.spacing;
  }

  /**
   * DIALS `idx_range`: the half-open index range `[out[o], out[o+1])` of values averaged at normalised coordinate z.
   *
   * @param z - normalised coordinate
   * @param out - receives the range
   * @param o - offset in `out`
   */
  indexRange(z: number, out: Int32Array, o: number): void {
    smootherIndexRange(z, this.nValues, this.nAverage, out, o);
  }
}

/** Check a smoother sigma: finite and non-zero. */
export function checkSigma(sigma: number): void {
  if (!Number.isFinite(sigma) || sigma === 0) {
    throw new ConfigError(`Gaussian smoother: sigma must be finite and non-zero, got ${sigma}`);
  }
}

/** Check that a parameter vector has the smoother's number of values. */
export function checkValues(values: ArrayLike<number>, n: number, where = "Gaussian smoother"): void {
  requireNumbersArgument(values, `${where}: values`);
  if (values.length !== n) {
    throw new ConfigError(`${where}: expected ${n} values, got ${values.length}`);
  }
}
