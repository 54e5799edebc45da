/**
 * Worker entry of the joint pass: serves pass commands from {@link JointPassRunner} until told to exit. Each shard
 * is accumulated privately and added to the shared result in shard order; the items of a dense-matrix step write
 * their own rows and are taken without waiting for one another.
 *
 * @packageDocumentation
 */
import { workerData } from "node:worker_threads";
import { PASS_HANDLERS, ShardWorkspace } from "./pass-handlers.ts";
import type { JointPassPayload, PassModeValue } from "./pass-payload.ts";
import { serveWorker, type PoolWorkerData } from "../runtime/worker-pool.ts";

const data = workerData as PoolWorkerData<JointPassPayload>;
const workspace = new ShardWorkspace(data.payload);

serveWorker(data.control, (command, scheduler) => {
  const mode = command as PassModeValue;
  const ordered = PASS_HANDLERS[mode].unordered !== true;
  for (let k = scheduler.take(); k >= 0; k = scheduler.take()) {
    workspace.compute(mode, k);
    // items that write their own part of the result: nothing to reduce, no turn to wait for
    if (!ordered) continue;
    if (!scheduler.waitTurn(k)) return;
    workspace.reduce(mode);
    scheduler.finishTurn(k);
  }
});
