/**
 * Preconditioned conjugate gradients for symmetric positive-definite systems A x = b given only through a
 * matrix–vector product, with a diagonal (Jacobi) or block-diagonal (block Jacobi) preconditioner.
 *
 * @packageDocumentation
 */

import { ConfigError, requireFunctionArgument, requireInstanceArgument, requireOptionsArgument } from "../errors.ts";
import { choleskyFactorKernel, choleskySolveInPlace } from "./cholesky.ts";

/** Jacobi preconditioner: M = diag(diagonal). */
export interface DiagonalPreconditioner {
  /** Discriminant. */
  kind: "diagonal";
  /** The diagonal of M (normally the diagonal of A), all elements positive; length n. */
  diagonal: Float64Array;
}

/** Block-Jacobi preconditioner: M = blockdiag(blocks); n must be a multiple of the block size. */
export interface BlockPreconditioner {
  /** Discriminant. */
  kind: "block";
  /** Order s of every block. */
  blockSize: number;
  /** The blocks (normally the diagonal blocks of A), block j at offset j·s², row-major, SPD; length (n/s)·s². */
  blocks: Float64Array;
}

/** A caller-supplied preconditioner: writes z = M⁻¹ r. */
export interface CustomPreconditioner {
  /** Discriminant. */
  kind: "custom";
  /** Applies M⁻¹ to `r`, writing the result into `z` (same length). */
  apply: (r: Float64Array, z: Float64Array) => void;
}

/** Any preconditioner accepted by {@link conjugateGradient}. */
export type Preconditioner = DiagonalPreconditioner | BlockPreconditioner | CustomPreconditioner;

/** Options of {@link conjugateGradient}. */
export interface ConjugateGradientOptions {
  /**
   * Stop when ‖b − A x‖ ≤ tolerance · ‖b‖ (the recursively updated residual).
   * @defaultValue 1e-10
   */
  tolerance?: number;
  /**
   * Maximum number of iterations.
   * @defaultValue 10·n
   */
  maxIterations?: number;
  /**
   * Preconditioner.
   * @defaultValue undefined (none: M = I)
   */
  preconditioner?: Preconditioner;
  /**
   * Starting point (copied).
   * @defaultValue zero vector
   */
  x0?: Float64Array;
}

/** Outcome of {@link conjugateGradient}. */
export interface ConjugateGradientResult {
  /** The approximate solution. */
  x: Float64Array;
  /** Number of iterations performed (matrix–vector products after the initial residual). */
  iterations: number;
  /** Final relative residual ‖b − A x‖ / ‖b‖ (recursively updated; 0 when b = 0). */
  relativeResidual: number;
  /** Whether the tolerance was reached. */
  converged: boolean;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function makeApply(p: Preconditioner | undefined, n: number): (r: Float64Array, z: Float64Array) => void {
  if (p === undefined) {
    return (r, z) => {
      z.set(r);
    };
  }
  switch (p.kind) {
    case "diagonal": {
      if (p.diagonal.length !== n) {
        throw new ConfigError(
          `invalid option: preconditioner.diagonal must have n = ${n} elements, got ${p.diagonal.length}`,
        );
      }
      const inv = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const v = p.diagonal[i];
        if (!(v > 0) || !Number.isFinite(v)) {
          throw new ConfigError(`invalid option: preconditioner.diagonal[${i}] must be positive and finite, got ${v}`);
        }
        inv[i] = 1 / v;
      }
      return (r, z) => {
        for (let i = 0; i < n; i++) z[i] = r[i] * inv[i];
      };
    }
    case "block": {
      const s = p.blockSize;
      if (!Number.isInteger(s) || s < 1 || n % s !== 0) {
        throw new ConfigError(
          `invalid option: preconditioner.blockSize must be a positive divisor of n = ${n}, got ${s}`,
        );
      }
      const nb = n / s;
      const s2 = s * s;
      if (p.blocks.length !== nb * s2) {
        throw new ConfigError(
          `invalid option: preconditioner.blocks must have ${nb * s2} elements, got ${p.blocks.length}`,
        );
      }
      const factors = Float64Array.from(p.blocks);
      for (let j = 0; j < nb; j++) {
        if (!choleskyFactorKernel(factors.subarray(j * s2, (j + 1) * s2), s)) {
          throw new ConfigError(`invalid option: preconditioner block ${j} is not positive definite`);
        }
      }
      return (r, z) => {
        z.set(r);
        for (let j = 0; j < nb; j++)
          choleskySolveInPlace(factors.subarray(j * s2, (j + 1) * s2), s, z.subarray(j * s, (j + 1) * s));
      };
    }
    case "custom":
      requireFunctionArgument(p.apply, "conjugateGradient: options.preconditioner.apply");
      return p.apply;
    default:
      throw new ConfigError(
        `conjugateGradient: options.preconditioner.kind must be "diagonal", "block" or "custom", got ${JSON.stringify((p as { kind: unknown }).kind)}`,
      );
  }
}

/**
 * Solves A x = b for symmetric positive-definite A by preconditioned conjugate gradients.
 *
 * @param matvec - writes A·x into `out` (both length n); must not keep references to its arguments.
 * @param b - right-hand side, length n.
 * @param options - see {@link ConjugateGradientOptions}.
 * @returns the solution, the iteration count and the final relative residual.
 * @throws ConfigError on invalid options (tolerance, maxIterations, preconditioner shape, x0 length).
 */
export function conjugateGradient(
  matvec: (x: Float64Array, out: Float64Array) => void,
  b: Float64Array,
  options: ConjugateGradientOptions = {},
): ConjugateGradientResult {
  requireFunctionArgument(matvec, "conjugateGradient: matvec");
  requireInstanceArgument(b, Float64Array, "conjugateGradient: b");
  requireOptionsArgument(options, "conjugateGradient: options");
  requireOptionsArgument(options.preconditioner, "conjugateGradient: options.preconditioner");
  const n = b.length;
  const tol = options.tolerance ?? 1e-10;
  if (!(tol >= 0) || !Number.isFinite(tol))
    throw new ConfigError(`invalid option: tolerance must be finite and >= 0, got ${tol}`);
  const maxIt = options.maxIterations ?? 10 * n;
  if (!Number.isInteger(maxIt) || maxIt < 0) {
    throw new ConfigError(`invalid option: maxIterations must be a non-negative integer, got ${maxIt}`);
  }
  if (options.x0 !== undefined && options.x0.length !== n) {
    throw new ConfigError(`invalid option: x0 must have n = ${n} elements, got ${options.x0.length}`);
  }
  const apply = makeApply(options.preconditioner, n);

  const x = options.x0 === undefined ? new Float64Array(n) : Float64Array.from(options.x0);
  const r = Float64Array.from(b);
  const ap = new Float64Array(n);
  if (options.x0 !== undefined) {
    matvec(x, ap);
    for (let i = 0; i < n; i++) r[i] -= ap[i];
  }
  const bNorm = Math.sqrt(dot(b, b));
  if (bNorm === 0) return { x: new Float64Array(n), iterations: 0, relativeResidual: 0, converged: true };
  const stop = tol * bNorm;
  let rNorm = Math.sqrt(dot(r, r));
  if (rNorm <= stop) return { x, iterations: 0, relativeResidual: rNorm / bNorm, converged: true };

  const z = new Float64Array(n);
  apply(r, z);
  const p = Float64Array.from(z);
  let rz = dot(r, z);
  let it = 0;
  while (it < maxIt) {
    matvec(p, ap);
    const pap = dot(p, ap);
    // breakdown: A not positive definite along p, or p vanished
    if (!(pap > 0)) break;
    const alpha = rz / pap;
    for (let i = 0; i < n; i++) {
      x[i] += alpha * p[i];
      r[i] -= alpha * ap[i];
    }
    it++;
    rNorm = Math.sqrt(dot(r, r));
    if (rNorm <= stop) break;
    apply(r, z);
    const rzNew = dot(r, z);
    const beta = rzNew / rz;
    rz = rzNew;
    for (let i = 0; i < n; i++) p[i] = z[i] + beta * p[i];
  }
  return { x, iterations: it, relativeResidual: rNorm / bNorm, converged: rNorm <= stop };
}
