/**
 * The DIALS scaling target (`dials/algorithms/scaling/target_function.py`): residuals `r = I − g·Ih`, weights from
 * the Ih table, the Jacobian including the dependence of Ih on the parameters (`calc_dIh_by_dpi`), the gradient of
 * `Σ w r²`, the RMSD DIALS reports, and a fixed-Ih variant for scaling against a reference.
 *
 * Everything works one Ih block at a time; the normal equations are accumulated group by group from the sparse
 * derivatives, never through a dense observations × parameters matrix.
 *
 * @packageDocumentation
 */
import {
  ConfigError,
  requireArrayArgument,
  requireInstanceArgument,
  requireIntegerArgument,
  requireNumbersArgument,
  requireObjectArgument,
} from "../errors.ts";
import { SparseMatrix } from "./sparse-matrix.ts";
import { IhTableBlock } from "./ih-table.ts";

/** Row-compressed copy of a CSC matrix (internal). */
interface Csr {
  rowPtr: Int32Array;
  colIdx: Int32Array;
  values: Float64Array;
}

/** Converts the CSC derivatives to row-compressed form: the CSC arrays of the transpose, read as CSR. */
function toCsr(m: SparseMatrix): Csr {
  const t = m.transpose();
  return { rowPtr: t.colPtr, colIdx: t.rowIdx, values: t.values };
}

/** Checks that `block` is an Ih block (`fn` names the method). */
function checkBlock(block: unknown, fn: string): asserts block is IhTableBlock {
  requireInstanceArgument(block, IhTableBlock, `ScalingTarget.${fn}: block`);
}

/** Checks the block and that the derivative matrix matches it (`fn` names the method). */
function checkDerivatives(block: IhTableBlock, derivatives: SparseMatrix, fn: string): void {
  checkBlock(block, fn);
  requireInstanceArgument(derivatives, SparseMatrix, `ScalingTarget.${fn}: derivatives`);
  if (derivatives.nRows !== block.size) {
    throw new ConfigError(`ScalingTarget: derivatives have ${derivatives.nRows} rows, the Ih block has ${block.size}`);
  }
}

/** Accumulator for the normal equations of one or more blocks (dense n×n, row-major, both triangles filled). */
export interface NormalEquationAccumulator {
  /** JᵀWJ, n×n row-major. Only the upper triangle is accumulated until {@link symmetrise} is called. */
  matrix: Float64Array;
  /** JᵀWr. */
  gradient: Float64Array;
  /** Σ w r². */
  sumWr2: number;
}

/** Copies the upper triangle of a row-major n×n matrix into its lower triangle. */
export function symmetrise(matrix: Float64Array, n: number): void {
  requireIntegerArgument(n, "symmetrise: n");
  requireInstanceArgument(matrix, Float64Array, "symmetrise: matrix (n×n, row-major)", n * n);
  for (let a = 0; a < n; a++) for (let b = a + 1; b < n; b++) matrix[b * n + a] = matrix[a * n + b];
}

/**
 * The standard scaling target: Ih depends on the parameters through g (DIALS `ScalingTarget`).
 * Methods take an Ih block whose `inverseScaleFactor` and `IhValues` are current and the derivatives dg/dp of that
 * block (rows = block rows, columns = parameters).
 */
export class ScalingTarget {
  /** Whether Ih is held fixed (only the {@link ScalingTargetFixedIH} subclass sets this). */
  readonly fixedIh: boolean = false;

  /**
   * Unweighted residuals `r_i = I_i − g_i·Ih_i` of a block.
   *
   * @param block - the Ih block
   * @returns one residual per row
   */
  calculateResiduals(block: IhTableBlock): Float64Array {
    checkBlock(block, "calculateResiduals");
    const r = new Float64Array(block.size);
    const { intensity: I, inverseScaleFactor: g, IhValues: Ih } = block;
    for (let i = 0; i < block.size; i++) r[i] = I[i] - g[i] * Ih[i];
    return r;
  }

  /**
   * dIh/dp for each group of the block (DIALS `calc_dIh_by_dpi`):
   * `Σ_{i∈h} w_i (I_i − 2 g_i Ih_h) dg_i/dp / Σ_{i∈h} w_i g_i²` (0 for a group with `Σ w g² = 0`).
   *
   * @param block - the Ih block
   * @param derivatives - dg/dp of the block
   * @returns an nGroups × nParameters sparse matrix
   */
  calculateDIhByDpi(block: IhTableBlock, derivatives: SparseMatrix): SparseMatrix {
    checkDerivatives(block, derivatives, "calculateDIhByDpi");
    const sumgsq = this.sumWgSq(block);
    const { weights: w, intensity: I, inverseScaleFactor: g, IhValues: Ih, groupIndex: gi } = block;
    const rows: number[] = [];
    const cols: number[] = [];
    const vals: number[] = [];
    for (let j = 0; j < derivatives.nCols; j++) {
      for (let k = derivatives.colPtr[j]; k < derivatives.colPtr[j + 1]; k++) {
        const i = derivatives.rowIdx[k];
        const h = gi[i];
        if (sumgsq[h] === 0) continue;
        rows.push(h);
        cols.push(j);
        vals.push((w[i] * (I[i] - 2 * g[i] * Ih[i]) * derivatives.values[k]) / sumgsq[h]);
      }
    }
    return SparseMatrix.fromTriplets(block.nGroups, derivatives.nCols, rows, cols, vals);
  }

  /**
   * The Jacobian of the residuals, `dr_i/dp = −(dg_i/dp·Ih_h + g_i·dIh_h/dp)` (DIALS `calculate_jacobian`).
   * Intended for tests and diagnostics; refinement uses {@link ScalingTarget.accumulateNormalEquations}.
   *
   * @param block - the Ih block
   * @param derivatives - dg/dp of the block
   * @returns a block.size × nParameters sparse matrix
   */
  calculateJacobian(block: IhTableBlock, derivatives: SparseMatrix): SparseMatrix {
    checkDerivatives(block, derivatives, "calculateJacobian");
    const rows: number[] = [];
    const cols: number[] = [];
    const vals: number[] = [];
    this.forEachJacobianRow(block, derivatives, (i, params, values, m) => {
      for (let t = 0; t < m; t++) {
        rows.push(i);
        cols.push(params[t]);
        vals.push(values[t]);
      }
    });
    return SparseMatrix.fromTriplets(block.size, derivatives.nCols, rows, cols, vals);
  }

  /**
   * Gradient of `Σ w r²` over a block: `Σ_i −2 w_i r_i (dg_i/dp·Ih_h + g_i·dIh_h/dp)` (= 2·JᵀWr).
   *
   * @param block - the Ih block
   * @param derivatives - dg/dp of the block
   * @returns one entry per parameter
   */
  calculateGradient(block: IhTableBlock, derivatives: SparseMatrix): Float64Array {
    checkDerivatives(block, derivatives, "calculateGradient");
    const grad = new Float64Array(derivatives.nCols);
    const r = this.calculateResiduals(block);
    const w = block.weights;
    this.forEachJacobianRow(block, derivatives, (i, params, values, m) => {
      const s = 2 * w[i] * r[i];
      for (let t = 0; t < m; t++) grad[params[t]] += s * values[t];
    });
    return grad;
  }

  /**
   * Adds a block's contribution to the normal equations: the upper triangle of JᵀWJ, JᵀWr and Σwr². Call
   * {@link symmetrise} on the matrix once all blocks are in.
   *
   * @param block - the Ih block
   * @param derivatives - dg/dp of the block (columns = all parameters, or a slice placed at `offset`)
   * @param acc - the accumulator (matrix n×n with n ≥ offset + derivatives.nCols)
   * @param offset - column offset of the derivatives in the accumulator
   * @defaultValue offset 0
   */
  accumulateNormalEquations(
    block: IhTableBlock,
    derivatives: SparseMatrix,
    acc: NormalEquationAccumulator,
    offset = 0,
  ): void {
    checkDerivatives(block, derivatives, "accumulateNormalEquations");
    requireObjectArgument(acc, "ScalingTarget.accumulateNormalEquations: acc");
    requireInstanceArgument(acc.gradient, Float64Array, "ScalingTarget.accumulateNormalEquations: acc.gradient");
    requireInstanceArgument(
      acc.matrix,
      Float64Array,
      "ScalingTarget.accumulateNormalEquations: acc.matrix",
      acc.gradient.length ** 2,
    );
    requireIntegerArgument(offset, "ScalingTarget.accumulateNormalEquations: offset");
    const n = acc.gradient.length;
    if (offset + derivatives.nCols > n) {
      throw new ConfigError(`ScalingTarget: derivatives with ${derivatives.nCols} columns do not fit at ${offset}`);
    }
    const r = this.calculateResiduals(block);
    const w = block.weights;
    const M = acc.matrix;
    const G = acc.gradient;
    let sum = 0;
    for (let i = 0; i < block.size; i++) sum += w[i] * r[i] * r[i];
    acc.sumWr2 += sum;
    this.forEachJacobianRow(block, derivatives, (i, params, values, m) => {
      const wi = w[i];
      const wr = wi * r[i];
      for (let a = 0; a < m; a++) {
        const pa = params[a] + offset;
        const va = values[a];
        if (va === 0) continue;
        G[pa] += wr * va;
        const wva = wi * va;
        const rowBase = pa * n;
        for (let b = 0; b < m; b++) {
          const pb = params[b] + offset;
          if (pb < pa) continue;
          M[rowBase + pb] += wva * values[b];
        }
      }
    });
  }

  /**
   * The RMSD DIALS reports: `sqrt((Σ_blocks Σ w r² + Σ restraint residuals) / nObservations)`.
   *
   * @param blocks - the work blocks (current g and Ih)
   * @param restraintResiduals - the restraint residuals in the L-BFGS form (λp² each), if any
   * @returns the RMSD
   */
  rmsd(blocks: readonly IhTableBlock[], restraintResiduals?: ArrayLike<number>): number {
    requireArrayArgument(blocks, "ScalingTarget.rmsd: blocks");
    if (restraintResiduals !== undefined)
      requireNumbersArgument(restraintResiduals, "ScalingTarget.rmsd: restraintResiduals");
    let sum = 0;
    let n = 0;
    for (const block of blocks) {
      const r = this.calculateResiduals(block);
      for (let i = 0; i < block.size; i++) sum += block.weights[i] * r[i] * r[i];
      n += block.size;
    }
    if (restraintResiduals !== undefined)
      for (let k = 0; k < restraintResiduals.length; k++) sum += restraintResiduals[k];
    return n > 0 ? Math.sqrt(sum / n) : Number.NaN;
  }

  /** Σ_{i∈h} w_i g_i² per group. */
  protected sumWgSq(block: IhTableBlock): Float64Array {
    const s = new Float64Array(block.nGroups);
    const { weights: w, inverseScaleFactor: g, groupIndex: gi } = block;
    for (let i = 0; i < block.size; i++) s[gi[i]] += w[i] * g[i] * g[i];
    return s;
  }

  /**
   * Calls `visit(row, params, values, m)` with the non-zero pattern and values of every Jacobian row (`params` and
   * `values` are scratch arrays valid during the call; `m` entries are used). Work is per group: the row's entries
   * run over every parameter that touches any member of its group.
   */
  protected forEachJacobianRow(
    block: IhTableBlock,
    derivatives: SparseMatrix,
    visit: (row: number, params: Int32Array, values: Float64Array, m: number) => void,
  ): void {
    const P = derivatives.nCols;
    const csr = toCsr(derivatives);
    const { weights: w, intensity: I, inverseScaleFactor: g, IhValues: Ih, groupPtr, groupRows } = block;
    if (this.fixedIh) {
      // J = −Ih·dg/dp: each row's pattern is its own derivative row.
      const params = new Int32Array(P);
      const values = new Float64Array(P);
      for (let i = 0; i < block.size; i++) {
        let m = 0;
        for (let k = csr.rowPtr[i]; k < csr.rowPtr[i + 1]; k++) {
          params[m] = csr.colIdx[k];
          values[m] = -csr.values[k] * Ih[i];
          m++;
        }
        if (m > 0) visit(i, params, values, m);
      }
      return;
    }
    const sumgsq = this.sumWgSq(block);
    const stamp = new Int32Array(P).fill(-1);
    const local = new Int32Array(P);
    const params = new Int32Array(P);
    const dIh = new Float64Array(P);
    const values = new Float64Array(P);
    for (let h = 0; h < block.nGroups; h++) {
      // Parameters touching the group, and dIh/dp over them.
      let m = 0;
      for (let t = groupPtr[h]; t < groupPtr[h + 1]; t++) {
        const i = groupRows[t];
        const c = w[i] * (I[i] - 2 * g[i] * Ih[i]);
        for (let k = csr.rowPtr[i]; k < csr.rowPtr[i + 1]; k++) {
          const p = csr.colIdx[k];
          if (stamp[p] !== h) {
            stamp[p] = h;
            local[p] = m;
            params[m] = p;
            dIh[m] = 0;
            m++;
          }
          dIh[local[p]] += c * csr.values[k];
        }
      }
      if (m === 0) continue;
      const inv = sumgsq[h] === 0 ? 0 : 1 / sumgsq[h];
      for (let a = 0; a < m; a++) dIh[a] *= inv;
      for (let t = groupPtr[h]; t < groupPtr[h + 1]; t++) {
        const i = groupRows[t];
        const gi = g[i];
        for (let a = 0; a < m; a++) values[a] = -gi * dIh[a];
        const Ihi = Ih[i];
        for (let k = csr.rowPtr[i]; k < csr.rowPtr[i + 1]; k++) values[local[csr.colIdx[k]]] -= csr.values[k] * Ihi;
        visit(i, params, values, m);
      }
    }
  }
}

/**
 * The target for scaling against fixed reference intensities (DIALS `ScalingTargetFixedIH`): Ih does not depend on
 * the parameters, so `J = −Ih·dg/dp` and the gradient is `Σ −2 w r Ih dg/dp`. Ih is never recomputed by the
 * refinery when this target is used.
 */
export class ScalingTargetFixedIH extends ScalingTarget {
  override readonly fixedIh: boolean = true;
}
