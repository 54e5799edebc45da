/**
 * Bragg merging statistics per resolution shell, as `dials.merge` prints them (cctbx's
 * `iotbx.merging_statistics.dataset_statistics` with `n_bins=20`, `anomalous=False`, `sigma_filtering=None`,
 * `use_internal_variance=False`, `eliminate_sys_absent=False`, equal-volume binning, CC½ by the random half-data-set
 * split): per shell the d range, observations, unique reflections, multiplicity, completeness, ⟨I⟩, ⟨I/σ⟩, R_merge,
 * R_meas, R_pim and CC½, and the same over all data.
 *
 * The rules followed, all from cctbx:
 * - d*² of each observation from its recorded index with the median unit cell of the experiments (DIALS's
 *   `determine_best_unit_cell`); shells: `miller.binning` over the data's d*² range widened by 10⁻⁶ of its span at
 *   both ends, limits at equal volumes of the reciprocal-space sphere, shell i holding `limits[i] ≤ d*² < limits[i+1]`.
 * - In each shell, indices are mapped to the asymmetric unit (non-anomalous) and stably sorted by index, so the
 *   observations of a reflection keep their table order.
 * - Merging (`merge_equivalents`): the 1/σ²-weighted mean over the observations whose σ exceeds 10⁻⁶ of the group's
 *   largest σ, merged σ = 1/√Σw; R-factors over groups of two or more: R_merge = ΣΣ|I − ⟨I⟩| / ΣΣ I,
 *   R_meas and R_pim weighted by √(n/(n−1)) and √(1/(n−1)).
 * - CC½ (`split_unmerged`, weighted): in each group of n ≥ 2, ⌊n/2⌋ observations (one more with probability ½ when n
 *   is odd) drawn by partial Fisher–Yates shuffle form half 1; the correlation of the two halves' weighted means.
 *   The draws come from MT19937 seeded as scitbx's default generator, restarted for each shell and for the overall row.
 * - Completeness: unique reflections over the expected ones, the asymmetric-unit indices that are not systematically
 *   absent with d between the shell's limits and not beyond the shell's own highest-resolution reflection; at most 1.
 *
 * @packageDocumentation
 */
import {
  ConfigError,
  InputError,
  requireArrayArgument,
  requireInstanceArgument,
  requireNumbersArgument,
  requireObjectArgument,
  requireOptionsArgument,
  requireStringArgument,
} from "../errors.ts";
import type { UnitCell } from "../geometry/unit-cell.ts";
import { ExperimentList } from "../io/expt.ts";
import { SpaceGroup } from "../symmetry/space-group.ts";
import { ReflectionTable } from "../table/reflection-table.ts";
import { millerIndexOrder } from "./index-order.ts";
import { MersenneTwister } from "./mersenne-twister.ts";
import { selectScaledIntensities, type ScaledIntensities } from "./scaled-intensities.ts";

/** The statistics of one resolution shell (or of all data). */
export interface MergingShell {
  /** Low-resolution limit, Å. */
  dMax: number;
  /** High-resolution limit, Å. */
  dMin: number;
  /** Observations. */
  nObs: number;
  /** Unique (symmetry-merged) reflections. */
  nUnique: number;
  /** Mean number of observations per unique reflection. */
  multiplicity: number;
  /** Unique over expected reflections in the shell (0..1). */
  completeness: number;
  /** Mean merged intensity. */
  meanI: number;
  /** Mean I/σ of the merged reflections. */
  meanIOverSigma: number;
  /** R_merge (0 when no reflection has two observations). */
  rMerge: number;
  /** R_meas. */
  rMeas: number;
  /** R_pim. */
  rPim: number;
  /** CC½ of the random half data sets. */
  ccHalf: number;
  /** Reflections CC½ is computed over (those with two or more observations). */
  ccHalfN: number;
}

/** Bragg merging statistics: per shell, from low to high resolution, and overall. */
export interface MergingStatistics {
  /** The shells, low resolution first. */
  shells: MergingShell[];
  /** All data. */
  overall: MergingShell;
  /** The unit cell the d-spacings were computed with. */
  unitCell: UnitCell;
}

/** Options of {@link computeMergingStatistics}. */
export interface MergingStatisticsOptions {
  /**
   * Number of resolution shells.
   * @defaultValue 20 (as `dials.merge`)
   */
  nBins?: number;
}

/** The defaults of {@link MergingStatisticsOptions}. */
export const MERGING_STATISTICS_DEFAULTS = { nBins: 20 } as const;

/** Partiality below which `dials.merge` drops an observation (its `partiality_threshold`). */
export const MERGE_PARTIALITY_THRESHOLD = 0.4;

/** Most index-box points enumerated for the expected reflections (beyond, completeness is NaN). */
const MAX_EXPECTED_BOX = 5e7;

/**
 * The median of each unit-cell parameter over the experiments (DIALS's `determine_best_unit_cell`; the mean of the
 * two middle values for an even count).
 *
 * @throws {@link ConfigError} when there is no cell
 */
export function medianUnitCell(cells: readonly UnitCell[]): UnitCell {
  requireArrayArgument(cells, "medianUnitCell: cells");
  cells.forEach((c, i) => {
    requireNumbersArgument(c, `medianUnitCell: cells[${i}] (a, b, c, α, β, γ)`, 6);
  });
  if (cells.length === 0) throw new ConfigError("medianUnitCell: no unit cell given");
  const out = [0, 0, 0, 0, 0, 0] as UnitCell;
  for (let p = 0; p < 6; p++) {
    const v = cells.map((c) => c[p]).sort((a, b) => a - b);
    const m = v.length >> 1;
    out[p] = v.length % 2 === 1 ? v[m] : (v[m - 1] + v[m]) / 2;
  }
  return out;
}

/** The reciprocal metric tensor (G⁻¹) of a cell as [g00, g11, g22, g01, g02, g12]. */
export function reciprocalMetric(cell: UnitCell): Float64Array {
  const [a, b, c, al, be, ga] = cell;
  const d = Math.PI / 180;
  const g = [a * a, b * b, c * c, a * b * Math.cos(ga * d), a * c * Math.cos(be * d), b * c * Math.cos(al * d)];
  const [g00, g11, g22, g01, g02, g12] = g;
  const c00 = g11 * g22 - g12 * g12;
  const c01 = g02 * g12 - g01 * g22;
  const c02 = g01 * g12 - g02 * g11;
  const det = g00 * c00 + g01 * c01 + g02 * c02;
  if (!(det > 0)) throw new ConfigError(`unit cell ${cell.join(", ")} has no volume`);
  return Float64Array.of(
    c00 / det,
    (g00 * g22 - g02 * g02) / det,
    (g00 * g11 - g01 * g01) / det,
    c01 / det,
    c02 / det,
    (g01 * g02 - g00 * g12) / det,
  );
}

function dStarSq(m: Float64Array, h: number, k: number, l: number): number {
  return h * h * m[0] + k * k * m[1] + l * l * m[2] + 2 * (h * k * m[3] + h * l * m[4] + k * l * m[5]);
}

/** cctbx `binning::init_limits`: equal-volume d*² limits over [dMax, dMin] widened by 10⁻⁶ of the span. */
export function binLimits(nBins: number, dMax: number, dMin: number): Float64Array {
  let lo = dMax > 0 ? 1 / (dMax * dMax) : 0;
  let hi = 1 / (dMin * dMin);
  const span = hi - lo;
  hi += span * 1e-6;
  lo -= span * 1e-6;
  if (lo < 0) lo = 0;
  const vol = (r: number): number => (4 * Math.PI * r * r * r) / 3;
  const vLow = vol(Math.sqrt(lo));
  const perBin = (vol(Math.sqrt(hi)) - vLow) / nBins;
  const limits = new Float64Array(nBins + 1);
  limits[0] = lo;
  for (let i = 1; i < nBins; i++) limits[i] = Math.pow(((vLow + i * perBin) * 3) / (4 * Math.PI), 2 / 3);
  limits[nBins] = hi;
  return limits;
}

/** d of a d*² (−1 for 0, as cctbx). */
function dOf(dss: number): number {
  return dss === 0 ? -1 : 1 / Math.sqrt(dss);
}

/** The observations of one shell, sorted by asymmetric-unit index (stable). */
interface ShellRows {
  rows: Int32Array;
  asu: Int32Array;
  intensity: Float64Array;
  sigma: Float64Array;
}

function sameIndex(asu: Int32Array, a: number, b: number): boolean {
  return asu[3 * a] === asu[3 * b] && asu[3 * a + 1] === asu[3 * b + 1] && asu[3 * a + 2] === asu[3 * b + 2];
}

/** The group boundaries of sorted rows: group g is `rows[starts[g]..starts[g+1])`. */
function groupStarts(s: ShellRows): number[] {
  const starts: number[] = [];
  for (let i = 0; i < s.rows.length; i++) {
    if (i === 0 || !sameIndex(s.asu, s.rows[i], s.rows[i - 1])) starts.push(i);
  }
  starts.push(s.rows.length);
  return starts;
}

/** cctbx `linear_correlation(x, y).coefficient()`. */
function correlation(x: readonly number[], y: readonly number[]): number {
  const n = x.length;
  if (n === 0) return 0;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) mx += x[i];
  for (let i = 0; i < n; i++) my += y[i];
  mx /= n;
  my /= n;
  let num = 0;
  let sx = 0;
  let sy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i] - mx;
    const dy = y[i] - my;
    num += dx * dy;
    sx += dx * dx;
    sy += dy * dy;
  }
  const den = Math.sqrt(sx * sy);
  if (num === 0 && den === 0) return 0;
  return den > Math.abs(num * 1e-15) ? num / den : 0;
}

/** CC½ by cctbx's `split_unmerged` (weighted) with a fresh generator. */
function splitCcHalf(s: ShellRows, starts: number[]): { cc: number; n: number } {
  const gen = new MersenneTwister(0);
  const d1: number[] = [];
  const d2: number[] = [];
  const temp: number[] = [];
  const tempW: number[] = [];
  for (let g = 0; g + 1 < starts.length; g++) {
    const n = starts[g + 1] - starts[g];
    if (n < 2) continue;
    temp.length = 0;
    tempW.length = 0;
    for (let i = starts[g]; i < starts[g + 1]; i++) {
      const r = s.rows[i];
      temp.push(s.intensity[r]);
      tempW.push(1 / (s.sigma[r] * s.sigma[r]));
    }
    let nsum = Math.floor(n / 2);
    if (2 * nsum !== n && gen.randomDouble() < 0.5) nsum += 1;
    let i0 = 0;
    let w0 = 0;
    for (let i = 0; i < nsum; i++) {
      const ind = i + Math.min(n - i - 1, Math.floor(gen.randomDouble() * (n - i)));
      i0 += temp[ind] * tempW[ind];
      w0 += tempW[ind];
      temp[ind] = temp[i];
      tempW[ind] = tempW[i];
    }
    let i1 = 0;
    let w1 = 0;
    for (let i = nsum; i < n; i++) {
      i1 += temp[i] * tempW[i];
      w1 += tempW[i];
    }
    d1.push(i0 / w0);
    d2.push(i1 / w1);
  }
  return { cc: correlation(d1, d2), n: d1.length };
}

/** The expected (complete-set) reflections: d*² of every asymmetric-unit index not systematically absent. */
interface ExpectedSet {
  dss: Float64Array;
}

/** The statistics of sorted rows over [dMax, dMin] (merge_equivalents, R-factors, CC½, completeness). */
function shellStatistics(
  s: ShellRows,
  dMax: number,
  dMin: number,
  metric: Float64Array,
  expected: ExpectedSet | null,
): MergingShell {
  const starts = groupStarts(s);
  const nUnique = starts.length - 1;
  let sumI = 0;
  let sumIOverSigma = 0;
  let nIOverSigma = 0;
  let rNum = 0;
  let rDen = 0;
  let rMeasNum = 0;
  let rPimNum = 0;
  let maxDss = 0;
  for (let g = 0; g < nUnique; g++) {
    const a = starts[g];
    const b = starts[g + 1];
    const n = b - a;
    let maxSigma = 0;
    for (let i = a; i < b; i++) maxSigma = Math.max(maxSigma, s.sigma[s.rows[i]]);
    const threshold = maxSigma * 1e-6;
    let sw = 0;
    let swx = 0;
    let nUsed = 0;
    let single = 0;
    let singleSigma = 0;
    for (let i = a; i < b; i++) {
      const r = s.rows[i];
      if (s.sigma[r] > threshold) {
        const w = 1 / (s.sigma[r] * s.sigma[r]);
        sw += w;
        swx += w * s.intensity[r];
        nUsed++;
        single = s.intensity[r];
        singleSigma = s.sigma[r];
      }
    }
    const mean = nUsed === 0 ? 0 : nUsed === 1 ? single : swx / sw;
    const sigma = nUsed === 0 ? 0 : nUsed === 1 ? singleSigma : Math.sqrt(1 / sw);
    sumI += mean;
    if (sigma > 0) {
      sumIOverSigma += mean / sigma;
      nIOverSigma++;
    }
    if (n > 1) {
      let num = 0;
      let den = 0;
      for (let i = a; i < b; i++) {
        const x = s.intensity[s.rows[i]];
        num += Math.abs(x - mean);
        den += x;
      }
      rNum += num;
      rDen += den;
      rMeasNum += Math.sqrt(n / (n - 1)) * num;
      rPimNum += Math.sqrt(1 / (n - 1)) * num;
    }
    const r0 = s.rows[a];
    maxDss = Math.max(maxDss, dStarSq(metric, s.asu[3 * r0], s.asu[3 * r0 + 1], s.asu[3 * r0 + 2]));
  }
  const cc = splitCcHalf(s, starts);
  let completeness = Number.NaN;
  if (expected !== null && nUnique > 0) {
    const dMinData = 1 / Math.sqrt(maxDss);
    const cutD = dMinData * (1 - Number.EPSILON);
    let nExpected = 0;
    for (const dss of expected.dss) {
      const dStar = Math.sqrt(dss);
      if (1 / dStar < cutD) continue;
      if (dMax > 0 && dStar < 1 / dMax) continue;
      if (dMin > 0 && dStar > 1 / dMin) continue;
      nExpected++;
    }
    completeness = nExpected === 0 ? Number.NaN : Math.min(nUnique / nExpected, 1);
  }
  return {
    dMax,
    dMin,
    nObs: s.rows.length,
    nUnique,
    multiplicity: nUnique === 0 ? 0 : s.rows.length / nUnique,
    completeness,
    meanI: nUnique === 0 ? 0 : sumI / nUnique,
    meanIOverSigma: nIOverSigma === 0 ? 0 : sumIOverSigma / nIOverSigma,
    rMerge: rDen === 0 ? 0 : rNum / rDen,
    rMeas: rDen === 0 ? 0 : rMeasNum / rDen,
    rPim: rDen === 0 ? 0 : rPimNum / rDen,
    ccHalf: cc.cc,
    ccHalfN: cc.n,
  };
}

/** The d*² of the asymmetric-unit indices (not absent, not 000) with d ≥ dMin·(1 − 10⁻⁶); null if too many to list. */
function expectedSet(cell: UnitCell, metric: Float64Array, group: SpaceGroup, dMin: number): ExpectedSet | null {
  const cutDss = 1 / (dMin * (1 - 1e-6)) ** 2;
  const hMax = [Math.ceil(cell[0] / dMin), Math.ceil(cell[1] / dMin), Math.ceil(cell[2] / dMin)];
  if ((2 * hMax[0] + 1) * (2 * hMax[1] + 1) * (2 * hMax[2] + 1) > MAX_EXPECTED_BOX) return null;
  const out: number[] = [];
  const rowLen = 2 * hMax[2] + 1;
  const line = new Int32Array(3 * rowLen);
  const mapped = new Int32Array(3 * rowLen);
  for (let h = -hMax[0]; h <= hMax[0]; h++) {
    for (let k = -hMax[1]; k <= hMax[1]; k++) {
      for (let j = 0; j < rowLen; j++) {
        line[3 * j] = h;
        line[3 * j + 1] = k;
        line[3 * j + 2] = j - hMax[2];
      }
      group.mapToAsuBatch(line, false, mapped);
      for (let j = 0; j < rowLen; j++) {
        const l = j - hMax[2];
        if (mapped[3 * j] !== h || mapped[3 * j + 1] !== k || mapped[3 * j + 2] !== l) continue;
        if (h === 0 && k === 0 && l === 0) continue;
        const dss = dStarSq(metric, h, k, l);
        if (dss > cutDss || group.isSysAbsent(h, k, l)) continue;
        out.push(dss);
      }
    }
  }
  return { dss: Float64Array.from(out) };
}

/**
 * Bragg merging statistics per resolution shell and overall, as `dials.merge` computes and prints them (see the file
 * comment for the rules).
 *
 * @param data - the scaled intensities ({@link selectScaledIntensities})
 * @param cell - the unit cell for d-spacings (DIALS: the median cell of the experiments, {@link medianUnitCell})
 * @param group - the space group (of the first experiment)
 * @param options - see {@link MergingStatisticsOptions}
 * @returns the statistics; null when there are fewer than two observations or no reflection has two
 * @throws {@link ConfigError} for a bad number of shells or a cell without volume
 */
export function computeMergingStatistics(
  data: ScaledIntensities,
  cell: UnitCell,
  group: SpaceGroup,
  options: MergingStatisticsOptions = {},
): MergingStatistics | null {
  const fn = "computeMergingStatistics";
  requireObjectArgument(data, `${fn}: data (ScaledIntensities)`);
  requireInstanceArgument(data.hkl, Int32Array, `${fn}: data.hkl`);
  requireInstanceArgument(data.intensity, Float64Array, `${fn}: data.intensity`, data.hkl.length / 3);
  requireInstanceArgument(data.sigma, Float64Array, `${fn}: data.sigma`, data.hkl.length / 3);
  requireNumbersArgument(cell, `${fn}: cell (a, b, c, α, β, γ)`, 6);
  requireInstanceArgument(group, SpaceGroup, `${fn}: group`);
  requireOptionsArgument(options, `${fn}: options`);
  const nBins = options.nBins ?? MERGING_STATISTICS_DEFAULTS.nBins;
  if (!Number.isInteger(nBins) || nBins < 1 || nBins > 1000) {
    throw new ConfigError(`merging statistics: nBins must be an integer in 1..1000, got ${String(nBins)}`);
  }
  const metric = reciprocalMetric(cell);
  const n = data.intensity.length;
  // Rows with σ > 0 (merging_stats drops the others); binning and the d range use every row, as cctbx does.
  const dss = new Float64Array(n);
  let lo = Infinity;
  let hi = 0;
  for (let i = 0; i < n; i++) {
    dss[i] = dStarSq(metric, data.hkl[3 * i], data.hkl[3 * i + 1], data.hkl[3 * i + 2]);
    lo = Math.min(lo, dss[i]);
    hi = Math.max(hi, dss[i]);
  }
  if (n < 2 || !(hi > 0)) return null;
  const asu = group.mapToAsuBatch(data.hkl, false);
  const order = millerIndexOrder(asu);
  const limits = binLimits(nBins, lo > 0 ? 1 / Math.sqrt(lo) : 0, 1 / Math.sqrt(hi));
  const binOf = (x: number): number => {
    for (let b = 1; b < limits.length; b++) if (x < limits[b]) return b - 1;
    return nBins;
  };
  const buckets: number[][] = Array.from({ length: nBins }, () => []);
  const all: number[] = [];
  for (const r of order) {
    if (!(data.sigma[r] > 0)) continue;
    all.push(r);
    const b = binOf(dss[r]);
    if (b >= 0 && b < nBins) buckets[b].push(r);
  }
  const rowsOf = (rows: number[]): ShellRows => ({
    rows: Int32Array.from(rows),
    asu,
    intensity: data.intensity,
    sigma: data.sigma,
  });
  const overallRows = rowsOf(all);
  if (groupStarts(overallRows).length - 1 === overallRows.rows.length) return null;
  // The data's d range from the asymmetric-unit indices (what cctbx's d_max_min of the mapped array gives).
  let aLo = Infinity;
  let aHi = 0;
  for (const r of all) {
    const x = dStarSq(metric, asu[3 * r], asu[3 * r + 1], asu[3 * r + 2]);
    aLo = Math.min(aLo, x);
    aHi = Math.max(aHi, x);
  }
  const expected = expectedSet(cell, metric, group, 1 / Math.sqrt(aHi));
  const shells = buckets.map((rows, b) =>
    shellStatistics(rowsOf(rows), dOf(limits[b]), dOf(limits[b + 1]), metric, expected),
  );
  const overall = shellStatistics(overallRows, aLo > 0 ? 1 / Math.sqrt(aLo) : -1, 1 / Math.sqrt(aHi), metric, expected);
  return { shells, overall, unitCell: [...cell] as UnitCell };
}

/**
 * Bragg merging statistics of a scaled reflection table and its experiments, as `dials.merge` computes them: the
 * scaled intensities selected as DIALS does ({@link selectScaledIntensities}, partiality threshold
 * {@link MERGE_PARTIALITY_THRESHOLD}), d-spacings from the median cell of the experiments, the space group of the
 * first experiment.
 *
 * @param table - the scaled reflection table (`scaled.refl`)
 * @param experiments - its experiments (`scaled.expt`)
 * @param source - the table's file name, for messages
 * @param options - see {@link MergingStatisticsOptions}
 * @returns the statistics, or null when no reflection has two observations
 * @throws {@link InputError} naming `source` when a column is missing or an experiment has no crystal
 */
export function mergingStatisticsOfScaledTable(
  table: ReflectionTable,
  experiments: ExperimentList,
  source: string,
  options: MergingStatisticsOptions = {},
): MergingStatistics | null {
  requireInstanceArgument(table, ReflectionTable, "mergingStatisticsOfScaledTable: table");
  requireInstanceArgument(experiments, ExperimentList, "mergingStatisticsOfScaledTable: experiments");
  requireStringArgument(source, "mergingStatisticsOfScaledTable: source (the file name for messages)");
  const cells: UnitCell[] = [];
  let hall: string | undefined;
  for (const e of experiments.experiments) {
    if (e.crystal === undefined) throw new InputError("an experiment has no crystal model", source);
    cells.push(e.crystal.unitCell);
    hall ??= e.crystal.spaceGroupHall;
  }
  if (hall === undefined) throw new InputError("the experiment list is empty", source);
  const data = selectScaledIntensities(table, MERGE_PARTIALITY_THRESHOLD, source);
  return computeMergingStatistics(data, medianUnitCell(cells), SpaceGroup.fromHall(hall), options);
}
