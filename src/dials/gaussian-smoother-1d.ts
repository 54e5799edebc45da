/**
 * One-dimensional Gaussian smoother, a port of DIALS `GaussianSmoother` (`gaussian_smoother.h`) and of the
 * first-fixed variant `GaussianSmootherFirstFixed` (`scaling_helper.h`).
 *
 * @packageDocumentation
 */
import { requireNumbersArgument } from "../errors.ts";
import { SparseMatrix } from "./sparse-matrix.ts";
import { SmootherAxis, checkSigma, checkValues, defaultSigma } from "./smoother-index-range.ts";

/** Result of a single-point smoother evaluation. */
export interface SmootherValueWeight {
  /** Smoothed value Σ w_j v_j / Σ w_j (0 when Σ w_j = 0). */
  value: number;
  /** Dense raw (unnormalised) weights, one per value (or per free value in the first-fixed variants). */
  weight: Float64Array;
  /** Σ w_j over all averaged values (including a fixed first one). */
  sumweight: number;
}

/** Result of a multi-point smoother evaluation. */
export interface SmootherMultiValueWeight {
  /** Smoothed value per point. */
  value: Float64Array;
  /** Raw weights, n points × number of (free) values. */
  weight: SparseMatrix;
  /** Σ w_j per point. */
  sumweight: Float64Array;
}

/**
 * Gaussian smoother along one axis. The data range `[x0, x1]` is divided into `numIntervals` intervals; values sit at
 * normalised positions `0, 1[, 2]` (2 or 3 values) or `−0.5, 0.5, …, n − 1.5` (n ≥ 5 values). At a point the value
 * is the Gaussian-weighted mean of the (up to `numAverage`) nearest values: `w_j = exp(−((z − pos_j)/σ)²)`,
 * `z = (x − x0)/spacing`.
 */
export class GaussianSmoother1D {
  private readonly axis: SmootherAxis;
  private sigmaValue = 0;
  private readonly range = new Int32Array(2);

  /**
   * @param xRange - data range `[x0, x1]`, `x1 > x0`
   * @param numIntervals - number of intervals, a positive integer
   * @throws ConfigError on an invalid range or interval count
   */
  constructor(xRange: readonly [number, number], numIntervals: number) {
    this.axis = new SmootherAxis(xRange, numIntervals, "x");
    this.setSmoothing(3, -1);
  }

  /** Number of values (parameters). */
  numValues(): number {
    return this.axis.nValues;
  }

  /** Number of intervals. */
  numSamples(): number {
    return this.axis.nSamples;
  }

  /** Number of points averaged at each evaluation. */
  numAverage(): number {
    return this.axis.nAverage;
  }

  /** Value positions in normalised units (a copy). */
  positions(): Float64Array {
    return this.axis.positions.slice();
  }

  /** Interval width in data units. */
  spacing(): number {
    return this.axis.spacing;
  }

  /** Gaussian width in normalised units. */
  sigma(): number {
    return this.sigmaValue;
  }

  /**
   * Set the averaging window and width, as DIALS `set_smoothing`.
   *
   * @param numAverage - points averaged (clipped to the number of values; must end up in [1, 5])
   * @param sigma - Gaussian width; a negative value selects the default `0.65 + 0.05·(naverage − 2)`
   * @throws ConfigError when numAverage is out of range or sigma is 0
   */
  setSmoothing(numAverage: number, sigma: number): void {
    checkSigma(sigma);
    this.axis.setAverage(numAverage, "x");
    this.sigmaValue = sigma < 0 ? defaultSigma(this.axis.nAverage) : sigma;
  }

  /**
   * Value and raw weights at one point.
   *
   * @param x - coordinate in data units
   * @param values - one value per smoother position
   */
  valueWeight(x: number, values: ArrayLike<number>): SmootherValueWeight {
    checkValues(values, this.axis.nValues, "GaussianSmoother1D.valueWeight");
    return this.single(x, values, 0);
  }

  /**
   * Value and raw weights at one point, with the first value fixed: the weight vector has `numValues() − 1`
   * entries, entry j − 1 holding w_j for j ≥ 1. The value and `sumweight` still use all values.
   *
   * DIALS's `value_weight_first_fixed` writes each weight to both `weight[j−1]` and `weight[j]` (shifted, duplicated,
   * and out of range for the last value); that only runs for a one-reflection block with the first parameter fixed.
   * We return the correct weights, identical to a row of {@link GaussianSmoother1D.multiValueWeightFirstFixed}.
   *
   * @param x - coordinate in data units
   * @param values - one value per smoother position
   */
  valueWeightFirstFixed(x: number, values: ArrayLike<number>): SmootherValueWeight {
    checkValues(values, this.axis.nValues, "GaussianSmoother1D.valueWeightFirstFixed");
    return this.single(x, values, 1);
  }

  /**
   * Values and raw weights at many points; O(n·naverage).
   *
   * @param xs - coordinates in data units
   * @param values - one value per smoother position
   */
  multiValueWeight(xs: ArrayLike<number>, values: ArrayLike<number>): SmootherMultiValueWeight {
    requireNumbersArgument(xs, "GaussianSmoother1D.multiValueWeight: xs");
    checkValues(values, this.axis.nValues, "GaussianSmoother1D.multiValueWeight");
    return this.multi(xs, values, 0);
  }

  /**
   * As {@link GaussianSmoother1D.multiValueWeight} but with the first value fixed: the weight matrix has
   * `numValues() − 1` columns (w_0 dropped); values and sums of weights use all values.
   *
   * @param xs - coordinates in data units
   * @param values - one value per smoother position
   */
  multiValueWeightFirstFixed(xs: ArrayLike<number>, values: ArrayLike<number>): SmootherMultiValueWeight {
    requireNumbersArgument(xs, "GaussianSmoother1D.multiValueWeightFirstFixed: xs");
    checkValues(values, this.axis.nValues, "GaussianSmoother1D.multiValueWeightFirstFixed");
    return this.multi(xs, values, 1);
  }

  private single(x: number, values: ArrayLike<number>, firstCol: number): SmootherValueWeight {
    const ax = this.axis;
    const weight = new Float64Array(ax.nValues - firstCol);
    const z = ax.normalise(x);
    ax.indexRange(z, this.range, 0);
    const s = this.sigmaValue;
    let sw = 0;
    let swv = 0;
    for (let i = this.range[0]; i < this.range[1]; i++) {
      const d = (z - ax.positions[i]) / s;
      const w = Math.exp(-(d * d));
      sw += w;
      swv += w * values[i];
      if (i >= firstCol) weight[i - firstCol] = w;
    }
    return { value: sw > 0 ? swv / sw : 0, weight, sumweight: sw };
  }

  private multi(xs: ArrayLike<number>, values: ArrayLike<number>, firstCol: number): SmootherMultiValueWeight {
    const ax = this.axis;
    const n = xs.length;
    const nCols = ax.nValues - firstCol;
    const value = new Float64Array(n);
    const sumweight = new Float64Array(n);
    const z = new Float64Array(n);
    const lo = new Int32Array(n);
    const hi = new Int32Array(n);
    const r = this.range;
    // Pass 1: index ranges and column counts, so the CSC arrays are filled directly in pass 2.
    const colPtr = new Int32Array(nCols + 1);
    for (let p = 0; p < n; p++) {
      const zp = ax.normalise(xs[p]);
      ax.indexRange(zp, r, 0);
      z[p] = zp;
      lo[p] = r[0];
      hi[p] = r[1];
      for (let i = Math.max(r[0], firstCol); i < r[1]; i++) colPtr[i - firstCol + 1]++;
    }
    for (let j = 0; j < nCols; j++) colPtr[j + 1] += colPtr[j];
    const nnz = colPtr[nCols];
    const rowIdx = new Int32Array(nnz);
    const vals = new Float64Array(nnz);
    const fill = colPtr.slice(0, nCols);
    const pos = ax.positions;
    const s = this.sigmaValue;
    // Pass 2: weights; rows are visited in increasing order, so rows stay sorted within each column.
    for (let p = 0; p < n; p++) {
      const zp = z[p];
      let sw = 0;
      let swv = 0;
      for (let i = lo[p]; i < hi[p]; i++) {
        const d = (zp - pos[i]) / s;
        const w = Math.exp(-(d * d));
        sw += w;
        swv += w * values[i];
        if (i >= firstCol) {
          const k = fill[i - firstCol]++;
          rowIdx[k] = p;
          vals[k] = w;
        }
      }
      value[p] = sw > 0 ? swv / sw : 0;
      sumweight[p] = sw;
    }
    return { value, weight: new SparseMatrix(n, nCols, colPtr, rowIdx, vals), sumweight };
  }
}
