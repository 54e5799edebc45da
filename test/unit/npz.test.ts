import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { InputError } from "../../src/errors.ts";
import { formatNpy, parseNpy } from "../../src/io/npy.ts";
import type { NpyArray } from "../../src/io/npy.ts";
import { parseNpz, readNpz, readZipMembers, writeNpz } from "../../src/io/npz.ts";

const FIXTURES = fileURLToPath(new URL("../fixtures/diffuse/", import.meta.url));
const STILL0 = join(FIXTURES, "still_00000.npz");
const STILL1 = join(FIXTURES, "still_00001.npz");
const tmp = mkdtempSync(join(tmpdir(), "npz-test-"));
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "base64"));

// Written by numpy 2.4.6:
// np.savez_compressed(f, a=np.arange(6, dtype='<f4').reshape(2, 3), b=np.array([-3, 0, 2**40], dtype='<i8'),
//   c=np.array([True, False, True]), d=np.array([0, 255], dtype=np.uint8), e=np.float64(2.5),
//   f=np.array([-2, 7], dtype='<i2'), g=np.zeros((0, 3)))
const NUMPY_COMPRESSED = b64(
  "UEsDBC0AAAAIAAAAIQBP6QAq//////////8FABQAYS5ucHkBABAAmAAAAAAAAABVAAAAAAAAAJvsF+obEMnIUMZQrZ6SWpxcpG6loG6TZqKuo6Cell9UUpSYF59flJIKEndLzClOBYoXZyQWpAL5GkY6CsaaOgq1CmQDLgYwaLAHEg5ABMQNQLzAAQBQSwMELQAAAAgAAAAhAI4hsnL//////////wUAFABiLm5weQEAEACYAAAAAAAAAE4AAAAAAAAAm+wX6hsQychQxlCtnpJanFykbqWgbpNpoa6joJ6WX1RSlJgXn1+UkgoSd0vMKU4FihdnJBakAvkaxjqaOgq1ChQArr//IYABGTAyMAAAUEsDBC0AAAAIAAAAIQAWk4y7//////////8FABQAYy5ucHkBABAAgwAAAAAAAABHAAAAAAAAAJvsF+obEMnIUMZQrZ6SWpxcpG6loF6TZKiuo6Cell9UUpSYF59flJIKEndLzClOBYoXZyQWpAL5GsY6mjoKtQoUAC5GBkYAUEsDBC0AAAAIAAAAIQCCvXKF//////////8FABQAZC5ucHkBABAAggAAAAAAAABGAAAAAAAAAJvsF+obEMnIUMZQrZ6SWpxcpG6loF5Taqiuo6Cell9UUpSYF59flJIKEndLzClOBYoXZyQWpAL5GkY6mjoKtQoUAC6G/wBQSwMELQAAAAgAAAAhADW0OpP//////////wUAFABlLm5weQEAEACIAAAAAAAAAEcAAAAAAAAAm+wX6hsQychQxlCtnpJanFykbqWgbpNmoa6joJ6WX1RSlJgXn1+UkgoSd0vMKU4FihdnJBakAvkamjoKtQoUAS4GMGBxAABQSwMELQAAAAgAAAAhAMT0byf//////////wUAFABmLm5weQEAEACEAAAAAAAAAEgAAAAAAAAAm+wX6hsQychQxlCtnpJanFykbqWgbpNppK6joJ6WX1RSlJgXn1+UkgoSd0vMKU4FihdnJBakAvkaRjqaOgq1ChQArn//2RkAUEsDBC0AAAAIAAAAIQBY+2D4//////////8FABQAZy5ucHkBABAAgAAAAAAAAABGAAAAAAAAAJvsF+obEMnIUMZQrZ6SWpxcpG6loG6TZqGuo6Cell9UUpSYF59flJIKEndLzClOBYoXZyQWpAL5GgY6CsaaOgq1CmQDLgBQSwECLQMtAAAACAAAACEAT+kAKlUAAACYAAAABQAAAAAAAAAAAAAAgAEAAAAAYS5ucHlQSwECLQMtAAAACAAAACEAjiGyck4AAACYAAAABQAAAAAAAAAAAAAAgAGMAAAAYi5ucHlQSwECLQMtAAAACAAAACEAFpOMu0cAAACDAAAABQAAAAAAAAAAAAAAgAERAQAAYy5ucHlQSwECLQMtAAAACAAAACEAgr1yhUYAAACCAAAABQAAAAAAAAAAAAAAgAGPAQAAZC5ucHlQSwECLQMtAAAACAAAACEANbQ6k0cAAACIAAAABQAAAAAAAAAAAAAAgAEMAgAAZS5ucHlQSwECLQMtAAAACAAAACEAxPRvJ0gAAACEAAAABQAAAAAAAAAAAAAAgAGKAgAAZi5ucHlQSwECLQMtAAAACAAAACEAWPtg+EYAAACAAAAABQAAAAAAAAAAAAAAgAEJAwAAZy5ucHlQSwUGAAAAAAcABwBlAQAAhgMAAAAA",
);
// np.save(f, np.arange(3, dtype='>f8'))
const NUMPY_BIG_ENDIAN = b64(
  "k05VTVBZAQB2AHsnZGVzY3InOiAnPmY4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAAAAAD/wAAAAAAAAQAAAAAAAAAA=",
);
// np.save(f, np.asfortranarray(np.arange(6.).reshape(2, 3)))
const NUMPY_FORTRAN = b64(
  "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY4JywgJ2ZvcnRyYW5fb3JkZXInOiBUcnVlLCAnc2hhcGUnOiAoMiwgMyksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAAAAAAAAAAAAAAhAAAAAAAAA8D8AAAAAAAAQQAAAAAAAAABAAAAAAAAAFEA=",
);

function expectInputError(fn: () => unknown, pattern?: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(InputError);
  if (pattern !== undefined) expect((caught as Error).message).toMatch(pattern);
  expect((caught as Error).message).not.toContain("\n");
}

describe("readNpz on numpy.savez output (simulated still pixels)", () => {
  it("reads every field with numpy's dtypes and consistent shapes", async () => {
    for (const path of [STILL0, STILL1]) {
      const m = await readNpz(path);
      expect([...m.keys()]).toEqual([
        "q_vectors",
        "intensities",
        "sigmas",
        "original_panel_ids",
        "original_fast_coords",
        "original_slow_coords",
      ]);
      const q = m.get("q_vectors") as NpyArray;
      const n = q.shape[0];
      expect(n).toBeGreaterThan(1000);
      expect(q.shape).toEqual([n, 3]);
      expect(q.dtype).toBe("<f8");
      expect(q.data).toBeInstanceOf(Float64Array);
      for (const key of ["intensities", "sigmas", "original_fast_coords", "original_slow_coords"]) {
        const a = m.get(key) as NpyArray;
        expect(a.dtype).toBe("<f8");
        expect(a.shape).toEqual([n]);
        expect(a.data.length).toBe(n);
      }
      const panel = m.get("original_panel_ids") as NpyArray;
      expect(panel.dtype).toBe("<i4");
      expect(panel.data).toBeInstanceOf(Int32Array);
      // the simulator writes a single panel: every id is 0
      expect((panel.data as Int32Array).every((v) => v === 0)).toBe(true);
      // only pixels inside the resolution limit dmin = 2 Å were kept: |q| < 0.5 1/Å
      const qd = q.data as Float64Array;
      for (let i = 0; i < n; i++) {
        const norm = Math.hypot(qd[3 * i], qd[3 * i + 1], qd[3 * i + 2]);
        expect(norm).toBeLessThan(0.5);
      }
      // sigmas are sqrt((mu + 5)·noise²) with noise_scale 1 and mu >= 0, so sigma >= sqrt(5)
      expect((m.get("sigmas")?.data as Float64Array).every((s) => s >= Math.sqrt(5) - 1e-12)).toBe(true);
    }
  });

  it("formatNpy reproduces numpy's member bytes exactly", () => {
    for (const path of [STILL0, STILL1]) {
      const members = readZipMembers(readFileSync(path), path);
      expect(members.size).toBe(6);
      for (const [name, bytes] of members) {
        const again = formatNpy(parseNpy(bytes, name));
        expect(again.length).toBe(bytes.length);
        expect(Buffer.from(again).equals(Buffer.from(bytes))).toBe(true);
      }
    }
  });

  it("reads numpy.savez_compressed output (deflate, zip64 local headers, several dtypes)", () => {
    const m = parseNpz(NUMPY_COMPRESSED, "compressed.npz");
    expect([...m.keys()]).toEqual(["a", "b", "c", "d", "e", "f", "g"]);
    const get = (k: string): NpyArray => m.get(k) as NpyArray;
    expect(get("a").dtype).toBe("<f4");
    expect(get("a").shape).toEqual([2, 3]);
    expect(Array.from(get("a").data as Float32Array)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(get("b").dtype).toBe("<i8");
    expect(Array.from(get("b").data as BigInt64Array)).toEqual([-3n, 0n, 2n ** 40n]);
    expect(get("c").dtype).toBe("|b1");
    expect(Array.from(get("c").data as Uint8Array)).toEqual([1, 0, 1]);
    expect(get("d").dtype).toBe("|u1");
    expect(Array.from(get("d").data as Uint8Array)).toEqual([0, 255]);
    expect(get("e").shape).toEqual([]);
    expect(Array.from(get("e").data as Float64Array)).toEqual([2.5]);
    expect(get("f").dtype).toBe("<i2");
    expect(Array.from(get("f").data as Int16Array)).toEqual([-2, 7]);
    expect(get("g").shape).toEqual([0, 3]);
    expect(get("g").data.length).toBe(0);
  });

  it("rejects a missing file with InputError naming it", async () => {
    const missing = join(tmp, "nope.npz");
    await expect(readNpz(missing)).rejects.toThrow(InputError);
    await expect(readNpz(missing)).rejects.toThrow(/nope\.npz: cannot read npz archive: file not found/);
  });
});

describe("parseNpy validation", () => {
  it("rejects big-endian and Fortran-order arrays written by numpy", () => {
    expectInputError(() => parseNpy(NUMPY_BIG_ENDIAN, "be.npy"), /be\.npy: npy: big-endian dtype '>f8'/);
    expectInputError(() => parseNpy(NUMPY_FORTRAN, "f.npy"), /Fortran-order/);
  });

  const good = formatNpy({ dtype: "<f8", shape: [4, 2], data: new Float64Array(8).fill(1.5), fortranOrder: false });
  const withHeader = (edit: (h: string) => string): Uint8Array => {
    const headerLen = good[8] | (good[9] << 8);
    const header = new TextDecoder("latin1").decode(good.subarray(10, 10 + headerLen));
    const next = edit(header).padEnd(headerLen, " ");
    const out = new Uint8Array(good);
    out.set(new TextEncoder().encode(next.slice(0, headerLen)), 10);
    return out;
  };

  it("rejects a bad magic, a truncated header and a header length beyond the data", () => {
    const bad = new Uint8Array(good);
    bad[1] = 0x58;
    expectInputError(() => parseNpy(bad, "x.npy"), /bad magic/);
    expectInputError(() => parseNpy(good.subarray(0, 9), "x.npy"), /too short/);
    const lie = new Uint8Array(good);
    lie[9] = 0x7f;
    expectInputError(() => parseNpy(lie, "x.npy"), /runs past the end/);
    const version = new Uint8Array(good);
    version[6] = 9;
    expectInputError(() => parseNpy(version, "x.npy"), /version 9\.0/);
  });

  it("parses the header dict strictly", () => {
    expectInputError(
      () =>
        parseNpy(
          withHeader((h) => h.replace("'shape'", "'shapf'")),
          "x.npy",
        ),
      /unexpected key 'shapf'/,
    );
    expectInputError(
      () =>
        parseNpy(
          withHeader((h) => h.replace("{", "[")),
          "x.npy",
        ),
      /expected '\{'/,
    );
    expectInputError(
      () =>
        parseNpy(
          withHeader((h) => h.replace("False", "Nope!")),
          "x.npy",
        ),
      /unexpected token/,
    );
    expectInputError(
      () =>
        parseNpy(
          withHeader((h) => h.replace("<f8", "<c16")),
          "x.npy",
        ),
      /unsupported dtype '<c16'/,
    );
    expectInputError(
      () =>
        parseNpy(
          withHeader((h) => h.replace("'<f8'", "'|O'")),
          "x.npy",
        ),
      /unsupported dtype '\|O'/,
    );
    expectInputError(
      () =>
        parseNpy(
          withHeader((h) => h.replace("(4, 2)", "(4, -2)")),
          "x.npy",
        ),
      /non-negative integer/,
    );
    expectInputError(
      () =>
        parseNpy(
          withHeader((h) => h.replace(", 'shape': (4, 2), }", ", 'shape': (4, 2), } x")),
          "x.npy",
        ),
      /trailing characters/,
    );
  });

  it("rejects data lengths that disagree with the shape (truncation or a lie in the header)", () => {
    expectInputError(() => parseNpy(good.subarray(0, good.length - 1), "x.npy"), /needs 64 data bytes, found 63/);
    expectInputError(
      () =>
        parseNpy(
          withHeader((h) => h.replace("(4, 2)", "(5, 2)")),
          "x.npy",
        ),
      /needs 80 data bytes/,
    );
    expectInputError(
      () =>
        parseNpy(
          withHeader((h) => h.replace("(4, 2)", "(9999999999, 9999999)")),
          "x.npy",
        ),
      /too large|needs/,
    );
    const extra = new Uint8Array(good.length + 8);
    extra.set(good);
    expectInputError(() => parseNpy(extra, "x.npy"), /found 72/);
  });

  it("round-trips random arrays of every dtype through formatNpy/parseNpy", () => {
    const makers: [NpyArray["dtype"], (n: number, r: () => number) => NpyArray["data"]][] = [
      ["<f8", (n, r) => Float64Array.from({ length: n }, () => (r() - 0.5) * 1e6)],
      ["<f4", (n, r) => Float32Array.from({ length: n }, () => r() * 100)],
      ["<i8", (n, r) => BigInt64Array.from({ length: n }, () => BigInt(Math.floor((r() - 0.5) * 2 ** 52)))],
      ["<i4", (n, r) => Int32Array.from({ length: n }, () => Math.floor((r() - 0.5) * 2 ** 31))],
      ["<i2", (n, r) => Int16Array.from({ length: n }, () => Math.floor((r() - 0.5) * 60000))],
      ["|i1", (n, r) => Int8Array.from({ length: n }, () => Math.floor((r() - 0.5) * 250))],
      ["<u8", (n, r) => BigUint64Array.from({ length: n }, () => BigInt(Math.floor(r() * 2 ** 53)))],
      ["<u4", (n, r) => Uint32Array.from({ length: n }, () => Math.floor(r() * 2 ** 32))],
      ["<u2", (n, r) => Uint16Array.from({ length: n }, () => Math.floor(r() * 65536))],
      ["|u1", (n, r) => Uint8Array.from({ length: n }, () => Math.floor(r() * 256))],
      ["|b1", (n, r) => Uint8Array.from({ length: n }, () => (r() < 0.5 ? 0 : 1))],
    ];
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: makers.length - 1 }),
        fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 0, maxLength: 3 }),
        fc.integer(),
        (which, shape, seed) => {
          let s = seed >>> 0;
          const r = (): number => {
            s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
            return s / 2 ** 32;
          };
          const [dtype, make] = makers[which];
          const count = shape.reduce((a, b) => a * b, 1);
          const a: NpyArray = { dtype, shape, data: make(count, r), fortranOrder: false };
          const bytes = formatNpy(a);
          expect(bytes.length % 64).toBe(a.data.byteLength % 64);
          const back = parseNpy(bytes, "prop.npy");
          expect(back.dtype).toBe(dtype);
          expect(back.shape).toEqual(shape);
          expect(back.data.constructor).toBe(a.data.constructor);
          expect(Array.from(back.data as ArrayLike<number>)).toEqual(Array.from(a.data as ArrayLike<number>));
        },
      ),
      { seed: 42, numRuns: 200 },
    );
  });
});

describe("writeNpz / readNpz round trip", () => {
  const arrays = new Map<string, NpyArray>([
    [
      "q_vectors",
      { dtype: "<f8", shape: [3, 3], data: Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9.5]), fortranOrder: false },
    ],
    ["ids", { dtype: "<i4", shape: [3], data: Int32Array.from([-1, 0, 2 ** 31 - 1]), fortranOrder: false }],
    ["big", { dtype: "<i8", shape: [2], data: BigInt64Array.from([-(2n ** 62n), 2n ** 62n]), fortranOrder: false }],
    ["flags", { dtype: "|b1", shape: [2, 1], data: Uint8Array.from([1, 0]), fortranOrder: false }],
    ["scalar", { dtype: "<f4", shape: [], data: Float32Array.from([0.25]), fortranOrder: false }],
    ["empty", { dtype: "<f8", shape: [0], data: new Float64Array(0), fortranOrder: false }],
  ]);

  for (const options of [{}, { compressed: true }, { forceZip64: true }, { compressed: true, forceZip64: true }]) {
    it(`preserves names, dtypes, shapes and values (${JSON.stringify(options)})`, async () => {
      const path = join(tmp, `rt-${Object.keys(options).join("-") || "stored"}.npz`);
      await writeNpz(path, arrays, options);
      const back = await readNpz(path);
      expect([...back.keys()]).toEqual([...arrays.keys()]);
      for (const [k, a] of arrays) {
        const b = back.get(k) as NpyArray;
        expect(b.dtype).toBe(a.dtype);
        expect(b.shape).toEqual(a.shape);
        expect(Array.from(b.data as ArrayLike<number>)).toEqual(Array.from(a.data as ArrayLike<number>));
      }
    });
  }

  it("rewrites the numpy fixture losslessly", async () => {
    const original = await readNpz(STILL0);
    const path = join(tmp, "still-copy.npz");
    await writeNpz(path, original);
    const back = await readNpz(path);
    for (const [k, a] of original) {
      expect(Buffer.from(formatNpy(back.get(k) as NpyArray)).equals(Buffer.from(formatNpy(a)))).toBe(true);
    }
  });
});

describe("corrupted archives are rejected with InputError", () => {
  const stored = readFileSync(STILL1);

  it("truncated anywhere", () => {
    const cuts = [0, 10, 21, 1000, stored.length >> 1, stored.length - 400, stored.length - 23, stored.length - 1];
    for (const cut of cuts) expectInputError(() => parseNpz(stored.subarray(0, cut), "cut.npz"));
  });

  it("a data byte flipped (CRC-32)", () => {
    const bad = new Uint8Array(stored);
    bad[5000] ^= 0x40;
    expectInputError(() => parseNpz(bad, "flip.npz"), /CRC-32 mismatch in member 'q_vectors\.npy'/);
  });

  it("size, offset and count lies in the directory", () => {
    const view = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);
    const eocd = stored.length - 22;
    const cdOffset = view(stored).getUint32(eocd + 16, true);

    const offsetLie = new Uint8Array(stored);
    view(offsetLie).setUint32(eocd + 16, stored.length, true);
    expectInputError(() => parseNpz(offsetLie, "x.npz"), /central directory/);

    const countLie = new Uint8Array(stored);
    view(countLie).setUint16(eocd + 8, 200, true);
    view(countLie).setUint16(eocd + 10, 200, true);
    expectInputError(() => parseNpz(countLie, "x.npz"), /entries|entry/);

    const sizeLie = new Uint8Array(stored);
    view(sizeLie).setUint32(cdOffset + 20, 0x7fffffff, true);
    view(sizeLie).setUint32(cdOffset + 24, 0x7fffffff, true);
    expectInputError(() => parseNpz(sizeLie, "x.npz"), /disagree|beyond/);

    const localLie = new Uint8Array(stored);
    view(localLie).setUint32(cdOffset + 42, 17, true);
    expectInputError(() => parseNpz(localLie, "x.npz"), /local header/);

    const methodLie = new Uint8Array(stored);
    view(methodLie).setUint16(cdOffset + 10, 12, true);
    expectInputError(() => parseNpz(methodLie, "x.npz"), /method/);
  });

  it("a member that is not a .npy, and a .npy with a bad header inside a valid zip", async () => {
    const path = join(tmp, "odd.npz");
    await writeNpz(path, new Map([["x", { dtype: "<f8", shape: [1], data: Float64Array.of(1), fortranOrder: false }]]));
    const bytes = readFileSync(path);
    const renamed = Buffer.from(bytes.toString("latin1").replaceAll("x.npy", "x.npz"), "latin1");
    expectInputError(() => parseNpz(renamed, "odd.npz"), /member 'x\.npz' is not a \.npy array/);
    const headerBad = new Uint8Array(bytes);
    const at = Buffer.from(headerBad).indexOf("'descr'");
    headerBad[at + 1] = "D".charCodeAt(0);
    // the CRC no longer matches the altered member, which is caught first
    expectInputError(() => parseNpz(headerBad, "odd.npz"), /CRC-32/);
    // with both CRCs patched the zip is valid and the .npy header check fires
    const v = new DataView(headerBad.buffer);
    const dataStart = 30 + v.getUint16(26, true) + v.getUint16(28, true);
    const crc = crc32(headerBad.subarray(dataStart, dataStart + v.getUint32(18, true))) >>> 0;
    v.setUint32(14, crc, true);
    v.setUint32(v.getUint32(headerBad.length - 6, true) + 16, crc, true);
    expectInputError(() => parseNpz(headerBad, "odd.npz"), /odd\.npz:x\.npy: npy header: unexpected key 'Descr'/);
    writeFileSync(path, headerBad);
    await expect(readNpz(path)).rejects.toThrow(/unexpected key 'Descr'/);
  });

  it("random byte corruption never escapes as anything but InputError", async () => {
    const path = join(tmp, "fuzz.npz");
    await writeNpz(
      path,
      new Map<string, NpyArray>([
        ["a", { dtype: "<f8", shape: [5, 2], data: new Float64Array(10).fill(3), fortranOrder: false }],
        ["b", { dtype: "<i4", shape: [3], data: Int32Array.of(1, 2, 3), fortranOrder: false }],
      ]),
      { compressed: true },
    );
    const small = readFileSync(path);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat({ max: small.length - 1 }), fc.integer({ min: 1, max: 255 })), {
          minLength: 1,
          maxLength: 4,
        }),
        (flips) => {
          const bad = new Uint8Array(small);
          for (const [at, x] of flips) bad[at] ^= x;
          try {
            parseNpz(bad, "fuzz.npz");
          } catch (error) {
            expect(error).toBeInstanceOf(InputError);
          }
        },
      ),
      { seed: 42, numRuns: 300 },
    );
  });
});
