/**
 * Diagnostics of a scaling run, as plain JSON-ready data for the report ({@link ScalingDiagnostics}, the `diagnostics`
 * object of `refinement.json`): per-still scales and counts, the smoother curve, normalised residuals (histogram and
 * normal probability plot, Bragg and diffuse separately: ./residuals.ts), Bragg ⟨I/σ⟩ and diffuse ⟨I⟩ and CC½ in |q|
 * shells (./shells.ts), multiplicity histograms and outlier counts. Everything is aggregated (bounded size whatever
 * the number of observations).
 *
 * @packageDocumentation
 */
import type { Histogram, ScalingDiagnostics } from "../io/diagnostics-json.ts";
import type { JointRefinementResult } from "../refine/joint-refinement.ts";
import { checkModelState } from "../passes/inverse-scale-batches.ts";
import type { MergedDiffuse } from "./merge.ts";
import type { ResidentResidualOptions, ResidentResidualThreads } from "./resident-residuals.ts";
import { residualSummaries } from "./residuals.ts";
import { braggIOverSigmaShells, diffuseCcHalfShells, diffuseMeanIntensityShells, diffuseShellEdges } from "./shells.ts";

/** The smoother as the diagnostics plot it: its curve evaluator, |q| range, control values and their ESDs. */
export interface DiagnosticsSmoother {
  valueAt: (q: number) => number;
  qRange: readonly [number, number];
  values: Float64Array;
  esds: Float64Array;
}

/** Largest multiplicity of the histograms (larger ones are counted in the last bin). */
const MULTIPLICITY_CAP = 60;

function integerHistogram(values: Int32Array | number[], cap: number): Histogram | null {
  if (values.length === 0) return null;
  let max = 0;
  for (const v of values) max = Math.max(max, Math.min(v, cap));
  const counts = new Array<number>(max).fill(0);
  for (const v of values) if (v >= 1) counts[Math.min(v, cap) - 1]++;
  return { edges: Array.from({ length: max + 1 }, (_, i) => i + 1), counts };
}

/** Histograms of the used observations per group with any (Bragg groups, then voxels). */
function multiplicityHistograms(result: JointRefinementResult): ScalingDiagnostics["multiplicity"] {
  const obs = result.observations;
  const multBragg = new Int32Array(obs.nBraggGroups);
  const multDiffuse = new Int32Array(obs.nGroups - obs.nBraggGroups);
  let nMultBragg = 0;
  let nMultDiffuse = 0;
  const refs = result.references;
  for (let h = 0; h < obs.nGroups; h++) {
    const n = refs.nObservations[h];
    if (n > 0) {
      if (h < obs.nBraggGroups) multBragg[nMultBragg++] = n;
      else multDiffuse[nMultDiffuse++] = n;
    }
  }
  return {
    bragg: integerHistogram(multBragg.subarray(0, nMultBragg), MULTIPLICITY_CAP),
    diffuse: integerHistogram(multDiffuse.subarray(0, nMultDiffuse), MULTIPLICITY_CAP),
  };
}

/**
 * The smoother curve at 101 points of its |q| range, and its control points: evenly spaced over the range for up to
 * 3 values, else spaced by range/(k − 2) from half a spacing below the range's start.
 */
function smootherCurve(smoother: DiagnosticsSmoother): NonNullable<ScalingDiagnostics["smoother"]> {
  const [q0, q1] = smoother.qRange;
  const q = Array.from({ length: 101 }, (_, i) => q0 + ((q1 - q0) * i) / 100);
  const k = smoother.values.length;
  const spacing = k <= 3 ? (q1 - q0) / Math.max(1, k - 1) : (q1 - q0) / (k - 2);
  const controlQ = Array.from({ length: k }, (_, j) => (k <= 3 ? q0 + j * spacing : q0 + (j - 0.5) * spacing));
  return {
    q,
    value: q.map((x) => smoother.valueAt(x)),
    controlQ,
    controlValues: Array.from(smoother.values),
    controlEsds: Array.from(smoother.esds),
  };
}

/** Outlier rows of each kind (Bragg rows come first). */
function outlierCounts(result: JointRefinementResult): ScalingDiagnostics["nOutliers"] {
  let outB = 0;
  let outD = 0;
  for (const o of result.outlierRows) {
    if (o < result.observations.nBraggRows) outB++;
    else outD++;
  }
  return { bragg: outB, diffuse: outD };
}

/**
 * {@link computeDiagnostics}, with the shared-group counts per still gathered in the same first pass over the rows:
 * the `nSharedGroups` that `fitWarningInputOf` takes (the counts of `sharedGroupsPerStill`, without its own pass).
 * `threads`: the worker threads of the pass over resident rows, or those already started for `result`
 * (`prepared`; the caller closes them); the same output for any number. @defaultValue one thread
 */
export function computeDiagnosticsAndSharedGroups(
  result: JointRefinementResult,
  merged: MergedDiffuse | undefined,
  smoother: DiagnosticsSmoother | undefined,
  nShells = 10,
  threads: ResidentResidualOptions & { prepared?: ResidentResidualThreads } = {},
): { diagnostics: ScalingDiagnostics; nSharedGroups: number[] } {
  checkModelState(result.observations, result.finalState);
  const { residuals, counts } = residualSummaries(result, threads);
  const edges = diffuseShellEdges(merged, nShells);
  const diffuseMeanIntensity =
    merged === undefined || edges === null ? null : diffuseMeanIntensityShells(merged, edges);
  const diagnostics: ScalingDiagnostics = {
    perStill: {
      still: Array.from(result.includedStills),
      scale: Array.from(result.scales),
      esd: Array.from(result.scaleEsds),
      nBragg: counts.nBragg,
      nDiffuse: counts.nDiffuse,
    },
    smoother: smoother === undefined ? null : smootherCurve(smoother),
    residuals,
    braggIOverSigma: braggIOverSigmaShells(result, counts, nShells),
    diffuseMeanIntensity,
    diffuseCcHalf:
      merged === undefined || diffuseMeanIntensity === null ? null : diffuseCcHalfShells(merged, diffuseMeanIntensity),
    multiplicity: multiplicityHistograms(result),
    nOutliers: outlierCounts(result),
  };
  return { diagnostics, nSharedGroups: counts.nSharedGroups };
}

/**
 * Computes the diagnostics, in three passes over the rows of the final observations (window by window, whether
 * resident or paged: the same output either way) and nothing stored per row.
 *
 * @param result - The refinement result (its `finalState` gives the inverse scales of the rows).
 * @param merged - The merged diffuse map, if any.
 * @param smoother - The smoother curve evaluator and its control points, if enabled.
 * @param nShells - Number of |q| shells. @defaultValue 10
 * @throws {@link ConfigError} when `result.finalState` has fewer still scales than the observations have stills.
 */
export function computeDiagnostics(
  result: JointRefinementResult,
  merged: MergedDiffuse | undefined,
  smoother: DiagnosticsSmoother | undefined,
  nShells = 10,
): ScalingDiagnostics {
  return computeDiagnosticsAndSharedGroups(result, merged, smoother, nShells).diagnostics;
}
