/**
 * A worker's loop over the shards of one pass command: take shards, compute each into a partial, and reduce them into
 * the shared result in shard order. A shard whose turn has not come is held (up to the mode's `maxPending`, each in a
 * partial slot of its own) while the worker computes the next ones, so one slow shard does not idle the other
 * workers; the reductions still happen one at a time in shard order, so the result is the same bit for bit.
 *
 * @packageDocumentation
 */
import type { ShardScheduler } from "../runtime/worker-pool.ts";

/** What the loop needs of a pass mode's handler. */
export interface ShardLoopMode {
  /** Items write their own part of the result: nothing to reduce, no turn to wait for. */
  readonly unordered?: boolean;
  /** Most shards held computed and not yet reduced (≥ 1). */
  readonly maxPending: number;
}

/** What the loop needs of the thread's workspace: compute shard k into a slot, reduce a slot. */
export interface ShardLoopWorkspace {
  compute(k: number, slot: number): void;
  reduce(slot: number): void;
}

/**
 * Serves one command: takes shards until none is left, computing each into slot `i mod maxPending` (i counting this
 * worker's shards) and reducing the held shards, oldest first, whenever their turn has come; it waits for a turn only
 * when every slot is taken or no shard is left. Returns false when another worker failed.
 */
export function serveShards(mode: ShardLoopMode, scheduler: ShardScheduler, workspace: ShardLoopWorkspace): boolean {
  if (mode.unordered === true) {
    for (let k = scheduler.take(); k >= 0; k = scheduler.take()) workspace.compute(k, 0);
    return true;
  }
  const depth = Math.max(1, mode.maxPending);
  // held shards, ascending (shards are taken in order); the oldest is in slot reduced % depth
  const pending: number[] = [];
  let computed = 0;
  let reduced = 0;
  const reduceOldest = (): void => {
    const k = pending[0];
    workspace.reduce(reduced++ % depth);
    pending.shift();
    scheduler.finishTurn(k);
  };
  for (let k = scheduler.take(); k >= 0; k = scheduler.take()) {
    workspace.compute(k, computed++ % depth);
    pending.push(k);
    while (pending.length > 0 && scheduler.isTurn(pending[0])) reduceOldest();
    if (pending.length === depth) {
      if (!scheduler.waitTurn(pending[0])) return false;
      reduceOldest();
    }
  }
  while (pending.length > 0) {
    if (!scheduler.waitTurn(pending[0])) return false;
    reduceOldest();
  }
  return true;
}
