/**
 * Fuzzing of the `.expt` reader (issue 7): 6,000 structural mutations of parsed experiment lists (type swaps,
 * deleted fields, arrays made shorter or longer, model references pointing nowhere, hostile numbers) through
 * {@link parseExperiments} in memory, and 4,000 byte-level mutations of the JSON text through
 * {@link readExperiments}. Every case must end in a typed {@link InputError} naming the file, or in a valid list.
 */
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseExperiments, readExperiments } from "../../src/io/expt.ts";
import {
  Tally,
  applyMutation,
  expectClean,
  findAll,
  mutationArb,
  runCase,
  runCaseSync,
  type SwapSite,
  scratchDirectory,
} from "./fuzz-harness.ts";

const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/expt/${name}`, import.meta.url));
const STILLS = fixture("sim-tetragonal-40-stills.expt");
const ROTATION = fixture("l-cysteine-11-integrated.expt");
const SSX = fixture("ssx-cunir-integrated.expt");
const NAME = "fuzzed.expt";

const scratch = scratchDirectory("fuzz-expt-");

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type PathStep = string | number;

/** Every path to a value in the document (the root excluded). */
function allPaths(v: Json, prefix: PathStep[] = [], out: PathStep[][] = []): PathStep[][] {
  if (Array.isArray(v)) {
    v.forEach((x, i) => {
      out.push([...prefix, i]);
      allPaths(x, [...prefix, i], out);
    });
  } else if (v !== null && typeof v === "object") {
    for (const [k, x] of Object.entries(v)) {
      out.push([...prefix, k]);
      allPaths(x, [...prefix, k], out);
    }
  }
  return out;
}

/** Values a field may be replaced by: every JSON type, and numbers that break domains (NaN, ∞, huge, negative). */
const hostile: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(null, true, false, "", "x", [], {}, [1, 2], [[1]], { a: 1 }, { "key\nwith\u0000breaks": 1 }),
  fc.constantFrom<Json>(0, -1, 1, 2 ** 31, -(2 ** 31), 2 ** 53, 1e308, -1e308, 5e-324, 0.5, 99, 1000000),
  fc.constantFrom<Json>(NaN, Infinity, -Infinity),
  fc.double(),
  fc.string({ maxLength: 8 }),
  fc.array(fc.double(), { maxLength: 12 }) as fc.Arbitrary<Json>,
);

type StructMutation =
  | { kind: "replace"; path: number; value: Json }
  | { kind: "delete"; path: number }
  | { kind: "shorten"; path: number }
  | { kind: "lengthen"; path: number; value: Json }
  | { kind: "copy"; from: number; to: number };

function structArb(nPaths: number): fc.Arbitrary<StructMutation[]> {
  const p = fc.nat(nPaths - 1);
  const one: fc.Arbitrary<StructMutation> = fc.oneof(
    fc.record({ kind: fc.constant("replace" as const), path: p, value: hostile }),
    fc.record({ kind: fc.constant("delete" as const), path: p }),
    fc.record({ kind: fc.constant("shorten" as const), path: p }),
    fc.record({ kind: fc.constant("lengthen" as const), path: p, value: hostile }),
    fc.record({ kind: fc.constant("copy" as const), from: p, to: p }),
  );
  return fc.array(one, { minLength: 1, maxLength: 3 });
}

function getAt(doc: Json, path: readonly PathStep[]): Json | undefined {
  let v: Json | undefined = doc;
  for (const step of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = Array.isArray(v) ? v[step as number] : v[step as string];
  }
  return v;
}

function applyStruct(doc: Json, paths: readonly PathStep[][], muts: readonly StructMutation[]): Json {
  const out = structuredClone(doc);
  for (const m of muts) {
    const path = paths[m.kind === "copy" ? m.to : m.path];
    const parent = getAt(out, path.slice(0, -1));
    const key = path[path.length - 1];
    if (parent === null || typeof parent !== "object") continue;
    const target = Array.isArray(parent) ? parent[key as number] : parent[key as string];
    const set = (v: Json): void => {
      if (Array.isArray(parent)) parent[key as number] = v;
      else parent[key as string] = v;
    };
    switch (m.kind) {
      case "replace":
        set(m.value);
        break;
      case "delete":
        if (Array.isArray(parent)) parent.splice(key as number, 1);
        else Reflect.deleteProperty(parent, key);
        break;
      case "shorten":
        if (Array.isArray(target)) target.pop();
        else set(null);
        break;
      case "lengthen":
        if (Array.isArray(target)) target.push(m.value);
        else set([m.value]);
        break;
      case "copy": {
        const from = getAt(out, paths[m.from]);
        if (from !== undefined) set(structuredClone(from));
        break;
      }
    }
  }
  return out;
}

function fuzzStruct(t: Tally, file: string, numRuns: number, seed: number): void {
  const doc = JSON.parse(readFileSync(file, "utf8")) as Json;
  const paths = allPaths(doc);
  fc.assert(
    fc.property(structArb(paths.length), (muts) => {
      const json = applyStruct(doc, paths, muts);
      return runCaseSync(t, NAME, () => {
        const list = parseExperiments(json, NAME);
        expect(list.length).toBeGreaterThanOrEqual(0);
      });
    }),
    { seed, numRuns },
  );
}

/** JSON keys whose values a text-level swap replaces: the model keys, swapped for one another where lengths match. */
function keySwapSites(b: Uint8Array): SwapSite[] {
  const enc = new TextEncoder();
  const keys = ['"beam"', '"scan"', '"crystal"', '"detector"', '"__id__"', '"real_space_a"', '"real_space_b"'];
  const sites: SwapSite[] = [];
  for (const k of keys) {
    const same = keys.filter((o) => o !== k && o.length === k.length).map((o) => enc.encode(o));
    same.push(enc.encode(`"${"x".repeat(k.length - 2)}"`), enc.encode(k.replace(/"/g, "'")));
    for (const offset of findAll(b, enc.encode(k))) sites.push({ offset, replacements: same });
  }
  return sites;
}

async function fuzzBytes(t: Tally, file: string, numRuns: number, seed: number): Promise<void> {
  const base = new Uint8Array(readFileSync(file));
  const swaps = keySwapSites(base);
  const path = join(scratch(), NAME);
  await fc.assert(
    fc.asyncProperty(mutationArb(0, swaps.length), async (m) => {
      writeFileSync(path, applyMutation(base, m, [], swaps));
      return runCase(t, path, () => readExperiments(path));
    }),
    { seed, numRuns },
  );
}

describe("fuzzing the .expt reader", () => {
  it("10,000 mutated experiment lists: only typed InputErrors naming the file, or valid lists", async () => {
    const t = new Tally();
    fuzzStruct(t, STILLS, 2000, 42);
    fuzzStruct(t, ROTATION, 2000, 43);
    fuzzStruct(t, SSX, 2000, 44);
    await fuzzBytes(t, ROTATION, 2000, 45);
    await fuzzBytes(t, STILLS, 2000, 46);
    console.log(t.line("expt"));
    expectClean(t, 10_000);
    expect(t.typed).toBeGreaterThan(t.cases / 3);
    expect(t.valid).toBeGreaterThan(0);
  });
});
