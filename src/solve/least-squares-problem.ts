/**
 * The contract between a least-squares target (the DIALS scaling target, an error-model target, a test problem) and
 * the minimisers of `src/solve` ({@link levenbergMarquardt}, {@link gaussNewton}, {@link lbfgs}).
 *
 * A problem owns its parameter vector; the minimisers read it with `getParameters`, move it with `setParameters` and
 * ask for the normal equations, the objective or the functional and gradient at the current parameters.
 *
 * @packageDocumentation
 */

/**
 * Normal equations of a weighted least-squares problem at the current parameters, in DIALS's `lstbx` convention.
 * Restraints enter as extra rows (residual p_k, Jacobian the unit vector, weight λ_k).
 */
export interface NormalEquations {
  /** Number of parameters (rows and columns of {@link NormalEquations.matrix}). */
  n: number;
  /**
   * JᵀWJ, n×n, row-major, both triangles filled, restraint rows included; length 0 when the problem is matrix-free
   * (then {@link NormalEquations.operator} is set).
   */
  matrix: Float64Array;
  /** The normal matrix as an operator, for matrix-free problems (which must implement `solveDamped`). */
  operator?: NormalOperator;
  /** JᵀWr, length n, where r is the unweighted residual and W the weights (the step solves N h = −gradient). */
  gradient: Float64Array;
  /** ½Σwr² including restraint rows. */
  objective: number;
  /** Number of observations (restraint rows excluded); used for the RMSD. */
  nObservations: number;
  /** Number of equations (observations plus restraint rows); used for the reduced χ². */
  nEquations: number;
}

/** A normal matrix given only through its products and its diagonal (matrix-free problems). */
export interface NormalOperator {
  /** The diagonal of the matrix, length n. */
  readonly diagonal: Float64Array;
  /** Writes matrix · x into `out` (both length n). */
  apply(x: Float64Array, out: Float64Array): void;
}

/**
 * A weighted least-squares problem the minimisers can drive. Parameters live inside the problem: every query is
 * evaluated at the parameters set last.
 */
export interface LeastSquaresProblem {
  /** Number of free parameters. */
  readonly nParameters: number;
  /** One name per parameter, in parameter order; used in error messages. */
  parameterNames(): readonly string[];
  /** A copy of the current parameter vector. */
  getParameters(): Float64Array;
  /** Sets the current parameter vector (the problem must copy it if it keeps it). */
  setParameters(x: Float64Array): void;
  /**
   * Builds the normal equations at the current parameters. The minimisers keep the returned arrays (unmodified) until
   * the next call, across calls of `computeObjective` and `setParameters`.
   */
  buildNormalEquations(): NormalEquations;
  /** ½Σwr² (plus restraints) at the current parameters, without building the matrix. */
  computeObjective(): { objective: number; nObservations: number };
  /** The L-BFGS functional f = Σwr² + Σλp² and its gradient with respect to the parameters. */
  computeFunctionalAndGradient(): { f: number; gradient: Float64Array };
  /**
   * Optional structure-aware solve of (N + mu·I) h = rhs; when absent the minimisers use dense Cholesky. It may
   * return undefined if the system is not positive definite. It may also provide the var-cov matrix.
   */
  solveDamped?(ne: NormalEquations, mu: number, rhs: Float64Array): Float64Array | undefined;
  /**
   * Optional variance–covariance helper for problems that implement {@link LeastSquaresProblem.solveDamped}: returns
   * (N + mu·I)⁻¹ (n×n, row-major). When absent the minimisers invert N + mu·I densely for the ESDs.
   */
  inverseDamped?(ne: NormalEquations, mu: number): Float64Array | undefined;
  /** Optional: called after every accepted step (e.g. to renormalise a gauge); must not change the objective. */
  afterAcceptedStep?(): void;
}

/** Progress report handed to {@link RefinementOptions.onIteration} once per iteration. */
export interface IterationInfo {
  /** Steps taken so far (0 at the starting point; LM counts rejected trials too). */
  iteration: number;
  /** RMSD at this iteration, `sqrt(2·objective / nObservations)`. */
  rmsd: number;
  /** ½Σwr² (GN/LM) or Σwr² (L-BFGS) at this iteration. */
  objective: number;
  /** LM damping μ used for the next solve. */
  mu?: number;
  /** Euclidean norm of the step just taken. */
  stepNorm?: number;
  /** Seconds since the minimiser started. */
  seconds: number;
}

/** Options shared by every minimiser. */
export interface RefinementOptions {
  /**
   * Maximum number of iterations.
   * @defaultValue 100 for Levenberg–Marquardt (as DIALS); unlimited for Gauss–Newton and L-BFGS
   */
  maxIterations?: number;
  /**
   * Relative RMSD change below which refinement has converged: |(rmsd[−2] − rmsd[−1]) / rmsd[−2]| < tol.
   * @defaultValue 1e-4
   */
  rmsdTolerance?: number;
  /**
   * Called once per iteration with progress information.
   * @defaultValue undefined (no callback)
   */
  onIteration?: (info: IterationInfo) => void;
  /**
   * Whether to compute the variance–covariance matrix and ESDs at the end (LM/GN; a dense inverse, n³). When false,
   * `esds` are NaN and `varianceCovariance` is empty.
   * @defaultValue true
   */
  computeCovariance?: boolean;
}

/**
 * Why a minimiser stopped: "rmsd_converged" (the only "converged" outcome), "max_iterations", "objective_flat" (LM:
 * expected decrease exactly 0; L-BFGS: rounding errors prevent further progress), "damping_exhausted" (LM: a step was
 * rejected with ν ≥ 8192), "objective_increased" (GN: the last step was undone), "gradient_small" (L-BFGS:
 * ‖g‖ ≤ 1e-5·max(1, ‖x‖)).
 */
export type StopReason =
  | "rmsd_converged"
  | "max_iterations"
  | "objective_flat"
  | "damping_exhausted"
  | "objective_increased"
  | "gradient_small";

/** Outcome of a refinement. The problem is left at {@link RefinementResult.parameters}. */
export interface RefinementResult {
  /** Final parameter vector. */
  parameters: Float64Array;
  /** Number of iterations: trial steps taken (LM counts rejected trials too, as DIALS), or L-BFGS iterations. */
  nIterations: number;
  /** True only if the RMSD criterion was met. */
  converged: boolean;
  /** Why the minimiser stopped. */
  stopReason: StopReason;
  /** RMSD at the starting point and after each accepted step (DIALS's journal). */
  rmsdHistory: number[];
  /** Objective at the starting point and after each accepted step: ½Σwr² (LM/GN) or Σwr² + Σλp² (L-BFGS). */
  objectiveHistory: number[];
  /** Estimated standard deviations, √diag(V); NaN where V is unavailable (always for L-BFGS). */
  esds: Float64Array;
  /**
   * Variance–covariance matrix V = χ²_red·(N + μI)⁻¹ (n×n, row-major); NaN-filled where unavailable (always for
   * L-BFGS). When the problem solves with `solveDamped`, V comes from `inverseDamped`, else from a dense inverse if
   * n ≤ 8192; above that, without `inverseDamped`, it is empty (length 0).
   */
  varianceCovariance: Float64Array;
}

/**
 * The RMSD DIALS reports for a least-squares objective: `sqrt(2·objective / nObservations)`.
 *
 * @param objective - ½Σwr² (restraints included).
 * @param nObservations - number of observations (restraint rows excluded).
 * @returns the RMSD, or NaN when `nObservations` is not positive.
 */
export function rmsdOf(objective: number, nObservations: number): number {
  if (!(nObservations > 0)) return Number.NaN;
  return Math.sqrt((2 * objective) / nObservations);
}
