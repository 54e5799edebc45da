/**
 * The worker-thread entry of a CLI job (see `./job-thread.ts`): runs the job named in `workerData` (or, for a thread
 * started ahead of its job, loads the code of the job kind named there and runs the job of the first message), posting
 * progress events, then the result or the error (as plain data) to the main thread. Not a module to import.
 *
 * @packageDocumentation
 */
import { parentPort, workerData } from "node:worker_threads";
import { loadJobCode, runJobHere, serializeError, type JobRequest } from "./job-thread.ts";

const port = parentPort;

/** Runs the job, posting its progress and then its result or error. */
function run(request: JobRequest): void {
  if (port === null) return;
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

if (port !== null) {
  const data = workerData as { request: JobRequest } | { preload: JobRequest["kind"] };
  if ("request" in data) run(data.request);
  else {
    // started ahead of its job: load the job's code while the CLI parses the arguments, then run the job it is sent
    // (a failure to load is the job's own, when runJobHere imports the same code)
    loadJobCode(data.preload).catch(() => undefined);
    port.once("message", (message: { request: JobRequest }) => {
      run(message.request);
    });
  }
}
