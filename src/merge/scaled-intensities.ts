/**
 * The scaled Bragg intensities that `dials.merge` merges, selected from a scaled reflection table (`scaled.refl`) by
 * the rules of DIALS's `filter_reflection_table(intensity_choice=["scale"])` in its order: rows with an experiment
 * (`id ≥ 0`); not `bad_for_scaling` (user-excluded, outlier or excluded for scaling); `inverse_scale_factor > 0`;
 * `intensity.scale.variance > 0`; `partiality > 0`; then the inverse scale applied (`I/g`, `V/g²`) and rows with
 * `partiality` below the threshold (0.4 in `dials.merge`) removed. σ is `√(V/g²)`.
 *
 * Partial reflections of one reflection split over images (`partial_id`) are not combined: stills have none, and a
 * table that has the column is refused rather than merged differently from DIALS.
 *
 * @packageDocumentation
 */
import { InputError, requireFiniteArgument, requireInstanceArgument, requireStringArgument } from "../errors.ts";
import { ReflectionFlags } from "../table/flags.ts";
import { ReflectionTable } from "../table/reflection-table.ts";

/** The scaled intensities, one entry per selected row (in table order). */
export interface ScaledIntensities {
  /** Miller indices as recorded (not mapped to the asymmetric unit), 3 per row. */
  hkl: Int32Array;
  /** Scaled intensity `I/g`. */
  intensity: Float64Array;
  /** Its σ, `√(V/g²)`. */
  sigma: Float64Array;
  /** Rows of the table. */
  nRows: number;
  /** Rows left after the `bad_for_scaling` selection (DIALS: "Selected N scaled reflections"). */
  nScaled: number;
  /** Rows removed below the partiality threshold. */
  nBelowPartiality: number;
}

const REQUIRED = ["miller_index", "intensity.scale.value", "intensity.scale.variance", "inverse_scale_factor", "flags"];

/**
 * Selects the scaled intensities of a scaled reflection table as `dials.merge` does (see the file comment).
 *
 * @param table - a scaled reflection table (with `inverse_scale_factor` and `intensity.scale.*`)
 * @param partialityThreshold - rows with `partiality` below it are removed (ignored without a `partiality` column)
 * @param source - file name for messages
 * @returns the selected rows
 * @throws {@link InputError} naming `source` when a column is missing or the table has `partial_id`
 */
export function selectScaledIntensities(
  table: ReflectionTable,
  partialityThreshold: number,
  source: string,
): ScaledIntensities {
  requireInstanceArgument(table, ReflectionTable, "selectScaledIntensities: table");
  requireFiniteArgument(partialityThreshold, "selectScaledIntensities: partialityThreshold");
  requireStringArgument(source, "selectScaledIntensities: source (the file name for messages)");
  for (const name of REQUIRED) {
    if (!table.has(name)) throw new InputError(`missing column "${name}" (not a scaled reflection table?)`, source);
  }
  if (table.has("partial_id")) {
    throw new InputError('has a "partial_id" column: combining partial reflections is not supported', source);
  }
  const n = table.nrows;
  const hklIn = table.getMillerIndex();
  const value = table.getDouble("intensity.scale.value");
  const variance = table.getDouble("intensity.scale.variance");
  const scale = table.getDouble("inverse_scale_factor");
  const flags = table.getSizeT("flags");
  const ids = table.has("id") ? table.getInt("id") : undefined;
  const partiality = table.has("partiality") ? table.getDouble("partiality") : undefined;
  const bad = BigInt(ReflectionFlags.badForScaling);
  const hkl = new Int32Array(3 * n);
  const intensity = new Float64Array(n);
  const sigma = new Float64Array(n);
  let nScaled = 0;
  let nBelowPartiality = 0;
  let m = 0;
  for (let i = 0; i < n; i++) {
    if (ids !== undefined && ids[i] < 0) continue;
    if ((flags[i] & bad) !== 0n) continue;
    nScaled++;
    const g = scale[i];
    if (!(g > 0) || !(variance[i] > 0)) continue;
    if (partiality !== undefined) {
      if (!(partiality[i] > 0)) continue;
      if (partiality[i] < partialityThreshold) {
        nBelowPartiality++;
        continue;
      }
    }
    hkl[3 * m] = hklIn[3 * i];
    hkl[3 * m + 1] = hklIn[3 * i + 1];
    hkl[3 * m + 2] = hklIn[3 * i + 2];
    intensity[m] = value[i] / g;
    sigma[m] = Math.sqrt(variance[i] / (g * g));
    m++;
  }
  return {
    hkl: hkl.slice(0, 3 * m),
    intensity: intensity.slice(0, m),
    sigma: sigma.slice(0, m),
    nRows: n,
    nScaled,
    nBelowPartiality,
  };
}
