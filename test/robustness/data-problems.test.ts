/**
 * Data problems (issue 7) are handled, counted and reported, never silently absorbed: a small synthetic dataset (8
 * stills of the simulated tetragonal experiment list, Bragg rows and binned diffuse rows built here with the
 * project's writers) carries every problem at once, and {@link scaleDataset} must exclude and count each, list the
 * stills it cannot scale, and write outputs free of NaN and Infinity.
 */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RefinementFailure } from "../../src/errors.ts";
import { scaleDataset } from "../../src/job/scale-dataset.ts";
import { writeBinnedDiffuse } from "../../src/io/binned-diffuse.ts";
import { loadH5wasm } from "../../src/io/hdf5.ts";
import { readReflections } from "../../src/io/refl-read.ts";
import { writeReflections } from "../../src/io/refl-write.ts";
import { ReflectionTable } from "../../src/table/reflection-table.ts";
import {
  INTEGRATED_SUM,
  asuIndices,
  voxelQVectors,
  writeDisconnectedReflections,
  writeSmallExpt,
} from "./small-dataset.ts";

const N_STILLS = 8;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "data-problems-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A seeded generator (Park–Miller), so the dataset is the same on every run. */
function rng(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 48271) % 2147483647;
    return s / 2147483647;
  };
}

interface BraggRow {
  id: number;
  hkl: number;
  I: number;
  V: number;
  p: number;
}

/** What was planted, so the test can check the counts. */
const PLANTED = {
  invalidPartiality: 3, // p = 1.5, −0.1, NaN
  unknownExperiment: 2, // id = 99, −1
  belowPartiality: 2, // p = 0.05 < 0.1
  badIntensityMain: 3, // I = NaN, V = 0, V = −1 on included stills
  diffuseNonFinite: 4,
  diffuseBadSigma: 5,
  diffuseUnknownStill: 3,
  braggSingles: 3,
  voxelSingles: 2,
};

async function buildInputs(): Promise<{ expt: string; refl: string; h5: string; nRows: number }> {
  const r = rng(7);
  const trueScale = [1, 1.2, 0.8, 1.1, 0.9, 1, 1.3, 0.7];
  const hkls = asuIndices(64);
  const A = 44; // shared by the main stills 0..4
  const B0 = A; // 8 reflections shared only by stills 6 and 7 (a disconnected island)
  const C0 = A + 8; // reflections seen once, by still 0 (single-member groups)
  const trueI = Array.from({ length: 64 }, () => 100 + 900 * r());
  const rows: BraggRow[] = [];
  const obs = (id: number, hkl: number, p = 0.5 + 0.5 * r()): void => {
    const I = trueScale[id < N_STILLS && id >= 0 ? id : 0] * trueI[hkl] * p * (1 + 0.02 * (r() - 0.5));
    rows.push({ id, hkl, I, V: Math.max(1, I), p });
  };
  for (let s = 0; s < 5; s++) for (let h = 0; h < A; h++) if (r() < 0.75) obs(s, h);
  for (const s of [6, 7]) for (let h = B0; h < B0 + 8; h++) obs(s, h);
  for (let k = 0; k < PLANTED.braggSingles; k++) obs(0, C0 + k);
  // still 5: observations exist, none usable
  for (let h = 0; h < 10; h++) rows.push({ id: 5, hkl: h, I: h % 2 === 0 ? NaN : 50, V: h % 2 === 0 ? 10 : 0, p: 0.9 });
  rows.push({ id: 1, hkl: 3, I: 10, V: 1, p: 1.5 }, { id: 1, hkl: 4, I: 10, V: 1, p: -0.1 });
  rows.push({ id: 2, hkl: 5, I: 10, V: 1, p: NaN });
  rows.push({ id: 99, hkl: 6, I: 10, V: 1, p: 0.9 }, { id: -1, hkl: 7, I: 10, V: 1, p: 0.9 });
  rows.push({ id: 3, hkl: 8, I: 10, V: 1, p: 0.05 }, { id: 4, hkl: 9, I: 10, V: 1, p: 0.05 });
  rows.push({ id: 0, hkl: 10, I: NaN, V: 1, p: 0.9 }, { id: 1, hkl: 11, I: 10, V: 0, p: 0.9 });
  rows.push({ id: 2, hkl: 12, I: 10, V: -1, p: 0.9 });

  const n = rows.length;
  const t = new ReflectionTable(n);
  t.setColumn("id", { type: "int", data: Int32Array.from(rows, (x) => x.id) });
  const mi = new Int32Array(3 * n);
  rows.forEach((x, i) => {
    mi.set(hkls.subarray(3 * x.hkl, 3 * x.hkl + 3), 3 * i);
  });
  t.setColumn("miller_index", { type: "cctbx::miller::index<>", data: mi });
  t.setColumn("flags", { type: "std::size_t", data: BigUint64Array.from(rows, () => INTEGRATED_SUM) });
  t.setColumn("intensity.sum.value", { type: "double", data: Float64Array.from(rows, (x) => x.I) });
  t.setColumn("intensity.sum.variance", { type: "double", data: Float64Array.from(rows, (x) => x.V) });
  t.setColumn("partiality", { type: "double", data: Float64Array.from(rows, (x) => x.p) });
  t.setColumn("d", { type: "double", data: Float64Array.from(rows, (x) => 1.5 + (x.hkl % 17) * 0.3) });
  const refl = join(dir, "problems.refl");
  await writeReflections(refl, t);

  // Diffuse: voxels 0..59 shared by the main stills, 100..109 shared only by stills 6 and 7, singles 200, 201.
  const still: number[] = [];
  const voxel: number[] = [];
  const inten: number[] = [];
  const sigma: number[] = [];
  const trueV = Array.from({ length: 300 }, () => 20 + 80 * r());
  const add = (s: number, v: number, I?: number, sg?: number): void => {
    still.push(s);
    voxel.push(v);
    const i = I ?? trueScale[s < N_STILLS ? s : 0] * trueV[v] * (1 + 0.02 * (r() - 0.5));
    inten.push(i);
    sigma.push(sg ?? Math.sqrt(Math.abs(i)) + 1);
  };
  for (let s = 0; s < 5; s++) for (let v = 0; v < 60; v++) if (r() < 0.7) add(s, v);
  for (const s of [6, 7]) for (let v = 100; v < 110; v++) add(s, v);
  add(0, 200);
  add(1, 201);
  for (let k = 0; k < PLANTED.diffuseNonFinite; k++) add(5, k, k % 2 === 0 ? NaN : Infinity, 1);
  for (const sg of [0, -1, NaN, Infinity, -0]) add(5, 10, 30, sg);
  for (let k = 0; k < PLANTED.diffuseUnknownStill; k++) add(N_STILLS + 90 + k, 3, 30, 2);
  const q = voxelQVectors(voxel);
  const h5 = join(dir, "problems.h5");
  await writeBinnedDiffuse(
    h5,
    {
      intensities: Float32Array.from(inten),
      sigmas: Float32Array.from(sigma),
      stillIds: Int32Array.from(still),
      voxelIndices: Float64Array.from(voxel),
      qVectors: q,
    },
    { ndiv: 2, hklMax: [3, 3, 3], voxelGridDims: [13, 13, 13], voxelIndexRule: "synthetic" },
  );
  const expt = join(dir, "problems.expt");
  writeSmallExpt(expt, undefined, N_STILLS);
  return { expt, refl, h5, nRows: n };
}

/** Every float dataset and numeric attribute of an HDF5 file is finite. */
async function expectFiniteH5(path: string): Promise<number> {
  const h5 = await loadH5wasm();
  const f = new h5.File(path, "r");
  let checked = 0;
  try {
    const visit = (v: unknown, what: string): void => {
      if (typeof v === "number") {
        expect(Number.isFinite(v), what).toBe(true);
        checked++;
      } else if (v instanceof Float32Array || v instanceof Float64Array) {
        for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i])) expect.fail(`${what}[${i}] = ${v[i]}`);
        checked += v.length;
      } else if (Array.isArray(v)) {
        v.forEach((x, i) => {
          visit(x, `${what}[${i}]`);
        });
      }
    };
    for (const [name, a] of Object.entries(f.attrs)) visit(a.value, `attribute ${name}`);
    for (const key of f.keys()) {
      const ds = f.get(key);
      if (ds instanceof h5.Dataset) {
        visit(ds.value, `dataset ${key}`);
        for (const [name, a] of Object.entries(ds.attrs)) visit(a.value, `${key} attribute ${name}`);
      }
    }
  } finally {
    f.close();
  }
  return checked;
}

describe("data problems are counted and reported, and outputs stay finite", () => {
  it("excludes and counts bad rows, lists undetermined stills, writes no NaN/Infinity", async () => {
    const { expt, refl, h5, nRows } = await buildInputs();
    const out = join(dir, "out");
    const result = await scaleDataset({ exptPath: expt, reflPath: refl, diffusePath: h5, outDir: out, seed: 1 });

    // stills: 5 has rows but none usable; 6 and 7 only share references with each other
    const scales = JSON.parse(readFileSync(join(out, "scales.json"), "utf8")) as {
      data: { stills_without_data: number[]; stills_disconnected: number[]; n_stills: number };
      refined_parameters: Record<string, { multiplicative_scale: number }>;
    };
    expect(scales.data.n_stills).toBe(N_STILLS);
    expect(scales.data.stills_without_data).toEqual([5]);
    expect(scales.data.stills_disconnected).toEqual([6, 7]);
    expect(Object.keys(scales.refined_parameters).sort()).toEqual(["0", "1", "2", "3", "4"]);
    // the refined relative scales of the main stills still match the planted ones (2 % noise, gauge: ratio to still 0)
    const b = (s: number): number => scales.refined_parameters[String(s)].multiplicative_scale;
    for (const [s, want] of [
      [1, 1.2],
      [2, 0.8],
      [3, 1.1],
      [4, 0.9],
    ] as const) {
      expect(Math.abs(b(s) / b(0) / want - 1)).toBeLessThan(0.02);
    }

    const refinement = JSON.parse(readFileSync(join(out, "refinement.json"), "utf8")) as {
      bragg_counts: Record<string, number>;
      diffuse_counts: Record<string, number>;
      group_counts: Record<string, number>;
    };
    const bc = refinement.bragg_counts;
    expect(bc.nRows).toBe(nRows);
    expect(bc.nInvalidPartiality).toBe(PLANTED.invalidPartiality);
    expect(bc.nUnknownExperiment).toBe(PLANTED.unknownExperiment);
    expect(bc.nBelowPartiality).toBe(PLANTED.belowPartiality);
    // NaN intensity / σ² ≤ 0 rows: the three planted on included stills and the ten of still 5
    expect(bc.nInvalidIntensity).toBe(PLANTED.badIntensityMain + 10);
    expect(
      bc.nUsed +
        bc.nInvalidPartiality +
        bc.nUnknownExperiment +
        bc.nBelowPartiality +
        bc.nInvalidIntensity +
        bc.nNotIntegrated,
    ).toBe(nRows);
    const dc = refinement.diffuse_counts;
    expect(dc.nNonFiniteIntensity).toBe(PLANTED.diffuseNonFinite);
    expect(dc.nBadSigma).toBe(PLANTED.diffuseBadSigma);
    expect(dc.nUnknownStill).toBe(PLANTED.diffuseUnknownStill);
    expect(dc.nUsed + dc.nNonFiniteIntensity + dc.nBadSigma + dc.nUnknownStill).toBe(dc.nRows);
    expect(refinement.group_counts.bragg_single_member).toBeGreaterThanOrEqual(PLANTED.braggSingles);
    expect(refinement.group_counts.voxels_single_member).toBeGreaterThanOrEqual(PLANTED.voxelSingles);

    // no output holds NaN or Infinity
    for (const name of ["scales.json", "refinement.json", "scaled.expt"]) {
      const text = readFileSync(join(out, name), "utf8");
      expect(text, name).not.toMatch(/NaN|Infinity/);
      expect(() => JSON.parse(text) as unknown, name).not.toThrow();
    }
    expect(result.outputs.mergedDiffuse).toBeDefined();
    expect(await expectFiniteH5(join(out, "merged_diffuse.h5"))).toBeGreaterThan(0);
    const scaled = await readReflections(join(out, "scaled.refl"));
    for (const col of [
      "inverse_scale_factor",
      "inverse_scale_factor_variance",
      "intensity.scale.value",
      "intensity.scale.variance",
    ]) {
      const v = scaled.getDouble(col);
      for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i])) expect.fail(`scaled.refl ${col}[${i}] = ${v[i]}`);
    }
  });

  it("fewer than two connected stills is a RefinementFailure with the reason", async () => {
    const refl = join(dir, "split.refl");
    await writeDisconnectedReflections(refl);
    const expt = join(dir, "two.expt");
    writeSmallExpt(expt, undefined, 2);
    const out = join(dir, "split-out");
    const err = await scaleDataset({ exptPath: expt, reflPath: refl, outDir: out }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RefinementFailure);
    expect((err as Error).message).toMatch(/fewer than two stills share observations/);
  });
});
