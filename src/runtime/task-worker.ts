/**
 * One worker thread that runs one task at a time while the calling thread carries on with its own work, driven
 * synchronously: {@link SyncTaskWorker.begin} posts the task and returns at once, {@link SyncTaskWorker.end} blocks in
 * `Atomics.wait` until the worker has answered and takes the answer with `receiveMessageOnPort`, so the caller needs
 * no event loop (the refinement is synchronous). Tasks and answers are structured-cloned (typed arrays may be
 * transferred).
 *
 * @packageDocumentation
 */
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort, type Transferable } from "node:worker_threads";
import { RefinementFailure } from "../errors.ts";
import { startWorker, type WorkerEntry } from "./worker-pool.ts";

/** Control words (Int32 indices of the control block). */
const READY = 0;
const DONE = 1;
const CONTROL_WORDS = 2;

/** How long {@link SyncTaskWorker.end} waits for a worker that has not started before giving up (ms). */
const START_TIMEOUT_MS = 30_000;

/** What the worker receives as `workerData`. */
export interface TaskWorkerData {
  /** The control block. */
  readonly control: Int32Array;
  /** The worker's end of the channel: tasks arrive and answers leave here. */
  readonly port: MessagePort;
}

/** A worker's answer: the task's value, or the message of what it threw. */
type Answer<R> = { ok: true; value: R } | { ok: false; error: string };

/** A worker thread serving one task at a time (see the module's description). */
export class SyncTaskWorker<T, R> {
  private readonly control: Int32Array;
  private readonly port: MessagePort;
  private readonly worker: Worker;
  private pending = false;
  private closed = false;

  /** Starts the worker (it loads its code while the caller goes on). @param entry - see `siblingWorkerEntry` */
  constructor(entry: WorkerEntry) {
    this.control = new Int32Array(new SharedArrayBuffer(CONTROL_WORDS * 4));
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const workerData: TaskWorkerData = { control: this.control, port: port2 };
    const options = { workerData, transferList: [port2] };
    this.worker = startWorker(entry, options);
    // an idle task worker never keeps the process alive
    this.worker.unref();
    this.port.unref();
  }

  /** Posts a task (one at a time: {@link SyncTaskWorker.end} must take its answer before the next). */
  begin(task: T, transfer: readonly Transferable[] = []): void {
    if (this.closed) throw new RefinementFailure("task worker is closed");
    if (this.pending) throw new RefinementFailure("task worker already has a task");
    this.pending = true;
    this.port.postMessage(task, transfer);
  }

  /**
   * Blocks until the worker has answered the task of {@link SyncTaskWorker.begin} and returns the answer.
   *
   * @throws {@link RefinementFailure} when the task threw in the worker, or the worker did not start within 30 s.
   */
  end(): R {
    if (!this.pending) throw new RefinementFailure("task worker has no task");
    const c = this.control;
    const deadline = performance.now() + START_TIMEOUT_MS;
    for (;;) {
      if (Atomics.load(c, DONE) !== 0) break;
      if (Atomics.load(c, READY) === 0 && performance.now() > deadline) {
        throw new RefinementFailure(`a task worker did not start within ${START_TIMEOUT_MS / 1000} s`);
      }
      Atomics.wait(c, DONE, 0, 100);
    }
    Atomics.store(c, DONE, 0);
    this.pending = false;
    const received = receiveMessageOnPort(this.port);
    if (received === undefined) throw new RefinementFailure("a task worker signalled an answer it did not send");
    const answer = received.message as Answer<R>;
    if (!answer.ok) throw new RefinementFailure(`a task worker failed: ${answer.error}`);
    return answer.value;
  }

  /** Stops the worker (idempotent). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.port.close();
    void this.worker.terminate();
  }
}

/**
 * The worker side: answers each task with `handler`'s value (or the message of what it threw), then signals the
 * caller. Call once, at the top of the worker's module.
 */
export function serveTasks(data: TaskWorkerData, handler: (task: unknown) => unknown): void {
  const { control, port } = data;
  port.on("message", (task: unknown) => {
    let answer: Answer<unknown>;
    try {
      answer = { ok: true, value: handler(task) };
    } catch (e) {
      answer = { ok: false, error: e instanceof Error ? e.message : String(e) };
    }
    port.postMessage(answer);
    Atomics.store(control, DONE, 1);
    Atomics.notify(control, DONE);
  });
  Atomics.store(control, READY, 1);
  Atomics.notify(control, READY);
}
