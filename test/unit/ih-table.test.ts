import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { IhTable } from "../../src/dials/ih-table.ts";
import type { IhTableDataset } from "../../src/dials/ih-table.ts";
import { SpaceGroup } from "../../src/symmetry/space-group.ts";
import { ConfigError } from "../../src/errors.ts";

// Expected values: dials/dials tests/algorithms/scaling/test_Ih_table.py (space group "C 2y").
const c2 = SpaceGroup.fromHall(" C 2y");

function dataset(
  hkl: number[][],
  intensity: number[],
  variance: number[],
  g?: number[],
  indices?: number[],
): IhTableDataset {
  const d: IhTableDataset = {
    millerIndex: Int32Array.from(hkl.flat()),
    intensity: Float64Array.from(intensity),
    variance: Float64Array.from(variance),
  };
  if (g !== undefined) d.inverseScaleFactor = Float64Array.from(g);
  if (indices !== undefined) d.indices = Int32Array.from(indices);
  return d;
}

function select<T>(xs: T[], idx: number[]): T[] {
  return idx.map((i) => xs[i]);
}

// generate_refl_1 / generate_refl_2
const hkl1 = [
  [1, 0, 0],
  [0, 0, 1],
  [-1, 0, 0],
  [0, 2, 0],
  [0, 4, 0],
  [0, 0, -2],
  [0, 0, 2],
];
const I1 = [100, 100, 80, 60, 30, 40, 60];
const V1 = [90, 100, 90, 60, 30, 50, 50];
const hkl2 = [
  [1, 0, 0],
  [0, 4, 0],
  [10, 0, 0],
  [0, 4, 0],
];
const I2 = [60, 30, 10, 30];
const V2 = [60, 30, 10, 30];
const sel1 = [0, 1, 2, 3, 4, 5];
const sel2 = [0, 2, 3];

function twoDatasets(): IhTableDataset[] {
  return [
    dataset(select(hkl1, sel1), select(I1, sel1), select(V1, sel1), Array(6).fill(2) as number[], sel1),
    dataset(select(hkl2, sel2), select(I2, sel2), select(V2, sel2), Array(3).fill(2) as number[], sel2),
  ];
}

/** Per-row (row, group) pairs of a block, the h_index_matrix non-zeros. */
function hIndex(groupIndex: Int32Array): number[][] {
  return Array.from(groupIndex, (g, i) => [i, g]);
}

function asuRows(asu: Int32Array): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < asu.length; i += 3) out.push([asu[i], asu[i + 1], asu[i + 2]]);
  return out;
}

describe("IhTable (DIALS test_Ih_table.py)", () => {
  it("computes Ih = var/2 and nh for one dataset with g = 2", () => {
    const t = new IhTable([dataset(hkl1, I1, V1, Array(7).fill(2) as number[])], c2);
    expect(t.blocks.length).toBe(1);
    const b = t.blocks[0];
    expect(b.size).toBe(7);
    expect(b.nGroups).toBe(5);
    const expectedIh = V1.map((v) => v / 2);
    const expectedNh = [2, 1, 2, 1, 1, 2, 2];
    const nh = b.calcNh();
    for (let k = 0; k < b.size; k++) {
      const row = b.locIndices[k];
      expect(b.IhValues[k]).toBeCloseTo(expectedIh[row], 10);
      expect(nh[k]).toBe(expectedNh[row]);
      expect(b.weights[k]).toBeCloseTo(1 / V1[row], 15);
    }
    // rows in stable sorted ASU order
    expect(Array.from(b.locIndices)).toEqual([1, 5, 6, 3, 4, 0, 2]);
    expect(asuRows(b.asuMillerIndex)).toEqual([
      [0, 0, 1],
      [0, 0, 2],
      [0, 0, 2],
      [0, 2, 0],
      [0, 4, 0],
      [1, 0, 0],
      [1, 0, 0],
    ]);
  });

  it("applies error-model weights 1/(a²(σ²+(bI)²)) with the raw intensity", () => {
    const t = new IhTable([dataset(hkl1, I1, V1, Array(7).fill(2) as number[])], c2);
    t.updateErrorModel(1.5, 0.1);
    const b = t.blocks[0];
    for (let k = 0; k < b.size; k++) {
      const row = b.locIndices[k];
      expect(b.weights[k]).toBeCloseTo(1 / (2.25 * (V1[row] + (0.1 * I1[row]) ** 2)), 15);
    }
  });

  it("select and selectOnGroups keep Ih and renumber groups", () => {
    const t = new IhTable([dataset(hkl1, I1, V1, Array(7).fill(2) as number[])], c2);
    const b = t.blocks[0]; // groups: (0,0,1) (0,0,2) (0,2,0) (0,4,0) (1,0,0)
    const byGroups = b.selectOnGroups(Uint8Array.from([0, 0, 0, 1, 1]));
    expect(Array.from(byGroups.blockSelections[0])).toEqual([4, 0, 2]);
    expect(byGroups.nGroups).toBe(2);
    expect(hIndex(byGroups.groupIndex)).toEqual([
      [0, 0],
      [1, 1],
      [2, 1],
    ]);
    expect(Array.from(byGroups.IhValues)).toEqual([15, 45, 45]);
    const byRows = b.select(Uint8Array.from([0, 0, 0, 0, 1, 1, 0]));
    expect(Array.from(byRows.blockSelections[0])).toEqual([4, 0]);
    expect(byRows.nGroups).toBe(2);
    byRows.calcIh();
    expect(byRows.IhValues[0]).toBeCloseTo(15, 12);
    expect(byRows.IhValues[1]).toBeCloseTo(50, 12); // 100/2
    expect(() => b.select(new Uint8Array(3))).toThrow(ConfigError);
  });

  it("splits two datasets into two blocks (test_IhTable_split_into_blocks)", () => {
    const t = new IhTable(twoDatasets(), c2, { nBlocks: 2 });
    expect(t.blocks.length).toBe(2);
    expect(t.freeBlock).toBeUndefined();
    expect(t.size).toBe(9);
    expect(t.nGroups).toBe(6);
    const [b0, b1] = t.blocks;
    expect(asuRows(b0.asuMillerIndex)).toEqual([
      [0, 0, 1],
      [0, 0, 2],
      [0, 2, 0],
    ]);
    expect(asuRows(b1.asuMillerIndex)).toEqual([
      [0, 4, 0],
      [1, 0, 0],
      [1, 0, 0],
      [0, 4, 0],
      [1, 0, 0],
      [10, 0, 0],
    ]);
    expect(Array.from(b0.blockSelections[0])).toEqual([1, 5, 3]);
    expect(Array.from(b0.blockSelections[1])).toEqual([]);
    expect(Array.from(b1.blockSelections[0])).toEqual([4, 0, 2]);
    expect(Array.from(b1.blockSelections[1])).toEqual([3, 0, 2]);
    expect(t.getBlockSelectionsForDataset(1).map((s) => Array.from(s))).toEqual([[], [3, 0, 2]]);
    expect(() => t.getBlockSelectionsForDataset(2)).toThrow(ConfigError);
    expect(hIndex(b0.groupIndex)).toEqual([
      [0, 0],
      [1, 1],
      [2, 2],
    ]);
    expect(hIndex(b1.groupIndex)).toEqual([
      [0, 0],
      [1, 1],
      [2, 1],
      [3, 0],
      [4, 1],
      [5, 2],
    ]);
    const s = Float64Array.from([1, 2, 3, 4, 5, 6]);
    expect(Array.from(b1.sumInGroups(s, "per_group"))).toEqual([5, 10, 6]);
    expect(Array.from(b1.sumInGroups(s, "per_refl"))).toEqual([5, 10, 10, 5, 10, 6]);
    expect(() => b1.sumInGroups(s, "invalid" as "per_group")).toThrow(ConfigError);
  });

  it("extracts a 50 % free set with offset 0 (test_IhTable_freework)", () => {
    const t = new IhTable(twoDatasets(), c2, { nBlocks: 2, freeSetPercentage: 50 });
    expect(t.blocks.length).toBe(2);
    const free = t.freeBlock;
    expect(free).toBeDefined();
    if (free === undefined) return;
    const [b0, b1] = t.blocks;
    expect(hIndex(b0.groupIndex)).toEqual([[0, 0]]);
    expect(hIndex(b1.groupIndex)).toEqual([
      [0, 0],
      [1, 0],
      [2, 1],
    ]);
    expect(hIndex(free.groupIndex)).toEqual([
      [0, 0],
      [1, 1],
      [2, 2],
      [3, 2],
      [4, 2],
    ]);
    expect(t.getBlockSelectionsForDataset(0).map((s) => Array.from(s))).toEqual([[5], [4], [1, 3, 0, 2]]);
    expect(t.getBlockSelectionsForDataset(1).map((s) => Array.from(s))).toEqual([[], [3, 2], [0]]);
    t.updateErrorModel(Math.SQRT1_2, 0);
    for (const b of t.allBlocks)
      b.weights.forEach((w, k) => {
        expect(w).toBeCloseTo(2 / b.variance[k], 14);
      });
  });

  it("extracts a 50 % free set with offset 1", () => {
    const t = new IhTable(twoDatasets(), c2, { nBlocks: 2, freeSetPercentage: 50, freeSetOffset: 1 });
    const free = t.freeBlock;
    if (free === undefined) throw new Error("free block missing");
    const [b0, b1] = t.blocks;
    expect(hIndex(b0.groupIndex)).toEqual([
      [0, 0],
      [1, 1],
    ]);
    expect(hIndex(b1.groupIndex)).toEqual([
      [0, 0],
      [1, 0],
      [2, 0],
    ]);
    expect(hIndex(free.groupIndex)).toEqual([
      [0, 0],
      [1, 1],
      [2, 1],
      [3, 2],
    ]);
    expect(b0.blockSelections.map((s) => Array.from(s))).toEqual([[1, 3], []]);
    expect(b1.blockSelections.map((s) => Array.from(s))).toEqual([[0, 2], [0]]);
    expect(free.blockSelections.map((s) => Array.from(s))).toEqual([
      [5, 4],
      [3, 2],
    ]);
    expect(asuRows(free.asuMillerIndex)).toEqual([
      [0, 0, 2],
      [0, 4, 0],
      [0, 4, 0],
      [10, 0, 0],
    ]);
  });

  it("computes Ih per block across datasets (test_set_Ih_values_to_target, before matching)", () => {
    const t1 = dataset(
      [
        [1, 0, 0],
        [2, 0, 0],
        [0, 0, 1],
        [2, 2, 2],
        [1, 0, 0],
        [2, 0, 0],
      ],
      [1, 2, 3, 4, 5, 6],
      Array(6).fill(1) as number[],
    );
    const t2 = dataset(
      [
        [2, 2, 2],
        [2, 0, 0],
        [0, 0, 1],
        [2, 2, 2],
        [1, 0, 0],
      ],
      [7, 8, 9, 10, 11],
      Array(5).fill(1) as number[],
    );
    const t = new IhTable([t1, t2], c2, { nBlocks: 2 });
    const expected0 = [6, 17 / 3, 17 / 3, 6, 17 / 3];
    const expected1 = [16 / 3, 16 / 3, 7, 16 / 3, 7, 7];
    expect(t.blocks[0].size).toBe(5);
    expect(t.blocks[1].size).toBe(6);
    expected0.forEach((v, k) => {
      expect(t.blocks[0].IhValues[k]).toBeCloseTo(v, 12);
    });
    expected1.forEach((v, k) => {
      expect(t.blocks[1].IhValues[k]).toBeCloseTo(v, 12);
    });
  });

  it("matches Ih values to a target table (test_set_Ih_values_to_target)", () => {
    const hklA = [
      [1, 0, 0],
      [2, 0, 0],
      [0, 0, 1],
      [2, 2, 2],
      [1, 0, 0],
      [2, 0, 0],
    ];
    const hklB = [
      [2, 2, 2],
      [2, 0, 0],
      [0, 0, 1],
      [2, 2, 2],
      [1, 0, 0],
    ];
    const ones = (n: number): number[] => Array(n).fill(1) as number[];
    const t = new IhTable([dataset(hklA, [1, 2, 3, 4, 5, 6], ones(6)), dataset(hklB, [7, 8, 9, 10, 11], ones(5))], c2, {
      nBlocks: 2,
    });
    // the target: the (2,0,0) reflections changed to (4,0,0)
    const tA = hklA.map((h, i) => (i === 1 || i === 5 ? [4, 0, 0] : h));
    const tB = hklB.map((h, i) => (i === 1 ? [4, 0, 0] : h));
    const target = new IhTable([dataset(tA, [1, 2, 3, 4, 5, 6], ones(6)), dataset(tB, [7, 8, 9, 10, 11], ones(5))], c2);
    target.blocks[0].IhValues.set([0.1, 0.2, 0.2, 0.3, 0.3, 0.4, 0.1, 0.2, 0.3, 0.4, 0.4]);
    t.matchIhValuesToTarget(target);
    expect(Array.from(t.blocks[0].IhValues)).toEqual([0.1, 0.2, 0.2, 0.1, 0.2]);
    expect(Array.from(t.blocks[1].IhValues)).toEqual([0.4, 0.4, 0.4]);
    expect(t.blocks[1].blockSelections.map((s) => Array.from(s))).toEqual([[3], [0, 3]]);
  });

  it("guards Σwg² = 0 (dials/dials#2974) with Ih = 0", () => {
    const t = new IhTable([dataset(hkl1, I1, V1, Array(7).fill(0) as number[])], c2);
    for (const v of t.blocks[0].IhValues) expect(v).toBe(0);
  });

  it("rejects bad input", () => {
    expect(() => new IhTable([dataset(hkl1, I1, [1, 1, 1, 1, 1, 1, 0])], c2)).toThrow(ConfigError);
    expect(() => new IhTable([dataset([], [], [])], c2)).toThrow(ConfigError);
    expect(() => new IhTable([dataset(hkl1, I1, V1)], c2, { nBlocks: 0 })).toThrow(ConfigError);
  });
});

describe("IhTable invariants (property)", () => {
  const p4 = SpaceGroup.fromHall(" P 4 2");
  const hklArb = fc.tuple(
    fc.integer({ min: -3, max: 3 }),
    fc.integer({ min: -3, max: 3 }),
    fc.integer({ min: -3, max: 3 }),
  );
  const rowArb = fc.record({
    hkl: hklArb,
    I: fc.double({ min: -10, max: 1000, noNaN: true }),
    V: fc.double({ min: 0.1, max: 100, noNaN: true }),
    g: fc.double({ min: 0.2, max: 5, noNaN: true }),
  });
  const datasetsArb = fc.array(fc.array(rowArb, { minLength: 0, maxLength: 25 }), { minLength: 1, maxLength: 4 });

  it("keeps every row once, groups whole, rows dataset-major and sorted, and Ih the weighted mean", () => {
    fc.assert(
      fc.property(datasetsArb, fc.integer({ min: 1, max: 4 }), (raw, nBlocks) => {
        const total = raw.reduce((s, d) => s + d.length, 0);
        fc.pre(total > 0);
        const ds = raw.map((rows) =>
          dataset(
            rows.map((r) => [r.hkl[0], r.hkl[1], r.hkl[2]]),
            rows.map((r) => r.I),
            rows.map((r) => r.V),
            rows.map((r) => r.g),
          ),
        );
        const t = new IhTable(ds, p4, { nBlocks });
        const asus = ds.map((d) => p4.mapToAsuBatch(d.millerIndex));
        const key = (a: Int32Array, i: number): string => `${a[3 * i]},${a[3 * i + 1]},${a[3 * i + 2]}`;
        // brute-force Ih per ASU index
        const num = new Map<string, number>();
        const den = new Map<string, number>();
        raw.forEach((rows, d) => {
          rows.forEach((r, i) => {
            const k = key(asus[d], i);
            num.set(k, (num.get(k) ?? 0) + (r.g * r.I) / r.V);
            den.set(k, (den.get(k) ?? 0) + (r.g * r.g) / r.V);
          });
        });
        const seen = raw.map((rows) => new Uint8Array(rows.length));
        const blockOfKey = new Map<string, number>();
        let size = 0;
        t.blocks.forEach((b, bi) => {
          size += b.size;
          for (let i = 0; i < b.size; i++) {
            const d = b.datasetId[i];
            const row = b.locIndices[i];
            expect(seen[d][row]).toBe(0);
            seen[d][row] = 1;
            expect(b.intensity[i]).toBe(raw[d][row].I);
            const k = key(b.asuMillerIndex, i);
            expect(k).toBe(key(asus[d], row));
            expect(blockOfKey.get(k) ?? bi).toBe(bi);
            blockOfKey.set(k, bi);
            const ih = (num.get(k) ?? 0) / (den.get(k) ?? 1);
            expect(Math.abs(b.IhValues[i] - ih)).toBeLessThanOrEqual(1e-9 * (1 + Math.abs(ih)));
            if (i > 0) {
              const dPrev = b.datasetId[i - 1];
              expect(dPrev).toBeLessThanOrEqual(d);
              if (dPrev === d) {
                const a = b.asuMillerIndex;
                const cmp = a[3 * i - 3] - a[3 * i] || a[3 * i - 2] - a[3 * i + 1] || a[3 * i - 1] - a[3 * i + 2];
                expect(cmp).toBeLessThanOrEqual(0);
                if (cmp === 0) expect(b.locIndices[i - 1]).toBeLessThan(row);
              }
            }
          }
          // group numbers follow sorted ASU order
          for (let i = 0; i < b.size; i++) {
            for (let j = 0; j < b.size; j++) {
              const same = key(b.asuMillerIndex, i) === key(b.asuMillerIndex, j);
              expect(b.groupIndex[i] === b.groupIndex[j]).toBe(same);
            }
          }
        });
        expect(size).toBe(total);
        expect(t.nGroups).toBe(num.size);
      }),
      { seed: 42, numRuns: 60 },
    );
  });
});
