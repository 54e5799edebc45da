/**
 * The diagnostics of a scaling run, the `diagnostics` object of `refinement.json`: per-still scales and counts, the
 * smoother curve, normalised residual summaries (Bragg and diffuse), Bragg ⟨I/σ⟩ and diffuse ⟨I⟩ and CC½ in |q|
 * shells, multiplicity histograms and outlier counts. Every part has a bounded size whatever the number of
 * observations. {@link scalingDiagnosticsSchema} is the one definition: `computeDiagnostics` builds a
 * {@link ScalingDiagnostics}, the report validates it with {@link checkScalingDiagnostics} (through
 * `parseRefinementJson`).
 *
 * @packageDocumentation
 */
import { z } from "zod";
import { ConfigError } from "../errors.ts";
import { requireLength } from "./json-document.ts";
import { oneLine } from "./printable.ts";

const finite = z.number();
const count = z.number().int().nonnegative();
const numbers = z.array(finite);

/** A histogram: `counts[i]` values in `[edges[i], edges[i+1])` (`edges` one longer than `counts`). */
export const histogramSchema = z.object({ edges: numbers, counts: z.array(count) });

/** Residual summary of one observation kind. */
export const residualSummarySchema = z.object({
  /** Number of normalised residuals. */
  n: count,
  /** Mean of δ. */
  mean: finite,
  /** Standard deviation of δ. */
  sd: finite,
  /** Histogram of δ over [−6, 6] (values outside are clamped into the end bins). */
  histogram: histogramSchema,
  /** Normal probability plot: expected normal quantiles vs observed sorted δ (at most 400 points, equal lengths). */
  normalProbability: z.object({ expected: numbers, observed: numbers }),
});

/** A statistic in resolution shells. */
export const shellTableSchema = z.object({
  /** Shell boundaries in |q| (1/Å), length nShells + 1. */
  qEdges: numbers,
  /** Mean |q| of each shell. */
  qCentre: numbers,
  /** The statistic per shell. */
  value: numbers,
  /** Count per shell. */
  n: z.array(count),
});

/** The schema of the diagnostics (the `diagnostics` object of `refinement.json`). */
export const scalingDiagnosticsSchema = z.object({
  /** Per included still (arrays of one length): still index, scale b, its ESD, used Bragg and diffuse rows. */
  perStill: z.object({
    still: z.array(count),
    scale: numbers,
    esd: numbers,
    nBragg: z.array(count),
    nDiffuse: z.array(count),
  }),
  /** The smoother curve a(q) at 101 points of its |q| range and its control points, or null without a smoother. */
  smoother: z
    .object({ q: numbers, value: numbers, controlQ: numbers, controlValues: numbers, controlEsds: numbers })
    .nullable(),
  /** Normalised residual summaries, null for a kind without residuals. */
  residuals: z.object({ bragg: residualSummarySchema.nullable(), diffuse: residualSummarySchema.nullable() }),
  /** Mean Bragg Ih/σ(Ih) per shell. */
  braggIOverSigma: shellTableSchema.nullable(),
  /** Mean merged diffuse intensity per shell. */
  diffuseMeanIntensity: shellTableSchema.nullable(),
  /** Diffuse CC½ per shell (0 in a shell of fewer than 3 voxels with both halves). */
  diffuseCcHalf: shellTableSchema.nullable(),
  /** Histograms of used observations per group (Bragg: per ASU hkl; diffuse: per voxel), capped at 60. */
  multiplicity: z.object({ bragg: histogramSchema.nullable(), diffuse: histogramSchema.nullable() }),
  /** Outlier rows of each kind. */
  nOutliers: z.object({ bragg: count, diffuse: count }),
});

/** A histogram: `counts[i]` values in `[edges[i], edges[i+1])`. */
export type Histogram = z.infer<typeof histogramSchema>;
/** Normalised-residual summary of one observation kind. */
export type ResidualSummary = z.infer<typeof residualSummarySchema>;
/** A table of a statistic in |q| shells. */
export type ShellTable = z.infer<typeof shellTableSchema>;
/** Everything the report plots: the `diagnostics` object of `refinement.json`. */
export type ScalingDiagnostics = z.infer<typeof scalingDiagnosticsSchema>;

function checkHistogram(h: Histogram | null, path: string, file: string): void {
  if (h === null) return;
  requireLength(h.edges.length, h.counts.length + 1, `${path}.edges`, file);
}

function checkShells(t: ShellTable | null, path: string, file: string): void {
  if (t === null) return;
  requireLength(t.qCentre.length, t.qEdges.length - 1, `${path}.qCentre`, file);
  requireLength(t.value.length, t.qEdges.length - 1, `${path}.value`, file);
  requireLength(t.n.length, t.qEdges.length - 1, `${path}.n`, file);
}

function checkResiduals(r: ResidualSummary | null, path: string, file: string): void {
  if (r === null) return;
  checkHistogram(r.histogram, `${path}.histogram`, file);
  const p = r.normalProbability;
  requireLength(p.observed.length, p.expected.length, `${path}.normalProbability.observed`, file);
}

/**
 * Checks the consistency of schema-valid diagnostics that the schema cannot express: per-still arrays of one length,
 * histogram edges one longer than counts, shell tables matching their edges, smoother arrays of matching lengths.
 *
 * @param d - The diagnostics (already validated by {@link scalingDiagnosticsSchema}).
 * @param path - JSON path of the diagnostics object in its document (e.g. `$.diagnostics`).
 * @param file - The file it came from (named in errors).
 * @throws {@link InputError} naming `file` and the JSON path of the first inconsistent field.
 */
export function checkScalingDiagnostics(d: ScalingDiagnostics, path: string, file: string): void {
  requireScalingDiagnosticsArgument(d, "checkScalingDiagnostics: d");
  const n = d.perStill.still.length;
  for (const key of ["scale", "esd", "nBragg", "nDiffuse"] as const) {
    requireLength(d.perStill[key].length, n, `${path}.perStill.${key}`, file);
  }
  if (d.smoother !== null) {
    requireLength(d.smoother.value.length, d.smoother.q.length, `${path}.smoother.value`, file);
    const k = d.smoother.controlQ.length;
    requireLength(d.smoother.controlValues.length, k, `${path}.smoother.controlValues`, file);
    requireLength(d.smoother.controlEsds.length, k, `${path}.smoother.controlEsds`, file);
  }
  checkResiduals(d.residuals.bragg, `${path}.residuals.bragg`, file);
  checkResiduals(d.residuals.diffuse, `${path}.residuals.diffuse`, file);
  checkShells(d.braggIOverSigma, `${path}.braggIOverSigma`, file);
  checkShells(d.diffuseMeanIntensity, `${path}.diffuseMeanIntensity`, file);
  checkShells(d.diffuseCcHalf, `${path}.diffuseCcHalf`, file);
  checkHistogram(d.multiplicity.bragg, `${path}.multiplicity.bragg`, file);
  checkHistogram(d.multiplicity.diffuse, `${path}.multiplicity.diffuse`, file);
}

/**
 * Throws a {@link ConfigError} unless `d` is a diagnostics object of the {@link scalingDiagnosticsSchema} (the check of
 * a library argument; a file's diagnostics are checked by its reader, naming the file).
 *
 * @param d - the argument
 * @param what - how the message names it, e.g. `"fitWarningInputOf: diagnostics"`
 */
export function requireScalingDiagnosticsArgument(d: unknown, what: string): asserts d is ScalingDiagnostics {
  const r = scalingDiagnosticsSchema.safeParse(d);
  if (r.success) return;
  const issue = r.error.issues[0];
  const at = issue.path.map((k) => (typeof k === "number" ? `[${k}]` : `.${String(k)}`)).join("");
  throw new ConfigError(oneLine(`${what}${at}: ${issue.message.replace(/^Invalid input: /, "")}`));
}
