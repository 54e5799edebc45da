import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { File as H5File } from "h5wasm/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, InputError } from "../../src/errors.ts";
import { openBinnedDiffuse, readBinnedDiffuse, writeBinnedDiffuse } from "../../src/io/binned-diffuse.ts";
import type { BinnedDiffuseAttributes, BinnedDiffuseChunk } from "../../src/io/binned-diffuse.ts";
import { loadH5wasm, writeRowsChunked } from "../../src/io/hdf5.ts";
import { readNpz } from "../../src/io/npz.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SIM = join(ROOT, "../shared/fixtures/sim/tetragonal-40");
const H5 = join(SIM, "diffuse_binned.h5");
const HAVE_FIXTURE = existsSync(H5) && existsSync(join(SIM, "truth.json"));
if (!HAVE_FIXTURE) console.warn(`binned-diffuse tests: ${H5} absent, fixture tests skipped`);

const tmp = mkdtempSync(join(tmpdir(), "binned-test-"));
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

type Full = BinnedDiffuseChunk & { attributes: BinnedDiffuseAttributes };

describe.skipIf(!HAVE_FIXTURE)("diffuse_binned.h5 of the tetragonal-40 simulation", () => {
  const truth = HAVE_FIXTURE
    ? (JSON.parse(readFileSync(join(SIM, "truth.json"), "utf8")) as {
        n_diffuse: number;
        voxel_grid_dims: number[];
        hkl_max: number[];
        args: { stills: number; voxel_subdiv: number };
      })
    : undefined;
  let full: Full;
  beforeAll(async () => {
    full = await readBinnedDiffuse(H5);
  });

  it("has truth.json's row count and attributes", async () => {
    if (truth === undefined) throw new Error("unreachable");
    const f = await openBinnedDiffuse(H5);
    try {
      expect(f.nObservations).toBe(truth.n_diffuse);
      expect(f.attributes.voxelGridDims).toEqual(truth.voxel_grid_dims);
      expect(f.attributes.hklMax).toEqual(truth.hkl_max);
      expect(f.attributes.ndiv).toBe(2);
      expect(f.attributes.ndiv).toBe(truth.args.voxel_subdiv);
      expect(f.attributes.voxelIndexRule).toMatch(/^sub=round\(hkl\*ndiv\)/);
    } finally {
      f.close();
    }
    expect(full.intensities.length).toBe(truth.n_diffuse);
    expect(full.qVectors.length).toBe(3 * truth.n_diffuse);
    expect(full.start).toBe(0);
  });

  it("slice reads equal the full read, and chunks() covers every row exactly once", async () => {
    const f = await openBinnedDiffuse(H5);
    try {
      const n = f.nObservations;
      for (const [s, e] of [
        [0, 1],
        [12345, 12400],
        [n - 7, n],
        [100, 100],
      ]) {
        const c = f.readSlice(s, e);
        expect(c.start).toBe(s);
        expect(Array.from(c.intensities)).toEqual(Array.from(full.intensities.subarray(s, e)));
        expect(Array.from(c.sigmas)).toEqual(Array.from(full.sigmas.subarray(s, e)));
        expect(Array.from(c.stillIds)).toEqual(Array.from(full.stillIds.subarray(s, e)));
        expect(Array.from(c.voxelIndices)).toEqual(Array.from(full.voxelIndices.subarray(s, e)));
        expect(Array.from(c.qVectors)).toEqual(Array.from(full.qVectors.subarray(3 * s, 3 * e)));
      }
      const seen = new Uint8Array(n);
      let next = 0;
      let sumI = 0;
      for (const c of f.chunks(7777)) {
        expect(c.start).toBe(next);
        expect(c.intensities.length).toBeLessThanOrEqual(7777);
        for (let i = 0; i < c.intensities.length; i++) {
          seen[c.start + i]++;
          sumI += c.intensities[i];
        }
        expect(c.voxelIndices[c.voxelIndices.length - 1]).toBe(full.voxelIndices[c.start + c.voxelIndices.length - 1]);
        next = c.start + c.intensities.length;
      }
      expect(next).toBe(n);
      expect(seen.every((v) => v === 1)).toBe(true);
      const sumFull = full.intensities.reduce((a, b) => a + b, 0);
      expect(Math.abs(sumI - sumFull)).toBeLessThanOrEqual(1e-9 * Math.abs(sumFull));
      expect(() => f.readSlice(-1, 3)).toThrow(ConfigError);
      expect(() => f.readSlice(5, 3)).toThrow(ConfigError);
      expect(() => f.readSlice(0, n + 1)).toThrow(ConfigError);
      expect(() => f.readSlice(0.5, 3)).toThrow(ConfigError);
      expect(() => f.chunks(0)).toThrow(ConfigError);
    } finally {
      f.close();
    }
    expect(() => f.readSlice(0, 1)).toThrow(/already closed/);
  });

  it("voxel indices decode inside the grid of the written rule", () => {
    const [d0, d1, d2] = full.attributes.voxelGridDims;
    const [h0, h1, h2] = full.attributes.hklMax.map((v) => v * full.attributes.ndiv);
    for (let i = 0; i < full.voxelIndices.length; i += 97) {
      const v = full.voxelIndices[i];
      const l = (v % d2) - h2;
      const k = (Math.floor(v / d2) % d1) - h1;
      const h = Math.floor(v / (d1 * d2)) - h0;
      expect(Math.abs(h)).toBeLessThanOrEqual(h0);
      expect(Math.abs(k)).toBeLessThanOrEqual(h1);
      expect(Math.abs(l)).toBeLessThanOrEqual(h2);
      expect(h).toBeLessThan(d0);
    }
  });

  it("agrees row for row with the per-still pixel .npz files (float32 rounding)", async () => {
    if (truth === undefined) throw new Error("unreachable");
    const files = readdirSync(join(SIM, "pixels"))
      .filter((f) => /^still_\d{5}\.npz$/.test(f))
      .sort();
    expect(files.length).toBe(truth.args.stills);
    const perStill = new Int32Array(files.length + 1);
    for (const id of full.stillIds) perStill[Math.min(id, files.length)]++;
    expect(perStill[files.length]).toBe(0);
    let row = 0;
    for (const [i, name] of files.entries()) {
      const npz = await readNpz(join(SIM, "pixels", name));
      const I = npz.get("intensities")?.data as Float64Array;
      const S = npz.get("sigmas")?.data as Float64Array;
      const Q = npz.get("q_vectors")?.data as Float64Array;
      const count = I.length;
      expect(perStill[i]).toBe(count);
      const bad: string[] = [];
      for (let j = 0; j < count; j++) {
        if (full.stillIds[row + j] !== i) bad.push(`still_ids[${row + j}]`);
        if (full.intensities[row + j] !== Math.fround(I[j])) bad.push(`intensities[${row + j}]`);
        if (full.sigmas[row + j] !== Math.fround(S[j])) bad.push(`sigmas[${row + j}]`);
      }
      for (let j = 0; j < 3 * count; j++) {
        if (full.qVectors[3 * row + j] !== Math.fround(Q[j])) bad.push(`q_vectors[${3 * row + j}]`);
      }
      expect(bad.slice(0, 5)).toEqual([]);
      row += count;
    }
    expect(row).toBe(full.intensities.length);
  });
});

function sampleData(n: number): Omit<BinnedDiffuseChunk, "start"> {
  let s = 12345;
  const r = (): number => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32;
  };
  return {
    intensities: Float32Array.from({ length: n }, () => (r() - 0.2) * 1000),
    sigmas: Float32Array.from({ length: n }, () => 1 + r() * 30),
    stillIds: Int32Array.from({ length: n }, (_, i) => Math.floor(i / 13)),
    voxelIndices: Float64Array.from({ length: n }, (_, i) => (i === 0 ? 2 ** 52 - 1 : Math.floor(r() * 2 ** 52))),
    qVectors: Float32Array.from({ length: 3 * n }, () => r() - 0.5),
  };
}

const ATTRS: BinnedDiffuseAttributes = {
  ndiv: 1,
  hklMax: [2 ** 16, 2 ** 16, 2 ** 17],
  voxelGridDims: [2 ** 17 + 1, 2 ** 17 + 1, 2 ** 18 + 1],
  voxelIndexRule: "test rule",
  note: "extra attribute",
  wavelength: 1.0332,
  panels: [0, 1, 2],
};

function expectSame(a: Omit<BinnedDiffuseChunk, "start">, b: Omit<BinnedDiffuseChunk, "start">): void {
  for (const key of ["intensities", "sigmas", "stillIds", "voxelIndices", "qVectors"] as const) {
    expect(b[key].constructor).toBe(a[key].constructor);
    expect(b[key].length).toBe(a[key].length);
    expect(
      Buffer.from(b[key].buffer, b[key].byteOffset, b[key].byteLength).equals(
        Buffer.from(a[key].buffer, a[key].byteOffset, a[key].byteLength),
      ),
    ).toBe(true);
  }
}

describe("writeBinnedDiffuse → readBinnedDiffuse", () => {
  for (const options of [{}, { compression: false, chunkRows: 7 }, { chunkRows: 1000 }]) {
    it(`round-trips values and attributes exactly (${JSON.stringify(options)})`, async () => {
      const data = sampleData(1000);
      const path = join(tmp, `rt-${JSON.stringify(options).replace(/\W/g, "")}.h5`);
      await writeBinnedDiffuse(path, data, ATTRS, options);
      const back = await readBinnedDiffuse(path);
      expectSame(data, back);
      expect(back.attributes).toEqual(ATTRS);
      const h5 = await loadH5wasm();
      const f = new h5.File(path, "r");
      try {
        const ds = f.get("intensities") as InstanceType<typeof h5.Dataset>;
        const names = ds.filters.map((x) => x.name);
        expect(names.includes("deflate")).toBe(!("compression" in options));
        expect((f.get("voxel_indices") as InstanceType<typeof h5.Dataset>).dtype).toBe("<q");
        expect((f.get("q_vectors") as InstanceType<typeof h5.Dataset>).shape).toEqual([1000, 3]);
      } finally {
        f.close();
      }
      expect(readdirSync(tmp).filter((x) => x.endsWith(".tmp"))).toEqual([]);
    });
  }

  for (const [reader, compression] of [
    ["native", true],
    ["native", false],
    ["h5wasm", true],
  ] as const) {
    it(`reads slices into caller buffers with the same bytes as fresh reads, and refuses short buffers (${reader}, compression ${compression})`, async () => {
      const data = sampleData(1000);
      const path = join(tmp, `into-${reader}-${compression}.h5`);
      await writeBinnedDiffuse(path, data, ATTRS, { chunkRows: 64, compression });
      const f = await openBinnedDiffuse(path, { reader });
      try {
        const buffers = {
          intensities: new Float32Array(300),
          sigmas: new Float32Array(300),
          stillIds: new Int32Array(300),
          voxelIndices: new Float64Array(300),
          qVectors: new Float32Array(900),
        };
        const voxels = new Float64Array(300);
        for (const [s, e] of [
          [0, 300],
          [299, 550],
          [700, 1000],
          [5, 5],
        ]) {
          const into = f.readSlice(s, e, buffers);
          const fresh = f.readSlice(s, e);
          expect(into.start).toBe(s);
          for (const key of ["intensities", "sigmas", "stillIds", "voxelIndices", "qVectors"] as const) {
            expect(Buffer.from(into[key].buffer, into[key].byteOffset, into[key].byteLength)).toEqual(
              Buffer.from(fresh[key].buffer, fresh[key].byteOffset, fresh[key].byteLength),
            );
          }
          expect(Array.from(f.readVoxelIndices(s, e, voxels))).toEqual(Array.from(fresh.voxelIndices));
        }
        expect(() => f.readSlice(0, 301, buffers)).toThrow(ConfigError);
        expect(() => f.readVoxelIndices(0, 301, voxels)).toThrow(/buffer 'voxelIndices' holds 300 elements/);
      } finally {
        f.close();
      }
    });
  }

  it("writes an empty file that reads back with zero rows", async () => {
    const path = join(tmp, "empty.h5");
    await writeBinnedDiffuse(path, sampleData(0), ATTRS);
    const f = await openBinnedDiffuse(path);
    expect(f.nObservations).toBe(0);
    expect([...f.chunks()].length).toBe(0);
    f.close();
  });

  it("streams writes in slices (resize + write_slice) with identical content", async () => {
    const h5 = await loadH5wasm();
    const path = join(tmp, "sliced.h5");
    const data = Float32Array.from({ length: 3 * 1001 }, (_, i) => i * 0.5);
    const f = new h5.File(path, "w");
    writeRowsChunked(f, path, "q", data, 3, "<f4", 64, true, 100);
    f.close();
    const g = new h5.File(path, "r");
    const back = (g.get("q") as InstanceType<typeof h5.Dataset>).value as Float32Array;
    g.close();
    expect(Array.from(back)).toEqual(Array.from(data));
  });

  it("rejects inconsistent arguments and leaves an existing file untouched", async () => {
    const path = join(tmp, "keep.h5");
    writeFileSync(path, "old content");
    const bad = { ...sampleData(10), sigmas: new Float32Array(9) };
    await expect(writeBinnedDiffuse(path, bad, ATTRS)).rejects.toThrow(ConfigError);
    const frac = { ...sampleData(10), voxelIndices: new Float64Array(10).fill(0.5) };
    await expect(writeBinnedDiffuse(path, frac, ATTRS)).rejects.toThrow(/voxelIndices\[0\]/);
    await expect(writeBinnedDiffuse(path, sampleData(3), { ...ATTRS, ndiv: 0 })).rejects.toThrow(ConfigError);
    await expect(writeBinnedDiffuse(path, sampleData(3), { ...ATTRS, other: { a: 1 } })).rejects.toThrow(ConfigError);
    expect(readFileSync(path, "utf8")).toBe("old content");
    expect(readdirSync(tmp).filter((x) => x.endsWith(".tmp"))).toEqual([]);
    await expect(writeBinnedDiffuse(join(tmp, "no/such/dir/x.h5"), sampleData(3), ATTRS)).rejects.toThrow(InputError);
  });
});

/** Writes an HDF5 file with h5wasm directly (valid layout unless `edit` changes it). */
async function makeH5(name: string, edit: (f: H5File, n: number) => void, skip: string[] = []): Promise<string> {
  const h5 = await loadH5wasm();
  const path = join(tmp, name);
  const f = new h5.File(path, "w");
  const n = 5;
  const put = (key: string, data: Float32Array | Int32Array | BigInt64Array | Float64Array, shape?: number[]): void => {
    if (!skip.includes(key)) f.create_dataset({ name: key, data, ...(shape ? { shape } : {}) });
  };
  put("intensities", Float32Array.of(1, 2, 3, 4, 5));
  put("sigmas", Float32Array.of(1, 1, 1, 1, 1));
  put("still_ids", Int32Array.of(0, 0, 1, 1, 2));
  put("voxel_indices", BigInt64Array.of(0n, 1n, 2n, 3n, 4n));
  put("q_vectors", new Float32Array(15), [5, 3]);
  if (!skip.includes("attrs")) {
    f.create_attribute("ndiv", BigInt64Array.of(2n), [], "<q");
    f.create_attribute("hkl_max", BigInt64Array.of(1n, 1n, 1n), [3], "<q");
    f.create_attribute("voxel_grid_dims", BigInt64Array.of(5n, 5n, 5n), [3], "<q");
    f.create_attribute("voxel_index_rule", "r");
  }
  edit(f, n);
  f.close();
  return path;
}

describe("openBinnedDiffuse validation", () => {
  it("accepts the hand-made valid file", async () => {
    const path = await makeH5("valid.h5", () => undefined);
    const all = await readBinnedDiffuse(path);
    expect(Array.from(all.voxelIndices)).toEqual([0, 1, 2, 3, 4]);
    expect(Array.from(all.stillIds)).toEqual([0, 0, 1, 1, 2]);
  });

  it("rejects a missing file and a non-HDF5 file", async () => {
    await expect(openBinnedDiffuse(join(tmp, "missing.h5"))).rejects.toThrow(/missing\.h5: file not found/);
    const text = join(tmp, "text.h5");
    writeFileSync(text, "not hdf5 at all, just text");
    await expect(openBinnedDiffuse(text)).rejects.toThrow(InputError);
    await expect(openBinnedDiffuse(text)).rejects.toThrow(/text\.h5: cannot open as HDF5/);
  });

  const cases: [string, (f: H5File, n: number) => void, string[], RegExp][] = [
    ["no-sigmas.h5", () => undefined, ["sigmas"], /missing dataset 'sigmas'/],
    [
      "f8-sigmas.h5",
      (f) => f.create_dataset({ name: "sigmas", data: Float64Array.of(1, 1, 1, 1, 1) }),
      ["sigmas"],
      /dataset 'sigmas' has dtype float64, expected float32/,
    ],
    [
      "i8-still.h5",
      (f) => f.create_dataset({ name: "still_ids", data: BigInt64Array.of(0n, 0n, 0n, 0n, 0n) }),
      ["still_ids"],
      /dataset 'still_ids' has dtype int64, expected int32/,
    ],
    [
      "short.h5",
      (f) => f.create_dataset({ name: "sigmas", data: Float32Array.of(1, 1, 1, 1) }),
      ["sigmas"],
      /dataset 'sigmas' has 4 rows but 'intensities' has 5/,
    ],
    [
      "q2.h5",
      (f) => f.create_dataset({ name: "q_vectors", data: new Float32Array(10), shape: [5, 2] }),
      ["q_vectors"],
      /dataset 'q_vectors' has shape \(5, 2\), expected \(N, 3\)/,
    ],
    [
      "q1d.h5",
      (f) => f.create_dataset({ name: "q_vectors", data: new Float32Array(5) }),
      ["q_vectors"],
      /dataset 'q_vectors' has shape \(5\), expected \(N, 3\)/,
    ],
    ["noattrs.h5", () => undefined, ["attrs"], /missing attribute 'ndiv'/],
    [
      "outside.h5",
      (f) => f.create_dataset({ name: "voxel_indices", data: BigInt64Array.of(0n, 1n, 125n, 3n, 4n) }),
      ["voxel_indices"],
      /voxel_indices' row 2: 125 outside the voxel grid \[0, 125\)/,
    ],
  ];

  for (const [name, edit, skip, pattern] of cases) {
    it(`rejects ${name} with an InputError naming the problem`, async () => {
      const path = await makeH5(name, edit, skip);
      const attempt = async (): Promise<void> => {
        const f = await openBinnedDiffuse(path);
        try {
          f.readSlice(0, f.nObservations);
        } finally {
          f.close();
        }
      };
      await expect(attempt()).rejects.toThrow(InputError);
      await expect(attempt()).rejects.toThrow(pattern);
    });
  }
});
