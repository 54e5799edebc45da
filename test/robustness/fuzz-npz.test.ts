/**
 * Fuzzing of the `.npz`/`.npy` readers (issue 7), from memory through {@link parseNpz}: 10,000 mutated copies of
 * valid archives (a real NumPy-written pixel file, small stored, deflated and zip64 archives written by our writer),
 * with length lies on every zip header size/offset/count field and on the `.npy` header length, and dtype swaps in
 * the `.npy` headers. Every case must end in a typed {@link InputError} naming the file, or in valid arrays whose
 * data length matches their shape.
 */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseNpz, readZipMembers, writeNpz, type NpyArray } from "../../src/io/npz.ts";
import { parseNpy } from "../../src/io/npy.ts";
import {
  Tally,
  applyMutation,
  expectClean,
  findAll,
  mutationArb,
  runCaseSync,
  type IntSite,
  type SwapSite,
} from "./fuzz-harness.ts";

const REAL = fileURLToPath(new URL("../fixtures/diffuse/still_00000.npz", import.meta.url));
const NAME = "still.npz";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "fuzz-npz-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const le = (offset: number, width: 2 | 4 | 8): IntSite => ({ offset, width, littleEndian: true });

/** Every size, offset, count and length field of the zip records and `.npy` headers of a valid archive. */
function zipSites(b: Uint8Array): IntSite[] {
  const sites: IntSite[] = [];
  const sig = (v: number): Uint8Array => Uint8Array.from([v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >>> 24]);
  for (const p of findAll(b, sig(0x04034b50))) {
    // local header: version, flags, method, crc, compressed size, uncompressed size, name length, extra length
    for (const [o, w] of [
      [4, 2],
      [6, 2],
      [8, 2],
      [14, 4],
      [18, 4],
      [22, 4],
      [26, 2],
      [28, 2],
    ] as const)
      sites.push(le(p + o, w));
  }
  for (const p of findAll(b, sig(0x02014b50))) {
    // central header: flags, method, crc, sizes, name/extra/comment lengths, disk, local header offset
    for (const [o, w] of [
      [8, 2],
      [10, 2],
      [16, 4],
      [20, 4],
      [24, 4],
      [28, 2],
      [30, 2],
      [32, 2],
      [34, 2],
      [42, 4],
    ] as const)
      sites.push(le(p + o, w));
  }
  for (const p of findAll(b, sig(0x06054b50))) {
    for (const [o, w] of [
      [4, 2],
      [6, 2],
      [8, 2],
      [10, 2],
      [12, 4],
      [16, 4],
      [20, 2],
    ] as const)
      sites.push(le(p + o, w));
  }
  for (const p of findAll(b, sig(0x06064b50))) {
    for (const [o, w] of [
      [4, 8],
      [24, 8],
      [32, 8],
      [40, 8],
      [48, 8],
    ] as const)
      sites.push(le(p + o, w));
  }
  for (const p of findAll(b, sig(0x07064b50))) sites.push(le(p + 8, 8));
  // zip64 extra fields (id 0x0001): their 8-byte values
  for (const p of findAll(b, Uint8Array.from([0x01, 0x00, 0x18, 0x00]))) {
    for (const o of [4, 12, 20]) sites.push(le(p + o, 8));
  }
  for (const p of findAll(b, new TextEncoder().encode("\x93NUMPY"))) sites.push(le(p + 8, 2));
  return sites.filter((s) => s.offset + s.width <= b.length);
}

/** dtype strings and shapes in stored `.npy` headers, swapped for other dtypes / lengths of the same width. */
function npySwapSites(b: Uint8Array): SwapSite[] {
  const enc = new TextEncoder();
  const dtypes = ["<f8", "<f4", "<i8", "<i4", "<i2", "|i1", "<u8", "<u4", "|u1", "|b1", ">f8", "<c8", "|O8", "<U4"];
  const sites: SwapSite[] = [];
  for (const d of dtypes) {
    for (const offset of findAll(b, enc.encode(`'${d}'`))) {
      sites.push({ offset: offset + 1, replacements: dtypes.filter((x) => x !== d).map((x) => enc.encode(x)) });
    }
  }
  for (const offset of findAll(b, enc.encode("False"))) {
    sites.push({ offset, replacements: [enc.encode("True "), enc.encode("None "), enc.encode("0    ")] });
  }
  // shape tuples: replace the digits of the first dimension by other digits (a lie about the element count)
  for (const offset of findAll(b, enc.encode("'shape': ("))) {
    const start = offset + 10;
    let end = start;
    while (b[end] >= 0x30 && b[end] <= 0x39) end++;
    if (end === start) continue;
    const w = end - start;
    const variants = ["0", "1", "9", "7", "99999999999999999999"].map((v) => enc.encode(v.padStart(w, "0").slice(-w)));
    variants.push(enc.encode("-".padEnd(w, "1")), enc.encode(")".padEnd(w, " ")));
    sites.push({ offset: start, replacements: variants });
  }
  return sites;
}

async function written(name: string, arrays: Map<string, NpyArray>, opts: Parameters<typeof writeNpz>[2]) {
  const p = join(dir, name);
  await writeNpz(p, arrays, opts);
  return new Uint8Array(readFileSync(p));
}

function checkArrays(arrays: Map<string, NpyArray>): void {
  for (const [, a] of arrays) {
    const count = a.shape.reduce((x, y) => x * y, 1);
    if (a.data.length !== count) throw new Error(`accepted an array whose data length ${a.data.length} != ${count}`);
  }
}

/** Fuzzes {@link parseNpy} directly on one member (inside an archive, the CRC check stops most header mutations). */
function fuzzNpy(t: Tally, base: Uint8Array, numRuns: number, seed: number): void {
  const ints = zipSites(base);
  const swaps = npySwapSites(base);
  expect(swaps.length).toBeGreaterThan(1);
  fc.assert(
    fc.property(mutationArb(ints.length, swaps.length), (m) => {
      const bytes = applyMutation(base, m, ints, swaps);
      return runCaseSync(t, NAME, () => {
        checkArrays(new Map([["x", parseNpy(bytes, NAME)]]));
      });
    }),
    { seed, numRuns },
  );
}

function fuzz(t: Tally, base: Uint8Array, numRuns: number, seed: number): void {
  const ints = zipSites(base);
  const swaps = npySwapSites(base);
  expect(ints.length).toBeGreaterThan(10);
  fc.assert(
    fc.property(mutationArb(ints.length, swaps.length), (m) => {
      const bytes = applyMutation(base, m, ints, swaps);
      return runCaseSync(t, NAME, () => {
        checkArrays(parseNpz(bytes, NAME));
      });
    }),
    { seed, numRuns },
  );
}

describe("fuzzing parseNpz / parseNpy", () => {
  it("10,000 mutated .npz archives: only typed InputErrors naming the file, or consistent arrays", async () => {
    const real = new Uint8Array(readFileSync(REAL));
    const small = parseNpz(real, REAL);
    // The first 4 rows of every array of the real file, as a small archive.
    const cut = new Map<string, NpyArray>();
    for (const [k, a] of small) {
      const rowLen = a.shape.slice(1).reduce((x, y) => x * y, 1);
      cut.set(k, { ...a, shape: [4, ...a.shape.slice(1)], data: a.data.slice(0, 4 * rowLen) });
    }
    cut.set("flag", { dtype: "|b1", shape: [2], data: Uint8Array.from([1, 0]), fortranOrder: false });
    cut.set("scalar", { dtype: "<i8", shape: [], data: BigInt64Array.from([7n]), fortranOrder: false });
    const stored = await written("stored.npz", cut, {});
    const deflated = await written("deflated.npz", cut, { compressed: true });
    const zip64 = await written("zip64.npz", cut, { forceZip64: true });
    const t = new Tally();
    fuzz(t, real, 1500, 42);
    fuzz(t, stored, 3500, 43);
    fuzz(t, deflated, 2500, 44);
    fuzz(t, zip64, 2500, 45);
    console.log(t.line("npz"));
    expectClean(t, 10_000);
    expect(t.typed).toBeGreaterThan(t.cases / 2);
    expect(t.valid).toBeGreaterThan(0);
  });

  it("4,000 mutated .npy members (header length, dtype and shape lies): typed errors or consistent arrays", () => {
    const t = new Tally();
    const members = [...readZipMembers(new Uint8Array(readFileSync(REAL)), REAL).values()];
    const small = members.map((m) => m.subarray(0, Math.min(m.length, 256 + (m.length % 64))));
    // Members cut to a header and a few elements are invalid (length lie); keep the two smallest whole ones as well.
    const whole = [...members].sort((a, b) => a.length - b.length).slice(0, 1);
    let seed = 100;
    for (const base of [...whole, ...small.slice(0, 3)]) fuzzNpy(t, base, 1000, seed++);
    console.log(t.line("npy"));
    expectClean(t, 4000);
    expect(t.typed).toBeGreaterThan(t.cases / 2);
    expect(t.valid).toBeGreaterThan(0);
  });
});
