/**
 * The macro-cycles of the joint refinement when the error model is refined: scale refinement, error-model refinement
 * and outlier rejection with reweighting, alternated until both are stable (see {@link runErrorModelCycles}).
 *
 * @packageDocumentation
 */
import { RefinementFailure } from "../errors.ts";
import { gaussNewton } from "../solve/gauss-newton.ts";
import { levenbergMarquardt } from "../solve/levenberg-marquardt.ts";
import type { RefinementResult } from "../solve/least-squares-problem.ts";
import type { RowErrorModel } from "../passes/outlier-weights.ts";
import { errorModelsStable, type ClassErrorModels } from "./class-error-models.ts";
import type { JointScalingProblem } from "./joint-scaling-problem.ts";
import type { ResolvedScalingOptions } from "./scaling-options.ts";

/** How the macro-cycles ended. */
export interface CyclesOutcome {
  /** The last minimiser run. */
  last: RefinementResult;
  /** Minimiser iterations over all cycles. */
  nIterations: number;
  /** Index of the cycle the loop stopped in (maxCycles when it ran them all). */
  cycle: number;
  /** The scales before the first outlier rejection (undefined when rejection is off). */
  scalesBeforeRejection: Float64Array | undefined;
}

/** The class error models refined between the cycles: `refine` fits them at the problem's current scales. */
export interface ErrorModelCycles {
  refine: () => ClassErrorModels;
  current: ClassErrorModels | undefined;
  rowModel: (models: ClassErrorModels) => RowErrorModel;
}

/**
 * The macro-cycles with the error model refined: minimise, refine each class's error model at the refined scales (on
 * the rows the last outlier step kept), then reject outliers and reset the weights with the new σ' (1/σ'²); stop when
 * the outlier set no longer changes and the models are stable ({@link errorModelsStable}) or left every weight as it
 * was (a fixed model equal to σ as given), refining once more when the last allowed cycle changed them (at most
 * `errorModelMaxCycles`).
 */
export function runErrorModelCycles(
  problem: JointScalingProblem,
  settings: ResolvedScalingOptions,
  record: (cycle: number, iteration: number) => void,
  errorModels: ErrorModelCycles,
): CyclesOutcome {
  const { maxIterations } = settings;
  const maxCycles = settings.errorModelMaxCycles;
  const tolerance = settings.convergenceTolerance;
  const zmax = settings.outlierZmax;
  const rejectOutliers = zmax > 0 && Number.isFinite(zmax);
  const run = settings.minimizer === "gauss_newton" ? gaussNewton : levenbergMarquardt;
  let nIterations = 0;
  let last: RefinementResult | undefined;
  let scalesBeforeRejection: Float64Array | undefined;
  let cycle = 0;
  for (; cycle < maxCycles; cycle++) {
    if (cycle > 0) record(cycle, 0);
    last = minimiseCycle(problem, settings, cycle, record);
    nIterations += last.nIterations;
    if (cycle === 0 && rejectOutliers) scalesBeforeRejection = problem.scales();
    const previous = errorModels.current;
    const models = errorModels.refine();
    errorModels.current = models;
    const stable = previous !== undefined && errorModelsStable(previous, models);
    const counts = problem.rejectOutliers(rejectOutliers ? zmax : Infinity, errorModels.rowModel(models));
    // stable: the same outliers, and models that moved by less than the tolerance or weights that did not change at
    // all (a fixed model equal to σ as given)
    // changed weights make every cached pass stale, also when the cycles end here (the statistics and ESDs at the
    // solution are then computed with the final weights)
    if (counts.nChanged > 0) problem.invalidate();
    if (counts.nFlipped === 0 && (stable || counts.nChanged === 0)) break;
    if (cycle === maxCycles - 1) {
      last = run(problem, { maxIterations, rmsdTolerance: tolerance, computeCovariance: false });
      nIterations += last.nIterations;
    }
  }
  if (last === undefined) throw new RefinementFailure("no refinement cycle ran");
  return { last, nIterations, cycle, scalesBeforeRejection };
}

/**
 * One cycle's minimisation (LM or Gauss–Newton, as `settings.minimizer` says), recording each iteration in `cycle`;
 * refuses a non-finite parameter. Shared by both macro-cycle loops.
 */
export function minimiseCycle(
  problem: JointScalingProblem,
  settings: ResolvedScalingOptions,
  cycle: number,
  record: (cycle: number, iteration: number) => void,
): RefinementResult {
  const run = settings.minimizer === "gauss_newton" ? gaussNewton : levenbergMarquardt;
  const result = run(problem, {
    maxIterations: settings.maxIterations,
    rmsdTolerance: settings.convergenceTolerance,
    computeCovariance: false,
    onIteration: (info) => {
      if (info.iteration > 0) record(cycle, info.iteration);
    },
  });
  for (let i = 0; i < problem.nParameters; i++) {
    if (!Number.isFinite(result.parameters[i])) {
      throw new RefinementFailure(`parameter ${problem.parameterNames()[i]} became non-finite`, result.parameters);
    }
  }
  return result;
}
