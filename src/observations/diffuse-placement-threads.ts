/**
 * Diffuse grouping in worker threads over `SharedArrayBuffer`s, one pool for both passes, started before the Bragg
 * rows are grouped so that its start-up overlaps them.
 *
 * Pass 1 (rows read by ranges: `DiffuseChunkSource.unprepared`): this thread reads the voxel indices block after
 * block into shared buffers and the threads count them, each a part of every block into a table of its own (summed
 * at the end); this thread reads the next block meanwhile.
 *
 * Pass 2 (resident rows only): blocks of rows go through a ring of shared buffers. While this thread reads block
 * c + 1, each thread selects and converts its part of block c (what `chunks()` does), looks up each kept row's voxel
 * id and bucket and counts its rows per bucket, and writes its part of block c − 1 straight into the buckets' slots of
 * the grouped columns, after the rows the parts before it put in each bucket (from their counts) — so each bucket's
 * rows keep their source order, and every row lands in exactly the slot the serial pass gives it; this thread then
 * moves each bucket's next slot on. The buckets of voxels are split into one run of consecutive buckets per thread
 * (about equally many rows each), and each thread orders its own run in place. A source without unprepared rows
 * yields prepared rows, which this thread copies into the ring (the threads then only look them up).
 *
 * Errors are the serial pass's: a block a thread cannot count or select (or that this thread cannot read) stops the
 * threads, and the serial pass over the source (`countVoxels`, `chunks()`) raises the error. Only their order can
 * differ for a source that changes between its passes (a row its voxel pass did not count is refused when placed).
 *
 * @packageDocumentation
 */
import { ConfigError } from "../errors.ts";
import type { BinnedDiffuseBuffers } from "../io/binned-diffuse.ts";
import { sharedCopy, sharedFloat32, sharedFloat64, sharedInt32 } from "../runtime/shared-arrays.ts";
import { siblingWorkerEntry, SyncWorkerPool } from "../runtime/worker-pool.ts";
import { zeroCounts, type DiffuseSelectionCounts } from "./diffuse-input.ts";
import { checkSecondPass, orderBuckets, type Buckets, type LookedUpRows } from "./diffuse-placement.ts";
import type { ResidentStore } from "./row-stores.ts";
import { checkStills, type DiffuseChunkSource, type DiffuseInput, type UnpreparedRows } from "./scaling-input.ts";
import { countVoxels, denseVoxelRange, numberVoxels, type VoxelSlots } from "./voxel-slots.ts";

/** Commands of the grouping threads. */
export const GROUPING_COMMAND = { started: 0, attach: 1, count: 2, merge: 3, step: 4, order: 5 } as const;

/** Rows per block of pass 2 (a block's buffers, 64 bytes a row, stay in cache). */
export const PLACEMENT_BLOCK_ROWS = 1 << 16;

/** Rows per block of voxel indices counted (8 bytes a row). */
const COUNT_BLOCK_ROWS = 1 << 18;

/** Largest voxel range counted in threads (a table of 4 bytes per voxel for each thread). */
const THREADED_COUNT_RANGE = 1 << 24;

/** Blocks in the ring of pass 2: one read, one selected, one placed at a time. */
export const RING = 3;

/** Words of the shared status. */
export const GROUPING_STATUS = {
  /** Ring slot of the block to count (pass 1), its rows. */
  countSlot: 0,
  countRows: 1,
  /** Ring slot of the block to select (−1: none) and of the block to place (−1: none). */
  prepareSlot: 2,
  placeSlot: 3,
  /** 1 when a thread could not count or select a block (the serial pass raises the error). */
  fault: 4,
  /** 1 when a thread met a row its voxel pass did not count. */
  notCounted: 5,
  /** Number of words. */
  size: 6,
} as const;

/** One block of pass 2: the rows as read, and as selected and looked up (part k at `partStart(k)`). */
export interface RingBlock extends LookedUpRows {
  /** Rows of each part in each bucket (part k's counts at `k · buckets`). */
  readonly perBucket: Int32Array;
  /** Voxel index of each selected row. */
  readonly voxel: Float64Array;
  /** Rows as read (unprepared sources only). */
  readonly input: BinnedDiffuseBuffers | undefined;
  /** `[rows read, first row's number in the source, then the rows kept of each part]`. */
  readonly info: Int32Array;
}

/** Words of `RingBlock.info` before the rows kept per part. */
export const BLOCK_INFO = { rows: 0, firstRow: 1, kept: 2 } as const;

/** First row of part `k` of `threads` parts of a block of `m` rows. */
export function partStart(k: number, threads: number, m: number): number {
  return Math.floor((k * m) / threads);
}

/** What the threads get for pass 1. */
export interface CountPayload {
  readonly kind: "count";
  /** Two blocks of voxel indices (this thread reads one while the threads count the other). */
  readonly voxels: readonly Float64Array[];
  /** One table of counts per part; the first becomes the sum. */
  readonly tables: readonly Int32Array[];
  readonly lo: number;
}

/** What the threads get for pass 2. */
export interface PlacementPayload {
  readonly kind: "place";
  /** The voxels (shared). */
  readonly slots: VoxelSlots;
  /** Bucket of every dense voxel id. */
  readonly bucketOfId: Int32Array;
  /** First slot of each bucket, and the end of the last. */
  readonly bucketBegin: Int32Array;
  /** Next slot of each bucket (as of the block placed next: this thread moves it on after each block). */
  readonly cursor: Int32Array;
  /** First voxel of each bucket, and the number of voxels last. */
  readonly firstVoxel: Int32Array;
  /** First bucket of each shard (thread's run of buckets), and the number of buckets last. */
  readonly shardBucket: Int32Array;
  /** The ring of blocks. */
  readonly ring: readonly RingBlock[];
  /** Rows placed per bucket. */
  readonly fill: Int32Array;
  /** The row columns of the store. */
  readonly columns: ResidentStore["columns"];
  /** Selection counts per part (in the order of {@link SELECTION_KEYS}), unprepared sources only. */
  readonly selection: Float64Array;
  readonly nStills: number;
  readonly unit: number;
}

/** The reasons of `DiffuseSelectionCounts`, in the order the threads add them up. */
export const SELECTION_KEYS = Object.keys(zeroCounts()) as readonly (keyof DiffuseSelectionCounts)[];

/** The grouping threads of one grouping (started at once, waited for when first used). */
export class GroupingThreads {
  readonly size: number;
  readonly status: Int32Array;
  #pool: SyncWorkerPool | undefined;
  #ready = false;

  private constructor(pool: SyncWorkerPool, status: Int32Array) {
    this.size = pool.size;
    this.#pool = pool;
    this.status = status;
  }

  /** Starts `threads` threads (without waiting for them), or undefined when they cannot be created. */
  static start(threads: number): GroupingThreads | undefined {
    const status = sharedInt32(GROUPING_STATUS.size);
    try {
      return new GroupingThreads(
        new SyncWorkerPool(siblingWorkerEntry(import.meta.url, "diffuse-placement-worker"), threads, { status }),
        status,
      );
    } catch {
      return undefined;
    }
  }

  /** Waits until every thread has started, then posts `payload` to them: false (threads closed) when they failed. */
  attach(payload: CountPayload | PlacementPayload): boolean {
    const pool = this.#pool;
    if (pool === undefined) return false;
    if (!this.#ready) {
      try {
        pool.run(GROUPING_COMMAND.started, 0);
        this.#ready = true;
      } catch {
        this.close();
        return false;
      }
    }
    pool.post(payload);
    this.run(GROUPING_COMMAND.attach);
    return true;
  }

  /** Starts `command` over one shard per thread (after {@link attach}). */
  start(command: number): void {
    this.#pool?.start(command, this.size);
  }

  /** Waits for the command started. */
  finish(): void {
    this.#pool?.finish();
  }

  run(command: number): void {
    this.start(command);
    this.finish();
  }

  close(): void {
    this.#pool?.close();
    this.#pool = undefined;
  }
}

/**
 * Pass 1 in threads (see the module comment), or undefined when the source has no unprepared rows, its voxel range
 * needs a hash table or is too large for a table per thread, or the threads failed (count on this thread then).
 *
 * @throws the serial pass's errors.
 */
export function countVoxelsInThreads(threads: GroupingThreads, source: DiffuseChunkSource): VoxelSlots | undefined {
  const rows = source.unprepared;
  const range = denseVoxelRange(source);
  if (rows === undefined || range === undefined || range > THREADED_COUNT_RANGE) return undefined;
  const lo = source.voxelBounds[0];
  const n = rows.nRows;
  const blockRows = Math.max(1, Math.min(n, COUNT_BLOCK_ROWS));
  const payload: CountPayload = {
    kind: "count",
    voxels: [sharedFloat64(blockRows), sharedFloat64(blockRows)],
    tables: Array.from({ length: threads.size }, () => sharedInt32(range)),
    lo,
  };
  if (!threads.attach(payload)) return undefined;
  const { status } = threads;
  status[GROUPING_STATUS.fault] = 0;
  let slot = 0;
  let readError: Error | undefined;
  if (n > 0) rows.readVoxels(0, Math.min(n, blockRows), payload.voxels[0]);
  for (let start = 0; start < n && readError === undefined; start += blockRows) {
    const end = Math.min(n, start + blockRows);
    status[GROUPING_STATUS.countSlot] = slot;
    status[GROUPING_STATUS.countRows] = end - start;
    threads.start(GROUPING_COMMAND.count);
    try {
      if (end < n) rows.readVoxels(end, Math.min(n, end + blockRows), payload.voxels[1 - slot]);
    } catch (error) {
      if (!(error instanceof Error)) throw error;
      readError = error;
    }
    threads.finish();
    if (status[GROUPING_STATUS.fault] !== 0) return countVoxels(source); // raises the error
    slot = 1 - slot;
  }
  if (readError !== undefined) throw readError;
  threads.run(GROUPING_COMMAND.merge);
  return numberVoxels(payload.tables[0], lo, n);
}

/** Runs of consecutive buckets, one per shard, holding about equally many slots. */
function shardsOf(bucketBegin: Int32Array, shards: number): Int32Array {
  const nBuckets = bucketBegin.length - 1;
  const total = bucketBegin[nBuckets] - bucketBegin[0];
  const out = sharedInt32(shards + 1);
  let b = 0;
  for (let k = 1; k < shards; k++) {
    while (b < nBuckets && bucketBegin[b] - bucketBegin[0] < (k * total) / shards) b++;
    out[k] = b;
  }
  out[shards] = nBuckets;
  return out;
}

/** A ring block in shared memory, with buffers for rows as read when `unprepared`. */
function ringBlock(threads: number, nBuckets: number, unprepared: boolean): RingBlock {
  const n = PLACEMENT_BLOCK_ROWS;
  return {
    perBucket: sharedInt32(threads * nBuckets),
    still: sharedInt32(n),
    voxel: sharedFloat64(n),
    intensity: sharedFloat32(n),
    variance: sharedFloat32(n),
    qMagnitude: sharedFloat32(n),
    id: sharedInt32(n),
    bucket: sharedInt32(n),
    input: unprepared
      ? {
          intensities: sharedFloat32(n),
          sigmas: sharedFloat32(n),
          stillIds: sharedInt32(n),
          voxelIndices: sharedFloat64(n),
          qVectors: sharedFloat32(3 * n),
        }
      : undefined,
    info: sharedInt32(BLOCK_INFO.kept + threads),
  };
}

/** Fills a ring block with the next rows of a source: returns the rows, or undefined after the last. */
type BlockFiller = (block: RingBlock) => number | undefined;

/** Blocks of unprepared rows, read by ranges. */
function unpreparedBlocks(rows: UnpreparedRows): BlockFiller {
  let start = 0;
  return (block) => {
    if (start >= rows.nRows || block.input === undefined) return undefined;
    const end = Math.min(rows.nRows, start + PLACEMENT_BLOCK_ROWS);
    rows.read(start, end, block.input);
    block.info[BLOCK_INFO.firstRow] = start;
    start = end;
    return end - block.info[BLOCK_INFO.firstRow];
  };
}

/** Blocks of prepared rows: the source's chunks, in blocks, their stills checked. */
function preparedBlocks(
  source: DiffuseChunkSource,
  nStills: number,
  rowOffset: number,
  count: { rows: number },
): BlockFiller {
  const chunks = source.chunks()[Symbol.iterator]();
  let chunk: DiffuseInput | undefined;
  let from = 0;
  return (block) => {
    while (chunk === undefined || from >= chunk.voxel.length) {
      const next = chunks.next();
      if (next.done === true) return undefined;
      chunk = next.value;
      from = 0;
      checkStills(chunk.still, nStills, rowOffset + count.rows);
      count.rows += chunk.voxel.length;
    }
    const to = Math.min(chunk.voxel.length, from + PLACEMENT_BLOCK_ROWS);
    block.still.set(chunk.still.subarray(from, to));
    block.voxel.set(chunk.voxel.subarray(from, to));
    // float64 inputs are rounded to float32 here, exactly as the serial pass's staging rounds them
    block.intensity.set(chunk.intensity.subarray(from, to));
    block.variance.set(chunk.variance.subarray(from, to));
    block.qMagnitude.set(chunk.qMagnitude.subarray(from, to));
    const m = to - from;
    from = to;
    return m;
  };
}

/** The error for rows a source yields beyond those its voxel pass counted. */
function notCounted(): ConfigError {
  return new ConfigError("diffuse source yielded rows its voxel pass did not count");
}

/**
 * Places and orders the rows of `source` in the grouping threads (see the module comment); voxels left empty are
 * dropped as by the serial pass (which then orders the buckets, on this thread, when rows were skipped). Returns the
 * number of diffuse groups kept, or undefined when the threads failed (nothing read yet: place serially).
 *
 * @throws {@link ConfigError} or {@link InputError} as the serial pass.
 */
export function groupDiffuseRowsInThreads(
  threads: GroupingThreads,
  source: DiffuseChunkSource,
  slots: VoxelSlots,
  nStills: number,
  buckets: Buckets,
  bucketBegin: Int32Array,
  store: ResidentStore,
  groupStart: Int32Array,
  nBraggGroups: number,
): number | undefined {
  const nBuckets = bucketBegin.length - 1;
  const nVoxels = slots.unique.length;
  const bucketOfId = sharedInt32(nVoxels);
  const { firstVoxel } = buckets;
  for (let b = 0; b < nBuckets; b++) bucketOfId.fill(b, firstVoxel[b], firstVoxel[b + 1]);
  const rows = source.unprepared;
  const size = threads.size;
  const cursor = sharedCopy(bucketBegin.subarray(0, nBuckets));
  const payload: PlacementPayload = {
    kind: "place",
    slots: {
      nRows: slots.nRows,
      unique: sharedCopy(slots.unique),
      counts: sharedCopy(slots.counts),
      table: slots.table === undefined ? undefined : sharedCopy(slots.table),
      lo: slots.lo,
    },
    bucketOfId,
    bucketBegin: sharedCopy(bucketBegin),
    cursor,
    firstVoxel: sharedCopy(firstVoxel),
    shardBucket: shardsOf(bucketBegin, size),
    ring: Array.from({ length: RING }, () => ringBlock(size, nBuckets, rows !== undefined)),
    fill: sharedInt32(nBuckets),
    columns: store.columns,
    selection: sharedFloat64(size * SELECTION_KEYS.length),
    nStills,
    // read before anything is placed: the first rows' σ (an error reading them is the serial pass's first)
    unit: rows?.unit() ?? 1,
  };
  if (!threads.attach(payload)) return undefined;
  const { status } = threads;
  status[GROUPING_STATUS.fault] = 0;
  status[GROUPING_STATUS.notCounted] = 0;
  const count = { rows: 0 };
  const fill = rows !== undefined ? unpreparedBlocks(rows) : preparedBlocks(source, nStills, bucketBegin[0], count);
  const { ring } = payload;
  // block c is read into ring[c % RING] while block c − 1 is selected and block c − 2 placed
  let c = 0;
  let m = fill(ring[0]);
  let readError: Error | undefined;
  for (let placing = -1; m !== undefined || placing >= 0; c++) {
    const slot = c % RING;
    if (m !== undefined) ring[slot].info[BLOCK_INFO.rows] = m;
    status[GROUPING_STATUS.prepareSlot] = m !== undefined ? slot : -1;
    status[GROUPING_STATUS.placeSlot] = placing;
    threads.start(GROUPING_COMMAND.step);
    let next: number | undefined;
    try {
      if (m !== undefined) next = fill(ring[(c + 1) % RING]);
    } catch (error) {
      if (!(error instanceof Error)) throw error;
      readError = error;
    }
    threads.finish();
    if (status[GROUPING_STATUS.fault] !== 0 || readError !== undefined) {
      // the serial selection raises the first error in source order (a block a thread could not select, or one this
      // thread could not read)
      const chunks = source.chunks()[Symbol.iterator]();
      while (chunks.next().done !== true);
      throw readError ?? notCounted();
    }
    if (status[GROUPING_STATUS.notCounted] !== 0) throw notCounted();
    if (placing >= 0) {
      // the placed block's rows moved each bucket's next slot on
      const perBucket = ring[placing].perBucket;
      for (let k = 0; k < size; k++) {
        for (let b = 0; b < nBuckets; b++) cursor[b] += perBucket[k * nBuckets + b];
      }
    }
    placing = m !== undefined ? slot : -1;
    m = next;
  }
  if (rows !== undefined) {
    const counts = zeroCounts();
    SELECTION_KEYS.forEach((key, r) => {
      for (let k = 0; k < size; k++) counts[key] += payload.selection[k * SELECTION_KEYS.length + r];
    });
    rows.addCounts(counts);
  } else {
    checkSecondPass(source, count.rows, slots);
  }
  let placed = 0;
  for (let b = 0; b < nBuckets; b++) {
    payload.fill[b] = cursor[b] - bucketBegin[b];
    placed += payload.fill[b];
  }
  if (placed === bucketBegin[nBuckets] - bucketBegin[0]) {
    // no row was skipped: every bucket is ordered in place, every voxel keeps its rows, `groupStart` and the
    // voxels stay as counted
    threads.run(GROUPING_COMMAND.order);
    if (status[GROUPING_STATUS.notCounted] !== 0) throw notCounted();
    return nVoxels;
  }
  // rows were skipped: the buckets move down to close the holes, in order, on this thread
  return orderBuckets(buckets, bucketBegin, payload.fill, slots.counts, slots.unique, groupStart, nBraggGroups, store);
}
