/**
 * `scales.json`, the summary of a scaling run (format `diffuse-scaling/scales@1`):
 *
 * ```json
 * {"format": "diffuse-scaling/scales@1", "gauge": "geometric_mean_multiplicative_scale_equals_1",
 *  "refined_parameters": {"0": {"multiplicative_scale": 1.01, "additive_offset": 0.0, "esd": 0.001}, ...},
 *  "resolution_smoother": {"enabled": false} | {"enabled": true, "q_range": [..], "n_control_points": 5, "values": [..], "esds": [..]},
 *  "refinement_statistics": {"n_iterations", "initial_r_factor", "final_r_factor", "convergence_achieved",
 *                            "parameter_shifts": {"per_still_scale", "resolution_smoother"}, "minimizer"},
 *  "data": {"n_stills", "n_bragg_used", "n_bragg_below_partiality", "n_diffuse_used", "n_outliers",
 *           "stills_without_data": [..], "stills_disconnected": [..]},
 *  "timings": {"read_s", "voxelize_s" (when run), "refine_s", "merge_s", "write_s", "threads"}}
 * ```
 * Still ids are experiment indices (the `.refl` `id` column), as strings. No value is ever NaN or infinite: the
 * writer refuses to write one.
 *
 * @packageDocumentation
 */
import { ConfigError } from "../errors.ts";
import { writeTextAtomic } from "./atomic-write.ts";

/** The `scales.json` document. */
export interface ScalesJson {
  format: "diffuse-scaling/scales@1";
  gauge: "geometric_mean_multiplicative_scale_equals_1";
  refined_parameters: Record<string, { multiplicative_scale: number; additive_offset: number; esd: number }>;
  resolution_smoother:
    | { enabled: false }
    | { enabled: true; q_range: [number, number]; n_control_points: number; values: number[]; esds: number[] };
  refinement_statistics: {
    n_iterations: number;
    initial_r_factor: number;
    final_r_factor: number;
    convergence_achieved: boolean;
    parameter_shifts: { per_still_scale: number; resolution_smoother: number };
    minimizer: "lm" | "gauss_newton";
  };
  data: {
    n_stills: number;
    n_bragg_used: number;
    n_bragg_below_partiality: number;
    n_diffuse_used: number;
    n_outliers: number;
    stills_without_data: number[];
    stills_disconnected: number[];
  };
  timings: { read_s: number; voxelize_s?: number; refine_s: number; merge_s: number; write_s: number; threads: number };
}

/** Throws if any number in the value is NaN or infinite (naming its JSON path). */
export function assertFiniteJson(value: unknown, path = "$"): void {
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new ConfigError(`refusing to write a non-finite number at ${path}`);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => {
      assertFiniteJson(v, `${path}[${i}]`);
    });
  } else if (typeof value === "object" && value !== null) {
    for (const [k, v] of Object.entries(value)) assertFiniteJson(v, `${path}.${k}`);
  }
}

/** Serialises `scales.json` (2-space indent, trailing newline); throws on non-finite numbers. */
export function formatScalesJson(doc: ScalesJson): string {
  assertFiniteJson(doc);
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** Writes `scales.json` atomically. */
export async function writeScalesJson(path: string, doc: ScalesJson): Promise<void> {
  await writeTextAtomic(path, formatScalesJson(doc));
}
