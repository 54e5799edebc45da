/**
 * Solves "arrow" (bordered block-diagonal) symmetric positive-definite systems
 *
 * ```
 * [ D   B ] [x1]   [r1]
 * [ Bᵀ  C ] [x2] = [r2]
 * ```
 *
 * where D (m×m) is block diagonal with small dense blocks (the per-still parameters), C (k×k) is dense and small (the
 * shared parameters) and B (m×k) couples them. Eliminating x1 gives the Schur complement S = C − BᵀD⁻¹B, so the
 * solve costs O(m·k² + m·s²·k) for block size s instead of O((m+k)³).
 *
 * @packageDocumentation
 */

import { choleskyFactorKernel, choleskyInverseKernel, choleskySolveInPlace } from "./cholesky.ts";

/** An arrow-shaped symmetric matrix of order m + k, m = nBlocks·blockSize. All arrays are row-major. */
export interface ArrowMatrix {
  /** Number of diagonal blocks in D. */
  nBlocks: number;
  /** Order s of every diagonal block (1 for a diagonal D). */
  blockSize: number;
  /** The blocks of D, block j at offset j·s², each s×s row-major and symmetric; length nBlocks·s². */
  d: Float64Array;
  /** Order k of the dense corner C. */
  k: number;
  /** Coupling B, m×k row-major. */
  b: Float64Array;
  /** Dense corner C, k×k row-major, symmetric. */
  c: Float64Array;
}

/** Options of {@link arrowSolve} and {@link arrowInverse}. */
export interface ArrowSolveOptions {
  /**
   * Constant added to every diagonal element (D and C) before solving, i.e. the Levenberg–Marquardt μ.
   * @defaultValue 0
   */
  shift?: number;
}

function validateArrow(sys: ArrowMatrix): void {
  const { nBlocks, blockSize: s, k } = sys;
  for (const [name, v] of [
    ["nBlocks", nBlocks],
    ["blockSize", s],
    ["k", k],
  ] as const) {
    if (!Number.isInteger(v) || v < 0)
      throw new RangeError(`invalid argument: ${name} must be a non-negative integer, got ${v}`);
  }
  if (s === 0 && nBlocks > 0) throw new RangeError("invalid argument: blockSize must be positive when nBlocks > 0");
  const m = nBlocks * s;
  if (sys.d.length !== nBlocks * s * s) {
    throw new RangeError(
      `invalid argument: d must have nBlocks*blockSize^2 = ${nBlocks * s * s} elements, got ${sys.d.length}`,
    );
  }
  if (sys.b.length !== m * k)
    throw new RangeError(`invalid argument: b must have m*k = ${m * k} elements, got ${sys.b.length}`);
  if (sys.c.length !== k * k)
    throw new RangeError(`invalid argument: c must have k*k = ${k * k} elements, got ${sys.c.length}`);
}

function checkShift(shift: number): void {
  if (!Number.isFinite(shift) || shift < 0)
    throw new RangeError(`invalid option: shift must be finite and >= 0, got ${shift}`);
}

/** Factorisation shared by the solve and the inverse. */
interface ArrowFactor {
  /** Cholesky factors of the shifted blocks of D. */
  ld: Float64Array;
  /** E = D⁻¹B, m×k. */
  e: Float64Array;
  /** Cholesky factor of S = C + shift·I − BᵀE. */
  ls: Float64Array;
}

/** Solves D_j X = Y in place for the s rows of block j of a row-major m×w matrix y. */
function blockSolveRows(l: Float64Array, lOff: number, s: number, y: Float64Array, row0: number, w: number): void {
  // forward: L Z = Y
  for (let i = 0; i < s; i++) {
    const yi = (row0 + i) * w;
    for (let p = 0; p < i; p++) {
      const lip = l[lOff + i * s + p];
      if (lip === 0) continue;
      const yp = (row0 + p) * w;
      for (let c = 0; c < w; c++) y[yi + c] -= lip * y[yp + c];
    }
    const inv = 1 / l[lOff + i * s + i];
    for (let c = 0; c < w; c++) y[yi + c] *= inv;
  }
  // backward: Lᵀ X = Z
  for (let i = s - 1; i >= 0; i--) {
    const yi = (row0 + i) * w;
    const inv = 1 / l[lOff + i * s + i];
    for (let c = 0; c < w; c++) y[yi + c] *= inv;
    for (let p = 0; p < i; p++) {
      const lip = l[lOff + i * s + p];
      if (lip === 0) continue;
      const yp = (row0 + p) * w;
      for (let c = 0; c < w; c++) y[yp + c] -= lip * y[yi + c];
    }
  }
}

function factorArrow(sys: ArrowMatrix, shift: number): ArrowFactor | undefined {
  const { nBlocks, blockSize: s, k } = sys;
  const s2 = s * s;
  const ld = Float64Array.from(sys.d);
  const block = new Float64Array(s2);
  for (let j = 0; j < nBlocks; j++) {
    for (let q = 0; q < s2; q++) block[q] = ld[j * s2 + q];
    for (let q = 0; q < s; q++) block[q * s + q] += shift;
    if (!choleskyFactorKernel(block, s)) return undefined;
    ld.set(block, j * s2);
  }
  const e = Float64Array.from(sys.b);
  if (k > 0) for (let j = 0; j < nBlocks; j++) blockSolveRows(ld, j * s2, s, e, j * s, k);
  // S = C + shift I − Bᵀ E (symmetric; accumulate the lower triangle)
  const ls = Float64Array.from(sys.c);
  const m = nBlocks * s;
  for (let i = 0; i < m; i++) {
    const ri = i * k;
    for (let a = 0; a < k; a++) {
      const bia = sys.b[ri + a];
      if (bia === 0) continue;
      const ra = a * k;
      for (let c = 0; c <= a; c++) ls[ra + c] -= bia * e[ri + c];
    }
  }
  for (let a = 0; a < k; a++) {
    ls[a * k + a] += shift;
    for (let c = a + 1; c < k; c++) ls[a * k + c] = ls[c * k + a];
  }
  if (!choleskyFactorKernel(ls, k)) return undefined;
  return { ld, e, ls };
}

/**
 * Solves the arrow system (A + shift·I) x = r through the Schur complement S = C + shift·I − Bᵀ(D + shift·I)⁻¹B.
 *
 * @param sys - the arrow matrix A.
 * @param r - right-hand side, length m + k (the D part first).
 * @param options - see {@link ArrowSolveOptions}.
 * @returns the solution (length m + k), or undefined if a block of D or S is not positive definite.
 * @throws RangeError on inconsistent sizes or an invalid shift.
 */
export function arrowSolve(
  sys: ArrowMatrix,
  r: Float64Array,
  options: ArrowSolveOptions = {},
): Float64Array | undefined {
  validateArrow(sys);
  const shift = options.shift ?? 0;
  checkShift(shift);
  const m = sys.nBlocks * sys.blockSize;
  if (r.length !== m + sys.k)
    throw new RangeError(`invalid argument: r must have m+k = ${m + sys.k} elements, got ${r.length}`);
  const f = factorArrow(sys, shift);
  if (f === undefined) return undefined;
  return arrowSolveFactored(sys, f, r);
}

function arrowSolveFactored(sys: ArrowMatrix, f: ArrowFactor, r: Float64Array): Float64Array {
  const { nBlocks, blockSize: s, k } = sys;
  const m = nBlocks * s;
  const x = Float64Array.from(r);
  // y1 = D⁻¹ r1 (in x[0..m))
  for (let j = 0; j < nBlocks; j++) blockSolveRows(f.ld, j * s * s, s, x, j * s, 1);
  // x2 = S⁻¹ (r2 − Bᵀ y1)
  const x2 = x.subarray(m);
  for (let i = 0; i < m; i++) {
    const yi = x[i];
    if (yi === 0) continue;
    const ri = i * k;
    for (let a = 0; a < k; a++) x2[a] -= sys.b[ri + a] * yi;
  }
  choleskySolveInPlace(f.ls, k, x2);
  // x1 = y1 − E x2
  for (let i = 0; i < m; i++) {
    const ri = i * k;
    let t = 0;
    for (let a = 0; a < k; a++) t += f.e[ri + a] * x2[a];
    x[i] -= t;
  }
  return x;
}

/**
 * The arrow-shaped part of (A + shift·I)⁻¹: the diagonal blocks of its top-left part
 * ((D⁻¹ + E S⁻¹ Eᵀ) restricted to the blocks, E = D⁻¹B), its border (−E S⁻¹, m×k) and its corner S⁻¹. These are the
 * exact corresponding elements of the full inverse; only the elements coupling two different blocks are omitted. That
 * is all a variance–covariance propagation jᵀVj needs when each observation touches one block plus shared
 * parameters, and its diagonal gives the ESDs. Cost O(m·k² + m·s²·k).
 *
 * @param sys - the arrow matrix A.
 * @param options - see {@link ArrowSolveOptions}.
 * @returns the inverse's arrow part with the same layout as `sys`, or undefined if A + shift·I is not positive
 *   definite.
 * @throws RangeError on inconsistent sizes or an invalid shift.
 */
export function arrowInverse(sys: ArrowMatrix, options: ArrowSolveOptions = {}): ArrowMatrix | undefined {
  validateArrow(sys);
  const shift = options.shift ?? 0;
  checkShift(shift);
  const f = factorArrow(sys, shift);
  if (f === undefined) return undefined;
  const { nBlocks, blockSize: s, k } = sys;
  const m = nBlocks * s;
  const s2 = s * s;
  const sInv = choleskyInverseKernel(f.ls, k);
  // border = −E S⁻¹
  const border = new Float64Array(m * k);
  for (let i = 0; i < m; i++) {
    const ri = i * k;
    for (let a = 0; a < k; a++) {
      const eia = f.e[ri + a];
      if (eia === 0) continue;
      const ra = a * k;
      for (let c = 0; c < k; c++) border[ri + c] -= eia * sInv[ra + c];
    }
  }
  // diagonal blocks = D_j⁻¹ + E_j S⁻¹ E_jᵀ = D_j⁻¹ − E_j · border_jᵀ
  const d = new Float64Array(nBlocks * s2);
  const l = new Float64Array(s2);
  for (let j = 0; j < nBlocks; j++) {
    for (let q = 0; q < s2; q++) l[q] = f.ld[j * s2 + q];
    const dInv = choleskyInverseKernel(l, s);
    for (let p = 0; p < s; p++) {
      const rp = (j * s + p) * k;
      for (let q = 0; q < s; q++) {
        const rq = (j * s + q) * k;
        let t = 0;
        for (let a = 0; a < k; a++) t += f.e[rp + a] * border[rq + a];
        d[j * s2 + p * s + q] = dInv[p * s + q] - t;
      }
    }
  }
  return { nBlocks, blockSize: s, d, k, b: border, c: sInv };
}

/**
 * Expands an arrow matrix to a dense (m+k)×(m+k) row-major matrix (for tests and small problems).
 *
 * @param sys - the arrow matrix.
 * @returns the dense matrix, zero outside the arrow structure.
 * @throws RangeError on inconsistent sizes.
 */
export function arrowToDense(sys: ArrowMatrix): Float64Array {
  validateArrow(sys);
  const { nBlocks, blockSize: s, k } = sys;
  const m = nBlocks * s;
  const n = m + k;
  const a = new Float64Array(n * n);
  for (let j = 0; j < nBlocks; j++) {
    for (let p = 0; p < s; p++) {
      for (let q = 0; q < s; q++) a[(j * s + p) * n + j * s + q] = sys.d[j * s * s + p * s + q];
    }
  }
  for (let i = 0; i < m; i++) {
    for (let c = 0; c < k; c++) {
      const v = sys.b[i * k + c];
      a[i * n + m + c] = v;
      a[(m + c) * n + i] = v;
    }
  }
  for (let a1 = 0; a1 < k; a1++) {
    for (let c = 0; c < k; c++) a[(m + a1) * n + m + c] = sys.c[a1 * k + c];
  }
  return a;
}
