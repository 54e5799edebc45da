import { describe, it, expect } from "vitest";
import fc from "fast-check";
import {
  medianInPlace,
  rejectOutliersStandard,
  rejectOutliersStandardGrouped,
} from "../../src/dials/outlier-rejection.ts";
import { ConfigError } from "../../src/errors.ts";

/** Grouped storage: rows of group h at groupStart[h]..groupStart[h+1]. */
interface Stored {
  groupStart: Int32Array;
  intensity: Float32Array | Float64Array;
  variance: Float32Array | Float64Array;
  g: Float64Array;
  usable: Uint8Array;
}

/** The usable rows in storage order as the input of the general `rejectOutliersStandard`, plus their storage rows. */
function compacted(s: Stored) {
  const rows: number[] = [];
  const group: number[] = [];
  const nGroups = s.groupStart.length - 1;
  for (let h = 0; h < nGroups; h++) {
    for (let o = s.groupStart[h]; o < s.groupStart[h + 1]; o++) {
      if (s.usable[o] === 0) continue;
      rows.push(o);
      group.push(h);
    }
  }
  return {
    rows,
    obs: {
      nGroups,
      groupIndex: Int32Array.from(group),
      intensity: Float64Array.from(rows, (o) => s.intensity[o]),
      variance: Float64Array.from(rows, (o) => s.variance[o]),
      inverseScale: Float64Array.from(rows, (o) => s.g[o]),
    },
  };
}

function viaGeneral(s: Stored, zmax: number): number[] {
  const { rows, obs } = compacted(s);
  return Array.from(rejectOutliersStandard(obs, { zmax }), (i) => rows[i]).sort((a, b) => a - b);
}

function medianBySort(values: number[]): number {
  const sorted = Float64Array.from(values).sort();
  const k = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[k] : (sorted[k - 1] + sorted[k]) / 2;
}

describe("rejectOutliersStandardGrouped", () => {
  it("DIALS test_outlier_rejection.py table: rejects rows 4, 7, 8, 9 (stored group by group)", () => {
    // generate_outlier_table: groups (0,0,1) rows 0-4, (0,0,2) rows 5-9, (0,0,3) row 10 (I 10), (0,0,23) row 11
    const s: Stored = {
      groupStart: Int32Array.of(0, 5, 10, 11, 12),
      intensity: Float64Array.of(1, 1, 1, 1, 20, 1, 1, 20, 400, 500, 10, 10),
      variance: new Float64Array(12).fill(1),
      g: new Float64Array(12).fill(1),
      usable: new Uint8Array(12).fill(1),
    };
    expect(Array.from(rejectOutliersStandardGrouped(s, s.usable, s.g, { zmax: 6 }))).toEqual([4, 7, 8, 9]);
    // rows left out of the rejection (weight 0 in the refinement) are neither tested nor part of any group sum
    const usable = s.usable.slice();
    usable[9] = 0;
    expect(Array.from(rejectOutliersStandardGrouped(s, usable, s.g, { zmax: 6 }))).toEqual(
      viaGeneral({ ...s, usable }, 6),
    );
  });

  it("equals rejectOutliersStandard on the usable rows (float64 and float32 columns, large groups, ties)", () => {
    const arb = fc
      .array(
        fc.record({
          size: fc.integer({ min: 0, max: 70 }),
          mean: fc.double({ min: 1, max: 300, noNaN: true }),
          // few distinct variances: many equal weights (ties in the median and in the caps)
          varianceLevel: fc.integer({ min: 0, max: 3 }),
          seed: fc.integer({ min: 1, max: 2 ** 30 }),
        }),
        { minLength: 1, maxLength: 8 },
      )
      .chain((groups) => fc.tuple(fc.constant(groups), fc.boolean(), fc.double({ min: 1, max: 8, noNaN: true })));
    fc.assert(
      fc.property(arb, ([groups, single, zmax]) => {
        const n = groups.reduce((t, gr) => t + gr.size, 0);
        const groupStart = new Int32Array(groups.length + 1);
        const intensity = single ? new Float32Array(n) : new Float64Array(n);
        const variance = single ? new Float32Array(n) : new Float64Array(n);
        const g = new Float64Array(n);
        const usable = new Uint8Array(n);
        let o = 0;
        groups.forEach((gr, h) => {
          let x = gr.seed;
          const next = (): number => {
            x = (Math.imul(x, 1103515245) + 12345) >>> 0;
            return x / 2 ** 32;
          };
          for (let k = 0; k < gr.size; k++, o++) {
            const v = [0.5, 1, 4, 0.01][(gr.varianceLevel + Math.floor(next() * 2)) % 4];
            g[o] = 0.5 + next();
            // mostly consistent data with a few gross outliers
            const outlier = next() < 0.08 ? 50 * gr.mean * (next() - 0.3) : 0;
            intensity[o] = g[o] * gr.mean + Math.sqrt(v) * (next() - 0.5) * 3 + outlier;
            variance[o] = v;
            usable[o] = next() < 0.9 ? 1 : 0;
          }
          groupStart[h + 1] = o;
        });
        const s: Stored = { groupStart, intensity, variance, g, usable };
        const grouped = Array.from(rejectOutliersStandardGrouped(s, usable, g, { zmax }));
        return grouped.join() === viaGeneral(s, zmax).join();
      }),
      { seed: 42, numRuns: 250 },
    );
  });

  it("finds outliers in a group larger than the insertion-sort threshold", () => {
    const m = 101;
    const s: Stored = {
      groupStart: Int32Array.of(0, m),
      intensity: Float64Array.from({ length: m }, (_, i) => 100 + (i % 7) - 3),
      variance: Float64Array.from({ length: m }, (_, i) => 1 + (i % 5)),
      g: new Float64Array(m).fill(1),
      usable: new Uint8Array(m).fill(1),
    };
    s.intensity[17] = 400;
    s.intensity[60] = -300;
    const found = Array.from(rejectOutliersStandardGrouped(s, s.usable, s.g));
    expect(found).toEqual([17, 60]);
    expect(found).toEqual(viaGeneral(s, 6));
  });

  it("caps weights exactly as the general path when the largest weight is near 10 × the smallest", () => {
    // the grouped path skips the median when max weight ≤ 10 × min weight (no cap possible): around that edge, and far
    // beyond it (where the cap decides the outliers: uncapped, rows 4 and 5 would be rejected), the outliers equal those
    // of rejectOutliersStandard, which always takes the median
    const group = (ratio: number): Stored => ({
      groupStart: Int32Array.of(0, 6),
      intensity: Float64Array.of(100, 101, 99, 100, 102, 99),
      variance: Float64Array.of(1, 1, 1, 1, 1, 1 / ratio),
      g: new Float64Array(6).fill(1),
      usable: new Uint8Array(6).fill(1),
    });
    for (const ratio of [9.999, 10, 10.001, 11, 1000]) {
      for (const zmax of [1, 1.5, 2, 3]) {
        const s = group(ratio);
        expect(Array.from(rejectOutliersStandardGrouped(s, s.usable, s.g, { zmax }))).toEqual(viaGeneral(s, zmax));
      }
    }
    const s = group(1000);
    expect(Array.from(rejectOutliersStandardGrouped(s, s.usable, s.g, { zmax: 1.5 }))).toEqual([1, 4]);
  });

  it("rejects malformed input with ConfigError", () => {
    const s: Stored = {
      groupStart: Int32Array.of(0, 3),
      intensity: Float64Array.of(1, 2, 3),
      variance: Float64Array.of(1, 1, 1),
      g: Float64Array.of(1, 1, 1),
      usable: Uint8Array.of(1, 1, 1),
    };
    expect(() => rejectOutliersStandardGrouped({ ...s, groupStart: Int32Array.of(0, 2) }, s.usable, s.g)).toThrow(
      ConfigError,
    );
    expect(() => rejectOutliersStandardGrouped({ ...s, groupStart: Int32Array.of(0, 3, 2, 3) }, s.usable, s.g)).toThrow(
      ConfigError,
    );
    expect(() => rejectOutliersStandardGrouped(s, Uint8Array.of(1, 1), s.g)).toThrow(ConfigError);
    expect(() => rejectOutliersStandardGrouped(s, s.usable, Float64Array.of(1))).toThrow(ConfigError);
    expect(() => rejectOutliersStandardGrouped({ ...s, variance: Float64Array.of(1, 0, 1) }, s.usable, s.g)).toThrow(
      /row 1/,
    );
    // an unusable row's variance is not read
    expect(
      rejectOutliersStandardGrouped({ ...s, variance: Float64Array.of(1, 0, 1) }, Uint8Array.of(1, 0, 1), s.g).length,
    ).toBe(0);
    expect(() => rejectOutliersStandardGrouped(s, s.usable, s.g, { zmax: -1 })).toThrow(ConfigError);
  });
});

describe("medianInPlace", () => {
  it("equals the median of a full sort (odd and even counts, ties, sizes across the selection threshold)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: -5, max: 5 }), fc.double({ min: -1e3, max: 1e3, noNaN: true })), {
          minLength: 1,
          maxLength: 300,
        }),
        (values) => {
          const buf = Float64Array.from(values);
          return Object.is(medianInPlace(buf, buf.length), medianBySort(values));
        },
      ),
      { seed: 42, numRuns: 400 },
    );
  });

  it("uses only the first n values and sorts NaN last like a typed-array sort", () => {
    expect(medianInPlace(Float64Array.of(3, 1, 2, 100, 100), 3)).toBe(2);
    expect(medianInPlace(Float64Array.of(1, Number.NaN, 3), 3)).toBe(3);
  });
});
