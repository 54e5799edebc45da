import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { ConfigError, InputError } from "../../src/errors.ts";
import { selectReflectionsForScaling } from "../../src/dials/reflection-selection.ts";
import { ReflectionFlags } from "../../src/table/flags.ts";
import { ReflectionTable } from "../../src/table/reflection-table.ts";

const SUM = ReflectionFlags.integratedSum;

interface Row {
  id: number;
  flags: number;
  I: number;
  V: number;
  p: number;
  lp: number;
  qe: number;
  d: number;
  keep: boolean;
}

const rowArb: fc.Arbitrary<Row> = fc.record({
  id: fc.integer({ min: -1, max: 4 }),
  flags: fc.constantFrom(SUM, SUM, SUM, 0, SUM | ReflectionFlags.userExcludedInScaling),
  I: fc.double({ min: -200, max: 2000, noNaN: true }),
  V: fc.oneof(fc.double({ min: 0.1, max: 100, noNaN: true }), fc.constant(0)),
  p: fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.constant(0.4)),
  lp: fc.double({ min: 0.2, max: 2, noNaN: true }),
  qe: fc.oneof(fc.double({ min: 0.1, max: 1, noNaN: true }), fc.constant(0)),
  d: fc.double({ min: 0.5, max: 20, noNaN: true }),
  keep: fc.boolean(),
});

function tableOf(rows: readonly Row[]): ReflectionTable {
  const n = rows.length;
  const t = new ReflectionTable(n);
  t.setColumn("id", { type: "int", data: Int32Array.from(rows, (r) => r.id) });
  t.setColumn("miller_index", {
    type: "cctbx::miller::index<>",
    data: Int32Array.from({ length: 3 * n }, (_, i) => (i % 3) + Math.floor(i / 3)),
  });
  t.setColumn("flags", { type: "std::size_t", data: BigUint64Array.from(rows, (r) => BigInt(r.flags)) });
  t.setColumn("intensity.sum.value", { type: "double", data: Float64Array.from(rows, (r) => r.I) });
  t.setColumn("intensity.sum.variance", { type: "double", data: Float64Array.from(rows, (r) => r.V) });
  t.setColumn("partiality", { type: "double", data: Float64Array.from(rows, (r) => r.p) });
  t.setColumn("lp", { type: "double", data: Float64Array.from(rows, (r) => r.lp) });
  t.setColumn("qe", { type: "double", data: Float64Array.from(rows, (r) => r.qe) });
  t.setColumn("d", { type: "double", data: Float64Array.from(rows, (r) => r.d) });
  return t;
}

describe("selectReflectionsForScaling rowMask", () => {
  it("equals selecting the masked rows into a new table first (rows mapped back)", () => {
    fc.assert(
      fc.property(fc.array(rowArb, { maxLength: 40 }), (rows) => {
        const table = tableOf(rows);
        const mask = Uint8Array.from(rows, (r) => (r.keep ? 1 : 0));
        const kept: number[] = [];
        rows.forEach((r, i) => {
          if (r.keep) kept.push(i);
        });
        const viaSubset = selectReflectionsForScaling(table.select(mask), { partialityCutoff: 0.4 });
        const viaMask = selectReflectionsForScaling(table, { partialityCutoff: 0.4, rowMask: mask });
        expect(viaMask.datasets.length).toBe(viaSubset.datasets.length);
        viaSubset.datasets.forEach((ds, k) => {
          const dm = viaMask.datasets[k];
          expect(dm.id).toBe(ds.id);
          expect([...dm.rows]).toEqual([...ds.rows].map((r) => kept[r]));
          expect([...dm.millerIndex]).toEqual([...ds.millerIndex]);
          // the same arithmetic on the same values: bit-identical
          expect([...dm.intensity]).toEqual([...ds.intensity]);
          expect([...dm.variance]).toEqual([...ds.variance]);
          expect([...dm.partiality]).toEqual([...ds.partiality]);
          expect(dm.d === undefined ? undefined : [...dm.d]).toEqual(ds.d === undefined ? undefined : [...ds.d]);
        });
        const expectedMask = new Uint8Array(rows.length);
        viaSubset.mask.forEach((m, j) => (expectedMask[kept[j]] = m));
        expect([...viaMask.mask]).toEqual([...expectedMask]);
      }),
      { seed: 42, numRuns: 200 },
    );
  });

  it("ignores masked-out rows for the id range check, and rejects a mask of the wrong shape", () => {
    const rows: Row[] = [
      { id: 0, flags: SUM, I: 10, V: 1, p: 1, lp: 1, qe: 1, d: 2, keep: true },
      { id: 7, flags: SUM, I: 10, V: 1, p: 1, lp: 1, qe: 1, d: 2, keep: false },
    ];
    const table = tableOf(rows);
    expect(() => selectReflectionsForScaling(table, { nDatasets: 1 })).toThrow(InputError);
    const out = selectReflectionsForScaling(table, { nDatasets: 1, rowMask: new Uint8Array([1, 0]) });
    expect([...out.mask]).toEqual([1, 0]);
    expect([...out.datasets[0].rows]).toEqual([0]);
    expect(() => selectReflectionsForScaling(table, { rowMask: new Uint8Array(3) })).toThrow(ConfigError);
  });
});
