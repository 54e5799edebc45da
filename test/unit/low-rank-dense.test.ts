import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { addLowRankGroupsToDenseRows, addLowRankToDense, type GroupCache } from "../../src/passes/low-rank-operator.ts";
import { moveUpperRowsInto, type LowRankSums } from "../../src/passes/joint-accumulation.ts";
import { shardPartialsExpansion } from "./shard-partials.ts";

/** A deterministic generator in [0, 1). */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

function symmetric(k: number, next: () => number): Float64Array {
  const m = new Float64Array(k * k);
  for (let i = 0; i < k; i++) for (let j = 0; j <= i; j++) m[i * k + j] = m[j * k + i] = next();
  return m;
}

/** Random matrix-free factors: groups of distinct stills in ascending order (as a pass stores them). */
function randomFactors(nStills: number, kf: number, nGroups: number, seed: number) {
  const next = lcg(seed);
  const stills: number[][] = [];
  for (let h = 0; h < nGroups; h++) {
    const m = next() < 0.1 ? 0 : 1 + Math.floor(next() * Math.min(nStills, 60));
    const set = new Set<number>();
    while (set.size < m) set.add(Math.floor(next() * nStills));
    stills.push([...set].sort((a, b) => a - b));
  }
  const nPairs = stills.reduce((t, s) => t + s.length, 0);
  // pair slots are reserved per group as in a pass; pairCount may be smaller (unused slots hold garbage)
  const pairStart = new Int32Array(nGroups + 1);
  const pairCount = new Int32Array(nGroups);
  const pairStill = new Int32Array(nPairs + nGroups).fill(-7);
  const pairA = Float64Array.from({ length: nPairs + nGroups }, () => 10 * next());
  const pairV = Float64Array.from({ length: nPairs + nGroups }, () => next() - 0.5);
  for (let h = 0; h < nGroups; h++) {
    pairStart[h + 1] = pairStart[h] + stills[h].length + 1;
    pairCount[h] = stills[h].length;
    stills[h].forEach((s, i) => (pairStill[pairStart[h] + i] = s));
  }
  const cache: GroupCache = {
    pairStart,
    pairCount,
    pairStill,
    pairA,
    pairV,
    groupIh: Float64Array.from({ length: nGroups }, () => 1000 * next()),
    groupS: Float64Array.from({ length: nGroups }, () => 50 * next()),
    groupSmootherA: Float64Array.from({ length: nGroups * kf }, () => next()),
    groupSmootherV: Float64Array.from({ length: nGroups * kf }, () => next() - 0.5),
  };
  const sums: LowRankSums = {
    thetaDiagonal: Float64Array.from({ length: nStills }, () => next()),
    thetaSmoother: Float64Array.from({ length: nStills * kf }, () => next()),
    // Σ w Ih² e eᵀ (+ restraints): symmetric
    smootherBlock: symmetric(kf, next),
    diagonal: new Float64Array(nStills + kf),
  };
  return { cache, sums };
}

/** The row-by-row formation of both triangles (each element from the point of view of its row). */
function bothTriangles(sums: LowRankSums, cache: GroupCache, nStills: number, kf: number): Float64Array {
  const P = nStills + kf;
  const out = new Float64Array(P * P);
  for (let s = 0; s < nStills; s++) {
    out[s * P + s] += sums.thetaDiagonal[s];
    for (let k = 0; k < kf; k++) {
      out[s * P + nStills + k] += sums.thetaSmoother[s * kf + k];
      out[(nStills + k) * P + s] += sums.thetaSmoother[s * kf + k];
    }
  }
  for (let k = 0; k < kf; k++)
    for (let l = 0; l < kf; l++) out[(nStills + k) * P + nStills + l] += sums.smootherBlock[k * kf + l];
  const {
    pairStart,
    pairCount,
    pairStill,
    pairA,
    pairV,
    groupIh,
    groupS,
    groupSmootherA: gA,
    groupSmootherV: gV,
  } = cache;
  for (let h = 0; h < pairCount.length; h++) {
    // a group without used pairs contributes nothing (its smoother factors are stale)
    if (pairCount[h] === 0) continue;
    const base = pairStart[h];
    const Ih = groupIh[h];
    const S = groupS[h];
    for (let i = base; i < base + pairCount[h]; i++) {
      const row = pairStill[i] * P;
      for (let j = base; j < base + pairCount[h]; j++) {
        out[row + pairStill[j]] += Ih * (pairA[i] * pairV[j] + pairV[i] * pairA[j]) + S * pairV[i] * pairV[j];
      }
      for (let k = 0; k < kf; k++) {
        const val = Ih * (pairA[i] * gV[h * kf + k] + pairV[i] * gA[h * kf + k]) + S * pairV[i] * gV[h * kf + k];
        out[row + nStills + k] += val;
        out[(nStills + k) * P + pairStill[i]] += val;
      }
    }
    for (let k = 0; k < kf; k++) {
      for (let l = 0; l < kf; l++) {
        out[(nStills + k) * P + nStills + l] +=
          Ih * (gA[h * kf + k] * gV[h * kf + l] + gV[h * kf + k] * gA[h * kf + l]) +
          S * gV[h * kf + k] * gV[h * kf + l];
      }
    }
  }
  return out;
}

describe("addLowRankToDense", () => {
  it("equals the row-by-row formation of both triangles to rounding, and is exactly symmetric", () => {
    const arb = fc.record({
      nStills: fc.integer({ min: 1, max: 300 }),
      kf: fc.integer({ min: 0, max: 4 }),
      nGroups: fc.integer({ min: 1, max: 60 }),
      seed: fc.integer({ min: 1, max: 2 ** 30 }),
    });
    fc.assert(
      fc.property(arb, ({ nStills, kf, nGroups, seed }) => {
        const { cache, sums } = randomFactors(nStills, kf, nGroups, seed);
        const P = nStills + kf;
        const expected = bothTriangles(sums, cache, nStills, kf);
        const got = new Float64Array(P * P);
        addLowRankToDense(sums, cache, nStills, kf, got);
        // every group term is O(Ih·a·v) ≤ ~1e4 here; sums of up to 60 of them
        let scale = 0;
        for (const x of expected) scale = Math.max(scale, Math.abs(x));
        for (let r = 0; r < P; r++) {
          for (let c = 0; c <= r; c++) {
            if (!(Math.abs(got[r * P + c] - expected[r * P + c]) <= 1e-13 * scale)) return false;
            if (!Object.is(got[c * P + r], got[r * P + c])) return false;
          }
        }
        return true;
      }),
      { seed: 42, numRuns: 60 },
    );
  });

  it("adds to a symmetric matrix already in `out`", () => {
    const { cache, sums } = randomFactors(140, 2, 30, 3);
    const P = 142;
    const start = new Float64Array(P * P);
    for (let r = 0; r < P; r++) for (let c = 0; c <= r; c++) start[r * P + c] = start[c * P + r] = (r + 2 * c) % 7;
    const got = start.slice();
    addLowRankToDense(sums, cache, 140, 2, got);
    const alone = new Float64Array(P * P);
    addLowRankToDense(sums, cache, 140, 2, alone);
    let worst = 0;
    for (let i = 0; i < P * P; i++) worst = Math.max(worst, Math.abs(got[i] - start[i] - alone[i]));
    expect(worst).toBeLessThan(1e-9);
  });
});

describe("addLowRankGroupsToDenseRows", () => {
  it("band by band, shard by shard, gives the per-shard partials added in shard order bit for bit", () => {
    const arb = fc.record({
      nStills: fc.integer({ min: 1, max: 120 }),
      kf: fc.integer({ min: 0, max: 4 }),
      nGroups: fc.integer({ min: 1, max: 60 }),
      nShards: fc.integer({ min: 1, max: 5 }),
      bandRows: fc.integer({ min: 1, max: 40 }),
      seed: fc.integer({ min: 1, max: 2 ** 30 }),
    });
    fc.assert(
      fc.property(arb, ({ nStills, kf, nGroups, nShards, bandRows, seed }) => {
        const { cache } = randomFactors(nStills, kf, nGroups, seed);
        const P = nStills + kf;
        const shards = Int32Array.from({ length: nShards + 1 }, (_, k) => Math.round((k * nGroups) / nShards));
        const expected = shardPartialsExpansion(cache, nStills, kf, shards);
        // the rows in two items cut at an arbitrary row, each in bands of bandRows rows
        const cut = seed % (P + 1);
        const got = new Float64Array(P * P);
        const band = new Float64Array(bandRows * P);
        for (const [rowBegin, rowEnd] of [
          [0, cut],
          [cut, P],
        ]) {
          for (let k = 0; k < nShards; k++) {
            for (let r0 = rowBegin; r0 < rowEnd; r0 += bandRows) {
              const r1 = Math.min(rowEnd, r0 + bandRows);
              addLowRankGroupsToDenseRows(cache, nStills, kf, shards[k], shards[k + 1], r0, r1, band);
              moveUpperRowsInto(got, band, P, r0, r1);
            }
          }
        }
        if (band.some((x) => x !== 0)) return false;
        for (let i = 0; i < P * P; i++) if (!Object.is(got[i], expected[i])) return false;
        return true;
      }),
      { numRuns: 60 },
    );
  });
});
