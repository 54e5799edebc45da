/**
 * The Ih table of DIALS (`dials/algorithms/scaling/Ih_table.py`): observations grouped by symmetry-equivalent
 * asymmetric-unit Miller index, split into blocks, with the weighted best estimate Ih of each group.
 *
 * Layout (as DIALS): the sorted unique ASU indices over all datasets are split into `nBlocks` contiguous ranges at
 * `int(i·nUnique/nBlocks)`. Within a block, rows are ordered dataset-major and, within a dataset, by a stable
 * lexicographic sort of the ASU index. An optional free set (every `int(100/pct)`-th unique group from
 * `freeSetOffset`) is removed from the work blocks and kept in an extra block, {@link IhTable.freeBlock}.
 *
 * @packageDocumentation
 */
import {
  ConfigError,
  requireArrayArgument,
  requireFunctionArgument,
  requireInstanceArgument,
  requireIntegerArgument,
  requireNumbersArgument,
  requireObjectArgument,
  requireOptionsArgument,
} from "../errors.ts";

/** Anything that maps Miller indices to the asymmetric unit, such as the project's `SpaceGroup`. */
export interface AsuMapper {
  /**
   * Maps `n` Miller indices (flat `n*3`) to the asymmetric unit as cctbx's `miller.set.map_to_asu` does.
   *
   * @param hkl - flat `n*3` Miller indices
   * @param anomalous - keep Friedel mates apart
   * @returns flat `n*3` ASU indices
   */
  mapToAsuBatch(hkl: Int32Array, anomalous?: boolean): Int32Array;
}

/** One dataset's observations for an {@link IhTable}. All arrays have one entry (three for indices) per row. */
export interface IhTableDataset {
  /** Original Miller indices, flat `n*3`. */
  millerIndex: Int32Array;
  /** Intensities I (corrected, unscaled). */
  intensity: Float64Array;
  /** Variances σ² of I; must be positive and finite. */
  variance: Float64Array;
  /** Inverse scale factors g; 1 where absent. */
  inverseScaleFactor?: Float64Array;
  /** Partialities, carried along for callers; not used by the table's maths. */
  partiality?: Float64Array;
  /**
   * Row numbers to report in {@link IhTableBlock.locIndices} and {@link IhTableBlock.blockSelections} instead of
   * `0..n-1` (DIALS's `indices_lists`), e.g. the rows of the full reflection table this dataset was selected from.
   */
  indices?: Int32Array;
}

/** Options of the {@link IhTable} constructor. */
export interface IhTableOptions {
  /**
   * Number of work blocks (DIALS `nblocks`); reduced to the number of work groups if larger.
   * @defaultValue 1
   */
  nBlocks?: number;
  /**
   * Keep Friedel mates in separate groups.
   * @defaultValue false
   */
  anomalous?: boolean;
  /**
   * Percentage of unique groups put into the free set (0 = no free set).
   * @defaultValue 0
   */
  freeSetPercentage?: number;
  /**
   * Index of the first unique group of the free set.
   * @defaultValue 0
   */
  freeSetOffset?: number;
}

/** The arrays an {@link IhTableBlock} is built from (internal). */
export interface BlockArrays {
  nDatasets: number;
  nGroups: number;
  groupIndex: Int32Array;
  asuMillerIndex: Int32Array;
  intensity: Float64Array;
  variance: Float64Array;
  weights: Float64Array;
  inverseScaleFactor: Float64Array;
  IhValues: Float64Array;
  datasetId: Int32Array;
  locIndices: Int32Array;
  partiality: Float64Array | undefined;
}

/**
 * One block of an {@link IhTable}: a set of complete symmetry groups. Rows are dataset-major, then in sorted ASU order.
 */
export class IhTableBlock {
  /** Number of rows (observations). */
  readonly size: number;
  /** Number of symmetry groups. */
  readonly nGroups: number;
  /** Number of datasets the table was built from (some may have no rows here). */
  readonly nDatasets: number;
  /** Group of each row, `0..nGroups-1`, groups numbered in sorted (h,k,l) order. */
  readonly groupIndex: Int32Array;
  /** ASU Miller index of each row, flat `size*3`. */
  readonly asuMillerIndex: Int32Array;
  /** Intensity I of each row. */
  readonly intensity: Float64Array;
  /** Variance σ² of each row. */
  readonly variance: Float64Array;
  /** Weight of each row, initially 1/σ². */
  weights: Float64Array;
  /** Inverse scale factor g of each row. */
  inverseScaleFactor: Float64Array;
  /** Ih of each row's group (per row), as last set by {@link IhTableBlock.calcIh}. */
  readonly IhValues: Float64Array;
  /** Dataset of each row. */
  readonly datasetId: Int32Array;
  /** Row of each observation in its dataset (or the dataset's `indices`). */
  readonly locIndices: Int32Array;
  /** Partiality of each row, if the datasets provided it. */
  readonly partiality: Float64Array | undefined;
  /** Per dataset, its rows (as {@link IhTableBlock.locIndices}) in block-row order. */
  readonly blockSelections: readonly Int32Array[];
  /** Per dataset, the half-open row range `[start, end)` it occupies in this block. */
  readonly datasetRanges: readonly (readonly [number, number])[];
  /** CSR of the group → rows map: rows of group h are `groupRows[groupPtr[h] .. groupPtr[h+1])`, ascending. */
  readonly groupPtr: Int32Array;
  /** See {@link IhTableBlock.groupPtr}. */
  readonly groupRows: Int32Array;

  /**
   * Wraps the given arrays (internal; blocks are made by {@link IhTable} and by selection).
   *
   * @param a - the block's arrays, already consistent and dataset-major
   * @internal
   */
  constructor(a: BlockArrays) {
    checkBlockArrays(a);
    const n = a.intensity.length;
    this.size = n;
    this.nGroups = a.nGroups;
    this.nDatasets = a.nDatasets;
    this.groupIndex = a.groupIndex;
    this.asuMillerIndex = a.asuMillerIndex;
    this.intensity = a.intensity;
    this.variance = a.variance;
    this.weights = a.weights;
    this.inverseScaleFactor = a.inverseScaleFactor;
    this.IhValues = a.IhValues;
    this.datasetId = a.datasetId;
    this.locIndices = a.locIndices;
    this.partiality = a.partiality;
    const counts = new Int32Array(a.nDatasets);
    for (let i = 0; i < n; i++) counts[a.datasetId[i]]++;
    const selections: Int32Array[] = [];
    const ranges: (readonly [number, number])[] = [];
    let start = 0;
    for (let d = 0; d < a.nDatasets; d++) {
      const end = start + counts[d];
      selections.push(a.locIndices.slice(start, end));
      ranges.push([start, end]);
      start = end;
    }
    this.blockSelections = selections;
    this.datasetRanges = ranges;
    const ptr = new Int32Array(a.nGroups + 1);
    for (let i = 0; i < n; i++) ptr[a.groupIndex[i] + 1]++;
    for (let h = 0; h < a.nGroups; h++) ptr[h + 1] += ptr[h];
    const fill = ptr.slice(0, a.nGroups);
    const rows = new Int32Array(n);
    for (let i = 0; i < n; i++) rows[fill[a.groupIndex[i]]++] = i;
    this.groupPtr = ptr;
    this.groupRows = rows;
  }

  /**
   * Recomputes Ih for every group, `Ih_h = Σ w g I / Σ w g²`, and stores it per row in {@link IhTableBlock.IhValues}.
   * Where `Σ w g² = 0` DIALS divides by zero (dials/dials#2974, NaN); here Ih is set to 0 for that group instead.
   */
  calcIh(): void {
    const nG = this.nGroups;
    const num = new Float64Array(nG);
    const den = new Float64Array(nG);
    const { groupIndex: gi, weights: w, inverseScaleFactor: g, intensity: I } = this;
    for (let i = 0; i < this.size; i++) {
      const h = gi[i];
      const wg = w[i] * g[i];
      num[h] += wg * I[i];
      den[h] += wg * g[i];
    }
    for (let h = 0; h < nG; h++) num[h] = den[h] === 0 ? 0 : num[h] / den[h];
    for (let i = 0; i < this.size; i++) this.IhValues[i] = num[gi[i]];
  }

  /**
   * Sums a per-row vector over each symmetry group.
   *
   * @param v - one value per row
   * @param output - `"per_group"` (one sum per group) or `"per_refl"` (each row gets its group's sum)
   * @returns the sums
   * @throws ConfigError for a wrong length or an unknown `output`
   */
  sumInGroups(v: ArrayLike<number>, output: "per_group" | "per_refl" = "per_group"): Float64Array {
    requireNumbersArgument(v, "IhTableBlock.sumInGroups: v");
    if (v.length !== this.size) {
      throw new ConfigError(`sumInGroups: vector has length ${v.length}, the block has ${this.size} rows`);
    }
    if ((output as string) !== "per_group" && (output as string) !== "per_refl") {
      throw new ConfigError(`sumInGroups: output must be "per_group" or "per_refl", got "${output as string}"`);
    }
    const sums = new Float64Array(this.nGroups);
    for (let i = 0; i < this.size; i++) sums[this.groupIndex[i]] += v[i];
    if (output === "per_group") return sums;
    const out = new Float64Array(this.size);
    for (let i = 0; i < this.size; i++) out[i] = sums[this.groupIndex[i]];
    return out;
  }

  /** The multiplicity of each group, `"per_group"` or expanded `"per_refl"`. */
  groupMultiplicities(output: "per_group" | "per_refl" = "per_group"): Float64Array {
    return this.sumInGroups(new Float64Array(this.size).fill(1), output);
  }

  /** The multiplicity of each row's group, per row (DIALS `calc_nh`). */
  calcNh(): Float64Array {
    return this.groupMultiplicities("per_refl");
  }

  /**
   * Sets the weights from the error model `σ'² = a²(σ² + (b·I)²)` with the raw intensity: `w = 1/σ'²`.
   *
   * @param a - error-model `a`
   * @param b - error-model `b`
   */
  updateErrorModel(a: number, b: number): void {
    if (!Number.isFinite(a) || a === 0 || !Number.isFinite(b)) {
      throw new ConfigError(`updateErrorModel: a must be finite and non-zero and b finite, got a=${a}, b=${b}`);
    }
    const a2 = a * a;
    for (let i = 0; i < this.size; i++) {
      const bI = b * this.intensity[i];
      this.weights[i] = 1 / (a2 * (this.variance[i] + bI * bI));
    }
  }

  /** Resets the weights to 1/σ². */
  resetWeights(): void {
    for (let i = 0; i < this.size; i++) this.weights[i] = 1 / this.variance[i];
  }

  /**
   * A new block with the rows where `mask` is non-zero. Groups left empty are dropped and the others renumbered in
   * order; every column (weights, g, Ih included) is copied.
   *
   * @param mask - one entry per row
   * @returns the selected block
   */
  select(mask: Uint8Array): IhTableBlock {
    requireNumbersArgument(mask, "IhTableBlock.select: mask");
    if (mask.length !== this.size) {
      throw new ConfigError(`IhTableBlock.select: mask has length ${mask.length}, the block has ${this.size} rows`);
    }
    let m = 0;
    for (let i = 0; i < this.size; i++) if (mask[i] !== 0) m++;
    const rows = new Int32Array(m);
    m = 0;
    for (let i = 0; i < this.size; i++) if (mask[i] !== 0) rows[m++] = i;
    const newGroup = new Int32Array(this.nGroups).fill(-1);
    for (let k = 0; k < m; k++) newGroup[this.groupIndex[rows[k]]] = 0;
    let nG = 0;
    for (let h = 0; h < this.nGroups; h++) if (newGroup[h] === 0) newGroup[h] = nG++;
    const pick = (src: Float64Array): Float64Array => {
      const out = new Float64Array(m);
      for (let k = 0; k < m; k++) out[k] = src[rows[k]];
      return out;
    };
    const groupIndex = new Int32Array(m);
    const datasetId = new Int32Array(m);
    const locIndices = new Int32Array(m);
    const asu = new Int32Array(3 * m);
    for (let k = 0; k < m; k++) {
      const i = rows[k];
      groupIndex[k] = newGroup[this.groupIndex[i]];
      datasetId[k] = this.datasetId[i];
      locIndices[k] = this.locIndices[i];
      asu[3 * k] = this.asuMillerIndex[3 * i];
      asu[3 * k + 1] = this.asuMillerIndex[3 * i + 1];
      asu[3 * k + 2] = this.asuMillerIndex[3 * i + 2];
    }
    return new IhTableBlock({
      nDatasets: this.nDatasets,
      nGroups: nG,
      groupIndex,
      asuMillerIndex: asu,
      intensity: pick(this.intensity),
      variance: pick(this.variance),
      weights: pick(this.weights),
      inverseScaleFactor: pick(this.inverseScaleFactor),
      IhValues: pick(this.IhValues),
      datasetId,
      locIndices,
      partiality: this.partiality === undefined ? undefined : pick(this.partiality),
    });
  }

  /**
   * A new block with the groups where `mask` is non-zero (all their rows).
   *
   * @param mask - one entry per group
   * @returns the selected block
   */
  selectOnGroups(mask: Uint8Array): IhTableBlock {
    requireNumbersArgument(mask, "IhTableBlock.selectOnGroups: mask");
    if (mask.length !== this.nGroups) {
      throw new ConfigError(
        `IhTableBlock.selectOnGroups: mask has length ${mask.length}, the block has ${this.nGroups} groups`,
      );
    }
    const rowMask = new Uint8Array(this.size);
    for (let i = 0; i < this.size; i++) rowMask[i] = mask[this.groupIndex[i]] !== 0 ? 1 : 0;
    return this.select(rowMask);
  }
}

/** Lexicographic (h,k,l) comparison of rows `a` and `b` of a flat index array. */
function compareHkl(hkl: Int32Array, a: number, b: number): number {
  return hkl[3 * a] - hkl[3 * b] || hkl[3 * a + 1] - hkl[3 * b + 1] || hkl[3 * a + 2] - hkl[3 * b + 2];
}

/** Stable sort permutation of `n` rows of `hkl` in lexicographic (h,k,l) order. */
function sortedPermutation(hkl: Int32Array, n: number): Int32Array {
  const perm = new Int32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  perm.sort((a, b) => compareHkl(hkl, a, b) || a - b);
  return perm;
}

/** Validates one dataset and returns its row count. */
/** Checks the arrays of an {@link IhTableBlock} once, where the block is built from arrays a caller passed. */
function checkBlockArrays(a: BlockArrays): void {
  requireObjectArgument(a, "IhTableBlock: arrays");
  requireInstanceArgument(a.intensity, Float64Array, "IhTableBlock: intensity");
  const n = a.intensity.length;
  requireIntegerArgument(a.nGroups, "IhTableBlock: nGroups");
  requireIntegerArgument(a.nDatasets, "IhTableBlock: nDatasets");
  for (const key of ["variance", "weights", "inverseScaleFactor", "IhValues"] as const)
    requireInstanceArgument(a[key], Float64Array, `IhTableBlock: ${key}`, n);
  for (const key of ["groupIndex", "datasetId", "locIndices"] as const)
    requireInstanceArgument(a[key], Int32Array, `IhTableBlock: ${key}`, n);
  requireInstanceArgument(a.asuMillerIndex, Int32Array, "IhTableBlock: asuMillerIndex");
  if (a.partiality !== undefined) requireInstanceArgument(a.partiality, Float64Array, "IhTableBlock: partiality", n);
}

function checkDataset(d: IhTableDataset, k: number): number {
  const where = `IhTable dataset ${k}`;
  requireObjectArgument(d, where);
  requireInstanceArgument(d.millerIndex, Int32Array, `${where}: millerIndex`);
  for (const key of ["intensity", "variance"] as const) requireNumbersArgument(d[key], `${where}: ${key}`);
  for (const key of ["inverseScaleFactor", "partiality", "indices"] as const)
    if (d[key] !== undefined) requireNumbersArgument(d[key], `${where}: ${key}`);
  const n = d.intensity.length;
  if (d.millerIndex.length !== 3 * n) {
    throw new ConfigError(`${where}: millerIndex has length ${d.millerIndex.length}, expected ${3 * n}`);
  }
  if (d.variance.length !== n)
    throw new ConfigError(`${where}: variance has length ${d.variance.length}, expected ${n}`);
  for (const [name, arr] of [
    ["inverseScaleFactor", d.inverseScaleFactor],
    ["partiality", d.partiality],
    ["indices", d.indices],
  ] as const) {
    if (arr !== undefined && arr.length !== n) {
      throw new ConfigError(`${where}: ${name} has length ${arr.length}, expected ${n}`);
    }
  }
  for (let i = 0; i < n; i++) {
    const v = d.variance[i];
    if (!(v > 0) || !Number.isFinite(v)) throw new ConfigError(`${where}: variance at row ${i} is ${v}, must be > 0`);
    if (!Number.isFinite(d.intensity[i])) throw new ConfigError(`${where}: intensity at row ${i} is not finite`);
  }
  return n;
}

/**
 * The free set and the blocks over the unique groups (in sorted ASU order, as DIALS): every `⌊100/pct⌋`-th group from
 * `offset` is free, the groups are cut into `min(nBlocksRequested, nWorkGroups)` equal ranges, the free groups go to
 * one extra block, and each group gets its index within its block.
 */
function partitionGroups(
  nUnique: number,
  nBlocksRequested: number,
  pct: number,
  offset: number,
): { nBlocks: number; nAll: number; blockOfGroup: Int32Array; localGroup: Int32Array; groupsInBlock: Int32Array } {
  const isFree = new Uint8Array(nUnique);
  let nWorkGroups = nUnique;
  if (pct > 0) {
    const nFree = Math.trunc((pct * nUnique) / 100);
    nWorkGroups = nUnique - nFree;
    const interval = Math.trunc(100 / pct);
    for (let h = offset; h < nUnique; h += interval) isFree[h] = 1;
  }
  const nBlocks = Math.max(1, Math.min(nBlocksRequested, nWorkGroups));
  const blockOfGroup = new Int32Array(nUnique);
  for (let b = 0; b < nBlocks; b++) {
    const lo = Math.trunc((b * nUnique) / nBlocks);
    const hi = b + 1 === nBlocks ? nUnique : Math.trunc(((b + 1) * nUnique) / nBlocks);
    for (let h = lo; h < hi; h++) blockOfGroup[h] = b;
  }
  const nAll = pct > 0 ? nBlocks + 1 : nBlocks;
  for (let h = 0; h < nUnique; h++) if (isFree[h] !== 0) blockOfGroup[h] = nBlocks;
  // Local group numbering within each block, in sorted order.
  const localGroup = new Int32Array(nUnique);
  const groupsInBlock = new Int32Array(nAll);
  for (let h = 0; h < nUnique; h++) localGroup[h] = groupsInBlock[blockOfGroup[h]]++;
  return { nBlocks, nAll, blockOfGroup, localGroup, groupsInBlock };
}

/** Where each row of the concatenated datasets comes from and which group it is in. */
interface RowInfo {
  /** ASU index of every row (3 per row). */
  asuAll: Int32Array;
  /** First row of each dataset (length nDatasets + 1). */
  start: Int32Array;
  /** Dataset of every row. */
  datasetOfRow: Int32Array;
  /** Unique group of every row (over all blocks). */
  globalGroup: Int32Array;
  /** Index of each unique group within its block. */
  localGroup: Int32Array;
}

/** The block of the given rows (global row numbers, in block order), with `nGroups` groups; Ih is not yet computed. */
function buildBlock(
  datasets: readonly IhTableDataset[],
  rows: Int32Array,
  nGroups: number,
  info: RowInfo,
  hasPartiality: boolean,
): IhTableBlock {
  const { asuAll, start, datasetOfRow, globalGroup, localGroup } = info;
  const nDatasets = datasets.length;
  const n = rows.length;
  const groupIndex = new Int32Array(n);
  const asu = new Int32Array(3 * n);
  const intensity = new Float64Array(n);
  const variance = new Float64Array(n);
  const weights = new Float64Array(n);
  const g = new Float64Array(n);
  const datasetId = new Int32Array(n);
  const locIndices = new Int32Array(n);
  const partiality = hasPartiality ? new Float64Array(n) : undefined;
  for (let k = 0; k < n; k++) {
    const r = rows[k];
    const d = datasetOfRow[r];
    const ds = datasets[d];
    const i = r - start[d];
    groupIndex[k] = localGroup[globalGroup[r]];
    asu[3 * k] = asuAll[3 * r];
    asu[3 * k + 1] = asuAll[3 * r + 1];
    asu[3 * k + 2] = asuAll[3 * r + 2];
    intensity[k] = ds.intensity[i];
    variance[k] = ds.variance[i];
    weights[k] = 1 / ds.variance[i];
    g[k] = ds.inverseScaleFactor === undefined ? 1 : ds.inverseScaleFactor[i];
    datasetId[k] = d;
    locIndices[k] = ds.indices === undefined ? i : ds.indices[i];
    if (partiality !== undefined) partiality[k] = ds.partiality === undefined ? 1 : ds.partiality[i];
  }
  return new IhTableBlock({
    nDatasets,
    nGroups,
    groupIndex,
    asuMillerIndex: asu,
    intensity,
    variance,
    weights,
    inverseScaleFactor: g,
    IhValues: new Float64Array(n),
    datasetId,
    locIndices,
    partiality,
  });
}

/**
 * The blocked table of symmetry groups DIALS scales against. Construction maps indices to the ASU, splits the sorted
 * unique groups into blocks (plus an optional free-set block) and computes Ih in every block.
 */
export class IhTable {
  #blocks: IhTableBlock[];
  #freeBlock: IhTableBlock | undefined;
  /** Number of unique groups over work and free blocks. */
  readonly nGroups: number;
  /** Number of datasets. */
  readonly nDatasets: number;
  /** Whether Friedel mates are kept apart. */
  readonly anomalous: boolean;

  /**
   * @param datasets - one entry per dataset, at least one row in total
   * @param spaceGroup - maps indices to the ASU (the project's `SpaceGroup`)
   * @param options - block count, anomalous flag and free set
   * @throws ConfigError on inconsistent arrays, non-positive variances, bad options or no data
   */
  constructor(datasets: readonly IhTableDataset[], spaceGroup: AsuMapper, options: IhTableOptions = {}) {
    requireArrayArgument(datasets, "IhTable: datasets");
    requireObjectArgument(spaceGroup, "IhTable: spaceGroup (a SpaceGroup)");
    requireFunctionArgument(
      (spaceGroup as { mapToAsuBatch?: unknown }).mapToAsuBatch,
      "IhTable: spaceGroup.mapToAsuBatch (a SpaceGroup)",
    );
    requireOptionsArgument(options, "IhTable: options");
    const nBlocksRequested = options.nBlocks ?? 1;
    const anomalous = options.anomalous ?? false;
    const pct = options.freeSetPercentage ?? 0;
    const offset = options.freeSetOffset ?? 0;
    if (!Number.isInteger(nBlocksRequested) || nBlocksRequested < 1) {
      throw new ConfigError(`IhTable: nBlocks must be a positive integer, got ${nBlocksRequested}`);
    }
    if (!(pct >= 0 && pct < 100)) throw new ConfigError(`IhTable: freeSetPercentage must be in [0, 100), got ${pct}`);
    if (!Number.isInteger(offset) || offset < 0) {
      throw new ConfigError(`IhTable: freeSetOffset must be a non-negative integer, got ${offset}`);
    }
    const nDatasets = datasets.length;
    const sizes = datasets.map((d, k) => checkDataset(d, k));
    const total = sizes.reduce((s, n) => s + n, 0);
    if (total === 0) throw new ConfigError("IhTable: no data found in the input datasets");

    // ASU indices of every row, datasets concatenated.
    const asuAll = new Int32Array(3 * total);
    const start = new Int32Array(nDatasets + 1);
    for (let d = 0; d < nDatasets; d++) {
      const asu = spaceGroup.mapToAsuBatch(datasets[d].millerIndex, anomalous);
      if (asu.length !== 3 * sizes[d]) {
        throw new ConfigError(`IhTable: ASU mapping of dataset ${d} returned ${asu.length} values`);
      }
      asuAll.set(asu, 3 * start[d]);
      start[d + 1] = start[d] + sizes[d];
    }
    const perm = sortedPermutation(asuAll, total);
    // Unique group of each row (global, sorted order).
    const globalGroup = new Int32Array(total);
    let nUnique = 0;
    for (let t = 0; t < total; t++) {
      const r = perm[t];
      if (t > 0 && compareHkl(asuAll, perm[t - 1], r) !== 0) nUnique++;
      globalGroup[r] = nUnique;
    }
    nUnique++;

    const { nBlocks, nAll, blockOfGroup, localGroup, groupsInBlock } = partitionGroups(
      nUnique,
      nBlocksRequested,
      pct,
      offset,
    );

    // Rows of each block: dataset-major, then in sorted ASU order (perm is sorted globally and stable, so
    // filtering it per dataset gives that dataset's stable sort).
    const datasetOfRow = new Int32Array(total);
    for (let d = 0; d < nDatasets; d++) datasetOfRow.fill(d, start[d], start[d + 1]);
    const rowCount = new Int32Array(nAll * nDatasets);
    for (let r = 0; r < total; r++) rowCount[blockOfGroup[globalGroup[r]] * nDatasets + datasetOfRow[r]]++;
    const blockRowStart = new Int32Array(nAll * nDatasets + 1);
    for (let k = 0; k < nAll * nDatasets; k++) blockRowStart[k + 1] = blockRowStart[k] + rowCount[k];
    const fill = blockRowStart.slice(0, nAll * nDatasets);
    const order = new Int32Array(total);
    for (let t = 0; t < total; t++) {
      const r = perm[t];
      order[fill[blockOfGroup[globalGroup[r]] * nDatasets + datasetOfRow[r]]++] = r;
    }

    const hasPartiality = datasets.some((d) => d.partiality !== undefined);
    const rowInfo: RowInfo = { asuAll, start, datasetOfRow, globalGroup, localGroup };
    const built: IhTableBlock[] = [];
    for (let b = 0; b < nAll; b++) {
      const rows = order.subarray(blockRowStart[b * nDatasets], blockRowStart[(b + 1) * nDatasets]);
      const block = buildBlock(datasets, rows, groupsInBlock[b], rowInfo, hasPartiality);
      block.calcIh();
      built.push(block);
    }
    this.#blocks = built.slice(0, nBlocks);
    this.#freeBlock = pct > 0 ? built[nBlocks] : undefined;
    this.nGroups = nUnique;
    this.nDatasets = nDatasets;
    this.anomalous = anomalous;
  }

  /** Work blocks, in ASU order. */
  get blocks(): readonly IhTableBlock[] {
    return this.#blocks;
  }

  /** The free-set block, when `freeSetPercentage > 0`. */
  get freeBlock(): IhTableBlock | undefined {
    return this.#freeBlock;
  }

  /**
   * Targeted scaling (DIALS `match_Ih_values_to_target`): sets every row's Ih to the target's Ih of the same ASU
   * index and removes the rows whose index the target lacks (or whose target Ih is exactly 0, as DIALS). The target
   * must have a single work block. Block selections change, so components must be updated afterwards.
   *
   * @param target - the reference table (its current `IhValues` are used)
   */
  matchIhValuesToTarget(target: IhTable): void {
    requireInstanceArgument(target, IhTable, "IhTable.matchIhValuesToTarget: target");
    if (target.blocks.length !== 1) {
      throw new ConfigError(
        `IhTable.matchIhValuesToTarget: the target must have 1 block, it has ${target.blocks.length}`,
      );
    }
    const tb = target.blocks[0];
    const key = (a: Int32Array, i: number): string => `${a[3 * i]},${a[3 * i + 1]},${a[3 * i + 2]}`;
    const lookup = new Map<string, number>();
    for (let i = 0; i < tb.size; i++) lookup.set(key(tb.asuMillerIndex, i), tb.IhValues[i]);
    const match = (block: IhTableBlock): IhTableBlock => {
      const mask = new Uint8Array(block.size);
      for (let i = 0; i < block.size; i++) {
        const v = lookup.get(key(block.asuMillerIndex, i)) ?? 0;
        block.IhValues[i] = v;
        mask[i] = v !== 0 ? 1 : 0;
      }
      return block.select(mask);
    };
    this.#blocks = this.#blocks.map(match);
    if (this.#freeBlock !== undefined) this.#freeBlock = match(this.#freeBlock);
  }

  /** Number of rows in the work blocks (the free block excluded). */
  get size(): number {
    return this.blocks.reduce((s, b) => s + b.size, 0);
  }

  /** Work blocks followed by the free block, if any. */
  get allBlocks(): readonly IhTableBlock[] {
    return this.freeBlock === undefined ? this.blocks : [...this.blocks, this.freeBlock];
  }

  /**
   * The rows of dataset `dataset` in each block (work blocks, then the free block if any), as DIALS's
   * `get_block_selections_for_dataset`; what components need for `updateReflectionData`.
   *
   * @param dataset - dataset number
   * @returns one index array per block
   */
  getBlockSelectionsForDataset(dataset: number): Int32Array[] {
    if (!Number.isInteger(dataset) || dataset < 0 || dataset >= this.nDatasets) {
      throw new ConfigError(`IhTable: dataset ${dataset} is out of range 0..${this.nDatasets - 1}`);
    }
    return this.allBlocks.map((b) => b.blockSelections[dataset]);
  }

  /** Recomputes Ih in every block (the free block included). */
  calcIh(): void {
    for (const b of this.allBlocks) b.calcIh();
  }

  /**
   * Sets the weights of every block from the error model, `w = 1/(a²(σ² + (b·I)²))` with the raw I.
   *
   * @param a - error-model `a`
   * @param b - error-model `b`
   */
  updateErrorModel(a: number, b: number): void {
    for (const block of this.allBlocks) block.updateErrorModel(a, b);
  }
}
