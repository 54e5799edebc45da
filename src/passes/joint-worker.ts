/**
 * Worker entry of the joint pass: serves pass commands from {@link JointPassRunner} until told to exit. Each shard
 * is accumulated privately and added to the shared result in shard order.
 *
 * @packageDocumentation
 */
import { workerData } from "node:worker_threads";
import type { JointAccumulation } from "./joint-normal-equations.ts";
import {
  computeShard,
  createPartial,
  reduceShard,
  ShardViews,
  type JointPassPayload,
  type PassModeValue,
} from "./joint-pass.ts";
import { serveWorker, type PoolWorkerData } from "../runtime/worker-pool.ts";

const data = workerData as PoolWorkerData<JointPassPayload>;
const payload = data.payload;
const partials = new Map<PassModeValue, JointAccumulation>();
const views = new ShardViews(payload);

serveWorker(data.control, (command, scheduler) => {
  const mode = command as PassModeValue;
  let partial = partials.get(mode);
  if (partial === undefined) {
    partial = createPartial(payload, mode);
    partials.set(mode, partial);
  }
  for (let k = scheduler.take(); k >= 0; k = scheduler.take()) {
    computeShard(payload, mode, k, partial, views);
    if (!scheduler.waitTurn(k)) return;
    reduceShard(payload, mode, partial);
    scheduler.finishTurn(k);
  }
});
