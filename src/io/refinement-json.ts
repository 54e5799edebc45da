/**
 * `refinement.json`, the record of a scaling run for the report: the command line and inputs, the space group, the
 * per-iteration history, the refinement statistics, the input selection and group counts, the overall diffuse CC½
 * and the diagnostics ({@link scalingDiagnosticsSchema}). No value is ever NaN or infinite: the writer refuses to
 * write one. {@link refinementJsonSchema} is the one definition of the document: the scale job builds a
 * {@link RefinementJson}, and readers (the report) validate with {@link parseRefinementJson}.
 *
 * @packageDocumentation
 */
import { z } from "zod";
import { checkScalingDiagnostics, scalingDiagnosticsSchema } from "./diagnostics-json.ts";
import { parseJsonDocument, writeJsonDocument } from "./json-document.ts";

const finite = z.number();
const count = z.number().int().nonnegative();

/** The schema of `refinement.json` (keys in the order the writer writes them). */
export const refinementJsonSchema = z.object({
  /** The command line of the run ("" when run as a library call without one). */
  command_line: z.string(),
  /** The input paths as given (null: not given). */
  inputs: z.object({
    expt: z.string(),
    refl: z.string(),
    diffuse: z.string().nullable(),
    config: z.string().nullable(),
  }),
  /** The common space group of the experiments. */
  space_group: z.object({ hall: z.string(), number: z.number().int(), symbol: z.string() }),
  /** One entry per refinement iteration (iteration 0 of a cycle: its starting point). */
  history: z.array(
    z.object({
      cycle: count,
      iteration: count,
      rmsd: finite,
      chi_squared: finite,
      reduced_chi_squared: finite,
      r_factor: finite,
      /** Seconds since the refinement started. */
      seconds: finite,
    }),
  ),
  /** The refinement's statistics (camelCase: the library's own field names). */
  statistics: z.object({
    nIterations: count,
    initialRFactor: finite,
    finalRFactor: finite,
    convergenceAchieved: z.boolean(),
    parameterShifts: z.object({ per_still_scale: finite, resolution_smoother: finite }),
    nCycles: count,
    stopReason: z.string(),
    finalRmsd: finite,
    reducedChiSquared: finite,
  }),
  /** How the Bragg rows were selected (null for a run without Bragg input). */
  bragg_counts: z
    .object({
      nRows: count,
      nUsed: count,
      nBelowPartiality: count,
      nNotIntegrated: count,
      nUnknownExperiment: count,
      nInvalidPartiality: count,
      nInvalidIntensity: count,
      // absent in files written before they were counted
      nOriginIndex: count.default(0),
      nValueOutOfRange: count.default(0),
    })
    .nullable(),
  /** How the diffuse rows were selected (null without diffuse input). */
  diffuse_counts: z
    .object({
      nRows: count,
      nUsed: count,
      nNonFiniteIntensity: count,
      nBadSigma: count,
      nUnknownStill: count,
      nValueOutOfRange: count.default(0),
    })
    .nullable(),
  /**
   * Groups (ASU hkl for Bragg, voxels for diffuse) with used observations, and how many hold exactly one: such groups
   * say nothing about relative scales (their reference is the observation itself).
   */
  group_counts: z.object({
    bragg_groups: count,
    bragg_single_member: count,
    voxels: count,
    voxels_single_member: count,
  }),
  /** CC½ of the merged map over the voxels with both halves non-empty (null without diffuse data). */
  cc_half: z.object({ cc: finite, n: count }).nullable(),
  diagnostics: scalingDiagnosticsSchema,
});

/** The `refinement.json` document. */
export type RefinementJson = z.infer<typeof refinementJsonSchema>;

/** Writes `refinement.json` atomically (2-space indent, trailing newline); throws on non-finite numbers. */
export async function writeRefinementJson(path: string, doc: RefinementJson): Promise<void> {
  await writeJsonDocument(path, doc);
}

/**
 * Validates a parsed `refinement.json` document: the schema, then the consistency of the diagnostics
 * ({@link checkScalingDiagnostics}).
 *
 * @param json - The parsed JSON.
 * @param file - The file it came from (named in errors).
 * @returns The typed document (unknown keys dropped).
 * @throws {@link InputError} naming `file` and the JSON path of the first invalid field.
 */
export function parseRefinementJson(json: unknown, file: string): RefinementJson {
  const doc = parseJsonDocument(refinementJsonSchema, json, file);
  checkScalingDiagnostics(doc.diagnostics, "$.diagnostics", file);
  return doc;
}
