/**
 * Input preparation for scaling, as dials.scale does it before building its scalers
 * (`ScalerFactory.filter_bad_reflections` → `dials/util/filter_reflections.py` with the `sum` reducer, then
 * `choose_initial_scaling_intensities`):
 *
 * 1. rows with `id < 0`, without the `integrated_sum` flag, or with `user_excluded_in_scaling` set are dropped;
 * 2. `intensity.sum.variance ≤ 0` is dropped;
 * 3. with a `qe` column, `qe ≤ 0` is dropped; the conversion is `conv = lp / qe` (each factor only where present);
 * 4. with a `partiality` column, `partiality ≤ 0` and `partiality < partialityCutoff` are dropped and
 *    `conv /= partiality`;
 * 5. `I/σ < minIsigi` (on the converted values) is dropped;
 * 6. `I = Isum·conv`, `V = Vsum·conv²`; rows with `V ≤ 0` are dropped.
 *
 * The surviving rows are split into datasets by their `id` (one dataset per experiment).
 *
 * @packageDocumentation
 */
import { ConfigError, InputError, requireInstanceArgument, requireOptionsArgument } from "../errors.ts";
import { ReflectionTable } from "../table/reflection-table.ts";
import { ReflectionFlags, getFlags } from "../table/flags.ts";

/** Options of {@link selectReflectionsForScaling}. */
export interface ReflectionSelectionOptions {
  /**
   * Rows with partiality below this are excluded (DIALS `cut_data.partiality_cutoff`).
   * @defaultValue 0.4
   */
  partialityCutoff?: number;
  /**
   * Rows with I/σ below this are excluded (DIALS `cut_data.min_isigi`).
   * @defaultValue -5
   */
  minIsigi?: number;
  /**
   * Number of datasets (experiments); rows with `id ≥ nDatasets` are an input error.
   * @defaultValue the largest `id` + 1
   */
  nDatasets?: number;
  /**
   * Rows to consider (`Uint8Array` of length `nrows`, nonzero = consider). Rows outside the mask are treated as if
   * they were not in the table: they are never selected and do not count towards the largest `id`. The result's
   * `rows` and `mask` still refer to rows of the whole table. Equivalent to selecting the masked rows first, without
   * copying them.
   * @defaultValue undefined (every row)
   */
  rowMask?: Uint8Array;
  /**
   * Name of the table, used in error messages.
   * @defaultValue "reflection table"
   */
  source?: string;
}

/** The prepared observations of one dataset (experiment). All arrays have one entry (three for indices) per row. */
export interface ScalingDatasetInput {
  /** Dataset number (the `id` value). */
  id: number;
  /** Row of each observation in the input table. */
  rows: Int32Array;
  /** Miller indices, flat `n*3`. */
  millerIndex: Int32Array;
  /** Corrected intensity `Isum·conv`. */
  intensity: Float64Array;
  /** Corrected variance `Vsum·conv²`. */
  variance: Float64Array;
  /** Partiality (1 where the table has none). */
  partiality: Float64Array;
  /** Resolution d, when the table has a `d` column. */
  d: Float64Array | undefined;
}

/** Result of {@link selectReflectionsForScaling}. */
export interface ScalingInput {
  /** One entry per dataset, in `id` order (a dataset may have no rows). */
  datasets: ScalingDatasetInput[];
  /** 1 for every input row used for scaling, 0 otherwise. */
  mask: Uint8Array;
}

/**
 * Selects and corrects the reflections dials.scale would scale (sum intensities), per dataset.
 *
 * @param table - an integrated reflection table with `id`, `miller_index`, `flags`, `intensity.sum.value` and
 *   `intensity.sum.variance`; optional `partiality`, `lp`, `qe`, `d`
 * @param options - cut-offs and dataset count
 * @returns the per-dataset typed arrays and the row mask used
 * @throws InputError when a required column is missing or an `id` is out of range
 * @throws ConfigError on invalid options
 */
export function selectReflectionsForScaling(
  table: ReflectionTable,
  options: ReflectionSelectionOptions = {},
): ScalingInput {
  requireInstanceArgument(table, ReflectionTable, "selectReflectionsForScaling: table");
  requireOptionsArgument(options, "selectReflectionsForScaling: options");
  const source = options.source ?? "reflection table";
  const cutoff = options.partialityCutoff ?? 0.4;
  const minIsigi = options.minIsigi ?? -5;
  if (!Number.isFinite(cutoff)) throw new ConfigError(`partialityCutoff must be finite, got ${cutoff}`);
  if (Number.isNaN(minIsigi)) throw new ConfigError("minIsigi must be a number");
  for (const name of ["id", "miller_index", "flags", "intensity.sum.value", "intensity.sum.variance"]) {
    if (!table.has(name)) throw new InputError(`missing column "${name}" needed for scaling`, source);
  }
  const n = table.nrows;
  const rowMask = options.rowMask;
  if (rowMask !== undefined && !(rowMask instanceof Uint8Array && rowMask.length === n)) {
    throw new ConfigError(`rowMask must be a Uint8Array of length ${n} (the table's rows)`);
  }
  const id = table.getInt("id");
  const hkl = table.getMillerIndex();
  const Isum = table.getDouble("intensity.sum.value");
  const Vsum = table.getDouble("intensity.sum.variance");
  const partiality = table.has("partiality") ? table.getDouble("partiality") : undefined;
  const lp = table.has("lp") ? table.getDouble("lp") : undefined;
  const qe = table.has("qe") ? table.getDouble("qe") : undefined;
  const d = table.has("d") ? table.getDouble("d") : undefined;
  const integrated = getFlags(table, ReflectionFlags.integratedSum);
  const userExcluded = getFlags(table, ReflectionFlags.userExcludedInScaling);

  let maxId = -1;
  if (rowMask === undefined) {
    for (let i = 0; i < n; i++) if (id[i] > maxId) maxId = id[i];
  } else {
    for (let i = 0; i < n; i++) if (rowMask[i] !== 0 && id[i] > maxId) maxId = id[i];
  }
  const nDatasets = options.nDatasets ?? maxId + 1;
  if (!Number.isInteger(nDatasets) || nDatasets < 0) {
    throw new ConfigError(`nDatasets must be a non-negative integer, got ${nDatasets}`);
  }
  if (maxId >= nDatasets) {
    throw new InputError(`column "id" has value ${maxId}, but there are only ${nDatasets} experiments`, source);
  }

  const mask = new Uint8Array(n);
  const I = new Float64Array(n);
  const V = new Float64Array(n);
  const counts = new Int32Array(nDatasets);
  for (let i = 0; i < n; i++) {
    if (rowMask !== undefined && rowMask[i] === 0) continue;
    if (id[i] < 0 || integrated[i] === 0 || userExcluded[i] !== 0) continue;
    if (!(Vsum[i] > 0)) continue;
    let conv = 1;
    if (qe !== undefined) {
      if (!(qe[i] > 0)) continue;
      conv /= qe[i];
    }
    if (lp !== undefined) conv *= lp[i];
    if (partiality !== undefined) {
      const p = partiality[i];
      if (!(p > 0) || p < cutoff) continue;
      conv /= p;
    }
    const Ii = Isum[i] * conv;
    const Vi = Vsum[i] * conv * conv;
    if (Ii / Math.sqrt(Vi) < minIsigi) continue;
    if (!(Vi > 0) || !Number.isFinite(Ii)) continue;
    I[i] = Ii;
    V[i] = Vi;
    mask[i] = 1;
    counts[id[i]]++;
  }

  const datasets = splitDatasets(mask, counts, { id, hkl, I, V, partiality, d });
  return { datasets, mask };
}

/**
 * The selected rows (`mask`) of each dataset, in row order, with their corrected intensities and variances.
 *
 * @param mask - 1 for a selected row
 * @param counts - number of selected rows of each dataset
 * @param columns - the table's `id`, Miller indices, `partiality` and `d` columns and the corrected I and V of each row
 */
function splitDatasets(
  mask: Uint8Array,
  counts: Int32Array,
  columns: {
    id: Int32Array;
    hkl: Int32Array;
    I: Float64Array;
    V: Float64Array;
    partiality: Float64Array | undefined;
    d: Float64Array | undefined;
  },
): ScalingDatasetInput[] {
  const { id, hkl, I, V, partiality, d } = columns;
  const nDatasets = counts.length;
  const n = mask.length;
  const datasets: ScalingDatasetInput[] = [];
  for (let k = 0; k < nDatasets; k++) {
    const m = counts[k];
    datasets.push({
      id: k,
      rows: new Int32Array(m),
      millerIndex: new Int32Array(3 * m),
      intensity: new Float64Array(m),
      variance: new Float64Array(m),
      partiality: new Float64Array(m),
      d: d === undefined ? undefined : new Float64Array(m),
    });
  }
  const fill = new Int32Array(nDatasets);
  for (let i = 0; i < n; i++) {
    if (mask[i] === 0) continue;
    const ds = datasets[id[i]];
    const t = fill[id[i]]++;
    ds.rows[t] = i;
    ds.millerIndex[3 * t] = hkl[3 * i];
    ds.millerIndex[3 * t + 1] = hkl[3 * i + 1];
    ds.millerIndex[3 * t + 2] = hkl[3 * i + 2];
    ds.intensity[t] = I[i];
    ds.variance[t] = V[i];
    ds.partiality[t] = partiality === undefined ? 1 : partiality[i];
    if (ds.d !== undefined && d !== undefined) ds.d[t] = d[i];
  }
  return datasets;
}
