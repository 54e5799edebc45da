/**
 * Diffuse placement and ordering in worker threads over `SharedArrayBuffer`s: the buckets of voxels are split into one
 * run of consecutive buckets per thread (about equally many rows each), and each thread places, from every block of
 * rows, only the rows of its own buckets — so each bucket's rows keep their source order, and every row lands in
 * exactly the slot the serial pass gives it. The calling thread reads and selects the rows (the source) and copies
 * each block into shared memory; the threads then order their own buckets. Used for resident rows only.
 *
 * Errors are the serial pass's; only their order can differ for a source that changes between its passes: the rows
 * of the next chunk are read (and may be refused) while the threads still place the last block of the previous one,
 * whose rows the voxel pass may not have counted.
 *
 * @packageDocumentation
 */
import { ConfigError } from "../errors.ts";
import { sharedFloat32, sharedFloat64, sharedInt32 } from "../runtime/shared-arrays.ts";
import { siblingWorkerEntry, SyncWorkerPool } from "../runtime/worker-pool.ts";
import { checkSecondPass, orderBuckets, type Buckets, type PlacementState } from "./diffuse-placement.ts";
import { placedRows, type ResidentStore } from "./row-stores.ts";
import { checkStills, type DiffuseChunkSource } from "./scaling-input.ts";
import type { VoxelSlots } from "./voxel-slots.ts";

/** Commands of the placement threads. */
export const PLACEMENT_COMMAND = { place: 1, flush: 2, order: 3 } as const;

/** Rows per block handed to the threads (a block's columns, 28 bytes a row, stay in cache). */
export const PLACEMENT_BLOCK_ROWS = 1 << 16;

/** Words of `PlacementPayload.status`. */
export const PLACEMENT_STATUS = { block: 0, blockRows: 1, notCounted: 2 } as const;

/** The rows of one block (its first `status[blockRows]` rows). */
export interface PlacementBlockBuffers {
  readonly still: Int32Array;
  readonly voxel: Float64Array;
  readonly intensity: Float32Array;
  readonly variance: Float32Array;
  readonly qMagnitude: Float32Array;
}

/** Shared buffers for one block. */
function blockBuffers(): PlacementBlockBuffers {
  return {
    still: sharedInt32(PLACEMENT_BLOCK_ROWS),
    voxel: sharedFloat64(PLACEMENT_BLOCK_ROWS),
    intensity: sharedFloat32(PLACEMENT_BLOCK_ROWS),
    variance: sharedFloat32(PLACEMENT_BLOCK_ROWS),
    qMagnitude: sharedFloat32(PLACEMENT_BLOCK_ROWS),
  };
}

/** What every placement thread gets (typed arrays over `SharedArrayBuffer`s). */
export interface PlacementPayload {
  /** The placement state (shared). */
  readonly state: PlacementState;
  /** First voxel of each bucket, and the number of voxels last. */
  readonly firstVoxel: Int32Array;
  /** First bucket of each shard (thread's run of buckets), and the number of buckets last. */
  readonly shardBucket: Int32Array;
  /** Two blocks of rows: the threads place `blocks[status[block]]` while the calling thread fills the other. */
  readonly blocks: readonly [PlacementBlockBuffers, PlacementBlockBuffers];
  /** Rows placed per bucket (set by the flush). */
  readonly fill: Int32Array;
  /** The row columns of the store. */
  readonly columns: ResidentStore["columns"];
  /** `[block, blockRows, notCounted]`: the block to place and its rows; 1 when a thread met a row not counted. */
  readonly status: Int32Array;
}

/** `a` itself when it is in shared memory, else a copy in shared memory. */
function sharedCopy<T extends Int32Array | Float64Array>(a: T): T {
  if (a.buffer instanceof SharedArrayBuffer) return a;
  const out = (a instanceof Int32Array ? sharedInt32(a.length) : sharedFloat64(a.length)) as T;
  out.set(a);
  return out;
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

/**
 * Places and orders the rows of `source` in `threads` worker threads (see the module comment); voxels left empty are
 * dropped as by the serial pass (which then orders the buckets, on this thread, when rows were skipped). Returns the
 * number of diffuse groups kept, or undefined when the threads could not start (nothing read yet: place serially).
 *
 * @throws {@link ConfigError} as the serial pass.
 */
export function groupDiffuseRowsInThreads(
  source: DiffuseChunkSource,
  slots: VoxelSlots,
  nStills: number,
  buckets: Buckets,
  bucketBegin: Int32Array,
  stagingRows: number,
  store: ResidentStore,
  groupStart: Int32Array,
  nBraggGroups: number,
  threads: number,
): number | undefined {
  const nBuckets = bucketBegin.length - 1;
  const nVoxels = slots.unique.length;
  const bucketOfId = sharedInt32(nVoxels);
  const { firstVoxel } = buckets;
  for (let b = 0; b < nBuckets; b++) bucketOfId.fill(b, firstVoxel[b], firstVoxel[b + 1]);
  const state: PlacementState = {
    slots: {
      nRows: slots.nRows,
      unique: sharedCopy(slots.unique),
      counts: sharedCopy(slots.counts),
      table: slots.table === undefined ? undefined : sharedCopy(slots.table),
      lo: slots.lo,
    },
    bucketOfId,
    bucketBegin: sharedCopy(bucketBegin),
    cursor: sharedCopy(bucketBegin.subarray(0, nBuckets)),
    staged: sharedInt32(nBuckets),
    stage: placedRows(nBuckets * stagingRows, true),
    stagingRows,
  };
  const payload: PlacementPayload = {
    state,
    firstVoxel: sharedCopy(firstVoxel),
    shardBucket: shardsOf(bucketBegin, threads),
    blocks: [blockBuffers(), blockBuffers()],
    fill: sharedInt32(nBuckets),
    columns: store.columns,
    status: sharedInt32(3),
  };
  let pool: SyncWorkerPool | undefined;
  try {
    pool = new SyncWorkerPool(siblingWorkerEntry(import.meta.url, "diffuse-placement-worker"), threads, payload);
    pool.run(0, 0); // waits until every thread has started
  } catch {
    pool?.close();
    return undefined;
  }
  try {
    const { blocks, status } = payload;
    const finish = (): void => {
      pool.finish();
      if (status[PLACEMENT_STATUS.notCounted] !== 0) {
        throw new ConfigError("diffuse source yielded rows its voxel pass did not count");
      }
    };
    const run = (command: number): void => {
      pool.start(command, threads);
      finish();
    };
    const rowOffset = bucketBegin[0];
    let row = 0;
    let next = 0;
    // while the threads place one block, this thread reads and selects the rows of the next and copies them into the
    // other block's buffers
    for (const chunk of source.chunks()) {
      const m = chunk.voxel.length;
      checkStills(chunk.still, nStills, rowOffset + row);
      for (let from = 0; from < m; from += PLACEMENT_BLOCK_ROWS) {
        const to = Math.min(m, from + PLACEMENT_BLOCK_ROWS);
        const block = blocks[next];
        block.still.set(chunk.still.subarray(from, to));
        block.voxel.set(chunk.voxel.subarray(from, to));
        // float64 inputs are rounded to float32 here, exactly as the serial pass's staging rounds them
        block.intensity.set(chunk.intensity.subarray(from, to));
        block.variance.set(chunk.variance.subarray(from, to));
        block.qMagnitude.set(chunk.qMagnitude.subarray(from, to));
        finish(); // the previous block
        status[PLACEMENT_STATUS.block] = next;
        status[PLACEMENT_STATUS.blockRows] = to - from;
        pool.start(PLACEMENT_COMMAND.place, threads);
        next = 1 - next;
      }
      row += m;
    }
    finish();
    checkSecondPass(source, row, slots);
    run(PLACEMENT_COMMAND.flush);
    let placed = 0;
    for (let b = 0; b < nBuckets; b++) placed += payload.fill[b];
    if (placed === bucketBegin[nBuckets] - bucketBegin[0]) {
      // no row was skipped: every bucket is ordered in place, every voxel keeps its rows, `groupStart` and the
      // voxels stay as counted
      run(PLACEMENT_COMMAND.order);
      return nVoxels;
    }
    // rows were skipped: the buckets move down to close the holes, in order, on this thread
    return orderBuckets(
      buckets,
      bucketBegin,
      payload.fill,
      slots.counts,
      slots.unique,
      groupStart,
      nBraggGroups,
      store,
    );
  } finally {
    pool.close();
  }
}
