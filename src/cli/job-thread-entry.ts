/**
 * The worker-thread entry of a CLI job (see `./job-thread.ts`): runs the job named in `workerData`, posting progress
 * events, then the result or the error (as plain data) to the main thread. Not a module to import.
 *
 * @packageDocumentation
 */
import { parentPort, workerData } from "node:worker_threads";
import { runJobHere, serializeError, type JobRequest } from "./job-thread.ts";

const port = parentPort;
if (port !== null) {
  const request = (workerData as { request: JobRequest }).request;
  runJobHere(request, (event) => {
    port.postMessage({ type: "progress", event });
  }).then(
    (result) => {
      port.postMessage({ type: "result", result });
    },
    (error: unknown) => {
      port.postMessage({ type: "error", error: serializeError(error) });
    },
  );
}
