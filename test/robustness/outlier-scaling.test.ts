/**
 * Standard outlier rejection on very large groups (one voxel with thousands of observations, or every observation in
 * one group when all Miller indices are (0,0,0)): DIALS rejects one row per pass, so row by row a group costs
 * O(rows · passes), quadratic when a fixed fraction of the group goes; the bounded passes (`standard-outlier-passes.ts`)
 * must stay within seconds on 100 000 rows nearly all rejected and on 200 000 rows with heavy tails, and the kernel
 * must give exactly the outliers, in the same order, of DIALS's round-by-round algorithm, written out plainly below as the reference, and of its own row-by-row passes.
 */
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import {
  rejectOutliersStandard,
  rejectOutliersStandardGrouped,
  standardGroupedOutliersInRange,
} from "../../src/dials/outlier-rejection.ts";
import { groupScratch, standardGroupPasses } from "../../src/dials/standard-outlier-passes.ts";
import { seededRandom } from "../../src/merge/seeded-random.ts";

interface Rows {
  intensity: Float64Array;
  variance: Float64Array;
  g: Float64Array;
}

/**
 * One group of m rows. "planted": I ≈ 1000·g within ±3σ, σ² = 100, with outliers (I = 10⁵) at `planted`. "spread":
 * I uniform on [0, 10⁴) with σ² in [1, 2), so nearly every pass rejects a row (the worst case: m − O(1) passes).
 */
function oneGroup(m: number, kind: "planted" | "spread", planted: number[] = []): Rows {
  const r = seededRandom(m);
  const intensity = new Float64Array(m);
  const variance = new Float64Array(m);
  const g = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    g[i] = 0.5 + r();
    if (kind === "planted") {
      variance[i] = 100;
      intensity[i] = g[i] * 1000 + 10 * (r() + r() + r() - 1.5) * 2;
    } else {
      variance[i] = 1 + r();
      intensity[i] = 1e4 * r();
    }
  }
  for (const p of planted) intensity[p] = 1e5;
  return { intensity, variance, g };
}

/**
 * DIALS `NormDevOutlierRejection` as written there: weights 1/σ² capped at 10 × the group median (of a sorted copy),
 * then rounds; in each round every group with more than two remaining rows sums w·g·I and w·g² over its remaining rows
 * (row order), tests every remaining row against the others (the group sums minus its own terms) and rejects its
 * first largest z > zmax; the next round keeps only the groups that rejected one. Returns the outliers round by round,
 * ascending within a round.
 */
function referenceStandard(
  groupIndex: ArrayLike<number>,
  nGroups: number,
  intensity: ArrayLike<number>,
  variance: ArrayLike<number>,
  g: ArrayLike<number>,
  zmax: number,
): number[] {
  const n = groupIndex.length;
  const w = Array.from({ length: n }, (_, i) => 1 / variance[i]);
  for (let h = 0; h < nGroups; h++) {
    const members = [...Array(n).keys()].filter((i) => groupIndex[i] === h);
    if (members.length === 0) continue;
    const sorted = members.map((i) => w[i]).sort((a, b) => a - b);
    const k = sorted.length >> 1;
    const median = sorted.length % 2 === 1 ? sorted[k] : (sorted[k - 1] + sorted[k]) / 2;
    for (const i of members) w[i] = Math.min(w[i], 10 * median);
  }
  let active = [...Array(n).keys()];
  const outliers: number[] = [];
  for (;;) {
    const sumWgI = new Array<number>(nGroups).fill(0);
    const sumWg2 = new Array<number>(nGroups).fill(0);
    const count = new Array<number>(nGroups).fill(0);
    for (const i of active) {
      sumWgI[groupIndex[i]] += w[i] * g[i] * intensity[i];
      sumWg2[groupIndex[i]] += w[i] * g[i] * g[i];
      count[groupIndex[i]]++;
    }
    const best = new Array<number>(nGroups).fill(-1);
    const bestZ = new Array<number>(nGroups).fill(zmax);
    for (const i of active) {
      const h = groupIndex[i];
      if (count[h] <= 2) continue;
      const others2 = sumWg2[h] - w[i] * g[i] * g[i];
      const othersI = sumWgI[h] - w[i] * g[i] * intensity[i];
      const z =
        others2 === 0
          ? 1000
          : Math.abs((intensity[i] - (g[i] * othersI) / others2) / Math.sqrt(1 / w[i] + (g[i] * g[i]) / others2));
      if (z > bestZ[h]) {
        bestZ[h] = z;
        best[h] = i;
      }
    }
    const round = best.filter((i) => i >= 0).sort((a, b) => a - b);
    if (round.length === 0) return outliers;
    outliers.push(...round);
    active = active.filter((i) => best[groupIndex[i]] >= 0 && !round.includes(i));
  }
}

function checksum(rows: Int32Array): number {
  let h = 0;
  for (const o of rows) h = (Math.imul(h, 31) + o) | 0;
  return h;
}

/**
 * The passes of one group made of `rows` (in this order), weights 1/σ² capped at 10 × their median as the kernel does,
 * with the bounded passes from `boundedFrom` rows: the outlier rows in pass order.
 */
function groupPasses(
  columns: { intensity: ArrayLike<number>; variance: ArrayLike<number>; g: ArrayLike<number> },
  rows: number[],
  zmax: number,
  boundedFrom: number,
): number[] {
  const m = rows.length;
  const s = groupScratch(m);
  const w = rows.map((o) => 1 / columns.variance[o]);
  const sorted = Float64Array.from(w).sort();
  const k = m >> 1;
  const median = m % 2 === 1 ? sorted[k] : (sorted[k - 1] + sorted[k]) / 2;
  rows.forEach((o, t) => {
    s.row[t] = o;
    s.w[t] = Math.min(w[t], 10 * median);
    s.g[t] = columns.g[o];
    s.intensity[t] = columns.intensity[o];
  });
  return Array.from(s.rejected.subarray(0, standardGroupPasses(s, m, zmax, boundedFrom)));
}

/**
 * One group of m rows with heavy tails: I = 1000·g·(1 + 0.05·Cauchy), σ² in [100, 200), g in [0.5, 1.5), every tenth
 * row a copy of the one before (exact ties), as rows from one still in one voxel can be.
 */
function heavyGroup(m: number): Rows {
  const r = seededRandom(m + 1);
  const intensity = new Float64Array(m);
  const variance = new Float64Array(m);
  const g = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    if (i % 10 === 9) {
      intensity[i] = intensity[i - 1];
      variance[i] = variance[i - 1];
      g[i] = g[i - 1];
      continue;
    }
    g[i] = 0.5 + r();
    variance[i] = 100 * (1 + r());
    intensity[i] = g[i] * 1000 * (1 + 0.05 * Math.tan(Math.PI * (r() - 0.5)));
  }
  return { intensity, variance, g };
}

/** The largest z of the remaining rows after rejection, from sums taken afresh (DIALS's test of the next pass). */
function largestRemainingZ(rows: Rows, outliers: Int32Array): number {
  const m = rows.intensity.length;
  const out = new Uint8Array(m);
  for (const o of outliers) out[o] = 1;
  const w = Float64Array.from(rows.variance, (v) => 1 / v);
  const sorted = w.slice().sort();
  const median = m % 2 === 1 ? sorted[m >> 1] : (sorted[(m >> 1) - 1] + sorted[m >> 1]) / 2;
  for (let i = 0; i < m; i++) w[i] = Math.min(w[i], 10 * median);
  let sumI = 0;
  let sum2 = 0;
  for (let i = 0; i < m; i++) {
    if (out[i] === 1) continue;
    sumI += w[i] * rows.g[i] * rows.intensity[i];
    sum2 += w[i] * rows.g[i] * rows.g[i];
  }
  let largest = 0;
  for (let i = 0; i < m; i++) {
    if (out[i] === 1) continue;
    const gi = rows.g[i];
    const others2 = sum2 - w[i] * gi * gi;
    const othersI = sumI - w[i] * gi * rows.intensity[i];
    const z = Math.abs((rows.intensity[i] - (gi * othersI) / others2) / Math.sqrt(1 / w[i] + (gi * gi) / others2));
    largest = Math.max(largest, z);
  }
  return largest;
}

function grouped(rows: Rows, zmax = 6): Int32Array {
  const m = rows.intensity.length;
  return rejectOutliersStandardGrouped(
    { groupStart: Int32Array.of(0, m), intensity: rows.intensity, variance: rows.variance },
    new Uint8Array(m).fill(1),
    rows.g,
    { zmax },
  );
}

function general(rows: Rows, zmax = 6): Int32Array {
  const m = rows.intensity.length;
  return rejectOutliersStandard(
    {
      nGroups: 1,
      groupIndex: new Int32Array(m),
      intensity: rows.intensity,
      variance: rows.variance,
      inverseScale: rows.g,
    },
    { zmax },
  );
}

/** Runs f and returns its result and its duration in ms. */
function timed<T>(f: () => T): [T, number] {
  const t0 = performance.now();
  const result = f();
  return [result, performance.now() - t0];
}

const BOUND_MS = 10_000;

/** What the row-by-row passes give on `heavyGroup(200_000)`, zmax 6 (computed once; the bounded passes must agree). */
const HEAVY_200K_COUNT = 75446;
const HEAVY_200K_CHECKSUM = -310826254;

describe("standard outlier rejection on large groups", () => {
  it("one group of 8 000 rows with a few planted outliers", () => {
    const planted = [17, 1234, 4000, 7997];
    const rows = oneGroup(8000, "planted", planted);
    const [fast, ms] = timed(() => grouped(rows));
    expect(ms).toBeLessThan(BOUND_MS);
    expect(Array.from(fast)).toEqual(planted);
    const [dials, msGeneral] = timed(() => general(rows));
    expect(msGeneral).toBeLessThan(BOUND_MS);
    const zeros = new Int32Array(8000);
    expect(Array.from(dials)).toEqual(referenceStandard(zeros, 1, rows.intensity, rows.variance, rows.g, 6));
  });

  it("one group of 8 000 rows where nearly every pass rejects a row", () => {
    const rows = oneGroup(8000, "spread");
    const [fast, ms] = timed(() => grouped(rows));
    expect(ms).toBeLessThan(BOUND_MS);
    const [dials, msGeneral] = timed(() => general(rows));
    expect(msGeneral).toBeLessThan(BOUND_MS);
    // the count and DIALS-order checksum that the round-by-round implementation gives on these rows
    expect(dials.length).toBe(7983);
    expect(checksum(dials)).toBe(-78604117);
    expect(Array.from(fast)).toEqual(Array.from(dials).sort((a, b) => a - b));
  });

  it("one group of 100 000 rows where nearly every pass rejects a row (10⁵ passes) in bounded time", () => {
    // row by row: 10⁵ passes over up to 10⁵ rows (5·10⁹ z's, minutes); the tournaments take O(log m) a pass
    const rows = oneGroup(100_000, "spread");
    const [fast, ms] = timed(() => grouped(rows));
    expect(ms).toBeLessThan(BOUND_MS);
    // the count and ascending-order checksum that the earlier bounded passes (z-sorted candidates) give on these rows
    expect(fast.length).toBe(99821);
    expect(checksum(fast)).toBe(1729090660);
    expect(largestRemainingZ(rows, fast)).toBeLessThanOrEqual(6);
  });

  it("one group of 20 000 rows with a thousand outliers (a thousand passes)", () => {
    const planted = Array.from({ length: 1000 }, (_, k) => 20 * k + 7);
    const rows = oneGroup(20_000, "planted", planted);
    const r = seededRandom(5);
    // outliers of different sizes, so that the order of rejection matters
    for (const p of planted) rows.intensity[p] = rows.g[p] * 1000 + 10 * (60 + 1000 * r());
    const [fast, ms] = timed(() => grouped(rows));
    expect(ms).toBeLessThan(BOUND_MS);
    const [dials, msGeneral] = timed(() => general(rows));
    expect(msGeneral).toBeLessThan(BOUND_MS);
    const reference = referenceStandard(new Int32Array(20_000), 1, rows.intensity, rows.variance, rows.g, 6);
    expect(Array.from(dials)).toEqual(reference);
    expect(Array.from(fast)).toEqual([...reference].sort((a, b) => a - b));
    expect(fast.length).toBeGreaterThanOrEqual(planted.length);
  });
});

describe("bounded passes against the row-by-row passes", () => {
  it("6 000 rows with heavy tails and exact ties: the same outliers in the same pass order, at several zmax", () => {
    const rows = heavyGroup(6000);
    const all = [...Array(6000).keys()];
    for (const zmax of [3, 6, 20]) {
      const [bounded, ms] = timed(() => groupPasses(rows, all, zmax, 64));
      expect(ms).toBeLessThan(BOUND_MS);
      expect(bounded).toEqual(groupPasses(rows, all, zmax, Infinity));
      expect(bounded.length).toBeGreaterThan(300);
    }
  });

  it("float32 columns: the same outliers as row by row", () => {
    const rows = heavyGroup(5000);
    const f32 = {
      intensity: Float32Array.from(rows.intensity),
      variance: Float32Array.from(rows.variance),
      g: Float32Array.from(rows.g),
    };
    const all = [...Array(5000).keys()];
    const bounded = groupPasses(f32, all, 6, 64);
    expect(bounded).toEqual(groupPasses(f32, all, 6, Infinity));
    expect(bounded.length).toBeGreaterThan(1000);
  });

  it("one group of 200 000 rows with heavy tails (75 000 outliers) in bounded time", () => {
    const rows = heavyGroup(200_000);
    const [outliers, ms] = timed(() => grouped(rows));
    expect(ms).toBeLessThan(BOUND_MS);
    // the count and ascending-order checksum that the row-by-row passes give on these rows (19 minutes to compute)
    expect(outliers.length).toBe(HEAVY_200K_COUNT);
    expect(checksum(outliers)).toBe(HEAVY_200K_CHECKSUM);
    // and DIALS's next pass would find nothing more
    expect(largestRemainingZ(rows, outliers)).toBeLessThanOrEqual(6);
  });
});

/** Small groups (≤ 60 rows) with many ties: values drawn from short lists, plus arbitrary doubles. */
const arbCase = fc
  .record({
    sizes: fc.array(fc.integer({ min: 0, max: 60 }), { minLength: 1, maxLength: 4 }),
    zmax: fc.constantFrom(0.5, 1.5, 3, 6),
    float32: fc.boolean(),
  })
  .chain(({ sizes, zmax, float32 }) => {
    const n = sizes.reduce((a, b) => a + b, 0);
    const row = fc.record({
      intensity: fc.oneof(fc.constantFrom(0, 1, 10, 20, 400, 500, -5), fc.double({ min: -100, max: 1e4, noNaN: true })),
      variance: fc.oneof(fc.constantFrom(1, 2, 0.5, 100), fc.double({ min: 0.01, max: 1e3, noNaN: true })),
      g: fc.oneof(fc.constantFrom(1, 0.5, 2), fc.double({ min: 0.05, max: 5, noNaN: true })),
      usable: fc.integer({ min: 0, max: 9 }).map((u) => (u === 0 ? 0 : 1)),
    });
    return fc.record({
      sizes: fc.constant(sizes),
      zmax: fc.constant(zmax),
      float32: fc.constant(float32),
      rows: fc.array(row, { minLength: n, maxLength: n }),
    });
  });

describe("standard outlier kernel against the round-by-round reference", () => {
  it("gives the same outliers (and DIALS order) as the reference on small groups with ties", () => {
    fc.assert(
      fc.property(arbCase, ({ sizes, zmax, float32, rows }) => {
        const nGroups = sizes.length;
        const groupStart = new Int32Array(nGroups + 1);
        for (let h = 0; h < nGroups; h++) groupStart[h + 1] = groupStart[h] + sizes[h];
        const groupOf = new Int32Array(rows.length);
        for (let h = 0; h < nGroups; h++) groupOf.fill(h, groupStart[h], groupStart[h + 1]);
        const column = (value: (r: (typeof rows)[number]) => number): Float32Array | Float64Array =>
          float32 ? Float32Array.from(rows, value) : Float64Array.from(rows, value);
        const intensity = column((r) => r.intensity);
        const variance = column((r) => r.variance);
        const g = column((r) => r.g);
        const usable = Uint8Array.from(rows, (r) => r.usable);

        // all rows, with the groups interleaved, in the general entry point
        const all = referenceStandard(groupOf, nGroups, intensity, variance, g, zmax);
        const n = rows.length;
        // i ↦ 7919·i mod n is a permutation (7919 is a prime above any n here)
        const at = new Int32Array(n);
        for (let i = 0; i < n; i++) at[(i * 7919) % n] = i;
        const shuffled = {
          nGroups,
          groupIndex: Int32Array.from(at, (i) => groupOf[i]),
          intensity: Float64Array.from(at, (i) => intensity[i]),
          variance: Float64Array.from(at, (i) => variance[i]),
          inverseScale: Float64Array.from(at, (i) => g[i]),
        };
        const expectShuffled = referenceStandard(
          shuffled.groupIndex,
          nGroups,
          shuffled.intensity,
          shuffled.variance,
          shuffled.inverseScale,
          zmax,
        );
        expect(Array.from(rejectOutliersStandard(shuffled, { zmax }))).toEqual(expectShuffled);
        expect(
          Array.from(
            rejectOutliersStandard(
              {
                nGroups,
                groupIndex: groupOf,
                intensity: Float64Array.from(intensity),
                variance: Float64Array.from(variance),
                inverseScale: Float64Array.from(g),
              },
              { zmax },
            ),
          ),
        ).toEqual(all);

        // usable rows only, stored group by group
        const kept = [...Array(n).keys()].filter((i) => usable[i] === 1);
        const expectUsable = referenceStandard(
          kept.map((i) => groupOf[i]),
          nGroups,
          kept.map((i) => intensity[i]),
          kept.map((i) => variance[i]),
          kept.map((i) => g[i]),
          zmax,
        )
          .map((k) => kept[k])
          .sort((a, b) => a - b);
        const columns = { groupStart, intensity, variance };
        expect(Array.from(rejectOutliersStandardGrouped(columns, usable, g, { zmax }))).toEqual(expectUsable);

        // a range of groups on a view of the rows (as a shard sees them)
        const begin = nGroups > 1 ? 1 : 0;
        const lo = groupStart[begin];
        const hi = groupStart[nGroups];
        const flags = new Uint8Array(hi - lo);
        standardGroupedOutliersInRange(
          groupStart,
          intensity.subarray(lo, hi),
          variance.subarray(lo, hi),
          usable.subarray(lo, hi),
          g.subarray(lo, hi),
          zmax,
          begin,
          nGroups,
          flags,
          lo,
        );
        const inRange = [...flags.keys()].filter((t) => flags[t] === 1).map((t) => t + lo);
        expect(inRange).toEqual(expectUsable.filter((o) => o >= lo));

        // the bounded passes on every group (however small), in pass order, against the reference on that group
        const bounded = new Uint8Array(n);
        standardGroupedOutliersInRange(groupStart, intensity, variance, usable, g, zmax, 0, nGroups, bounded, 0, 3);
        expect([...bounded.keys()].filter((o) => bounded[o] === 1)).toEqual(expectUsable);
        for (let h = 0; h < nGroups; h++) {
          const members = kept.filter((o) => groupOf[o] === h);
          const reference = referenceStandard(
            new Int32Array(members.length),
            1,
            members.map((o) => intensity[o]),
            members.map((o) => variance[o]),
            members.map((o) => g[o]),
            zmax,
          ).map((k) => members[k]);
          expect(groupPasses({ intensity, variance, g }, members, zmax, 3)).toEqual(reference);
        }
      }),
      { seed: 20261202, numRuns: 400 },
    );
  });
});
