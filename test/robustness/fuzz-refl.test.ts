/**
 * Fuzzing of the `.refl` reader (issue 7): 10,000 mutated copies of valid reflection files (a real DIALS file with a
 * shoebox column, a small table of every column type written by our writer, and rows of the simulated stills), each
 * written to a scratch file and read back. Every case must end in a typed {@link InputError} naming the file, or in
 * a valid table, within the per-case time limit and with bounded memory.
 */
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readReflections } from "../../src/io/refl-read.ts";
import { writeReflections } from "../../src/io/refl-write.ts";
import { ReflectionTable } from "../../src/table/reflection-table.ts";
import { COLUMN_TYPES } from "../../src/table/column-types.ts";
import {
  Tally,
  applyMutation,
  expectClean,
  findAll,
  mutationArb,
  runCase,
  type IntSite,
  type SwapSite,
  scratchDirectory,
} from "./fuzz-harness.ts";

const CYS = fileURLToPath(new URL("../fixtures/refl/l_cysteine_11_integrated.refl", import.meta.url));
const SIM = fileURLToPath(new URL("../../../shared/fixtures/sim/tetragonal-40/stills.refl", import.meta.url));

const scratch = scratchDirectory("fuzz-refl-");

/**
 * Offsets of every MessagePack header's length/value field (the "length lies") in a valid file, found by walking its
 * tokens. Width-1 sites cover fix-types (the whole type byte), wider ones the big-endian length or integer field.
 */
function msgpackSites(b: Uint8Array): IntSite[] {
  const sites: IntSite[] = [];
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const width = (t: number): 1 | 2 | 4 | 8 => (t === 0 ? 1 : t === 1 ? 2 : t === 2 ? 4 : 8);
  const walk = (p: number): number => {
    const t = b[p];
    if (t <= 0x7f || t >= 0xe0) {
      sites.push({ offset: p, width: 1, littleEndian: false });
      return p + 1;
    }
    if (t <= 0x8f || t <= 0x9f) {
      sites.push({ offset: p, width: 1, littleEndian: false });
      let q = p + 1;
      const n = (t & 0x0f) * (t <= 0x8f ? 2 : 1);
      for (let i = 0; i < n; i++) q = walk(q);
      return q;
    }
    if (t <= 0xbf) {
      sites.push({ offset: p, width: 1, littleEndian: false });
      return p + 1 + (t & 0x1f);
    }
    const sized = (w: 1 | 2 | 4): number => {
      sites.push({ offset: p + 1, width: w, littleEndian: false });
      return w === 1 ? view.getUint8(p + 1) : w === 2 ? view.getUint16(p + 1) : view.getUint32(p + 1);
    };
    switch (t) {
      case 0xc4:
      case 0xd9:
        return p + 2 + sized(1);
      case 0xc5:
      case 0xda:
        return p + 3 + sized(2);
      case 0xc6:
      case 0xdb:
        return p + 5 + sized(4);
      case 0xcc:
      case 0xcd:
      case 0xce:
      case 0xcf:
      case 0xd0:
      case 0xd1:
      case 0xd2:
      case 0xd3: {
        const w = width((t - 0xcc) % 4);
        sites.push({ offset: p + 1, width: w, littleEndian: false });
        return p + 1 + w;
      }
      case 0xdc:
      case 0xdd:
      case 0xde:
      case 0xdf: {
        const w = t <= 0xdd ? (t === 0xdc ? 2 : 4) : t === 0xde ? 2 : 4;
        const n = sized(w) * (t >= 0xde ? 2 : 1);
        let q = p + 1 + w;
        for (let i = 0; i < n; i++) q = walk(q);
        return q;
      }
      case 0xca:
        return p + 5;
      case 0xcb:
        return p + 9;
      default:
        return p + 1;
    }
  };
  expect(walk(0)).toBe(b.length);
  return sites;
}

/** Type names (and the header) in the file, each with same-length replacements: other types and near misses. */
function typeSwapSites(b: Uint8Array): SwapSite[] {
  const enc = new TextEncoder();
  const names = [...COLUMN_TYPES, "std::string", "FrameSlicedShoebox<>", "dials::af::reflection_table", "nrows"];
  const sites: SwapSite[] = [];
  for (const name of names) {
    const same = names.filter((o) => o !== name && o.length === name.length).map((o) => enc.encode(o));
    const nearMiss = [enc.encode(name.toUpperCase()), enc.encode(name.slice(0, -1) + "\u007f")];
    for (const offset of findAll(b, enc.encode(name))) {
      sites.push({ offset, replacements: [...same, ...nearMiss] });
    }
  }
  return sites;
}

/** A 3-row table with one column of every fixed-size type and a shoebox column, written by our writer. */
async function allTypesFile(): Promise<Uint8Array> {
  const t = new ReflectionTable(3, new Map([[0, "abc"]]));
  t.setColumn("b", { type: "bool", data: Uint8Array.from([1, 0, 1]) });
  t.setColumn("id", { type: "int", data: Int32Array.from([0, 0, 0]) });
  t.setColumn("flags", { type: "std::size_t", data: BigUint64Array.from([1n, 2n, 2n ** 60n]) });
  t.setColumn("d", { type: "double", data: Float64Array.from([1.5, 2.5, -0]) });
  t.setColumn("v2", { type: "vec2<double>", data: new Float64Array(6).fill(0.25) });
  t.setColumn("s1", { type: "vec3<double>", data: new Float64Array(9).fill(0.5) });
  t.setColumn("m", { type: "mat3<double>", data: new Float64Array(27).fill(1) });
  t.setColumn("bbox", { type: "int6", data: new Int32Array(18).fill(3) });
  t.setColumn("miller_index", { type: "cctbx::miller::index<>", data: Int32Array.from([1, 2, 3, -1, 0, 4, 5, 5, 5]) });
  // Shoebox rows: flag 0, flag 1 with a 1×1×1 box (12 data bytes), flag 0.
  const row = (flag: number, ext: number): Uint8Array => {
    const out = new Uint8Array(29 + (flag === 1 ? 12 * ext : 0));
    const v = new DataView(out.buffer);
    v.setInt32(8, ext, true);
    v.setInt32(16, ext, true);
    v.setInt32(24, ext, true);
    out[28] = flag;
    return out;
  };
  const rows = [row(0, 0), row(1, 1), row(0, 2)];
  const offsets = new Float64Array(4);
  rows.forEach((r, i) => (offsets[i + 1] = offsets[i] + r.length));
  const bytes = new Uint8Array(offsets[3]);
  rows.forEach((r, i) => {
    bytes.set(r, offsets[i]);
  });
  t.setColumn("shoebox", { type: "Shoebox<>", data: { offsets, bytes } });
  const p = join(scratch(), "all-types.refl");
  await writeReflections(p, t);
  return readFileSync(p);
}

/** The first 8 rows of the simulated stills (the columns the scaler uses), when the shared fixtures are present. */
async function simRowsFile(): Promise<Uint8Array | undefined> {
  if (!existsSync(SIM)) return undefined;
  const full = await readReflections(SIM);
  const sel = new Uint8Array(full.nrows);
  sel.fill(1, 0, 8);
  const p = join(scratch(), "sim-rows.refl");
  await writeReflections(p, full.select(sel));
  return readFileSync(p);
}

async function fuzz(t: Tally, base: Uint8Array, numRuns: number, seed: number): Promise<void> {
  const ints = msgpackSites(base);
  const swaps = typeSwapSites(base);
  const path = join(scratch(), "case.refl");
  await fc.assert(
    fc.asyncProperty(mutationArb(ints.length, swaps.length), async (m) => {
      writeFileSync(path, applyMutation(base, m, ints, swaps));
      return runCase(t, path, async () => {
        const table = await readReflections(path);
        // A table that was accepted must be self-consistent.
        for (const name of table.columnNames()) table.column(name);
      });
    }),
    { seed, numRuns },
  );
}

describe("fuzzing readReflections", () => {
  it("10,000 mutated .refl files: only typed InputErrors naming the file, or valid tables", async () => {
    const t = new Tally();
    const cys = new Uint8Array(readFileSync(CYS));
    const all = await allTypesFile();
    const sim = await simRowsFile();
    await fuzz(t, cys, sim === undefined ? 4000 : 3000, 42);
    await fuzz(t, all, sim === undefined ? 6000 : 4000, 43);
    if (sim !== undefined) await fuzz(t, sim, 3000, 44);
    console.log(t.line("refl"));
    expectClean(t, 10_000);
    // The mutations must actually bite: most cases are rejected, some survive (payload bytes).
    expect(t.typed).toBeGreaterThan(t.cases / 2);
    expect(t.valid).toBeGreaterThan(0);
  });
});
