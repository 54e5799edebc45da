/**
 * The documents the `scale` job writes beside the scaled data: `scales.json` (the refined parameters and statistics in
 * the spec's form) and `refinement.json` (inputs, per-iteration history, input counts, group counts, CC½ and the
 * diagnostics the report plots).
 *
 * @packageDocumentation
 */
import {
  ConfigError,
  describeValue,
  requireArrayArgument,
  requireFiniteArgument,
  requireInstanceArgument,
  requireObjectArgument,
} from "../errors.ts";
import type { ExperimentList } from "../io/expt.ts";
import type { ErrorModelEntry, ScalesJson } from "../io/scales-json.ts";
import type { ScalingDiagnostics } from "../io/diagnostics-json.ts";
import { computeDiagnostics, type DiagnosticsSmoother } from "../merge/diagnostics.ts";
import type { RefinementJson } from "../io/refinement-json.ts";
import { ccHalf } from "../merge/cc-half.ts";
import type { MergedDiffuse } from "../merge/merge.ts";
import { DiffuseScalingModel, type RefineParametersResult } from "../refine/diffuse-scaling-model.ts";
import type { SpaceGroup } from "../symmetry/space-group.ts";
import type { ClassErrorModels, ErrorModelSummary } from "../refine/class-error-models.ts";
import { describeFiles, type InputFiles } from "./scale-input-files.ts";

/**
 * The scales.json document of a refined model. With `identifiers` (the experiment identifier of each still), every
 * entry of `refined_parameters` carries its still's non-empty `identifier`.
 */
export function buildScalesJson(
  model: DiffuseScalingModel,
  refinement: RefineParametersResult,
  minimizer: "lm" | "gauss_newton",
  timings: { readS: number; refineS: number; mergeS: number; writeS: number; voxelizeS?: number; threads?: number },
  identifiers?: readonly string[],
): ScalesJson {
  const fn = "buildScalesJson";
  requireInstanceArgument(model, DiffuseScalingModel, `${fn}: model`);
  requireObjectArgument(refinement, `${fn}: refinement (the result of refineParameters)`);
  requireInstanceArgument(refinement.refinedParameters, Map, `${fn}: refinement.refinedParameters`);
  requireObjectArgument(refinement.details, `${fn}: refinement.details`);
  requireObjectArgument(refinement.statistics, `${fn}: refinement.statistics`);
  if (!["lm", "gauss_newton"].includes(minimizer))
    throw new ConfigError(`${fn}: minimizer must be "lm" or "gauss_newton", got ${describeValue(minimizer)}`);
  requireObjectArgument(timings, `${fn}: timings`);
  for (const key of ["readS", "refineS", "mergeS", "writeS"] as const)
    requireFiniteArgument(timings[key], `${fn}: timings.${key}`);
  if (identifiers !== undefined) requireArrayArgument(identifiers, `${fn}: identifiers`);
  const details = refinement.details;
  const refined: ScalesJson["refined_parameters"] = {};
  for (const [s, p] of refinement.refinedParameters) {
    const identifier = identifiers?.[s] ?? "";
    refined[String(s)] = {
      multiplicative_scale: p.multiplicativeScale,
      additive_offset: 0.0,
      esd: p.esd,
      ...(identifier === "" ? {} : { identifier }),
    };
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
    ...errorModelEntries(details.errorModels),
  };
}

/**
 * The `error_model` entry of scales.json: one per class present, the refined (or fixed) model with `--error-model
 * basic`, model "none" with `--error-model none`; each with the normalised residual sd before and after the model, and
 * σ' against I in intensity bins for a "basic" model.
 */
function errorModelEntries(models: ClassErrorModels): Pick<ScalesJson, "error_model"> {
  const entry = (m: ErrorModelSummary): ErrorModelEntry => ({
    model: m.model,
    a: m.a,
    b: m.b,
    refined: m.refined,
    ...(m.fixedReason === undefined ? {} : { fixed_reason: m.fixedReason }),
    residual_sd_before: m.normalisedResidualSd.before,
    residual_sd_after: m.normalisedResidualSd.after,
    ...(m.sigmaBins === undefined
      ? {}
      : {
          sigma_bins: m.sigmaBins.map((s) => ({
            i_min: s.iMin,
            i_max: s.iMax,
            n: s.n,
            mean_i: s.meanIntensity,
            mean_sigma: s.meanSigma,
            mean_sigma_prime: s.meanSigmaPrime,
          })),
        }),
  });
  return {
    error_model: {
      ...(models.bragg === undefined ? {} : { bragg: entry(models.bragg) }),
      ...(models.diffuse === undefined ? {} : { diffuse: entry(models.diffuse) }),
    },
  };
}

/** The inputs `refinement.json` records. */
export interface RecordedInputs {
  /** The command line. */
  commandLine: string;
  /** The experiment list's path (or paths). */
  exptPath: InputFiles;
  /** The reflection table's path (or paths). */
  reflPath: InputFiles;
  /** The binned diffuse file's path, or undefined. */
  diffusePath: string | undefined;
  /** The configuration file's path, or undefined. */
  configPath: string | undefined;
}

/** The smoother of a model as the diagnostics plot it (undefined when the model has none). */
export function diagnosticsSmoother(model: DiffuseScalingModel): DiagnosticsSmoother | undefined {
  const r = model.resolutionComponent;
  if (r === undefined) return undefined;
  return {
    valueAt: (q: number) => model.resolutionComponent?.valueAt(q) ?? 1,
    qRange: r.qRange,
    values: r.parameters,
    esds: r.parameterEsds ?? new Float64Array(r.nParams),
  };
}

/**
 * The refinement.json document: inputs, history, counts, CC½ and diagnostics of a refined model.
 *
 * @param diagnostics - the diagnostics of `refinement` when already computed (`computeDiagnosticsAndSharedGroups`
 *   with {@link diagnosticsSmoother}). @defaultValue computed here
 */
export function buildRefinementDocument(
  inputs: RecordedInputs,
  spaceGroup: SpaceGroup,
  model: DiffuseScalingModel,
  refinement: RefineParametersResult,
  merged: MergedDiffuse | undefined,
  diagnostics?: ScalingDiagnostics,
): RefinementJson {
  const details = refinement.details;
  return {
    command_line: inputs.commandLine,
    inputs: {
      expt: typeof inputs.exptPath === "string" ? inputs.exptPath : describeFiles(inputs.exptPath),
      refl: typeof inputs.reflPath === "string" ? inputs.reflPath : describeFiles(inputs.reflPath),
      diffuse: inputs.diffusePath ?? null,
      config: inputs.configPath ?? null,
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
    diagnostics: diagnostics ?? computeDiagnostics(details, merged, diagnosticsSmoother(model)),
  };
}

/**
 * The per-still KB scaling models of `scaled.expt`: b and its ESD of every still, set on the experiments, and the
 * Bragg error model where DIALS keeps it (`configuration_parameters.error_model_type` "BasicErrorModel" and
 * `error_model_parameters` [a, b]) when one was refined.
 */
export function setKbScalingModels(
  experiments: ExperimentList,
  model: DiffuseScalingModel,
  braggErrorModel?: { a: number; b: number },
): void {
  experiments.experiments.forEach((_, i) => {
    const b = model.perStillComponent.parameters[i];
    const esd = model.perStillComponent.parameterEsds?.[i] ?? 0;
    experiments.setScalingModel(i, {
      __id__: "KB",
      scale: { n_parameters: 1, parameters: [b], est_standard_devs: [esd], null_parameter_value: 1.0 },
      configuration_parameters:
        braggErrorModel === undefined
          ? { corrections: ["scale"] }
          : {
              corrections: ["scale"],
              error_model_type: "BasicErrorModel",
              error_model_parameters: [braggErrorModel.a, braggErrorModel.b],
            },
    });
  });
}

/**
 * Groups (ASU hkl for Bragg, voxels for diffuse) of the final observations, and how many hold exactly one usable
 * observation: such groups say nothing about relative scales (their reference is the observation itself), so they are
 * reported rather than silently absorbed.
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
export function braggUsedMask(refinement: RefineParametersResult, nrows: number): Uint8Array {
  const mask = new Uint8Array(nrows);
  const input = refinement.details.braggInput;
  if (input !== undefined) for (const r of input.sourceRow) mask[r] = 1;
  return mask;
}
