/**
 * Worker thread of diffuse grouping (`diffuse-placement-threads.ts`); each thread has one part (shard) of every command.
 * Pass 1: it counts its part of a block of voxel indices into its own table, then sums its part of the voxel range of
 * every table into the first. Pass 2: in each step it writes its part of the previous block to the buckets' slots
 * (after the other parts' rows of each bucket that come before it), and selects and looks up its part of the current
 * block; at the end it orders its run of buckets in place.
 *
 * @packageDocumentation
 */
import { workerData } from "node:worker_threads";
import { ConfigError } from "../errors.ts";
import { receivePosted, serveWorker, type PoolWorkerData } from "../runtime/worker-pool.ts";
import { prepareInto, zeroCounts } from "./diffuse-input.ts";
import { lookUpRows, orderBucket, scatterToBuckets, type BucketScratch } from "./diffuse-placement.ts";
import {
  BLOCK_INFO,
  GROUPING_COMMAND,
  GROUPING_STATUS,
  partStart,
  SELECTION_KEYS,
  type CountPayload,
  type PlacementPayload,
  type RingBlock,
} from "./diffuse-placement-threads.ts";
import { placedRows, ResidentStore, type PlacedRows } from "./row-stores.ts";
import { addVoxelCounts } from "./voxel-slots.ts";

const { control, payload: start } = workerData as PoolWorkerData<{ status: Int32Array }>;
const { status } = start;
let counting: CountPayload | undefined;
let placing: { payload: PlacementPayload; store: ResidentStore; next: Int32Array; voxel: Int32Array } | undefined;
let scratch: { src: PlacedRows; buckets: BucketScratch } | undefined;

/** Counts part k of the current block of voxel indices into table k. */
function countPart(p: CountPayload, k: number, shards: number): void {
  const m = status[GROUPING_STATUS.countRows];
  const v = p.voxels[status[GROUPING_STATUS.countSlot]];
  if (addVoxelCounts(v, partStart(k, shards, m), partStart(k + 1, shards, m), p.tables[k], p.lo) >= 0) {
    Atomics.store(status, GROUPING_STATUS.fault, 1);
  }
}

/** Adds every table's counts of part k of the voxel range to the first table. */
function mergePart(p: CountPayload, k: number, shards: number): void {
  const [sum, ...rest] = p.tables;
  const from = partStart(k, shards, sum.length);
  const to = partStart(k + 1, shards, sum.length);
  for (const t of rest) for (let j = from; j < to; j++) sum[j] += t[j];
}

/** Selects (unprepared rows) and looks up part k of a ring block; false when a row's voxel was not counted. */
function preparePart(p: PlacementPayload, block: RingBlock, k: number, shards: number): boolean {
  const m = block.info[BLOCK_INFO.rows];
  const from = partStart(k, shards, m);
  const to = partStart(k + 1, shards, m);
  let kept = to - from;
  const input = block.input;
  if (input !== undefined) {
    const counts = zeroCounts();
    try {
      kept = prepareInto(
        {
          intensities: input.intensities.subarray(from, to),
          sigmas: input.sigmas.subarray(from, to),
          stillIds: input.stillIds.subarray(from, to),
          voxelIndices: input.voxelIndices.subarray(from, to),
          qVectors: input.qVectors.subarray(3 * from, 3 * to),
        },
        p.nStills,
        block.info[BLOCK_INFO.firstRow] + from,
        p.unit,
        undefined,
        {
          still: block.still.subarray(from, to),
          voxel: block.voxel.subarray(from, to),
          intensity: block.intensity.subarray(from, to),
          variance: block.variance.subarray(from, to),
          qMagnitude: block.qMagnitude.subarray(from, to),
          sourceRow: undefined,
        },
        counts,
      );
    } catch {
      // the serial pass raises the error
      Atomics.store(status, GROUPING_STATUS.fault, 1);
      kept = 0;
    }
    const keys = SELECTION_KEYS.length;
    SELECTION_KEYS.forEach((key, r) => {
      p.selection[k * keys + r] += counts[key];
    });
  }
  block.info[BLOCK_INFO.kept + k] = kept;
  const nBuckets = p.cursor.length;
  const perBucket = block.perBucket.subarray(k * nBuckets, (k + 1) * nBuckets);
  perBucket.fill(0);
  return lookUpRows(p, block.voxel, block, from, from + kept, perBucket);
}

/**
 * Writes part k of a ring block to its buckets' slots: after the block's rows of parts before k in every bucket (so
 * each bucket's rows keep their source order). False, with nothing written, when a bucket would overflow.
 */
function placePart(p: PlacementPayload, block: RingBlock, k: number, shards: number): boolean {
  if (placing === undefined) return true;
  const { next, voxel } = placing;
  const { cursor, bucketBegin } = p;
  const nBuckets = cursor.length;
  const perBucket = block.perBucket;
  for (let b = 0; b < nBuckets; b++) {
    let at = cursor[b];
    for (let j = 0; j < k; j++) at += perBucket[j * nBuckets + b];
    if (at + perBucket[k * nBuckets + b] > bucketBegin[b + 1]) return false;
    next[b] = at;
  }
  const from = partStart(k, shards, block.info[BLOCK_INFO.rows]);
  scatterToBuckets(block, from, from + block.info[BLOCK_INFO.kept + k], next, p.columns, voxel);
  return true;
}

/** Orders buckets [from, to) in place (no row was skipped: each holds exactly its voxels' counted rows). */
function orderShard(p: PlacementPayload, store: ResidentStore, from: number, to: number): void {
  const { fill, firstVoxel, bucketBegin } = p;
  let largest = 0;
  let widest = 0;
  for (let b = from; b < to; b++) {
    largest = Math.max(largest, fill[b]);
    widest = Math.max(widest, firstVoxel[b + 1] - firstVoxel[b]);
  }
  if (scratch === undefined || scratch.src.voxel.length < largest || scratch.buckets.next.length < widest + 1) {
    scratch = {
      src: placedRows(largest),
      buckets: {
        next: new Int32Array(widest + 1),
        localStart: new Int32Array(widest + 1),
        keptVoxel: new Int32Array(widest + 1),
      },
    };
  }
  for (let b = from; b < to; b++) {
    const m = fill[b];
    store.get(bucketBegin[b], m, scratch.src);
    const k = orderBucket(
      scratch.src,
      m,
      firstVoxel[b],
      firstVoxel[b + 1],
      p.slots.counts,
      store.target(bucketBegin[b], m),
      scratch.buckets,
    );
    if (k !== firstVoxel[b + 1] - firstVoxel[b]) throw new ConfigError("a voxel lost its rows");
  }
}

/** Runs a command of pass 2 for shard k. */
function placementCommand(command: number, k: number): void {
  if (placing === undefined) return;
  const { payload: p, store } = placing;
  const shards = p.shardBucket.length - 1;
  if (command === GROUPING_COMMAND.step) {
    const place = status[GROUPING_STATUS.placeSlot];
    const prepare = status[GROUPING_STATUS.prepareSlot];
    const ok =
      (place < 0 || placePart(p, p.ring[place], k, shards)) &&
      (prepare < 0 || preparePart(p, p.ring[prepare], k, shards));
    if (!ok) Atomics.store(status, GROUPING_STATUS.notCounted, 1);
  } else if (command === GROUPING_COMMAND.order) {
    orderShard(p, store, p.shardBucket[k], p.shardBucket[k + 1]);
  }
}

/**
 * This thread's part (shard) of every command after an attach: each thread takes one when the payload is attached, so
 * a thread places the parts it selected (still in its cache).
 */
let part = -1;

serveWorker(control, (command, scheduler) => {
  if (command === GROUPING_COMMAND.attach) {
    const message = receivePosted() as CountPayload | PlacementPayload;
    if (message.kind === "count") {
      counting = message;
    } else {
      counting = undefined;
      placing = {
        payload: message,
        store: new ResidentStore(message.columns),
        next: new Int32Array(message.cursor.length),
        // placed rows keep their voxel id in the bytes of the weight column until ordered (as `PlacedRows`)
        voxel: new Int32Array(
          message.columns.weight.buffer,
          message.columns.weight.byteOffset,
          message.columns.weight.length,
        ),
      };
    }
    part = scheduler.take();
    return;
  }
  if (part < 0) return;
  try {
    if (command === GROUPING_COMMAND.count && counting !== undefined) {
      countPart(counting, part, counting.tables.length);
    } else if (command === GROUPING_COMMAND.merge && counting !== undefined) {
      mergePart(counting, part, counting.tables.length);
    } else {
      placementCommand(command, part);
    }
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    Atomics.store(status, GROUPING_STATUS.notCounted, 1);
  }
});
