/**
 * The whole `diffuse-scale scale` job as one library call, in four phases: read the DIALS experiments and reflections
 * (and open the binned diffuse observations), refine the v1 model (the diffuse file is streamed while the
 * observations are grouped), merge the diffuse map, and write `scales.json`, `scaled.refl`, `scaled.expt`,
 * `merged_diffuse.h5`, `refinement.json` (per-iteration history and diagnostics for the report) and `report.html`.
 * The outputs are written as one set: the output directory holds the complete previous set or the complete new one.
 *
 * @packageDocumentation
 */
import { requireFunctionArgument, requireObjectArgument, requireStringArgument } from "../errors.ts";
import { inputFileList } from "./scale-input-files.ts";
import type { Mat3 } from "../geometry/vector-maths.ts";
import type { ExperimentList } from "../io/expt.ts";
import { mergeDiffuse, type MergedDiffuse } from "../merge/merge.ts";
import { checkSeed } from "../merge/seeded-random.ts";
import { releaseObservations } from "../observations/scaling-observations.ts";
import { DiffuseScalingModel, type RefineParametersResult } from "../refine/diffuse-scaling-model.ts";
import { resolveScalingOptions } from "../refine/scaling-options.ts";
import { makeVoxelGrid } from "../voxelize/voxel-grid.ts";
import { prepareOutputDirectory } from "../io/output-directory.ts";
import { openOutputSet } from "../io/output-set.ts";
import { readScaleInputs, type ScaleInputs } from "./scale-inputs.ts";
import { writeScaleOutputs } from "./scale-outputs.ts";
import { startBackgroundReport } from "./background-report.ts";
import {
  SCALE_JOB_DEFAULTS,
  type ScaleDatasetOptions,
  type ScaleDatasetProgress,
  type ScaleDatasetResult,
} from "./scale-dataset-options.ts";

export { SCALE_JOB_DEFAULTS, type ScaleDatasetOptions, type ScaleDatasetProgress, type ScaleDatasetResult };

/** Seconds since `start` (a `performance.now()` value). */
function secondsSince(start: number): number {
  return (performance.now() - start) / 1000;
}

/** Mean of the crystals' B matrices (for |q| of voxel centres). */
function meanB(experiments: ExperimentList): Mat3 {
  const B = new Float64Array(9);
  let n = 0;
  for (const e of experiments.experiments) {
    if (e.crystal === undefined) continue;
    for (let i = 0; i < 9; i++) B[i] += e.crystal.B[i];
    n++;
  }
  for (let i = 0; i < 9; i++) B[i] /= Math.max(1, n);
  return B;
}

/**
 * The refine phase: builds the model from the configuration and refines it with the job's options (their `threads`
 * already defaulted by the job); the diffuse file is closed afterwards.
 */
function refinePhase(
  options: ScaleDatasetOptions,
  input: ScaleInputs,
): { model: DiffuseScalingModel; refinement: RefineParametersResult } {
  const { binned, table, experiments, spaceGroup } = input;
  const model = new DiffuseScalingModel(input.config, { nStills: experiments.length, spaceGroup });
  try {
    const refinement = model.refineParameters(binned, table, {
      ...options,
      // an explicit option wins over the configuration file's error_model
      errorModel: options.errorModel ?? input.config.errorModel,
      grouping: {
        // the job's threads also place and order the diffuse rows (the grouped rows are the same for any number)
        ...(options.threads === undefined ? {} : { threads: options.threads }),
        ...(options.memoryLimitBytes === undefined ? {} : { memoryLimitBytes: options.memoryLimitBytes }),
        ...(options.scratchDirectory === undefined ? {} : { scratchDirectory: options.scratchDirectory }),
      },
    });
    return { model, refinement };
  } finally {
    binned?.close();
  }
}

/** The merge phase: the diffuse map at the refined scales (undefined for Bragg only). */
function mergePhase(
  input: ScaleInputs,
  refinement: RefineParametersResult,
  seed: number,
  threads: number | undefined,
  progress: ((event: ScaleDatasetProgress) => void) | undefined,
): MergedDiffuse | undefined {
  const { binned } = input;
  if (binned === undefined) return undefined;
  const details = refinement.details;
  progress?.({ phase: "merge", done: 0, total: 1, label: "voxels" });
  const grid = makeVoxelGrid(binned.attributes.ndiv, binned.attributes.hklMax);
  const merged = mergeDiffuse(details.observations, details.finalState, grid, meanB(input.experiments), {
    seed,
    inverseScales: details.inverseScales,
    ...(threads === undefined ? {} : { threads }),
  });
  progress?.({ phase: "merge", done: 1, total: 1, label: "voxels" });
  return merged;
}

/**
 * Runs the scaling job end to end: read, refine, merge, write.
 *
 * @throws `InputError` for unreadable or malformed inputs, `ConfigError` (and the v1 guards) for invalid
 * configuration or options, `RefinementFailure` when refinement fails.
 */
export async function scaleDataset(options: ScaleDatasetOptions): Promise<ScaleDatasetResult> {
  requireObjectArgument(options, "scaleDataset: options");
  inputFileList(options.exptPath, "--expt");
  inputFileList(options.reflPath, "--refl");
  requireStringArgument(options.outDir, "scaleDataset: outDir");
  for (const key of ["diffusePath", "configPath", "scratchDirectory", "commandLine"] as const)
    if (options[key] !== undefined) requireStringArgument(options[key], `scaleDataset: ${key}`);
  if (options.onProgress !== undefined) requireFunctionArgument(options.onProgress, "scaleDataset: onProgress");
  // the options are checked before any work (refineParameters resolves the same values again; the config is checked
  // when read)
  const seed = checkSeed(options.seed ?? SCALE_JOB_DEFAULTS.seed);
  const jobOptions: ScaleDatasetOptions = { ...options, threads: options.threads ?? SCALE_JOB_DEFAULTS.threads() };
  resolveScalingOptions(jobOptions);
  const progress = options.onProgress;
  // the output (and scratch) directory is checked and locked before any input is read
  if (options.scratchDirectory !== undefined) {
    prepareOutputDirectory(options.scratchDirectory, "--scratch-dir", { create: false });
  }
  const set = await openOutputSet(options.outDir, { what: "--out" });
  // the report's code and vega load in a worker thread while this job reads, refines and merges; the worker renders
  // report.html into the staging directory once the other outputs are there
  const report = startBackgroundReport();
  try {
    const input = await readScaleInputs(options, progress);
    const tRefine = performance.now();
    const { model, refinement } = refinePhase(jobOptions, input);
    try {
      const details = refinement.details;
      // read_s covers reading and grouping the observations (the diffuse file is streamed while grouping); refine_s the rest
      const readS = input.openS + details.groupingSeconds;
      const refineS = secondsSince(tRefine) - details.groupingSeconds;
      const tMerge = performance.now();
      const merged = mergePhase(input, refinement, seed, jobOptions.threads, progress);
      const mergeS = secondsSince(tMerge);
      const { scales, outputs } = await writeScaleOutputs(
        options,
        input,
        model,
        refinement,
        merged,
        { readS, refineS, mergeS },
        set,
        report,
      );
      return { scales, outputs, model, refinement, merged, warnings: scales.warnings ?? [] };
    } finally {
      // paged observations: their scratch file goes once every output is written
      releaseObservations(refinement.details.observations);
    }
  } catch (e) {
    throw set.finalPathError(e);
  } finally {
    report.dispose();
    // a failure at any stage leaves the previous set: the staged files go, and the lock
    set.abandon();
  }
}
