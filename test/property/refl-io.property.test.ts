import { describe, it, expect, beforeAll, afterAll } from "vitest";
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { InputError } from "../../src/errors.ts";
import { readReflections } from "../../src/io/refl-read.ts";
import { writeReflections } from "../../src/io/refl-write.ts";
import { ReflectionTable } from "../../src/table/reflection-table.ts";
import { COLUMN_TYPES, elementBytes, type Column, type ColumnTypeName } from "../../src/table/column-types.ts";

const CYS = fileURLToPath(new URL("../fixtures/refl/l_cysteine_11_integrated.refl", import.meta.url));

let dir: string;
let counter = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "refl-prop-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
const nextPath = (): string => join(dir, `f${counter++}.refl`);

/** One shoebox row: uint32 panel, int32 bbox[6], uint8 flag, then data/mask/background for flag 1 (int32 mask) or 2. */
const shoeboxRow: fc.Arbitrary<Uint8Array> = fc
  .record({
    panel: fc.nat(),
    flag: fc.constantFrom(0, 1, 2),
    origin: fc.tuple(
      fc.integer({ min: -1000, max: 1000 }),
      fc.integer({ min: -1000, max: 1000 }),
      fc.integer({ min: -5, max: 5 }),
    ),
    extent: fc.tuple(fc.nat(3), fc.nat(3), fc.nat(2)),
  })
  .chain((r) => {
    const npix = r.flag === 0 ? 0 : r.extent[0] * r.extent[1] * r.extent[2];
    const body = npix * (r.flag === 1 ? 12 : 9);
    return fc.uint8Array({ minLength: body, maxLength: body }).map((pix) => {
      const out = new Uint8Array(29 + body);
      const v = new DataView(out.buffer);
      v.setUint32(0, r.panel >>> 0, true);
      const [x0, y0, z0] = r.origin;
      const [ex, ey, ez] = r.extent;
      const bbox = [x0, x0 + ex, y0, y0 + ey, z0, z0 + ez];
      bbox.forEach((b, k) => {
        v.setInt32(4 + 4 * k, b, true);
      });
      out[28] = r.flag;
      out.set(pix, 29);
      return out;
    });
  });

function columnArb(type: ColumnTypeName, nrows: number): fc.Arbitrary<Column> {
  if (type === "Shoebox<>") {
    return fc.array(shoeboxRow, { minLength: nrows, maxLength: nrows }).map((rows) => {
      const offsets = new Float64Array(nrows + 1);
      let total = 0;
      rows.forEach((r, i) => {
        total += r.length;
        offsets[i + 1] = total;
      });
      const bytes = new Uint8Array(total);
      rows.forEach((r, i) => {
        bytes.set(r, offsets[i]);
      });
      return { type, data: { offsets, bytes } };
    });
  }
  if (type === "std::size_t") {
    // Flag words above 2^53 and up to 2^64 − 1.
    return fc
      .array(
        fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.bigInt({ min: 2n ** 53n, max: 2n ** 53n + 16n })),
        {
          minLength: nrows,
          maxLength: nrows,
        },
      )
      .map((xs) => ({ type, data: BigUint64Array.from(xs) }));
  }
  if (type === "bool") {
    return fc
      .array(fc.constantFrom(0, 1), { minLength: nrows, maxLength: nrows })
      .map((xs) => ({ type, data: Uint8Array.from(xs) }));
  }
  const nbytes = nrows * elementBytes(type);
  // Any bit pattern (NaN payloads, −0, subnormals, extreme ints) must survive untouched.
  return fc.uint8Array({ minLength: nbytes, maxLength: nbytes }).map((u): Column => {
    const buf = u.slice().buffer;
    switch (type) {
      case "int":
      case "int6":
      case "cctbx::miller::index<>":
        return { type, data: new Int32Array(buf) };
      case "double":
      case "vec2<double>":
      case "vec3<double>":
      case "mat3<double>":
        return { type, data: new Float64Array(buf) };
    }
  });
}

const tableArb: fc.Arbitrary<ReflectionTable> = fc
  .record({
    nrows: fc.nat(12),
    cols: fc.uniqueArray(
      fc.record({
        name: fc.string({ unit: "grapheme", minLength: 1, maxLength: 12 }),
        type: fc.constantFrom(...COLUMN_TYPES),
      }),
      {
        selector: (c) => c.name,
        maxLength: 12,
      },
    ),
    ids: fc.uniqueArray(
      fc.tuple(
        fc.oneof(fc.nat(300), fc.nat({ max: Number.MAX_SAFE_INTEGER })),
        fc.string({ unit: "grapheme", maxLength: 40 }),
      ),
      {
        selector: (x) => x[0],
        maxLength: 6,
      },
    ),
  })
  .chain((spec) =>
    fc.tuple(...spec.cols.map((c) => columnArb(c.type, spec.nrows))).map((columns) => {
      const t = new ReflectionTable(spec.nrows, new Map(spec.ids));
      spec.cols.forEach((c, i) => {
        t.setColumn(c.name, columns[i]);
      });
      return t;
    }),
  );

function rawBytes(c: Column): Uint8Array {
  if (c.type === "Shoebox<>") return c.data.bytes;
  return new Uint8Array(c.data.buffer, c.data.byteOffset, c.data.byteLength);
}

/**
 * Decode a shoebox column into per-row values: the 28-byte panel+bbox header, whether pixel data are present, the
 * float32 data and background bytes, and the mask values (int32 for flag 1, uint8 for flag 2). A version-1 file holds
 * flag-2 rows as flag-1 rows, so the two flags are compared by value.
 */
function decodeShoeboxes(sb: { offsets: Float64Array; bytes: Uint8Array }): unknown[] {
  const rows: unknown[] = [];
  const view = new DataView(sb.bytes.buffer, sb.bytes.byteOffset, sb.bytes.byteLength);
  for (let i = 0; i + 1 < sb.offsets.length; i++) {
    const o = sb.offsets[i];
    const flag = sb.bytes[o + 28];
    const header = [...sb.bytes.subarray(o, o + 28)];
    if (flag === 0) {
      rows.push({ header, data: null });
      continue;
    }
    const maskBytes = flag === 1 ? 4 : 1;
    const npix = (sb.offsets[i + 1] - o - 29) / (8 + maskBytes);
    const p = o + 29;
    const mask: number[] = [];
    for (let k = 0; k < npix; k++)
      mask.push(flag === 1 ? view.getInt32(p + 4 * npix + 4 * k, true) : sb.bytes[p + 4 * npix + k]);
    const bg = p + 4 * npix + maskBytes * npix;
    rows.push({
      header,
      data: Buffer.from(sb.bytes.subarray(p, p + 4 * npix)).toString("hex"),
      mask,
      background: Buffer.from(sb.bytes.subarray(bg, bg + 4 * npix)).toString("hex"),
    });
  }
  return rows;
}

function expectSameTable(a: ReflectionTable, b: ReflectionTable, exactShoeboxBytes = true): void {
  expect(b.nrows).toBe(a.nrows);
  expect([...b.identifiers].sort((x, y) => x[0] - y[0])).toEqual([...a.identifiers].sort((x, y) => x[0] - y[0]));
  expect(b.columnNames()).toEqual(a.columnNames());
  for (const name of a.columnNames()) {
    const ca = a.column(name);
    const cb = b.column(name);
    expect(cb.type).toBe(ca.type);
    if (ca.type === "Shoebox<>" && cb.type === "Shoebox<>") {
      expect(decodeShoeboxes(cb.data)).toEqual(decodeShoeboxes(ca.data));
      if (!exactShoeboxBytes) continue;
      expect([...cb.data.offsets]).toEqual([...ca.data.offsets]);
    }
    expect(Buffer.compare(rawBytes(cb), rawBytes(ca))).toBe(0);
  }
}

describe("refl write → read round trip", () => {
  it("random tables of every column type survive unchanged, and rewriting is byte-identical", async () => {
    await fc.assert(
      fc.asyncProperty(tableArb, async (t) => {
        const p1 = nextPath();
        await writeReflections(p1, t);
        const back = await readReflections(p1, { windowBytes: 32 });
        // Flag-2 shoebox rows come back as flag-1 rows (version-1 file) holding the same values; all else is exact.
        expectSameTable(t, back, false);
        for (const name of t.columnNames()) {
          const c = back.column(name);
          if (c.type === "Shoebox<>")
            for (let i = 0; i < t.nrows; i++) expect(c.data.bytes[c.data.offsets[i] + 28]).not.toBe(2);
        }
        const p2 = nextPath();
        await writeReflections(p2, back);
        expect(Buffer.compare(await readFile(p1), await readFile(p2))).toBe(0);
      }),
      { seed: 42, numRuns: 150 },
    );
  });

  it("select by mask and by the equivalent indices agree, row by row", () => {
    fc.assert(
      fc.property(
        tableArb.chain((t) =>
          fc.tuple(fc.constant(t), fc.uint8Array({ minLength: t.nrows, maxLength: t.nrows, max: 1 })),
        ),
        ([t, mask]) => {
          const idx: number[] = [];
          mask.forEach((m, i) => {
            if (m !== 0) idx.push(i);
          });
          const a = t.select(mask);
          const b = t.select(idx);
          const c = t.select(Int32Array.from(idx));
          expectSameTable(a, b);
          expectSameTable(a, c);
          // each selected row equals the source row
          for (const name of t.columnNames()) {
            const src = t.column(name);
            const got = a.column(name);
            if (src.type === "Shoebox<>" && got.type === "Shoebox<>") {
              idx.forEach((i, j) => {
                const s = src.data.bytes.subarray(src.data.offsets[i], src.data.offsets[i + 1]);
                const g = got.data.bytes.subarray(got.data.offsets[j], got.data.offsets[j + 1]);
                expect(Buffer.compare(g, s)).toBe(0);
              });
            } else {
              const sb = rawBytes(src);
              const gb = rawBytes(got);
              const rowBytes = t.nrows === 0 ? 0 : sb.length / t.nrows;
              idx.forEach((i, j) => {
                expect(
                  Buffer.compare(
                    gb.subarray(j * rowBytes, (j + 1) * rowBytes),
                    sb.subarray(i * rowBytes, (i + 1) * rowBytes),
                  ),
                ).toBe(0);
              });
            }
          }
        },
      ),
      { seed: 42, numRuns: 200 },
    );
  });
});

describe("corrupted .refl files", () => {
  const base = new Uint8Array(readFileSync(CYS));
  // Column value headers in this file: fixarray(2), n = 92 (fixint 0x5c), then bin8/16/32.
  const binHeaders: number[] = [];
  for (let i = 0; i + 2 < base.length; i++) {
    if (base[i] === 0x92 && base[i + 1] === 0x5c && base[i + 2] >= 0xc4 && base[i + 2] <= 0xc6) binHeaders.push(i + 2);
  }

  type Corruption =
    | { kind: "flip"; at: number; value: number }
    | { kind: "truncate"; length: number }
    | { kind: "extend"; extra: Uint8Array }
    | { kind: "lie"; header: number; value: number }
    | { kind: "rows"; header: number; value: number };

  const corruption: fc.Arbitrary<Corruption> = fc.oneof(
    fc.record({ kind: fc.constant("flip" as const), at: fc.nat(base.length - 1), value: fc.nat(255) }),
    fc.record({ kind: fc.constant("flip" as const), at: fc.nat(2047), value: fc.nat(255) }),
    fc.record({ kind: fc.constant("truncate" as const), length: fc.nat(base.length - 1) }),
    fc.record({ kind: fc.constant("extend" as const), extra: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
    fc.record({ kind: fc.constant("lie" as const), header: fc.nat(binHeaders.length - 1), value: fc.nat() }),
    fc.record({ kind: fc.constant("rows" as const), header: fc.nat(binHeaders.length - 1), value: fc.nat(127) }),
  );

  function apply(c: Corruption): Uint8Array {
    switch (c.kind) {
      case "flip": {
        const b = base.slice();
        b[c.at] = c.value;
        return b;
      }
      case "truncate":
        return base.slice(0, c.length);
      case "extend": {
        const b = new Uint8Array(base.length + c.extra.length);
        b.set(base);
        b.set(c.extra, base.length);
        return b;
      }
      case "lie": {
        const b = base.slice();
        const at = binHeaders[c.header];
        const v = new DataView(b.buffer);
        if (b[at] === 0xc4) b[at + 1] = c.value & 0xff;
        else if (b[at] === 0xc5) v.setUint16(at + 1, c.value & 0xffff);
        else v.setUint32(at + 1, c.value >>> 0);
        return b;
      }
      case "rows": {
        const b = base.slice();
        b[binHeaders[c.header] - 1] = c.value;
        return b;
      }
    }
  }

  it("finds the 35 column headers it corrupts", () => {
    expect(binHeaders).toHaveLength(35);
  });

  it("every corruption gives InputError or a valid table, never another exception", async () => {
    await fc.assert(
      fc.asyncProperty(corruption, async (c) => {
        const bytes = apply(c);
        const p = nextPath();
        await writeFile(p, bytes);
        let error: unknown = undefined;
        try {
          const t = await readReflections(p);
          expect(t.nrows).toBeGreaterThanOrEqual(0);
        } catch (e) {
          error = e;
        }
        if (error !== undefined) {
          expect(error).toBeInstanceOf(InputError);
          expect((error as InputError).file).toBe(p);
        }
        const mustFail =
          c.kind === "truncate" ||
          c.kind === "extend" ||
          (c.kind === "rows" && c.value !== 92) ||
          (c.kind === "lie" && bytes.length === base.length && Buffer.compare(bytes, base) !== 0);
        if (mustFail) expect(error).toBeInstanceOf(InputError);
      }),
      { seed: 42, numRuns: 400 },
    );
  });
});
