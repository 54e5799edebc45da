/**
 * Bragg observations for joint scaling, selected as dials.scale selects them (`selectReflectionsForScaling`: integrated
 * sum intensities, `lp/qe` correction, partiality ≥ threshold, intensity and variance divided by partiality and
 * partiality²), mapped to the asymmetric unit (non-anomalous), with every excluded row counted by reason.
 *
 * @packageDocumentation
 */
import { InputError } from "../errors.ts";
import { selectReflectionsForScaling } from "../dials/reflection-selection.ts";
import type { SpaceGroup } from "../symmetry/space-group.ts";
import { ReflectionFlags, getFlags } from "../table/flags.ts";
import type { ReflectionTable } from "../table/reflection-table.ts";
import type { BraggInput } from "./scaling-input.ts";
import { SigmaExponents, inValueRange } from "./value-unit.ts";

/** Why Bragg rows were not used. */
export interface BraggSelectionCounts {
  /** Rows in the table. */
  nRows: number;
  /** Rows used for scaling. */
  nUsed: number;
  /** Integrated rows whose partiality is below the threshold. */
  nBelowPartiality: number;
  /** Rows not flagged `integrated_sum` (or user-excluded). */
  nNotIntegrated: number;
  /** Rows whose `id` has no experiment. */
  nUnknownExperiment: number;
  /** Rows with partiality outside [0, 1] or not finite. */
  nInvalidPartiality: number;
  /** Rows with a non-finite intensity, σ² ≤ 0 or not finite, d ≤ 0, or I/σ < −5 (DIALS `min_isigi`). */
  nInvalidIntensity: number;
  /** Rows with Miller index (0,0,0): the direct beam, and DIALS's mark of an unindexed reflection. */
  nOriginIndex: number;
  /** Rows whose I or σ cannot be stored relative to the Bragg unit (see `value-unit.ts`). */
  nValueOutOfRange: number;
}

/** The prepared Bragg input and the mask of used rows. */
export interface PreparedBragg {
  /** Observations to group (still = the row's `id`). */
  readonly input: BraggInput;
  /** 1 for rows used, per table row. */
  readonly usedMask: Uint8Array;
  /** Counts by reason. */
  readonly counts: BraggSelectionCounts;
}

/**
 * Prepares Bragg observations.
 *
 * @param table - Integrated reflections with `id`, `miller_index`, `flags`, `intensity.sum.*`, `d`; optional `partiality`, `lp`, `qe`.
 * @param spaceGroup - Used to map Miller indices to the asymmetric unit.
 * @param nStills - Number of experiments; rows with `id` outside [0, nStills) are counted and skipped.
 * @param partialityThreshold - Minimum partiality.
 * @param source - File name for messages.
 * @throws {@link InputError} when a required column is missing.
 */
export function prepareBraggInput(
  table: ReflectionTable,
  spaceGroup: SpaceGroup,
  nStills: number,
  partialityThreshold: number,
  source: string,
): PreparedBragg {
  for (const name of ["id", "miller_index", "flags", "intensity.sum.value", "intensity.sum.variance", "d"]) {
    if (!table.has(name)) throw new InputError(`missing column "${name}" needed for scaling`, source);
  }
  const n = table.nrows;
  const id = table.getInt("id");
  const d = table.getDouble("d");
  const partiality = table.has("partiality") ? table.getDouble("partiality") : undefined;
  const integrated = getFlags(table, ReflectionFlags.integratedSum);
  const userExcluded = getFlags(table, ReflectionFlags.userExcludedInScaling);
  const counts: BraggSelectionCounts = {
    nRows: n,
    nUsed: 0,
    nBelowPartiality: 0,
    nNotIntegrated: 0,
    nUnknownExperiment: 0,
    nInvalidPartiality: 0,
    nInvalidIntensity: 0,
    nOriginIndex: 0,
    nValueOutOfRange: 0,
  };
  const millerIndex = table.getMillerIndex();
  const candidate = new Uint8Array(n);
  let nCandidates = 0;
  for (let i = 0; i < n; i++) {
    if (!(id[i] >= 0 && id[i] < nStills)) {
      counts.nUnknownExperiment++;
      continue;
    }
    if (!integrated[i] || userExcluded[i]) {
      counts.nNotIntegrated++;
      continue;
    }
    if (millerIndex[3 * i] === 0 && millerIndex[3 * i + 1] === 0 && millerIndex[3 * i + 2] === 0) {
      counts.nOriginIndex++;
      continue;
    }
    if (partiality !== undefined) {
      const p = partiality[i];
      if (!(p >= 0 && p <= 1)) {
        counts.nInvalidPartiality++;
        continue;
      }
      if (p < partialityThreshold) {
        counts.nBelowPartiality++;
        continue;
      }
    }
    if (!(d[i] > 0 && Number.isFinite(d[i]))) {
      counts.nInvalidIntensity++;
      continue;
    }
    candidate[i] = 1;
    nCandidates++;
  }
  // the candidate rows are selected in place (rowMask), without gathering them into a new table
  const selected = selectReflectionsForScaling(table, {
    partialityCutoff: partialityThreshold,
    nDatasets: nStills,
    rowMask: candidate,
    source,
  });
  // the Bragg unit (a power of two, 1 for ordinary data) from the σ of the selected rows; rows that cannot be stored
  // relative to it are dropped and counted
  const exponents = new SigmaExponents();
  for (const ds of selected.datasets) for (let j = 0; j < ds.rows.length; j++) exponents.add(Math.sqrt(ds.variance[j]));
  const unit = exponents.unit();
  let m = 0;
  for (const ds of selected.datasets) {
    for (let j = 0; j < ds.rows.length; j++) {
      if (inValueRange(ds.intensity[j], Math.sqrt(ds.variance[j]), unit)) m++;
      else counts.nValueOutOfRange++;
    }
  }
  const usedMask = new Uint8Array(n);
  const still = new Int32Array(m);
  const hkl = new Int32Array(3 * m);
  const intensity = new Float64Array(m);
  const variance = new Float64Array(m);
  const qMagnitude = new Float64Array(m);
  const sourceRow = new Int32Array(m);
  let t = 0;
  for (const ds of selected.datasets) {
    for (let j = 0; j < ds.rows.length; j++) {
      if (!inValueRange(ds.intensity[j], Math.sqrt(ds.variance[j]), unit)) continue;
      const row = ds.rows[j];
      still[t] = ds.id;
      hkl[3 * t] = ds.millerIndex[3 * j];
      hkl[3 * t + 1] = ds.millerIndex[3 * j + 1];
      hkl[3 * t + 2] = ds.millerIndex[3 * j + 2];
      intensity[t] = ds.intensity[j];
      variance[t] = ds.variance[j];
      qMagnitude[t] = 1 / d[row];
      sourceRow[t] = row;
      usedMask[row] = 1;
      t++;
    }
  }
  counts.nUsed = m;
  counts.nInvalidIntensity += nCandidates - m - counts.nValueOutOfRange;
  const asuHkl = spaceGroup.mapToAsuBatch(hkl, false);
  return { input: { still, asuHkl, intensity, variance, qMagnitude, sourceRow, unit }, usedMask, counts };
}
