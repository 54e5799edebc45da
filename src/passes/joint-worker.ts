/**
 * Worker entry of the joint pass: serves pass commands from {@link JointPassRunner} until told to exit. Each shard
 * is accumulated privately and added to the shared result in shard order, held while its turn has not come (see
 * `shard-loop.ts`); the items of a dense-matrix step write their own rows and are taken without waiting for one
 * another.
 *
 * @packageDocumentation
 */
import { workerData } from "node:worker_threads";
import { MAX_PENDING_SHARDS, PASS_HANDLERS, ShardWorkspace } from "./pass-handlers.ts";
import type { JointPassPayload, PassModeValue } from "./pass-payload.ts";
import { serveShards } from "./shard-loop.ts";
import { serveWorker, type PoolWorkerData } from "../runtime/worker-pool.ts";

const data = workerData as PoolWorkerData<JointPassPayload>;
const workspace = new ShardWorkspace(data.payload);

serveWorker(data.control, (command, scheduler) => {
  const mode = command as PassModeValue;
  const handler = PASS_HANDLERS[mode];
  serveShards(
    { unordered: handler.unordered === true, maxPending: handler.maxPending ?? MAX_PENDING_SHARDS },
    scheduler,
    {
      compute: (k, slot) => {
        workspace.compute(mode, k, slot);
      },
      reduce: (slot) => {
        workspace.reduce(mode, slot);
      },
    },
  );
});
