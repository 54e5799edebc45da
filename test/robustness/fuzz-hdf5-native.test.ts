/**
 * Fuzzing the native HDF5 reader against h5wasm: mutated copies of small binned-diffuse files in the layouts the native
 * reader covers (our writer's, deflated and plain; h5py's B-tree with shuffle + deflate; h5py's fixed array), each
 * read whole by the default reader (native where covered, h5wasm otherwise) and by h5wasm alone. The default reader
 * keeps the readers' guarantees (a typed InputError naming the file, or a valid read, in bounded time and memory), and
 * wherever the native reader returns rows, h5wasm returns the same bytes or refuses the file.
 */
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readBinnedDiffuse, writeBinnedDiffuse, type BinnedDiffuseAttributes } from "../../src/io/binned-diffuse.ts";
import { openNativeH5 } from "../../src/io/hdf5-native-reader.ts";
import {
  Tally,
  applyMutation,
  expectClean,
  findAll,
  mutationArb,
  runCase,
  scratchDirectory,
  type IntSite,
} from "./fuzz-harness.ts";

const LAYOUTS = fileURLToPath(new URL("../fixtures/hdf5-layouts/", import.meta.url));
const scratch = scratchDirectory("fuzz-h5n-");
const N = 37;
const ATTRS: BinnedDiffuseAttributes = { ndiv: 2, hklMax: [3, 3, 3], voxelGridDims: [13, 13, 13], voxelIndexRule: "r" };

/** Integer fields after each HDF5 structure signature (where a length or address lie does the most harm). */
function sites(b: Uint8Array): IntSite[] {
  const out: IntSite[] = [];
  const enc = new TextEncoder();
  for (const sig of ["OHDR", "OCHK", "TREE", "HEAP", "SNOD", "GCOL", "FAHD", "FADB", "EAHD", "EAIB", "EADB", "EASB"]) {
    for (const p of findAll(b, enc.encode(sig))) {
      for (let o = 4; o < 44; o += 4) {
        if (p + o + 8 <= b.length) out.push({ offset: p + o, width: o % 8 === 0 ? 8 : 4, littleEndian: true });
      }
    }
  }
  for (let o = 8; o < 96; o += 8) out.push({ offset: o, width: 8, littleEndian: true });
  return out;
}

/** How the native reader compared with h5wasm over the cases. */
interface Agreement {
  cases: number;
  /** Cases the native reader covered (it read or rejected them itself). */
  native: number;
  /** Of those it read, h5wasm read the same bytes. */
  same: number;
  /** Of those it read, h5wasm read different bytes (must stay 0). */
  different: number;
  /** Of those it read, h5wasm refused the file (HDF5 checks something the native reader does not need). */
  h5wasmRefused: number;
  samples: string[];
}

type Rows = Awaited<ReturnType<typeof readBinnedDiffuse>>;

function sameRows(a: Rows, b: Rows): boolean {
  const bytes = (x: ArrayBufferView) => Buffer.from(x.buffer, x.byteOffset, x.byteLength);
  const keys = ["intensities", "sigmas", "stillIds", "voxelIndices", "qVectors"] as const;
  return (
    keys.every((k) => bytes(a[k]).equals(bytes(b[k]))) && JSON.stringify(a.attributes) === JSON.stringify(b.attributes)
  );
}

const show = (m: unknown): string => JSON.stringify(m, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));

async function fuzz(t: Tally, agree: Agreement, base: Uint8Array, numRuns: number, seed: number): Promise<void> {
  const ints = sites(base);
  const path = join(scratch(), "case.h5");
  await fc.assert(
    fc.asyncProperty(mutationArb(ints.length, 0), async (m) => {
      const bytes = applyMutation(base, m, ints, []);
      writeFileSync(path, bytes);
      const native = openNativeH5(path, ["intensities", "sigmas", "still_ids", "voxel_indices", "q_vectors"]);
      native?.close();
      let mine: Rows | undefined;
      await runCase(t, path, async () => {
        mine = await readBinnedDiffuse(path);
      });
      if (native === undefined) return true;
      agree.native++;
      if (mine === undefined) return true;
      // h5wasm reads a copy under a fresh name: HDF5 hands a later open of the same name the file it still holds
      // open after a failed read, with that file's cached metadata
      const copy = join(scratch(), `reference-${agree.cases++}.h5`);
      writeFileSync(copy, bytes);
      const reference = await readBinnedDiffuse(copy, { reader: "h5wasm" }).catch(() => undefined);
      rmSync(copy, { force: true });
      if (reference === undefined) agree.h5wasmRefused++;
      else if (sameRows(mine, reference)) agree.same++;
      else {
        agree.different++;
        agree.samples.push(show(m));
      }
      return true;
    }),
    { seed, numRuns },
  );
}

describe("fuzzing the native HDF5 reader against h5wasm", () => {
  it("mutated files in every covered layout: typed errors or valid reads, and equal rows wherever both read", async () => {
    const t = new Tally();
    const agree: Agreement = { cases: 0, native: 0, same: 0, different: 0, h5wasmRefused: 0, samples: [] };
    const rows = {
      intensities: Float32Array.from({ length: N }, (_, i) => 10 + i),
      sigmas: Float32Array.from({ length: N }, (_, i) => 1 + (i % 3)),
      stillIds: Int32Array.from({ length: N }, (_, i) => i % 4),
      voxelIndices: Float64Array.from({ length: N }, (_, i) => (i * 17) % 2197),
      qVectors: Float32Array.from({ length: 3 * N }, (_, i) => 0.01 * (i % 7)),
    };
    const bases: Uint8Array[] = [];
    for (const compression of [true, false]) {
      const p = join(scratch(), `base-${compression}.h5`);
      await writeBinnedDiffuse(p, rows, ATTRS, { compression, chunkRows: 16 });
      bases.push(new Uint8Array(readFileSync(p)));
    }
    for (const f of ["btree-shuffle-gzip.h5", "latest-fixed-array.h5"]) {
      bases.push(new Uint8Array(readFileSync(join(LAYOUTS, f))));
    }
    for (const [i, base] of bases.entries()) await fuzz(t, agree, base, 300, 70 + i);
    console.log(t.line("hdf5 native"), JSON.stringify({ ...agree, samples: agree.samples.length }));
    expectClean(t, 1200);
    expect(agree.samples).toEqual([]);
    expect(agree.different).toBe(0);
    expect(agree.native).toBeGreaterThan(t.cases / 10);
    expect(agree.same).toBeGreaterThan(t.cases / 10);
  });
});
