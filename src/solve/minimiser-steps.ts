/**
 * What the minimisers share besides their step schedules (Levenberg–Marquardt, Gauss–Newton, LBFGS): option
 * validation, DIALS's RMSD convergence test, the checks on the problem, its parameters and its normal equations, the
 * damped solve (the problem's own solver or dense Cholesky), and the ESDs and variance–covariance matrix of the result.
 * Internal to the solvers; not re-exported from the package index.
 *
 * @packageDocumentation
 */
import {
  ConfigError,
  RefinementFailure,
  requireFunctionArgument,
  requireObjectArgument,
  requireOptionsArgument,
} from "../errors.ts";
import { choleskyFactorKernel, choleskyInverseKernel, choleskySolveInPlace } from "./cholesky.ts";
import type {
  IterationInfo,
  LeastSquaresProblem,
  NormalEquations,
  RefinementOptions,
  RefinementResult,
} from "./least-squares-problem.ts";

/** Above this order, a dense inverse for the ESDs is not attempted when the problem supplies its own solver. */
const DENSE_INVERSE_LIMIT = 8192;

/**
 * The result of a full-matrix minimiser (LM or GN): the final parameters, the history, and the ESDs and var-cov from
 * the last solve (`mu` = 0 for Gauss–Newton), unless `options.computeCovariance` is false.
 * @internal
 */
export function refinementResult(
  problem: LeastSquaresProblem,
  options: RefinementOptions,
  x: Float64Array,
  run: Pick<RefinementResult, "nIterations" | "stopReason" | "rmsdHistory" | "objectiveHistory">,
  lastSolve: { ne: NormalEquations; mu: number; factor: Float64Array | undefined },
): RefinementResult {
  const n = problem.nParameters;
  const { esds, varianceCovariance } =
    options.computeCovariance === false
      ? { esds: new Float64Array(n).fill(Number.NaN), varianceCovariance: new Float64Array(0) }
      : varianceCovarianceOf(problem, lastSolve.ne, lastSolve.mu, lastSolve.factor);
  return {
    parameters: Float64Array.from(x),
    ...run,
    converged: run.stopReason === "rmsd_converged",
    esds,
    varianceCovariance,
  };
}

/** Options with defaults applied. @internal */
export interface ResolvedOptions {
  maxIterations: number;
  rmsdTolerance: number;
  onIteration: RefinementOptions["onIteration"];
}

/**
 * Checks the arguments of the minimiser `fn` once: `problem` an object with the {@link LeastSquaresProblem} methods
 * `methods`, `options` undefined or an object. @internal
 */
export function checkMinimiserArguments(
  problem: unknown,
  options: unknown,
  fn: string,
  methods: readonly (keyof LeastSquaresProblem)[] = ["getParameters", "setParameters", "buildNormalEquations"],
): void {
  requireObjectArgument(problem, `${fn}: problem (a LeastSquaresProblem)`);
  for (const m of methods)
    requireFunctionArgument((problem as Record<string, unknown>)[m], `${fn}: problem.${m} (a LeastSquaresProblem)`);
  requireOptionsArgument(options, `${fn}: options`);
}

/** Validates the common options once. @internal */
export function resolveOptions(options: RefinementOptions, defaultMaxIterations: number): ResolvedOptions {
  const maxIterations = options.maxIterations ?? defaultMaxIterations;
  if (maxIterations !== Infinity && (!Number.isInteger(maxIterations) || maxIterations < 0)) {
    throw new ConfigError(`maxIterations must be a non-negative integer, got ${maxIterations}`);
  }
  const rmsdTolerance = options.rmsdTolerance ?? 1e-4;
  if (!Number.isFinite(rmsdTolerance) || rmsdTolerance < 0) {
    throw new ConfigError(`rmsdTolerance must be finite and >= 0, got ${rmsdTolerance}`);
  }
  return { maxIterations, rmsdTolerance, onIteration: options.onIteration };
}

/**
 * Hands one iteration's progress to `onIteration` (if any): `mu` only for Levenberg–Marquardt, `stepNorm` once a step
 * has been taken; `seconds` since `t0` (a `performance.now()` time). @internal
 */
export function reportIteration(
  onIteration: RefinementOptions["onIteration"],
  t0: number,
  iteration: number,
  rmsd: number,
  objective: number,
  stepNorm: number | undefined,
  mu?: number,
): void {
  if (onIteration === undefined) return;
  const seconds = (performance.now() - t0) / 1000;
  const info: IterationInfo =
    mu === undefined ? { iteration, rmsd, objective, seconds } : { iteration, rmsd, objective, mu, seconds };
  onIteration(stepNorm === undefined ? info : { ...info, stepNorm });
}

/** DIALS `ScalingRefinery.test_rmsd_convergence`. @internal */
export function rmsdConverged(history: readonly number[], tolerance: number): boolean {
  if (history.length < 2) return false;
  const r1 = history[history.length - 1];
  const r2 = history[history.length - 2];
  if (r2 > 0) return Math.abs((r2 - r1) / r2) < tolerance;
  return true;
}

/** Euclidean norm. @internal */
export function norm(v: Float64Array): number {
  let s = 0;
  for (const e of v) s += e * e;
  return Math.sqrt(s);
}

/** Checks the problem's size against its parameter vector and that the vector is finite. @internal */
export function checkProblem(problem: LeastSquaresProblem, x: Float64Array): void {
  const n = problem.nParameters;
  if (!Number.isInteger(n) || n < 1) throw new RefinementFailure(`no parameters to refine (nParameters = ${n})`);
  if (x.length !== n) throw new RefinementFailure(`getParameters() returned ${x.length} values for ${n} parameters`);
  checkParameters(problem, x);
}

/** Throws {@link RefinementFailure} if `x` has a non-finite element. @internal */
export function checkParameters(problem: LeastSquaresProblem, x: Float64Array, lastGood?: Float64Array): void {
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i])) {
      const name = problem.parameterNames()[i] ?? `#${i}`;
      throw new RefinementFailure(
        `parameter ${name} is ${x[i]}`,
        lastGood === undefined ? undefined : Float64Array.from(lastGood),
      );
    }
  }
}

/**
 * Builds the normal equations at the current parameters and checks they are finite; a failure carries `lastGood`.
 * @internal
 */
export function buildChecked(problem: LeastSquaresProblem, lastGood: Float64Array): NormalEquations {
  const x = lastGood;
  const ne = problem.buildNormalEquations();
  const n = problem.nParameters;
  const matrixFree = ne.operator !== undefined && problem.solveDamped !== undefined;
  const matrixLength = matrixFree ? (ne.operator?.diagonal.length ?? 0) : ne.matrix.length;
  if (ne.n !== n || matrixLength !== (matrixFree ? n : n * n) || ne.gradient.length !== n) {
    throw new RefinementFailure(
      `normal equations have order ${ne.n} (matrix ${ne.matrix.length}, gradient ${ne.gradient.length}) for ${n} parameters`,
      x,
    );
  }
  if (!Number.isFinite(ne.objective)) throw new RefinementFailure(`objective is ${ne.objective}`, Float64Array.from(x));
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(ne.gradient[i])) {
      throw new RefinementFailure(
        `gradient of ${problem.parameterNames()[i] ?? `#${i}`} is ${ne.gradient[i]}`,
        Float64Array.from(x),
      );
    }
  }
  for (let i = 0; i < n; i++) {
    if (matrixFree && !Number.isFinite(diagonalElement(ne, i))) {
      throw new RefinementFailure(
        `normal matrix element (${i}, ${i}) is ${diagonalElement(ne, i)}`,
        Float64Array.from(x),
      );
    }
  }
  for (let i = 0; i < ne.matrix.length; i++) {
    if (!Number.isFinite(ne.matrix[i])) {
      throw new RefinementFailure(
        `normal matrix element (${Math.floor(i / n)}, ${i % n}) is ${ne.matrix[i]}`,
        Float64Array.from(x),
      );
    }
  }
  return ne;
}

/** Diagonal element i of the normal matrix (dense or operator form). @internal */
export function diagonalElement(ne: NormalEquations, i: number): number {
  return ne.operator === undefined ? ne.matrix[i * ne.n + i] : ne.operator.diagonal[i];
}

/** DIALS returns early when nEquations − nParameters < 1; here that is a failure. @internal */
export function checkDegreesOfFreedom(ne: NormalEquations, n: number, x: Float64Array): void {
  if (ne.nEquations - n < 1) {
    throw new RefinementFailure(
      `not enough degrees of freedom to refine: ${ne.nEquations} equations for ${n} parameters`,
      Float64Array.from(x),
    );
  }
}

/**
 * Solves (N + mu·I) h = −gradient with the problem's own solver when it has one, else by dense Cholesky (whose
 * factor is returned for the ESDs). @internal
 */
export function solveShifted(
  problem: LeastSquaresProblem,
  ne: NormalEquations,
  mu: number,
  x: Float64Array,
): { step: Float64Array; factor: Float64Array | undefined } {
  const n = problem.nParameters;
  const rhs = new Float64Array(n);
  for (let i = 0; i < n; i++) rhs[i] = -ne.gradient[i];
  if (problem.solveDamped !== undefined) {
    const h = problem.solveDamped(ne, mu, rhs);
    if (h?.length !== n)
      throw new RefinementFailure(`the normal matrix (damping ${mu}) is not positive definite`, Float64Array.from(x));
    checkParameters(problem, h, x);
    return { step: h, factor: undefined };
  }
  const l = Float64Array.from(ne.matrix);
  for (let i = 0; i < n; i++) l[i * n + i] += mu;
  if (!choleskyFactorKernel(l, n)) {
    throw new RefinementFailure(`the normal matrix (damping ${mu}) is not positive definite`, Float64Array.from(x));
  }
  choleskySolveInPlace(l, n, rhs);
  checkParameters(problem, rhs, x);
  return { step: rhs, factor: l };
}

/**
 * V = χ²_red·(N + mu·I)⁻¹ with χ²_red = Σwr² / (nEquations − nParameters), and the ESDs √diag V. NaN-filled when the
 * inverse is unavailable (a problem with its own solver but no `inverseDamped`, too large to invert densely).
 * @internal
 */
export function varianceCovarianceOf(
  problem: LeastSquaresProblem,
  ne: NormalEquations,
  mu: number,
  factor: Float64Array | undefined,
): { esds: Float64Array; varianceCovariance: Float64Array } {
  const n = problem.nParameters;
  const chi2 = (2 * ne.objective) / (ne.nEquations - n);
  let inv: Float64Array | undefined;
  if (factor !== undefined) {
    inv = choleskyInverseKernel(factor, n);
  } else if (problem.inverseDamped !== undefined) {
    inv = problem.inverseDamped(ne, mu);
  } else if (n <= DENSE_INVERSE_LIMIT && ne.matrix.length === n * n) {
    const l = Float64Array.from(ne.matrix);
    for (let i = 0; i < n; i++) l[i * n + i] += mu;
    if (choleskyFactorKernel(l, n)) inv = choleskyInverseKernel(l, n);
  }
  const esds = new Float64Array(n).fill(Number.NaN);
  if (inv?.length !== n * n) {
    return {
      esds,
      varianceCovariance: n <= DENSE_INVERSE_LIMIT ? new Float64Array(n * n).fill(Number.NaN) : new Float64Array(0),
    };
  }
  const v = new Float64Array(n * n);
  for (let i = 0; i < n * n; i++) v[i] = chi2 * inv[i];
  for (let i = 0; i < n; i++) {
    const d = v[i * n + i];
    esds[i] = d >= 0 ? Math.sqrt(d) : Number.NaN;
  }
  return { esds, varianceCovariance: v };
}
