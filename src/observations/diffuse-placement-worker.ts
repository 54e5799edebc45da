/**
 * Worker thread of threaded diffuse placement (`diffuse-placement-threads.ts`): each shard is one run of consecutive
 * buckets; for its shard a thread places the rows of the current block that fall in those buckets, writes their staged
 * rows to the shared columns (flush), or orders those buckets in place.
 *
 * @packageDocumentation
 */
import { workerData } from "node:worker_threads";
import { ConfigError } from "../errors.ts";
import { serveWorker, type PoolWorkerData } from "../runtime/worker-pool.ts";
import { flushBuckets, orderBucket, placeBlock, type BucketScratch } from "./diffuse-placement.ts";
import { PLACEMENT_COMMAND, PLACEMENT_STATUS, type PlacementPayload } from "./diffuse-placement-threads.ts";
import { placedRows, ResidentStore, type PlacedRows } from "./row-stores.ts";

const { control, payload } = workerData as PoolWorkerData<PlacementPayload>;
const { state, firstVoxel, shardBucket, blocks, fill, status } = payload;
const store = new ResidentStore(payload.columns);
let scratch: { src: PlacedRows; buckets: BucketScratch } | undefined;

/** Orders buckets [from, to) in place (no row was skipped: each holds exactly its voxels' counted rows). */
function orderShard(from: number, to: number): void {
  const { bucketBegin } = state;
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
      state.slots.counts,
      store.target(bucketBegin[b], m),
      scratch.buckets,
    );
    if (k !== firstVoxel[b + 1] - firstVoxel[b]) throw new ConfigError("a voxel lost its rows");
  }
}

serveWorker(control, (command, scheduler) => {
  for (let k = scheduler.take(); k >= 0; k = scheduler.take()) {
    const from = shardBucket[k];
    const to = shardBucket[k + 1];
    try {
      if (command === PLACEMENT_COMMAND.place) {
        placeBlock(state, blocks[status[PLACEMENT_STATUS.block]], status[PLACEMENT_STATUS.blockRows], from, to, store);
      } else if (command === PLACEMENT_COMMAND.flush) {
        flushBuckets(state, from, to, store, fill);
      } else if (command === PLACEMENT_COMMAND.order) {
        orderShard(from, to);
      }
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      Atomics.store(status, PLACEMENT_STATUS.notCounted, 1);
    }
  }
});
