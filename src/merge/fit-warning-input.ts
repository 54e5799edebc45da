/**
 * The summary {@link fitWarnings} reads, gathered from a refinement result and its diagnostics: per-still scales,
 * ESDs and used observations, the multiply-observed groups of each still (one pass over the rows), the scales before
 * the first outlier rejection, and per data class the used and rejected observations and the normalised residual sd
 * at the run's weights. An error-model summary, when the run has one, is passed through.
 *
 * @packageDocumentation
 */
import {
  ConfigError,
  requireArrayArgument,
  requireInstanceArgument,
  requireObjectArgument,
  requireOptionsArgument,
} from "../errors.ts";
import { requireScalingDiagnosticsArgument, type ScalingDiagnostics } from "../io/diagnostics-json.ts";
import { forEachWindow } from "../observations/observation-windows.ts";
import type { JointRefinementResult } from "../refine/joint-refinement.ts";
import type { FitWarningInput } from "./fit-warnings.ts";

/**
 * Per included still: the groups (Bragg groups and voxels) with ≥ 2 used observations that hold at least one used
 * observation of the still, counted once per group. One pass over the rows, window by window (resident or paged:
 * the same counts).
 */
export function sharedGroupsPerStill(result: JointRefinementResult): number[] {
  const obs = result.observations;
  const nStills = result.includedStills.length;
  const counts = new Array<number>(nStills).fill(0);
  // the last group that counted each still (a still seen twice in one group counts once)
  const lastGroup = new Int32Array(nStills).fill(-1);
  const used = result.references.nObservations;
  const groupStart = obs.groupStart;
  forEachWindow(obs, (w) => {
    const { still, weight } = w.rows;
    for (let h = w.groupBegin; h < w.groupEnd; h++) {
      if (used[h] < 2) continue;
      for (let o = groupStart[h]; o < groupStart[h + 1]; o++) {
        const l = o - w.rowBegin;
        if (weight[l] === 0) continue;
        const s = still[l];
        if (lastGroup[s] === h) continue;
        lastGroup[s] = h;
        counts[s]++;
      }
    }
  });
  return counts;
}

/**
 * The warnings' input of a refinement.
 *
 * @param result - The refinement result.
 * @param diagnostics - Its diagnostics (`computeDiagnostics` of the same result).
 * @param errorModel - The error-model summary per class, when the run has one. @defaultValue undefined
 * @param nSharedGroups - {@link sharedGroupsPerStill} of `result` when already counted (as
 *   `computeDiagnosticsAndSharedGroups` does in its pass over the rows). @defaultValue counted here
 */
export function fitWarningInputOf(
  result: JointRefinementResult,
  diagnostics: ScalingDiagnostics,
  errorModel?: FitWarningInput["errorModel"],
  nSharedGroups?: readonly number[],
): FitWarningInput {
  const fn = "fitWarningInputOf";
  requireObjectArgument(result, `${fn}: result (the details of a refinement)`);
  requireObjectArgument(result.observations, `${fn}: result.observations`);
  requireInstanceArgument(result.observations.groupStart, Int32Array, `${fn}: result.observations.groupStart`);
  requireScalingDiagnosticsArgument(diagnostics, `${fn}: diagnostics`);
  requireOptionsArgument(errorModel, `${fn}: errorModel`);
  if (nSharedGroups !== undefined) {
    requireArrayArgument(nSharedGroups, `${fn}: nSharedGroups`);
    if (nSharedGroups.length !== result.includedStills.length) {
      throw new ConfigError(
        `${fn}: nSharedGroups has ${nSharedGroups.length} entries for ${result.includedStills.length} included stills`,
      );
    }
  }
  return fitWarningInputKernel(result, diagnostics, errorModel, nSharedGroups);
}

/**
 * {@link fitWarningInputOf} without the checks of its arguments: for diagnostics the caller built itself with
 * `computeDiagnosticsAndSharedGroups` of the same result (the scale job; the schema parse of every per-still array
 * would only repeat what its types say).
 * @internal
 */
export function fitWarningInputKernel(
  result: JointRefinementResult,
  diagnostics: ScalingDiagnostics,
  errorModel: FitWarningInput["errorModel"],
  nSharedGroups: readonly number[] | undefined,
): FitWarningInput {
  const p = diagnostics.perStill;
  const obs = result.observations;
  const nRows = obs.groupStart[obs.nGroups];
  const sum = (v: readonly number[]) => v.reduce((a, b) => a + b, 0);
  return {
    stills: p.still,
    scales: p.scale,
    scaleEsds: p.esd,
    nObservations: p.nBragg.map((n, i) => n + p.nDiffuse[i]),
    nSharedGroups: nSharedGroups === undefined ? sharedGroupsPerStill(result) : [...nSharedGroups],
    scalesBeforeRejection:
      result.scalesBeforeRejection === undefined ? undefined : Array.from(result.scalesBeforeRejection),
    classes: {
      bragg:
        obs.nBraggRows === 0
          ? undefined
          : {
              nUsed: sum(p.nBragg),
              nOutliers: diagnostics.nOutliers.bragg,
              residuals: diagnostics.residuals.bragg,
            },
      diffuse:
        nRows === obs.nBraggRows
          ? undefined
          : {
              nUsed: sum(p.nDiffuse),
              nOutliers: diagnostics.nOutliers.diffuse,
              residuals: diagnostics.residuals.diffuse,
            },
    },
    errorModel,
  };
}
