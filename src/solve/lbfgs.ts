/**
 * Limited-memory BFGS minimiser (Nocedal's `lbfgs.f` as ported in `scitbx/lbfgs.h`) with the Moré–Thuente line
 * search, driven the way DIALS's `SimpleLBFGS` refinery drives `scitbx.lbfgs.run`.
 *
 * @packageDocumentation
 */

import { ConfigError, RefinementFailure } from "../errors.ts";
import { rmsdOf } from "./least-squares-problem.ts";
import type { LeastSquaresProblem, RefinementOptions, RefinementResult, StopReason } from "./least-squares-problem.ts";
import {
  checkMinimiserArguments,
  checkParameters,
  checkProblem,
  norm,
  reportIteration,
  resolveOptions,
  rmsdConverged,
} from "./minimiser-steps.ts";
import { moreThuenteLineSearch } from "./more-thuente.ts";
import type { LineSearchOptions } from "./more-thuente.ts";

/** Options of {@link lbfgs}: the common ones plus the L-BFGS settings (scitbx defaults). */
export interface LbfgsOptions extends RefinementOptions {
  /**
   * Curvature tolerance of the line search.
   * @defaultValue 0.9
   */
  gtol?: number;
  /**
   * Number of correction pairs kept.
   * @defaultValue 5
   */
  m?: number;
}

/** scitbx `traditional_convergence_test` eps. */
const TRADITIONAL_EPS = 1e-5;
/** scitbx core parameters other than gtol and m. */
const LINE_SEARCH: Readonly<LineSearchOptions> = { ftol: 1e-4, xtol: 1e-16, stpmin: 1e-20, stpmax: 1e20, maxfev: 20 };

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** The limited-memory inverse Hessian H: the last m correction pairs (s, y) in a ring buffer, as scitbx keeps them. */
class LbfgsMemory {
  private readonly sStore: Float64Array;
  private readonly yStore: Float64Array;
  private readonly rhoStore: Float64Array;
  private readonly alpha: Float64Array;
  private stored = 0;
  private point = 0;
  private yy = 1;
  private ys = 1;

  /**
   * @param n - number of parameters
   * @param m - number of correction pairs kept
   */
  private readonly n: number;
  private readonly m: number;

  constructor(n: number, m: number) {
    this.n = n;
    this.m = m;
    this.sStore = new Float64Array(m * n);
    this.yStore = new Float64Array(m * n);
    this.rhoStore = new Float64Array(m);
    this.alpha = new Float64Array(m);
  }

  /** The search direction d = −H g by the two-loop recursion (H = I with no pairs stored). */
  direction(g: Float64Array, d: Float64Array): void {
    const { n, m, sStore, yStore, rhoStore, alpha } = this;
    for (let i = 0; i < n; i++) d[i] = -g[i];
    if (this.stored > 0) {
      let cp = this.point;
      for (let k = 0; k < this.stored; k++) {
        cp = (cp + m - 1) % m;
        const a = rhoStore[cp] * dot(sStore.subarray(cp * n, (cp + 1) * n), d);
        alpha[cp] = a;
        const yo = cp * n;
        for (let i = 0; i < n; i++) d[i] -= a * yStore[yo + i];
      }
      const h0 = this.ys / this.yy;
      for (let i = 0; i < n; i++) d[i] *= h0;
      for (let k = 0; k < this.stored; k++) {
        const beta = rhoStore[cp] * dot(yStore.subarray(cp * n, (cp + 1) * n), d);
        const so = cp * n;
        const c = alpha[cp] - beta;
        for (let i = 0; i < n; i++) d[i] += c * sStore[so + i];
        cp = (cp + 1) % m;
      }
    }
  }

  /** Store the correction pair s = stp·d, y = gNew − g, replacing the oldest when m are stored. */
  push(stp: number, d: Float64Array, gNew: Float64Array, g: Float64Array): void {
    const { n, sStore, yStore } = this;
    const so = this.point * n;
    for (let i = 0; i < n; i++) {
      sStore[so + i] = stp * d[i];
      yStore[so + i] = gNew[i] - g[i];
    }
    const sy = dot(sStore.subarray(so, so + n), yStore.subarray(so, so + n));
    this.yy = dot(yStore.subarray(so, so + n), yStore.subarray(so, so + n));
    this.ys = sy;
    this.rhoStore[this.point] = 1 / sy;
    this.point = (this.point + 1) % this.m;
    this.stored = Math.min(this.stored + 1, this.m);
  }

  /** Forget the stored pairs (the next direction is −g). */
  clear(): void {
    this.stored = 0;
  }
}

/** Evaluates f and g at trial points, checks they are finite, and keeps the point with the lowest f seen. */
class BestPoint {
  /** The lowest f seen. */
  fMin = Infinity;
  /** The parameters of the lowest f seen (the starting point until one is evaluated). */
  xMin: Float64Array;
  private readonly problem: LeastSquaresProblem;

  constructor(problem: LeastSquaresProblem, x0: Float64Array) {
    this.problem = problem;
    this.xMin = Float64Array.from(x0);
  }

  /**
   * f and g at `xt` (the problem is left there).
   *
   * @throws RefinementFailure when `xt`, f or g is not finite (the problem is reset to the best point)
   */
  evaluate(xt: Float64Array): { f: number; gradient: Float64Array } {
    const problem = this.problem;
    const n = problem.nParameters;
    checkParameters(problem, xt, this.xMin);
    problem.setParameters(xt);
    const r = problem.computeFunctionalAndGradient();
    if (!Number.isFinite(r.f)) {
      problem.setParameters(this.xMin);
      throw new RefinementFailure(`functional is ${r.f}`, Float64Array.from(this.xMin));
    }
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(r.gradient[i])) {
        problem.setParameters(this.xMin);
        throw new RefinementFailure(
          `gradient of ${problem.parameterNames()[i] ?? `#${i}`} is ${r.gradient[i]}`,
          Float64Array.from(this.xMin),
        );
      }
    }
    if (r.f < this.fMin) {
      this.fMin = r.f;
      this.xMin = Float64Array.from(xt);
    }
    return r;
  }
}

/** The result at `x`: L-BFGS gives no ESDs, so `esds` and `varianceCovariance` are NaN-filled. */
function lbfgsResult(
  x: Float64Array,
  stopReason: StopReason,
  nIterations: number,
  rmsdHistory: number[],
  objectiveHistory: number[],
): RefinementResult {
  const n = x.length;
  return {
    parameters: Float64Array.from(x),
    nIterations,
    converged: stopReason === "rmsd_converged",
    stopReason,
    rmsdHistory,
    objectiveHistory,
    esds: new Float64Array(n).fill(Number.NaN),
    varianceCovariance: new Float64Array(n * n).fill(Number.NaN),
  };
}

/**
 * Minimises f = Σwr² + Σλp² with L-BFGS: m correction pairs, initial inverse Hessian (yᵀs / yᵀy)·I, first step
 * length 1/‖g‖ and 1 afterwards, Moré–Thuente line search (maxfev 20, ftol 1e-4, xtol 1e-16, stpmin 1e-20,
 * stpmax 1e20). After each completed iteration the checks run in scitbx's order:
 *
 * 1. RMSD convergence over the iterations completed so far (as DIALS, whose journal starts after the first
 *    iteration; the RMSD is √(f / nObservations)) → "rmsd_converged";
 * 2. ‖g‖ ≤ 1e-5·max(1, ‖x‖) → "gradient_small";
 * 3. `maxIterations` completed → "max_iterations".
 *
 * A line-search failure resets the parameters to the lowest f seen. "Rounding errors prevent further progress" is
 * accepted silently, as in scitbx (stopReason "objective_flat"); a step at the lower bound or a non-descent direction
 * is accepted when the gradient test passes ("gradient_small"); any other failure throws. L-BFGS gives no ESDs:
 * `esds` and `varianceCovariance` are NaN-filled. `afterAcceptedStep` is called after every completed iteration; if it
 * moves the parameters, f and g are re-evaluated there and the L-BFGS memory restarts (DIALS has no such hook).
 * The problem is left at the returned parameters.
 *
 * @param problem - the problem; its current parameters are the starting point.
 * @param options - see {@link LbfgsOptions}; `maxIterations` is unlimited when undefined.
 * @returns the refinement result (`objectiveHistory` holds f = Σwr² + Σλp²).
 * @throws RefinementFailure on a line-search failure scitbx does not ignore, or a non-finite f, gradient or parameter
 *   (carrying the parameters with the lowest f seen).
 * @throws ConfigError on invalid options.
 */
export function lbfgs(problem: LeastSquaresProblem, options: LbfgsOptions = {}): RefinementResult {
  checkMinimiserArguments(problem, options, "lbfgs", [
    "getParameters",
    "setParameters",
    "computeFunctionalAndGradient",
  ]);
  const opts = resolveOptions(options, Infinity);
  const gtol = options.gtol ?? 0.9;
  const m = options.m ?? 5;
  if (!(gtol > 1e-4) || !Number.isFinite(gtol)) throw new ConfigError(`gtol must be finite and > 1e-4, got ${gtol}`);
  if (!Number.isInteger(m) || m < 1) throw new ConfigError(`m must be a positive integer, got ${m}`);
  const t0 = performance.now();
  const n = problem.nParameters;
  let x = problem.getParameters();
  checkProblem(problem, x);
  const { nObservations } = problem.computeObjective();

  const best = new BestPoint(problem, x);
  const evaluate = (xt: Float64Array): { f: number; gradient: Float64Array } => best.evaluate(xt);

  let { f, gradient: g } = evaluate(x);
  g = Float64Array.from(g);
  const rmsdHistory = [rmsdOf(f / 2, nObservations)];
  const objectiveHistory = [f];
  const report = (iteration: number, stepNorm?: number): void => {
    reportIteration(opts.onIteration, t0, iteration, rmsdHistory[rmsdHistory.length - 1], f, stepNorm);
  };
  report(0);
  const gradientSmall = (xs: Float64Array, gs: Float64Array): boolean =>
    norm(gs) <= TRADITIONAL_EPS * Math.max(1, norm(xs));
  const finish = (stopReason: StopReason, nIterations: number): RefinementResult => {
    problem.setParameters(x);
    return lbfgsResult(x, stopReason, nIterations, rmsdHistory, objectiveHistory);
  };

  const gnorm0 = norm(g);
  if (gnorm0 === 0) return finish("gradient_small", 0);

  const memory = new LbfgsMemory(n, m);
  const d = new Float64Array(n);
  let iter = 0;
  let restart = false;

  for (;;) {
    iter++;
    memory.direction(g, d);
    const stp0 = iter === 1 || restart ? 1 / norm(g) : 1;
    restart = false;
    const ls = moreThuenteLineSearch(evaluate, x, f, g, d, stp0, { ...LINE_SEARCH, gtol });
    if (ls.status !== "converged") {
      const gLast = ls.g;
      x = Float64Array.from(best.xMin);
      if (ls.status === "rounding_errors") return finish("objective_flat", iter);
      if ((ls.status === "step_at_lower_bound" || ls.status === "not_descent") && gradientSmall(x, gLast)) {
        return finish("gradient_small", iter);
      }
      problem.setParameters(x);
      throw new RefinementFailure(
        `L-BFGS line search failed (${ls.status.replaceAll("_", " ")}) in iteration ${iter}`,
        Float64Array.from(x),
      );
    }
    memory.push(ls.stp, d, ls.g, g);
    const stepNorm = ls.stp * norm(d);
    x = ls.x;
    f = ls.f;
    g = ls.g;
    problem.setParameters(x);
    if (problem.afterAcceptedStep !== undefined) {
      problem.afterAcceptedStep();
      const xg = problem.getParameters();
      if (xg.some((v, i) => v !== x[i])) {
        // the hook moved the parameters (e.g. a gauge change): take f and g there and restart the memory
        x = Float64Array.from(xg);
        const r = evaluate(x);
        f = r.f;
        g = Float64Array.from(r.gradient);
        memory.clear();
        restart = true;
      }
    }
    rmsdHistory.push(rmsdOf(f / 2, nObservations));
    objectiveHistory.push(f);
    report(iter, stepNorm);
    // DIALS's journal starts after the first iteration, so the initial point takes no part in the RMSD test
    if (rmsdHistory.length >= 3 && rmsdConverged(rmsdHistory, opts.rmsdTolerance))
      return finish("rmsd_converged", iter);
    if (gradientSmall(x, g)) return finish("gradient_small", iter);
    if (iter >= opts.maxIterations) return finish("max_iterations", iter);
  }
}
