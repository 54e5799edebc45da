/**
 * Waiting for a worker thread's answer to one request: its `{ ok }` reply, or false when it ends or fails first.
 *
 * @packageDocumentation
 */
import type { Worker } from "node:worker_threads";

/**
 * Resolves with `ok` of the next `{ ok: boolean }` message of `worker`, or false when the worker exits or emits an
 * error before replying; the listeners are removed once it settles. Attach it before posting the request.
 */
export function okReply(worker: Worker): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const settle = (ok: boolean): void => {
      worker.off("message", onMessage);
      worker.off("exit", onEnd);
      worker.off("error", onEnd);
      resolve(ok);
    };
    const onMessage = (reply: { ok: boolean }): void => {
      settle(reply.ok);
    };
    const onEnd = (): void => {
      settle(false);
    };
    worker.on("message", onMessage);
    worker.on("exit", onEnd);
    worker.on("error", onEnd);
  });
}
