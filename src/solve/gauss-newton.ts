/**
 * Gauss–Newton minimiser, following DIALS's `GaussNewtonIterations.run` (`dials/algorithms/refinement/engine.py`).
 *
 * @packageDocumentation
 */

import { rmsdOf } from "./least-squares-problem.ts";
import type {
  LeastSquaresProblem,
  NormalEquations,
  RefinementOptions,
  RefinementResult,
  StopReason,
} from "./least-squares-problem.ts";
import {
  checkMinimiserArguments,
  buildChecked,
  checkDegreesOfFreedom,
  checkParameters,
  checkProblem,
  norm,
  resolveOptions,
  rmsdConverged,
  solveShifted,
  refinementResult,
  reportIteration,
} from "./minimiser-steps.ts";

/**
 * Minimises ½Σwr² by undamped Gauss–Newton steps N h = −JᵀWr (N = JᵀWJ, dense Cholesky unless the problem supplies
 * `solveDamped`, which is then called with μ = 0). After each solve the checks run in DIALS's order:
 *
 * 1. RMSD convergence, |(rmsd[−2] − rmsd[−1]) / rmsd[−2]| < tol (or rmsd[−2] ≤ 0) → "rmsd_converged";
 * 2. the objective increased → the last step is undone → "objective_increased";
 * 3. `maxIterations` steps taken → "max_iterations";
 * 4. otherwise step and rebuild.
 *
 * ESDs: V = χ²_red·N⁻¹ at the returned parameters, χ²_red = Σwr² / (nEquations − nParameters). (DIALS keeps the
 * factor of the last solve, which after "objective_increased" belongs to the rejected point; here N is rebuilt at
 * the restored parameters.) The problem is left at the returned parameters.
 *
 * @param problem - the least-squares problem; its current parameters are the starting point.
 * @param options - see {@link RefinementOptions}; `maxIterations` is unlimited when undefined, as DIALS's scaling
 *   refinery passes None.
 * @returns the refinement result.
 * @throws RefinementFailure if N is not positive definite, if there are fewer equations than parameters + 1, or if
 *   the objective, the normal equations or the parameters become non-finite (carrying the last good parameters).
 * @throws ConfigError on invalid options.
 */
export function gaussNewton(problem: LeastSquaresProblem, options: RefinementOptions = {}): RefinementResult {
  checkMinimiserArguments(problem, options, "gaussNewton");
  const opts = resolveOptions(options, Infinity);
  const t0 = performance.now();
  const n = problem.nParameters;
  let x = problem.getParameters();
  checkProblem(problem, x);
  let ne = buildChecked(problem, x);
  checkDegreesOfFreedom(ne, n, x);

  let xOld: Float64Array | undefined;
  let nIterations = 0;
  const rmsdHistory: number[] = [];
  const objectiveHistory: number[] = [];
  let stopReason: StopReason;
  let last: { ne: NormalEquations; factor: Float64Array | undefined };
  let stepNorm: number | undefined;

  for (;;) {
    const solved = solveShifted(problem, ne, 0, x);
    last = { ne, factor: solved.factor };
    rmsdHistory.push(rmsdOf(ne.objective, ne.nObservations));
    objectiveHistory.push(ne.objective);
    reportIteration(opts.onIteration, t0, nIterations, rmsdHistory[rmsdHistory.length - 1], ne.objective, stepNorm);
    if (rmsdConverged(rmsdHistory, opts.rmsdTolerance)) {
      stopReason = "rmsd_converged";
      break;
    }
    const k = objectiveHistory.length;
    if (k >= 2 && objectiveHistory[k - 1] > objectiveHistory[k - 2]) {
      stopReason = "objective_increased";
      if (xOld !== undefined) {
        x = xOld;
        problem.setParameters(x);
        const neBack = buildChecked(problem, x);
        last = { ne: neBack, factor: solveShifted(problem, neBack, 0, x).factor };
      }
      break;
    }
    if (nIterations === opts.maxIterations) {
      stopReason = "max_iterations";
      break;
    }
    const h = solved.step;
    const xNew = new Float64Array(n);
    for (let i = 0; i < n; i++) xNew[i] = x[i] + h[i];
    checkParameters(problem, xNew, x);
    xOld = x;
    problem.setParameters(xNew);
    problem.afterAcceptedStep?.();
    x = problem.getParameters();
    checkParameters(problem, x, xOld);
    stepNorm = norm(h);
    nIterations++;
    ne = buildChecked(problem, xOld);
  }
  problem.setParameters(x);
  return refinementResult(
    problem,
    options,
    x,
    { nIterations, stopReason, rmsdHistory, objectiveHistory },
    { ne: last.ne, mu: 0, factor: last.factor },
  );
}
