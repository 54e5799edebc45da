/**
 * Evaluation of the multi-axis Gaussian smoothers ({@link GaussianSmoother2D}, {@link GaussianSmoother3D}) from a
 * visitor over one point's non-zero weights in increasing flat index: the value and dense weights at one point, and
 * the values and the sparse weight matrix at many points (built row by row, then turned into CSC).
 *
 * @packageDocumentation
 */
import type { SmootherMultiValueWeight, SmootherValueWeight } from "./gaussian-smoother-1d.ts";
import { SparseMatrix } from "./sparse-matrix.ts";

/** Receives one non-zero weight `w` of flat value index `idx`. */
export type SmootherWeightVisitor = (idx: number, w: number) => void;

/**
 * Value Σwv/Σw (0 when Σw = 0) and dense raw weights at one point.
 *
 * @param nValues - number of smoother values (length of the dense weights)
 * @param values - the smoother values, already checked to have length `nValues`
 * @param eachWeight - calls its visitor once per non-zero weight of the point, in increasing flat index
 */
export function gridValueWeight(
  nValues: number,
  values: ArrayLike<number>,
  eachWeight: (visit: SmootherWeightVisitor) => void,
): SmootherValueWeight {
  const weight = new Float64Array(nValues);
  let sw = 0;
  let swv = 0;
  eachWeight((idx, w) => {
    weight[idx] = w;
    sw += w;
    swv += w * values[idx];
  });
  return { value: sw > 0 ? swv / sw : 0, weight, sumweight: sw };
}

/**
 * Values and raw weights (n × `nValues`, sparse) at n points.
 *
 * @param n - number of points
 * @param weightsPerPoint - expected non-zero weights per point (the initial row capacity)
 * @param nValues - number of smoother values (columns of the weight matrix)
 * @param values - the smoother values, already checked to have length `nValues`
 * @param eachWeightAt - calls its visitor once per non-zero weight of point p, in increasing flat index
 */
export function gridMultiValueWeight(
  n: number,
  weightsPerPoint: number,
  nValues: number,
  values: ArrayLike<number>,
  eachWeightAt: (p: number, visit: SmootherWeightVisitor) => void,
): SmootherMultiValueWeight {
  const value = new Float64Array(n);
  const sumweight = new Float64Array(n);
  const rows = new RowBuilder(n, weightsPerPoint);
  let sw = 0;
  let swv = 0;
  const add = (idx: number, w: number): void => {
    rows.push(idx, w);
    sw += w;
    swv += w * values[idx];
  };
  for (let p = 0; p < n; p++) {
    sw = 0;
    swv = 0;
    eachWeightAt(p, add);
    rows.endRow();
    value[p] = sw > 0 ? swv / sw : 0;
    sumweight[p] = sw;
  }
  return { value, weight: rows.toCsc(nValues), sumweight };
}

/**
 * Growable row-wise (CSR) buffer used by the multi-point smoother evaluations; {@link RowBuilder.toCsc} turns it
 * into the CSC weight matrix in O(nnz).
 */
export class RowBuilder {
  /** Row pointers, length nRows + 1. */
  readonly rowPtr: Int32Array;
  private cols: Int32Array;
  private vals: Float64Array;
  private nnz = 0;
  private row = 0;

  /**
   * @param nRows - number of rows (points)
   * @param capacityPerRow - initial capacity per row
   */
  constructor(nRows: number, capacityPerRow: number) {
    this.rowPtr = new Int32Array(nRows + 1);
    const cap = Math.max(1, nRows * capacityPerRow);
    this.cols = new Int32Array(cap);
    this.vals = new Float64Array(cap);
  }

  /** Append an entry to the current row. */
  push(col: number, v: number): void {
    if (this.nnz === this.cols.length) {
      const c = new Int32Array(this.nnz * 2);
      c.set(this.cols);
      this.cols = c;
      const w = new Float64Array(this.nnz * 2);
      w.set(this.vals);
      this.vals = w;
    }
    this.cols[this.nnz] = col;
    this.vals[this.nnz] = v;
    this.nnz++;
  }

  /** Close the current row. */
  endRow(): void {
    this.row++;
    this.rowPtr[this.row] = this.nnz;
  }

  /**
   * The accumulated rows as a CSC matrix of shape nRows × nCols. Columns within each row must be increasing.
   *
   * @param nCols - number of columns
   */
  toCsc(nCols: number): SparseMatrix {
    const nRows = this.rowPtr.length - 1;
    // CSR of A is CSC of Aᵀ; transposing gives CSC of A with rows sorted within each column.
    return new SparseMatrix(
      nCols,
      nRows,
      this.rowPtr,
      this.cols.slice(0, this.nnz),
      this.vals.slice(0, this.nnz),
    ).transpose();
  }
}
