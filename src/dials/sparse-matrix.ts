/**
 * Compressed sparse column (CSC) matrix of doubles, the TypeScript counterpart of the column-wise
 * `scitbx.sparse.matrix<double>` DIALS uses for scale-factor derivatives. Rows are observations (reflections) and
 * columns are parameters.
 *
 * @packageDocumentation
 */
import {
  ConfigError,
  describeValue,
  requireArrayArgument,
  requireInstanceArgument,
  requireNumbersArgument,
} from "../errors.ts";

function checkDim(name: string, n: number): void {
  if (!Number.isInteger(n) || n < 0) {
    throw new ConfigError(`SparseMatrix: ${name} must be a non-negative integer, got ${describeValue(n)}`);
  }
}

function checkLength(name: string, v: ArrayLike<number>, n: number): void {
  requireNumbersArgument(v, `SparseMatrix: ${name}`);
  if (v.length !== n) {
    throw new ConfigError(`SparseMatrix: ${name} has length ${v.length}, expected ${n}`);
  }
}

/** Set while the class builds a matrix from arrays it produced itself (already canonical): skips re-validation. */
let trustedBuild = false;

function trusted(
  nRows: number,
  nCols: number,
  colPtr: Int32Array,
  rowIdx: Int32Array,
  values: Float64Array,
): SparseMatrix {
  trustedBuild = true;
  try {
    return new SparseMatrix(nRows, nCols, colPtr, rowIdx, values);
  } finally {
    trustedBuild = false;
  }
}

/**
 * An immutable-by-convention sparse matrix in compressed sparse column form.
 *
 * Column `j` holds the entries `k` in `[colPtr[j], colPtr[j+1])`, each at row `rowIdx[k]` with value `values[k]`.
 * Row indices are strictly increasing within each column (canonical form; explicit zeros are allowed).
 * Every method returns a new matrix and never modifies the receiver.
 */
export class SparseMatrix {
  /** Number of rows (observations). */
  readonly nRows: number;
  /** Number of columns (parameters). */
  readonly nCols: number;
  /** Column pointers, length `nCols + 1`, `colPtr[0] = 0`, non-decreasing. */
  readonly colPtr: Int32Array;
  /** Row index of each stored entry, strictly increasing within a column. */
  readonly rowIdx: Int32Array;
  /** Value of each stored entry. */
  readonly values: Float64Array;

  /**
   * Wrap CSC arrays (not copied) after validating them.
   *
   * @param nRows - number of rows
   * @param nCols - number of columns
   * @param colPtr - column pointers, length `nCols + 1`
   * @param rowIdx - row index per entry, strictly increasing within each column, each in `[0, nRows)`
   * @param values - value per entry, same length as `rowIdx`
   * @throws ConfigError when the arrays are inconsistent
   */
  constructor(nRows: number, nCols: number, colPtr: Int32Array, rowIdx: Int32Array, values: Float64Array) {
    if (!trustedBuild) {
      checkDim("nRows", nRows);
      checkDim("nCols", nCols);
      checkLength("colPtr", colPtr, nCols + 1);
      if (colPtr[0] !== 0) throw new ConfigError("SparseMatrix: colPtr[0] must be 0");
      const nnz = colPtr[nCols];
      checkLength("rowIdx", rowIdx, nnz);
      checkLength("values", values, nnz);
      for (let j = 0; j < nCols; j++) {
        const a = colPtr[j];
        const b = colPtr[j + 1];
        if (b < a) throw new ConfigError(`SparseMatrix: colPtr decreases at column ${j}`);
        let prev = -1;
        for (let k = a; k < b; k++) {
          const r = rowIdx[k];
          if (r <= prev || r >= nRows) {
            throw new ConfigError(
              `SparseMatrix: row index ${r} in column ${j} is out of range or not strictly increasing`,
            );
          }
          prev = r;
        }
      }
    }
    this.nRows = nRows;
    this.nCols = nCols;
    this.colPtr = colPtr;
    this.rowIdx = rowIdx;
    this.values = values;
  }

  /**
   * Build from coordinate triplets. Duplicate (row, col) entries are summed; rows are sorted within each column.
   *
   * @param nRows - number of rows
   * @param nCols - number of columns
   * @param rows - row index of each triplet
   * @param cols - column index of each triplet
   * @param values - value of each triplet
   */
  static fromTriplets(
    nRows: number,
    nCols: number,
    rows: ArrayLike<number>,
    cols: ArrayLike<number>,
    values: ArrayLike<number>,
  ): SparseMatrix {
    checkDim("nRows", nRows);
    checkDim("nCols", nCols);
    requireNumbersArgument(rows, "SparseMatrix.fromTriplets: rows");
    const n = rows.length;
    checkLength("cols", cols, n);
    checkLength("values", values, n);
    for (let k = 0; k < n; k++) {
      const r = rows[k];
      const c = cols[k];
      if (!Number.isInteger(r) || r < 0 || r >= nRows || !Number.isInteger(c) || c < 0 || c >= nCols) {
        throw new ConfigError(`SparseMatrix.fromTriplets: triplet ${k} (${r}, ${c}) is outside ${nRows}x${nCols}`);
      }
    }
    // Counting sort by row, then stable bucket by column: rows end up sorted within each column.
    const rowCount = new Int32Array(nRows + 1);
    for (let k = 0; k < n; k++) rowCount[rows[k] + 1]++;
    for (let i = 0; i < nRows; i++) rowCount[i + 1] += rowCount[i];
    const byRow = new Int32Array(n);
    for (let k = 0; k < n; k++) byRow[rowCount[rows[k]]++] = k;
    const colCount = new Int32Array(nCols + 1);
    for (let k = 0; k < n; k++) colCount[cols[k] + 1]++;
    for (let j = 0; j < nCols; j++) colCount[j + 1] += colCount[j];
    const order = new Int32Array(n);
    const fill = colCount.slice(0, nCols);
    for (let t = 0; t < n; t++) {
      const k = byRow[t];
      order[fill[cols[k]]++] = k;
    }
    // Merge duplicates.
    const colPtr = new Int32Array(nCols + 1);
    const rIdx = new Int32Array(n);
    const vals = new Float64Array(n);
    let nnz = 0;
    for (let j = 0; j < nCols; j++) {
      let last = -1;
      for (let t = colCount[j]; t < colCount[j + 1]; t++) {
        const k = order[t];
        const r = rows[k];
        if (r === last) {
          vals[nnz - 1] += values[k];
        } else {
          rIdx[nnz] = r;
          vals[nnz] = values[k];
          nnz++;
          last = r;
        }
      }
      colPtr[j + 1] = nnz;
    }
    return trusted(nRows, nCols, colPtr, rIdx.slice(0, nnz), vals.slice(0, nnz));
  }

  /**
   * Build from a dense row-major array, storing only the non-zero entries.
   *
   * @param nRows - number of rows
   * @param nCols - number of columns
   * @param rowMajor - `nRows * nCols` values, row-major
   */
  static fromDense(nRows: number, nCols: number, rowMajor: ArrayLike<number>): SparseMatrix {
    checkDim("nRows", nRows);
    checkDim("nCols", nCols);
    checkLength("rowMajor", rowMajor, nRows * nCols);
    let nnz = 0;
    for (let k = 0; k < rowMajor.length; k++) if (rowMajor[k] !== 0) nnz++;
    const colPtr = new Int32Array(nCols + 1);
    const rIdx = new Int32Array(nnz);
    const vals = new Float64Array(nnz);
    let p = 0;
    for (let j = 0; j < nCols; j++) {
      for (let i = 0; i < nRows; i++) {
        const v = rowMajor[i * nCols + j];
        if (v !== 0) {
          rIdx[p] = i;
          vals[p] = v;
          p++;
        }
      }
      colPtr[j + 1] = p;
    }
    return trusted(nRows, nCols, colPtr, rIdx, vals);
  }

  /**
   * An all-zero matrix with no stored entries.
   *
   * @param nRows - number of rows
   * @param nCols - number of columns
   */
  static zeros(nRows: number, nCols: number): SparseMatrix {
    checkDim("nRows", nRows);
    checkDim("nCols", nCols);
    return trusted(nRows, nCols, new Int32Array(nCols + 1), new Int32Array(0), new Float64Array(0));
  }

  /**
   * Concatenate matrices with the same number of rows side by side (columns appended in order).
   *
   * @param blocks - at least one matrix; all must have the same `nRows`
   */
  static hstack(blocks: readonly SparseMatrix[]): SparseMatrix {
    requireArrayArgument(blocks, "SparseMatrix.hstack: blocks");
    blocks.forEach((b, i) => {
      requireInstanceArgument(b, SparseMatrix, `SparseMatrix.hstack: blocks[${i}]`);
    });
    if (blocks.length === 0) throw new ConfigError("SparseMatrix.hstack: no blocks given");
    const nRows = blocks[0].nRows;
    let nCols = 0;
    let nnz = 0;
    for (const b of blocks) {
      if (b.nRows !== nRows) {
        throw new ConfigError(`SparseMatrix.hstack: block has ${b.nRows} rows, expected ${nRows}`);
      }
      nCols += b.nCols;
      nnz += b.nonZeros();
    }
    const colPtr = new Int32Array(nCols + 1);
    const rIdx = new Int32Array(nnz);
    const vals = new Float64Array(nnz);
    let c = 0;
    let off = 0;
    for (const b of blocks) {
      const m = b.nonZeros();
      rIdx.set(b.rowIdx.subarray(0, m), off);
      vals.set(b.values.subarray(0, m), off);
      for (let j = 0; j < b.nCols; j++) colPtr[c + j + 1] = b.colPtr[j + 1] + off;
      c += b.nCols;
      off += m;
    }
    return trusted(nRows, nCols, colPtr, rIdx, vals);
  }

  /**
   * Stack matrices with the same number of columns on top of each other (rows appended in order).
   *
   * @param blocks - at least one matrix; all must have the same `nCols`
   */
  static vstack(blocks: readonly SparseMatrix[]): SparseMatrix {
    requireArrayArgument(blocks, "SparseMatrix.vstack: blocks");
    blocks.forEach((b, i) => {
      requireInstanceArgument(b, SparseMatrix, `SparseMatrix.vstack: blocks[${i}]`);
    });
    if (blocks.length === 0) throw new ConfigError("SparseMatrix.vstack: no blocks given");
    const nCols = blocks[0].nCols;
    let nRows = 0;
    let nnz = 0;
    for (const b of blocks) {
      if (b.nCols !== nCols) {
        throw new ConfigError(`SparseMatrix.vstack: block has ${b.nCols} columns, expected ${nCols}`);
      }
      nRows += b.nRows;
      nnz += b.nonZeros();
    }
    const colPtr = new Int32Array(nCols + 1);
    const rIdx = new Int32Array(nnz);
    const vals = new Float64Array(nnz);
    let p = 0;
    for (let j = 0; j < nCols; j++) {
      let rowOff = 0;
      for (const b of blocks) {
        for (let k = b.colPtr[j]; k < b.colPtr[j + 1]; k++) {
          rIdx[p] = b.rowIdx[k] + rowOff;
          vals[p] = b.values[k];
          p++;
        }
        rowOff += b.nRows;
      }
      colPtr[j + 1] = p;
    }
    return trusted(nRows, nCols, colPtr, rIdx, vals);
  }

  /** Number of stored entries (including any explicit zeros). */
  nonZeros(): number {
    return this.colPtr[this.nCols];
  }

  /**
   * Element (i, j); 0 when not stored. Binary search within the column.
   *
   * @param i - row index
   * @param j - column index
   */
  get(i: number, j: number): number {
    if (!Number.isInteger(i) || i < 0 || i >= this.nRows || !Number.isInteger(j) || j < 0 || j >= this.nCols) {
      throw new ConfigError(`SparseMatrix.get: (${i}, ${j}) is outside ${this.nRows}x${this.nCols}`);
    }
    let lo = this.colPtr[j];
    let hi = this.colPtr[j + 1] - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const r = this.rowIdx[mid];
      if (r === i) return this.values[mid];
      if (r < i) lo = mid + 1;
      else hi = mid - 1;
    }
    return 0;
  }

  /** Dense copy, row-major, `nRows * nCols` values. */
  toDense(): Float64Array {
    const out = new Float64Array(this.nRows * this.nCols);
    const n = this.nCols;
    for (let j = 0; j < n; j++) {
      for (let k = this.colPtr[j]; k < this.colPtr[j + 1]; k++) out[this.rowIdx[k] * n + j] = this.values[k];
    }
    return out;
  }

  /**
   * Scale row i by `v[i]` (DIALS `row_multiply`). The sparsity pattern is kept.
   *
   * @param v - one factor per row
   */
  rowMultiply(v: ArrayLike<number>): SparseMatrix {
    checkLength("rowMultiply factor", v, this.nRows);
    const nnz = this.nonZeros();
    const vals = new Float64Array(nnz);
    for (let k = 0; k < nnz; k++) vals[k] = this.values[k] * v[this.rowIdx[k]];
    return trusted(this.nRows, this.nCols, this.colPtr.slice(), this.rowIdx.slice(0, nnz), vals);
  }

  /**
   * Scale column j by `v[j]`. The sparsity pattern is kept.
   *
   * @param v - one factor per column
   */
  columnMultiply(v: ArrayLike<number>): SparseMatrix {
    checkLength("columnMultiply factor", v, this.nCols);
    const nnz = this.nonZeros();
    const vals = new Float64Array(nnz);
    for (let j = 0; j < this.nCols; j++) {
      const f = v[j];
      for (let k = this.colPtr[j]; k < this.colPtr[j + 1]; k++) vals[k] = this.values[k] * f;
    }
    return trusted(this.nRows, this.nCols, this.colPtr.slice(), this.rowIdx.slice(0, nnz), vals);
  }

  /**
   * A matrix made of the given columns, in the given order (repeats allowed).
   *
   * @param cols - column indices
   */
  selectColumns(cols: ArrayLike<number>): SparseMatrix {
    requireNumbersArgument(cols, "SparseMatrix.selectColumns: cols");
    const m = cols.length;
    let nnz = 0;
    for (let t = 0; t < m; t++) {
      const j = cols[t];
      if (!Number.isInteger(j) || j < 0 || j >= this.nCols) {
        throw new ConfigError(`SparseMatrix.selectColumns: column ${j} is outside [0, ${this.nCols})`);
      }
      nnz += this.colPtr[j + 1] - this.colPtr[j];
    }
    const colPtr = new Int32Array(m + 1);
    const rIdx = new Int32Array(nnz);
    const vals = new Float64Array(nnz);
    let p = 0;
    for (let t = 0; t < m; t++) {
      const j = cols[t];
      const a = this.colPtr[j];
      const b = this.colPtr[j + 1];
      rIdx.set(this.rowIdx.subarray(a, b), p);
      vals.set(this.values.subarray(a, b), p);
      p += b - a;
      colPtr[t + 1] = p;
    }
    return trusted(this.nRows, m, colPtr, rIdx, vals);
  }

  /**
   * A matrix made of the given rows, in the given order (like flex `select` on each column). Rows may be repeated.
   * Cost O(nnz + nRows + rows.length).
   *
   * @param rows - row indices
   */
  selectRows(rows: ArrayLike<number>): SparseMatrix {
    requireNumbersArgument(rows, "SparseMatrix.selectRows: rows");
    for (let t = 0; t < rows.length; t++) {
      const r = rows[t];
      if (!Number.isInteger(r) || r < 0 || r >= this.nRows) {
        throw new ConfigError(`SparseMatrix.selectRows: row ${r} is outside [0, ${this.nRows})`);
      }
    }
    // Row selection = column selection of the transpose; transposing back sorts rows within columns.
    return this.transpose().selectColumns(rows).transpose();
  }

  /** The transpose, as a new CSC matrix (equivalently, this matrix in CSR form). */
  transpose(): SparseMatrix {
    const nnz = this.nonZeros();
    const colPtr = new Int32Array(this.nRows + 1);
    for (let k = 0; k < nnz; k++) colPtr[this.rowIdx[k] + 1]++;
    for (let i = 0; i < this.nRows; i++) colPtr[i + 1] += colPtr[i];
    const fill = colPtr.slice(0, this.nRows);
    const rIdx = new Int32Array(nnz);
    const vals = new Float64Array(nnz);
    for (let j = 0; j < this.nCols; j++) {
      for (let k = this.colPtr[j]; k < this.colPtr[j + 1]; k++) {
        const dst = fill[this.rowIdx[k]]++;
        rIdx[dst] = j;
        vals[dst] = this.values[k];
      }
    }
    return trusted(this.nCols, this.nRows, colPtr, rIdx, vals);
  }

  /**
   * Matrix–vector product A·x.
   *
   * @param x - vector of length `nCols`
   * @returns vector of length `nRows`
   */
  multiplyVector(x: ArrayLike<number>): Float64Array {
    checkLength("multiplyVector x", x, this.nCols);
    const out = new Float64Array(this.nRows);
    for (let j = 0; j < this.nCols; j++) {
      const xj = x[j];
      if (xj === 0) continue;
      for (let k = this.colPtr[j]; k < this.colPtr[j + 1]; k++) out[this.rowIdx[k]] += this.values[k] * xj;
    }
    return out;
  }

  /**
   * Transposed product Aᵀ·y.
   *
   * @param y - vector of length `nRows`
   * @returns vector of length `nCols`
   */
  transposeMultiplyVector(y: ArrayLike<number>): Float64Array {
    checkLength("transposeMultiplyVector y", y, this.nRows);
    const out = new Float64Array(this.nCols);
    for (let j = 0; j < this.nCols; j++) {
      let s = 0;
      for (let k = this.colPtr[j]; k < this.colPtr[j + 1]; k++) s += this.values[k] * y[this.rowIdx[k]];
      out[j] = s;
    }
    return out;
  }

  /**
   * Dense normal matrix AᵀWA for a diagonal weight matrix W.
   *
   * Cost O(Σ_i nnz(row i)²) via a row-wise (transposed) pass, so it stays linear in observations for the banded
   * Jacobians of the scaling models.
   *
   * @param w - diagonal of W, length `nRows`
   * @returns `nCols × nCols` symmetric matrix, row-major
   */
  transposeWeightedProduct(w: ArrayLike<number>): Float64Array {
    checkLength("transposeWeightedProduct w", w, this.nRows);
    const n = this.nCols;
    const out = new Float64Array(n * n);
    const t = this.transpose(); // column i of t = row i of this
    for (let i = 0; i < this.nRows; i++) {
      const a = t.colPtr[i];
      const b = t.colPtr[i + 1];
      const wi = w[i];
      if (wi === 0 || a === b) continue;
      for (let p = a; p < b; p++) {
        const cp = t.rowIdx[p];
        const vp = t.values[p] * wi;
        for (let q = p; q < b; q++) out[cp * n + t.rowIdx[q]] += vp * t.values[q];
      }
    }
    // Columns within a row of `t` are increasing, so only the upper triangle was filled: mirror it.
    for (let r = 0; r < n; r++) for (let c = r + 1; c < n; c++) out[c * n + r] = out[r * n + c];
    return out;
  }
}
