/**
 * The write phase of the `scale` job: `scaled.refl`, `scaled.expt`, `merged_diffuse.h5` (with diffuse data),
 * `refinement.json`, `scales.json` and the HTML report, in that order, each written atomically.
 *
 * @packageDocumentation
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { writeExperiments } from "../io/expt.ts";
import { writeMergedDiffuse, type MergedDiffuseAttributes } from "../io/merged-diffuse.ts";
import { writeRefinementJson } from "../io/refinement-json.ts";
import { writeReflections } from "../io/refl-write.ts";
import { writeScalesJson, type ScalesJson } from "../io/scales-json.ts";
import type { MergedDiffuse } from "../merge/merge.ts";
import type { DiffuseScalingModel, RefineParametersResult } from "../refine/diffuse-scaling-model.ts";
import { SCALE_JOB_DEFAULTS, type ScaleDatasetOptions, type ScaleDatasetResult } from "./scale-dataset-options.ts";
import { braggUsedMask, buildRefinementDocument, buildScalesJson, setKbScalingModels } from "./scale-documents.ts";
import type { ScaleInputs } from "./scale-inputs.ts";
import type { BackgroundReport } from "./background-report.ts";
import { buildScaledReflections } from "./scaled-reflections.ts";

/** Seconds of the phases before the write phase. */
export interface EarlierPhaseSeconds {
  /** Reading and grouping the observations. */
  readS: number;
  /** Refinement (grouping excluded). */
  refineS: number;
  /** Merging the diffuse map. */
  mergeS: number;
}

/** `merged_diffuse.h5`: the merged map with the binned file's grid attributes and the half-set seed. */
async function writeMergedMap(
  path: string,
  merged: MergedDiffuse,
  binned: NonNullable<ScaleInputs["binned"]>,
  seed: number,
  source: string,
): Promise<void> {
  await writeMergedDiffuse(path, merged, {
    ndiv: binned.attributes.ndiv,
    hkl_max: [...binned.attributes.hklMax],
    voxel_grid_dims: [...binned.attributes.voxelGridDims],
    voxel_index_rule: binned.attributes.voxelIndexRule,
    half_set_seed: seed,
    source,
  } satisfies MergedDiffuseAttributes);
}

/**
 * Writes every output of the job into `options.outDir` (created if needed), reporting `write` progress. The report
 * is rendered by `report` when given (a worker started with the job), else here.
 *
 * @returns The scales.json document (its `write_s` timing included) and the paths written.
 */
export async function writeScaleOutputs(
  options: ScaleDatasetOptions,
  input: ScaleInputs,
  model: DiffuseScalingModel,
  refinement: RefineParametersResult,
  merged: MergedDiffuse | undefined,
  seconds: EarlierPhaseSeconds,
  report?: BackgroundReport,
): Promise<{ scales: ScalesJson; outputs: ScaleDatasetResult["outputs"] }> {
  const progress = options.onProgress;
  const { binned, table, experiments } = input;
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
  setKbScalingModels(experiments, model);
  await writeExperiments(outputs.scaledExpt, experiments);
  if (merged !== undefined && binned !== undefined && options.diffusePath !== undefined) {
    progress?.({ phase: "write", done: 2, total: nWrites, label: "merged_diffuse.h5" });
    outputs.mergedDiffuse = join(options.outDir, "merged_diffuse.h5");
    const seed = options.seed ?? SCALE_JOB_DEFAULTS.seed;
    await writeMergedMap(outputs.mergedDiffuse, merged, binned, seed, options.diffusePath);
  }
  const settings = refinement.details.settings;
  const scales = buildScalesJson(model, refinement, settings.minimizer, {
    ...seconds,
    writeS: 0,
    threads: settings.threads,
  });
  const refinementDoc = buildRefinementDocument(
    {
      commandLine: options.commandLine ?? SCALE_JOB_DEFAULTS.commandLine,
      exptPath: options.exptPath,
      reflPath: options.reflPath,
      diffusePath: options.diffusePath,
      configPath: options.configPath,
    },
    input.spaceGroup,
    model,
    refinement,
    merged,
  );
  await writeRefinementJson(outputs.refinementJson, refinementDoc);
  scales.timings.write_s = (performance.now() - tWrite) / 1000;
  await writeScalesJson(outputs.scalesJson, scales);
  progress?.({ phase: "write", done: nWrites - 1, total: nWrites, label: "report.html" });
  if (report !== undefined) await report.write(options.outDir, outputs.report);
  else {
    // Loaded on demand so that the library entry does not load vega.
    const { writeReport } = await import("../report/write-report.ts");
    await writeReport(options.outDir, { outPath: outputs.report });
  }
  progress?.({ phase: "write", done: nWrites, total: nWrites, label: "done" });
  return { scales, outputs };
}
