/**
 * Shared machinery of the reader fuzz tests (issue 7): byte-level mutations of valid files (random byte flips, bit
 * flips, truncations, extensions, insertions, deletions, and reader-specific "length lies" and "type swaps" at known
 * offsets), an outcome tally, and a runner that bounds every case in time and watches memory.
 *
 * Not a test file itself (no `.test.ts` suffix): the `fuzz-*.test.ts` files import it.
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, expect } from "vitest";
import { InputError } from "../../src/errors.ts";
import { isControl } from "../../src/io/printable.ts";

/** An integer field of a valid file whose value a "length lie" replaces. */
export interface IntSite {
  /** Byte offset of the field. */
  offset: number;
  /** Field width in bytes. */
  width: 1 | 2 | 4 | 8;
  /** Byte order of the field. */
  littleEndian: boolean;
}

/** A byte string of a valid file that a "type swap" replaces by another of the same length. */
export interface SwapSite {
  /** Byte offset of the string. */
  offset: number;
  /** Replacements (each exactly as long as the original). */
  replacements: readonly Uint8Array[];
}

/** One mutation of a valid file. Offsets are fractions of the file length so one arbitrary serves every base file. */
export type Mutation =
  | { kind: "flip"; edits: [number, number][] }
  | { kind: "bitflip"; at: number; bit: number }
  | { kind: "truncate"; at: number }
  | { kind: "extend"; bytes: Uint8Array }
  | { kind: "insert"; at: number; bytes: Uint8Array }
  | { kind: "delete"; at: number; length: number }
  | { kind: "lie"; site: number; value: bigint }
  | { kind: "swap"; site: number; replacement: number }
  | { kind: "structflip"; site: number; byte: number };

const frac = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

/** Values a length lie writes: small, off by one, huge, all-ones, sign bit set. */
const lieValue = fc.oneof(
  fc.bigInt({ min: 0n, max: 64n }),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  fc.constantFrom(
    0n,
    1n,
    0x7fn,
    0xffn,
    0x7fffn,
    0xffffn,
    0x7fffffffn,
    0xffffffffn,
    2n ** 53n,
    2n ** 63n,
    2n ** 64n - 1n,
  ),
);

/** The arbitrary over {@link Mutation}s; `sites` says how many lie/swap/structure sites the base file offers. */
export function mutationArb(nIntSites: number, nSwapSites: number): fc.Arbitrary<Mutation> {
  const generic: fc.Arbitrary<Mutation>[] = [
    fc.record({
      kind: fc.constant("flip" as const),
      edits: fc.array(fc.tuple(frac, fc.nat(255)), { minLength: 1, maxLength: 8 }),
    }),
    fc.record({ kind: fc.constant("bitflip" as const), at: frac, bit: fc.nat(7) }),
    fc.record({ kind: fc.constant("truncate" as const), at: frac }),
    fc.record({ kind: fc.constant("extend" as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
    fc.record({
      kind: fc.constant("insert" as const),
      at: frac,
      bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
    }),
    fc.record({ kind: fc.constant("delete" as const), at: frac, length: fc.integer({ min: 1, max: 16 }) }),
  ];
  const specific: fc.Arbitrary<Mutation>[] = [];
  if (nIntSites > 0) {
    specific.push(
      fc.record({ kind: fc.constant("lie" as const), site: fc.nat(nIntSites - 1), value: lieValue }),
      fc.record({ kind: fc.constant("structflip" as const), site: fc.nat(nIntSites - 1), byte: fc.nat(255) }),
    );
  }
  if (nSwapSites > 0) {
    specific.push(
      fc.record({ kind: fc.constant("swap" as const), site: fc.nat(nSwapSites - 1), replacement: fc.nat(1000) }),
    );
  }
  // Reader-specific mutations (length lies, type swaps) get as much weight as all the generic ones together.
  return specific.length === 0
    ? fc.oneof(...generic)
    : fc.oneof({ arbitrary: fc.oneof(...generic), weight: 1 }, { arbitrary: fc.oneof(...specific), weight: 1 });
}

function writeUint(out: Uint8Array, site: IntSite, value: bigint): void {
  const v = BigInt.asUintN(site.width * 8, value);
  for (let k = 0; k < site.width; k++) {
    const byte = Number((v >> BigInt(8 * k)) & 0xffn);
    out[site.littleEndian ? site.offset + k : site.offset + site.width - 1 - k] = byte;
  }
}

/** Applies a mutation to a copy of `base`. */
export function applyMutation(
  base: Uint8Array,
  m: Mutation,
  intSites: readonly IntSite[],
  swapSites: readonly SwapSite[],
): Uint8Array {
  const n = base.length;
  const pos = (f: number): number => Math.min(n - 1, Math.floor(f * n));
  switch (m.kind) {
    case "flip": {
      const out = base.slice();
      for (const [f, b] of m.edits) out[pos(f)] = b;
      return out;
    }
    case "bitflip": {
      const out = base.slice();
      out[pos(m.at)] ^= 1 << m.bit;
      return out;
    }
    case "truncate":
      return base.slice(0, pos(m.at));
    case "extend": {
      const out = new Uint8Array(n + m.bytes.length);
      out.set(base);
      out.set(m.bytes, n);
      return out;
    }
    case "insert": {
      const at = pos(m.at);
      const out = new Uint8Array(n + m.bytes.length);
      out.set(base.subarray(0, at));
      out.set(m.bytes, at);
      out.set(base.subarray(at), at + m.bytes.length);
      return out;
    }
    case "delete": {
      const at = pos(m.at);
      const end = Math.min(n, at + m.length);
      const out = new Uint8Array(n - (end - at));
      out.set(base.subarray(0, at));
      out.set(base.subarray(end), at);
      return out;
    }
    case "lie": {
      const out = base.slice();
      writeUint(out, intSites[m.site], m.value);
      return out;
    }
    case "structflip": {
      const out = base.slice();
      out[intSites[m.site].offset] = m.byte;
      return out;
    }
    case "swap": {
      const out = base.slice();
      const s = swapSites[m.site];
      out.set(s.replacements[m.replacement % s.replacements.length], s.offset);
      return out;
    }
  }
}

/** Every offset at which `needle` occurs in `hay`. */
export function findAll(hay: Uint8Array, needle: Uint8Array): number[] {
  const out: number[] = [];
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let k = 0; k < needle.length; k++) if (hay[i + k] !== needle[k]) continue outer;
    out.push(i);
  }
  return out;
}

/** How one fuzz case ended. */
export type Outcome = "typed" | "valid" | "other";

/** Counts of outcomes, plus the first few unexpected errors for the failure message. */
export class Tally {
  cases = 0;
  typed = 0;
  valid = 0;
  other = 0;
  slowest = 0;
  peakRssGrowth = 0;
  readonly otherSamples: string[] = [];
  readonly #rss0 = process.memoryUsage.rss();

  record(outcome: Outcome, ms: number, detail?: string): void {
    this.cases++;
    this[outcome]++;
    this.slowest = Math.max(this.slowest, ms);
    if (outcome === "other" && detail !== undefined && this.otherSamples.length < 12) this.otherSamples.push(detail);
    if (this.cases % 64 === 0)
      this.peakRssGrowth = Math.max(this.peakRssGrowth, process.memoryUsage.rss() - this.#rss0);
  }

  /** The line the acceptance criteria ask for, e.g. `fuzz refl: 10000 cases, 9871 typed errors, 129 valid, 0 other`. */
  line(reader: string): string {
    return (
      `fuzz ${reader}: ${this.cases} cases, ${this.typed} typed errors, ${this.valid} valid, ${this.other} other` +
      ` (slowest case ${this.slowest.toFixed(1)} ms, peak RSS growth ${(this.peakRssGrowth / 2 ** 20).toFixed(0)} MiB)`
    );
  }
}

/** Limits every reader's fuzz run is held to. */
export const CASE_TIME_LIMIT_MS = 2000;
/** Largest RSS growth tolerated over a whole fuzz run (a hostile length must never turn into an allocation). */
export const RSS_GROWTH_LIMIT = 768 * 2 ** 20;

/** A timeout sentinel for {@link withTimeout}. */
export class CaseTimeout extends Error {
  override name = "CaseTimeout";
}

/**
 * Runs an async case with a time limit: a case that does not settle within `ms` rejects with {@link CaseTimeout}
 * (counted as "other"). Synchronous readers cannot be pre-empted; their elapsed time is checked afterwards.
 */
export async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new CaseTimeout(`case did not finish within ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([p, limit]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Classifies what a case threw: an instance of one of `typed` whose message is one line (and, with `file`, names it)
 * is "typed"; anything else (a TypeError, a RangeError from a huge allocation, a timeout, a multi-line message, an
 * error not naming the file) is "other".
 */
export function classify(
  err: unknown,
  typed: readonly (abstract new (...args: never[]) => Error)[],
  file: string | undefined,
): { outcome: Outcome; detail: string } {
  const detail = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  if (!typed.some((t) => err instanceof t)) return { outcome: "other", detail };
  const message = (err as Error).message;
  // One line, printable: no line breaks and no other control characters (a tab is tolerated).
  if (hasControl(message)) {
    return { outcome: "other", detail: `message not one printable line: ${JSON.stringify(message)}` };
  }
  if (file !== undefined && !message.includes(file)) return { outcome: "other", detail: `file not named: ${detail}` };
  return { outcome: "typed", detail };
}

/** Whether a message holds a control character other than a tab (one UTF-16 unit at a time). */
function hasControl(message: string): boolean {
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i);
    if (c !== 0x09 && isControl(c)) return true;
  }
  return false;
}

/** Asserts a tally is clean: every case ended in a typed error or a valid result, in time and in bounded memory. */
export function expectClean(t: Tally, minCases: number): void {
  expect(t.otherSamples).toEqual([]);
  expect(t.other).toBe(0);
  expect(t.cases).toBeGreaterThanOrEqual(minCases);
  expect(t.typed + t.valid).toBe(t.cases);
  expect(t.slowest).toBeLessThan(CASE_TIME_LIMIT_MS);
  expect(t.peakRssGrowth).toBeLessThan(RSS_GROWTH_LIMIT);
}

/**
 * Runs one synchronous fuzz case: `read` returning means a valid input ("valid"); a throw is classified with
 * {@link classify} (typed = `InputError` naming `file`). The outcome and duration go into the tally; the result is
 * always true because the tally, checked by {@link expectClean}, is the verdict.
 */
export function runCaseSync(t: Tally, file: string, read: () => unknown): true {
  const start = performance.now();
  try {
    read();
    t.record("valid", performance.now() - start);
  } catch (err) {
    const c = classify(err, [InputError], file);
    t.record(c.outcome, performance.now() - start, c.detail);
  }
  return true;
}

/** {@link runCaseSync} for an asynchronous reader, bounded by {@link CASE_TIME_LIMIT_MS}. */
export async function runCase(t: Tally, file: string, read: () => Promise<unknown>): Promise<true> {
  const start = performance.now();
  try {
    await withTimeout(read(), CASE_TIME_LIMIT_MS);
    t.record("valid", performance.now() - start);
  } catch (err) {
    const c = classify(err, [InputError], file);
    t.record(c.outcome, performance.now() - start, c.detail);
  }
  return true;
}

/** Scratch space of the fuzz tests: tmpfs when there is one (thousands of small writes), otherwise the OS temp dir. */
const SCRATCH_ROOT = existsSync("/dev/shm") ? "/dev/shm" : tmpdir();

/**
 * A private scratch directory for one test file: made before its tests, removed after them. Call it at the top level
 * of the file; the returned function gives the directory inside the tests.
 */
export function scratchDirectory(prefix: string): () => string {
  let dir: string | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(join(SCRATCH_ROOT, prefix));
  });
  afterAll(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });
  return () => {
    if (dir === undefined) throw new Error("the scratch directory exists only while the tests run");
    return dir;
  };
}
