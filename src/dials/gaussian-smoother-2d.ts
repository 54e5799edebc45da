/**
 * Two-dimensional Gaussian smoother, a port of DIALS `GaussianSmoother2D` (`gaussian_smoother_2D.h`).
 *
 * @packageDocumentation
 */
import type { SmootherMultiValueWeight, SmootherValueWeight } from "./gaussian-smoother-1d.ts";
import { ConfigError, requireNumbersArgument } from "../errors.ts";
import { SmootherAxis, checkSigma, checkValues, defaultSigma } from "./smoother-index-range.ts";
import { gridMultiValueWeight, gridValueWeight, type SmootherWeightVisitor } from "./smoother-grid.ts";

/**
 * Gaussian smoother on a 2D grid. Each axis has its own interval count, positions and averaging window (as
 * {@link GaussianSmoother1D}); sigma is shared, by default `0.65 + 0.05·(min(nxAverage, nyAverage) − 2)`. The weight
 * of value (i, j) is `exp(−((zx − xp_i)² + (zy − yp_j)²)/σ²)` and its flat index is `i + j·numXValues()` (x fastest).
 */
export class GaussianSmoother2D {
  private readonly xAxis: SmootherAxis;
  private readonly yAxis: SmootherAxis;
  private sigmaValue = 0;
  private readonly range = new Int32Array(4);

  /**
   * @param xRange - x data range `[x0, x1]`
   * @param numXIntervals - number of x intervals
   * @param yRange - y data range `[y0, y1]`
   * @param numYIntervals - number of y intervals
   * @throws ConfigError on an invalid range or interval count
   */
  constructor(
    xRange: readonly [number, number],
    numXIntervals: number,
    yRange: readonly [number, number],
    numYIntervals: number,
  ) {
    this.xAxis = new SmootherAxis(xRange, numXIntervals, "x");
    this.yAxis = new SmootherAxis(yRange, numYIntervals, "y");
    this.setSmoothing(3, -1);
  }

  /** Number of x values. */
  numXValues(): number {
    return this.xAxis.nValues;
  }
  /** Number of y values. */
  numYValues(): number {
    return this.yAxis.nValues;
  }
  /** Total number of values, `numXValues()·numYValues()`. */
  numValues(): number {
    return this.xAxis.nValues * this.yAxis.nValues;
  }
  /** Number of x intervals. */
  numXSamples(): number {
    return this.xAxis.nSamples;
  }
  /** Number of y intervals. */
  numYSamples(): number {
    return this.yAxis.nSamples;
  }
  /** Number of x values averaged. */
  numXAverage(): number {
    return this.xAxis.nAverage;
  }
  /** Number of y values averaged. */
  numYAverage(): number {
    return this.yAxis.nAverage;
  }
  /** x positions in normalised units (a copy). */
  xPositions(): Float64Array {
    return this.xAxis.positions.slice();
  }
  /** y positions in normalised units (a copy). */
  yPositions(): Float64Array {
    return this.yAxis.positions.slice();
  }
  /** x interval width in data units. */
  xSpacing(): number {
    return this.xAxis.spacing;
  }
  /** y interval width in data units. */
  ySpacing(): number {
    return this.yAxis.spacing;
  }
  /** Shared Gaussian width in normalised units. */
  sigma(): number {
    return this.sigmaValue;
  }

  /**
   * Set the averaging windows and the shared width, as DIALS `set_smoothing`.
   *
   * @param numAverage - points averaged per axis (clipped to each axis's number of values; must be in [1, 5])
   * @param sigma - Gaussian width; negative selects the default from the smallest axis window
   */
  setSmoothing(numAverage: number, sigma: number): void {
    checkSigma(sigma);
    this.xAxis.setAverage(numAverage, "x");
    this.yAxis.setAverage(numAverage, "y");
    this.sigmaValue = sigma < 0 ? defaultSigma(Math.min(this.xAxis.nAverage, this.yAxis.nAverage)) : sigma;
  }

  /**
   * Value and dense raw weights (length `numValues()`, x fastest) at one point.
   *
   * @param x - x coordinate in data units
   * @param y - y coordinate in data units
   * @param values - `numValues()` values, x fastest
   */
  valueWeight(x: number, y: number, values: ArrayLike<number>): SmootherValueWeight {
    checkValues(values, this.numValues(), "GaussianSmoother2D.valueWeight");
    return gridValueWeight(this.numValues(), values, (visit) => {
      this.eachWeight(x, y, visit);
    });
  }

  /**
   * Values and raw weights (n × `numValues()`) at many points; O(n·nxAverage·nyAverage).
   *
   * @param xs - x coordinates in data units
   * @param ys - y coordinates in data units, same length
   * @param values - `numValues()` values, x fastest
   */
  multiValueWeight(xs: ArrayLike<number>, ys: ArrayLike<number>, values: ArrayLike<number>): SmootherMultiValueWeight {
    requireNumbersArgument(xs, "GaussianSmoother2D.multiValueWeight: xs");
    requireNumbersArgument(ys, "GaussianSmoother2D.multiValueWeight: ys");
    checkValues(values, this.numValues(), "GaussianSmoother2D.multiValueWeight");
    if (ys.length !== xs.length) {
      throw new ConfigError(`GaussianSmoother2D: ${xs.length} x but ${ys.length} y coordinates`);
    }
    const perPoint = this.xAxis.nAverage * this.yAxis.nAverage;
    return gridMultiValueWeight(xs.length, perPoint, this.numValues(), values, (p, visit) => {
      this.eachWeight(xs[p], ys[p], visit);
    });
  }

  /** Visit the non-zero weights at (x, y) in increasing flat index. */
  private eachWeight(x: number, y: number, visit: SmootherWeightVisitor): void {
    const ax = this.xAxis;
    const ay = this.yAxis;
    const r = this.range;
    const zx = ax.normalise(x);
    const zy = ay.normalise(y);
    ax.indexRange(zx, r, 0);
    ay.indexRange(zy, r, 2);
    const s2 = this.sigmaValue * this.sigmaValue;
    const nx = ax.nValues;
    for (let j = r[2]; j < r[3]; j++) {
      const dy = zy - ay.positions[j];
      const dy2 = dy * dy;
      for (let i = r[0]; i < r[1]; i++) {
        const dx = zx - ax.positions[i];
        visit(i + j * nx, Math.exp(-(dx * dx + dy2) / s2));
      }
    }
  }
}
