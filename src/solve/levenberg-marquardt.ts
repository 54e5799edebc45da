/**
 * Levenberg–Marquardt minimiser, following DIALS's `LevenbergMarquardtIterations._run_core`
 * (`dials/algorithms/refinement/engine.py`, after Madsen, Nielsen and Tingleff).
 *
 * @packageDocumentation
 */

import { RefinementFailure } from "../errors.ts";
import { rmsdOf } from "./least-squares-problem.ts";
import {
  checkMinimiserArguments,
  buildChecked,
  checkDegreesOfFreedom,
  checkParameters,
  checkProblem,
  diagonalElement,
  norm,
  refinementResult,
  reportIteration,
  resolveOptions,
  rmsdConverged,
  solveShifted,
} from "./minimiser-steps.ts";
import type {
  LeastSquaresProblem,
  NormalEquations,
  RefinementOptions,
  RefinementResult,
  StopReason,
} from "./least-squares-problem.ts";

/** DIALS `LevenbergMarquardtIterations.tau`: μ₀ = tau · max(diag N). */
const TAU = 1e-3;
/** DIALS gives up after consecutive rejections once ν has grown to this value. */
const NU_LIMIT = 8192;

/**
 * Minimises ½Σwr² with DIALS's Levenberg–Marquardt schedule:
 *
 * - ν = 2, μ = 1e-3·max(diag N); μ is added to the diagonal of N = JᵀWJ before every solve.
 * - Before each step: stop if the RMSD converged (|(rmsd[−2] − rmsd[−1]) / rmsd[−2]| < tol, or rmsd[−2] ≤ 0) or after
 *   `maxIterations` trial steps; stop ("objective_flat") when the expected decrease ½hᵀ(μh − g) is exactly 0.
 * - ρ = (f − f_new) / expected. If ρ > 0 the step is kept, μ ·= max(1/3, 1 − (2ρ − 1)³) and ν = 2; otherwise the
 *   step is undone and, unless ν ≥ 8192 ("damping_exhausted"), μ ·= ν and ν ·= 2.
 * - ESDs: V = χ²_red·(N + μI)⁻¹ from the last solve, χ²_red = Σwr² / (nEquations − nParameters).
 *
 * The problem is left at the returned parameters.
 *
 * @param problem - the least-squares problem; its current parameters are the starting point.
 * @param options - see {@link RefinementOptions}; `maxIterations` defaults to 100 as in DIALS.
 * @returns the refinement result.
 * @throws RefinementFailure if an element of the initial gradient is exactly 0 ("indeterminate" normal equations,
 *   naming the parameters), if there are fewer equations than parameters + 1, if N + μI is not positive definite, or
 *   if the objective, the normal equations or the parameters become non-finite (carrying the last good parameters).
 * @throws ConfigError on invalid options.
 */
export function levenbergMarquardt(problem: LeastSquaresProblem, options: RefinementOptions = {}): RefinementResult {
  checkMinimiserArguments(problem, options, "levenbergMarquardt");
  const opts = resolveOptions(options, 100);
  const t0 = performance.now();
  const n = problem.nParameters;
  let x = problem.getParameters();
  checkProblem(problem, x);

  let ne = buildChecked(problem, x);
  checkDeterminate(problem, ne, x);
  checkDegreesOfFreedom(ne, n, x);

  let maxDiag = -Infinity;
  for (let i = 0; i < n; i++) maxDiag = Math.max(maxDiag, diagonalElement(ne, i));
  let mu = TAU * maxDiag;
  let nu = 2;
  let nIterations = 0;
  const rmsdHistory: number[] = [];
  const objectiveHistory: number[] = [];
  let stopReason: StopReason;
  let lastSolve: { ne: NormalEquations; mu: number; factor: Float64Array | undefined };
  let stepNorm: number | undefined;

  for (;;) {
    const f = ne.objective;
    const g = ne.gradient;
    const solved = solveShifted(problem, ne, mu, x);
    lastSolve = { ne, mu, factor: solved.factor };
    rmsdHistory.push(rmsdOf(f, ne.nObservations));
    objectiveHistory.push(f);
    reportIteration(opts.onIteration, t0, nIterations, rmsdHistory[rmsdHistory.length - 1], f, stepNorm, mu);
    if (rmsdConverged(rmsdHistory, opts.rmsdTolerance)) {
      stopReason = "rmsd_converged";
      break;
    }
    if (nIterations === opts.maxIterations) {
      stopReason = "max_iterations";
      break;
    }
    const h = solved.step;
    let expected = 0;
    for (let i = 0; i < n; i++) expected += h[i] * (mu * h[i] - g[i]);
    expected *= 0.5;
    if (expected === 0) {
      stopReason = "objective_flat";
      break;
    }
    const xNew = new Float64Array(n);
    for (let i = 0; i < n; i++) xNew[i] = x[i] + h[i];
    checkParameters(problem, xNew, x);
    nIterations++;
    problem.setParameters(xNew);
    const fNew = problem.computeObjective().objective;
    if (!Number.isFinite(fNew)) {
      problem.setParameters(x);
      throw new RefinementFailure(`objective is ${fNew} after Levenberg-Marquardt step ${nIterations}`, x);
    }
    const rho = (f - fNew) / expected;
    if (rho > 0) {
      mu *= Math.max(1 / 3, 1 - (2 * rho - 1) ** 3);
      nu = 2;
      problem.afterAcceptedStep?.();
      const xOld = x;
      x = problem.getParameters();
      checkParameters(problem, x, xOld);
      stepNorm = norm(h);
      ne = buildChecked(problem, xOld);
    } else {
      // back to x, where the normal equations are those already built (DIALS rebuilds them; same values)
      problem.setParameters(x);
      if (nu >= NU_LIMIT) {
        // (DIALS also drops this journal row; it is kept here so that the history never loses the current point)
        stopReason = "damping_exhausted";
        break;
      }
      rmsdHistory.pop();
      objectiveHistory.pop();
      mu *= nu;
      nu *= 2;
    }
  }
  problem.setParameters(x);
  return refinementResult(problem, options, x, { nIterations, stopReason, rmsdHistory, objectiveHistory }, lastSolve);
}

/**
 * DIALS's early test for linear independence: every right-hand-side element must be non-zero.
 *
 * @throws RefinementFailure naming the parameters whose gradient element is exactly 0
 */
function checkDeterminate(problem: LeastSquaresProblem, ne: NormalEquations, x: Float64Array): void {
  const zero: string[] = [];
  const names = problem.parameterNames();
  for (let i = 0; i < problem.nParameters; i++) if (ne.gradient[i] === 0) zero.push(names[i] ?? `#${i}`);
  if (zero.length > 0) {
    throw new RefinementFailure(
      `the normal equations have an indeterminate solution; the problematic parameters are ${zero.join(", ")}`,
      x,
    );
  }
}
