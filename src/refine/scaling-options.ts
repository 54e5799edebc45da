/**
 * The refinement options of the joint Bragg + diffuse scaling, with every default in one place.
 *
 * Each public entry point (`scaleDataset`, `DiffuseScalingModel.refineParameters`, `refineJointScaling`,
 * `refineGroupedObservations`) takes one options object whose refinement fields are {@link ScalingOptions} (all
 * optional). It calls {@link resolveScalingOptions} once, which fills in {@link SCALING_DEFAULTS}, validates every
 * value and returns a frozen {@link ResolvedScalingOptions}; the inner layers (the refinement loop,
 * `JointScalingProblem`, the pass runner's options) take that resolved object, or a `Pick` of it, and have no defaults
 * of their own. Resolving an already resolved object returns it unchanged, so a resolved object may be handed to any
 * entry point. The CLI's option defaults and help text read the same constant.
 *
 * Defaults that belong to other layers stay there: how observations are grouped (memory limit, scratch directory)
 * is `buildScalingObservations`'s, and DIALS's own outlier-rejection defaults are the DIALS port's.
 *
 * @packageDocumentation
 */
import { ConfigError, requireObjectArgument } from "../errors.ts";

/** The minimisers the refinement can use. */
export type ScalingMinimizer = "lm" | "gauss_newton";

/** The error models: DIALS's basic model refined per data class, or σ as given. */
export type ErrorModelKind = "basic" | "none";

/**
 * The refinement knobs shared by every entry point (all optional; undefined means the default of
 * {@link SCALING_DEFAULTS}, so callers can relay their own optional values without conditional spreads).
 */
export interface ScalingOptions {
  /** Maximum minimiser iterations per macro-cycle. @defaultValue 100 */
  maxIterations?: number | undefined;
  /** Relative RMSD change for convergence (DIALS `rmsd_tolerance`). @defaultValue 1e-4 */
  convergenceTolerance?: number | undefined;
  /** Minimiser: Levenberg–Marquardt or Gauss–Newton. @defaultValue "lm" */
  minimizer?: ScalingMinimizer | undefined;
  /** Outlier rejection threshold (DIALS `standard`, on Bragg groups and voxels); 0 or Infinity disables it. @defaultValue 6 */
  outlierZmax?: number | undefined;
  /** Maximum number of (outlier rejection, refinement) macro-cycles. @defaultValue 3 */
  maxCycles?: number | undefined;
  /** Worker threads for the passes over observations, 1..1024; results are bit-identical for any value. @defaultValue 1 */
  threads?: number | undefined;
  /**
   * Above this many stills the normal matrix is not formed: steps come from preconditioned conjugate gradients and
   * ESDs from the diagonal of the normal matrix. @defaultValue 2000
   */
  iterativeAbove?: number | undefined;
  /**
   * Also solve matrix-free when forming the dense matrix would cost more than this many updates per (group, still)
   * pair, i.e. when Σ_groups pairs² / Σ_groups pairs exceeds it (many stills per voxel: the dense formation grows with
   * the square of the observations per voxel, the matrix-free pass linearly). Decided from the data only.
   * @defaultValue 64
   */
  denseGroupLimit?: number | undefined;
  /** Minimum rows per shard of the passes (a tuning and testing knob). @defaultValue undefined: 2^18, or P²/16 when dense */
  shardRows?: number | undefined;
  /**
   * Make `computeObjective` a full pass (normal matrix or matrix-free factors included) and let the next
   * `buildNormalEquations` reuse it when the parameters are the same up to the gauge shift of the re-centring (the
   * normal equations are exactly invariant under it). Saves one pass per accepted LM step; costs a little more on a
   * rejected one. @defaultValue true
   */
  speculativeNormalEquations?: boolean | undefined;
  /**
   * Error model of each data class (Bragg, diffuse): "basic" refines DIALS's `σ'² = a²(σ² + (b·I)²)` per class,
   * alternating with the scale refinement until both are stable, and weights, references, outliers and ESDs use σ';
   * "none" takes σ as given. @defaultValue "basic"
   */
  errorModel?: ErrorModelKind | undefined;
  /**
   * Most (refinement, error model, outlier rejection) macro-cycles when the error model is refined (`maxCycles`
   * bounds them when it is "none"). @defaultValue 8
   */
  errorModelMaxCycles?: number | undefined;
  /**
   * Most rows of one class the error model is refined on: a larger class is thinned to every k-th group
   * (deterministically), which bounds the memory and time of the model refinement on very large diffuse data.
   * @defaultValue 250000
   */
  errorModelMaxRows?: number | undefined;
}

/** {@link ScalingOptions} with every default filled in and every value validated (see there for each meaning). */
export interface ResolvedScalingOptions {
  readonly maxIterations: number;
  readonly convergenceTolerance: number;
  readonly minimizer: ScalingMinimizer;
  readonly outlierZmax: number;
  readonly maxCycles: number;
  readonly threads: number;
  readonly iterativeAbove: number;
  readonly denseGroupLimit: number;
  /** Minimum rows per shard, or undefined for the pass runner's choice (2^18, or P²/16 when dense). */
  readonly shardRows: number | undefined;
  readonly speculativeNormalEquations: boolean;
  readonly errorModel: ErrorModelKind;
  readonly errorModelMaxCycles: number;
  readonly errorModelMaxRows: number;
}

/**
 * The defaults of the refinement options (see {@link ScalingOptions} for what each one means):
 *
 * - `maxIterations` 100 per cycle, and `convergenceTolerance` 1e-4 (the relative RMSD change, DIALS's `rmsd_tolerance`);
 * - `minimizer` "lm": Levenberg–Marquardt (Gauss–Newton has no damping);
 * - `outlierZmax` 6: DIALS's `standard` outlier rejection threshold;
 * - `maxCycles` 3: (outlier rejection, refinement) cycles, stopping earlier when the outlier set is unchanged;
 * - `threads` 1: the library runs in the calling thread (the `scale` job and the CLI use every core instead);
 * - `iterativeAbove` 2000 stills and `denseGroupLimit` 64 updates per pair: when the dense normal matrix is not formed;
 * - `shardRows` undefined: the pass runner chooses (2^18 rows, or P²/16 when dense);
 * - `speculativeNormalEquations` true: one pass per accepted LM step instead of two;
 * - `errorModel` "basic": DIALS's basic error model refined per data class (Bragg, diffuse);
 * - `errorModelMaxCycles` 8: macro-cycles when the error model is refined (they usually stop after 3–5);
 * - `errorModelMaxRows` 250 000: rows of one class the error model is refined on, at most (two parameters need no more).
 */
export const SCALING_DEFAULTS: ResolvedScalingOptions = Object.freeze({
  maxIterations: 100,
  convergenceTolerance: 1e-4,
  minimizer: "lm",
  outlierZmax: 6,
  maxCycles: 3,
  threads: 1,
  iterativeAbove: 2000,
  denseGroupLimit: 64,
  shardRows: undefined,
  speculativeNormalEquations: true,
  errorModel: "basic",
  errorModelMaxCycles: 8,
  errorModelMaxRows: 250_000,
});

/**
 * The most worker threads a refinement may ask for (each worker is a Node isolate of several MB, and a pass never
 * uses more threads than it has shards).
 */
export const MAX_THREADS = 1024;

/** The objects {@link resolveScalingOptions} returned (resolving one of them again is a no-op). */
const resolvedObjects = new WeakSet<object>([SCALING_DEFAULTS]);

function check(ok: boolean, name: string, rule: string, value: unknown): void {
  if (!ok)
    throw new ConfigError(`${name} must be ${rule}, got ${typeof value === "string" ? `"${value}"` : String(value)}`);
}

/**
 * Fills in {@link SCALING_DEFAULTS} and validates every value, once.
 *
 * @param options - Any object whose refinement fields are {@link ScalingOptions} (other fields are ignored).
 * @returns A frozen, fully resolved copy (or `options` itself when it is already a resolved object).
 * @throws {@link ConfigError} naming the first invalid option.
 */
export function resolveScalingOptions(options: ScalingOptions = {}): ResolvedScalingOptions {
  requireObjectArgument(options, "scaling options");
  if (resolvedObjects.has(options)) return options as ResolvedScalingOptions;
  const d = SCALING_DEFAULTS;
  const r: ResolvedScalingOptions = {
    maxIterations: options.maxIterations ?? d.maxIterations,
    convergenceTolerance: options.convergenceTolerance ?? d.convergenceTolerance,
    minimizer: options.minimizer ?? d.minimizer,
    outlierZmax: options.outlierZmax ?? d.outlierZmax,
    maxCycles: options.maxCycles ?? d.maxCycles,
    threads: options.threads ?? d.threads,
    iterativeAbove: options.iterativeAbove ?? d.iterativeAbove,
    denseGroupLimit: options.denseGroupLimit ?? d.denseGroupLimit,
    shardRows: options.shardRows ?? d.shardRows,
    speculativeNormalEquations: options.speculativeNormalEquations ?? d.speculativeNormalEquations,
    errorModel: options.errorModel ?? d.errorModel,
    errorModelMaxCycles: options.errorModelMaxCycles ?? d.errorModelMaxCycles,
    errorModelMaxRows: options.errorModelMaxRows ?? d.errorModelMaxRows,
  };
  const minimizer: string = r.minimizer;
  if (minimizer !== "lm" && minimizer !== "gauss_newton") {
    throw new ConfigError(`minimizer must be "lm" or "gauss_newton", got "${minimizer}"`);
  }
  check(
    Number.isSafeInteger(r.maxIterations) && r.maxIterations >= 0,
    "maxIterations",
    "a non-negative integer",
    r.maxIterations,
  );
  check(
    Number.isFinite(r.convergenceTolerance) && r.convergenceTolerance >= 0,
    "convergenceTolerance",
    "finite and >= 0",
    r.convergenceTolerance,
  );
  check(r.outlierZmax >= 0, "outlierZmax", ">= 0 (0 or Infinity disables rejection)", r.outlierZmax);
  check(Number.isSafeInteger(r.maxCycles) && r.maxCycles >= 1, "maxCycles", "a positive integer", r.maxCycles);
  check(
    Number.isInteger(r.threads) && r.threads >= 1 && r.threads <= MAX_THREADS,
    "threads",
    `an integer in 1..${MAX_THREADS}`,
    r.threads,
  );
  check(r.iterativeAbove >= 0, "iterativeAbove", ">= 0", r.iterativeAbove);
  check(r.denseGroupLimit >= 0, "denseGroupLimit", ">= 0", r.denseGroupLimit);
  check(
    r.shardRows === undefined || (Number.isInteger(r.shardRows) && r.shardRows >= 1 && r.shardRows <= 2 ** 31 - 1),
    "shardRows",
    "an integer in 1..2147483647",
    r.shardRows,
  );
  check(
    typeof r.speculativeNormalEquations === "boolean",
    "speculativeNormalEquations",
    "a boolean",
    r.speculativeNormalEquations,
  );
  const errorModel: string = r.errorModel;
  if (errorModel !== "basic" && errorModel !== "none") {
    throw new ConfigError(`errorModel must be "basic" or "none", got "${errorModel}"`);
  }
  check(
    Number.isSafeInteger(r.errorModelMaxCycles) && r.errorModelMaxCycles >= 1,
    "errorModelMaxCycles",
    "a positive integer",
    r.errorModelMaxCycles,
  );
  check(
    Number.isSafeInteger(r.errorModelMaxRows) && r.errorModelMaxRows >= 2,
    "errorModelMaxRows",
    "an integer >= 2",
    r.errorModelMaxRows,
  );
  const frozen = Object.freeze(r);
  resolvedObjects.add(frozen);
  return frozen;
}
