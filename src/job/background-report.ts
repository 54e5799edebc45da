/**
 * The HTML report off the critical path: a worker thread started with the job loads the report code and vega while the
 * main thread reads, refines and writes, and renders `report.html` once `scales.json` and `refinement.json` exist.
 * The page is the one `writeReport` writes (same code, fresh isolate). Should the thread fail to start or fail to
 * write, the report is written on the main thread instead, so errors are exactly those of `writeReport`.
 *
 * @packageDocumentation
 */
import { Worker } from "node:worker_threads";
import { siblingWorkerEntry } from "../runtime/worker-pool.ts";

/** A report renderer started ahead of time. */
export interface BackgroundReport {
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
  try {
    const entry = siblingWorkerEntry(import.meta.url, "report-worker");
    worker = entry.kind === "module" ? new Worker(entry.url) : new Worker(entry.code, { eval: true });
    // an idle report worker must never keep the process alive
    worker.unref();
    worker.on("error", () => undefined);
  } catch {
    worker = undefined;
  }
  const inProcess = async (dir: string, outPath: string): Promise<"main thread"> => {
    const { writeReport } = await import("../report/write-report.ts");
    await writeReport(dir, { outPath });
    return "main thread";
  };
  return {
    async write(dir, outPath) {
      const w = worker;
      if (w === undefined) return inProcess(dir, outPath);
      const ok = await new Promise<boolean>((resolve) => {
        w.ref();
        w.once("message", (reply: { ok: boolean }) => {
          resolve(reply.ok);
        });
        w.once("exit", () => {
          resolve(false);
        });
        w.once("error", () => {
          resolve(false);
        });
        w.postMessage({ dir, outPath });
      });
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
