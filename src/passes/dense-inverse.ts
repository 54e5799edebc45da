/**
 * The inverse of a dense symmetric positive-definite matrix (the ESDs' normal matrix) by Cholesky, with the rows split
 * over the pass workers: the factor's columns of earlier blocks (rows of a block are independent there), the rows of
 * U = L⁻ᵀ (independent) and the rows of U Uᵀ (independent). Every element is computed by the kernels of
 * `solve/cholesky.ts` with exactly the operations, in the order, of `choleskyFactorKernel` and `choleskyInverseKernel`
 * in one thread, so the result is bit-identical to theirs for any number of threads.
 *
 * @packageDocumentation
 */
import { CHOLESKY_BLOCK, choleskyFactorOwnColumnsKernel, choleskyFactorRowsKernel } from "../solve/cholesky.ts";
import { MAX_MATRIX_ITEMS, PassMode, type JointPassPayload, type PassModeValue } from "./pass-payload.ts";

/** Runs items 0…nItems−1 of a dense-matrix mode (as set in `payload.matrixTask`) and returns when all are done. */
export type MatrixItemRunner = (mode: PassModeValue, nItems: number) => void;

/**
 * Cuts `[0, nUnits)` into at most `nItems` contiguous ranges of about equal `work` (each range at least one unit);
 * returns unit indices: 0, …, nUnits.
 */
export function equalWorkCuts(nUnits: number, work: (unit: number) => number, nItems: number): number[] {
  let total = 0;
  for (let u = 0; u < nUnits; u++) total += work(u);
  const cuts = [0];
  let done = 0;
  for (let u = 0; u < nUnits; u++) {
    done += work(u);
    const item = cuts.length;
    if (item < nItems && u + 1 < nUnits && done >= (total * item) / nItems) cuts.push(u + 1);
  }
  cuts.push(nUnits);
  return cuts;
}

/**
 * Writes n, jEnd (the second word of the task: the column bound of a factor step, the band rows of a dense
 * expansion) and the row cuts (unit cuts times `unitRows`, the last clamped to n) into the task block; returns the
 * number of items.
 */
export function setMatrixTask(
  p: JointPassPayload,
  n: number,
  jEnd: number,
  cuts: readonly number[],
  unitRows: number,
): number {
  const t = p.matrixTask;
  t[0] = n;
  t[1] = jEnd;
  for (let k = 0; k < cuts.length; k++) t[2 + k] = Math.min(n, cuts[k] * unitRows);
  return cuts.length - 1;
}

/**
 * Replaces the n×n symmetric positive-definite matrix in `payload.matrix` (row-major, lower triangle read) by its
 * inverse, running the parallel steps through `run` on up to `threads` threads at a time (the calling thread does
 * the sequential remainder of each factor step). Returns false when the matrix is not positive definite (then
 * `payload.matrix` is partly overwritten). `payload.inverseFactor` is used as scratch (n² elements at least).
 */
export function invertInPayload(p: JointPassPayload, n: number, threads: number, run: MatrixItemRunner): boolean {
  const NB = CHOLESKY_BLOCK;
  const a = p.matrix;
  const width = Math.max(1, Math.min(threads, MAX_MATRIX_ITEMS));
  // Factor: steps of `width` blocks of rows. Their columns before the step are independent per row (items); then, in
  // this thread, each block's columns inside the step and its own triangle, block by block.
  for (let i0 = 0; i0 < n; i0 += NB * width) {
    const i1 = Math.min(n, i0 + NB * width);
    const nBlocks = Math.ceil((i1 - i0) / NB);
    if (i0 > 0) {
      const cuts = Array.from({ length: nBlocks + 1 }, (_, b) => i0 / NB + b);
      run(PassMode.factorRows, setMatrixTask(p, n, i0, cuts, NB));
    }
    for (let a0 = i0; a0 < i1; a0 += NB) {
      const a1 = Math.min(i1, a0 + NB);
      choleskyFactorRowsKernel(a, n, a0, a1, i0, a0);
      if (!choleskyFactorOwnColumnsKernel(a, n, a0, a1)) return false;
    }
  }
  // U = L⁻ᵀ: row block b costs ∝ (n − b·NB)²; A⁻¹ = U Uᵀ: the 4-row tile at i costs ∝ (i + 4)(n − i). Twice as many
  // items as threads, of about equal work, so that a thread that runs slower hands work to the others.
  const items = Math.min(MAX_MATRIX_ITEMS, 2 * width);
  const nb = Math.ceil(n / NB);
  const factorCuts = equalWorkCuts(nb, (b) => (n - b * NB) ** 2, items);
  run(PassMode.inverseFactorRows, setMatrixTask(p, n, 0, factorCuts, NB));
  const nTiles = Math.ceil(n / 4);
  const productCuts = equalWorkCuts(nTiles, (t) => (4 * t + 4) * (n - 4 * t), items);
  run(PassMode.inverseProductRows, setMatrixTask(p, n, 0, productCuts, 4));
  return true;
}
