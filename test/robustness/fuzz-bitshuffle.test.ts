/**
 * Fuzzing the bitshuffle-LZ4 and LZ4 chunk decoders: stored chunks of h5py-written files (make_filter_files.py),
 * mutated (bytes flipped, runs overwritten, truncated or extended, big-endian size fields set to edge values) and
 * decoded. Every outcome is either exactly the chunk's size in bytes or an InputError; nothing hangs, and a header
 * that declares more than the chunk's size is refused before any allocation.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { InputError } from "../../src/errors.ts";
import { decodeChunk, type PipelineFilter } from "../../src/io/hdf5-native-decode.ts";
import { openNativeH5 } from "../../src/io/hdf5-native-reader.ts";

const FILE = fileURLToPath(new URL("../fixtures/hdf5-filters/filters.h5", import.meta.url));
const CASES = ["u8_small_chunks", "u16_blocks_of_64", "u32_two_blocks_and_a_short_one", "f64_rank1", "u16_lz4_blocks"];

interface StoredChunk {
  name: string;
  bytes: Uint8Array;
  pipeline: readonly PipelineFilter[];
  elementSize: number;
  chunkBytes: number;
}

function storedChunks(): StoredChunk[] {
  const h5 = openNativeH5(
    FILE,
    CASES.map((c) => `entry/data/${c}`),
    { rootAttributes: false, decodeThreads: 1 },
  );
  if (h5 === undefined) throw new Error("filters.h5 not read natively");
  const file = readFileSync(FILE);
  const out: StoredChunk[] = [];
  try {
    for (const c of CASES) {
      const ds = h5.datasets.get(`entry/data/${c}`);
      if (ds === undefined) throw new Error(c);
      const at = ds.chunks.address[0];
      out.push({
        name: c,
        bytes: Uint8Array.from(file.subarray(at, at + ds.chunks.size[0])),
        pipeline: ds.filters,
        elementSize: ds.type.size,
        chunkBytes: ds.chunks.chunkDims.reduce((a, b) => a * b, ds.type.size),
      });
    }
  } finally {
    h5.close();
  }
  return out;
}

type Mutation =
  | { kind: "flip"; at: number; xor: number }
  | { kind: "run"; at: number; length: number; value: number }
  | { kind: "truncate"; keep: number }
  | { kind: "extend"; extra: number }
  | { kind: "u32"; at: number; value: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({
    kind: fc.constant("run" as const),
    at: fc.nat(),
    length: fc.integer({ min: 1, max: 64 }),
    value: fc.constantFrom(0, 0xff, 0x0f, 0xf0),
  }),
  fc.record({ kind: fc.constant("truncate" as const), keep: fc.nat() }),
  fc.record({ kind: fc.constant("extend" as const), extra: fc.integer({ min: 1, max: 64 }) }),
  fc.record({
    kind: fc.constant("u32" as const),
    at: fc.constantFrom(0, 4, 8, 12, 16),
    value: fc.constantFrom(0, 1, 7, 8, 0xffffffff, 0x7fffffff, 0x10000, 4096),
  }),
);

function mutate(base: Uint8Array, ms: readonly Mutation[]): Uint8Array {
  let b = Uint8Array.from(base);
  for (const m of ms) {
    if (b.length === 0) break;
    if (m.kind === "flip") b[m.at % b.length] ^= m.xor;
    else if (m.kind === "run") b.fill(m.value, m.at % b.length, Math.min(b.length, (m.at % b.length) + m.length));
    else if (m.kind === "truncate") b = b.slice(0, m.keep % b.length);
    else if (m.kind === "extend") b = Uint8Array.from([...b, ...new Uint8Array(m.extra).fill(0x11)]);
    else if (m.at + 4 <= b.length) new DataView(b.buffer).setUint32(m.at, m.value, false);
  }
  return b;
}

describe("bitshuffle-LZ4 and LZ4 chunk decoders under corrupt input", () => {
  const chunks = storedChunks();

  it("the unmutated chunks decode", () => {
    for (const c of chunks) {
      expect(decodeChunk(c.bytes, c.pipeline, 0, c.elementSize, c.chunkBytes).length).toBe(c.chunkBytes);
    }
  });

  it.each(chunks.map((c) => [c.name, c] as const))(
    "%s: every mutated chunk decodes to its size or is an InputError",
    (_name, c) => {
      const outcomes = { decoded: 0, refused: 0 };
      const started = Date.now();
      fc.assert(
        fc.property(fc.array(mutationArb, { minLength: 1, maxLength: 4 }), (ms) => {
          const bytes = mutate(c.bytes, ms);
          try {
            const out = decodeChunk(bytes, c.pipeline, 0, c.elementSize, c.chunkBytes);
            expect(out.length).toBe(c.chunkBytes);
            outcomes.decoded++;
          } catch (error) {
            if (!(error instanceof InputError)) throw error;
            expect(error.message).not.toMatch(/\n/);
            outcomes.refused++;
          }
        }),
        { seed: 32008, numRuns: 400 },
      );
      // both outcomes occur (the mutations reach past the headers), in bounded time
      expect(outcomes.refused).toBeGreaterThan(50);
      expect(outcomes.decoded + outcomes.refused).toBe(400);
      expect(Date.now() - started).toBeLessThan(30_000);
    },
  );

  it("every truncation of a chunk is an InputError", () => {
    for (const c of chunks) {
      for (let keep = 0; keep < c.bytes.length; keep++) {
        expect(() => decodeChunk(c.bytes.subarray(0, keep), c.pipeline, 0, c.elementSize, c.chunkBytes)).toThrow(
          InputError,
        );
      }
    }
  });
});
