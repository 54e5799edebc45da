/**
 * The HTML report off the critical path: a worker thread started with the job loads the report code and vega while the
 * main thread reads, refines and writes; it reads each output back and renders its plots as soon as the job says the
 * file is written (see `report/staged-report.ts`), and writes `report.html` once `scales.json` exists.
 * The page is the one `writeReport` writes (same code, fresh isolate). Should the thread fail to start or fail to
 * write, the report is written on the main thread instead, so errors are exactly those of `writeReport`.
 *
 * @packageDocumentation
 */
import { Worker } from "node:worker_threads";
import type { StagedFile } from "../report/staged-report.ts";
import { siblingWorkerEntry, startWorker } from "../runtime/worker-pool.ts";
import { okReply } from "../runtime/worker-reply.ts";
import type { ReportWorkerRequest } from "./report-worker.ts";

/** A report renderer started ahead of time. */
export interface BackgroundReport {
  /** Says that the job will write a merged map, so that the worker loads what reads it while it waits. */
  mapFollows(): void;
  /**
   * Says that an output in `dir` is written and final, so that the worker reads it and renders its plots now (does
   * nothing without a worker; the page does not depend on it, only how soon it is done).
   */
  written(dir: string, file: StagedFile): void;
  /**
   * Writes `outPath` from the output files in `dir` (in the worker, or on this thread as the fallback).
   *
   * @returns where the page was rendered
   */
  write(dir: string, outPath: string): Promise<"worker" | "main thread">;
  /** Stops the worker (idempotent; after `write` resolved, or when the job fails). */
  dispose(): void;
}

/** Starts the report worker now; it only loads code until {@link BackgroundReport.write} is called. */
export function startBackgroundReport(): BackgroundReport {
  let worker: Worker | undefined;
  // set when the worker failed or ended on its own: it will never answer, and waiting for its reply would leave the
  // calling thread with nothing keeping its event loop alive (a job thread then simply ends, without its result)
  let gone = false;
  try {
    const entry = siblingWorkerEntry(import.meta.url, "report-worker");
    worker = startWorker(entry);
    // an idle report worker must never keep the process alive
    worker.unref();
    worker.on("error", () => {
      gone = true;
    });
    worker.on("exit", () => {
      gone = true;
    });
  } catch {
    worker = undefined;
  }
  const inProcess = async (dir: string, outPath: string): Promise<"main thread"> => {
    const { writeReport } = await import("../report/write-report.ts");
    await writeReport(dir, { outPath });
    return "main thread";
  };
  const post = (w: Worker, request: ReportWorkerRequest): void => {
    w.postMessage(request);
  };
  return {
    mapFollows() {
      if (worker !== undefined && !gone) post(worker, { kind: "map follows" });
    },
    written(dir, file) {
      if (worker !== undefined && !gone) post(worker, { kind: "written", dir, file });
    },
    async write(dir, outPath) {
      const w = worker;
      if (w === undefined || gone) return inProcess(dir, outPath);
      const reply = okReply(w);
      // the reply is awaited: the worker keeps this thread alive until it answers or ends
      w.ref();
      post(w, { kind: "write", dir, outPath });
      const ok = await reply;
      w.unref();
      // a failure in the worker is reproduced here, so the caller sees writeReport's own typed error
      return ok ? "worker" : inProcess(dir, outPath);
    },
    dispose() {
      if (worker !== undefined) void worker.terminate();
      worker = undefined;
    },
  };
}
