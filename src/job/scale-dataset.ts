/**
 * The whole `diffuse-scale scale` job as one library call: read the DIALS experiments and reflections (and the binned
 * diffuse observations), build and refine the v1 model, merge the diffuse map, and write `scales.json`,
 * `scaled.refl`, `scaled.expt`, `merged_diffuse.h5` and `refinement.json` (per-iteration history and diagnostics for
 * the report). Every output is written atomically.
 *
 * @packageDocumentation
 */
import { mkdir } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../errors.ts";
import { openBinnedDiffuse, type BinnedDiffuseFile } from "../io/binned-diffuse.ts";
import { readExperiments, writeExperiments, type ExperimentList } from "../io/expt.ts";
import type { Mat3 } from "../geometry/vectors.ts";
import { writeMergedDiffuse, type MergedDiffuseAttributes } from "../io/merged-diffuse.ts";
import { readReflections } from "../io/refl-read.ts";
import { writeReflections } from "../io/refl-write.ts";
import { writeRefinementJson, type RefinementJson } from "../io/refinement-json.ts";
import { writeScalesJson, type ScalesJson } from "../io/scales-json.ts";
import type { ReflectionTable } from "../table/reflection-table.ts";
import { readDiffuseScalingConfigFile, type DiffuseScalingConfigInput } from "../refine/config.ts";
import { DiffuseScalingModel, type RefineParametersResult } from "../refine/diffuse-scaling-model.ts";
import type { RefinementProgress } from "../refine/joint-refinement.ts";
import { mergeDiffuse, type MergedDiffuse } from "../merge/merge.ts";
import { ccHalf } from "../merge/cc-half.ts";
import { releaseObservations } from "../observations/scaling-observations.ts";
import { computeDiagnostics } from "../merge/diagnostics.ts";
import { buildScaledReflections } from "./scaled-reflections.ts";
import { makeVoxelGrid } from "../voxelize/voxel-grid.ts";
import { commonSpaceGroup } from "../io/common-space-group.ts";

/** A progress event of the job. */
export type ScaleDatasetProgress =
  { phase: "read" | "merge" | "write"; done: number; total: number; label: string } | RefinementProgress;

/** Options of {@link scaleDataset}. */
export interface ScaleDatasetOptions {
  /** DIALS experiment list (one experiment per still). */
  exptPath: string;
  /** DIALS reflection table (integrated, with `partiality`). */
  reflPath: string;
  /** Binned diffuse observations (`diffuse_binned.h5` layout). @defaultValue undefined (Bragg only) */
  diffusePath?: string;
  /** JSON configuration file (snake_case keys). @defaultValue undefined */
  configPath?: string;
  /** Number of smoother control points; enables the smoother (overrides the config). @defaultValue undefined */
  smootherPoints?: number;
  /** Minimiser. @defaultValue "lm" */
  minimizer?: "lm" | "gauss_newton";
  /** Output directory (created if needed). */
  outDir: string;
  /** Maximum iterations per cycle. @defaultValue 100 */
  maxIterations?: number;
  /** RMSD convergence tolerance. @defaultValue 1e-4 */
  convergenceTolerance?: number;
  /** Outlier z threshold (0 disables rejection). @defaultValue 6 */
  outlierZmax?: number;
  /** Seed of the half-set split. @defaultValue 0 */
  seed?: number;
  /** The command line, recorded in the outputs. @defaultValue "" */
  commandLine?: string;
  /** Progress callback. @defaultValue undefined */
  onProgress?: (event: ScaleDatasetProgress) => void;
  /**
   * Worker threads for the refinement passes (results are bit-identical for any value).
   * @defaultValue `os.availableParallelism()`
   */
  threads?: number;
  /** Minimum rows per shard of the refinement passes (a tuning and testing knob). @defaultValue 2^18 */
  shardRows?: number;
  /** Above this many stills the refinement solves matrix-free (PCG). @defaultValue 2000 */
  iterativeAbove?: number;
  /**
   * Grouped observations larger than this many bytes (20 per observation) are paged from a scratch file instead of
   * held in memory (inputs larger than memory); the results are bit-identical either way.
   * @defaultValue a quarter of the memory the process may use (`usableMemory()`: the machine's, or a container's limit)
   */
  memoryLimitBytes?: number;
  /**
   * Directory of the scratch file of paged observations (unlinked as soon as it is open: nothing is left behind).
   * @defaultValue `os.tmpdir()`
   */
  scratchDirectory?: string;
}

/** What {@link scaleDataset} produced. */
export interface ScaleDatasetResult {
  /** The scales.json document. */
  scales: ScalesJson;
  /** Paths written. */
  outputs: {
    scalesJson: string;
    scaledRefl: string;
    scaledExpt: string;
    mergedDiffuse?: string;
    refinementJson: string;
    /** The self-contained HTML report. */
    report: string;
  };
  /** The refined model. */
  model: DiffuseScalingModel;
  /** The refinement. */
  refinement: RefineParametersResult;
  /** The merged diffuse map, when diffuse data were given. */
  merged: MergedDiffuse | undefined;
}

function seconds(start: number): number {
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

async function readConfig(options: ScaleDatasetOptions): Promise<DiffuseScalingConfigInput> {
  let config: DiffuseScalingConfigInput = {};
  // issue 7: reading + JSON parsing live in config.ts, which keeps the error messages one printable line
  if (options.configPath !== undefined) config = await readDiffuseScalingConfigFile(options.configPath);
  if (options.smootherPoints !== undefined) {
    config = {
      ...config,
      resolutionSmoother: { ...config.resolutionSmoother, enabled: true, nControlPoints: options.smootherPoints },
    };
  }
  return config;
}

/**
 * Runs the scaling job end to end.
 *
 * @throws `InputError` for unreadable or malformed inputs, {@link ConfigError} (and the v1 guards) for invalid
 * configuration, {@link RefinementFailure} when refinement fails.
 */
export async function scaleDataset(options: ScaleDatasetOptions): Promise<ScaleDatasetResult> {
  const progress = options.onProgress;
  const tRead = performance.now();
  progress?.({ phase: "read", done: 0, total: 3, label: "experiments" });
  const config = await readConfig(options);
  const experiments = await readExperiments(options.exptPath);
  const spaceGroup = commonSpaceGroup(experiments, options.exptPath);
  progress?.({ phase: "read", done: 1, total: 3, label: "reflections" });
  const table: ReflectionTable = await readReflections(options.reflPath);
  progress?.({ phase: "read", done: 2, total: 3, label: "diffuse" });
  // the diffuse file is opened here and streamed in slices while the observations are grouped (never loaded whole)
  let binned: BinnedDiffuseFile | undefined;
  if (options.diffusePath !== undefined) binned = await openBinnedDiffuse(options.diffusePath);
  progress?.({ phase: "read", done: 3, total: 3, label: "done" });
  const openS = seconds(tRead);

  const model = new DiffuseScalingModel(config, { nStills: experiments.length, spaceGroup });
  const minimizer: string = options.minimizer ?? "lm";
  if (minimizer !== "lm" && minimizer !== "gauss_newton") {
    throw new ConfigError(`minimizer must be "lm" or "gauss_newton", got "${minimizer}"`);
  }
  const threads = options.threads ?? availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) {
    throw new ConfigError(`threads must be a positive integer, got ${threads}`);
  }
  const tRefine = performance.now();
  let refinement: RefineParametersResult;
  try {
    refinement = model.refineParameters(binned, table, {
      threads,
      ...(options.shardRows === undefined ? {} : { shardRows: options.shardRows }),
      ...(options.iterativeAbove === undefined ? {} : { iterativeAbove: options.iterativeAbove }),
      maxIterations: options.maxIterations ?? 100,
      convergenceTolerance: options.convergenceTolerance ?? 1e-4,
      minimizerType: minimizer,
      outlierZmax: options.outlierZmax ?? 6,
      ...(progress === undefined ? {} : { onProgress: progress }),
      grouping: {
        ...(options.memoryLimitBytes === undefined ? {} : { memoryLimitBytes: options.memoryLimitBytes }),
        ...(options.scratchDirectory === undefined ? {} : { scratchDirectory: options.scratchDirectory }),
      },
    });
  } finally {
    binned?.close();
  }
  try {
    const details = refinement.details;
    // read_s covers reading and grouping the observations (the diffuse file is streamed while grouping); refine_s the rest
    const readS = openS + details.groupingSeconds;
    const refineS = seconds(tRefine) - details.groupingSeconds;

    const tMerge = performance.now();
    let merged: MergedDiffuse | undefined;
    if (binned !== undefined) {
      progress?.({ phase: "merge", done: 0, total: 1, label: "voxels" });
      const grid = makeVoxelGrid(binned.attributes.ndiv, binned.attributes.hklMax);
      merged = mergeDiffuse(details.observations, details.finalState, grid, meanB(experiments), {
        seed: options.seed ?? 0,
        inverseScales: details.inverseScales,
      });
      progress?.({ phase: "merge", done: 1, total: 1, label: "voxels" });
    }
    const mergeS = seconds(tMerge);

    const tWrite = performance.now();
    await mkdir(options.outDir, { recursive: true });
    const outputs: ScaleDatasetResult["outputs"] = {
      scalesJson: join(options.outDir, "scales.json"),
      scaledRefl: join(options.outDir, "scaled.refl"),
      scaledExpt: join(options.outDir, "scaled.expt"),
      refinementJson: join(options.outDir, "refinement.json"),
      report: join(options.outDir, "report.html"),
    };
    const nWrites = binned === undefined ? 4 : 5;
    progress?.({ phase: "write", done: 0, total: nWrites, label: "scaled.refl" });
    const scaledTable = buildScaledReflections(table, braggUsedMask(refinement, table.nrows), model, refinement);
    await writeReflections(outputs.scaledRefl, scaledTable);
    progress?.({ phase: "write", done: 1, total: nWrites, label: "scaled.expt" });
    experiments.experiments.forEach((_, i) => {
      const b = model.perStillComponent.parameters[i];
      const esd = model.perStillComponent.parameterEsds?.[i] ?? 0;
      experiments.setScalingModel(i, {
        __id__: "KB",
        scale: { n_parameters: 1, parameters: [b], est_standard_devs: [esd], null_parameter_value: 1.0 },
        configuration_parameters: { corrections: ["scale"] },
      });
    });
    await writeExperiments(outputs.scaledExpt, experiments);
    if (merged !== undefined && binned !== undefined && options.diffusePath !== undefined) {
      progress?.({ phase: "write", done: 2, total: nWrites, label: "merged_diffuse.h5" });
      outputs.mergedDiffuse = join(options.outDir, "merged_diffuse.h5");
      await writeMergedDiffuse(
        outputs.mergedDiffuse,
        {
          voxelIndex: merged.voxelIndex,
          hkl: merged.hkl,
          qMagnitude: merged.qMagnitude,
          intensity: merged.intensity,
          sigma: merged.sigma,
          nObservations: merged.nObservations,
          halfSet1: merged.halfSet1,
          halfSet2: merged.halfSet2,
        },
        {
          ndiv: binned.attributes.ndiv,
          hkl_max: [...binned.attributes.hklMax],
          voxel_grid_dims: [...binned.attributes.voxelGridDims],
          voxel_index_rule: binned.attributes.voxelIndexRule,
          half_set_seed: options.seed ?? 0,
          source: options.diffusePath,
        } satisfies MergedDiffuseAttributes,
      );
    }
    const scales = buildScalesJson(model, refinement, minimizer, { readS, refineS, mergeS, writeS: 0, threads });
    const refinementDoc: RefinementJson = {
      command_line: options.commandLine ?? "",
      inputs: {
        expt: options.exptPath,
        refl: options.reflPath,
        diffuse: options.diffusePath ?? null,
        config: options.configPath ?? null,
      },
      space_group: { hall: spaceGroup.hall, number: spaceGroup.number, symbol: spaceGroup.symbol },
      history: details.history.map((h) => ({
        cycle: h.cycle,
        iteration: h.iteration,
        rmsd: h.rmsd,
        chi_squared: h.chiSquared,
        reduced_chi_squared: h.reducedChiSquared,
        r_factor: h.rFactor,
        seconds: h.seconds,
      })),
      statistics: details.statistics,
      bragg_counts: details.braggCounts ?? null,
      diffuse_counts: details.diffuseCounts ?? null,
      group_counts: groupCounts(details),
      cc_half: merged === undefined ? null : ccHalf(merged),
      diagnostics: computeDiagnostics(
        details,
        merged,
        model.resolutionComponent === undefined
          ? undefined
          : {
              valueAt: (q: number) => model.resolutionComponent?.valueAt(q) ?? 1,
              qRange: model.resolutionComponent.qRange,
              values: model.resolutionComponent.parameters,
              esds: model.resolutionComponent.parameterEsds ?? new Float64Array(model.resolutionComponent.nParams),
            },
      ),
    };
    await writeRefinementJson(outputs.refinementJson, refinementDoc);
    scales.timings.write_s = seconds(tWrite);
    await writeScalesJson(outputs.scalesJson, scales);
    progress?.({ phase: "write", done: nWrites - 1, total: nWrites, label: "report.html" });
    // Loaded on demand so that the library entry does not load vega.
    const { writeReport } = await import("../report/write-report.ts");
    await writeReport(options.outDir, { outPath: outputs.report });
    progress?.({ phase: "write", done: nWrites, total: nWrites, label: "done" });
    return { scales, outputs, model, refinement, merged };
  } finally {
    // paged observations: their scratch file goes once every output is written
    releaseObservations(refinement.details.observations);
  }
}

/**
 * Groups (ASU hkl for Bragg, voxels for diffuse) of the final observations, and how many hold exactly one usable
 * observation: such groups say nothing about relative scales (their reference is the observation itself), so they are
 * reported rather than silently absorbed (issue 7).
 */
function groupCounts(details: RefineParametersResult["details"]): {
  bragg_groups: number;
  bragg_single_member: number;
  voxels: number;
  voxels_single_member: number;
} {
  const out = { bragg_groups: 0, bragg_single_member: 0, voxels: 0, voxels_single_member: 0 };
  // the final references count every group's used (weight > 0) rows: no pass over the rows
  const used = details.references.nObservations;
  const nBraggGroups = details.observations.nBraggGroups;
  for (let h = 0; h < used.length; h++) {
    if (used[h] === 0) continue;
    const bragg = h < nBraggGroups;
    if (bragg) out.bragg_groups++;
    else out.voxels++;
    if (used[h] === 1) {
      if (bragg) out.bragg_single_member++;
      else out.voxels_single_member++;
    }
  }
  return out;
}

/** Rows of the reflection table that entered scaling. */
function braggUsedMask(refinement: RefineParametersResult, nrows: number): Uint8Array {
  const mask = new Uint8Array(nrows);
  const input = refinement.details.braggInput;
  if (input !== undefined) for (const r of input.sourceRow) mask[r] = 1;
  return mask;
}

/** The scales.json document of a refined model. */
export function buildScalesJson(
  model: DiffuseScalingModel,
  refinement: RefineParametersResult,
  minimizer: "lm" | "gauss_newton",
  timings: { readS: number; refineS: number; mergeS: number; writeS: number; voxelizeS?: number; threads?: number },
): ScalesJson {
  const details = refinement.details;
  const refined: ScalesJson["refined_parameters"] = {};
  for (const [s, p] of refinement.refinedParameters) {
    refined[String(s)] = { multiplicative_scale: p.multiplicativeScale, additive_offset: 0.0, esd: p.esd };
  }
  const r = model.resolutionComponent;
  const smoother: ScalesJson["resolution_smoother"] =
    r === undefined
      ? { enabled: false }
      : {
          enabled: true,
          q_range: [r.qRange[0], r.qRange[1]],
          n_control_points: r.nParams,
          values: Array.from(r.parameters),
          esds: Array.from(r.parameterEsds ?? new Float64Array(r.nParams)),
        };
  // the used rows of the voxel groups [nBraggGroups, nGroups), as the final references counted them
  let nDiffuseUsed = 0;
  const used = details.references.nObservations;
  for (let h = details.observations.nBraggGroups; h < used.length; h++) nDiffuseUsed += used[h];
  const nOutlierRows = details.outlierRows.length;
  const s = refinement.statistics;
  return {
    format: "diffuse-scaling/scales@1",
    gauge: "geometric_mean_multiplicative_scale_equals_1",
    refined_parameters: refined,
    resolution_smoother: smoother,
    refinement_statistics: {
      n_iterations: s.nIterations,
      initial_r_factor: s.initialRFactor,
      final_r_factor: s.finalRFactor,
      convergence_achieved: s.convergenceAchieved,
      parameter_shifts: { ...s.parameterShifts },
      minimizer,
    },
    data: {
      n_stills: model.nStills,
      n_bragg_used: details.braggCounts?.nUsed ?? 0,
      n_bragg_below_partiality: details.braggCounts?.nBelowPartiality ?? 0,
      n_diffuse_used: nDiffuseUsed,
      n_outliers: nOutlierRows,
      stills_without_data: Array.from(details.stillsWithoutData),
      stills_disconnected: Array.from(details.stillsDisconnected),
    },
    timings: {
      read_s: timings.readS,
      ...(timings.voxelizeS === undefined ? {} : { voxelize_s: timings.voxelizeS }),
      refine_s: timings.refineS,
      merge_s: timings.mergeS,
      write_s: timings.writeS,
      threads: timings.threads ?? 1,
    },
  };
}
