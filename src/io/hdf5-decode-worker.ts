/**
 * Worker thread of the native HDF5 reader: takes chunk-decoding tasks from the shared task table (one shard per
 * chunk), reads each chunk with its own file descriptor, undoes its filters (`decodeChunk`) and writes the decoded
 * bytes into the shared staging buffer; the outcome of each task goes into the shared status words (0 done, 1 failed).
 *
 * @packageDocumentation
 */
import { openSync, readSync } from "node:fs";
import { workerData } from "node:worker_threads";
import { serveWorker, type PoolWorkerData } from "../runtime/worker-pool.ts";
import { decodeChunk } from "./hdf5-native-decode.ts";
import { readTaskFilters, TASK, TASK_FIELDS, type DecodePayload } from "./hdf5-decode-tasks.ts";

const { control, payload } = workerData as PoolWorkerData<DecodePayload>;
const fd = openSync(payload.path, "r");
const { tasks, status, staging } = payload;

serveWorker(control, (_command, scheduler) => {
  for (let k = scheduler.take(); k >= 0; k = scheduler.take()) {
    const t = k * TASK_FIELDS;
    try {
      const size = tasks[t + TASK.size];
      const stored = Buffer.allocUnsafe(size);
      let done = 0;
      while (done < size) {
        const n = readSync(fd, stored, done, size - done, tasks[t + TASK.address] + done);
        if (n <= 0) throw new Error("short read");
        done += n;
      }
      const pipeline = readTaskFilters(tasks, t);
      const chunkBytes = tasks[t + TASK.chunkBytes];
      const out = decodeChunk(stored, pipeline, tasks[t + TASK.mask], tasks[t + TASK.elementSize], chunkBytes);
      staging.set(out, tasks[t + TASK.stagingOffset]);
      status[k] = 0;
    } catch {
      status[k] = 1;
    }
  }
});
