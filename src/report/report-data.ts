/**
 * The data the HTML report is built from: the parts of `scales.json` and `refinement.json` (written by
 * `diffuse-scale scale`) that the report shows, with their validation. Both documents are checked with zod and then
 * for internal consistency (array lengths, histogram edges); every failure is an {@link InputError} that names the
 * file and the JSON path of the offending field.
 *
 * @packageDocumentation
 */
import { z } from "zod";
import { InputError } from "../errors.ts";

const finite = z.number();
const count = z.number().int().nonnegative();
const numbers = z.array(finite);

const histogramSchema = z.object({ edges: numbers, counts: z.array(count) });

const residualSummarySchema = z.object({
  n: count,
  mean: finite,
  sd: finite,
  histogram: histogramSchema,
  normalProbability: z.object({ expected: numbers, observed: numbers }),
});

const shellTableSchema = z.object({ qEdges: numbers, qCentre: numbers, value: numbers, n: z.array(count) });

const diagnosticsSchema = z.object({
  perStill: z.object({
    still: z.array(count),
    scale: numbers,
    esd: numbers,
    nBragg: z.array(count),
    nDiffuse: z.array(count),
  }),
  smoother: z
    .object({ q: numbers, value: numbers, controlQ: numbers, controlValues: numbers, controlEsds: numbers })
    .nullable(),
  residuals: z.object({ bragg: residualSummarySchema.nullable(), diffuse: residualSummarySchema.nullable() }),
  braggIOverSigma: shellTableSchema.nullable(),
  diffuseMeanIntensity: shellTableSchema.nullable(),
  diffuseCcHalf: shellTableSchema.nullable(),
  multiplicity: z.object({ bragg: histogramSchema.nullable(), diffuse: histogramSchema.nullable() }),
  nOutliers: z.object({ bragg: count, diffuse: count }),
});

const refinementSchema = z.object({
  command_line: z.string(),
  inputs: z.object({
    expt: z.string(),
    refl: z.string(),
    diffuse: z.string().nullable(),
    config: z.string().nullable(),
  }),
  space_group: z.object({ hall: z.string(), number: z.number().int(), symbol: z.string() }),
  history: z.array(
    z.object({
      cycle: count,
      iteration: count,
      rmsd: finite,
      chi_squared: finite,
      reduced_chi_squared: finite,
      r_factor: finite,
      seconds: finite,
    }),
  ),
  statistics: z.object({
    nIterations: count,
    initialRFactor: finite,
    finalRFactor: finite,
    convergenceAchieved: z.boolean(),
    nCycles: count.optional(),
    stopReason: z.string().optional(),
    finalRmsd: finite.optional(),
    reducedChiSquared: finite.optional(),
  }),
  bragg_counts: z
    .object({
      nRows: count,
      nUsed: count,
      nBelowPartiality: count,
      nNotIntegrated: count,
      nUnknownExperiment: count,
      nInvalidPartiality: count,
      nInvalidIntensity: count,
    })
    .nullable(),
  diffuse_counts: z
    .object({ nRows: count, nUsed: count, nNonFiniteIntensity: count, nBadSigma: count, nUnknownStill: count })
    .nullable(),
  cc_half: z.object({ cc: finite, n: count }).nullable(),
  diagnostics: diagnosticsSchema,
});

const scalesSchema = z.object({
  format: z.literal("diffuse-scaling/scales@1"),
  gauge: z.string(),
  refined_parameters: z.record(
    z.string(),
    z.object({ multiplicative_scale: finite, additive_offset: finite, esd: finite }),
  ),
  resolution_smoother: z.union([
    z.object({ enabled: z.literal(false) }),
    z.object({
      enabled: z.literal(true),
      q_range: z.tuple([finite, finite]),
      n_control_points: count,
      values: numbers,
      esds: numbers,
    }),
  ]),
  refinement_statistics: z.object({
    n_iterations: count,
    initial_r_factor: finite,
    final_r_factor: finite,
    convergence_achieved: z.boolean(),
    minimizer: z.string(),
  }),
  data: z.object({
    n_stills: count,
    n_bragg_used: count,
    n_bragg_below_partiality: count,
    n_diffuse_used: count,
    n_outliers: count,
    stills_without_data: z.array(count),
    stills_disconnected: z.array(count),
  }),
  timings: z.object({
    read_s: finite,
    voxelize_s: finite.optional(),
    refine_s: finite,
    merge_s: finite,
    write_s: finite,
    threads: count,
  }),
});

/** A histogram as stored in the diagnostics: `counts[i]` values in `[edges[i], edges[i+1])`. */
export type ReportHistogram = z.infer<typeof histogramSchema>;
/** Normalised-residual summary of one observation kind. */
export type ReportResidualSummary = z.infer<typeof residualSummarySchema>;
/** A table of a statistic in |q| shells. */
export type ReportShellTable = z.infer<typeof shellTableSchema>;
/** The `diagnostics` object of `refinement.json`. */
export type ReportDiagnostics = z.infer<typeof diagnosticsSchema>;
/** The parts of `refinement.json` the report reads. */
export type ReportRefinement = z.infer<typeof refinementSchema>;
/** The parts of `scales.json` the report reads. */
export type ReportScales = z.infer<typeof scalesSchema>;

/** Everything the report shows. */
export interface ReportData {
  /** The validated `scales.json`. */
  scales: ReportScales;
  /** The validated `refinement.json`. */
  refinement: ReportRefinement;
}

/** `$.a.b[3]` form of a zod issue path. */
function jsonPath(path: readonly PropertyKey[]): string {
  let out = "$";
  for (const key of path) out += typeof key === "number" ? `[${key}]` : `.${String(key)}`;
  return out;
}

function parseWith<T>(schema: z.ZodType<T>, json: unknown, file: string): T {
  const result = schema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new InputError(`invalid field ${jsonPath(issue.path)}: ${issue.message.replace(/\s+/g, " ")}`, file);
  }
  return result.data;
}

function requireLength(actual: number, expected: number, path: string, file: string): void {
  if (actual !== expected) {
    throw new InputError(`field ${path} has ${actual} entries but ${expected} were expected`, file);
  }
}

function checkHistogram(h: ReportHistogram | null, path: string, file: string): void {
  if (h === null) return;
  requireLength(h.edges.length, h.counts.length + 1, `${path}.edges`, file);
}

function checkShells(t: ReportShellTable | null, path: string, file: string): void {
  if (t === null) return;
  requireLength(t.qCentre.length, t.qEdges.length - 1, `${path}.qCentre`, file);
  requireLength(t.value.length, t.qEdges.length - 1, `${path}.value`, file);
  requireLength(t.n.length, t.qEdges.length - 1, `${path}.n`, file);
}

function checkResiduals(r: ReportResidualSummary | null, path: string, file: string): void {
  if (r === null) return;
  checkHistogram(r.histogram, `${path}.histogram`, file);
  const p = r.normalProbability;
  requireLength(p.observed.length, p.expected.length, `${path}.normalProbability.observed`, file);
}

/**
 * Validates a parsed `scales.json` document.
 *
 * @param json - The parsed JSON.
 * @param file - The file it came from (named in errors).
 * @returns The typed document (unknown keys dropped).
 * @throws {@link InputError} naming `file` and the JSON path of the first invalid field.
 */
export function parseReportScales(json: unknown, file: string): ReportScales {
  const scales = parseWith(scalesSchema, json, file);
  const s = scales.resolution_smoother;
  if (s.enabled) {
    requireLength(s.values.length, s.n_control_points, "$.resolution_smoother.values", file);
    requireLength(s.esds.length, s.n_control_points, "$.resolution_smoother.esds", file);
  }
  return scales;
}

/**
 * Validates a parsed `refinement.json` document, including the consistency of the diagnostics (per-still arrays of
 * one length, histogram edges one longer than counts, shell tables matching their edges).
 *
 * @param json - The parsed JSON.
 * @param file - The file it came from (named in errors).
 * @returns The typed document (unknown keys dropped).
 * @throws {@link InputError} naming `file` and the JSON path of the first invalid field.
 */
export function parseReportRefinement(json: unknown, file: string): ReportRefinement {
  const doc = parseWith(refinementSchema, json, file);
  const d = doc.diagnostics;
  const n = d.perStill.still.length;
  for (const key of ["scale", "esd", "nBragg", "nDiffuse"] as const) {
    requireLength(d.perStill[key].length, n, `$.diagnostics.perStill.${key}`, file);
  }
  if (d.smoother !== null) {
    requireLength(d.smoother.value.length, d.smoother.q.length, "$.diagnostics.smoother.value", file);
    const k = d.smoother.controlQ.length;
    requireLength(d.smoother.controlValues.length, k, "$.diagnostics.smoother.controlValues", file);
    requireLength(d.smoother.controlEsds.length, k, "$.diagnostics.smoother.controlEsds", file);
  }
  checkResiduals(d.residuals.bragg, "$.diagnostics.residuals.bragg", file);
  checkResiduals(d.residuals.diffuse, "$.diagnostics.residuals.diffuse", file);
  checkShells(d.braggIOverSigma, "$.diagnostics.braggIOverSigma", file);
  checkShells(d.diffuseMeanIntensity, "$.diagnostics.diffuseMeanIntensity", file);
  checkShells(d.diffuseCcHalf, "$.diagnostics.diffuseCcHalf", file);
  checkHistogram(d.multiplicity.bragg, "$.diagnostics.multiplicity.bragg", file);
  checkHistogram(d.multiplicity.diffuse, "$.diagnostics.multiplicity.diffuse", file);
  return doc;
}
