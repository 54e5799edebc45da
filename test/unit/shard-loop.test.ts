import { describe, expect, it } from "vitest";
import { serveShards } from "../../src/passes/shard-loop.ts";
import type { ShardScheduler } from "../../src/runtime/worker-pool.ts";
import { seededRandom } from "../../src/merge/seeded-random.ts";

/**
 * One worker's view of a pass whose other shards belong to other workers: `ours` are the shards this worker takes (in
 * order); the others reduce theirs only when this worker waits (the worst case for it: they never progress while it
 * computes). Records what the loop computed and reduced, and fails on a reduction out of turn, a slot overwritten
 * before it was reduced, or a wait that could never end.
 */
function simulate(ours: number[], nShards: number, maxPending: number, failAt = -1) {
  let turn = 0;
  let next = 0;
  let waits = 0;
  const slotShard = new Map<number, number>();
  const reducedShards: number[] = [];
  const log: string[] = [];
  const mine = new Set(ours);
  const scheduler: ShardScheduler = {
    take: () => (next < ours.length ? ours[next++] : -1),
    isTurn: (k) => turn === k,
    waitTurn: (k) => {
      waits++;
      if (k === failAt) return false;
      while (turn < k && !mine.has(turn)) turn++;
      if (turn !== k) throw new Error(`waiting for ${k} while shard ${turn} of this worker is not reduced`);
      return true;
    },
    finishTurn: (k) => {
      if (k !== turn) throw new Error(`reduced ${k} out of turn (${turn})`);
      turn++;
    },
  };
  const ok = serveShards({ maxPending }, scheduler, {
    compute: (k, slot) => {
      if (slotShard.has(slot))
        throw new Error(`slot ${slot} overwritten before shard ${slotShard.get(slot)} was reduced`);
      slotShard.set(slot, k);
      log.push(`c${k}`);
    },
    reduce: (slot) => {
      const k = slotShard.get(slot);
      if (k === undefined) throw new Error(`slot ${slot} reduced empty`);
      slotShard.delete(slot);
      reducedShards.push(k);
      log.push(`r${k}`);
    },
  });
  return { ok, reducedShards, waits, log, turn };
}

describe("serveShards", () => {
  it("computes ahead while an earlier shard is another worker's, then reduces its own shards in order", () => {
    // shard 0 is another worker's: shards 1..4 are computed before the first wait, then reduced in order
    const run = simulate([1, 2, 3, 4, 5, 6], 7, 4);
    expect(run.ok).toBe(true);
    expect(run.log.slice(0, 5)).toEqual(["c1", "c2", "c3", "c4", "r1"]);
    expect(run.reducedShards).toEqual([1, 2, 3, 4, 5, 6]);
    expect(run.waits).toBe(1);
  });

  it("with one slot, waits for every turn as a plain ordered loop", () => {
    const run = simulate([1, 2, 4], 5, 1);
    expect(run.log).toEqual(["c1", "r1", "c2", "r2", "c4", "r4"]);
    expect(run.waits).toBe(2); // shard 2 was its turn at once
  });

  it("reduces exactly its shards, in ascending order, for any split of the shards and any number of slots", () => {
    const random = seededRandom(5);
    for (let trial = 0; trial < 300; trial++) {
      const nShards = 1 + Math.floor(random() * 40);
      const ours = Array.from({ length: nShards }, (_, k) => k).filter(() => random() < 0.5);
      const maxPending = 1 + Math.floor(random() * 5);
      const run = simulate(ours, nShards, maxPending);
      expect(run.ok).toBe(true);
      expect(run.reducedShards).toEqual(ours);
    }
  });

  it("stops when another worker failed; unordered modes only compute", () => {
    expect(simulate([1, 2, 3], 4, 2, 1).ok).toBe(false);
    const computed: number[] = [];
    let k = 0;
    const scheduler: ShardScheduler = {
      take: () => (k < 3 ? k++ : -1),
      isTurn: () => false,
      waitTurn: () => expect.fail("an unordered mode waited"),
      finishTurn: () => expect.fail("an unordered mode reduced"),
    };
    serveShards({ unordered: true, maxPending: 4 }, scheduler, {
      compute: (shard) => computed.push(shard),
      reduce: () => expect.fail("an unordered mode reduced"),
    });
    expect(computed).toEqual([0, 1, 2]);
  });
});
