/**
 * A minimal synchronous worker pool over `worker_threads` and one shared control block.
 *
 * The main thread publishes a command by bumping an epoch word and blocks in `Atomics.wait` until every worker has
 * reported completion, so the caller stays synchronous (the least-squares minimisers call the passes synchronously).
 * Workers block in `Atomics.wait` between commands. Work is split into numbered shards taken from a shared counter;
 * each worker computes a shard privately and then waits for its turn to add it to the shared result, so partial
 * results are always reduced in shard order (bit-identical for any number of workers).
 *
 * Workers run TypeScript through `tsx` when this module is itself `.ts` (development, tests) and plain `.js` from
 * `dist/` otherwise.
 *
 * @packageDocumentation
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { parentPort, receiveMessageOnPort, Worker, type WorkerOptions } from "node:worker_threads";
import { RefinementFailure } from "../errors.ts";

/** Control words (Int32 indices of the control block). */
const EPOCH = 0;
const COMMAND = 1;
const NEXT_SHARD = 2;
const TURN = 3;
const DONE = 4;
const ERROR = 5;
const READY = 6;
const N_SHARDS = 7;
const CONTROL_WORDS = 8;

/** Command that makes the workers return from their loop. */
export const EXIT_COMMAND = -1;

/** How long the main thread waits for all workers to start before giving up (ms). */
const START_TIMEOUT_MS = 30_000;

/** The data every worker receives at start (structured-cloned; typed arrays over SharedArrayBuffer stay shared). */
export interface PoolWorkerData<T> {
  /** The control block. */
  readonly control: Int32Array;
  /** Job-specific payload. */
  readonly payload: T;
}

/** How to start a worker: a module URL, or (TypeScript sources) a small script that loads the module through tsx. */
export type WorkerEntry = { kind: "module"; url: URL } | { kind: "eval"; code: string };

/**
 * The entry of a sibling worker module: the built `.js` directly, or, when running from `.ts` sources, an eval'd
 * script that imports the `.ts` module with tsx's `tsImport` (the `--import tsx` loader does not apply to a worker's
 * entry on Node 20, and its startup would need the main thread's event loop, which is blocked while waiting).
 */
export function siblingWorkerEntry(baseUrl: string, name: string): WorkerEntry {
  // the path decides, not the whole URL: a module loaded by tsx's `tsImport` (in any worker started from the sources,
  // the CLI's job thread included) has a `?tsx-namespace=…` query after its `.ts`
  const base = new URL(baseUrl);
  const isTs = base.pathname.endsWith(".ts");
  // resolving a relative name drops the base's query and fragment
  const url = new URL(`./${name}${isTs ? ".ts" : ".js"}`, base);
  if (!isTs) return { kind: "module", url };
  const tsxDir = dirname(createRequire(url).resolve("tsx/package.json"));
  const api = pathToFileURL(join(tsxDir, "dist", "esm", "api", "index.mjs")).href;
  const target = JSON.stringify(url.href);
  return { kind: "eval", code: `import(${JSON.stringify(api)}).then((m) => m.tsImport(${target}, ${target}));` };
}

/** Starts a worker thread at `entry` (see {@link siblingWorkerEntry}) with `options`. */
export function startWorker(entry: WorkerEntry, options: WorkerOptions = {}): Worker {
  return entry.kind === "module" ? new Worker(entry.url, options) : new Worker(entry.code, { ...options, eval: true });
}

/** A pool of workers driven synchronously through a shared control block. */
export class SyncWorkerPool {
  /** Number of workers. */
  readonly size: number;
  private readonly control: Int32Array;
  private readonly workers: Worker[];
  private closed = false;
  private started = false;
  private pending = false;

  /**
   * Starts `size` workers running `url` (each gets `{ control, payload }` as `workerData`).
   *
   * @param entry - Worker entry (see {@link siblingWorkerEntry}).
   * @param size - Number of workers (≥ 1).
   * @param payload - Job data (shared typed arrays and plain values).
   */
  constructor(entry: WorkerEntry, size: number, payload: unknown) {
    this.size = size;
    this.control = new Int32Array(new SharedArrayBuffer(CONTROL_WORDS * 4));
    this.workers = [];
    for (let i = 0; i < size; i++) {
      const workerData = { control: this.control, payload };
      const worker = startWorker(entry, { workerData });
      worker.unref();
      this.workers.push(worker);
    }
  }

  /** Blocks until every worker has started (throws after 30 s). */
  private waitStarted(): void {
    if (this.started) return;
    const deadline = performance.now() + START_TIMEOUT_MS;
    for (;;) {
      const ready = Atomics.load(this.control, READY);
      if (ready >= this.size) break;
      if (Atomics.load(this.control, ERROR) !== 0) throw new RefinementFailure("a worker thread failed to start");
      const left = deadline - performance.now();
      if (left <= 0) throw new RefinementFailure(`worker threads did not start within ${START_TIMEOUT_MS / 1000} s`);
      Atomics.wait(this.control, READY, ready, Math.min(left, 50));
    }
    this.started = true;
  }

  /**
   * Runs one command over `nShards` shards on all workers and blocks until they are done.
   *
   * @throws {@link RefinementFailure} when a worker reported an error.
   */
  run(command: number, nShards: number): void {
    this.start(command, nShards);
    this.finish();
  }

  /**
   * Publishes one command over `nShards` shards and returns at once: the caller may work beside the workers (on data
   * they do not touch) until {@link SyncWorkerPool.finish}. One command at a time.
   *
   * @throws {@link RefinementFailure} when the pool is closed or the workers did not start.
   */
  start(command: number, nShards: number): void {
    if (this.closed) throw new RefinementFailure("worker pool is closed");
    if (this.pending) throw new RefinementFailure("worker pool: a command is still running");
    this.waitStarted();
    const c = this.control;
    Atomics.store(c, COMMAND, command);
    Atomics.store(c, N_SHARDS, nShards);
    Atomics.store(c, NEXT_SHARD, 0);
    Atomics.store(c, TURN, 0);
    Atomics.store(c, DONE, 0);
    Atomics.store(c, ERROR, 0);
    Atomics.add(c, EPOCH, 1);
    Atomics.notify(c, EPOCH);
    this.pending = true;
  }

  /**
   * Blocks until every worker has finished the command of {@link SyncWorkerPool.start} (nothing to wait for when none
   * is running).
   *
   * @throws {@link RefinementFailure} when a worker reported an error.
   */
  finish(): void {
    if (!this.pending) return;
    this.pending = false;
    const c = this.control;
    for (;;) {
      const done = Atomics.load(c, DONE);
      if (done >= this.size) break;
      Atomics.wait(c, DONE, done, 1000);
    }
    if (Atomics.load(c, ERROR) !== 0) throw new RefinementFailure("a worker thread failed during a pass");
  }

  /**
   * Posts `message` to every worker (structured-cloned: typed arrays over `SharedArrayBuffer`s stay shared), for
   * data that exists only after the workers started; each worker takes it with {@link receivePosted} while it runs a
   * later command.
   */
  post(message: unknown): void {
    if (this.closed) throw new RefinementFailure("worker pool is closed");
    for (const w of this.workers) w.postMessage(message);
  }

  /** Stops the workers (idempotent). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const c = this.control;
    Atomics.store(c, COMMAND, EXIT_COMMAND);
    Atomics.add(c, EPOCH, 1);
    Atomics.notify(c, EPOCH);
    for (const w of this.workers) void w.terminate();
  }
}

/**
 * The worker side of {@link SyncWorkerPool.post}: the oldest message posted and not yet taken (read synchronously:
 * the worker's event loop does not run while it serves commands).
 *
 * @throws {@link RefinementFailure} outside a worker thread, or when nothing was posted.
 */
export function receivePosted(): unknown {
  const received = parentPort === null ? undefined : receiveMessageOnPort(parentPort);
  if (received === undefined) throw new RefinementFailure("worker: no message was posted");
  return received.message;
}

/** What a worker's handler gets to take shards and reduce them in order. */
export interface ShardScheduler {
  /** The next shard to compute, or −1 when all are taken. */
  take(): number;
  /** Blocks until shard `k` may be reduced (all shards before it are); false if another worker failed. */
  waitTurn(k: number): boolean;
  /** Whether shard `k` may be reduced now (all shards before it are), without waiting. */
  isTurn(k: number): boolean;
  /** Marks shard `k` as reduced. */
  finishTurn(k: number): void;
}

/**
 * The worker side: signals readiness, then serves commands until {@link EXIT_COMMAND}. Never returns before that.
 *
 * @param control - The control block from `workerData`.
 * @param handler - Runs one command with the shard scheduler.
 */
export function serveWorker(control: Int32Array, handler: (command: number, scheduler: ShardScheduler) => void): void {
  const c = control;
  const scheduler: ShardScheduler = {
    take: () => {
      const k = Atomics.add(c, NEXT_SHARD, 1);
      return k < Atomics.load(c, N_SHARDS) ? k : -1;
    },
    waitTurn: (k) => {
      for (;;) {
        const turn = Atomics.load(c, TURN);
        if (turn === k) return true;
        if (Atomics.load(c, ERROR) !== 0) return false;
        Atomics.wait(c, TURN, turn, 100);
      }
    },
    isTurn: (k) => Atomics.load(c, TURN) === k,
    finishTurn: (k) => {
      Atomics.store(c, TURN, k + 1);
      Atomics.notify(c, TURN);
    },
  };
  let seen = 0;
  Atomics.add(c, READY, 1);
  Atomics.notify(c, READY);
  for (;;) {
    Atomics.wait(c, EPOCH, seen);
    seen = Atomics.load(c, EPOCH);
    const command = Atomics.load(c, COMMAND);
    if (command === EXIT_COMMAND) return;
    try {
      handler(command, scheduler);
    } catch {
      Atomics.store(c, ERROR, 1);
      Atomics.notify(c, TURN);
    }
    Atomics.add(c, DONE, 1);
    Atomics.notify(c, DONE);
  }
}
