/**
 * Three-dimensional Gaussian smoother, a port of DIALS `GaussianSmoother3D` (`gaussian_smoother_3D.h`).
 *
 * @packageDocumentation
 */
import type { SmootherMultiValueWeight, SmootherValueWeight } from "./gaussian-smoother-1d.ts";
import { ConfigError, requireNumbersArgument } from "../errors.ts";
import { SmootherAxis, checkSigma, checkValues, defaultSigma } from "./smoother-index-range.ts";
import { gridMultiValueWeight, gridValueWeight, type SmootherWeightVisitor } from "./smoother-grid.ts";

/**
 * Gaussian smoother on a 3D grid (see {@link GaussianSmoother2D}); sigma is shared, by default from the smallest
 * axis window, and the flat index of value (i, j, k) is `i + j·nx + k·nx·ny` (x fastest).
 */
export class GaussianSmoother3D {
  private readonly xAxis: SmootherAxis;
  private readonly yAxis: SmootherAxis;
  private readonly zAxis: SmootherAxis;
  private sigmaValue = 0;
  private readonly range = new Int32Array(6);

  /**
   * @param xRange - x data range
   * @param numXIntervals - number of x intervals
   * @param yRange - y data range
   * @param numYIntervals - number of y intervals
   * @param zRange - z data range
   * @param numZIntervals - number of z intervals
   * @throws ConfigError on an invalid range or interval count
   */
  constructor(
    xRange: readonly [number, number],
    numXIntervals: number,
    yRange: readonly [number, number],
    numYIntervals: number,
    zRange: readonly [number, number],
    numZIntervals: number,
  ) {
    this.xAxis = new SmootherAxis(xRange, numXIntervals, "x");
    this.yAxis = new SmootherAxis(yRange, numYIntervals, "y");
    this.zAxis = new SmootherAxis(zRange, numZIntervals, "z");
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
  /** Number of z values. */
  numZValues(): number {
    return this.zAxis.nValues;
  }
  /** Total number of values. */
  numValues(): number {
    return this.xAxis.nValues * this.yAxis.nValues * this.zAxis.nValues;
  }
  /** Number of x intervals. */
  numXSamples(): number {
    return this.xAxis.nSamples;
  }
  /** Number of y intervals. */
  numYSamples(): number {
    return this.yAxis.nSamples;
  }
  /** Number of z intervals. */
  numZSamples(): number {
    return this.zAxis.nSamples;
  }
  /** Number of x values averaged. */
  numXAverage(): number {
    return this.xAxis.nAverage;
  }
  /** Number of y values averaged. */
  numYAverage(): number {
    return this.yAxis.nAverage;
  }
  /** Number of z values averaged. */
  numZAverage(): number {
    return this.zAxis.nAverage;
  }
  /** x positions in normalised units (a copy). */
  xPositions(): Float64Array {
    return this.xAxis.positions.slice();
  }
  /** y positions in normalised units (a copy). */
  yPositions(): Float64Array {
    return this.yAxis.positions.slice();
  }
  /** z positions in normalised units (a copy). */
  zPositions(): Float64Array {
    return this.zAxis.positions.slice();
  }
  /** x interval width in data units. */
  xSpacing(): number {
    return this.xAxis.spacing;
  }
  /** y interval width in data units. */
  ySpacing(): number {
    return this.yAxis.spacing;
  }
  /** z interval width in data units. */
  zSpacing(): number {
    return this.zAxis.spacing;
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
    this.zAxis.setAverage(numAverage, "z");
    const m = Math.min(this.xAxis.nAverage, this.yAxis.nAverage, this.zAxis.nAverage);
    this.sigmaValue = sigma < 0 ? defaultSigma(m) : sigma;
  }

  /**
   * Value and dense raw weights (length `numValues()`, x fastest) at one point.
   *
   * @param x - x coordinate in data units
   * @param y - y coordinate in data units
   * @param z - z coordinate in data units
   * @param values - `numValues()` values, x fastest
   */
  valueWeight(x: number, y: number, z: number, values: ArrayLike<number>): SmootherValueWeight {
    checkValues(values, this.numValues(), "GaussianSmoother3D.valueWeight");
    return gridValueWeight(this.numValues(), values, (visit) => {
      this.eachWeight(x, y, z, visit);
    });
  }

  /**
   * Values and raw weights (n × `numValues()`) at many points; O(n·nxAverage·nyAverage·nzAverage).
   *
   * @param xs - x coordinates in data units
   * @param ys - y coordinates, same length
   * @param zs - z coordinates, same length
   * @param values - `numValues()` values, x fastest
   */
  multiValueWeight(
    xs: ArrayLike<number>,
    ys: ArrayLike<number>,
    zs: ArrayLike<number>,
    values: ArrayLike<number>,
  ): SmootherMultiValueWeight {
    for (const [name, a] of [
      ["xs", xs],
      ["ys", ys],
      ["zs", zs],
    ] as const)
      requireNumbersArgument(a, `GaussianSmoother3D.multiValueWeight: ${name}`);
    checkValues(values, this.numValues(), "GaussianSmoother3D.multiValueWeight");
    if (ys.length !== xs.length || zs.length !== xs.length) {
      throw new ConfigError(
        `GaussianSmoother3D: coordinate arrays differ in length (${xs.length}, ${ys.length}, ${zs.length})`,
      );
    }
    const perPoint = this.xAxis.nAverage * this.yAxis.nAverage * this.zAxis.nAverage;
    return gridMultiValueWeight(xs.length, perPoint, this.numValues(), values, (p, visit) => {
      this.eachWeight(xs[p], ys[p], zs[p], visit);
    });
  }

  /** Visit the non-zero weights at (x, y, z) in increasing flat index. */
  private eachWeight(x: number, y: number, z: number, visit: SmootherWeightVisitor): void {
    const ax = this.xAxis;
    const ay = this.yAxis;
    const az = this.zAxis;
    const r = this.range;
    const zx = ax.normalise(x);
    const zy = ay.normalise(y);
    const zz = az.normalise(z);
    ax.indexRange(zx, r, 0);
    ay.indexRange(zy, r, 2);
    az.indexRange(zz, r, 4);
    const s2 = this.sigmaValue * this.sigmaValue;
    const nx = ax.nValues;
    const nxy = nx * ay.nValues;
    for (let k = r[4]; k < r[5]; k++) {
      const dz = zz - az.positions[k];
      const dz2 = dz * dz;
      for (let j = r[2]; j < r[3]; j++) {
        const dy = zy - ay.positions[j];
        const dyz2 = dy * dy + dz2;
        for (let i = r[0]; i < r[1]; i++) {
          const dx = zx - ax.positions[i];
          visit(i + j * nx + k * nxy, Math.exp(-(dx * dx + dyz2) / s2));
        }
      }
    }
  }
}
