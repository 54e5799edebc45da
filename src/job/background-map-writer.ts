/**
 * `merged_diffuse.h5` written off the job thread: its deflate compression (in h5wasm, synchronous) runs in a worker
 * thread while the job thread writes the other outputs and computes the diagnostics. Same writer, same inputs, so the
 * same bytes. Should the thread fail to start or fail to write, the map is written on the job thread instead, so
 * errors are exactly those of `writeMergedDiffuse`.
 *
 * @packageDocumentation
 */
import { Worker } from "node:worker_threads";
import type { AttributeValue } from "../io/hdf5.ts";
import { writeMergedDiffuse, type MergedDiffuseMap } from "../io/merged-diffuse.ts";
import { siblingWorkerEntry, startWorker } from "../runtime/worker-pool.ts";
import { okReply } from "../runtime/worker-reply.ts";
import type { MapWriterRequest } from "./map-writer-worker.ts";

/** The map's arrays only (a copy of them goes to the worker). */
function mapArrays(map: Readonly<MergedDiffuseMap>): MergedDiffuseMap {
  const { voxelIndex, hkl, qMagnitude, intensity, sigma, nObservations, halfSet1, halfSet2 } = map;
  return { voxelIndex, hkl, qMagnitude, intensity, sigma, nObservations, halfSet1, halfSet2 };
}

/**
 * Starts writing the map to `path` (`writeMergedDiffuse`'s arguments) in a worker thread and returns at once; the
 * promise resolves when the file is written and final.
 *
 * @throws what `writeMergedDiffuse` throws (written on this thread after a failure in the worker)
 */
export function writeMergedDiffuseInBackground(
  path: string,
  map: Readonly<MergedDiffuseMap>,
  attributes: Record<string, AttributeValue>,
): Promise<void> {
  const inThread = (): Promise<void> => writeMergedDiffuse(path, mapArrays(map), attributes);
  let worker: Worker;
  let reply: Promise<boolean>;
  try {
    const entry = siblingWorkerEntry(import.meta.url, "map-writer-worker");
    worker = startWorker(entry);
    reply = okReply(worker);
    const request: MapWriterRequest = { path, map: mapArrays(map), attributes };
    worker.postMessage(request);
  } catch {
    return inThread();
  }
  const w = worker;
  return reply.then((ok) => {
    void w.terminate();
    return ok ? undefined : inThread();
  });
}
