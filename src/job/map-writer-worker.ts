/**
 * Worker thread of the background map writer (./background-map-writer.ts): loads h5wasm as soon as it starts, writes
 * the one merged map it is sent with `writeMergedDiffuse`, and answers `{ ok: true }` or `{ ok: false }` (the job
 * thread then writes the map itself, so that its errors are the writer's own).
 *
 * @packageDocumentation
 */
import { parentPort } from "node:worker_threads";
import type { AttributeValue } from "../io/hdf5.ts";
import { loadH5wasm } from "../io/hdf5.ts";
import { writeMergedDiffuse, type MergedDiffuseMap } from "../io/merged-diffuse.ts";

/** The request of the job thread. */
export interface MapWriterRequest {
  readonly path: string;
  readonly map: MergedDiffuseMap;
  readonly attributes: Record<string, AttributeValue>;
}

const port = parentPort;
if (port === null) throw new Error("map-writer-worker must run in a worker thread");
// a failure to load is the writer's own, from the same promise
loadH5wasm().catch(() => undefined);

port.once("message", (request: MapWriterRequest) => {
  writeMergedDiffuse(request.path, request.map, request.attributes).then(
    () => {
      port.postMessage({ ok: true });
    },
    () => {
      port.postMessage({ ok: false });
    },
  );
});
