/**
 * The write phase of the `scale` job: `scaled.refl`, `scaled.expt`, `merged_diffuse.h5` (with diffuse data),
 * `refinement.json`, `scales.json` and the HTML report, in that order, into the staging directory of the output set,
 * then committed as one set with its `manifest.json` (see `io/output-set.ts`).
 *
 * @packageDocumentation
 */
import { join } from "node:path";
import { RefinementFailure } from "../errors.ts";
import { writeExperiments } from "../io/expt.ts";
import type { MergedDiffuseAttributes } from "../io/merged-diffuse.ts";
import { MANIFEST_NAME, type OutputSetWriter } from "../io/output-set.ts";
import { writeRefinementJson } from "../io/refinement-json.ts";
import { writeReflections } from "../io/refl-write.ts";
import { writeScalesJson, type ScalesJson } from "../io/scales-json.ts";
import type { MergedDiffuse } from "../merge/merge.ts";
import { computeDiagnosticsAndSharedGroups } from "../merge/diagnostics.ts";
import { fitWarningInputKernel } from "../merge/fit-warning-input.ts";
import { ResidentResidualThreads } from "../merge/resident-residuals.ts";
import { fitWarnings } from "../merge/fit-warnings.ts";
import type { DiffuseScalingModel, RefineParametersResult } from "../refine/diffuse-scaling-model.ts";
import { SCALE_JOB_DEFAULTS, type ScaleDatasetOptions, type ScaleDatasetResult } from "./scale-dataset-options.ts";
import {
  braggUsedMask,
  buildRefinementDocument,
  buildScalesJson,
  diagnosticsSmoother,
  setKbScalingModels,
} from "./scale-documents.ts";
import type { ScaleInputs } from "./scale-inputs.ts";
import type { BackgroundReport } from "./background-report.ts";
import { writeMergedDiffuseInBackground } from "./background-map-writer.ts";
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

/** The root attributes of `merged_diffuse.h5`: the binned file's grid attributes and the half-set seed. */
function mergedMapAttributes(
  binned: NonNullable<ScaleInputs["binned"]>,
  seed: number,
  source: string,
): MergedDiffuseAttributes {
  return {
    ndiv: binned.attributes.ndiv,
    hkl_max: [...binned.attributes.hklMax],
    voxel_grid_dims: [...binned.attributes.voxelGridDims],
    voxel_index_rule: binned.attributes.voxelIndexRule,
    half_set_seed: seed,
    source,
  };
}

/** Refuses a merged map holding a NaN or infinite number (no file of the set may hold one). */
function assertFiniteMap(merged: MergedDiffuse): void {
  for (const [key, values] of Object.entries(merged)) {
    const a = values as ArrayLike<number>;
    for (let i = 0; i < a.length; i++) {
      if (!Number.isFinite(a[i])) {
        throw new RefinementFailure(
          `the merged map holds a non-finite ${key} (${a[i]}) at voxel ${i}; nothing was written`,
        );
      }
    }
  }
}

/**
 * Writes every output of the job into the staging directory of `set` and commits them as one set into
 * `options.outDir`, reporting `write` progress. The report
 * is rendered by `report` when given (a worker started with the job), else here.
 *
 * @returns The scales.json document (its `write_s` timing included) and the paths of the committed set.
 */
export async function writeScaleOutputs(
  options: ScaleDatasetOptions,
  input: ScaleInputs,
  model: DiffuseScalingModel,
  refinement: RefineParametersResult,
  merged: MergedDiffuse | undefined,
  seconds: EarlierPhaseSeconds,
  set: OutputSetWriter,
  report?: BackgroundReport,
): Promise<{ scales: ScalesJson; outputs: ScaleDatasetResult["outputs"] }> {
  const progress = options.onProgress;
  const { binned, table, experiments } = input;
  const tWrite = performance.now();
  const details = refinement.details;
  // the diagnostics' pass over resident rows runs on worker threads, started now so that they load while the
  // reflections are written
  const residualThreads =
    details.observations.rows.kind === "resident"
      ? new ResidentResidualThreads(details, { threads: details.settings.threads })
      : undefined;
  try {
    if (merged !== undefined) assertFiniteMap(merged);
    const outputs: ScaleDatasetResult["outputs"] = {
      scalesJson: set.path("scales.json"),
      scaledRefl: set.path("scaled.refl"),
      scaledExpt: set.path("scaled.expt"),
      refinementJson: set.path("refinement.json"),
      report: set.path("report.html"),
    };
    const nWrites = binned === undefined ? 4 : 5;
    // the merged map is written (compressed) by a worker thread from now on, beside everything else here
    let mapWritten: Promise<void> | undefined;
    if (merged !== undefined && binned !== undefined && options.diffusePath !== undefined) {
      outputs.mergedDiffuse = set.path("merged_diffuse.h5");
      const seed = options.seed ?? SCALE_JOB_DEFAULTS.seed;
      mapWritten = writeMergedDiffuseInBackground(
        outputs.mergedDiffuse,
        merged,
        mergedMapAttributes(binned, seed, options.diffusePath),
      );
      // awaited below; a job failing before then leaves its failure unhandled
      mapWritten.catch(() => undefined);
      // the report worker, idle until scaled.expt is written, loads h5wasm for reading the map
      report?.mapFollows();
    }
    progress?.({ phase: "write", done: 0, total: nWrites, label: "scaled.refl" });
    const scaledTable = buildScaledReflections(table, braggUsedMask(refinement, table.nrows), model, refinement);
    // the workers compute the residuals while the files are written (the job thread mostly waits on the disk)
    residualThreads?.begin();
    await writeReflections(outputs.scaledRefl, scaledTable);
    progress?.({ phase: "write", done: 1, total: nWrites, label: "scaled.expt" });
    setKbScalingModels(
      experiments,
      model,
      details.settings.errorModel === "basic" ? details.errorModels.bragg : undefined,
    );
    await writeExperiments(outputs.scaledExpt, experiments);
    // the report worker computes the merging statistics (and renders their plots) while the rest is written
    report?.written(set.stagingDir, { name: "scaled.expt" });
    if (mapWritten !== undefined) progress?.({ phase: "write", done: 2, total: nWrites, label: "merged_diffuse.h5" });
    const settings = refinement.details.settings;
    const scales = buildScalesJson(
      model,
      refinement,
      settings.minimizer,
      { ...seconds, writeS: 0, threads: settings.threads },
      experiments.experiments.map((e) => e.identifier),
    );
    // the diagnostics' pass over the rows also counts the groups each still shares (for the fit warnings)
    const { diagnostics, nSharedGroups } = computeDiagnosticsAndSharedGroups(
      details,
      merged,
      diagnosticsSmoother(model),
      undefined,
      residualThreads === undefined ? {} : { prepared: residualThreads },
    );
    residualThreads?.close();
    // the map was compressed beside the writes and the diagnostics; the report worker hears of it in the write order
    if (mapWritten !== undefined) {
      await mapWritten;
      report?.written(set.stagingDir, { name: "merged_diffuse.h5", hall: input.spaceGroup.hall });
    }
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
      diagnostics,
    );
    await writeRefinementJson(outputs.refinementJson, refinementDoc);
    // scales.json but for its warnings and write time: the worker renders the plots ahead of it (a cache only)
    report?.written(set.stagingDir, { name: "refinement.json", scalesPreview: scales });
    // the inputs' warnings (rows that belong to no experiment, still ids taken as indices) first, then the fit's
    const models = refinement.details.errorModels;
    const refined = models.bragg?.model === "basic" || models.diffuse?.model === "basic" ? models : undefined;
    scales.warnings = [
      ...input.warnings.map((message) => ({ code: "input", message })),
      // the diagnostics are the ones computed above for this result: no schema parse of them again
      ...fitWarnings(fitWarningInputKernel(refinement.details, refinementDoc.diagnostics, refined, nSharedGroups)),
    ];
    scales.timings.write_s = (performance.now() - tWrite) / 1000;
    await writeScalesJson(outputs.scalesJson, scales);
    progress?.({ phase: "write", done: nWrites - 1, total: nWrites, label: "report.html" });
    if (report !== undefined) await report.write(set.stagingDir, outputs.report);
    else {
      // Loaded on demand so that the library entry does not load vega.
      const { writeReport } = await import("../report/write-report.ts");
      await writeReport(set.stagingDir, { outPath: outputs.report });
    }
    await set.commit({
      command: "scale",
      commandLine: options.commandLine ?? SCALE_JOB_DEFAULTS.commandLine,
    });
    progress?.({ phase: "write", done: nWrites, total: nWrites, label: "done" });
    const final = (path: string | undefined): string =>
      join(options.outDir, path?.slice(set.stagingDir.length + 1) ?? "");
    const committed: ScaleDatasetResult["outputs"] = {
      scalesJson: final(outputs.scalesJson),
      scaledRefl: final(outputs.scaledRefl),
      scaledExpt: final(outputs.scaledExpt),
      refinementJson: final(outputs.refinementJson),
      report: final(outputs.report),
      manifest: join(options.outDir, MANIFEST_NAME),
    };
    if (outputs.mergedDiffuse !== undefined) committed.mergedDiffuse = final(outputs.mergedDiffuse);
    return { scales, outputs: committed };
  } finally {
    residualThreads?.close();
  }
}
