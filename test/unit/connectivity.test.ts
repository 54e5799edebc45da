import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { analyseStillConnectivity } from "../../src/observations/connectivity.ts";
import { residentRows } from "../../src/observations/observation-windows.ts";
import type { ScalingObservations } from "../../src/observations/scaling-observations.ts";
import { groupPairStart } from "../../src/passes/low-rank-operator.ts";
import { pagedCopy, randomObservations, removePaged } from "../fixtures/windowed/observations.ts";

const tmp = mkdtempSync(join(tmpdir(), "connectivity-test-"));
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** Observations from groups of (still, weight) rows (rows sorted by still inside each group). */
function grouped(nStills: number, groups: [number, number][][]): ScalingObservations {
  const rows = groups.flat();
  const groupStart = new Int32Array(groups.length + 1);
  groups.forEach((g, h) => (groupStart[h + 1] = groupStart[h] + g.length));
  const n = rows.length;
  return {
    n,
    nStills,
    nGroups: groups.length,
    nBraggGroups: 0,
    nBraggRows: 0,
    groupStart,
    rows: {
      kind: "resident",
      still: Int32Array.from(rows, (r) => r[0]),
      intensity: new Float32Array(n).fill(10),
      variance: new Float32Array(n).fill(1),
      weight: Float32Array.from(rows, (r) => r[1]),
      qMagnitude: new Float32Array(n).fill(0.2),
    },
    sourceRow: new Int32Array(0),
    braggHkl: new Int32Array(0),
    voxelIndex: Float64Array.from(groups, (_, h) => h),
  };
}

/** 30 stills in 3 Bragg groups and 25 voxels, a third of the rows unusable and a fifth outliers. */
function smallRandomObservations(seed: number, maxGroupRows: number) {
  return randomObservations(seed, {
    nStills: 30,
    nBraggGroups: 3,
    nVoxels: 25,
    maxGroupRows,
    unusable: 0.3,
    outliers: 0.2,
  }).obs;
}

describe("analyseStillConnectivity", () => {
  // stills 0–1–2 linked through two groups, 3–4 through one; 5 only in a single-member group; 6 only with weight 0;
  // the weight-0 row of still 3 in the first group does not link 3 to {0, 1, 2}
  const obs = grouped(7, [
    [
      [0, 1],
      [1, 1],
      [3, 0],
    ],
    [
      [1, 1],
      [1, 1],
      [2, 1],
    ],
    [
      [3, 1],
      [4, 1],
      [6, 0],
    ],
    [[5, 1]],
  ]);

  it("keeps the largest component and reports stills without data and disconnected ones", () => {
    const c = analyseStillConnectivity(obs);
    expect(Array.from(c.included)).toEqual([0, 1, 2]);
    expect(Array.from(c.disconnected)).toEqual([3, 4]);
    expect(Array.from(c.withoutData)).toEqual([5, 6]);
  });

  it("equally large components: the one with the smallest still wins", () => {
    const c = analyseStillConnectivity(
      grouped(4, [
        [
          [2, 1],
          [3, 1],
        ],
        [
          [0, 1],
          [1, 1],
        ],
      ]),
    );
    expect(Array.from(c.included)).toEqual([0, 1]);
    expect(Array.from(c.disconnected)).toEqual([2, 3]);
  });

  it("equals a breadth-first search over the stills that share a group (random groups, weight-0 rows, runs)", () => {
    /** Components by BFS over "two usable rows of one group"; the largest, ties to the smallest still. */
    function reference(nStills: number, groups: [number, number][][]) {
      const neighbours = Array.from({ length: nStills }, () => new Set<number>());
      const linked = new Uint8Array(nStills);
      for (const g of groups) {
        const used = g.filter((r) => r[1] !== 0).map((r) => r[0]);
        if (used.length < 2) continue;
        for (const a of used) {
          linked[a] = 1;
          for (const b of used) if (a !== b) neighbours[a].add(b);
        }
      }
      const component = new Int32Array(nStills).fill(-1);
      const sizes: number[] = [];
      for (let s = 0; s < nStills; s++) {
        if (!linked[s] || component[s] >= 0) continue;
        const queue = [s];
        component[s] = sizes.length;
        for (let i = 0; i < queue.length; i++) {
          for (const t of neighbours[queue[i]]) {
            if (component[t] < 0) {
              component[t] = sizes.length;
              queue.push(t);
            }
          }
        }
        sizes.push(queue.length);
      }
      // components are numbered by their smallest still, so the first largest one wins ties
      const best = sizes.indexOf(Math.max(...sizes));
      const all = Array.from({ length: nStills }, (_, s) => s);
      return {
        included: all.filter((s) => linked[s] && component[s] === best),
        withoutData: all.filter((s) => !linked[s]),
        disconnected: all.filter((s) => linked[s] && component[s] !== best),
      };
    }
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 25 }).chain((nStills) =>
          fc.tuple(
            fc.constant(nStills),
            fc.array(
              fc.array(fc.tuple(fc.integer({ min: 0, max: nStills - 1 }), fc.constantFrom(0, 1, 1, 1)), {
                minLength: 1,
                maxLength: 6,
              }),
              { maxLength: 30 },
            ),
          ),
        ),
        ([nStills, groups]) => {
          const sorted = groups.map((g) => [...g].sort((a, b) => a[0] - b[0]));
          const c = analyseStillConnectivity(grouped(nStills, sorted));
          const want = reference(nStills, sorted);
          expect(Array.from(c.included)).toEqual(want.included);
          expect(Array.from(c.withoutData)).toEqual(want.withoutData);
          expect(Array.from(c.disconnected)).toEqual(want.disconnected);
        },
      ),
      { seed: 7, numRuns: 300 },
    );
  });

  it("counts each group's distinct stills over all its rows as groupPairStart does (resident and paged)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e6 }), fc.integer({ min: 1, max: 40 }), (seed, windowRows) => {
        const random = smallRandomObservations(seed, 4);
        const expected = groupPairStart(random.groupStart, residentRows(random).still);
        const paged = pagedCopy(random, tmp, windowRows);
        try {
          for (const o of [random, paged]) {
            const counts = new Int32Array(random.nGroups + 1);
            analyseStillConnectivity(o, counts);
            for (let h = 0; h < random.nGroups; h++) counts[h + 1] += counts[h];
            expect(Array.from(counts)).toEqual(Array.from(expected));
          }
        } finally {
          removePaged(paged);
        }
      }),
      { seed: 5, numRuns: 40 },
    );
  });

  it("paged observations give the resident result at any window size", () => {
    for (const windowRows of [1, 2, 100]) {
      const paged = pagedCopy(obs, tmp, windowRows);
      try {
        expect(analyseStillConnectivity(paged)).toEqual(analyseStillConnectivity(obs));
      } finally {
        removePaged(paged);
      }
    }
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e6 }), fc.integer({ min: 1, max: 40 }), (seed, windowRows) => {
        const random = smallRandomObservations(seed, 3);
        const paged = pagedCopy(random, tmp, windowRows);
        try {
          expect(analyseStillConnectivity(paged)).toEqual(analyseStillConnectivity(random));
        } finally {
          removePaged(paged);
        }
      }),
      { seed: 42, numRuns: 40 },
    );
  });
});
