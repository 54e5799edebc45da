/**
 * Worker entry of the residual summaries over resident rows: serves the commands of ./resident-residuals.ts (shards
 * taken from the pool's shared counter, see ./residual-shards.ts) until told to exit.
 *
 * @packageDocumentation
 */
import { workerData } from "node:worker_threads";
import { receivePosted, serveWorker, type PoolWorkerData } from "../runtime/worker-pool.ts";
import { ResidualCommand, ResidualShardThread, type KeyRound, type ResidualShardPayload } from "./residual-shards.ts";

const data = workerData as PoolWorkerData<ResidualShardPayload>;
const thread = new ResidualShardThread(data.payload);

serveWorker(data.control, (command, scheduler) => {
  // the tables of a keys command are posted just before it (each worker takes its copy once)
  const round = command === ResidualCommand.keys ? (receivePosted() as KeyRound) : undefined;
  thread.serve(command, round, () => scheduler.take());
});
