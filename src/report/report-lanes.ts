/**
 * The report's work on two lanes at once: this thread and, once {@link ReportLanes.startHelper} was called, a helper
 * worker thread (`./report-lane-worker.ts`) that loads vega and the readers of the scaled reflections on its own
 * (until it says it is ready, all the work is done on this thread).
 *
 * - Plots: both lanes take the next plot from one queue, so a page's plots take about half the time on two free
 *   cores. The helper keeps up to two plots in hand (so it never waits for this thread to hand it the next one) but
 *   leaves the last plot of the queue to this thread.
 * - The merging statistics of an output directory are computed in the helper (they take a few tenths of a second
 *   after the scaled reflections are written, while the other files are still to come), so that this thread reads
 *   the next files and renders their plots meanwhile. The helper takes no plot while it computes them.
 *
 * Each plot is rendered by {@link renderSvg} from its specification alone, and vega's SVG of a specification does not
 * depend on the isolate that renders it; the statistics are {@link readReportMerging}'s, read from the files, and
 * cross threads as structured clones (numbers bit for bit). So the results are the same whichever lane does the work.
 * Work that fails in the helper, or that the helper held when it ended, is done again on this thread (so a failure is
 * this thread's own error). Without a helper (never started, or failed to start) all the work is done here.
 *
 * @packageDocumentation
 */
import { setImmediate as nextTurn } from "node:timers/promises";
import { Worker } from "node:worker_threads";
import type { TopLevelSpec } from "vega-lite";
import type { MergingStatistics } from "../merge/merging-statistics.ts";
import { siblingWorkerEntry, startWorker } from "../runtime/worker-pool.ts";
import { renderSvg } from "./render-svg.ts";
import { readReportMerging, type Optional } from "./report-inputs.ts";
import type { LaneReady, LaneReply, LaneRequest } from "./report-lane-worker.ts";

/** A plot waiting for a lane, with its promise's settlers. */
interface PlotTask {
  kind: "render";
  id: number;
  spec: TopLevelSpec;
  title: string;
  resolve: (svg: string) => void;
  reject: (error: unknown) => void;
}

/** Merging statistics asked of the helper, with their promise's settlers. */
interface MergingTask {
  kind: "merging";
  id: number;
  dir: string;
  resolve: (merging: Optional<MergingStatistics>) => void;
  reject: (error: unknown) => void;
}

/** Most plots the helper holds at once (one rendering, one waiting). */
const HELPER_DEPTH = 2;

/** The report's two lanes (see the module comment). */
export class ReportLanes {
  /** Plots no lane has taken yet, oldest first. */
  readonly #queue: PlotTask[] = [];
  /** What the helper holds, by request id. */
  readonly #inHelper = new Map<number, PlotTask | MergingTask>();
  /** Merging statistics the helper is computing. */
  #helperMerging = 0;
  #nextId = 0;
  #helper: Worker | undefined;
  /** Whether the helper has loaded vega (it is given no work before: this thread does it meanwhile). */
  #helperReady = false;
  /** Whether this thread's lane is rendering (or about to). */
  #hereBusy = false;
  /** Settles {@link ReportLanes.helperReady} (when asked before the helper was ready or gone). */
  readonly #readyWaiters: ((ready: boolean) => void)[] = [];
  /** Plots rendered on each lane so far. */
  readonly #rendered = { here: 0, helper: 0 };

  /**
   * Starts the helper thread (once; it loads its code while no work is asked for). A helper that cannot start, or
   * that ends, leaves all the work to this thread.
   */
  startHelper(): void {
    if (this.#helper !== undefined) return;
    let worker: Worker;
    try {
      const entry = siblingWorkerEntry(import.meta.url, "report-lane-worker");
      worker = startWorker(entry);
    } catch {
      return;
    }
    // an idle helper never keeps the process alive (it is referenced while it holds work)
    worker.unref();
    worker.on("message", (reply: LaneReply | LaneReady) => {
      if (reply === "ready") {
        this.#helperReady = true;
        this.#settleReady(true);
        this.#dispatch();
      } else this.#answered(reply);
    });
    const gone = (): void => {
      this.#helperGone(worker);
    };
    worker.on("error", gone);
    worker.on("exit", gone);
    this.#helper = worker;
  }

  /**
   * Renders a plot on whichever lane is free first (as {@link renderSvg} with `title` as its accessible label).
   *
   * @returns the SVG markup
   */
  readonly render = (spec: TopLevelSpec, title: string): Promise<string> =>
    new Promise<string>((resolve, reject) => {
      this.#queue.push({ kind: "render", id: this.#nextId++, spec, title, resolve, reject });
      this.#dispatch();
    });

  /**
   * The merging statistics of the output directory `dir` ({@link readReportMerging}), computed in the helper when
   * there is one.
   *
   * @throws what {@link readReportMerging} throws on this thread
   */
  readonly mergingStatistics = (dir: string): Promise<Optional<MergingStatistics>> => {
    const helper = this.#helper;
    if (helper === undefined || !this.#helperReady) return readReportMerging(dir);
    return new Promise<Optional<MergingStatistics>>((resolve, reject) => {
      const task: MergingTask = { kind: "merging", id: this.#nextId++, dir, resolve, reject };
      this.#post(helper, task, { kind: "merging", id: task.id, dir });
      this.#helperMerging++;
    });
  };

  /**
   * Whether the helper is ready for work: true once it has loaded, false when there is none (never started, failed
   * or stopped) or it ends first.
   */
  helperReady(): Promise<boolean> {
    if (this.#helperReady || this.#helper === undefined) return Promise.resolve(this.#helperReady);
    return new Promise((resolve) => this.#readyWaiters.push(resolve));
  }

  /** Plots rendered so far on this thread (`here`) and in the helper. */
  get rendered(): { here: number; helper: number } {
    return { ...this.#rendered };
  }

  /** Stops the helper (idempotent); work still asked for is done on this thread. */
  dispose(): void {
    const worker = this.#helper;
    if (worker === undefined) return;
    this.#helperGone(worker);
    void worker.terminate();
  }

  #post(helper: Worker, task: PlotTask | MergingTask, request: LaneRequest): void {
    this.#inHelper.set(task.id, task);
    helper.ref();
    helper.postMessage(request);
  }

  /** Hands plots to the free lanes. */
  #dispatch(): void {
    const helper = this.#helper;
    if (helper !== undefined && this.#helperReady && this.#helperMerging === 0) {
      // the helper takes plots while it holds fewer than HELPER_DEPTH, leaving one for this thread once it holds one
      while (this.#inHelper.size < HELPER_DEPTH && this.#queue.length > (this.#inHelper.size === 0 ? 0 : 1)) {
        const task = this.#queue.shift();
        if (task === undefined) break;
        this.#post(helper, task, { kind: "render", id: task.id, spec: task.spec, title: task.title });
      }
    }
    if (!this.#hereBusy && this.#queue.length > 0) {
      this.#hereBusy = true;
      void this.#renderHere();
    }
  }

  /**
   * Renders the next plot on this thread, after one turn of the event loop (so that the helper's answers, and other
   * work of this thread, are seen between two plots).
   */
  async #renderHere(): Promise<void> {
    await nextTurn();
    const task = this.#queue.shift();
    if (task !== undefined) {
      try {
        task.resolve(await renderSvg(task.spec, { ariaLabel: task.title }));
        this.#rendered.here++;
      } catch (error) {
        task.reject(error);
      }
    }
    this.#hereBusy = false;
    this.#dispatch();
  }

  /** The helper's answer: the result, or a failure (the work is then done here). */
  #answered(reply: LaneReply): void {
    const task = this.#inHelper.get(reply.id);
    if (task === undefined) return;
    this.#inHelper.delete(reply.id);
    if (this.#inHelper.size === 0) this.#helper?.unref();
    if (task.kind === "merging") this.#helperMerging--;
    if ("failed" in reply) this.#doHere(task);
    else if (task.kind === "render" && "svg" in reply) {
      this.#rendered.helper++;
      task.resolve(reply.svg);
    } else if (task.kind === "merging" && "merging" in reply) task.resolve(reply.merging);
    this.#dispatch();
  }

  /** Work taken back from the helper, done on this thread: a plot first in the queue, the statistics at once. */
  #doHere(task: PlotTask | MergingTask): void {
    if (task.kind === "render") this.#queue.unshift(task);
    else readReportMerging(task.dir).then(task.resolve, task.reject);
  }

  #settleReady(ready: boolean): void {
    for (const resolve of this.#readyWaiters.splice(0)) resolve(ready);
  }

  /** The helper ended (or is stopped): what it held is done on this thread. */
  #helperGone(worker: Worker): void {
    if (this.#helper !== worker) return;
    this.#helper = undefined;
    this.#helperReady = false;
    this.#settleReady(false);
    worker.unref();
    const held = [...this.#inHelper.values()];
    this.#inHelper.clear();
    this.#helperMerging = 0;
    for (const task of held.reverse()) this.#doHere(task);
    this.#dispatch();
  }
}
