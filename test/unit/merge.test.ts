import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ResolutionSmootherComponent } from "../../src/refine/components/resolution-smoother-component.ts";
import { forEachInverseScaleBatch } from "../../src/passes/inverse-scale-batches.ts";
import { mergeDiffuse, type MergedDiffuse } from "../../src/merge/merge.ts";
import { mergeInThreads } from "../../src/merge/merge-threads.ts";
import { Mulberry32, seededRandom } from "../../src/merge/seeded-random.ts";
import { sharedCopy, sharedFloat32 } from "../../src/runtime/shared-arrays.ts";
import { residentRows } from "../../src/observations/observation-windows.ts";
import type { ScalingObservations } from "../../src/observations/scaling-observations.ts";
import { makeVoxelGrid, voxelCentre } from "../../src/voxelize/voxel-grid.ts";
import { ConfigError } from "../../src/errors.ts";
import { inverseScalesInRange } from "../../src/passes/inverse-scales.ts";
import { modelState, pagedCopy, randomObservations, removePaged } from "../fixtures/windowed/observations.ts";

const tmp = mkdtempSync(join(tmpdir(), "merge-test-"));
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

const grid = makeVoxelGrid(2, [5, 5, 5]);
/** A triclinic-ish B (row-major), reciprocal vector = B·hkl. */
const B = Float64Array.of(0.1, 0.01, 0.002, 0, 0.08, 0.005, 0, 0, 0.12);
const SMOOTHER = [1, 1.25, 0.8] as const;

function sample(seed: number, nVoxels = 80): { obs: ScalingObservations; scales: Float64Array } {
  const { obs } = randomObservations(seed, {
    nStills: 6,
    nBraggGroups: 5,
    nVoxels,
    maxGroupRows: 6,
    unusable: 0.1,
    outliers: 0.1,
  });
  const scales = Float64Array.from({ length: 6 }, (_, s) => 0.5 + 0.3 * s);
  return { obs, scales };
}

/** Weighted mean Σ(w g²·I/g)/Σw g² of a set of rows (w, g, I). */
function weightedMean(rows: [number, number, number][]): number {
  let sw = 0;
  let swi = 0;
  for (const [w, g, I] of rows) {
    sw += w * g * g;
    swi += w * g * g * (I / g);
  }
  return swi / sw;
}

/** Every subset of `items` with `k` members. */
function subsets<T>(items: T[], k: number): T[][] {
  if (k === 0) return [[]];
  if (items.length < k) return [];
  const [first, ...rest] = items;
  return [...subsets(rest, k - 1).map((s) => [first, ...s]), ...subsets(rest, k)];
}

function expectSameMap(a: MergedDiffuse, b: MergedDiffuse): void {
  for (const key of Object.keys(a) as (keyof MergedDiffuse)[]) {
    expect(b[key].length, key).toBe(a[key].length);
    for (let i = 0; i < a[key].length; i++) {
      if (!Object.is(a[key][i], b[key][i])) expect.fail(`${key}[${i}]: ${a[key][i]} ≠ ${b[key][i]}`);
    }
  }
}

describe("mergeDiffuse", () => {
  it("merges every voxel with used rows as the inverse-variance weighted mean of I/g, with a half-set split", () => {
    const { obs, scales } = sample(11);
    const smoother = new ResolutionSmootherComponent([0.1, 0.6], SMOOTHER, 0);
    const map = mergeDiffuse(obs, modelState(scales, SMOOTHER), grid, B, { seed: 3 });
    const { still, intensity, weight, qMagnitude } = residentRows(obs);
    let r = 0;
    for (let h = obs.nBraggGroups; h < obs.nGroups; h++) {
      const rows: [number, number, number][] = [];
      for (let o = obs.groupStart[h]; o < obs.groupStart[h + 1]; o++) {
        if (weight[o] === 0) continue;
        // g = b·a(|q|), |q| clamped to the smoother's range (evaluated here by the framework smoother)
        rows.push([weight[o], scales[still[o]] * smoother.valueAt(qMagnitude[o]), intensity[o]]);
      }
      if (rows.length === 0) continue;
      const n = rows.length;
      expect(map.voxelIndex[r]).toBe(obs.voxelIndex[h - obs.nBraggGroups]);
      expect(map.nObservations[r]).toBe(n);
      expect(map.intensity[r]).toBeCloseTo(weightedMean(rows), 4);
      const sw = rows.reduce((s, [w, g]) => s + w * g * g, 0);
      expect(map.sigma[r] * Math.sqrt(sw)).toBeCloseTo(1, 6);
      const centre = new Float64Array(3);
      voxelCentre(grid, map.voxelIndex[r], centre, 0);
      expect(Array.from(map.hkl.subarray(3 * r, 3 * r + 3))).toEqual(Array.from(centre));
      const [x, y, z] = centre;
      const q = Math.hypot(B[0] * x + B[1] * y + B[2] * z, B[4] * y + B[5] * z, B[8] * z);
      expect(map.qMagnitude[r]).toBeCloseTo(q, 12);
      // half sets: ⌊n/2⌋ or ⌈n/2⌉ rows in the first, the rest in the second, each mean over its own rows
      const n1 = map.halfSetCount1[r];
      expect(n1 === Math.floor(n / 2) || n1 === Math.ceil(n / 2)).toBe(true);
      expect(map.halfSetCount2[r]).toBe(n - n1);
      const ids = rows.map((_, i) => i);
      const found = subsets(ids, n1).some((first) => {
        const second = ids.filter((i) => !first.includes(i));
        const m1 = first.length > 0 ? weightedMean(first.map((i) => rows[i])) : 0;
        const m2 = second.length > 0 ? weightedMean(second.map((i) => rows[i])) : 0;
        return (
          Math.abs(m1 - map.halfSet1[r]) <= 1e-4 * Math.abs(m1) + 1e-9 &&
          Math.abs(m2 - map.halfSet2[r]) <= 1e-4 * Math.abs(m2) + 1e-9
        );
      });
      expect(found, `voxel ${map.voxelIndex[r]}`).toBe(true);
      r++;
    }
    expect(map.voxelIndex.length).toBe(r);
    expect(r).toBeGreaterThan(50);
  });

  it("the same seed gives the same split; another seed another one", () => {
    const { obs, scales } = sample(12);
    const state = modelState(scales);
    const a = mergeDiffuse(obs, state, grid, B, { seed: 5 });
    expectSameMap(a, mergeDiffuse(obs, state, grid, B, { seed: 5 }));
    const c = mergeDiffuse(obs, state, grid, B, { seed: 6 });
    expect(Array.from(c.intensity)).toEqual(Array.from(a.intensity));
    expect(Array.from(c.halfSet1).some((v, i) => v !== a.halfSet1[i])).toBe(true);
  });

  it("paged observations give the resident map bit for bit, at any window size", () => {
    const { obs, scales } = sample(13, 300);
    const state = modelState(scales, SMOOTHER);
    const resident = mergeDiffuse(obs, state, grid, B, { seed: 9 });
    for (const windowRows of [1, 4, 23, 5000]) {
      const paged = pagedCopy(obs, tmp, windowRows);
      try {
        expectSameMap(resident, mergeDiffuse(paged, state, grid, B, { seed: 9 }));
      } finally {
        removePaged(paged);
      }
    }
  });

  it("threads give the one-thread map bit for bit (any shard size, seed, outliers), and decline what they cannot take", () => {
    for (const [seed, shardRows, threads] of [
      [21, 1, 2],
      [22, 7, 3],
      [23, 1 << 18, 2],
    ] as const) {
      const { obs: plain, scales } = sample(seed, 400);
      const rows = residentRows(plain);
      const obs: ScalingObservations = {
        ...plain,
        rows: {
          kind: "resident",
          still: sharedCopy(rows.still),
          intensity: sharedCopy(rows.intensity),
          variance: sharedCopy(rows.variance),
          weight: sharedCopy(rows.weight),
          qMagnitude: sharedCopy(rows.qMagnitude),
        },
      };
      const state = modelState(scales, SMOOTHER);
      const g = sharedFloat32(obs.n);
      inverseScalesInRange(state, rows.still, rows.qMagnitude, 0, obs.n, g);
      const one = mergeDiffuse(obs, state, grid, B, { seed });
      const ctx = {
        groupStart: obs.groupStart,
        firstGroup: obs.nBraggGroups,
        voxelIndex: obs.voxelIndex,
        grid,
        reciprocalB: B,
        unit: 1,
      };
      const merged = mergeInThreads(obs, ctx, seed, threads, g, { minRows: 0, shardRows });
      if (merged === undefined) return expect.fail("the threads declined resident shared rows");
      expectSameMap(one, merged);
      // declined: too few rows, g not shared, rows not shared
      expect(mergeInThreads(obs, ctx, seed, 2, g, { minRows: obs.n })).toBeUndefined();
      expect(mergeInThreads(obs, ctx, seed, 2, Float32Array.from(g), { minRows: 0 })).toBeUndefined();
      expect(mergeInThreads(plain, ctx, seed, 2, g, { minRows: 0 })).toBeUndefined();
    }
  });

  it("the generator moved to draw k gives the k-th draw of the sequence (k beyond 2^32 included)", () => {
    const next = seededRandom(77);
    const draws = Array.from({ length: 300 }, () => next());
    const generator = new Mulberry32(77);
    for (const k of [0, 1, 2, 150, 299]) {
      generator.seek(k);
      expect(generator.next()).toBe(draws[k]);
    }
    // draw k of a far position, from the state formula seed + (k + 1)·step mod 2^32 in exact integers
    for (const k of [2 ** 31 - 1, 2 ** 31, 2 ** 32 + 5, 3 * 2 ** 40 + 17]) {
      const state = Number((77n + BigInt(k) * 0x6d2b79f5n) % 2n ** 32n);
      const reference = new Mulberry32(state);
      generator.seek(k);
      expect(generator.next()).toBe(reference.next());
    }
  });

  it("no voxels: an empty map; too few still scales: ConfigError", () => {
    const { obs, scales } = sample(14, 0);
    expect(mergeDiffuse(obs, modelState(scales), grid, B).voxelIndex.length).toBe(0);
    expect(() => mergeDiffuse(obs, modelState(scales.subarray(0, 5)), grid, B)).toThrow(ConfigError);
  });
});

describe("forEachInverseScaleBatch", () => {
  it("visits every group once, ascending, with g of every row as on whole columns and a batch-sized buffer", () => {
    // 2^17 rows: many small groups around one group larger than a batch (2^16 rows)
    const nGroups = 3001;
    const groupStart = new Int32Array(nGroups + 1);
    for (let h = 0; h < nGroups; h++) groupStart[h + 1] = groupStart[h] + (h === 1500 ? 70_000 : 20);
    const n = groupStart[nGroups];
    const still = Int32Array.from({ length: n }, (_, o) => o % 4);
    const qMagnitude = Float32Array.from({ length: n }, (_, o) => 0.05 + ((o * 7919) % 1000) / 1500);
    const obs: ScalingObservations = {
      n,
      nStills: 4,
      nGroups,
      nBraggGroups: 0,
      nBraggRows: 0,
      groupStart,
      rows: {
        kind: "resident",
        still,
        intensity: new Float32Array(n),
        variance: new Float32Array(n),
        weight: new Float32Array(n),
        qMagnitude,
      },
      sourceRow: new Int32Array(0),
      braggHkl: new Int32Array(0),
      voxelIndex: new Float64Array(nGroups),
    };
    const state = modelState(Float64Array.of(0.7, 1, 1.3, 2), SMOOTHER);
    const expected = new Float32Array(n);
    inverseScalesInRange(state, still, qMagnitude, 0, n, expected);
    let nextGroup = 10;
    let longest = 0;
    let mismatches = 0;
    forEachInverseScaleBatch(
      obs,
      state,
      (_window, groupBegin, groupEnd, g, gRow) => {
        expect(groupBegin).toBe(nextGroup);
        expect(gRow).toBe(groupStart[groupBegin]);
        nextGroup = groupEnd;
        longest = Math.max(longest, g.length);
        for (let o = groupStart[groupBegin]; o < groupStart[groupEnd]; o++)
          if (g[o - gRow] !== expected[o]) mismatches++;
      },
      { groupBegin: 10, groupEnd: 2990 },
    );
    expect(nextGroup).toBe(2990);
    expect(mismatches).toBe(0);
    expect(longest).toBe(70_000);
    // with every row's g precomputed: one visit over the range, reading that array
    const visits: [number, number, number][] = [];
    forEachInverseScaleBatch(
      obs,
      state,
      (_window, groupBegin, groupEnd, g, gRow) => {
        expect(g).toBe(expected);
        visits.push([groupBegin, groupEnd, gRow]);
      },
      { groupBegin: 10, groupEnd: 2990, precomputed: expected },
    );
    expect(visits).toEqual([[10, 2990, 0]]);
  });
});
