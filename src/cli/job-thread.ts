/**
 * Runs the long CLI jobs (`scale`, `voxelize`, `simulate`) in a worker thread, so that SIGINT and SIGTERM are answered
 * at once even while the job computes synchronously: the main thread stops the job thread, completes or discards
 * the output set (`finishInterruptedOutputSet`), removes this process's temporary files, prints one line
 * ("interrupted; previous outputs kept") and exits with 130 (SIGINT) or 143 (SIGTERM). Scratch files need no
 * cleanup: their names are removed as soon as they are open. The library itself never installs signal handlers.
 *
 * In-process callers of `main()` (the tests) run jobs on the calling thread without signal handling
 * ({@link useJobThreads} is off until the program's entry point turns it on).
 *
 * @packageDocumentation
 */
import { Worker } from "node:worker_threads";
import {
  ConfigError,
  DisabledComponentAccess,
  DiffuseScalingError,
  FileSystemError,
  InputError,
  ParameterLimitExceeded,
  RefinementFailure,
} from "../errors.ts";
import { siblingWorkerEntry, startWorker } from "../runtime/worker-pool.ts";
import type { ScaleDatasetOptions } from "../job/scale-dataset-options.ts";
import type { VoxelizeFilesOptions } from "../job/voxelize-files.ts";
import type { SimulateOptions } from "../simulate/simulation-options.ts";
import type { ProgressEvent } from "./progress.ts";

/** A job and its options (plain data: it is posted to the job thread). */
export type JobRequest =
  | { kind: "scale"; options: Omit<ScaleDatasetOptions, "onProgress"> }
  | { kind: "voxelize"; options: Omit<VoxelizeFilesOptions, "onProgress"> }
  | { kind: "simulate"; options: Omit<SimulateOptions, "onProgress"> };

let threads = false;

/** Turns running jobs in a worker thread (with SIGINT/SIGTERM handling) on or off; off by default. */
export function useJobThreads(on: boolean): void {
  threads = on;
}

/** Loads the code of a job (the modules {@link runJobHere} imports for it), without running it. */
export function loadJobCode(kind: JobRequest["kind"]): Promise<unknown> {
  switch (kind) {
    case "scale":
      return import("../job/scale-dataset.ts");
    case "voxelize":
      return import("../job/voxelize-files.ts");
    case "simulate":
      return import("../simulate/simulate-dataset.ts");
  }
}

/** A job thread started before its job was known (see {@link prestartJobThread}). */
let prestarted: { worker: Worker; kind: JobRequest["kind"]; ended: boolean } | undefined;

/**
 * Starts the job thread of a job of `kind` now (when {@link useJobThreads} is on), so that it loads the job's code
 * while this thread loads the CLI and parses the arguments; the next {@link runJob} of that kind runs in it. A thread
 * that is never used does not keep the process alive.
 */
export function prestartJobThread(kind: JobRequest["kind"]): void {
  if (!threads || prestarted !== undefined) return;
  try {
    const entry = siblingWorkerEntry(import.meta.url, "job-thread-entry");
    const workerData = { preload: kind };
    const worker = startWorker(entry, { workerData });
    worker.unref();
    const started = { worker, kind, ended: false };
    const ended = (): void => {
      started.ended = true;
    };
    worker.on("error", ended);
    worker.on("exit", ended);
    prestarted = started;
  } catch {
    // the job starts its thread when it runs
  }
}

/** The job thread for `request`: the one started ahead for its kind (sent the request), or a new one. */
function jobThread(request: JobRequest): Worker {
  const early = prestarted;
  prestarted = undefined;
  if (early !== undefined) {
    if (early.kind === request.kind && !early.ended) {
      early.worker.ref();
      early.worker.postMessage({ request });
      return early.worker;
    }
    void early.worker.terminate();
  }
  const entry = siblingWorkerEntry(import.meta.url, "job-thread-entry");
  const workerData = { request };
  return startWorker(entry, { workerData });
}

/** Runs a job on this thread; returns what the CLI prints (plain data). */
export async function runJobHere(request: JobRequest, onProgress: (event: ProgressEvent) => void): Promise<unknown> {
  switch (request.kind) {
    case "scale": {
      const { scaleDataset } = await import("../job/scale-dataset.ts");
      const result = await scaleDataset({ ...request.options, onProgress });
      return { scales: result.scales, warnings: result.warnings };
    }
    case "voxelize": {
      const { voxelizeFiles } = await import("../job/voxelize-files.ts");
      return voxelizeFiles({ ...request.options, onProgress });
    }
    case "simulate": {
      const { simulateDataset } = await import("../simulate/simulate-dataset.ts");
      const r = await simulateDataset({ ...request.options, onProgress });
      return { outputs: r.outputs, nBragg: r.nBragg, nDiffuse: r.nDiffuse, seconds: r.seconds };
    }
  }
}

/** An error as plain data. */
interface SerializedError {
  name: string;
  message: string;
  stack?: string | undefined;
  file?: string | undefined;
  code?: string | undefined;
  syscall?: string | undefined;
  path?: string | undefined;
}

/** An error as plain data (class name, message, file, system error fields). */
export function serializeError(error: unknown): SerializedError {
  if (!(error instanceof Error)) return { name: "Error", message: String(error) };
  const e = error as Error & { file?: unknown; code?: unknown; syscall?: unknown; path?: unknown };
  const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
  return {
    name: error.name,
    message: error.message,
    stack: error.stack,
    file: str(e.file),
    code: str(e.code),
    syscall: str(e.syscall),
    path: str(e.path),
  };
}

const CLASSES: Readonly<Record<string, { prototype: Error }>> = {
  DiffuseScalingError,
  InputError,
  FileSystemError,
  ConfigError,
  ParameterLimitExceeded,
  DisabledComponentAccess,
  RefinementFailure,
};

/** The error of the job thread, as an instance of its class again (so the exit code and message are the same). */
function reviveError(s: SerializedError): Error {
  const proto = (CLASSES[s.name] ?? Error).prototype;
  const error = Object.create(proto) as Error & Record<string, unknown>;
  error.name = s.name;
  error.message = s.message;
  if (s.stack !== undefined) error.stack = s.stack;
  for (const key of ["file", "code", "syscall", "path"] as const) if (s[key] !== undefined) error[key] = s[key];
  return error;
}

/** Exit code of a process ended by a signal (128 + its number). */
const SIGNAL_EXIT: Readonly<Record<"SIGINT" | "SIGTERM", number>> = { SIGINT: 130, SIGTERM: 143 };

/**
 * Runs a job: in a worker thread with SIGINT/SIGTERM handling when {@link useJobThreads} is on, else here.
 *
 * @param request - the job
 * @param onProgress - progress events (on the main thread)
 * @returns the job's plain-data result
 */
export async function runJob(request: JobRequest, onProgress: (event: ProgressEvent) => void): Promise<unknown> {
  if (!threads) return runJobHere(request, onProgress);
  const worker = jobThread(request);
  const state = { interrupted: false };
  const onSignal = (signal: "SIGINT" | "SIGTERM"): void => {
    if (state.interrupted) return;
    state.interrupted = true;
    void interrupt(worker, request, signal);
  };
  const onInt = (): void => {
    onSignal("SIGINT");
  };
  const onTerm = (): void => {
    onSignal("SIGTERM");
  };
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  try {
    return await new Promise<unknown>((resolve, reject) => {
      let answered = false;
      // the thread ended without its answer (an uncaught error, or nothing left to wait for): its own clean-up did not
      // run, so the output set is finished here as after an interrupt, before the error is reported
      const endedEarly = (error: Error): void => {
        if (answered || state.interrupted) return;
        answered = true;
        void worker
          .terminate()
          .then(() => cleanUpAfterJobThread(request))
          .then(() => {
            reject(error);
          });
      };
      worker.on("message", (m: { type: string; event?: ProgressEvent; result?: unknown; error?: SerializedError }) => {
        if (m.type === "progress" && m.event !== undefined) onProgress(m.event);
        else if (m.type === "result") {
          answered = true;
          resolve(m.result);
        } else if (m.type === "error" && m.error !== undefined) {
          answered = true;
          reject(reviveError(m.error));
        }
      });
      worker.on("error", endedEarly);
      worker.on("exit", (code) => {
        endedEarly(new Error(`the job thread ended with code ${code} before its result`));
      });
    });
  } finally {
    if (!state.interrupted) {
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
      await worker.terminate();
    }
  }
}

/**
 * After the job thread was stopped or ended without its answer: completes or discards the job's output set (or
 * removes the temporary files of a single output).
 *
 * @returns whether the new output set had been completed ("committed") or the previous one was kept
 */
async function cleanUpAfterJobThread(request: JobRequest): Promise<"committed" | "kept"> {
  let outcome: "committed" | "kept" = "kept";
  try {
    // loaded here, not at start-up: the CLI entry loads commander only
    if (request.kind === "voxelize") {
      const { removeOwnTemporaryFiles } = await import("../io/atomic-write.ts");
      await removeOwnTemporaryFiles(request.options.outPath);
    } else {
      const { finishInterruptedOutputSet } = await import("../io/output-set.ts");
      outcome = await finishInterruptedOutputSet(request.options.outDir);
    }
  } catch {
    // best effort: the next run into the directory cleans up what is left
  }
  return outcome;
}

/** Stops the job thread, leaves the outputs complete (previous or new set), prints one line and exits. */
async function interrupt(worker: Worker, request: JobRequest, signal: "SIGINT" | "SIGTERM"): Promise<never> {
  await worker.terminate();
  const outcome = await cleanUpAfterJobThread(request);
  const lead = process.stderr.isTTY ? "\n" : "";
  process.stderr.write(
    `${lead}diffuse-scale: interrupted; ${outcome === "kept" ? "previous outputs kept" : "the new outputs were already complete"}\n`,
  );
  process.exit(SIGNAL_EXIT[signal]);
}
