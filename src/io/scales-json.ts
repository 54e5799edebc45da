/**
 * `scales.json`, the summary of a scaling run (format `diffuse-scaling/scales@1`):
 *
 * ```json
 * {"format": "diffuse-scaling/scales@1", "gauge": "geometric_mean_multiplicative_scale_equals_1",
 *  "refined_parameters": {"0": {"multiplicative_scale": 1.01, "additive_offset": 0.0, "esd": 0.001,
 *                                "identifier": "still-00000"}, ...},
 *  "resolution_smoother": {"enabled": false} | {"enabled": true, "q_range": [..], "n_control_points": 5, "values": [..], "esds": [..]},
 *  "refinement_statistics": {"n_iterations", "initial_r_factor", "final_r_factor", "convergence_achieved",
 *                            "parameter_shifts": {"per_still_scale", "resolution_smoother"}, "minimizer"},
 *  "data": {"n_stills", "n_bragg_used", "n_bragg_below_partiality", "n_diffuse_used", "n_outliers",
 *           "stills_without_data": [..], "stills_disconnected": [..]},
 *  "timings": {"read_s", "voxelize_s" (when run), "refine_s", "merge_s", "write_s", "threads"},
 *  "error_model": {"bragg": {"model": "basic", "a": 1.3, "b": 0.045, "refined": true,
 *                            "residual_sd_before": 5.5, "residual_sd_after": 1.02,
 *                            "sigma_bins": [{"i_min", "i_max", "n", "mean_i", "mean_sigma", "mean_sigma_prime"}, ...]},
 *                  "diffuse": {...}},
 *  "warnings": [{"code": "residual_sd", "message": "..."}, ...]}
 * ```
 * `error_model` has one entry per data class present (no `diffuse` entry in a Bragg-only run): the refined model
 * (`--error-model basic`, the default; `fixed_reason` says why a model was fixed instead of refined) or model "none"
 * (`--error-model none`, σ as given), each with the normalised residual sd before and after the model and (for
 * "basic") σ' against I in intensity bins.
 * Still ids are experiment indices (the `.refl` `id` column), as strings; `identifier` is the experiment's identifier. No value is ever NaN or infinite: the
 * writer refuses to write one. {@link scalesJsonSchema} is the one definition of the document: the writer builds a
 * {@link ScalesJson}, and readers (the report) validate with {@link parseScalesJson}.
 *
 * @packageDocumentation
 */
import { z } from "zod";
import { formatJsonDocument, parseJsonDocument, requireLength, writeJsonDocument } from "./json-document.ts";

const finite = z.number();
const count = z.number().int().nonnegative();
const numbers = z.array(finite);

/**
 * One intensity bin of σ' against I: its edges, its observations, and their mean I, mean reported σ and mean
 * σ' = a·√(σ² + (b·I)²) (raw, unscaled intensities, as the model takes them).
 */
const sigmaBinEntry = z.object({
  i_min: finite,
  i_max: finite,
  n: count,
  mean_i: finite,
  mean_sigma: finite,
  mean_sigma_prime: finite,
});

/**
 * One data class's error model σ'² = a²(σ² + (b·I)²): `model` "basic" (refined, or fixed with `fixed_reason`) or
 * "none" (σ as given: a = 1, b = 0, `refined` false). `residual_sd_before` and `residual_sd_after`: the sd of the
 * class's normalised deviations δ = √(n/(n−1))·(I/g − Ih)/σ over its used rows in groups of two or more, with the σ as
 * reported and with σ' (equal for "none"; 0 without such rows), at the last error-model refinement. `sigma_bins`
 * (only for "basic"): the class's used rows with I > 0 in up to 20 (`ERROR_MODEL_SIGMA_BINS`) log-spaced intensity bins (empty bins left out).
 * The three are optional for documents written before they existed.
 */
const errorModelEntry = z.object({
  model: z.enum(["basic", "none"]),
  a: finite,
  b: finite,
  refined: z.boolean(),
  fixed_reason: z.string().optional(),
  residual_sd_before: finite.optional(),
  residual_sd_after: finite.optional(),
  sigma_bins: z.array(sigmaBinEntry).optional(),
});

/** One data class's entry of `error_model` in `scales.json`. */
export type ErrorModelEntry = z.infer<typeof errorModelEntry>;

/** One intensity bin of an {@link ErrorModelEntry}'s `sigma_bins`. */
export type SigmaBinEntry = z.infer<typeof sigmaBinEntry>;
/**
 * A warning that the fit cannot be fully trusted: a stable code (README, "Validation and failures") and a one-line
 * message naming the problem and the numbers behind it.
 */
export const fitWarningSchema = z.object({ code: z.string(), message: z.string() });

/** One entry of the `warnings` list of `scales.json`. */
export type FitWarning = z.infer<typeof fitWarningSchema>;

/** The schema of `scales.json` (keys in the order the writer writes them). */
export const scalesJsonSchema = z.object({
  format: z.literal("diffuse-scaling/scales@1"),
  gauge: z.literal("geometric_mean_multiplicative_scale_equals_1"),
  /** Per refined still (key: the still id as a string; `identifier`: its experiment identifier, when it has one). */
  refined_parameters: z.record(
    z.string(),
    z.object({ multiplicative_scale: finite, additive_offset: finite, esd: finite, identifier: z.string().optional() }),
  ),
  /** `values` and `esds` have `n_control_points` entries. */
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
    parameter_shifts: z.object({ per_still_scale: finite, resolution_smoother: finite }),
    minimizer: z.enum(["lm", "gauss_newton"]),
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
  /** Seconds per phase (`voxelize_s` only when the job voxelized), and the worker threads. */
  timings: z.object({
    read_s: finite,
    voxelize_s: finite.optional(),
    refine_s: finite,
    merge_s: finite,
    write_s: finite,
    threads: count,
  }),
  /**
   * The error model of each data class present (model "none" with `--error-model none`; absent in documents written
   * before it existed).
   */
  error_model: z
    .object({
      bragg: errorModelEntry.optional(),
      diffuse: errorModelEntry.optional(),
    })
    .optional(),
  /**
   * Why the fit may not be trusted (empty when nothing was found); always written, optional for documents written
   * before it existed.
   */
  warnings: z.array(fitWarningSchema).optional(),
});

/** The `scales.json` document. */
export type ScalesJson = z.infer<typeof scalesJsonSchema>;

/** Serialises `scales.json` (2-space indent, trailing newline); throws on non-finite numbers. */
export function formatScalesJson(doc: ScalesJson): string {
  return formatJsonDocument(doc);
}

/** Writes `scales.json` atomically. */
export async function writeScalesJson(path: string, doc: ScalesJson): Promise<void> {
  await writeJsonDocument(path, doc);
}

/**
 * Validates a parsed `scales.json` document: the schema, then the smoother's `values` and `esds` against
 * `n_control_points`.
 *
 * @param json - The parsed JSON.
 * @param file - The file it came from (named in errors).
 * @returns The typed document (unknown keys dropped).
 * @throws {@link InputError} naming `file` and the JSON path of the first invalid field.
 */
export function parseScalesJson(json: unknown, file: string): ScalesJson {
  const scales = parseJsonDocument(scalesJsonSchema, json, file);
  const s = scales.resolution_smoother;
  if (s.enabled) {
    requireLength(s.values.length, s.n_control_points, "$.resolution_smoother.values", file);
    requireLength(s.esds.length, s.n_control_points, "$.resolution_smoother.esds", file);
  }
  return scales;
}
