/**
 * `ScalingObservations`: the Bragg and diffuse observations that enter joint scaling, as one struct of arrays sorted
 * by group (Bragg ASU hkl groups first, in (h,k,l) order, then voxels in increasing voxel index) and, inside a group,
 * by still. Bragg groups and voxels are separate namespaces: a voxel never shares a reference with a Bragg reflection.
 *
 * Storage is compact (issue 5): still ids, intensities, variances, weights and |q| take 4 bytes each (float32 values;
 * every pass accumulates in float64): 20 bytes per row. Diffuse rows are grouped straight from their source in chunks
 * — one pass counts the rows of every voxel, a second puts each row in the slot range of its bucket of voxels, then
 * each bucket is ordered by voxel and still — so no full-size intermediate copy exists and a file is never loaded
 * whole. The row columns live in `SharedArrayBuffer`s, so worker threads read them without a copy, or, for inputs
 * larger than memory, in a scratch file ({@link PagedRows}) read window by window: the paged rows are bit-identical
 * to the resident ones, and grouping them holds only per-group arrays and bounded buffers in memory.
 *
 * @packageDocumentation
 */
import { tmpdir } from "node:os";
import { ConfigError } from "../errors.ts";
import type { ColumnFile } from "../runtime/column-file.ts";
import { sharedFloat32, sharedInt32 } from "../runtime/shared-arrays.ts";
import { usableMemory } from "../runtime/usable-memory.ts";
import { initialWeight } from "./initial-weight.ts";
import { countVoxels, voxelId, type VoxelSlots } from "./voxel-slots.ts";
import {
  createRowFile,
  largestWindow,
  readWindowColumns,
  ROW_COLUMN_NAMES,
  rowColumnBuffers,
  windowEnd,
  type PagedRows,
  type ResidentRows,
  type RowColumnBuffers,
} from "./observation-windows.ts";

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
  /**
   * The row columns (still, I, σ², weight, |q|), in memory or paged from a scratch file: passes read them with
   * `forEachWindow` (see `observation-windows.ts`).
   */
  readonly rows: ResidentRows | PagedRows;
  /** Source row in the reflection table of each Bragg row (length nBraggRows; diffuse rows keep no source row). */
  readonly sourceRow: Int32Array;
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

/**
 * Assigns dense ids 0..nUnique-1 to integer-valued keys in increasing key order, by sorting a copy and binary search
 * (the packed hkl of Bragg rows). No per-row `Map`.
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

/** Options of {@link buildScalingObservations}. */
export interface BuildScalingObservationsOptions {
  /**
   * Memory the grouped row columns may take: when they need more ({@link BYTES_PER_OBSERVATION} bytes per
   * observation), they are paged from a scratch file in {@link BuildScalingObservationsOptions.scratchDirectory}
   * instead of held in memory (unless {@link BuildScalingObservationsOptions.paged} decides). It also sizes the
   * windows and buffers of a paged build. @defaultValue a quarter of the memory the process may use
   * ({@link usableMemory}: grouping, the passes and the outputs need more than the columns alone)
   */
  memoryLimitBytes?: number;
  /** Directory in which a paged build creates its scratch file (in a private subdirectory). @defaultValue `os.tmpdir()` */
  scratchDirectory?: string;
  /**
   * `true` pages the rows from a scratch file, `false` holds them in memory, whatever their size.
   * @defaultValue decided by {@link BuildScalingObservationsOptions.memoryLimitBytes}
   */
  paged?: boolean;
  /**
   * Most rows per window of paged observations (a single larger group is a window of its own).
   * @defaultValue `memoryLimitBytes / (8 · BYTES_PER_OBSERVATION)`, clamped to [2^16, 2^24]
   */
  windowRows?: number;
  /**
   * Internal tuning of a paged build (tests make it tiny to get many buckets): most rows per placement bucket, i.e.
   * per run of consecutive voxels ordered in memory at once (a single larger voxel is a bucket of its own). There are
   * at least 512 buckets when the voxels allow. @defaultValue `windowRows`
   */
  bucketRows?: number;
  /**
   * Internal tuning of a paged build: rows staged in memory per bucket before they are written to the scratch file
   * with one call per column. @defaultValue `min(2^26, memoryLimitBytes / 16) / (buckets · 20)`, clamped to [16, 2^16]
   */
  stagingRows?: number;
}

/** Bytes per observation of the grouped row columns (still id, I, σ², weight, |q| in 4 bytes each). */
export const BYTES_PER_OBSERVATION = 20;

/** Most observations one grouping can hold: row offsets are 32-bit. */
export const MAX_OBSERVATIONS = 2 ** 31 - 1;

/** Fails early, with what to do about it, when there are more rows than 32-bit offsets address. */
function checkCapacity(nRows: number): void {
  if (nRows > MAX_OBSERVATIONS) {
    throw new ConfigError(
      `${nRows} observations are more than one scaling job holds (${MAX_OBSERVATIONS}); scale the stills in parts`,
    );
  }
}

/** Throws unless `value` is undefined or an integer ≥ 1. */
function checkCount(name: string, value: number | undefined): void {
  if (value !== undefined && !(Number.isInteger(value) && value >= 1)) {
    throw new ConfigError(`buildScalingObservations: ${name} must be an integer ≥ 1, got ${value}`);
  }
}

/** Diffuse rows as placed in their bucket (source order), with each row's dense voxel id. */
interface PlacedRows {
  still: Int32Array;
  intensity: Float32Array;
  variance: Float32Array;
  qMagnitude: Float32Array;
  voxel: Int32Array;
}

/** Placed-row buffers for `n` rows. */
function placedRows(n: number): PlacedRows {
  return {
    still: new Int32Array(n),
    intensity: new Float32Array(n),
    variance: new Float32Array(n),
    qMagnitude: new Float32Array(n),
    voxel: new Int32Array(n),
  };
}

/**
 * Where grouping writes its rows: the final columns in memory, or a scratch file (paged). Placement puts each
 * bucket's rows (source order, with voxel ids) in the bucket's slot range; ordering then reads a bucket back and
 * writes its grouped rows at a running cursor that never passes the bucket's first slot.
 */
interface RowStore {
  /** Writes placed rows [from, from + count) of `rows` to slots [dest, dest + count). */
  put(dest: number, rows: PlacedRows, from: number, count: number): void;
  /** Reads placed rows [begin, begin + m) into `into` (a copy). */
  get(begin: number, m: number, into: PlacedRows): void;
  /** Columns to write final rows [t, t + m) into, at local index 0 (valid until {@link RowStore.commit}). */
  target(t: number, m: number): RowColumnBuffers;
  /** Makes the rows written through {@link RowStore.target} final. */
  commit(t: number, m: number): void;
}

/** The final columns in memory (`SharedArrayBuffer`s); placement keeps voxel ids in the weight column's bytes. */
class ResidentStore implements RowStore {
  readonly columns: RowColumnBuffers;
  private readonly voxel: Int32Array;

  constructor(n: number) {
    this.columns = {
      still: sharedInt32(n),
      intensity: sharedFloat32(n),
      variance: sharedFloat32(n),
      weight: sharedFloat32(n),
      qMagnitude: sharedFloat32(n),
    };
    this.voxel = new Int32Array(this.columns.weight.buffer, 0, n);
  }

  put(dest: number, rows: PlacedRows, from: number, count: number): void {
    const c = this.columns;
    c.still.set(rows.still.subarray(from, from + count), dest);
    c.intensity.set(rows.intensity.subarray(from, from + count), dest);
    c.variance.set(rows.variance.subarray(from, from + count), dest);
    c.qMagnitude.set(rows.qMagnitude.subarray(from, from + count), dest);
    this.voxel.set(rows.voxel.subarray(from, from + count), dest);
  }

  get(begin: number, m: number, into: PlacedRows): void {
    const c = this.columns;
    into.still.set(c.still.subarray(begin, begin + m));
    into.intensity.set(c.intensity.subarray(begin, begin + m));
    into.variance.set(c.variance.subarray(begin, begin + m));
    into.qMagnitude.set(c.qMagnitude.subarray(begin, begin + m));
    into.voxel.set(this.voxel.subarray(begin, begin + m));
  }

  target(t: number, m: number): RowColumnBuffers {
    const c = this.columns;
    return {
      still: c.still.subarray(t, t + m),
      intensity: c.intensity.subarray(t, t + m),
      variance: c.variance.subarray(t, t + m),
      weight: c.weight.subarray(t, t + m),
      qMagnitude: c.qMagnitude.subarray(t, t + m),
    };
  }

  commit(): void {
    // the target views are the columns
  }
}

/** The row columns of a scratch file; placement keeps voxel ids in the weight column. Buffers grow as needed. */
class PagedStore implements RowStore {
  readonly file: ColumnFile;
  private buffer: RowColumnBuffers = rowColumnBuffers(0);

  constructor(file: ColumnFile) {
    this.file = file;
  }

  put(dest: number, rows: PlacedRows, from: number, count: number): void {
    const f = this.file;
    f.write("still", dest, rows.still.subarray(from, from + count));
    f.write("intensity", dest, rows.intensity.subarray(from, from + count));
    f.write("variance", dest, rows.variance.subarray(from, from + count));
    f.write("qMagnitude", dest, rows.qMagnitude.subarray(from, from + count));
    f.write("weight", dest, rows.voxel.subarray(from, from + count));
  }

  get(begin: number, m: number, into: PlacedRows): void {
    const f = this.file;
    f.read("still", begin, into.still.subarray(0, m));
    f.read("intensity", begin, into.intensity.subarray(0, m));
    f.read("variance", begin, into.variance.subarray(0, m));
    f.read("qMagnitude", begin, into.qMagnitude.subarray(0, m));
    f.read("weight", begin, into.voxel.subarray(0, m));
  }

  target(_t: number, m: number): RowColumnBuffers {
    if (this.buffer.still.length < m) this.buffer = rowColumnBuffers(m);
    const b = this.buffer;
    return {
      still: b.still.subarray(0, m),
      intensity: b.intensity.subarray(0, m),
      variance: b.variance.subarray(0, m),
      weight: b.weight.subarray(0, m),
      qMagnitude: b.qMagnitude.subarray(0, m),
    };
  }

  commit(t: number, m: number): void {
    const b = this.buffer;
    for (const name of ROW_COLUMN_NAMES) this.file.write(name, t, b[name].subarray(0, m));
  }
}

/** Sets the initial weight of rows [0, m) of `c`. */
function setWeights(c: RowColumnBuffers, m: number): void {
  for (let j = 0; j < m; j++) c.weight[j] = initialWeight(c.variance[j], c.intensity[j]);
}

/**
 * Groups the Bragg rows into `c` (rows [0, nB), group offsets from `groupStart`), each group in still order (stable,
 * the source rows travelling along), and sets their weights.
 */
function groupBraggRows(
  bragg: BraggInput,
  ids: Int32Array,
  groupStart: Int32Array,
  nBraggGroups: number,
  c: RowColumnBuffers,
  sourceRow: Int32Array,
): void {
  const nB = ids.length;
  const next = groupStart.slice(0, nBraggGroups);
  for (let i = 0; i < nB; i++) {
    const j = next[ids[i]]++;
    c.still[j] = bragg.still[i];
    c.intensity[j] = bragg.intensity[i];
    c.variance[j] = bragg.variance[i];
    c.qMagnitude[j] = bragg.qMagnitude[i];
    sourceRow[j] = bragg.sourceRow[i];
  }
  sortGroupsByStill(c.still, [c.intensity, c.variance, c.qMagnitude, sourceRow], groupStart, 0, nBraggGroups);
  setWeights(c, nB);
}

/**
 * Groups Bragg and diffuse observations for joint scaling. Diffuse input is either in memory ({@link DiffuseInput})
 * or a {@link DiffuseChunkSource}, read twice (count, then place) without a full-size copy. The grouped rows are held
 * in memory, or, when larger than {@link BuildScalingObservationsOptions.memoryLimitBytes}, paged from a scratch file
 * (free it with {@link releaseObservations}); paged rows are bit-identical to resident ones (same groups, order,
 * values and weights), and grouping them holds only per-group arrays and bounded buffers in memory.
 *
 * @param nStills - Number of stills; every `still` value must lie in [0, nStills).
 * @param options - The memory limit and paging.
 * @throws {@link ConfigError} when a still index is out of range, an hkl is too large to pack, an option is invalid,
 *   or there are more observations than {@link MAX_OBSERVATIONS}.
 * @throws {@link InputError} when the scratch file of paged rows cannot be created or written.
 */
export function buildScalingObservations(
  nStills: number,
  bragg: BraggInput | undefined,
  diffuse: DiffuseInput | DiffuseChunkSource | undefined,
  options: BuildScalingObservationsOptions = {},
): ScalingObservations {
  const source = diffuse === undefined ? undefined : "chunks" in diffuse ? diffuse : singleChunkSource(diffuse);
  const nB = bragg?.still.length ?? 0;
  checkCapacity(nB + (source?.maxRows ?? 0));
  const memoryLimit = options.memoryLimitBytes ?? usableMemory() / 4;
  if (!(memoryLimit > 0)) {
    throw new ConfigError(`buildScalingObservations: memoryLimitBytes must be positive, got ${memoryLimit}`);
  }
  checkCount("windowRows", options.windowRows);
  checkCount("bucketRows", options.bucketRows);
  checkCount("stagingRows", options.stagingRows);
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
  checkCapacity(nCounted);
  let nGroups = nBraggGroups + (slots?.unique.length ?? 0);

  const groupStart = sharedInt32(nGroups + 1);
  for (let i = 0; i < nB; i++) groupStart[bIds.ids[i] + 1]++;
  if (slots !== undefined) {
    for (let v = 0; v < slots.unique.length; v++) groupStart[nBraggGroups + v + 1] = slots.counts[v];
  }
  for (let h = 0; h < nGroups; h++) groupStart[h + 1] += groupStart[h];

  const paged = options.paged ?? nCounted * BYTES_PER_OBSERVATION > memoryLimit;
  const windowRows =
    options.windowRows ?? Math.min(2 ** 24, Math.max(2 ** 16, Math.floor(memoryLimit / (8 * BYTES_PER_OBSERVATION))));
  const store = paged
    ? new PagedStore(createRowFile(options.scratchDirectory ?? tmpdir(), nCounted))
    : new ResidentStore(nCounted);
  const sourceRow = new Int32Array(nB);
  let voxelIndex = slots?.unique ?? new Float64Array(0);
  try {
    if (bragg !== undefined) {
      groupBraggRows(bragg, bIds.ids, groupStart, nBraggGroups, store.target(0, nB), sourceRow);
      store.commit(0, nB);
    }
    if (source !== undefined && slots !== undefined && slots.unique.length > 0) {
      const nDiffuse = slots.nRows;
      const buckets = paged
        ? bucketsByRows(
            slots.counts,
            Math.max(1, Math.min(options.bucketRows ?? windowRows, Math.ceil(nDiffuse / 512))),
          )
        : bucketsByVoxels(slots.unique.length);
      const nBuckets = buckets.firstVoxel.length - 1;
      const stagingRows = paged
        ? (options.stagingRows ??
          Math.min(
            2 ** 16,
            Math.max(16, Math.floor(Math.min(2 ** 26, memoryLimit / 16) / (nBuckets * BYTES_PER_OBSERVATION))),
          ))
        : RESIDENT_STAGING_ROWS;
      const bucketBegin = new Int32Array(nBuckets + 1);
      for (let b = 0; b <= nBuckets; b++) bucketBegin[b] = groupStart[nBraggGroups + buckets.firstVoxel[b]];
      const fill = placeDiffuseRows(source, slots, nStills, buckets, bucketBegin, stagingRows, store);
      const nVoxels = orderBuckets(
        buckets,
        bucketBegin,
        fill,
        slots.counts,
        slots.unique,
        groupStart,
        nBraggGroups,
        store,
      );
      nGroups = nBraggGroups + nVoxels;
      if (nVoxels !== slots.unique.length) voxelIndex = slots.unique.slice(0, nVoxels);
    }
  } catch (e) {
    if (store instanceof PagedStore) store.file.remove();
    throw e;
  }
  const n = groupStart[nGroups];
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
  let rows: ResidentRows | PagedRows;
  if (store instanceof PagedStore) {
    rows = { kind: "paged", file: store.file, windowRows };
  } else {
    const c = store.columns;
    rows = {
      kind: "resident",
      still: c.still.subarray(0, n),
      intensity: c.intensity.subarray(0, n),
      variance: c.variance.subarray(0, n),
      weight: c.weight.subarray(0, n),
      qMagnitude: c.qMagnitude.subarray(0, n),
    };
  }
  return {
    n,
    nStills,
    nGroups,
    nBraggGroups,
    nBraggRows: nB,
    groupStart: groupStart.subarray(0, nGroups + 1),
    rows,
    sourceRow,
    braggHkl,
    voxelIndex,
  };
}

/** Number of voxel buckets of resident placement (keeps the pages written to at once few: see below). */
const PLACEMENT_BUCKETS = 512;

/** Rows staged per bucket during resident placement (512 buckets × 256 rows × 20 bytes stay in cache). */
const RESIDENT_STAGING_ROWS = 256;

/** Runs of consecutive voxels placed together: bucket b holds voxels [firstVoxel[b], firstVoxel[b + 1]). */
interface Buckets {
  /** First voxel of each bucket, and the number of voxels last (length buckets + 1; no bucket is empty). */
  readonly firstVoxel: Int32Array;
  /** Whether voxel v lies in bucket ⌊v·buckets / voxels⌋ (found by arithmetic, not by a search in `firstVoxel`). */
  readonly uniform: boolean;
}

/** {@link PLACEMENT_BUCKETS} buckets (fewer when voxels are fewer) of equally many voxels: v in ⌊v·buckets / voxels⌋. */
function bucketsByVoxels(nVoxels: number): Buckets {
  const nBuckets = Math.max(1, Math.min(PLACEMENT_BUCKETS, nVoxels));
  const firstVoxel = new Int32Array(nBuckets + 1);
  for (let b = 0, v = 0; b <= nBuckets; b++) {
    while (v < nVoxels && Math.floor((v * nBuckets) / nVoxels) < b) v++;
    firstVoxel[b] = v;
  }
  return { firstVoxel, uniform: true };
}

/** Buckets of consecutive voxels holding at most `cap` rows each (a larger voxel is a bucket of its own). */
function bucketsByRows(counts: Int32Array, cap: number): Buckets {
  const first: number[] = [0];
  let rows = 0;
  for (let v = 0; v < counts.length; v++) {
    if (rows > 0 && rows + counts[v] > cap) {
      first.push(v);
      rows = 0;
    }
    rows += counts[v];
  }
  first.push(counts.length);
  return { firstVoxel: Int32Array.from(first), uniform: false };
}

/** The bucket of voxel `id` in non-uniform buckets: the last b with firstVoxel[b] ≤ id (a search in a small array). */
function bucketOf(firstVoxel: Int32Array, id: number): number {
  let lo = 0;
  let hi = firstVoxel.length - 2;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (firstVoxel[mid] <= id) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** The error for rows a source yields beyond those its voxel pass counted. */
function notCounted(): ConfigError {
  return new ConfigError("diffuse source yielded rows its voxel pass did not count");
}

/**
 * Pass 2 over a diffuse source: puts every row in the slot range of its bucket (source order inside a bucket), through
 * per-bucket staging buffers of `stagingRows` rows written to the store when full. Returns the rows placed per bucket
 * (fewer than counted when the source skipped unusable rows).
 *
 * Writing each row straight to its voxel's slot touches one page per voxel per column at a time (tens of thousands):
 * TLB and cache misses made that ~250 ns per row. Instead rows go first to buckets of consecutive voxels — each
 * bucket's rows occupy a contiguous range of the final columns, so this is a scatter with few active pages (or few,
 * large writes to a scratch file) — and then each bucket (small) is ordered by voxel ({@link orderBuckets}). Both
 * steps are stable, so every row lands in exactly the slot the direct scatter would give it. Per row, only the voxel
 * id lookup touches a voxel-sized array.
 */
function placeDiffuseRows(
  source: DiffuseChunkSource,
  slots: VoxelSlots,
  nStills: number,
  buckets: Buckets,
  bucketBegin: Int32Array,
  stagingRows: number,
  store: RowStore,
): Int32Array {
  const { firstVoxel, uniform } = buckets;
  const nBuckets = bucketBegin.length - 1;
  const nVoxels = slots.unique.length;
  const cursor = bucketBegin.slice(0, nBuckets);
  const staged = new Int32Array(nBuckets);
  const stage = placedRows(nBuckets * stagingRows);
  const { still, intensity, variance, qMagnitude, voxel } = stage;
  const rowOffset = bucketBegin[0];
  let row = 0;
  for (const chunk of source.chunks()) {
    const m = chunk.voxel.length;
    checkStills(chunk.still, nStills, rowOffset + row);
    for (let i = 0; i < m; i++) {
      const id = voxelId(slots, chunk.voxel[i]);
      if (!(id >= 0)) throw notCounted();
      const b = uniform ? Math.floor((id * nBuckets) / nVoxels) : bucketOf(firstVoxel, id);
      const s = staged[b]++;
      if (cursor[b] + s >= bucketBegin[b + 1]) throw notCounted();
      const k = b * stagingRows + s;
      still[k] = chunk.still[i];
      intensity[k] = chunk.intensity[i];
      variance[k] = chunk.variance[i];
      qMagnitude[k] = chunk.qMagnitude[i];
      voxel[k] = id;
      if (s + 1 === stagingRows) {
        store.put(cursor[b], stage, b * stagingRows, stagingRows);
        cursor[b] += stagingRows;
        staged[b] = 0;
      }
    }
    row += m;
  }
  if (source.voxelChunks === undefined && row !== slots.nRows) {
    throw new ConfigError("diffuse source yielded different rows on its second pass");
  }
  const fill = new Int32Array(nBuckets);
  for (let b = 0; b < nBuckets; b++) {
    store.put(cursor[b], stage, b * stagingRows, staged[b]);
    fill[b] = cursor[b] + staged[b] - bucketBegin[b];
  }
  return fill;
}

/** Scratch arrays of {@link orderBucket}, each at least as long as the widest bucket (voxels) plus one. */
interface BucketScratch {
  /** Rows per voxel, then each voxel's next output row. */
  readonly next: Int32Array;
  /** Local offsets of the bucket's non-empty voxels, and the bucket's rows after them. */
  readonly localStart: Int32Array;
  /** The non-empty voxels. */
  readonly keptVoxel: Int32Array;
}

/**
 * Orders the `m` placed rows `src` of voxels [voxelBegin, voxelEnd) by voxel (a stable counting sort: source order
 * inside a voxel) into rows [0, m) of `dst` without holes, sorts each voxel's rows by still and sets the weights. The
 * non-empty voxels and their local offsets go to `scratch`; returns how many there are.
 *
 * @throws {@link ConfigError} when a voxel has more rows than were counted for it.
 */
function orderBucket(
  src: PlacedRows,
  m: number,
  voxelBegin: number,
  voxelEnd: number,
  counts: Int32Array,
  dst: RowColumnBuffers,
  scratch: BucketScratch,
): number {
  const { next, localStart, keptVoxel } = scratch;
  const width = voxelEnd - voxelBegin;
  next.fill(0, 0, width);
  for (let t = 0; t < m; t++) next[src.voxel[t] - voxelBegin]++;
  let k = 0;
  let offset = 0;
  for (let u = 0; u < width; u++) {
    const c = next[u];
    if (c > counts[voxelBegin + u]) throw notCounted();
    next[u] = offset;
    if (c === 0) continue;
    localStart[k] = offset;
    keptVoxel[k++] = voxelBegin + u;
    offset += c;
  }
  localStart[k] = offset;
  for (let t = 0; t < m; t++) {
    const j = next[src.voxel[t] - voxelBegin]++;
    dst.still[j] = src.still[t];
    dst.intensity[j] = src.intensity[t];
    dst.variance[j] = src.variance[t];
    dst.qMagnitude[j] = src.qMagnitude[t];
  }
  sortGroupsByStill(dst.still, [dst.intensity, dst.variance, dst.qMagnitude], localStart, 0, k);
  setWeights(dst, m);
  return k;
}

/**
 * Step 2 of diffuse grouping, bucket by bucket: reads the bucket's placed rows, orders them ({@link orderBucket}) and
 * writes them at a running cursor (never past the bucket's first slot, so no unread row is overwritten), which closes
 * the holes left by skipped rows. Voxels left empty are dropped: `groupStart` (from group `nBraggGroups` on) and
 * `unique` are rewritten in place. Returns the number of diffuse groups kept.
 */
function orderBuckets(
  buckets: Buckets,
  bucketBegin: Int32Array,
  fill: Int32Array,
  counts: Int32Array,
  unique: Float64Array,
  groupStart: Int32Array,
  nBraggGroups: number,
  store: RowStore,
): number {
  const { firstVoxel } = buckets;
  const nBuckets = fill.length;
  let largest = 0;
  let widest = 0;
  for (let b = 0; b < nBuckets; b++) {
    largest = Math.max(largest, fill[b]);
    widest = Math.max(widest, firstVoxel[b + 1] - firstVoxel[b]);
  }
  const src = placedRows(largest);
  const scratch: BucketScratch = {
    next: new Int32Array(widest + 1),
    localStart: new Int32Array(widest + 1),
    keptVoxel: new Int32Array(widest + 1),
  };
  let t = bucketBegin[0];
  let kept = 0;
  for (let b = 0; b < nBuckets; b++) {
    const m = fill[b];
    store.get(bucketBegin[b], m, src);
    const dst = store.target(t, m);
    const k = orderBucket(src, m, firstVoxel[b], firstVoxel[b + 1], counts, dst, scratch);
    for (let g = 0; g < k; g++) {
      groupStart[nBraggGroups + kept + g] = t + scratch.localStart[g];
      unique[kept + g] = unique[scratch.keptVoxel[g]]; // keptVoxel[g] ≥ kept + g: read before overwritten
    }
    kept += k;
    store.commit(t, m);
    t += m;
  }
  groupStart[nBraggGroups + kept] = t;
  return kept;
}

/** Counters of {@link compactGroups} carried from window to window. */
interface CompactState {
  /** Next output row (absolute). */
  t: number;
  /** Groups kept. */
  kept: number;
  /** Bragg groups kept. */
  nBraggGroups: number;
  /** Bragg rows kept. */
  nBraggRows: number;
}

/**
 * Keeps the rows of kept stills of groups [h0, h1), renumbered, in the window columns `w` (row o at o − rowBegin),
 * writing output row t at t − outBase (≤ the read position), and compacts the per-group arrays of `obs` in place.
 */
function compactGroups(
  obs: ScalingObservations,
  w: RowColumnBuffers,
  rowBegin: number,
  outBase: number,
  h0: number,
  h1: number,
  remap: Int32Array,
  state: CompactState,
): void {
  const { groupStart, sourceRow, braggHkl, voxelIndex } = obs;
  const { still, intensity, variance, weight, qMagnitude } = w;
  let { t, kept } = state;
  for (let h = h0; h < h1; h++) {
    const begin = t;
    for (let o = groupStart[h]; o < groupStart[h + 1]; o++) {
      const i = o - rowBegin;
      const s = remap[still[i]];
      if (s < 0) continue;
      const u = t - outBase;
      still[u] = s;
      intensity[u] = intensity[i];
      variance[u] = variance[i];
      weight[u] = weight[i];
      qMagnitude[u] = qMagnitude[i];
      if (o < obs.nBraggRows) sourceRow[t] = sourceRow[o];
      t++;
    }
    if (t === begin) continue;
    if (h < obs.nBraggGroups) {
      for (let c = 0; c < 3; c++) braggHkl[3 * kept + c] = braggHkl[3 * h + c];
      state.nBraggGroups++;
      state.nBraggRows = t;
    } else {
      voxelIndex[kept - state.nBraggGroups] = voxelIndex[h - obs.nBraggGroups];
    }
    groupStart[kept] = begin;
    kept++;
  }
  state.t = t;
  state.kept = kept;
}

/**
 * Keeps only the rows of stills with `remap[s] ≥ 0`, renumbered to `remap[s]`, and drops groups left empty. Works in
 * place (paged rows: window by window inside the same scratch file), so `obs` must not be used afterwards; paged and
 * resident observations give bit-identical results.
 *
 * @param remap - New still index per old still, −1 to drop (length obs.nStills).
 * @param nStills - Number of stills kept.
 * @throws {@link InputError} when the scratch file of paged rows cannot be read or written.
 */
export function restrictToStills(obs: ScalingObservations, remap: Int32Array, nStills: number): ScalingObservations {
  const { groupStart, sourceRow, braggHkl, voxelIndex, rows } = obs;
  const state: CompactState = { t: 0, kept: 0, nBraggGroups: 0, nBraggRows: 0 };
  if (rows.kind === "resident") {
    compactGroups(obs, rows, 0, 0, 0, obs.nGroups, remap, state);
  } else {
    const buffers = rowColumnBuffers(largestWindow(groupStart, 0, obs.nGroups, rows.windowRows));
    // windows are read ahead of the output cursor and groupStart is rewritten only below the current group
    for (let h = 0; h < obs.nGroups;) {
      const e = windowEnd(groupStart, h, obs.nGroups, rows.windowRows);
      const rowBegin = groupStart[h];
      readWindowColumns(rows.file, rowBegin, groupStart[e], buffers);
      const outBase = state.t;
      compactGroups(obs, buffers, rowBegin, outBase, h, e, remap, state);
      for (const name of ROW_COLUMN_NAMES) rows.file.write(name, outBase, buffers[name].subarray(0, state.t - outBase));
      h = e;
    }
  }
  const { t, kept, nBraggGroups, nBraggRows } = state;
  groupStart[kept] = t;
  return {
    n: t,
    nStills,
    nGroups: kept,
    nBraggGroups,
    nBraggRows,
    groupStart: groupStart.subarray(0, kept + 1),
    rows:
      rows.kind === "resident"
        ? {
            kind: "resident",
            still: rows.still.subarray(0, t),
            intensity: rows.intensity.subarray(0, t),
            variance: rows.variance.subarray(0, t),
            weight: rows.weight.subarray(0, t),
            qMagnitude: rows.qMagnitude.subarray(0, t),
          }
        : rows,
    sourceRow: sourceRow.subarray(0, nBraggRows),
    braggHkl: braggHkl.subarray(0, 3 * nBraggGroups),
    voxelIndex: voxelIndex.subarray(0, kept - nBraggGroups),
  };
}

/**
 * Deletes the scratch file of paged observations (nothing to do for resident ones); `obs` must not be used afterwards.
 */
export function releaseObservations(obs: ScalingObservations): void {
  if (obs.rows.kind === "paged") obs.rows.file.remove();
}
