/**
 * `ScalingObservations`: the Bragg and diffuse observations that enter joint scaling, as one struct of arrays sorted
 * by group (Bragg ASU hkl groups first, in (h,k,l) order, then voxels in increasing voxel index) and, inside a group,
 * by still. Bragg groups and voxels are separate namespaces: a voxel never shares a reference with a Bragg reflection.
 *
 * Storage is compact (issue 5): intensities, variances, weights and |q| are float32 (the diffuse input is float32;
 * every pass accumulates in float64): 21 bytes per row in all. Diffuse rows are grouped straight from their source in
 * chunks — one pass counts the rows of every voxel, a second writes each row to its final slot — so no full-size
 * intermediate copy exists and a file is never loaded whole. The columns the passes read live in
 * `SharedArrayBuffer`s so worker threads read them without a copy.
 *
 * @packageDocumentation
 */
import { totalmem } from "node:os";
import { ConfigError } from "../errors.ts";
import { sharedFloat32, sharedInt32, sharedUint8 } from "../kernels/joint-pass.ts";

/** Bragg observations before grouping (already filtered and partiality-corrected). */
export interface BraggInput {
  /** Still (experiment) index of each row. */
  readonly still: Int32Array;
  /** ASU-mapped Miller indices, n×3. */
  readonly asuHkl: Int32Array;
  /** Intensity (divided by partiality). */
  readonly intensity: Float64Array;
  /** Variance (divided by partiality²). */
  readonly variance: Float64Array;
  /** |q| = 1/d (1/Å). */
  readonly qMagnitude: Float64Array;
  /** Row of the source reflection table. */
  readonly sourceRow: Int32Array;
}

/** Diffuse observations before grouping (one chunk of a source, or all of it). */
export interface DiffuseInput {
  /** Still index of each row. */
  readonly still: Int32Array;
  /** Linear voxel index of each row (integer-valued). */
  readonly voxel: Float64Array;
  /** Intensity. */
  readonly intensity: Float64Array | Float32Array;
  /** Variance σ². */
  readonly variance: Float64Array | Float32Array;
  /** |q| (1/Å). */
  readonly qMagnitude: Float64Array | Float32Array;
  /** Row of the source binned file. */
  readonly sourceRow: Int32Array;
}

/**
 * Diffuse observations delivered in chunks, e.g. slices of a `diffuse_binned.h5` file: grouping iterates it twice, so
 * `chunks()` must yield the same rows in the same order every time.
 */
export interface DiffuseChunkSource {
  /** Upper bound on the number of rows over all chunks. */
  readonly maxRows: number;
  /** Inclusive bounds [lo, hi] of every voxel index (a superset is fine: e.g. the voxel grid). */
  readonly voxelBounds: readonly [number, number];
  /** The rows, chunk by chunk. */
  chunks(): Iterable<DiffuseInput>;
  /**
   * The voxel index of every row before selection, chunk by chunk, in the order `chunks()` yields them, or undefined.
   * When given, grouping counts voxels from it (reading a quarter of a row's bytes from a file) and `chunks()` may
   * skip rows (unusable ones): the holes they leave are closed afterwards.
   */
  voxelChunks?(): Iterable<Float64Array>;
}

/** Inclusive bounds [min, max] of voxel indices held in memory ([0, 0] when there are none). */
export function voxelBoundsOf(voxel: Float64Array): [number, number] {
  if (voxel.length === 0) return [0, 0];
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < voxel.length; i++) {
    if (voxel[i] < lo) lo = voxel[i];
    if (voxel[i] > hi) hi = voxel[i];
  }
  return [lo, hi];
}

/** Wraps in-memory diffuse input as a one-chunk source. */
export function singleChunkSource(input: DiffuseInput): DiffuseChunkSource {
  return { maxRows: input.voxel.length, voxelBounds: voxelBoundsOf(input.voxel), chunks: () => [input] };
}

/** Observations sorted by group then still, with CSR group offsets. */
export interface ScalingObservations {
  /** Number of rows. */
  readonly n: number;
  /** Number of stills (parameters b). */
  readonly nStills: number;
  /** Number of groups; groups `[0, nBraggGroups)` are Bragg, the rest voxels. */
  readonly nGroups: number;
  /** Number of Bragg groups. */
  readonly nBraggGroups: number;
  /** Number of Bragg rows: rows `[0, nBraggRows)` are Bragg, the rest diffuse. */
  readonly nBraggRows: number;
  /** CSR offsets, length nGroups + 1. */
  readonly groupStart: Int32Array;
  /** Still of each row. */
  readonly still: Int32Array;
  /** Intensity of each row. */
  readonly intensity: Float32Array;
  /** Variance of each row. */
  readonly variance: Float32Array;
  /** Weight of each row (1/σ², 0 when excluded). */
  readonly weight: Float32Array;
  /** |q| of each row. */
  readonly qMagnitude: Float32Array;
  /** Source row in the reflection table of each Bragg row (length nBraggRows; diffuse rows keep no source row). */
  readonly sourceRow: Int32Array;
  /** Whether each row is a Bragg observation (1) or diffuse (0). */
  readonly isBragg: Uint8Array;
  /** ASU hkl of each Bragg group (nBraggGroups × 3). */
  readonly braggHkl: Int32Array;
  /** Voxel index of each diffuse group (nGroups − nBraggGroups). */
  readonly voxelIndex: Float64Array;
}

const HKL_OFFSET = 1 << 15;
const HKL_RANGE = 1 << 16;

/** Packs an hkl into one number whose order is lexicographic (h, k, l); |h|,|k|,|l| < 2^15 (the packed value stays below 2^48, exact in a double). */
export function packHkl(h: number, k: number, l: number): number {
  return ((h + HKL_OFFSET) * HKL_RANGE + (k + HKL_OFFSET)) * HKL_RANGE + (l + HKL_OFFSET);
}

/** Above this key range (max − min + 1), voxel slots come from sorting the keys instead of a table over the range. */
const DENSE_TABLE_LIMIT = 1 << 27;

/**
 * Assigns dense ids 0..nUnique-1 to integer-valued keys in increasing key order, by sorting a copy and binary search
 * (packed hkl, and voxel indices spread over a huge range). No per-row `Map`.
 */
function denseIds(keys: Float64Array): { ids: Int32Array; unique: Float64Array } {
  const n = keys.length;
  const ids = new Int32Array(n);
  if (n === 0) return { ids, unique: new Float64Array(0) };
  const sorted = Float64Array.from(keys).sort();
  let nUnique = 0;
  for (let i = 0; i < n; i++) if (i === 0 || sorted[i] !== sorted[nUnique - 1]) sorted[nUnique++] = sorted[i];
  const unique = sorted.slice(0, nUnique);
  for (let i = 0; i < n; i++) {
    const k = keys[i];
    let lo = 0;
    let hi = nUnique - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (unique[mid] < k) lo = mid + 1;
      else hi = mid;
    }
    ids[i] = lo;
  }
  return { ids, unique };
}

/** Throws unless every still of `still` lies in [0, nStills). */
function checkStills(still: Int32Array, nStills: number, rowOffset: number): void {
  for (let i = 0; i < still.length; i++) {
    const s = still[i];
    if (!(s >= 0 && s < nStills)) {
      throw new ConfigError(`observation ${rowOffset + i}: still index ${s} outside [0, ${nStills})`);
    }
  }
}

/** The grouped columns being filled (all of final size). */
interface Columns {
  still: Int32Array;
  intensity: Float32Array;
  variance: Float32Array;
  qMagnitude: Float32Array;
}

/**
 * Stable sort of each group's rows by still, for groups `[groupBegin, groupEnd)` whose rows are not already in still
 * order (rows arrive in source order; sources written still by still need nothing). The `carried` columns move with
 * the stills.
 */
function sortGroupsByStill(
  still: Int32Array,
  carried: readonly (Float32Array | Int32Array)[],
  groupStart: Int32Array,
  groupBegin: number,
  groupEnd: number,
): void {
  for (let h = groupBegin; h < groupEnd; h++) {
    const begin = groupStart[h];
    const end = groupStart[h + 1];
    let sorted = true;
    for (let o = begin + 1; o < end && sorted; o++) if (still[o] < still[o - 1]) sorted = false;
    if (sorted) continue;
    const m = end - begin;
    // still·m + position is unique and orders by still, then by position (stable); exact below 2^53
    const packed = new Float64Array(m);
    for (let t = 0; t < m; t++) packed[t] = still[begin + t] * m + t;
    packed.sort();
    const from = new Int32Array(m);
    for (let t = 0; t < m; t++) from[t] = packed[t] % m;
    for (const column of [still, ...carried]) {
      const copy = column.slice(begin, end);
      for (let t = 0; t < m; t++) column[begin + t] = copy[from[t]];
    }
  }
}

/** The voxels of a diffuse source: their indices, row counts (before selection) and how a row finds its voxel. */
interface VoxelSlots {
  /** Rows counted (before selection when the source has `voxelChunks`). */
  readonly nRows: number;
  /** Voxel indices, ascending. */
  readonly unique: Float64Array;
  /** Rows per voxel. */
  readonly counts: Int32Array;
  /** Dense voxel id by `voxel − lo` (small ranges), or undefined: ids by binary search in `unique`. */
  readonly table: Int32Array | undefined;
  /** Lower voxel bound of the table. */
  readonly lo: number;
}

/** The voxel index of every row, chunk by chunk: the source's own voxel pass, or its rows. */
function* voxelsOf(source: DiffuseChunkSource): Iterable<Float64Array> {
  if (source.voxelChunks !== undefined) {
    yield* source.voxelChunks();
    return;
  }
  for (const chunk of source.chunks()) yield chunk.voxel;
}

/** Pass 1 over a diffuse source: counts the rows of every voxel and numbers the voxels. */
function countVoxels(source: DiffuseChunkSource): VoxelSlots {
  const [lo, hi] = source.voxelBounds;
  const range = hi - lo + 1;
  const outside = (row: number, v: number): ConfigError =>
    new ConfigError(`diffuse row ${row}: voxel index ${v} outside [${lo}, ${hi}]`);
  if (Number.isFinite(range) && range <= DENSE_TABLE_LIMIT && range <= 4 * source.maxRows + (1 << 20)) {
    const table = new Int32Array(Math.max(1, range));
    let nRows = 0;
    for (const v of voxelsOf(source)) {
      for (let i = 0; i < v.length; i++) {
        const j = v[i] - lo;
        if (!(j >= 0 && j < range)) throw outside(nRows + i, v[i]);
        table[j]++;
      }
      nRows += v.length;
    }
    let nUnique = 0;
    for (let j = 0; j < range; j++) if (table[j] !== 0) nUnique++;
    const unique = new Float64Array(nUnique);
    const counts = new Int32Array(nUnique);
    for (let j = 0, u = 0; j < range; j++) {
      if (table[j] === 0) continue;
      unique[u] = lo + j;
      counts[u] = table[j];
      table[j] = u++; // from now on: the dense id
    }
    return { nRows, unique, counts, table, lo };
  }
  // a huge voxel range: collect the keys once and number them by sorting (rows find their id by binary search)
  const keys = new Float64Array(source.maxRows);
  let nRows = 0;
  for (const v of voxelsOf(source)) {
    if (nRows + v.length > keys.length) throw new ConfigError("diffuse source yielded more rows than it announced");
    for (let i = 0; i < v.length; i++) if (!(v[i] >= lo && v[i] <= hi)) throw outside(nRows + i, v[i]);
    keys.set(v, nRows);
    nRows += v.length;
  }
  const { ids, unique } = denseIds(keys.subarray(0, nRows));
  const counts = new Int32Array(unique.length);
  for (let i = 0; i < nRows; i++) counts[ids[i]]++;
  return { nRows, unique, counts, table: undefined, lo };
}

/** Dense id of voxel `v` (which is one of `unique`). */
function voxelId(slots: VoxelSlots, v: number): number {
  if (slots.table !== undefined) return slots.table[v - slots.lo];
  const unique = slots.unique;
  let lo = 0;
  let hi = unique.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (unique[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Options of {@link buildScalingObservations}. */
export interface BuildScalingObservationsOptions {
  /**
   * Refuse, before reading any row, inputs whose grouped columns alone ({@link BYTES_PER_OBSERVATION} bytes per
   * observation) would exceed this many bytes. @defaultValue the machine's total memory (`os.totalmem()`)
   */
  memoryLimitBytes?: number;
}

/** Bytes per observation of the grouped columns (still id, I, σ², weight, |q| in 4 bytes each, and a flag byte). */
export const BYTES_PER_OBSERVATION = 21;

/** Most observations one grouping can hold: row offsets are 32-bit. */
export const MAX_OBSERVATIONS = 2 ** 31 - 1;

/**
 * Fails early, with what to do about it, when the observations cannot be held: more rows than 32-bit offsets address,
 * or columns larger than the memory limit (the input is streamed, but the grouped columns live in memory).
 */
function checkCapacity(nRows: number, memoryLimitBytes: number): void {
  if (nRows > MAX_OBSERVATIONS) {
    throw new ConfigError(
      `${nRows} observations are more than one scaling job holds (${MAX_OBSERVATIONS}); scale the stills in parts`,
    );
  }
  const bytes = nRows * BYTES_PER_OBSERVATION;
  if (bytes > memoryLimitBytes) {
    const gb = (b: number) => (b / 2 ** 30).toFixed(1);
    throw new ConfigError(
      `${nRows} observations need ${gb(bytes)} GiB for their grouped columns alone, over the memory limit of ${gb(memoryLimitBytes)} GiB; scale the stills in parts or use a machine with more memory`,
    );
  }
}

/**
 * Groups Bragg and diffuse observations for joint scaling. Diffuse input is either in memory ({@link DiffuseInput})
 * or a {@link DiffuseChunkSource}, read twice (count, then place) without a full-size copy.
 *
 * @param nStills - Number of stills; every `still` value must lie in [0, nStills).
 * @param options - The memory limit.
 * @throws {@link ConfigError} when a still index is out of range, an hkl is too large to pack, or the observations
 *   cannot be held (see {@link BuildScalingObservationsOptions.memoryLimitBytes}).
 */
export function buildScalingObservations(
  nStills: number,
  bragg: BraggInput | undefined,
  diffuse: DiffuseInput | DiffuseChunkSource | undefined,
  options: BuildScalingObservationsOptions = {},
): ScalingObservations {
  const source = diffuse === undefined ? undefined : "chunks" in diffuse ? diffuse : singleChunkSource(diffuse);
  const nB = bragg?.still.length ?? 0;
  checkCapacity(nB + (source?.maxRows ?? 0), options.memoryLimitBytes ?? totalmem());
  const braggKeys = new Float64Array(nB);
  if (bragg !== undefined) {
    checkStills(bragg.still, nStills, 0);
    const hkl = bragg.asuHkl;
    for (let i = 0; i < nB; i++) {
      const h = hkl[3 * i];
      const k = hkl[3 * i + 1];
      const l = hkl[3 * i + 2];
      if (Math.abs(h) >= HKL_OFFSET || Math.abs(k) >= HKL_OFFSET || Math.abs(l) >= HKL_OFFSET) {
        throw new ConfigError(`Bragg row ${bragg.sourceRow[i]}: Miller index (${h},${k},${l}) out of range`);
      }
      braggKeys[i] = packHkl(h, k, l);
    }
  }
  const bIds = denseIds(braggKeys);
  const nBraggGroups = bIds.unique.length;
  const slots = source === undefined ? undefined : countVoxels(source);
  const nCounted = nB + (slots?.nRows ?? 0);
  let nGroups = nBraggGroups + (slots?.unique.length ?? 0);

  const groupStart = sharedInt32(nGroups + 1);
  for (let i = 0; i < nB; i++) groupStart[bIds.ids[i] + 1]++;
  if (slots !== undefined) {
    for (let v = 0; v < slots.unique.length; v++) groupStart[nBraggGroups + v + 1] = slots.counts[v];
  }
  for (let h = 0; h < nGroups; h++) groupStart[h + 1] += groupStart[h];

  let cols: Columns = {
    still: sharedInt32(nCounted),
    intensity: sharedFloat32(nCounted),
    variance: sharedFloat32(nCounted),
    qMagnitude: sharedFloat32(nCounted),
  };
  const sourceRow = new Int32Array(nB);

  if (bragg !== undefined) {
    const next = groupStart.slice(0, nBraggGroups);
    for (let i = 0; i < nB; i++) {
      const j = next[bIds.ids[i]]++;
      cols.still[j] = bragg.still[i];
      cols.intensity[j] = bragg.intensity[i];
      cols.variance[j] = bragg.variance[i];
      cols.qMagnitude[j] = bragg.qMagnitude[i];
      sourceRow[j] = bragg.sourceRow[i];
    }
    sortGroupsByStill(
      cols.still,
      [cols.intensity, cols.variance, cols.qMagnitude, sourceRow],
      groupStart,
      0,
      nBraggGroups,
    );
  }
  const weightAll = sharedFloat32(nCounted);
  let voxelIndex = slots?.unique ?? new Float64Array(0);
  if (source !== undefined && slots !== undefined) {
    // the weight column (filled last) holds each slot's voxel id while rows are placed
    const written = placeDiffuseRows(
      source,
      slots,
      groupStart,
      nBraggGroups,
      nStills,
      cols,
      new Int32Array(weightAll.buffer),
    );
    if (written.some((m, v) => m !== slots.counts[v])) {
      const nVoxels = closeHoles(cols, groupStart, nBraggGroups, written, slots.unique);
      nGroups = nBraggGroups + nVoxels;
      voxelIndex = slots.unique.slice(0, nVoxels);
    }
    sortGroupsByStill(cols.still, [cols.intensity, cols.variance, cols.qMagnitude], groupStart, nBraggGroups, nGroups);
  }
  const n = groupStart[nGroups];
  if (n !== nCounted) {
    cols = {
      still: cols.still.subarray(0, n),
      intensity: cols.intensity.subarray(0, n),
      variance: cols.variance.subarray(0, n),
      qMagnitude: cols.qMagnitude.subarray(0, n),
    };
  }
  const weight = weightAll.subarray(0, n);
  const isBragg = sharedUint8(n);
  isBragg.fill(1, 0, nB);
  for (let j = 0; j < n; j++) {
    const v = cols.variance[j];
    weight[j] = v > 0 && Number.isFinite(v) && Number.isFinite(cols.intensity[j]) ? 1 / v : 0;
  }
  const braggHkl = new Int32Array(nBraggGroups * 3);
  for (let g = 0; g < nBraggGroups; g++) {
    let key = bIds.unique[g];
    const l = (key % HKL_RANGE) - HKL_OFFSET;
    key = Math.floor(key / HKL_RANGE);
    const k = (key % HKL_RANGE) - HKL_OFFSET;
    const h = Math.floor(key / HKL_RANGE) - HKL_OFFSET;
    braggHkl[3 * g] = h;
    braggHkl[3 * g + 1] = k;
    braggHkl[3 * g + 2] = l;
  }
  return {
    n,
    nStills,
    nGroups,
    nBraggGroups,
    nBraggRows: nB,
    groupStart: groupStart.subarray(0, nGroups + 1),
    still: cols.still,
    intensity: cols.intensity,
    variance: cols.variance,
    weight,
    qMagnitude: cols.qMagnitude,
    sourceRow,
    isBragg,
    braggHkl,
    voxelIndex,
  };
}

/** Number of voxel buckets of the first placement step (keeps the pages written to at once few: see below). */
const PLACEMENT_BUCKETS = 512;

/**
 * Pass 2 over a diffuse source: writes every row to the next free slot of its voxel (source order inside a voxel).
 * Returns the rows written per voxel (fewer than counted when the source skipped unusable rows).
 *
 * Writing each row straight to its voxel's slot touches one page per voxel per column at a time (tens of thousands):
 * TLB and cache misses made that ~250 ns per row. Instead rows go first to one of {@link PLACEMENT_BUCKETS} buckets of
 * consecutive voxels — each bucket's rows occupy a contiguous range of the final columns, so this is a scatter with
 * few active pages — and then each bucket (small, in cache) is ordered by voxel. Both steps are stable, so every row
 * lands in exactly the slot the direct scatter would give it.
 */
function placeDiffuseRows(
  source: DiffuseChunkSource,
  slots: VoxelSlots,
  groupStart: Int32Array,
  nBraggGroups: number,
  nStills: number,
  cols: Columns,
  voxelOfSlot: Int32Array,
): Int32Array {
  const { still, intensity, variance, qMagnitude } = cols;
  const nVoxels = slots.unique.length;
  const nBuckets = Math.max(1, Math.min(PLACEMENT_BUCKETS, nVoxels));
  const bucketOfVoxel = new Int32Array(nVoxels);
  const firstVoxel = new Int32Array(nBuckets + 1);
  for (let v = 0; v < nVoxels; v++) bucketOfVoxel[v] = Math.floor((v * nBuckets) / nVoxels);
  for (let b = 0, v = 0; b <= nBuckets; b++) {
    while (v < nVoxels && bucketOfVoxel[v] < b) v++;
    firstVoxel[b] = b === nBuckets ? nVoxels : v;
  }
  const slotOfVoxel = (v: number): number => groupStart[nBraggGroups + v];
  const bucketCursor = new Int32Array(nBuckets);
  for (let b = 0; b < nBuckets; b++) bucketCursor[b] = slotOfVoxel(firstVoxel[b]);
  const rowOffset = slotOfVoxel(0);
  const notCounted = (): ConfigError => new ConfigError("diffuse source yielded rows its voxel pass did not count");
  let row = 0;
  for (const chunk of source.chunks()) {
    const m = chunk.voxel.length;
    checkStills(chunk.still, nStills, rowOffset + row);
    for (let i = 0; i < m; i++) {
      const v = chunk.voxel[i];
      const id = voxelId(slots, v);
      if (!(id >= 0 && slots.unique[id] === v)) throw notCounted();
      const b = bucketOfVoxel[id];
      const j = bucketCursor[b]++;
      if (j >= slotOfVoxel(firstVoxel[b + 1])) throw notCounted();
      still[j] = chunk.still[i];
      intensity[j] = chunk.intensity[i];
      variance[j] = chunk.variance[i];
      qMagnitude[j] = chunk.qMagnitude[i];
      voxelOfSlot[j] = id;
    }
    row += m;
  }
  if (source.voxelChunks === undefined && row !== slots.nRows) {
    throw new ConfigError("diffuse source yielded different rows on its second pass");
  }
  // step 2: order each bucket by voxel (a stable counting sort through scratch copies of the bucket's rows)
  let longest = 0;
  for (let b = 0; b < nBuckets; b++) longest = Math.max(longest, bucketCursor[b] - slotOfVoxel(firstVoxel[b]));
  const tStill = new Int32Array(longest);
  const tIntensity = new Float32Array(longest);
  const tVariance = new Float32Array(longest);
  const tQ = new Float32Array(longest);
  const tVoxel = new Int32Array(longest);
  const written = new Int32Array(nVoxels);
  for (let b = 0; b < nBuckets; b++) {
    const begin = slotOfVoxel(firstVoxel[b]);
    const m = bucketCursor[b] - begin;
    tStill.set(still.subarray(begin, begin + m));
    tIntensity.set(intensity.subarray(begin, begin + m));
    tVariance.set(variance.subarray(begin, begin + m));
    tQ.set(qMagnitude.subarray(begin, begin + m));
    tVoxel.set(voxelOfSlot.subarray(begin, begin + m));
    for (let t = 0; t < m; t++) {
      const id = tVoxel[t];
      const j = slotOfVoxel(id) + written[id]++;
      still[j] = tStill[t];
      intensity[j] = tIntensity[t];
      variance[j] = tVariance[t];
      qMagnitude[j] = tQ[t];
    }
  }
  return written;
}

/**
 * Closes the holes left by skipped rows: moves each voxel's written rows down and drops voxels left empty. Returns
 * the number of diffuse groups kept (groupStart and voxel indices are rewritten in place).
 */
function closeHoles(
  cols: Columns,
  groupStart: Int32Array,
  nBraggGroups: number,
  written: Int32Array,
  unique: Float64Array,
): number {
  const { still, intensity, variance, qMagnitude } = cols;
  let t = groupStart[nBraggGroups];
  let kept = 0;
  for (let v = 0; v < written.length; v++) {
    const begin = groupStart[nBraggGroups + v];
    const m = written[v];
    if (m === 0) continue;
    const h = nBraggGroups + kept;
    if (t !== begin) {
      still.copyWithin(t, begin, begin + m);
      intensity.copyWithin(t, begin, begin + m);
      variance.copyWithin(t, begin, begin + m);
      qMagnitude.copyWithin(t, begin, begin + m);
    }
    groupStart[h] = t;
    unique[kept] = unique[v];
    t += m;
    kept++;
  }
  groupStart[nBraggGroups + kept] = t;
  return kept;
}

/**
 * Keeps only the rows of stills with `remap[s] ≥ 0`, renumbered to `remap[s]`, and drops groups left empty. Works in
 * place: the result views the same buffers, so `obs` must not be used afterwards.
 *
 * @param remap - New still index per old still, −1 to drop (length obs.nStills).
 * @param nStills - Number of stills kept.
 */
export function restrictToStills(obs: ScalingObservations, remap: Int32Array, nStills: number): ScalingObservations {
  const { groupStart, still, intensity, variance, weight, qMagnitude, sourceRow, isBragg, braggHkl, voxelIndex } = obs;
  let t = 0;
  let kept = 0;
  let nBraggGroups = 0;
  let nBraggRows = 0;
  for (let h = 0; h < obs.nGroups; h++) {
    const begin = t;
    for (let o = groupStart[h]; o < groupStart[h + 1]; o++) {
      const s = remap[still[o]];
      if (s < 0) continue;
      still[t] = s;
      intensity[t] = intensity[o];
      variance[t] = variance[o];
      weight[t] = weight[o];
      qMagnitude[t] = qMagnitude[o];
      isBragg[t] = isBragg[o];
      if (o < obs.nBraggRows) sourceRow[t] = sourceRow[o];
      t++;
    }
    if (t === begin) continue;
    if (h < obs.nBraggGroups) {
      for (let c = 0; c < 3; c++) braggHkl[3 * kept + c] = braggHkl[3 * h + c];
      nBraggGroups++;
      nBraggRows = t;
    } else {
      voxelIndex[kept - nBraggGroups] = voxelIndex[h - obs.nBraggGroups];
    }
    groupStart[kept] = begin;
    kept++;
  }
  groupStart[kept] = t;
  return {
    n: t,
    nStills,
    nGroups: kept,
    nBraggGroups,
    nBraggRows,
    groupStart: groupStart.subarray(0, kept + 1),
    still: still.subarray(0, t),
    intensity: intensity.subarray(0, t),
    variance: variance.subarray(0, t),
    weight: weight.subarray(0, t),
    qMagnitude: qMagnitude.subarray(0, t),
    sourceRow: sourceRow.subarray(0, nBraggRows),
    isBragg: isBragg.subarray(0, t),
    braggHkl: braggHkl.subarray(0, 3 * nBraggGroups),
    voxelIndex: voxelIndex.subarray(0, kept - nBraggGroups),
  };
}
