import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { InputError } from "../../src/errors.ts";
import { readReflections } from "../../src/io/refl-read.ts";
import { writeReflections } from "../../src/io/refl-write.ts";
import { writeFileAtomic, writeTextAtomic } from "../../src/io/atomic-write.ts";
import { ReflectionTable } from "../../src/table/reflection-table.ts";
import { getFlags, ReflectionFlags } from "../../src/table/flags.ts";

const FIX = fileURLToPath(new URL("../fixtures/refl/", import.meta.url));
const CYS = join(FIX, "l_cysteine_11_integrated.refl");
const SSX = join(FIX, "ssx_CuNiR_integrated.refl");
const QUARTZ = join(FIX, "quartz_integrated.refl");
const SHARED = fileURLToPath(new URL("../../../shared/fixtures/", import.meta.url));
const SHARED_REFLS = [
  "real/l_cysteine_narrow_wedge/11_integrated.refl",
  "real/ssx_CuNiR_test_data/integrated.refl",
  "real/ssx_CuNiR_test_data/dials_scale/scaled.refl",
  "real/quartz_processed/integrated.refl",
  "real/quartz_processed/scaled.refl",
  "sim/smoother-40/stills.refl",
  "sim/tetragonal-40/stills.refl",
];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "refl-io-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Tiny hand encoder (MessagePack spec) that lets a test pick each width explicitly. */
const enc = {
  utf8: (s: string): number[] => [...Buffer.from(s, "utf8")],
  be: (v: number | bigint, bytes: number): number[] => {
    const b = Buffer.alloc(bytes);
    if (bytes === 8) b.writeBigUInt64BE(BigInt(v));
    else b.writeUIntBE(Number(v), 0, bytes);
    return [...b];
  },
  str(s: string, fmt: "fix" | "str8" | "str16" | "str32" = "fix"): number[] {
    const d = enc.utf8(s);
    const h =
      fmt === "fix"
        ? [0xa0 | d.length]
        : fmt === "str8"
          ? [0xd9, d.length]
          : fmt === "str16"
            ? [0xda, ...enc.be(d.length, 2)]
            : [0xdb, ...enc.be(d.length, 4)];
    return [...h, ...d];
  },
  uint(v: number | bigint, fmt: "fix" | "u8" | "u16" | "u32" | "u64" | "i8" | "i16" | "i32" | "i64" = "fix"): number[] {
    switch (fmt) {
      case "fix":
        return [Number(v)];
      case "u8":
        return [0xcc, Number(v)];
      case "u16":
        return [0xcd, ...enc.be(v, 2)];
      case "u32":
        return [0xce, ...enc.be(v, 4)];
      case "u64":
        return [0xcf, ...enc.be(v, 8)];
      case "i8":
        return [0xd0, Number(v)];
      case "i16":
        return [0xd1, ...enc.be(v, 2)];
      case "i32":
        return [0xd2, ...enc.be(v, 4)];
      case "i64":
        return [0xd3, ...enc.be(v, 8)];
    }
  },
  map(n: number, fmt: "fix" | "m16" | "m32" = "fix"): number[] {
    return fmt === "fix" ? [0x80 | n] : fmt === "m16" ? [0xde, ...enc.be(n, 2)] : [0xdf, ...enc.be(n, 4)];
  },
  arr(n: number, fmt: "fix" | "a16" | "a32" = "fix"): number[] {
    return fmt === "fix" ? [0x90 | n] : fmt === "a16" ? [0xdc, ...enc.be(n, 2)] : [0xdd, ...enc.be(n, 4)];
  },
  bin(data: number[], fmt: "b8" | "b16" | "b32" = "b8"): number[] {
    const h =
      fmt === "b8"
        ? [0xc4, data.length]
        : fmt === "b16"
          ? [0xc5, ...enc.be(data.length, 2)]
          : [0xc6, ...enc.be(data.length, 4)];
    return [...h, ...data];
  },
  f64le: (xs: number[]): number[] => [...new Uint8Array(new Float64Array(xs).buffer)],
  i32le: (xs: number[]): number[] => [...new Uint8Array(new Int32Array(xs).buffer)],
};

/** A minimal v1 file with one `double` column "d" holding `values`, in DIALS's own (smallest) encodings. */
function minimalFile(values: number[], opts: { version?: number; extra?: number[]; nrows?: number } = {}): Uint8Array {
  return new Uint8Array([
    ...enc.arr(3),
    ...enc.str("dials::af::reflection_table"),
    opts.version ?? 1,
    ...enc.map(3),
    ...enc.str("identifiers"),
    ...enc.map(1),
    0,
    ...enc.str("abc"),
    ...enc.str("nrows"),
    opts.nrows ?? values.length,
    ...enc.str("data"),
    ...enc.map(1),
    ...enc.str("d"),
    ...enc.arr(2),
    ...enc.str("double"),
    ...enc.arr(2),
    values.length,
    ...enc.bin(enc.f64le(values)),
    ...(opts.extra ?? []),
  ]);
}

async function tmpFile(name: string, bytes: Uint8Array): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, bytes);
  return p;
}

async function expectInputError(path: string, ...fragments: string[]): Promise<InputError> {
  let caught: unknown;
  try {
    await readReflections(path);
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(InputError);
  const err = caught as InputError;
  expect(err.file).toBe(path);
  for (const f of fragments) expect(err.message).toContain(f);
  expect(err.message).not.toContain("\n");
  return err;
}

describe("readReflections on DIALS files", () => {
  it("decodes l_cysteine 11_integrated.refl as DIALS does (§6.1 worked decode)", async () => {
    const t = await readReflections(CYS);
    expect(t.nrows).toBe(92);
    expect(t.columnNames()).toHaveLength(35);
    expect([...t.identifiers]).toEqual([[0, "0812526a-eca7-467f-b271-26cb05ff56f4"]]);
    expect([...t.getMillerIndex().subarray(0, 9)]).toEqual([-1, -10, 11, 0, -9, 11, -1, -7, 10]);
    expect([...t.getSizeT("flags").subarray(0, 3)]).toEqual([0x100101n, 0x100101n, 0x108101n]);
    const sb = t.getShoebox("shoebox");
    expect(sb.bytes.length).toBe(15508);
    const counts = [0, 0, 0];
    for (let i = 0; i < t.nrows; i++) counts[sb.bytes[sb.offsets[i] + 28]]++;
    expect(counts).toEqual([75, 17, 0]);
    expect(t.columnType("bbox")).toBe("int6");
    expect(t.columnType("s1")).toBe("vec3<double>");
  });

  it("flag helpers agree with the DIALS flag words of l_cysteine", async () => {
    const t = await readReflections(CYS);
    const sum = getFlags(t, ReflectionFlags.integratedSum);
    const badBg = getFlags(t, ReflectionFlags.backgroundIncludesBadPixels);
    const both = getFlags(t, ReflectionFlags.integrated, true);
    expect([...sum.subarray(0, 3)]).toEqual([1, 1, 1]);
    expect([...badBg.subarray(0, 3)]).toEqual([0, 0, 1]);
    expect([...both.subarray(0, 3)]).toEqual([0, 0, 0]);
  });

  it("reads ssx_CuNiR integrated.refl: 5203 rows with partiality", async () => {
    const t = await readReflections(SSX);
    expect(t.nrows).toBe(5203);
    expect(t.identifiers.size).toBe(5);
    expect(t.getDouble("partiality")).toHaveLength(5203);
    const ids = t.getInt("id");
    for (const id of ids) expect(t.identifiers.has(id)).toBe(true);
  });

  it("reads the same table through a tiny 16-byte window", async () => {
    const a = await readReflections(QUARTZ);
    const b = await readReflections(QUARTZ, { windowBytes: 16 });
    expect(b.columnNames()).toEqual(a.columnNames());
    for (const n of a.columnNames()) {
      const ca = a.column(n);
      const cb = b.column(n);
      expect(cb.type).toBe(ca.type);
      expect(Buffer.compare(bytesOf(cb.data), bytesOf(ca.data))).toBe(0);
    }
  });

  it("accepts format version 2 (the same file with its version byte set to 2)", async () => {
    const bytes = new Uint8Array(readFileSync(CYS));
    expect(bytes[0x1d]).toBe(1);
    bytes[0x1d] = 2;
    const t = await readReflections(await tmpFile("v2.refl", bytes));
    expect(t.nrows).toBe(92);
    expect(t.getShoebox().bytes.length).toBe(15508);
  });
});

function bytesOf(d: ArrayBufferView | { bytes: Uint8Array }): Uint8Array {
  if ("bytes" in d) return d.bytes;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

describe("write-back is byte-identical to DIALS's own files", () => {
  for (const name of readdirSync(FIX).filter((f) => f.endsWith(".refl"))) {
    it(`test/fixtures/refl/${name}`, async () => {
      const src = join(FIX, name);
      const out = join(dir, `rt-${name}`);
      await writeReflections(out, await readReflections(src));
      expect(Buffer.compare(await readFile(out), await readFile(src))).toBe(0);
    });
  }
  const haveShared = existsSync(SHARED);
  for (const rel of SHARED_REFLS) {
    it.skipIf(!haveShared)(`../shared/fixtures/${rel} (skipped: ../shared/fixtures absent)`, async () => {
      const src = join(SHARED, rel);
      const out = join(dir, `rt-shared-${rel.replaceAll("/", "_")}`);
      await writeReflections(out, await readReflections(src));
      expect(Buffer.compare(await readFile(out), await readFile(src))).toBe(0);
    });
  }
});

describe("encodings", () => {
  it("accepts non-minimal integer, str, map, array and bin widths and writes the minimal ones back", async () => {
    const vals = [1.5, -2.25];
    const bytes = new Uint8Array([
      ...enc.arr(3, "a32"),
      ...enc.str("dials::af::reflection_table", "str32"),
      ...enc.uint(1, "i64"),
      ...enc.map(3, "m32"),
      ...enc.str("data", "str16"),
      ...enc.map(1, "m16"),
      ...enc.str("d", "str8"),
      ...enc.arr(2, "a16"),
      ...enc.str("double", "str8"),
      ...enc.arr(2, "a32"),
      ...enc.uint(2, "u64"),
      ...enc.bin(enc.f64le(vals), "b32"),
      ...enc.str("nrows", "str16"),
      ...enc.uint(2, "i16"),
      ...enc.str("identifiers"),
      ...enc.map(2, "m16"),
      ...enc.uint(7, "u32"),
      ...enc.str("seven", "str16"),
      ...enc.uint(3, "i8"),
      ...enc.str("three"),
    ]);
    const t = await readReflections(await tmpFile("wide.refl", bytes));
    expect(t.nrows).toBe(2);
    expect([...t.getDouble("d")]).toEqual(vals);
    expect([...t.identifiers].sort((a, b) => a[0] - b[0])).toEqual([
      [3, "three"],
      [7, "seven"],
    ]);
    const out = join(dir, "wide-out.refl");
    await writeReflections(out, t);
    const expected = [
      ...enc.arr(3),
      ...enc.str("dials::af::reflection_table"),
      1,
      ...enc.map(3),
      ...enc.str("identifiers"),
      ...enc.map(2),
      3,
      ...enc.str("three"),
      7,
      ...enc.str("seven"),
      ...enc.str("nrows"),
      2,
      ...enc.str("data"),
      ...enc.map(1),
      ...enc.str("d"),
      ...enc.arr(2),
      ...enc.str("double"),
      ...enc.arr(2),
      2,
      ...enc.bin(enc.f64le(vals)),
    ];
    expect([...(await readFile(out))]).toEqual(expected);
  });

  it("picks the smallest msgpack-c encoding at every width boundary", async () => {
    const cases: [number, number[]][] = [
      [127, [0x7f]],
      [128, [0xcc, 0x80]],
      [255, [0xcc, 0xff]],
      [256, [0xcd, 0x01, 0x00]],
      [65535, [0xcd, 0xff, 0xff]],
      [65536, [0xce, 0x00, 0x01, 0x00, 0x00]],
      [2 ** 32 - 1, [0xce, 0xff, 0xff, 0xff, 0xff]],
      [2 ** 32, [0xcf, 0, 0, 0, 1, 0, 0, 0, 0]],
    ];
    for (const [id, expectedKey] of cases) {
      const t = new ReflectionTable(0, new Map([[id, "x"]]));
      const out = join(dir, `key-${id}.refl`);
      await writeReflections(out, t);
      const b = [...(await readFile(out))];
      const at = 1 + 28 + 1 + 1 + 12 + 1; // array, header str, version, map, "identifiers", map(1)
      expect(b.slice(at, at + expectedKey.length)).toEqual(expectedKey);
      expect((await readReflections(out)).identifiers.get(id)).toBe("x");
    }
    // nrows and bin / str widths: a double column of 31 rows (248 bytes, bin8) vs 32 rows (256 bytes, bin16).
    for (const [n, binHead] of [
      [31, [0xc4, 248]],
      [32, [0xc5, 0x01, 0x00]],
      [8192, [0xc6, 0x00, 0x01, 0x00, 0x00]],
    ] as [number, number[]][]) {
      const t = new ReflectionTable(n);
      t.setColumn("d", { type: "double", data: new Float64Array(n) });
      const out = join(dir, `bin-${n}.refl`);
      await writeReflections(out, t);
      const b = await readFile(out);
      const head = Buffer.from([...enc.str("double"), ...enc.arr(2)]);
      const at = b.indexOf(head) + head.length;
      const nrowsEnc = n < 128 ? [n] : [0xcd, ...enc.be(n, 2)];
      expect([...b.subarray(at, at + nrowsEnc.length + binHead.length)]).toEqual([...nrowsEnc, ...binHead]);
    }
    // Column names of 31 / 32 / 256 / 65536 bytes: fixstr, str8, str16, str32.
    for (const [len, head] of [
      [31, [0xbf]],
      [32, [0xd9, 32]],
      [256, [0xda, 0x01, 0x00]],
      [65536, [0xdb, 0x00, 0x01, 0x00, 0x00]],
    ] as [number, number[]][]) {
      const name = "n".repeat(len);
      const t = new ReflectionTable(1);
      t.setColumn(name, { type: "int", data: new Int32Array([5]) });
      const out = join(dir, `name-${len}.refl`);
      await writeReflections(out, t);
      const b = await readFile(out);
      const at = b.indexOf(Buffer.from([...enc.str("data"), 0x81])) + 6;
      expect([...b.subarray(at, at + head.length)]).toEqual(head);
      expect((await readReflections(out)).getInt(name)[0]).toBe(5);
    }
  });

  it("uses map16 for 16 or more columns and map32 for 65536 identifiers", async () => {
    const t = new ReflectionTable(0, new Map(Array.from({ length: 65536 }, (_, i) => [i, ""])));
    for (let c = 0; c < 16; c++) t.setColumn(`c${c}`, { type: "bool", data: new Uint8Array(0) });
    const out = join(dir, "maps.refl");
    await writeReflections(out, t);
    const b = await readFile(out);
    const idAt = b.indexOf(Buffer.from(enc.str("identifiers"))) + 12;
    expect([...b.subarray(idAt, idAt + 5)]).toEqual([0xdf, 0x00, 0x01, 0x00, 0x00]);
    const dataAt = b.indexOf(Buffer.from(enc.str("data"))) + 5;
    expect([...b.subarray(dataAt, dataAt + 3)]).toEqual([0xde, 0x00, 0x10]);
    const back = await readReflections(out);
    expect(back.identifiers.size).toBe(65536);
    expect(back.columnNames()).toHaveLength(16);
  });
});

describe("readReflections rejects malformed files with InputError", () => {
  it("the minimal hand-made file is valid", async () => {
    const t = await readReflections(await tmpFile("ok.refl", minimalFile([1, 2, 3])));
    expect([...t.getDouble("d")]).toEqual([1, 2, 3]);
    expect(t.identifiers.get(0)).toBe("abc");
  });

  it("missing file, directory, empty file", async () => {
    await expectInputError(join(dir, "nope.refl"), "cannot read reflection table: file not found");
    await mkdir(join(dir, "adir"), { recursive: true });
    await expectInputError(join(dir, "adir"));
    await expectInputError(await tmpFile("empty.refl", new Uint8Array(0)), "truncated", "byte offset 0");
  });

  it("wrong header, bad version, unknown key, missing nrows", async () => {
    const bad = minimalFile([1]);
    bad[5] = 0x41; // a letter inside "dials::..."
    await expectInputError(await tmpFile("hdr.refl", bad), "not a DIALS reflection table");
    await expectInputError(await tmpFile("v3.refl", minimalFile([1], { version: 3 })), "version 3");
    const unknown = new Uint8Array([
      ...enc.arr(3),
      ...enc.str("dials::af::reflection_table"),
      1,
      ...enc.map(2),
      ...enc.str("nrows"),
      0,
      ...enc.str("colour"),
      1,
    ]);
    await expectInputError(await tmpFile("key.refl", unknown), 'unknown table key "colour"');
    const noNrows = new Uint8Array([
      ...enc.arr(3),
      ...enc.str("dials::af::reflection_table"),
      1,
      ...enc.map(1),
      ...enc.str("identifiers"),
      ...enc.map(0),
    ]);
    await expectInputError(await tmpFile("nonrows.refl", noNrows), "nrows");
    const noData = new Uint8Array([
      ...enc.arr(3),
      ...enc.str("dials::af::reflection_table"),
      2,
      ...enc.map(1),
      ...enc.str("nrows"),
      0,
    ]);
    await expectInputError(await tmpFile("nodata.refl", noData), '"data"');
    const dupKey = new Uint8Array([
      ...enc.arr(3),
      ...enc.str("dials::af::reflection_table"),
      1,
      ...enc.map(2),
      ...enc.str("nrows"),
      0,
      ...enc.str("nrows"),
      0,
    ]);
    await expectInputError(await tmpFile("dupkey.refl", dupKey), 'duplicate table key "nrows"');
  });

  it("std::string and unknown column types", async () => {
    const col = (type: string, payload: number[]) =>
      new Uint8Array([
        ...enc.arr(3),
        ...enc.str("dials::af::reflection_table"),
        1,
        ...enc.map(2),
        ...enc.str("nrows"),
        1,
        ...enc.str("data"),
        ...enc.map(1),
        ...enc.str("label"),
        ...enc.arr(2),
        ...enc.str(type),
        ...enc.arr(2),
        1,
        ...enc.bin(payload),
      ]);
    const e = await expectInputError(
      await tmpFile("s.refl", col("std::string", new Array<number>(32).fill(0))),
      "std::string",
      '"label"',
    );
    expect(e.message).toContain("unsupported");
    await expectInputError(
      await tmpFile("fs.refl", col("FrameSlicedShoebox<>", [3])),
      "FrameSlicedShoebox<>",
      "unsupported",
    );
    await expectInputError(
      await tmpFile("u.refl", col("vec4<double>", new Array<number>(32).fill(0))),
      "unknown column type",
      '"label"',
    );
  });

  it("payload length lies, n != nrows, truncation, trailing garbage", async () => {
    const good = minimalFile([1, 2, 3]);
    // payload length not n × 8: declare 2 rows in the column and in nrows
    const twoRows = minimalFile([1, 2, 3], { nrows: 2 });
    await expectInputError(await tmpFile("nrows.refl", twoRows), 'column "d" has 3 rows but nrows is 2');
    const lie = new Uint8Array([...good.subarray(0, good.length - 24 - 2), 0xc4, 16, ...enc.f64le([1, 2])]);
    await expectInputError(await tmpFile("len.refl", lie), 'payload of column "d"', "24", "byte offset");
    // a bin32 header claiming 4 GiB − 1 bytes: must fail before allocating anything
    const huge = new Uint8Array([...good.subarray(0, good.length - 26), 0xc6, 0xff, 0xff, 0xff, 0xff, 0, 0]);
    await expectInputError(await tmpFile("huge.refl", huge), "4294967295", "remain");
    await expectInputError(await tmpFile("trunc.refl", good.subarray(0, good.length - 5)), "byte offset");
    await expectInputError(
      await tmpFile("trail.refl", minimalFile([1, 2, 3], { extra: [0xc0, 0xc0] })),
      "2 bytes of trailing garbage",
    );
    const badByte = minimalFile([1]);
    badByte[Buffer.from(badByte).indexOf(Buffer.from(enc.str("nrows"))) + 6] = 0xc1;
    await expectInputError(await tmpFile("c1.refl", badByte), "0xc1");
  });

  it("malformed shoeboxes: unknown flag, inverted bbox, overrun, leftover bytes", async () => {
    const src = readFileSync(CYS);
    const t = await readReflections(CYS);
    const sb = t.getShoebox();
    // "Shoebox<>" then [92, bin16(15508)]: fixarray(2), fixint 92, c5 3c 94
    const at = src.indexOf(Buffer.from("Shoebox<>")) + 9 + 5;
    expect([...src.subarray(at - 5, at)]).toEqual([0x92, 92, 0xc5, 0x3c, 0x94]);
    // first row with data
    let row = 0;
    while (sb.bytes[sb.offsets[row] + 28] !== 1) row++;
    const rowAt = at + sb.offsets[row];
    const flag = new Uint8Array(src);
    flag[rowAt + 28] = 3;
    await expectInputError(await tmpFile("sbflag.refl", flag), "unknown data flag 3", `row ${row}`, '"shoebox"');
    const inv = new Uint8Array(src);
    new DataView(inv.buffer).setInt32(rowAt + 4, 100000, true); // x0 > x1
    await expectInputError(await tmpFile("sbinv.refl", inv), "inverted bbox", `row ${row}`);
    const big = new Uint8Array(src);
    new DataView(big.buffer).setInt32(rowAt + 8, 100000, true); // x1 far away
    await expectInputError(await tmpFile("sbbig.refl", big), "past the end of the column");
    const f2 = new Uint8Array(src);
    f2[rowAt + 28] = 2; // uint8 mask: the row is shorter, so bytes are left over or rows misparse
    await expectInputError(await tmpFile("sbf2.refl", f2), '"shoebox"');
  });
});

describe("shoeboxes in version-1 output", () => {
  it("a flag-2 row (uint8 mask) is written as the flag-1 row DIALS 3.12 itself wrote", async () => {
    const t = await readReflections(CYS);
    const sb = t.getShoebox();
    let row = 0;
    while (sb.bytes[sb.offsets[row] + 28] !== 1) row++;
    const dials = sb.bytes.slice(sb.offsets[row], sb.offsets[row + 1]);
    const npix = (dials.length - 29) / 12;
    expect(npix).toBeGreaterThan(0);
    const dv = new DataView(dials.buffer);
    // The same row as format version 2 stores it: flag 2, uint8 mask.
    const v2 = new Uint8Array(29 + 9 * npix);
    v2.set(dials.subarray(0, 28));
    v2[28] = 2;
    v2.set(dials.subarray(29, 29 + 4 * npix), 29);
    for (let k = 0; k < npix; k++) {
      const m = dv.getInt32(29 + 4 * npix + 4 * k, true);
      expect(m).toBeGreaterThanOrEqual(0);
      expect(m).toBeLessThan(256);
      v2[29 + 4 * npix + k] = m;
    }
    v2.set(dials.subarray(29 + 8 * npix), 29 + 5 * npix);
    const one = new ReflectionTable(2);
    const empty = sb.bytes.slice(sb.offsets[0], sb.offsets[1]);
    expect(empty[28]).toBe(0);
    const bytes = new Uint8Array([...v2, ...empty]);
    one.setColumn("shoebox", {
      type: "Shoebox<>",
      data: { offsets: new Float64Array([0, v2.length, bytes.length]), bytes },
    });
    const out = join(dir, "sb-v2.refl");
    await writeReflections(out, one);
    const back = (await readReflections(out)).getShoebox();
    expect(Buffer.compare(back.bytes, Buffer.from([...dials, ...empty]))).toBe(0);
    expect([...back.offsets]).toEqual([0, dials.length, dials.length + 29]);
  });

  it("refuses to write a shoebox row whose size does not match its flag and bbox", async () => {
    const t = await readReflections(CYS);
    const sb = t.getShoebox();
    const bytes = sb.bytes.slice(0, 30); // one 29-byte flag-0 row plus a stray byte
    const bad = new ReflectionTable(1);
    bad.setColumn("shoebox", { type: "Shoebox<>", data: { offsets: new Float64Array([0, 30]), bytes } });
    await expect(writeReflections(join(dir, "bad-sb.refl"), bad)).rejects.toThrow(/row 0 is 30 bytes/);
  });
});

describe("atomic writes", () => {
  it("writeTextAtomic writes the text and leaves no temporary file", async () => {
    const sub = join(dir, "atomic");
    await mkdir(sub, { recursive: true });
    const p = join(sub, "a.txt");
    await writeTextAtomic(p, "héllo\n");
    await writeTextAtomic(p, "second");
    expect(readFileSync(p, "utf8")).toBe("second");
    expect(readdirSync(sub)).toEqual(["a.txt"]);
  });

  it("a failing writer keeps the old file and removes the temporary one", async () => {
    const sub = join(dir, "atomic2");
    await mkdir(sub, { recursive: true });
    const p = join(sub, "b.txt");
    await writeTextAtomic(p, "old");
    const boom = new InputError("boom");
    await expect(
      writeFileAtomic(p, async (fh) => {
        await fh.write("partial");
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(readFileSync(p, "utf8")).toBe("old");
    expect(readdirSync(sub)).toEqual(["b.txt"]);
  });

  it("a missing directory is an InputError naming the path", async () => {
    const p = join(dir, "no", "such", "dir", "x.refl");
    await expect(writeReflections(p, new ReflectionTable(0))).rejects.toThrow(InputError);
    await expect(writeReflections(p, new ReflectionTable(0))).rejects.toThrow(p);
  });
});

describe("files above 4 GiB of offsets", () => {
  // Opt-in (needs ~8 GB of memory and ~4 GB of disk): DIFFUSE_SCALING_BIG_TESTS=1 npx vitest run test/unit/refl-io.test.ts
  it.skipIf(process.env.DIFFUSE_SCALING_BIG_TESTS !== "1")(
    "a 3.6 GB table (columns starting beyond 2^31 and 2^32 bytes) round-trips",
    async () => {
      const n = 100_000_000;
      const t = new ReflectionTable(n, new Map([[0, "big"]]));
      const a = new Float64Array(n);
      const b = new Float64Array(3 * n);
      const c = new Int32Array(n);
      for (let i = 0; i < n; i += 9973) {
        a[i] = i * 0.5;
        b[3 * i + 2] = -i;
        c[i] = i ^ 0x5a5a;
      }
      a[n - 1] = 1.25;
      b[3 * n - 1] = 2.5;
      c[n - 1] = -7;
      t.setColumn("a", { type: "double", data: a });
      t.setColumn("b", { type: "vec3<double>", data: b });
      t.setColumn("c", { type: "int", data: c });
      const p = join(dir, "big.refl");
      await writeReflections(p, t);
      const back = await readReflections(p);
      await rm(p);
      expect(back.nrows).toBe(n);
      for (const [name, d] of [
        ["a", a],
        ["b", b],
        ["c", c],
      ] as const) {
        const got = back.column(name).data as Float64Array | Int32Array;
        expect(Buffer.compare(bytesOf(got), bytesOf(d))).toBe(0);
      }
    },
    600_000,
  );
});
