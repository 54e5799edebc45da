/**
 * Worker entry of the merge threads (see `merge-threads.ts`): counts the used rows of its voxel shards, then merges
 * them with the one-thread merge's step.
 *
 * @packageDocumentation
 */
import { workerData } from "node:worker_threads";
import { serveWorker, type PoolWorkerData } from "../runtime/worker-pool.ts";
import { MERGE_COMMAND, type MergeThreadsPayload } from "./merge-threads.ts";
import { mergeVoxelKernel, usedMembersKernel } from "./merge-voxels.ts";
import { Mulberry32 } from "./seeded-random.ts";

const { control, payload: p } = workerData as PoolWorkerData<MergeThreadsPayload>;
const { groupStart, firstGroup } = p.ctx;
const rows = { weight: p.weight, intensity: p.intensity, rowBegin: 0 };
const random = new Mulberry32(p.seed);
const sums = new Float64Array(2);
let members = new Int32Array(0);

function countShard(hb: number, he: number): void {
  const { weight, counts } = p;
  for (let h = hb; h < he; h++) {
    let n = 0;
    for (let o = groupStart[h]; o < groupStart[h + 1]; o++) if (weight[o] !== 0) n++;
    counts[h - firstGroup] = n;
  }
}

function mergeShard(hb: number, he: number): void {
  const { slot, drawStart, out, g } = p;
  for (let h = hb; h < he; h++) {
    const r = slot[h - firstGroup];
    if (r < 0) continue;
    if (members.length < groupStart[h + 1] - groupStart[h]) members = new Int32Array(groupStart[h + 1] - groupStart[h]);
    const n = usedMembersKernel(groupStart, h, p.weight, 0, members);
    random.seek(drawStart[h - firstGroup]);
    mergeVoxelKernel(p.ctx, out, r, h, members, n, rows, g, 0, random, sums);
  }
}

serveWorker(control, (command, scheduler) => {
  for (let k = scheduler.take(); k >= 0; k = scheduler.take()) {
    const hb = p.shardGroup[k];
    const he = p.shardGroup[k + 1];
    if (command === MERGE_COMMAND.count) countShard(hb, he);
    else mergeShard(hb, he);
  }
});
