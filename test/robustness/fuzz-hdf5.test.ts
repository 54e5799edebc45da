/**
 * Fuzzing of the binned-diffuse HDF5 reader (issue 7): 10,000 mutated copies of valid `diffuse_binned.h5` files
 * (uncompressed and deflated, written by our writer; a slice of the simulator's h5py-written file when the shared
 * fixtures are present), with length lies on every dataspace dimension and on the fields after each HDF5 structure
 * signature, each written to a scratch file and read whole with {@link readBinnedDiffuse}; and files whose datasets or
 * attributes have the wrong type, rank, shape or value (type swaps), written with h5wasm directly. Every case must end
 * in a typed {@link InputError} naming the file, or in a valid read, within the time limit and bounded memory.
 */
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError, InputError } from "../../src/errors.ts";
import { readBinnedDiffuse, writeBinnedDiffuse, type BinnedDiffuseAttributes } from "../../src/io/binned-diffuse.ts";
import { loadH5wasm } from "../../src/io/hdf5.ts";
import {
  Tally,
  applyMutation,
  expectClean,
  findAll,
  mutationArb,
  runCase,
  type IntSite,
  scratchDirectory,
} from "./fuzz-harness.ts";

const SIM = fileURLToPath(new URL("../../../shared/fixtures/sim/tetragonal-40/diffuse_binned.h5", import.meta.url));
/** Row count of the small base files: an unusual value, so its 8-byte occurrences are the dataspace dimensions. */
const N = 37;

const scratch = scratchDirectory("fuzz-h5-");

const ATTRS: BinnedDiffuseAttributes = {
  ndiv: 2,
  hklMax: [3, 3, 3],
  voxelGridDims: [13, 13, 13],
  voxelIndexRule: "sub = round(hkl*ndiv); asu; linear",
};

function rows(n: number) {
  return {
    intensities: Float32Array.from({ length: n }, (_, i) => 10 + i),
    sigmas: Float32Array.from({ length: n }, (_, i) => 1 + (i % 3)),
    stillIds: Int32Array.from({ length: n }, (_, i) => i % 4),
    voxelIndices: Float64Array.from({ length: n }, (_, i) => (i * 17) % (13 * 13 * 13)),
    qVectors: Float32Array.from({ length: 3 * n }, (_, i) => 0.01 * (i % 7)),
  };
}

async function baseFile(name: string, compression: boolean): Promise<Uint8Array> {
  const p = join(scratch(), name);
  await writeBinnedDiffuse(p, rows(N), ATTRS, { compression, chunkRows: 16 });
  return new Uint8Array(readFileSync(p));
}

/** The simulator's h5py-written file, whole (cutting it would need h5py), when the shared fixtures are present. */
function simFile(): Uint8Array | undefined {
  return existsSync(SIM) ? new Uint8Array(readFileSync(SIM)) : undefined;
}

const le64 = (v: number): Uint8Array => {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(v), true);
  return out;
};

/** Dataspace dimensions (8-byte little-endian `nRows`) and the fields after each HDF5 structure signature. */
function h5Sites(b: Uint8Array, nRows: number): IntSite[] {
  const sites: IntSite[] = [];
  for (const p of findAll(b, le64(nRows))) sites.push({ offset: p, width: 8, littleEndian: true });
  const enc = new TextEncoder();
  for (const sig of [
    "\x89HDF\r\n\x1a\n",
    "OHDR",
    "OCHK",
    "TREE",
    "HEAP",
    "SNOD",
    "BTHD",
    "BTLF",
    "FRHP",
    "FHDB",
    "GCOL",
  ]) {
    const bytes = sig.startsWith("\x89")
      ? Uint8Array.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a])
      : enc.encode(sig);
    for (const p of findAll(b, bytes)) {
      for (let o = bytes.length; o < bytes.length + 40; o += 4) {
        if (p + o + 8 <= b.length) sites.push({ offset: p + o, width: o % 8 === 0 ? 8 : 4, littleEndian: true });
      }
    }
  }
  return sites;
}

async function fuzz(t: Tally, base: Uint8Array, nRows: number, numRuns: number, seed: number): Promise<void> {
  const ints = h5Sites(base, nRows);
  expect(ints.length).toBeGreaterThan(5);
  const path = join(scratch(), "case.h5");
  await fc.assert(
    fc.asyncProperty(mutationArb(ints.length, 0), async (m) => {
      writeFileSync(path, applyMutation(base, m, ints, []));
      return runCase(t, path, async () => {
        const r = await readBinnedDiffuse(path);
        expect(r.qVectors.length).toBe(3 * r.intensities.length);
      });
    }),
    { seed, numRuns },
  );
}

type H5 = Awaited<ReturnType<typeof loadH5wasm>>;
type H5File = InstanceType<H5["File"]>;

interface Variant {
  name: string;
  /** Fragment the error message must contain. */
  expect: string;
  build: (f: H5File) => void;
}

/** Writes the five datasets and four attributes, letting `patch` change one of them. */
function standard(
  f: H5File,
  patch: { skip?: string; dataset?: [string, unknown, number[], string]; attrs?: Record<string, unknown> } = {},
): void {
  const r = rows(N);
  const ds: [string, unknown, number[], string][] = [
    ["intensities", r.intensities, [N], "<f4"],
    ["sigmas", r.sigmas, [N], "<f4"],
    ["still_ids", r.stillIds, [N], "<i4"],
    ["voxel_indices", BigInt64Array.from(r.voxelIndices, (v) => BigInt(v)), [N], "<q"],
    ["q_vectors", r.qVectors, [N, 3], "<f4"],
  ];
  for (const [name, data, shape, dtype] of ds) {
    if (name === patch.skip) continue;
    const d = patch.dataset?.[0] === name ? patch.dataset : [name, data, shape, dtype];
    f.create_dataset({
      name: d[0] as string,
      data: d[1] as Float32Array,
      shape: d[2] as number[],
      dtype: d[3] as string,
    });
  }
  const attrs: Record<string, unknown> = {
    ndiv: BigInt64Array.from([2n]),
    hkl_max: BigInt64Array.from([3n, 3n, 3n]),
    voxel_grid_dims: BigInt64Array.from([13n, 13n, 13n]),
    voxel_index_rule: "rule",
    ...patch.attrs,
  };
  for (const [name, v] of Object.entries(attrs)) {
    if (v === undefined) continue;
    if (typeof v === "string") f.create_attribute(name, v);
    else if (v instanceof BigInt64Array)
      f.create_attribute(name, v, v.length === 1 && name === "ndiv" ? [] : [v.length], "<q");
    else if (v instanceof Float64Array) f.create_attribute(name, v, [v.length], "<d");
  }
}

const r0 = rows(N);
const VARIANTS: Variant[] = [
  {
    name: "intensities as float64",
    expect: "'intensities' has dtype float64",
    build: (f) => {
      standard(f, { dataset: ["intensities", Float64Array.from(r0.intensities), [N], "<d"] });
    },
  },
  {
    name: "sigmas as int32",
    expect: "'sigmas' has dtype int32",
    build: (f) => {
      standard(f, { dataset: ["sigmas", Int32Array.from(r0.sigmas), [N], "<i4"] });
    },
  },
  {
    name: "still_ids as uint32",
    expect: "'still_ids' has dtype uint32",
    build: (f) => {
      standard(f, { dataset: ["still_ids", Uint32Array.from(r0.stillIds), [N], "<I"] });
    },
  },
  {
    name: "still_ids as int64",
    expect: "'still_ids' has dtype int64",
    build: (f) => {
      standard(f, { dataset: ["still_ids", BigInt64Array.from(r0.stillIds, (v) => BigInt(v)), [N], "<q"] });
    },
  },
  {
    name: "voxel_indices as float32",
    expect: "'voxel_indices' has dtype float32",
    build: (f) => {
      standard(f, { dataset: ["voxel_indices", Float32Array.from(r0.voxelIndices), [N], "<f4"] });
    },
  },
  {
    name: "q_vectors flat",
    expect: "'q_vectors' has shape",
    build: (f) => {
      standard(f, { dataset: ["q_vectors", r0.qVectors, [3 * N], "<f4"] });
    },
  },
  {
    name: "q_vectors (N, 2)",
    expect: "'q_vectors' has shape",
    build: (f) => {
      standard(f, { dataset: ["q_vectors", r0.qVectors.subarray(0, 2 * N), [N, 2], "<f4"] });
    },
  },
  {
    name: "sigmas 2-D",
    expect: "'sigmas' has shape",
    build: (f) => {
      standard(f, { dataset: ["sigmas", Float32Array.from({ length: 2 * N }), [N, 2], "<f4"] });
    },
  },
  {
    name: "sigmas one row short",
    expect: "'sigmas' has 36 rows",
    build: (f) => {
      standard(f, { dataset: ["sigmas", r0.sigmas.subarray(1), [N - 1], "<f4"] });
    },
  },
  {
    name: "missing voxel_indices",
    expect: "missing dataset 'voxel_indices'",
    build: (f) => {
      standard(f, { skip: "voxel_indices" });
    },
  },
  {
    name: "missing intensities",
    expect: "missing dataset 'intensities'",
    build: (f) => {
      standard(f, { skip: "intensities" });
    },
  },
  {
    name: "negative still id",
    expect: "negative still id",
    build: (f) => {
      standard(f, { dataset: ["still_ids", Int32Array.from(r0.stillIds, (v, i) => (i === 5 ? -3 : v)), [N], "<i4"] });
    },
  },
  {
    name: "voxel index outside the grid",
    expect: "outside the voxel grid",
    build: (f) => {
      standard(f, {
        dataset: [
          "voxel_indices",
          BigInt64Array.from(r0.voxelIndices, (v, i) => (i === 7 ? 13n ** 3n : BigInt(v))),
          [N],
          "<q",
        ],
      });
    },
  },
  {
    name: "negative voxel index",
    expect: "outside the voxel grid",
    build: (f) => {
      standard(f, {
        dataset: [
          "voxel_indices",
          BigInt64Array.from(r0.voxelIndices, (v, i) => (i === 2 ? -1n : BigInt(v))),
          [N],
          "<q",
        ],
      });
    },
  },
  {
    name: "missing ndiv",
    expect: "missing attribute 'ndiv'",
    build: (f) => {
      standard(f, { attrs: { ndiv: undefined } });
    },
  },
  {
    name: "ndiv zero",
    expect: "attribute 'ndiv' must be a positive integer",
    build: (f) => {
      standard(f, { attrs: { ndiv: BigInt64Array.from([0n]) } });
    },
  },
  {
    name: "ndiv fractional",
    expect: "attribute 'ndiv' must be a positive integer",
    build: (f) => {
      standard(f, { attrs: { ndiv: Float64Array.from([2.5]) } });
    },
  },
  {
    name: "ndiv a string",
    expect: "attribute 'ndiv' must be a positive integer",
    build: (f) => {
      standard(f, { attrs: { ndiv: "2" } });
    },
  },
  {
    name: "hkl_max of 2",
    expect: "attribute 'hkl_max' must be 3 integers",
    build: (f) => {
      standard(f, { attrs: { hkl_max: BigInt64Array.from([3n, 3n]) } });
    },
  },
  {
    name: "voxel_grid_dims negative",
    expect: "attribute 'voxel_grid_dims' must be 3 integers",
    build: (f) => {
      standard(f, { attrs: { voxel_grid_dims: BigInt64Array.from([13n, -13n, 13n]) } });
    },
  },
  {
    name: "voxel_grid_dims huge",
    expect: "more than 2^53 voxels",
    build: (f) => {
      standard(f, { attrs: { voxel_grid_dims: BigInt64Array.from([2n ** 20n, 2n ** 20n, 2n ** 20n]) } });
    },
  },
  {
    name: "voxel_index_rule a number",
    expect: "attribute 'voxel_index_rule' must be a string",
    build: (f) => {
      standard(f, { attrs: { voxel_index_rule: Float64Array.from([1]) } });
    },
  },
  {
    name: "missing voxel_index_rule",
    expect: "missing attribute 'voxel_index_rule'",
    build: (f) => {
      standard(f, { attrs: { voxel_index_rule: undefined } });
    },
  },
];

describe("fuzzing the binned-diffuse HDF5 reader", () => {
  it("10,000 mutated .h5 files: only typed InputErrors naming the file, or valid reads", async () => {
    const t = new Tally();
    const plain = await baseFile("plain.h5", false);
    const deflated = await baseFile("deflated.h5", true);
    const sim = simFile();
    await fuzz(t, plain, N, 5000, 42);
    await fuzz(t, deflated, N, sim === undefined ? 5000 : 4800, 43);
    // The simulator's file (3 MB, 100k+ rows) is slow to read whole; a few hundred cases cover its h5py layout.
    if (sim !== undefined) await fuzz(t, sim, (await readBinnedDiffuse(SIM)).intensities.length, 200, 44);
    console.log(t.line("hdf5"));
    expectClean(t, 10_000);
    expect(t.typed).toBeGreaterThan(t.cases / 10);
    expect(t.valid).toBeGreaterThan(0);
  });

  it("type swaps: wrong dtypes, ranks, shapes, row counts and attributes are typed errors naming the field", async () => {
    const h5 = await loadH5wasm();
    for (const v of VARIANTS) {
      const path = join(scratch(), `variant-${v.name.replace(/\W+/g, "-")}.h5`);
      const f = new h5.File(path, "w");
      v.build(f);
      f.close();
      const err = await readBinnedDiffuse(path).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, v.name).toBeInstanceOf(InputError);
      expect((err as InputError).message, v.name).toContain(path);
      expect((err as InputError).message, v.name).toContain(v.expect);
      expect((err as InputError).message).not.toMatch(/[\r\n]/);
    }
    expect(VARIANTS.length).toBeGreaterThanOrEqual(20);
  });

  it("a missing file, a directory and a non-HDF5 file are InputErrors; a bad path argument a ConfigError", async () => {
    await expect(readBinnedDiffuse(join(scratch(), "nope.h5"))).rejects.toThrow(/nope\.h5: file not found/);
    await expect(readBinnedDiffuse(scratch())).rejects.toThrow(/not a regular file/);
    const txt = join(scratch(), "text.h5");
    writeFileSync(txt, "not hdf5\n");
    await expect(readBinnedDiffuse(txt)).rejects.toBeInstanceOf(InputError);
    await expect(readBinnedDiffuse("")).rejects.toBeInstanceOf(ConfigError);
  });
});
