/**
 * Worker entry of the joint pass: serves pass commands from {@link JointPassRunner} until told to exit. Each shard
 * is accumulated privately and added to the shared result in shard order.
 *
 * @packageDocumentation
 */
import { workerData } from "node:worker_threads";
import { ShardWorkspace } from "./pass-handlers.ts";
import type { JointPassPayload, PassModeValue } from "./pass-payload.ts";
import { serveWorker, type PoolWorkerData } from "../runtime/worker-pool.ts";

const data = workerData as PoolWorkerData<JointPassPayload>;
const workspace = new ShardWorkspace(data.payload);

serveWorker(data.control, (command, scheduler) => {
  const mode = command as PassModeValue;
  for (let k = scheduler.take(); k >= 0; k = scheduler.take()) {
    workspace.compute(mode, k);
    if (!scheduler.waitTurn(k)) return;
    workspace.reduce(mode);
    scheduler.finishTurn(k);
  }
});
