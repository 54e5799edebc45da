import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { ReflectionTable } from "../../src/table/reflection-table.ts";
import { COLUMN_TYPES, elementBytes, type Column, type ColumnTypeName } from "../../src/table/column-types.ts";

/** The bytes of any column's data array. */
function bytesOf(data: ArrayBufferView): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** A column of `type` whose bytes are exactly `raw` (`nrows × elementBytes` of them): any bit pattern at all. */
function columnFromBytes(type: ColumnTypeName, raw: Uint8Array): Column {
  const buf = raw.slice().buffer;
  switch (type) {
    case "bool":
      return { type, data: new Uint8Array(buf).map((b) => b & 1) };
    case "int":
    case "int6":
    case "cctbx::miller::index<>":
      return { type, data: new Int32Array(buf) };
    case "std::size_t":
      return { type, data: new BigUint64Array(buf) };
    case "double":
    case "vec2<double>":
    case "vec3<double>":
    case "mat3<double>":
      return { type, data: new Float64Array(buf) };
    case "Shoebox<>":
      throw new Error("not a fixed-width type");
  }
}

/** The reference gather, byte by byte: row `i` of the result is row `rows[i]` of the source. */
function gatherBytes(src: Uint8Array, rowBytes: number, rows: readonly number[]): Uint8Array {
  const out = new Uint8Array(rows.length * rowBytes);
  rows.forEach((r, j) => {
    for (let b = 0; b < rowBytes; b++) out[j * rowBytes + b] = src[r * rowBytes + b];
  });
  return out;
}

const FIXED_TYPES = COLUMN_TYPES.filter((t) => t !== "Shoebox<>");

/** A table of `nrows` rows with one column of every fixed-width type (random bytes) and a shoebox column. */
const tableArb = fc.integer({ min: 0, max: 40 }).chain((nrows) =>
  fc.record({
    nrows: fc.constant(nrows),
    raw: fc.tuple(
      ...FIXED_TYPES.map((t) =>
        fc.uint8Array({ minLength: nrows * elementBytes(t), maxLength: nrows * elementBytes(t) }),
      ),
    ),
    sbSizes: fc.array(fc.nat(5), { minLength: nrows, maxLength: nrows }),
    rows: fc.array(fc.nat(Math.max(0, nrows - 1)), { maxLength: nrows === 0 ? 0 : 60 }),
    mask: fc.uint8Array({ minLength: nrows, maxLength: nrows, max: 2 }),
  }),
);

function build(t: { nrows: number; raw: Uint8Array[]; sbSizes: number[] }): ReflectionTable {
  const table = new ReflectionTable(t.nrows, new Map([[0, "a"]]));
  FIXED_TYPES.forEach((type, k) => {
    table.setColumn(`c${k}`, columnFromBytes(type, t.raw[k]));
  });
  const offsets = new Float64Array(t.nrows + 1);
  for (let i = 0; i < t.nrows; i++) offsets[i + 1] = offsets[i] + t.sbSizes[i];
  const sbBytes = Uint8Array.from({ length: offsets[t.nrows] }, (_, i) => (i * 37 + 11) & 255);
  table.setColumn("sb", { type: "Shoebox<>", data: { offsets, bytes: sbBytes } });
  return table;
}

function expectGathered(src: ReflectionTable, out: ReflectionTable, rows: readonly number[]): void {
  expect(out.nrows).toBe(rows.length);
  expect(out.columnNames()).toEqual(src.columnNames());
  expect([...out.identifiers]).toEqual([...src.identifiers]);
  FIXED_TYPES.forEach((type, k) => {
    const a = src.column(`c${k}`);
    const b = out.column(`c${k}`);
    expect(b.type).toBe(type);
    expect(b.data.constructor).toBe(a.data.constructor);
    const aBytes = bytesOf(a.data as ArrayBufferView);
    const bBytes = bytesOf(b.data as ArrayBufferView);
    expect(bBytes).toEqual(gatherBytes(aBytes, elementBytes(type), rows));
    if (a.data !== b.data && bBytes.length > 0) expect(bBytes.buffer).not.toBe(aBytes.buffer);
  });
  const sa = src.getShoebox("sb");
  const sb = out.getShoebox("sb");
  const expectedBytes: number[] = [];
  const expectedOffsets = [0];
  for (const r of rows) {
    for (let i = sa.offsets[r]; i < sa.offsets[r + 1]; i++) expectedBytes.push(sa.bytes[i]);
    expectedOffsets.push(expectedBytes.length);
  }
  expect([...sb.offsets]).toEqual(expectedOffsets);
  expect([...sb.bytes]).toEqual(expectedBytes);
}

describe("ReflectionTable.select and copy move every bit of every row", () => {
  it("selection by index list (number[], Int32Array, Uint32Array) equals a byte-wise gather", () => {
    fc.assert(
      fc.property(tableArb, (t) => {
        const table = build(t);
        for (const sel of [t.rows, Int32Array.from(t.rows), Uint32Array.from(t.rows)]) {
          expectGathered(table, table.select(sel), t.rows);
        }
      }),
      { seed: 42, numRuns: 100 },
    );
  });

  it("selection by mask equals a byte-wise gather of the kept rows in order", () => {
    fc.assert(
      fc.property(tableArb, (t) => {
        const table = build(t);
        const kept: number[] = [];
        t.mask.forEach((m, i) => {
          if (m !== 0) kept.push(i);
        });
        expectGathered(table, table.select(t.mask), kept);
      }),
      { seed: 42, numRuns: 100 },
    );
  });

  it("copy equals selecting every row, in fresh buffers", () => {
    fc.assert(
      fc.property(tableArb, (t) => {
        const table = build(t);
        const all = Array.from({ length: t.nrows }, (_, i) => i);
        const copy = table.copy();
        expectGathered(table, copy, all);
        for (const name of table.columnNames()) expect(copy.column(name).data).not.toBe(table.column(name).data);
      }),
      { seed: 42, numRuns: 60 },
    );
  });
});
