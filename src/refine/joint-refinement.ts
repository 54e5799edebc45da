/**
 * Joint refinement of the v1 model on Bragg + diffuse observations: still connectivity, macro-cycles of
 * (outlier rejection → Levenberg–Marquardt or Gauss–Newton), statistics, ESDs and references.
 *
 * Options: {@link ScalingOptions}, resolved once by `resolveScalingOptions` (defaults in `SCALING_DEFAULTS`).
 *
 * Outliers: DIALS's `standard` algorithm (zmax 6 by default) on Bragg groups and voxels, run at the refined scales
 * after each cycle on all usable observations (so an early mistaken rejection can come back); cycles stop when the
 * outlier set no longer changes (at most `maxCycles`). Weights change between cycles, never inside one.
 *
 * @packageDocumentation
 */
import { RefinementFailure } from "../errors.ts";
import { gaussNewton } from "../solve/gauss-newton.ts";
import { levenbergMarquardt } from "../solve/levenberg-marquardt.ts";
import type { RefinementResult } from "../solve/least-squares-problem.ts";
import { analyseStillConnectivity } from "../observations/connectivity.ts";
import { JointScalingProblem, type JointSmootherSetup } from "./joint-scaling-problem.ts";
import { resolveScalingOptions, type ResolvedScalingOptions, type ScalingOptions } from "./scaling-options.ts";
import {
  buildScalingObservations,
  type BuildScalingObservationsOptions,
  type ScalingObservations,
} from "../observations/scaling-observations.ts";
import type { BraggInput, DiffuseChunkSource, DiffuseInput } from "../observations/scaling-input.ts";
import { restrictToStills } from "../observations/restrict-stills.ts";
import { forEachWindow } from "../observations/observation-windows.ts";
import { groupReferencesInRange } from "../passes/group-references.ts";
import { forEachInverseScaleBatch } from "../passes/inverse-scale-batches.ts";
import type { JointModelState } from "../passes/inverse-scales.ts";
import type { PassSource } from "../passes/joint-pass.ts";
import { initialWeight } from "../observations/initial-weight.ts";
import { outlierWeightsInRange, type OutlierWeightCounts } from "../passes/outlier-weights.ts";
import {
  ClassModelWorker,
  refineClassErrorModels,
  rowErrorModelOf,
  type ClassErrorModels,
} from "./class-error-models.ts";
import { minimiseCycle, runErrorModelCycles, type CyclesOutcome, type ErrorModelCycles } from "./error-model-cycles.ts";

/** A progress event of the refinement (the library never prints; the CLI renders these). */
export interface RefinementProgress {
  /** Always "refine". */
  phase: "refine";
  /** Macro-cycle (0-based). */
  cycle: number;
  /** Iteration inside the cycle (0 = starting point). */
  iteration: number;
  /** RMSD √(Σwr²/n). */
  rmsd: number;
  /** R-factor at this iteration. */
  rFactor: number;
  /** Seconds since the refinement started. */
  seconds: number;
}

/** One row of the refinement history (for reports). */
export interface IterationRecord {
  /** Macro-cycle (0-based). */
  cycle: number;
  /** Iteration inside the cycle. */
  iteration: number;
  /** RMSD. */
  rmsd: number;
  /** χ² = Σwr² over observations. */
  chiSquared: number;
  /** Reduced χ² (χ² / (n − p)). */
  reducedChiSquared: number;
  /** R-factor. */
  rFactor: number;
  /** Seconds since the start of refinement. */
  seconds: number;
}

/**
 * Options of {@link refineJointScaling} and {@link refineGroupedObservations}: the refinement knobs of
 * {@link ScalingOptions} (defaults in `SCALING_DEFAULTS`; a resolved object may be given) plus the progress callback
 * and the grouping of the observations.
 */
export interface JointRefinementOptions extends ScalingOptions {
  /** Progress callback. @defaultValue undefined */
  onProgress?: ((event: RefinementProgress) => void) | undefined;
  /**
   * How {@link refineJointScaling} groups the observations (memory limit above which rows are paged from a scratch
   * file, scratch directory). @defaultValue the defaults of `buildScalingObservations`
   */
  grouping?: BuildScalingObservationsOptions | undefined;
}

/** The model setup handed to {@link refineJointScaling}. */
export interface JointModelSetup {
  /** Number of stills (experiments); still ids are 0..nStills−1. */
  readonly nStills: number;
  /** Initial b per still id (missing ids start at 1). */
  readonly initialScales: ReadonlyMap<number, number>;
  /** Smoother (values, range, restraint) or undefined when off. */
  readonly smoother: JointSmootherSetup | undefined;
}

/** Per-group reference: the weighted mean of the unscaled intensity and its σ. */
export interface GroupReferences {
  /** Ih per group. */
  readonly intensity: Float64Array;
  /** 1/√(Σ w g²) per group. */
  readonly sigma: Float64Array;
  /** Number of used observations per group. */
  readonly nObservations: Int32Array;
}

/** Everything the refinement produced. */
export interface JointRefinementResult {
  /** Stills that were refined, ascending. */
  readonly includedStills: Int32Array;
  /** Stills without usable data. */
  readonly stillsWithoutData: Int32Array;
  /** Stills that share no reference with the main set. */
  readonly stillsDisconnected: Int32Array;
  /** Refined b for each included still (geometric mean 1). */
  readonly scales: Float64Array;
  /** ESD of each b. */
  readonly scaleEsds: Float64Array;
  /**
   * Covariance of the refined parameters (θ_s = ln b_s for the included stills, then the free smoother values), P×P
   * row-major, in the pinned gauge and scaled by the reduced χ². With more stills than `iterativeAbove` (no dense
   * matrix) only its diagonal is estimated, as χ²_red / N_ii (the conditional variances: a lower bound of the
   * marginal ones), stored as a vector of length P (see `covarianceIsDiagonal`).
   */
  readonly covariance: Float64Array;
  /**
   * True when only the diagonal was estimated (iterative mode): `covariance` then has length P (the variances), so its
   * size stays linear in the number of stills.
   */
  readonly covarianceIsDiagonal: boolean;
  /** Initial b for each included still, in the same gauge. */
  readonly initialScales: Float64Array;
  /** Refined smoother values (first fixed at 1), or undefined. */
  readonly smootherValues: Float64Array | undefined;
  /** ESDs of the smoother values (0 for the fixed first value), or undefined. */
  readonly smootherEsds: Float64Array | undefined;
  /**
   * The final observations (still indices are positions in `includedStills`; weight 0 = excluded). Paged rows live
   * in a scratch file until `releaseObservations` (the caller's).
   */
  readonly observations: ScalingObservations;
  /** Outlier rows (indices into `observations`), ascending: the usable rows whose weight is 0. */
  readonly outlierRows: Int32Array;
  /**
   * b of each included still as the first cycle refined it, before the first outlier rejection (undefined when
   * rejection is off): how far the scales then moved shows how much the rejected outliers pulled them.
   */
  readonly scalesBeforeRejection: Float64Array | undefined;
  /**
   * The refined model as the kernels evaluate it: g = b_still · a(|q|) of any row is
   * `inverseScalesInRange(finalState, …)` (the g of `references`).
   */
  readonly finalState: JointModelState;
  /**
   * g of every row at `finalState` for resident observations (computed once, in parallel; pass it on as the
   * `precomputed` g of `forEachInverseScaleBatch`), undefined for paged ones (computed batch by batch).
   */
  readonly inverseScales: Float32Array | undefined;
  /** Final per-group references. */
  readonly references: GroupReferences;
  /** Statistics in the spec's form. */
  readonly statistics: {
    nIterations: number;
    initialRFactor: number;
    finalRFactor: number;
    convergenceAchieved: boolean;
    parameterShifts: { per_still_scale: number; resolution_smoother: number };
    nCycles: number;
    stopReason: string;
    finalRmsd: number;
    reducedChiSquared: number;
  };
  /** Per-iteration history. */
  readonly history: IterationRecord[];
  /** The options the refinement ran with (every default filled in). */
  readonly settings: ResolvedScalingOptions;
  /**
   * The error model of each class (undefined for a class without observations): refined ("basic") or σ as given
   * ("none"), with the normalised residual sd before and after it.
   */
  readonly errorModels: ClassErrorModels;
}

/** The observations as the passes read them: resident columns (variances included) or paged rows. */
export function passSourceOf(obs: ScalingObservations): PassSource {
  const rows = obs.rows;
  return rows.kind === "paged" ? { groupStart: obs.groupStart, paged: rows } : { groupStart: obs.groupStart, rows };
}

/**
 * References per group at the inverse scales of `state` (weights as in the observations), window by window.
 *
 * @param precomputed - g of every row when already computed (resident observations). @defaultValue computed
 */
export function computeReferences(
  obs: ScalingObservations,
  state: JointModelState,
  precomputed?: Float32Array,
): GroupReferences {
  const intensity = new Float64Array(obs.nGroups);
  const sigma = new Float64Array(obs.nGroups);
  const nObservations = new Int32Array(obs.nGroups);
  const out = { intensity, sigma, nObservations };
  const { groupStart } = obs;
  forEachInverseScaleBatch(
    obs,
    state,
    (win, groupBegin, groupEnd, g, gRow) => {
      const { weight, intensity: I } = win.rows;
      groupReferencesInRange(groupStart, weight, I, win.rowBegin, g, gRow, groupBegin, groupEnd, out);
    },
    { precomputed },
  );
  return { intensity, sigma, nObservations };
}

/**
 * DIALS `standard` outlier rejection at the inverse scales of `state`, window by window: every usable row's weight is
 * set to 1/σ², the outliers' to 0 (the same numbers as the refinement's parallel outlier step). Returns the counts.
 */
export function rejectOutliersAt(obs: ScalingObservations, state: JointModelState, zmax: number): OutlierWeightCounts {
  const total = { nOutliers: 0, nChanged: 0, nFlipped: 0 };
  forEachWindow(
    obs,
    (w) => {
      const counts = outlierWeightsInRange(
        { groupStart: obs.groupStart, rowOffset: w.rowBegin, rows: w.rows },
        state,
        zmax,
        w.groupBegin,
        w.groupEnd,
      );
      total.nOutliers += counts.nOutliers;
      total.nChanged += counts.nChanged;
      total.nFlipped += counts.nFlipped;
    },
    { write: ["weight"] },
  );
  return total;
}

/** The outliers of the final observations: usable rows (positive {@link initialWeight}) whose weight is 0, ascending. */
function outlierRowsOf(obs: ScalingObservations): Int32Array {
  let rows = new Int32Array(64);
  let n = 0;
  forEachWindow(obs, (w) => {
    const lo = obs.groupStart[w.groupBegin] - w.rowBegin;
    const hi = obs.groupStart[w.groupEnd] - w.rowBegin;
    for (let t = lo; t < hi; t++) {
      if (w.rows.weight[t] !== 0 || !(initialWeight(w.rows.variance[t], w.rows.intensity[t]) > 0)) continue;
      if (n === rows.length) {
        const grown = new Int32Array(2 * n);
        grown.set(rows);
        rows = grown;
      }
      rows[n++] = w.rowBegin + t;
    }
  });
  return rows.slice(0, n);
}

/**
 * Variance–covariance of the parameters in the pinned gauge: χ²_red · P (N + γ11ᵀ)⁻¹ Pᵀ with P the projector that
 * removes the common θ shift (N undamped, at the final parameters; χ²_red over nEquations − (nParameters − 1) degrees
 * of freedom, the gauge taking one). DIALS uses the damped matrix of the last LM step; the undamped one is the honest
 * curvature at the solution.
 */
function gaugeProjectedCovariance(problem: JointScalingProblem): {
  covariance: Float64Array;
  reducedChiSquared: number;
  diagonalOnly: boolean;
} {
  if (!problem.denseAvailable) return diagonalCovariance(problem);
  let ne: ReturnType<JointScalingProblem["buildNormalEquations"]>;
  let a: Float64Array;
  if (problem.iterative) {
    // Matrix-free mode: one matrix-free pass at these parameters (reused when the last pass was made here), its
    // per-group factors expanded into N + γ11ᵀ (Σ pairs²/2 work), instead of a dense pass over the observations,
    // which would pay that Σ pairs² work and the per-observation work together.
    ne = problem.buildNormalEquations();
    a = problem.densify();
  } else {
    const dense = problem.buildDenseNormalEquations();
    if (dense === undefined) return diagonalCovariance(problem);
    ne = dense;
    a = Float64Array.from(ne.matrix);
  }
  const n = ne.n;
  const dof = ne.nEquations - (n - 1);
  const reducedChiSquared = dof > 0 ? (2 * ne.objective) / dof : 0;
  const v = problem.inversePositiveDefinite(a);
  if (v === undefined) {
    throw new RefinementFailure("normal matrix at the solution is not positive definite (undetermined parameters)");
  }
  projectOutThetaMean(v, n, problem.nStills);
  for (let i = 0; i < n * n; i++) v[i] *= reducedChiSquared;
  return { covariance: v, reducedChiSquared, diagonalOnly: false };
}

/**
 * V ← P V Pᵀ with P the projector that removes the mean over the first `ns` (θ) coordinates: first each column's mean
 * over the θ rows is subtracted from those rows, then each row's mean over the θ columns from those columns. Row by
 * row (contiguous), with every mean summed in ascending index order.
 */
function projectOutThetaMean(v: Float64Array, n: number, ns: number): void {
  const mean = new Float64Array(n);
  for (let i = 0; i < ns; i++) {
    const row = i * n;
    for (let j = 0; j < n; j++) mean[j] += v[row + j];
  }
  for (let j = 0; j < n; j++) mean[j] /= ns;
  for (let i = 0; i < ns; i++) {
    const row = i * n;
    for (let j = 0; j < n; j++) v[row + j] -= mean[j];
  }
  for (let j = 0; j < n; j++) {
    const row = j * n;
    let m = 0;
    for (let i = 0; i < ns; i++) m += v[row + i];
    m /= ns;
    for (let i = 0; i < ns; i++) v[row + i] -= m;
  }
}

/** Diagonal-only covariance estimate of the iterative mode: χ²_red / N_ii (see the `covariance` field). */
function diagonalCovariance(problem: JointScalingProblem): {
  covariance: Float64Array;
  reducedChiSquared: number;
  diagonalOnly: true;
} {
  const ne = problem.buildNormalEquations();
  const n = ne.n;
  const dof = ne.nEquations - (n - 1);
  const reducedChiSquared = dof > 0 ? (2 * ne.objective) / dof : 0;
  const covariance = new Float64Array(n);
  const diagonal = ne.operator?.diagonal;
  if (diagonal === undefined) throw new RefinementFailure("iterative normal equations have no diagonal");
  for (let i = 0; i < n; i++) {
    if (!(diagonal[i] > 0)) throw new RefinementFailure(`normal matrix diagonal element ${i} is not positive`);
    covariance[i] = reducedChiSquared / diagonal[i];
  }
  return { covariance, reducedChiSquared, diagonalOnly: true };
}

/**
 * Refines per-still scales (and the shared smoother) jointly on Bragg and diffuse observations.
 *
 * @throws `ConfigError` for invalid options; {@link RefinementFailure} when no still can be refined, the
 * minimiser fails, or values become non-finite.
 */
export function refineJointScaling(
  model: JointModelSetup,
  bragg: BraggInput | undefined,
  diffuse: DiffuseInput | DiffuseChunkSource | undefined,
  options: JointRefinementOptions = {},
): JointRefinementResult {
  const started = performance.now();
  const settings = resolveScalingOptions(options);
  const observations = buildScalingObservations(model.nStills, bragg, diffuse, options.grouping ?? {});
  return refineResolved(model, observations, settings, options.onProgress, started);
}

/**
 * {@link refineJointScaling} on observations already grouped (they are restricted in place to the connected stills,
 * so `all` must not be used afterwards).
 *
 * @param started - `performance.now()` at the start of the job (for the history's seconds). @defaultValue now
 * @throws `ConfigError` for invalid options; {@link RefinementFailure} as {@link refineJointScaling}.
 */
export function refineGroupedObservations(
  model: JointModelSetup,
  all: ScalingObservations,
  options: JointRefinementOptions = {},
  started = performance.now(),
): JointRefinementResult {
  return refineResolved(model, all, resolveScalingOptions(options), options.onProgress, started);
}

/**
 * {@link refineGroupedObservations} with options already resolved (the model's `refineParameters` resolves them
 * before grouping the observations, so invalid options fail before any work).
 */
export function refineResolved(
  model: JointModelSetup,
  all: ScalingObservations,
  settings: ResolvedScalingOptions,
  onProgress: ((event: RefinementProgress) => void) | undefined,
  started: number,
): JointRefinementResult {
  // the sweep over the rows also counts each group's distinct stills: the pair slots of the matrix-free passes
  const pairCounts = new Int32Array(all.nGroups + 1);
  const connectivity = analyseStillConnectivity(all, pairCounts);
  const included = connectivity.included;
  if (included.length < 2) {
    throw new RefinementFailure(
      `fewer than two stills share observations (${included.length} connected); relative scales are undetermined`,
    );
  }
  let observations = all;
  let pairStart: Int32Array | undefined;
  if (included.length !== model.nStills) {
    const remap = new Int32Array(model.nStills).fill(-1);
    included.forEach((s, i) => (remap[s] = i));
    observations = restrictToStills(all, remap, included.length);
  } else {
    pairStart = pairCounts;
    for (let h = 0; h < all.nGroups; h++) pairStart[h + 1] += pairStart[h];
  }
  const initial = Float64Array.from(included, (s) => model.initialScales.get(s) ?? 1);
  const problem = new JointScalingProblem(passSourceOf(observations), initial, model.smoother, settings, pairStart);
  try {
    return runRefinement(problem, observations, included, connectivity, started, settings, onProgress);
  } finally {
    problem.close();
  }
}

/** The history of a refinement, and the function that records one iteration into it (and reports it). */
function historyRecorder(
  problem: JointScalingProblem,
  started: number,
  onProgress: ((event: RefinementProgress) => void) | undefined,
): { history: IterationRecord[]; record: (cycle: number, iteration: number) => void } {
  const history: IterationRecord[] = [];
  const nParams = problem.nParameters;
  const record = (cycle: number, iteration: number): void => {
    // iteration 0 is the starting point of a cycle's minimisation, whose first normal equations are made here
    const acc = iteration === 0 ? problem.accumulateAhead() : problem.accumulateReusing();
    const chi = 2 * acc.objective;
    const rmsd = acc.nObservations > 0 ? Math.sqrt(chi / acc.nObservations) : 0;
    const rFactor = acc.rDenominator > 0 ? acc.rNumerator / acc.rDenominator : 0;
    const seconds = (performance.now() - started) / 1000;
    const dof = acc.nObservations - (nParams - 1);
    history.push({
      cycle,
      iteration,
      rmsd,
      chiSquared: chi,
      reducedChiSquared: dof > 0 ? chi / dof : 0,
      rFactor,
      seconds,
    });
    onProgress?.({ phase: "refine", cycle, iteration, rmsd, rFactor, seconds });
  };
  return { history, record };
}

/**
 * The macro-cycles: minimise, then (with rejection on) reject outliers at the refined scales; stop when the outlier
 * set no longer changes, refining once more when the last allowed rejection changed it.
 */
function runCycles(
  problem: JointScalingProblem,
  settings: ResolvedScalingOptions,
  record: (cycle: number, iteration: number) => void,
  errorModels?: ErrorModelCycles,
): CyclesOutcome {
  if (errorModels !== undefined) return runErrorModelCycles(problem, settings, record, errorModels);
  const { maxIterations, maxCycles } = settings;
  const tolerance = settings.convergenceTolerance;
  const zmax = settings.outlierZmax;
  const rejectOutliers = zmax > 0 && Number.isFinite(zmax);
  let nIterations = 0;
  let last: RefinementResult | undefined;
  const run = settings.minimizer === "gauss_newton" ? gaussNewton : levenbergMarquardt;
  let scalesBeforeRejection: Float64Array | undefined;
  let cycle = 0;
  for (; cycle < maxCycles; cycle++) {
    if (cycle > 0) record(cycle, 0);
    last = minimiseCycle(problem, settings, cycle, record);
    nIterations += last.nIterations;
    if (!rejectOutliers) break;
    if (cycle === 0) scalesBeforeRejection = problem.scales();
    // In parallel over the shards: the outliers at the refined scales, and the weights reset to match them. The
    // cycles end when the outlier set (hence every weight) is the one the cycle refined with.
    if (problem.rejectOutliers(zmax).nChanged === 0) break;
    problem.invalidate();
    if (cycle === maxCycles - 1) {
      // The last rejection changed the weights: refine once more so the result matches the final outlier set.
      last = run(problem, { maxIterations, rmsdTolerance: tolerance, computeCovariance: false });
      nIterations += last.nIterations;
    }
  }
  if (last === undefined) throw new RefinementFailure("no refinement cycle ran");
  return { last, nIterations, cycle, scalesBeforeRejection };
}

/** The refinement: history, macro-cycles, then the result at the solution ({@link resultAtSolution}). */
function runRefinement(
  problem: JointScalingProblem,
  observations: ScalingObservations,
  included: Int32Array,
  connectivity: ReturnType<typeof analyseStillConnectivity>,
  started: number,
  settings: ResolvedScalingOptions,
  onProgress: ((event: RefinementProgress) => void) | undefined,
): JointRefinementResult {
  const initialScales = problem.scales();
  const initialValues = problem.smootherValues();
  const { history, record } = historyRecorder(problem, started, onProgress);
  record(0, 0);
  const initialRFactor = history[0].rFactor;
  const maxRows = settings.errorModelMaxRows;
  // with threads and both classes, the diffuse class's model is fitted in a worker while this thread fits the Bragg
  // class's (it starts now and loads its code during the first cycle)
  const worker =
    settings.errorModel === "basic" &&
    settings.threads > 1 &&
    observations.nBraggRows > 0 &&
    observations.n > observations.nBraggRows
      ? new ClassModelWorker()
      : undefined;
  try {
    const refineModels = (kind: "basic" | "none") =>
      // g is computed batch by batch inside the one pass over the rows that collects them
      refineClassErrorModels(observations, problem.modelState(), kind, maxRows, undefined, worker);
    const cycles: ErrorModelCycles | undefined =
      settings.errorModel === "basic"
        ? { refine: () => refineModels("basic"), current: undefined, rowModel: (m) => rowErrorModelOf(observations, m) }
        : undefined;
    const outcome = runCycles(problem, settings, record, cycles);
    worker?.close();
    const errorModels = cycles?.current ?? refineModels("none");
    return resultAtSolution(problem, observations, included, connectivity, settings, outcome, {
      initialScales,
      initialValues,
      initialRFactor,
      history,
      errorModels,
    });
  } finally {
    worker?.close();
  }
}

/**
 * Everything the refinement reports, at the solution: scales and smoother values, covariance and ESDs (gauge
 * projected), the final model state and inverse scales, references, outliers, shifts and statistics.
 */
function resultAtSolution(
  problem: JointScalingProblem,
  observations: ScalingObservations,
  included: Int32Array,
  connectivity: ReturnType<typeof analyseStillConnectivity>,
  settings: ResolvedScalingOptions,
  outcome: CyclesOutcome,
  start: {
    initialScales: Float64Array;
    initialValues: Float64Array | undefined;
    initialRFactor: number;
    history: IterationRecord[];
    errorModels: ClassErrorModels;
  },
): JointRefinementResult {
  const { last, nIterations, cycle } = outcome;
  const { initialScales, initialValues, initialRFactor, history } = start;
  const maxCycles = settings.errorModel === "basic" ? settings.errorModelMaxCycles : settings.maxCycles;
  const scales = problem.scales();
  const smootherValues = problem.smootherValues();
  const { covariance, reducedChiSquared, diagonalOnly } = gaugeProjectedCovariance(problem);
  const np = problem.nParameters;
  const variance = (i: number) => Math.max(0, covariance[diagonalOnly ? i : i * np + i]);
  const scaleEsds = scales.map((b, s) => b * Math.sqrt(variance(s)));
  let smootherEsds: Float64Array | undefined;
  if (smootherValues !== undefined) {
    smootherEsds = new Float64Array(smootherValues.length);
    for (let k = 1; k < smootherValues.length; k++) smootherEsds[k] = Math.sqrt(variance(problem.nStills + k - 1));
  }
  // a snapshot (the problem's own smoother values change no more, but are its live array)
  const live = problem.modelState().smoother;
  const finalState: JointModelState = {
    scales,
    smoother: live === undefined || smootherValues === undefined ? undefined : { ...live, values: smootherValues },
  };
  // resident rows: g of every row once and the groups' references from it, in parallel (g also for the caller's merge
  // and diagnostics); paged rows: the references here, batch by batch
  const atSolution = problem.inverseScalesAndReferences();
  const rowInverseScales = atSolution?.inverseScales;
  const references = atSolution?.references ?? computeReferences(observations, finalState);
  const finalAcc = problem.accumulateReusing();
  let shiftB = 0;
  for (let s = 0; s < scales.length; s++) shiftB = Math.max(shiftB, Math.abs(scales[s] - initialScales[s]));
  let shiftC = 0;
  if (smootherValues !== undefined && initialValues !== undefined) {
    for (let k = 0; k < smootherValues.length; k++)
      shiftC = Math.max(shiftC, Math.abs(smootherValues[k] - initialValues[k]));
  }
  for (const v of [...scales, ...scaleEsds, ...(smootherValues ?? []), ...(smootherEsds ?? [])]) {
    if (!Number.isFinite(v)) throw new RefinementFailure("a refined value or its ESD is not finite", last.parameters);
  }
  return {
    includedStills: included,
    stillsWithoutData: connectivity.withoutData,
    stillsDisconnected: connectivity.disconnected,
    scales,
    scaleEsds,
    covariance,
    covarianceIsDiagonal: diagonalOnly,
    initialScales,
    smootherValues,
    smootherEsds,
    observations,
    outlierRows: outlierRowsOf(observations),
    scalesBeforeRejection: outcome.scalesBeforeRejection,
    finalState,
    inverseScales: rowInverseScales,
    references,
    statistics: {
      nIterations,
      initialRFactor,
      finalRFactor: finalAcc.rDenominator > 0 ? finalAcc.rNumerator / finalAcc.rDenominator : 0,
      // Converged: the RMSD criterion was met, or the gradient vanished exactly (LM's predicted reduction is 0, which
      // happens on exact data once the RMSD reaches 0). Never on an iteration limit or exhausted damping.
      convergenceAchieved: last.converged || last.stopReason === "objective_flat",
      parameterShifts: { per_still_scale: shiftB, resolution_smoother: shiftC },
      nCycles: Math.min(cycle + 1, maxCycles),
      stopReason: last.stopReason,
      finalRmsd: finalAcc.nObservations > 0 ? Math.sqrt((2 * finalAcc.objective) / finalAcc.nObservations) : 0,
      reducedChiSquared,
    },
    history,
    settings,
    errorModels: start.errorModels,
  };
}
