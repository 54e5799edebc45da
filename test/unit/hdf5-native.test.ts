/**
 * The native HDF5 reader against h5wasm: every layout it covers (files written by h5py in `test/fixtures/hdf5-layouts`,
 * by our own writers, and the shared simulator fixtures when present) reads byte-identical rows and equal attributes
 * through both, over the whole file and over ranges that cut chunks; filtered chunks decode the same in the worker
 * threads; layouts it does not cover fall back to h5wasm; and corrupt chunk data is a typed error naming the file.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, InputError } from "../../src/errors.ts";
import {
  openBinnedDiffuse,
  readBinnedDiffuse,
  writeBinnedDiffuse,
  type BinnedDiffuseChunk,
  type OpenBinnedDiffuseOptions,
} from "../../src/io/binned-diffuse.ts";
import { diffuseChunkSource } from "../../src/observations/diffuse-input.ts";
import { buildScalingObservations } from "../../src/observations/scaling-observations.ts";
import { BinnedDiffuseStreamWriter } from "../../src/simulate/binned-diffuse-stream.ts";
import { unshuffle } from "../../src/io/hdf5-native-decode.ts";
import { lookup3 } from "../../src/io/hdf5-native-format.ts";
import { openNativeH5 } from "../../src/io/hdf5-native-reader.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const LAYOUTS = join(ROOT, "test/fixtures/hdf5-layouts");
const SHARED = join(ROOT, "../shared/fixtures/sim");
const COVERED = readdirSync(LAYOUTS)
  .filter((f) => f.endsWith(".h5") && f !== "fletcher32.h5")
  .map((f) => join(LAYOUTS, f));
const SHARED_FILES = existsSync(SHARED)
  ? readdirSync(SHARED)
      .map((d) => join(SHARED, d, "diffuse_binned.h5"))
      .filter((p) => existsSync(p))
  : [];

const tmp = mkdtempSync(join(tmpdir(), "hdf5-native-"));
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

const KEYS = ["intensities", "sigmas", "stillIds", "voxelIndices", "qVectors"] as const;

function bytesOf(a: ArrayBufferView): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

function expectSameRows(
  a: Omit<BinnedDiffuseChunk, "start">,
  b: Omit<BinnedDiffuseChunk, "start">,
  what: string,
): void {
  for (const k of KEYS) expect(bytesOf(a[k]).equals(bytesOf(b[k])), `${what}: ${k}`).toBe(true);
}

/** Reads the same ranges through both readers and compares them byte for byte. */
async function compareReaders(path: string, native: OpenBinnedDiffuseOptions = {}): Promise<number> {
  const a = await openBinnedDiffuse(path, { ...native, reader: "native" });
  const b = await openBinnedDiffuse(path, { reader: "h5wasm" });
  try {
    const n = a.nObservations;
    expect(n).toBe(b.nObservations);
    expect(a.attributes).toStrictEqual(b.attributes);
    const ranges: [number, number][] = [
      [0, n],
      [0, 0],
      [Math.min(5, n), Math.min(1234, n)],
      [Math.floor(n / 3), Math.floor(n / 3) + Math.min(777, n - Math.floor(n / 3))],
      [Math.max(0, n - 1), n],
    ];
    for (const [s, e] of ranges) {
      expectSameRows(a.readSlice(s, e), b.readSlice(s, e), `${path} rows ${s}..${e}`);
      expect(bytesOf(a.readVoxelIndices(s, e)).equals(bytesOf(b.readVoxelIndices(s, e)))).toBe(true);
    }
    return n;
  } finally {
    a.close();
    b.close();
  }
}

function rows(n: number) {
  return {
    intensities: Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 100),
    sigmas: Float32Array.from({ length: n }, (_, i) => 1 + (i % 5)),
    stillIds: Int32Array.from({ length: n }, (_, i) => i % 9),
    voxelIndices: Float64Array.from({ length: n }, (_, i) => (i * 7919) % 4913),
    qVectors: Float32Array.from({ length: 3 * n }, (_, i) => Math.cos(i) * 0.5),
  };
}
const ATTRS = {
  ndiv: 2,
  hklMax: [4, 4, 4] as [number, number, number],
  voxelGridDims: [17, 17, 17] as [number, number, number],
  voxelIndexRule: "linear",
  note: "extra",
  scale: 0.5,
};

describe("native HDF5 reader = h5wasm", () => {
  it.each(COVERED.map((p) => [p.slice(LAYOUTS.length + 1), p]))("h5py layout %s", async (_name, path) => {
    expect(await compareReaders(path)).toBeGreaterThan(0);
  });

  it.skipIf(SHARED_FILES.length === 0)("every shared simulator fixture (h5py, shuffle + deflate)", async () => {
    for (const p of SHARED_FILES) expect(await compareReaders(p)).toBeGreaterThan(1000);
  });

  it("files of our writers: deflated, plain, chunks not dividing the slices, and the streaming writer", async () => {
    const data = rows(5000);
    for (const [name, compression, chunkRows] of [
      ["deflate.h5", true, 333],
      ["plain.h5", false, 1 << 16],
      ["one-row-chunks.h5", true, 1],
    ] as const) {
      const p = join(tmp, name);
      await writeBinnedDiffuse(p, data, ATTRS, { compression, chunkRows });
      await compareReaders(p);
      expectSameRows(await readBinnedDiffuse(p), data, name);
    }
    const p = join(tmp, "stream.h5");
    const w = await BinnedDiffuseStreamWriter.create(p, { bufferRows: 1000, chunkRows: 300 });
    w.append(5000, 3, data.intensities, data.sigmas, data.voxelIndices, data.qVectors);
    w.close({ ndiv: 2, hkl_max: [4, 4, 4], voxel_grid_dims: [17, 17, 17], voxel_index_rule: "linear" });
    await compareReaders(p);
  });

  it("filtered chunks decoded in worker threads give the same bytes", async () => {
    for (const f of ["btree-shuffle-gzip.h5", "latest-fixed-array.h5"]) {
      await compareReaders(join(LAYOUTS, f), { decodeThreads: 2, parallelMinBytes: 0 });
    }
  });

  it("grouping is identical from either reader", async () => {
    const p = join(LAYOUTS, "btree-shuffle-gzip.h5");
    const group = async (reader: "native" | "h5wasm") => {
      const f = await openBinnedDiffuse(p, { reader, decodeThreads: 1 });
      try {
        const { source, counts } = diffuseChunkSource(f, 17);
        const obs = buildScalingObservations(17, undefined, source);
        if (obs.rows.kind !== "resident") throw new Error("expected resident rows");
        return { obs, counts, rows: obs.rows };
      } finally {
        f.close();
      }
    };
    const a = await group("native");
    const b = await group("h5wasm");
    expect(a.counts).toStrictEqual(b.counts);
    expect(bytesOf(a.obs.groupStart).equals(bytesOf(b.obs.groupStart))).toBe(true);
    expect(bytesOf(a.obs.voxelIndex).equals(bytesOf(b.obs.voxelIndex))).toBe(true);
    for (const k of Object.keys(a.rows) as (keyof typeof a.rows)[]) {
      const x = a.rows[k];
      const y = b.rows[k];
      if (ArrayBuffer.isView(x) && ArrayBuffer.isView(y)) expect(bytesOf(x).equals(bytesOf(y)), k).toBe(true);
    }
  });
});

describe("outside the native reader's coverage", () => {
  const fletcher = join(LAYOUTS, "fletcher32.h5");
  it("a filter it does not undo (Fletcher-32) falls back to h5wasm in auto mode, and is refused in native mode", async () => {
    const viaAuto = await readBinnedDiffuse(fletcher);
    const reference = await readBinnedDiffuse(join(LAYOUTS, "contiguous.h5"), { reader: "h5wasm" });
    expectSameRows(viaAuto, reference, "fletcher32 vs contiguous");
    await expect(openBinnedDiffuse(fletcher, { reader: "native" })).rejects.toThrow(
      /fletcher32\.h5: layout not covered by the native HDF5 reader/,
    );
    await expect(openBinnedDiffuse(fletcher, { reader: "fast" as "auto" })).rejects.toBeInstanceOf(ConfigError);
  });

  it("a wrong dtype is reported by the h5wasm path's validation (same message as before)", async () => {
    const p = join(tmp, "bad-dtype.h5");
    const { loadH5wasm } = await import("../../src/io/hdf5.ts");
    const h5 = await loadH5wasm();
    const f = new h5.File(p, "w");
    const r = rows(10);
    f.create_dataset({ name: "intensities", data: Float64Array.from(r.intensities), shape: [10], dtype: "<d" });
    f.create_dataset({ name: "sigmas", data: r.sigmas, shape: [10], dtype: "<f4" });
    f.create_dataset({ name: "still_ids", data: r.stillIds, shape: [10], dtype: "<i4" });
    f.create_dataset({
      name: "voxel_indices",
      data: BigInt64Array.from(r.voxelIndices, BigInt),
      shape: [10],
      dtype: "<q",
    });
    f.create_dataset({ name: "q_vectors", data: r.qVectors, shape: [10, 3], dtype: "<f4" });
    f.close();
    await expect(readBinnedDiffuse(p)).rejects.toThrow(/bad-dtype\.h5: dataset 'intensities' has dtype float64/);
  });

  it("corrupt deflate data is an InputError naming the file and the dataset, on either thread", async () => {
    const p = join(tmp, "corrupt.h5");
    await writeBinnedDiffuse(p, rows(4000), ATTRS, { compression: true, chunkRows: 500 });
    const native = openNativeH5(p, ["sigmas"]);
    const chunks = native?.datasets.get("sigmas")?.chunks;
    native?.close();
    if (chunks === undefined) throw new Error("the writer's layout is covered");
    // zero the middle of the fourth chunk of 'sigmas' (compressed data; the metadata stays intact)
    const bad = Buffer.from(readFileSync(p));
    const at = chunks.address[3] + Math.floor(chunks.size[3] / 2);
    bad.fill(0, at, at + 16);
    writeFileSync(p, bad);
    for (const options of [{ decodeThreads: 1 }, { decodeThreads: 2, parallelMinBytes: 0 }]) {
      const g = await openBinnedDiffuse(p, { ...options, reader: "native" });
      try {
        expect(() => g.readSlice(0, g.nObservations)).toThrow(InputError);
        expect(() => g.readSlice(0, g.nObservations)).toThrow(/corrupt\.h5: reading dataset 'sigmas' rows 0\.\.4000: /);
      } finally {
        g.close();
      }
    }
    await expect(readBinnedDiffuse(p, { reader: "h5wasm" })).rejects.toBeInstanceOf(InputError);
  });
});

describe("decoding kernels", () => {
  it("unshuffle inverts HDF5's byte-plane shuffle, trailing bytes kept", () => {
    const elements = Uint8Array.from({ length: 4 * 5 }, (_, i) => i);
    const shuffled = new Uint8Array(22);
    for (let b = 0; b < 4; b++) for (let i = 0; i < 5; i++) shuffled[b * 5 + i] = elements[4 * i + b];
    shuffled.set([200, 201], 20);
    expect(Array.from(unshuffle(shuffled, 4))).toEqual([...Array.from(elements), 200, 201]);
  });

  it("lookup3 matches Bob Jenkins' published hashlittle values", () => {
    const enc = new TextEncoder();
    expect(lookup3(new Uint8Array(0), 0, 0)).toBe(0xdeadbeef);
    const s = enc.encode("Four score and seven years ago");
    expect(lookup3(s, 0, s.length)).toBe(0x17770551);
  });
});

beforeAll(() => {
  expect(COVERED.length).toBeGreaterThanOrEqual(6);
});
