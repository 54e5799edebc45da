/**
 * Dense Cholesky factorisation of symmetric positive-definite matrices stored as flat row-major `Float64Array`s.
 *
 * The factor is the lower triangle L with A = L·Lᵀ (DIALS's `lstbx` uses the equivalent upper factor U = Lᵀ). Every
 * inner loop is a dot product over two contiguous row segments, which is what makes the flat layout fast in V8.
 *
 * @packageDocumentation
 */

function checkSquare(a: Float64Array, n: number, what: string): void {
  if (!Number.isInteger(n) || n < 0) {
    throw new RangeError(`invalid argument: n must be a non-negative integer, got ${n}`);
  }
  if (a.length !== n * n) {
    throw new RangeError(`invalid argument: ${what} must have n*n = ${n * n} elements, got ${a.length}`);
  }
}

/** Rows per block in the blocked kernels: the block's rows stay in cache while earlier rows stream past. */
const NB = 32;

/**
 * Unchecked kernel of {@link choleskyFactor}: factorises the row-major n×n matrix `a` in place (row-oriented
 * Cholesky–Banachiewicz, blocked over rows and unrolled over 4 rows so that each earlier row is read once per block).
 * Every element is an ordinary k-ascending dot product, so results do not depend on the blocking.
 *
 * @internal
 */
export function choleskyFactorKernel(a: Float64Array, n: number): boolean {
  for (let i0 = 0; i0 < n; i0 += NB) {
    const i1 = Math.min(i0 + NB, n);
    for (let j = 0; j < i1; j++) {
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
    }
    for (let i = i0; i < i1; i++) a.fill(0, i * n + i + 1, (i + 1) * n);
  }
  return true;
}

/**
 * Cholesky factorisation A = L·Lᵀ in place. Only the lower triangle (diagonal included) of `a` is read; on success
 * `a` holds L with its strict upper triangle set to zero.
 *
 * @param a - n×n symmetric positive-definite matrix, row-major; overwritten.
 * @param n - order of the matrix.
 * @returns true on success, false if the matrix is not (numerically) positive definite; `a` is then partly
 *   overwritten.
 * @throws RangeError if `n` is not a non-negative integer or `a.length !== n*n`.
 */
export function choleskyFactor(a: Float64Array, n: number): boolean {
  checkSquare(a, n, "a");
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
 * @throws RangeError on inconsistent sizes.
 */
export function choleskySolve(l: Float64Array, n: number, b: Float64Array): Float64Array {
  checkSquare(l, n, "l");
  if (b.length !== n) throw new RangeError(`invalid argument: b must have n = ${n} elements, got ${b.length}`);
  const x = Float64Array.from(b);
  choleskySolveInPlace(l, n, x);
  return x;
}

/**
 * Unchecked kernel of {@link choleskyInverse} (blocked and unrolled like {@link choleskyFactorKernel}; the unrolled
 * dot products run over a common range and pick up only exact zeros outside each row's own range).
 *
 * @internal
 */
export function choleskyInverseKernel(l: Float64Array, n: number): Float64Array {
  // U = L⁻ᵀ stored row-major: row j of U is column j of L⁻¹, i.e. the solution of L x = e_j (zero before j):
  // U[j,i] = −Σ_{k=j}^{i−1} L[i,k] U[j,k] / L[i,i]. A block of U rows shares each streamed row of L.
  const u = new Float64Array(n * n);
  for (let j0 = 0; j0 < n; j0 += NB) {
    const j1 = Math.min(j0 + NB, n);
    for (let i = j0; i < n; i++) {
      const ri = i * n;
      const lii = l[ri + i];
      const jEnd = Math.min(j1, i);
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
      if (i < j1) u[i * n + i] = 1 / lii;
    }
  }
  // A⁻¹ = L⁻ᵀ L⁻¹ = U Uᵀ: (A⁻¹)ij = Σ_{k ≥ max(i,j)} U[i,k] U[j,k]; a block of rows i shares each streamed row j
  const inv = new Float64Array(n * n);
  for (let i0 = 0; i0 < n; i0 += NB) {
    const i1 = Math.min(i0 + NB, n);
    let i = i0;
    for (; i + 3 < i1; i += 4) {
      const r0 = i * n;
      const r1 = r0 + n;
      const r2 = r1 + n;
      const r3 = r2 + n;
      for (let j = 0; j <= i + 3; j++) {
        const rj = j * n;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        for (let k = Math.max(i, j); k < n; k++) {
          const ujk = u[rj + k];
          s0 += u[r0 + k] * ujk;
          s1 += u[r1 + k] * ujk;
          s2 += u[r2 + k] * ujk;
          s3 += u[r3 + k] * ujk;
        }
        if (j <= i) {
          inv[r0 + j] = s0;
          inv[rj + i] = s0;
        }
        if (j <= i + 1) {
          inv[r1 + j] = s1;
          inv[rj + i + 1] = s1;
        }
        if (j <= i + 2) {
          inv[r2 + j] = s2;
          inv[rj + i + 2] = s2;
        }
        inv[r3 + j] = s3;
        inv[rj + i + 3] = s3;
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
  return inv;
}

/**
 * Inverse of A = L·Lᵀ from its Cholesky factor (the variance–covariance matrix of a least-squares fit is
 * χ²·(JᵀWJ)⁻¹, computed this way).
 *
 * @param l - lower Cholesky factor, n×n row-major.
 * @param n - order of the matrix.
 * @returns A⁻¹, n×n row-major, exactly symmetric (a new array).
 * @throws RangeError on inconsistent sizes.
 */
export function choleskyInverse(l: Float64Array, n: number): Float64Array {
  checkSquare(l, n, "l");
  return choleskyInverseKernel(l, n);
}
