/**
 * Dense Cholesky factorisation of symmetric positive-definite matrices stored as flat row-major `Float64Array`s.
 *
 * The factor is the lower triangle L with A = L·Lᵀ (DIALS's `lstbx` uses the equivalent upper factor U = Lᵀ). Every
 * inner loop is a dot product over two contiguous row segments, which is what makes the flat layout fast in V8.
 *
 * @packageDocumentation
 */
import { requireInstanceArgument, requireIntegerArgument } from "../errors.ts";

/** Throws a `ConfigError` unless `a` is a Float64Array of n·n elements (`fn` names the public function). */
function checkSquare(a: unknown, n: unknown, what: string, fn: string): asserts a is Float64Array {
  requireIntegerArgument(n, `${fn}: n`);
  requireInstanceArgument(a, Float64Array, `${fn}: ${what} (n×n, row-major)`, n * n);
}

/**
 * Rows per block in the blocked kernels: the block's rows stay in cache while earlier rows stream past.
 *
 * @internal
 */
export const CHOLESKY_BLOCK = 32;
const NB = CHOLESKY_BLOCK;

/**
 * Unchecked kernel of {@link choleskyFactor}: factorises the row-major n×n matrix `a` in place (row-oriented
 * Cholesky–Banachiewicz, blocked over rows; 4 rows × 2 columns of earlier blocks per register tile, so that each
 * loaded element serves several products). Every element is an ordinary k-ascending dot product, so results are
 * bit-identical to the unblocked algorithm.
 *
 * @internal
 */
export function choleskyFactorKernel(a: Float64Array, n: number): boolean {
  for (let i0 = 0; i0 < n; i0 += NB) {
    const i1 = Math.min(i0 + NB, n);
    // columns of earlier blocks two at a time, then the block's own columns one at a time
    choleskyFactorRowsKernel(a, n, i0, i1, 0, i0);
    if (!choleskyFactorOwnColumnsKernel(a, n, i0, i1)) return false;
  }
  return true;
}

/**
 * Part of {@link choleskyFactorKernel}: columns `[jBegin, jEnd)` of L for the rows `[i0, i1)`, two columns at a time
 * (then one when their number is odd). Rows before `jEnd` must be finished and their columns before `jBegin` done
 * (`jEnd ≤ i0`). Rows of L in different ranges are independent here, so ranges may run in different threads; every
 * element is the same k-ascending dot product whatever the ranges.
 *
 * @internal
 */
export function choleskyFactorRowsKernel(
  a: Float64Array,
  n: number,
  i0: number,
  i1: number,
  jBegin: number,
  jEnd: number,
): void {
  let j = jBegin;
  for (; j + 1 < jEnd; j += 2) factorColumnPair(a, n, i0, i1, j);
  if (j < jEnd) factorColumn(a, n, i0, i1, j);
}

/**
 * Part of {@link choleskyFactorKernel}: the rows `[i0, i1)`' own columns `[i0, i1)` of L (their earlier columns done by
 * {@link choleskyFactorRowsKernel}), then their strict upper triangle zeroed. False if A is not positive definite.
 *
 * @internal
 */
export function choleskyFactorOwnColumnsKernel(a: Float64Array, n: number, i0: number, i1: number): boolean {
  for (let j = i0; j < i1; j++) if (!factorColumn(a, n, i0, i1, j)) return false;
  for (let i = i0; i < i1; i++) a.fill(0, i * n + i + 1, (i + 1) * n);
  return true;
}

/** Column j of L for the block rows [max(i0, j), i1), the diagonal first when j is in the block; false if not PD. */
function factorColumn(a: Float64Array, n: number, i0: number, i1: number, j: number): boolean {
  const rj = j * n;
  let i = Math.max(i0, j);
  if (i === j) {
    let s = a[rj + j];
    for (let k = 0; k < j; k++) s -= a[rj + k] * a[rj + k];
    // also rejects NaN
    if (!(s > 0)) return false;
    a[rj + j] = Math.sqrt(s);
    i++;
  }
  const djj = a[rj + j];
  for (; i + 3 < i1; i += 4) {
    const r0 = i * n;
    const r1 = r0 + n;
    const r2 = r1 + n;
    const r3 = r2 + n;
    let s0 = a[r0 + j];
    let s1 = a[r1 + j];
    let s2 = a[r2 + j];
    let s3 = a[r3 + j];
    for (let k = 0; k < j; k++) {
      const l = a[rj + k];
      s0 -= a[r0 + k] * l;
      s1 -= a[r1 + k] * l;
      s2 -= a[r2 + k] * l;
      s3 -= a[r3 + k] * l;
    }
    a[r0 + j] = s0 / djj;
    a[r1 + j] = s1 / djj;
    a[r2 + j] = s2 / djj;
    a[r3 + j] = s3 / djj;
  }
  for (; i < i1; i++) {
    const ri = i * n;
    let s = a[ri + j];
    for (let k = 0; k < j; k++) s -= a[ri + k] * a[rj + k];
    a[ri + j] = s / djj;
  }
  return true;
}

/**
 * Columns j and j + 1 (both finished rows of earlier blocks, j + 1 < i0) for the block rows [i0, i1): the two sums
 * of a row share its loads; the (j+1) sum runs to k = j − 1 and takes its last term L[i,j] L[j+1,j] once L[i,j] is
 * known, which is the same k-ascending sequence as one column at a time.
 */
function factorColumnPair(a: Float64Array, n: number, i0: number, i1: number, j: number): void {
  const rj = j * n;
  const rn = rj + n;
  const djj = a[rj + j];
  const dnn = a[rn + j + 1];
  const lnj = a[rn + j];
  let i = i0;
  for (; i + 3 < i1; i += 4) {
    const r0 = i * n;
    const r1 = r0 + n;
    const r2 = r1 + n;
    const r3 = r2 + n;
    let s0 = a[r0 + j];
    let s1 = a[r1 + j];
    let s2 = a[r2 + j];
    let s3 = a[r3 + j];
    let t0 = a[r0 + j + 1];
    let t1 = a[r1 + j + 1];
    let t2 = a[r2 + j + 1];
    let t3 = a[r3 + j + 1];
    for (let k = 0; k < j; k++) {
      const l = a[rj + k];
      const m = a[rn + k];
      const x0 = a[r0 + k];
      const x1 = a[r1 + k];
      const x2 = a[r2 + k];
      const x3 = a[r3 + k];
      s0 -= x0 * l;
      s1 -= x1 * l;
      s2 -= x2 * l;
      s3 -= x3 * l;
      t0 -= x0 * m;
      t1 -= x1 * m;
      t2 -= x2 * m;
      t3 -= x3 * m;
    }
    const v0 = s0 / djj;
    const v1 = s1 / djj;
    const v2 = s2 / djj;
    const v3 = s3 / djj;
    a[r0 + j] = v0;
    a[r1 + j] = v1;
    a[r2 + j] = v2;
    a[r3 + j] = v3;
    a[r0 + j + 1] = (t0 - v0 * lnj) / dnn;
    a[r1 + j + 1] = (t1 - v1 * lnj) / dnn;
    a[r2 + j + 1] = (t2 - v2 * lnj) / dnn;
    a[r3 + j + 1] = (t3 - v3 * lnj) / dnn;
  }
  for (; i < i1; i++) {
    const ri = i * n;
    let s = a[ri + j];
    let t = a[ri + j + 1];
    for (let k = 0; k < j; k++) {
      const x = a[ri + k];
      s -= x * a[rj + k];
      t -= x * a[rn + k];
    }
    const v = s / djj;
    a[ri + j] = v;
    a[ri + j + 1] = (t - v * lnj) / dnn;
  }
}

/**
 * Cholesky factorisation A = L·Lᵀ in place. Only the lower triangle (diagonal included) of `a` is read; on success
 * `a` holds L with its strict upper triangle set to zero.
 *
 * @param a - n×n symmetric positive-definite matrix, row-major; overwritten.
 * @param n - order of the matrix.
 * @returns true on success, false if the matrix is not (numerically) positive definite; `a` is then partly
 *   overwritten.
 * @throws ConfigError if `n` is not a non-negative integer or `a.length !== n*n`.
 */
export function choleskyFactor(a: Float64Array, n: number): boolean {
  checkSquare(a, n, "a", "choleskyFactor");
  return choleskyFactorKernel(a, n);
}

/**
 * Unchecked kernel of {@link choleskySolve}: overwrites `x` (holding b) with the solution of L·Lᵀ x = b.
 *
 * @internal
 */
export function choleskySolveInPlace(l: Float64Array, n: number, x: Float64Array): void {
  // forward substitution L y = b
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    let s = x[i];
    for (let k = 0; k < i; k++) s -= l[ri + k] * x[k];
    x[i] = s / l[ri + i];
  }
  // back substitution Lᵀ x = y (column access of L, done as axpy over rows)
  for (let i = n - 1; i >= 0; i--) {
    const ri = i * n;
    const xi = x[i] / l[ri + i];
    x[i] = xi;
    for (let k = 0; k < i; k++) x[k] -= l[ri + k] * xi;
  }
}

/**
 * Solves A x = b given the Cholesky factor L of A (from {@link choleskyFactor}).
 *
 * @param l - lower Cholesky factor, n×n row-major.
 * @param n - order of the matrix.
 * @param b - right-hand side (not modified).
 * @returns the solution x (a new array).
 * @throws ConfigError on inconsistent sizes.
 */
export function choleskySolve(l: Float64Array, n: number, b: Float64Array): Float64Array {
  checkSquare(l, n, "l", "choleskySolve");
  requireInstanceArgument(b, Float64Array, "choleskySolve: b", n);
  const x = Float64Array.from(b);
  choleskySolveInPlace(l, n, x);
  return x;
}

/**
 * Phase 1 of {@link choleskyInverseKernel} for one row i of L: U[j,i] = −Σ_{k=j}^{i−1} L[i,k] U[j,k] / L[i,i] for
 * j in [j0, jEnd) (jEnd ≤ i), four U rows at a time.
 */
function inverseColumnsOneRow(l: Float64Array, u: Float64Array, n: number, i: number, j0: number, jEnd: number): void {
  const ri = i * n;
  const lii = l[ri + i];
  let j = j0;
  for (; j + 3 < jEnd; j += 4) {
    const r0 = j * n;
    const r1 = r0 + n;
    const r2 = r1 + n;
    const r3 = r2 + n;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let k = j; k < i; k++) {
      const lik = l[ri + k];
      s0 -= lik * u[r0 + k];
      s1 -= lik * u[r1 + k];
      s2 -= lik * u[r2 + k];
      s3 -= lik * u[r3 + k];
    }
    u[r0 + i] = s0 / lii;
    u[r1 + i] = s1 / lii;
    u[r2 + i] = s2 / lii;
    u[r3 + i] = s3 / lii;
  }
  for (; j < jEnd; j++) {
    const rj = j * n;
    let s = 0;
    for (let k = j; k < i; k++) s -= l[ri + k] * u[rj + k];
    u[rj + i] = s / lii;
  }
}

/**
 * Phase 1 of {@link choleskyInverseKernel} for rows i and i + 1 of L below the block [j0, j1) (i ≥ j1): both sums
 * share the loads of U; the (i+1) sums run to k = i − 1, then take their last term L[i+1,i] U[j,i] once U[j,i] is
 * known, which is the same k-ascending sequence as one row at a time.
 */
function inverseColumnsTwoRows(l: Float64Array, u: Float64Array, n: number, i: number, j0: number, j1: number): void {
  const ri = i * n;
  const rn = ri + n;
  const lii = l[ri + i];
  const lnn = l[rn + i + 1];
  const lni = l[rn + i];
  let j = j0;
  for (; j + 3 < j1; j += 4) {
    const r0 = j * n;
    const r1 = r0 + n;
    const r2 = r1 + n;
    const r3 = r2 + n;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let t0 = 0;
    let t1 = 0;
    let t2 = 0;
    let t3 = 0;
    for (let k = j; k < i; k++) {
      const lik = l[ri + k];
      const lnk = l[rn + k];
      const u0 = u[r0 + k];
      const u1 = u[r1 + k];
      const u2 = u[r2 + k];
      const u3 = u[r3 + k];
      s0 -= lik * u0;
      s1 -= lik * u1;
      s2 -= lik * u2;
      s3 -= lik * u3;
      t0 -= lnk * u0;
      t1 -= lnk * u1;
      t2 -= lnk * u2;
      t3 -= lnk * u3;
    }
    const v0 = s0 / lii;
    const v1 = s1 / lii;
    const v2 = s2 / lii;
    const v3 = s3 / lii;
    u[r0 + i] = v0;
    u[r1 + i] = v1;
    u[r2 + i] = v2;
    u[r3 + i] = v3;
    u[r0 + i + 1] = (t0 - lni * v0) / lnn;
    u[r1 + i + 1] = (t1 - lni * v1) / lnn;
    u[r2 + i + 1] = (t2 - lni * v2) / lnn;
    u[r3 + i + 1] = (t3 - lni * v3) / lnn;
  }
  for (; j < j1; j++) {
    const rj = j * n;
    let s = 0;
    let t = 0;
    for (let k = j; k < i; k++) {
      const ujk = u[rj + k];
      s -= l[ri + k] * ujk;
      t -= l[rn + k] * ujk;
    }
    const v = s / lii;
    u[rj + i] = v;
    u[rj + i + 1] = (t - lni * v) / lnn;
  }
}

/**
 * Unchecked kernel of {@link choleskyInverse}: U = L⁻ᵀ by blocks of 32 rows of U (4 U rows × 2 L rows per register
 * tile), then U·Uᵀ on the lower triangle in 4 × 2 tiles, mirrored. Every sum is k-ascending; where a tile runs over a
 * common range it picks up only exact zeros outside an element's own range, so results equal the unblocked
 * algorithm's.
 *
 * @internal
 */
export function choleskyInverseKernel(l: Float64Array, n: number): Float64Array {
  // U = L⁻ᵀ stored row-major: row j of U is column j of L⁻¹, i.e. the solution of L x = e_j (zero before j):
  // U[j,i] = −Σ_{k=j}^{i−1} L[i,k] U[j,k] / L[i,i]. A block of U rows shares each streamed row of L.
  const u = new Float64Array(n * n);
  choleskyInverseFactorKernel(l, u, n, 0, n);
  const inv = new Float64Array(n * n);
  choleskyInverseProductKernel(u, inv, n, 0, n);
  return inv;
}

/**
 * Part of {@link choleskyInverseKernel}: rows `[j0, j1)` of U = L⁻ᵀ (`j0` a multiple of the block size {@link
 * CHOLESKY_BLOCK}, `j1` one too or n), with their strict lower triangle zeroed. Row blocks of U are independent, so
 * ranges may run in different threads.
 *
 * @internal
 */
export function choleskyInverseFactorKernel(l: Float64Array, u: Float64Array, n: number, j0: number, j1: number): void {
  for (let j = j0; j < j1; j++) u.fill(0, j * n, j * n + j);
  for (let b0 = j0; b0 < j1; b0 += NB) {
    const b1 = Math.min(b0 + NB, n);
    let i = b0;
    // rows inside the block (then U[i,i] = 1/L[i,i]), then pairs of rows below it
    for (; i < b1; i++) {
      inverseColumnsOneRow(l, u, n, i, b0, i);
      u[i * n + i] = 1 / l[i * n + i];
    }
    for (; i + 1 < n; i += 2) inverseColumnsTwoRows(l, u, n, i, b0, b1);
    if (i < n) inverseColumnsOneRow(l, u, n, i, b0, b1);
  }
}

/**
 * Part of {@link choleskyInverseKernel}: rows `[i0, i1)` of A⁻¹ = U Uᵀ on and below the diagonal, each element also
 * stored at its mirror (`i0` a multiple of 4, `i1` one too or n). Every element of A⁻¹ is written by exactly one row
 * range, so ranges may run in different threads.
 *
 * @internal
 */
export function choleskyInverseProductKernel(
  u: Float64Array,
  inv: Float64Array,
  n: number,
  i0: number,
  i1: number,
): void {
  // A⁻¹ = L⁻ᵀ L⁻¹ = U Uᵀ: (A⁻¹)ij = Σ_{k ≥ max(i,j)} U[i,k] U[j,k], formed on the lower triangle and mirrored, in
  // 4 × 2 register tiles (rows i..i+3 against rows j, j+1: six loads per eight products). Every element is the
  // k-ascending sum from its tile's first k; the terms before its own max(i, j) are products with exact zeros of U.
  let i = i0;
  for (; i + 3 < i1; i += 4) {
    const r0 = i * n;
    const r1 = r0 + n;
    const r2 = r1 + n;
    const r3 = r2 + n;
    let j = 0;
    for (; j + 1 <= i + 3; j += 2) {
      const ra = j * n;
      const rb = ra + n;
      let s0a = 0;
      let s1a = 0;
      let s2a = 0;
      let s3a = 0;
      let s0b = 0;
      let s1b = 0;
      let s2b = 0;
      let s3b = 0;
      for (let k = j > i ? j : i; k < n; k++) {
        const ua = u[ra + k];
        const ub = u[rb + k];
        const u0 = u[r0 + k];
        const u1 = u[r1 + k];
        const u2 = u[r2 + k];
        const u3 = u[r3 + k];
        s0a += u0 * ua;
        s1a += u1 * ua;
        s2a += u2 * ua;
        s3a += u3 * ua;
        s0b += u0 * ub;
        s1b += u1 * ub;
        s2b += u2 * ub;
        s3b += u3 * ub;
      }
      storeSymmetric(inv, n, i, j, s0a);
      storeSymmetric(inv, n, i + 1, j, s1a);
      storeSymmetric(inv, n, i + 2, j, s2a);
      storeSymmetric(inv, n, i + 3, j, s3a);
      storeSymmetric(inv, n, i, j + 1, s0b);
      storeSymmetric(inv, n, i + 1, j + 1, s1b);
      storeSymmetric(inv, n, i + 2, j + 1, s2b);
      storeSymmetric(inv, n, i + 3, j + 1, s3b);
    }
  }
  for (; i < i1; i++) {
    const ri = i * n;
    for (let j = 0; j <= i; j++) {
      const rj = j * n;
      let s = 0;
      for (let k = i; k < n; k++) s += u[ri + k] * u[rj + k];
      inv[ri + j] = s;
      inv[rj + i] = s;
    }
  }
}

/** Stores element (i, j) and its mirror when it is on or below the diagonal (j ≤ i); drops it otherwise. */
function storeSymmetric(inv: Float64Array, n: number, i: number, j: number, value: number): void {
  if (j > i) return;
  inv[i * n + j] = value;
  inv[j * n + i] = value;
}

/**
 * Inverse of A = L·Lᵀ from its Cholesky factor (the variance–covariance matrix of a least-squares fit is
 * χ²·(JᵀWJ)⁻¹, computed this way).
 *
 * @param l - lower Cholesky factor, n×n row-major.
 * @param n - order of the matrix.
 * @returns A⁻¹, n×n row-major, exactly symmetric (a new array).
 * @throws ConfigError on inconsistent sizes.
 */
export function choleskyInverse(l: Float64Array, n: number): Float64Array {
  checkSquare(l, n, "l", "choleskyInverse");
  return choleskyInverseKernel(l, n);
}
