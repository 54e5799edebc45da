import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, InputError } from "../../src/errors.ts";
import { loadH5wasm } from "../../src/io/hdf5.ts";
import { readMergedDiffuse, writeMergedDiffuse } from "../../src/io/merged-diffuse.ts";
import type { MergedDiffuseMap } from "../../src/io/merged-diffuse.ts";

const tmp = mkdtempSync(join(tmpdir(), "merged-test-"));
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

function sampleMap(v: number): MergedDiffuseMap {
  let s = 987654321;
  const r = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const hkl = Float64Array.from({ length: 3 * v }, () => Math.round((r() - 0.5) * 80) / 2);
  return {
    voxelIndex: Float64Array.from({ length: v }, (_, i) => (i === 0 ? Number.MAX_SAFE_INTEGER : 7 * i + 3)),
    hkl,
    qMagnitude: Float64Array.from({ length: v }, () => r() * 0.5),
    intensity: Float64Array.from({ length: v }, () => (r() - 0.1) * 1e4),
    sigma: Float64Array.from({ length: v }, () => 1 / Math.sqrt(1 + r() * 100)),
    nObservations: Int32Array.from({ length: v }, () => Math.floor(r() * 50)),
    halfSet1: Float64Array.from({ length: v }, (_, i) => (i % 5 === 0 ? Number.NaN : r() * 1e4)),
    halfSet2: Float64Array.from({ length: v }, (_, i) => (i % 7 === 0 ? Number.NaN : -r() * 1e4)),
  };
}

const KEYS = [
  "voxelIndex",
  "hkl",
  "qMagnitude",
  "intensity",
  "sigma",
  "nObservations",
  "halfSet1",
  "halfSet2",
] as const;

describe("writeMergedDiffuse → readMergedDiffuse", () => {
  it("round-trips every column bit for bit (NaN values included) and the attributes", async () => {
    const map = sampleMap(2500);
    const path = join(tmp, "merged.h5");
    const attributes = {
      space_group: "P 43 21 2",
      ndiv: 2,
      unit_cell: [79.1, 79.1, 37.9, 90, 90, 90],
      hkl_max: [41, 41, 20],
      d_min: 2.0000001,
    };
    await writeMergedDiffuse(path, map, attributes);
    const back = await readMergedDiffuse(path);
    for (const key of KEYS) {
      const a = map[key];
      const b = back[key];
      expect(b.constructor).toBe(a.constructor);
      expect(b.length).toBe(a.length);
      expect(
        Buffer.from(b.buffer, b.byteOffset, b.byteLength).equals(Buffer.from(a.buffer, a.byteOffset, a.byteLength)),
      ).toBe(true);
    }
    expect(Number.isNaN(back.halfSet1[0])).toBe(true);
    expect(back.voxelIndex[0]).toBe(2 ** 53 - 1);
    expect(back.attributes).toEqual(attributes);
    expect(readdirSync(tmp).filter((x) => x.endsWith(".tmp"))).toEqual([]);

    const h5 = await loadH5wasm();
    const f = new h5.File(path, "r");
    try {
      const types = Object.fromEntries(f.keys().map((k) => [k, (f.get(k) as InstanceType<typeof h5.Dataset>).dtype]));
      expect(types).toEqual({
        half_set_1: "<d",
        half_set_2: "<d",
        hkl: "<d",
        intensity: "<d",
        n_observations: "<i",
        q_magnitude: "<d",
        sigma: "<d",
        voxel_index: "<q",
      });
      expect((f.get("hkl") as InstanceType<typeof h5.Dataset>).shape).toEqual([2500, 3]);
      expect(f.attrs.ndiv.dtype).toBe("<q");
      expect(f.attrs.d_min.dtype).toBe("<d");
    } finally {
      f.close();
    }
  });

  it("handles an empty map", async () => {
    const path = join(tmp, "empty.h5");
    await writeMergedDiffuse(path, sampleMap(0), {});
    const back = await readMergedDiffuse(path);
    expect(back.intensity.length).toBe(0);
    expect(back.attributes).toEqual({});
  });

  it("rejects inconsistent maps and unsupported attributes with ConfigError", async () => {
    const path = join(tmp, "bad.h5");
    await expect(writeMergedDiffuse(path, { ...sampleMap(4), sigma: new Float64Array(3) }, {})).rejects.toThrow(
      /sigma has length 3, expected 4/,
    );
    await expect(writeMergedDiffuse(path, { ...sampleMap(4), hkl: new Float64Array(4) }, {})).rejects.toThrow(
      ConfigError,
    );
    await expect(
      writeMergedDiffuse(path, { ...sampleMap(2), voxelIndex: Float64Array.of(1, 2 ** 53) }, {}),
    ).rejects.toThrow(/voxelIndex\[1\]/);
    await expect(
      writeMergedDiffuse(path, sampleMap(2), { bad: { nested: true } } as unknown as Record<string, number>),
    ).rejects.toThrow(ConfigError);
    expect(readdirSync(tmp).filter((x) => x.startsWith("bad") || x.endsWith(".tmp"))).toEqual([]);
  });
});

describe("readMergedDiffuse validation", () => {
  async function make(
    name: string,
    build: (f: InstanceType<Awaited<ReturnType<typeof loadH5wasm>>["File"]>) => void,
  ): Promise<string> {
    const h5 = await loadH5wasm();
    const path = join(tmp, name);
    const f = new h5.File(path, "w");
    build(f);
    f.close();
    return path;
  }
  const valid =
    (skip: string): ((f: InstanceType<Awaited<ReturnType<typeof loadH5wasm>>["File"]>) => void) =>
    (f) => {
      const put = (k: string, data: Float64Array | Int32Array | BigInt64Array, shape?: number[]): void => {
        if (k !== skip) f.create_dataset({ name: k, data, ...(shape ? { shape } : {}) });
      };
      put("voxel_index", BigInt64Array.of(1n, 2n));
      put("hkl", new Float64Array(6), [2, 3]);
      put("q_magnitude", new Float64Array(2));
      put("intensity", new Float64Array(2));
      put("sigma", new Float64Array(2));
      put("n_observations", Int32Array.of(1, 2));
      put("half_set_1", new Float64Array(2));
      put("half_set_2", new Float64Array(2));
    };

  it("reads the hand-made valid file", async () => {
    const back = await readMergedDiffuse(await make("ok.h5", valid("")));
    expect(Array.from(back.voxelIndex)).toEqual([1, 2]);
    expect(Array.from(back.nObservations)).toEqual([1, 2]);
  });

  it("names the missing file, the missing dataset, a wrong dtype and a length mismatch", async () => {
    await expect(readMergedDiffuse(join(tmp, "nope.h5"))).rejects.toThrow(/nope\.h5: file not found/);
    await expect(readMergedDiffuse(await make("m1.h5", valid("half_set_2")))).rejects.toThrow(
      /m1\.h5: missing dataset 'half_set_2'/,
    );
    const f4 = await make("m2.h5", (f) => {
      valid("intensity")(f);
      f.create_dataset({ name: "intensity", data: new Float32Array(2) });
    });
    await expect(readMergedDiffuse(f4)).rejects.toThrow(/dataset 'intensity' has dtype float32, expected float64/);
    const short = await make("m3.h5", (f) => {
      valid("sigma")(f);
      f.create_dataset({ name: "sigma", data: new Float64Array(3) });
    });
    await expect(readMergedDiffuse(short)).rejects.toThrow(InputError);
    await expect(readMergedDiffuse(short)).rejects.toThrow(/dataset 'sigma' has 3 rows but 'voxel_index' has 2/);
    const hkl = await make("m4.h5", (f) => {
      valid("hkl")(f);
      f.create_dataset({ name: "hkl", data: new Float64Array(4), shape: [2, 2] });
    });
    await expect(readMergedDiffuse(hkl)).rejects.toThrow(/dataset 'hkl' has shape \(2, 2\), expected \(N, 3\)/);
  });
});
