import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../../src/errors.ts";
import { readExperiments } from "../../src/io/expt.ts";
import type { Crystal } from "../../src/io/expt-models.ts";
import { readReflections } from "../../src/io/refl-read.ts";
import { readBinnedDiffuse } from "../../src/io/binned-diffuse.ts";
import { mat3Inverse, mat3Transpose, mat3Multiply } from "../../src/geometry/vector-maths.ts";
import { fractionalizationMatrix } from "../../src/geometry/unit-cell.ts";
import { makeVoxelGrid, voxelCentre } from "../../src/voxelize/voxel-grid.ts";
import { voxelizeStill } from "../../src/voxelize/voxelize.ts";
import { scaleDataset } from "../../src/job/scale-dataset.ts";
import { SpaceGroup } from "../../src/symmetry/space-group.ts";
import { RandomStream } from "../../src/simulate/random-stream.ts";
import { randomRotation } from "../../src/simulate/random-rotation.ts";
import { braggCandidates, predictStill, referenceGeometry } from "../../src/simulate/stills-geometry.ts";
import { trueBraggIntensity, trueBraggIntensities } from "../../src/simulate/structure-factors.ts";
import { diffuseIntensityAt, resolutionFactor } from "../../src/simulate/diffuse-model.ts";
import { resolveSimulateOptions, resolveSpaceGroup } from "../../src/simulate/simulation-options.ts";
import {
  MIN_PARTIALITY,
  MOSAICITY,
  PARTIALITY_WIDTH_RAD,
  drawStills,
  simulateDataset,
} from "../../src/simulate/simulate-dataset.ts";

const FIXTURE = join(import.meta.dirname, "../fixtures/simulate/tetragonal-40-still-0.json");
const CELL = [79.1, 79.1, 37.9, 90, 90, 90] as const;
const TETRAGONAL = SpaceGroup.fromHall(" P 4nw 2abw");

interface FixtureRow {
  miller_index: [number, number, number];
  "delpsical.rad": number;
  partiality: number;
  d: number;
  s1: [number, number, number];
  "xyzcal.px": [number, number];
}

function meanVar(x: ArrayLike<number>): { mean: number; variance: number } {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i];
  const mean = s / x.length;
  let v = 0;
  for (let i = 0; i < x.length; i++) v += (x[i] - mean) ** 2;
  return { mean, variance: v / (x.length - 1) };
}

function geometricNormalise(v: ArrayLike<number>): number[] {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += Math.log(v[i]);
  const g = Math.exp(s / v.length);
  return Array.from(v, (x) => x / g);
}

describe("RandomStream", () => {
  it("is xoshiro128** (first outputs for the state 1, 2, 3, 4 of the reference implementation)", () => {
    const r = new RandomStream([1, 2, 3, 4]);
    expect([r.nextU32(), r.nextU32(), r.nextU32()]).toEqual([11520, 0, 5927040]);
  });

  it("gives standard normal variates and independent streams per key", () => {
    const r = RandomStream.forKey(42, 7, 2);
    const x = new Float64Array(200000);
    for (let i = 0; i < x.length; i++) x[i] = r.normal();
    const { mean, variance } = meanVar(x);
    // 5 standard errors: mean ± 5/√n, variance ± 5·√(2/n)
    expect(Math.abs(mean)).toBeLessThan(5 / Math.sqrt(x.length));
    expect(Math.abs(variance - 1)).toBeLessThan(5 * Math.sqrt(2 / x.length));
    const a = RandomStream.forKey(42, 7, 2);
    const b = RandomStream.forKey(42, 8, 2);
    const c = RandomStream.forKey(42, 7, 1);
    const va = a.nextU32();
    expect(va).toBe(RandomStream.forKey(42, 7, 2).nextU32());
    expect(b.nextU32()).not.toBe(va);
    expect(c.nextU32()).not.toBe(va);
  });
});

describe("randomRotation", () => {
  it("returns proper rotations", () => {
    const r = RandomStream.forKey(1, 0, 0);
    for (let t = 0; t < 50; t++) {
      const U = randomRotation(r);
      const UUt = mat3Multiply(U, mat3Transpose(U));
      for (let i = 0; i < 9; i++) expect(UUt[i]).toBeCloseTo(i % 4 === 0 ? 1 : 0, 12);
      const det =
        U[0] * (U[4] * U[8] - U[5] * U[7]) - U[1] * (U[3] * U[8] - U[5] * U[6]) + U[2] * (U[3] * U[7] - U[4] * U[6]);
      expect(det).toBeCloseTo(1, 12);
    }
  });
});

describe("option validation", () => {
  const base = { outDir: "x", stills: 2, observationsPerStill: 10 };
  it("resolves space groups as DIALS writes their Hall symbols", () => {
    expect(resolveSpaceGroup("P 43 21 2").hall).toBe(" P 4nw 2abw");
    expect(resolveSpaceGroup("P43212").number).toBe(96);
    expect(resolveSpaceGroup("96").hall).toBe(" P 4nw 2abw");
    expect(resolveSpaceGroup("Hall: P 2ac 2ab").number).toBe(19);
    expect(resolveSpaceGroup("P 21 21 21").hall).toBe(" P 2ac 2ab");
  });

  it.each([
    [{ stills: 0 }, /--stills/],
    [{ stills: 1.5 }, /--stills/],
    [{ observationsPerStill: 0 }, /--observations-per-still/],
    [{ spaceGroup: "P 99" }, /--space-group/],
    [{ cell: [79.1, 70, 37.9, 90, 90, 90] }, /--cell .* not compatible/],
    [{ cell: [79.1, 79.1, 37.9, 90, 90] }, /--cell must be 6 numbers/],
    [{ cell: [79.1, 79.1, -1, 90, 90, 90] }, /--cell lengths/],
    [{ seed: -1 }, /--seed/],
    [{ noise: -1 }, /--noise/],
    [{ dMin: 0.2 }, /--dmin/],
    [{ ndiv: 0 }, /--ndiv/],
    [{ smootherAmp: Number.NaN }, /--smoother-amp/],
  ])("rejects %o with a ConfigError naming the flag", (bad, message) => {
    expect(() => resolveSimulateOptions({ ...base, ...bad })).toThrow(ConfigError);
    expect(() => resolveSimulateOptions({ ...base, ...bad })).toThrow(message);
  });

  it("fails with a ConfigError when no diffuse position lies away from the Bragg nodes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "simulate-bad-"));
    try {
      await expect(
        simulateDataset({
          outDir: dir,
          stills: 1,
          observationsPerStill: 10,
          spaceGroup: "P 1",
          cell: [5, 5, 5, 90, 90, 90],
          dMin: 100,
        }),
      ).rejects.toThrow(/--dmin 100 with --cell/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("accepts a cell compatible with its group", () => {
    const r = resolveSimulateOptions({ ...base, spaceGroup: "P 21 21 21", cell: [50, 60, 70, 90, 90, 90] });
    expect(r.spaceGroup.number).toBe(19);
    expect(r.ndiv).toBe(2);
    expect(r.dMin).toBe(2);
  });
});

describe("stills prediction against DIALS", () => {
  it("predicts exactly the reflections, Δψ, s1 and positions DIALS predicted for a reference still", () => {
    const fx = JSON.parse(readFileSync(FIXTURE, "utf8")) as {
      crystal: { real_space_a: number[]; real_space_b: number[]; real_space_c: number[] };
      rows: FixtureRow[];
    };
    const c = fx.crystal;
    const Ainv = Float64Array.from([...c.real_space_a, ...c.real_space_b, ...c.real_space_c]);
    const A = mat3Inverse(Ainv);
    const B = mat3Transpose(fractionalizationMatrix([...CELL]));
    const candidates = braggCandidates(B, Ainv, TETRAGONAL, 2.0);
    const maxDeltaPsi = PARTIALITY_WIDTH_RAD * Math.sqrt(-Math.log(MIN_PARTIALITY));
    const pred = predictStill(A, candidates, referenceGeometry(), maxDeltaPsi, MOSAICITY);
    const ours = new Map<string, number>();
    for (let r = 0; r < pred.n; r++) {
      const j = pred.candidate[r];
      const t = pred.deltaPsi[r] / PARTIALITY_WIDTH_RAD;
      if (Math.exp(-t * t) > MIN_PARTIALITY)
        ours.set(Array.from(candidates.hkl.subarray(3 * j, 3 * j + 3)).join(","), r);
    }
    expect(ours.size).toBe(fx.rows.length);
    for (const row of fx.rows) {
      const r = ours.get(row.miller_index.join(","));
      expect(r).toBeDefined();
      if (r === undefined) continue;
      expect(Math.abs(pred.deltaPsi[r] - row["delpsical.rad"])).toBeLessThan(1e-12);
      const t = pred.deltaPsi[r] / PARTIALITY_WIDTH_RAD;
      expect(Math.abs(Math.exp(-t * t) - row.partiality)).toBeLessThan(1e-10);
      expect(Math.abs(1 / candidates.qMagnitude[pred.candidate[r]] - row.d)).toBeLessThan(1e-9);
      for (let k = 0; k < 3; k++) expect(Math.abs(pred.s1[3 * r + k] - row.s1[k])).toBeLessThan(1e-12);
      for (let k = 0; k < 2; k++) expect(Math.abs(pred.xyPx[2 * r + k] - row["xyzcal.px"][k])).toBeLessThan(1e-8);
    }
  });
});

describe("true intensities", () => {
  it("Bragg truths are positive, exponential with mean 2000, and shared by symmetry mates", () => {
    const hkl: number[] = [];
    for (let h = 1; h <= 40; h++) for (let k = 0; k <= h; k++) for (let l = 1; l <= 20; l++) hkl.push(h, k, l);
    const { asu, intensity } = trueBraggIntensities(5, Int32Array.from(hkl), TETRAGONAL);
    const n = intensity.length;
    expect(intensity.every((v) => v > 0)).toBe(true);
    const { mean, variance } = meanVar(intensity);
    // exponential: sd = mean = 2000; 5 standard errors of the mean
    expect(Math.abs(mean - 2000)).toBeLessThan((5 * 2000) / Math.sqrt(n));
    expect(Math.sqrt(variance) / mean).toBeGreaterThan(0.9);
    expect(Math.sqrt(variance) / mean).toBeLessThan(1.1);
    const [h, k, l] = [asu[0], asu[1], asu[2]];
    // (h, k, l) → (−h, −k, −l) (Friedel) and (k, h, −l) (a 2-fold of 422) are mates in P 43 21 2
    const mates = trueBraggIntensities(5, Int32Array.of(h, k, l, -h, -k, -l, k, h, -l), TETRAGONAL).intensity;
    expect(mates[1]).toBe(mates[0]);
    expect(mates[2]).toBe(mates[0]);
  });

  it("the diffuse model and the resolution factor follow their formulas", () => {
    const B = mat3Transpose(fractionalizationMatrix([...CELL]));
    // on the node (1,0,0): ring 300·exp(−((1/79.1 − 0.31)/0.06)²) + 40 plus the full halo 120
    const q = 1 / 79.1;
    expect(diffuseIntensityAt(B, 1, 0, 0)).toBeCloseTo(300 * Math.exp(-(((q - 0.31) / 0.06) ** 2)) + 40 + 120, 10);
    // half-way between nodes along c*: |dq| = 0.5/37.9
    const q2 = 10.5 / 37.9;
    const halo = 120 / (1 + (0.5 / 37.9) ** 2 / 0.004 ** 2);
    expect(diffuseIntensityAt(B, 0, 0, 10.5)).toBeCloseTo(300 * Math.exp(-(((q2 - 0.31) / 0.06) ** 2)) + 40 + halo, 10);
    expect(resolutionFactor(0.3, 0.5)).toBeCloseTo(1.15, 14);
    expect(resolutionFactor(0, 0.4)).toBe(1);
    expect(resolutionFactor(0.3, 0)).toBe(1);
  });
});

describe("drawStills", () => {
  it("draws log-normal scales with σ 0.35 and geometric mean near 1", () => {
    const { trueScales, rotations } = drawStills(11, 20000);
    expect(rotations.length).toBe(20000);
    const logs = Array.from(trueScales, Math.log);
    const { mean, variance } = meanVar(logs);
    expect(Math.abs(mean)).toBeLessThan((5 * 0.35) / Math.sqrt(logs.length));
    expect(Math.abs(Math.sqrt(variance) - 0.35)).toBeLessThan(5 * 0.35 * Math.sqrt(1 / (2 * logs.length)));
  });
});

describe("simulateDataset (6 stills × 2000 observations)", () => {
  let dir: string;
  const opts = { stills: 6, observationsPerStill: 2000, seed: 9, smootherAmp: 0.2, noise: 1 };
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "simulate-test-"));
    // same output directory name (truth.json records it, as the reference does) in different parents
    await simulateDataset({ ...opts, outDir: join(dir, "a", "sim") });
    await simulateDataset({ ...opts, outDir: join(dir, "b", "sim") });
    await simulateDataset({ ...opts, seed: 10, outDir: join(dir, "c", "sim") });
  }, 60000);
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const files = ["stills.expt", "stills.refl", "diffuse_binned.h5", "truth.json"];

  it("is deterministic: the same arguments give identical bytes in every file, another seed differs", () => {
    for (const f of files) {
      const a = readFileSync(join(dir, "a", "sim", f));
      expect(a.equals(readFileSync(join(dir, "b", "sim", f))), f).toBe(true);
      expect(a.equals(readFileSync(join(dir, "c", "sim", f))), f).toBe(false);
    }
  });

  it("writes experiments, reflections and diffuse rows the project's readers accept, with the expected layout", async () => {
    const truth = JSON.parse(readFileSync(join(dir, "a", "sim", "truth.json"), "utf8")) as {
      true_scales: number[];
      n_bragg: number;
      n_diffuse: number;
      voxel_grid_dims: number[];
      hkl_max: number[];
      smoother_amp: number;
    };
    expect(truth.true_scales).toEqual(Array.from(drawStills(9, 6).trueScales));
    expect(truth.smoother_amp).toBe(0.2);
    // the reference simulator's grid for this cell, d_min 2 and ndiv 2 (sim/tetragonal-40/truth.json)
    expect(truth.voxel_grid_dims).toEqual([165, 165, 81]);
    expect(truth.hkl_max).toEqual([41, 41, 20]);

    const expts = await readExperiments(join(dir, "a", "sim", "stills.expt"));
    expect(expts.length).toBe(6);
    expts.experiments.forEach((e, i) => {
      expect(e.identifier).toBe(`still-0000${i}`);
      expect(e.crystal?.spaceGroupHall).toBe(" P 4nw 2abw");
      const cell = e.crystal?.unitCell ?? [];
      CELL.forEach((v, k) => {
        expect(Math.abs(cell[k] - v)).toBeLessThan(1e-9);
      });
      expect(e.beam?.wavelength).toBe(1);
      expect(Array.from(e.beam?.s0 ?? [])).toEqual([-0, -0, -1]);
      expect(e.goniometer).toBeUndefined();
      expect(e.detector?.panels.length).toBe(1);
    });

    const refl = await readReflections(join(dir, "a", "sim", "stills.refl"));
    expect(refl.nrows).toBe(truth.n_bragg);
    expect(refl.nrows).toBeGreaterThan(6 * 300);
    expect(refl.columnNames()).toEqual([
      "d",
      "delpsical.rad",
      "entering",
      "flags",
      "id",
      "intensity.sum.value",
      "intensity.sum.variance",
      "miller_index",
      "panel",
      "partiality",
      "s1",
      "xyzcal.mm",
      "xyzcal.px",
      "xyzobs.px.value",
    ]);
    expect([...refl.identifiers.entries()]).toEqual([0, 1, 2, 3, 4, 5].map((i) => [i, `still-0000${i}`]));
    const part = refl.getDouble("partiality");
    expect(part.every((p) => p > 0.02 && p <= 1)).toBe(true);
    const flags = refl.column("flags").data as BigUint64Array;
    expect(flags.every((f) => f === 257n)).toBe(true);

    // Bragg noise: z = (I − b·a(1/d)·p·I_true)/σ is standard normal (truth recomputed independently of the job)
    const ids = refl.getInt("id");
    const hkl = refl.column("miller_index").data as Int32Array;
    const d = refl.getDouble("d");
    const value = refl.getDouble("intensity.sum.value");
    const variance = refl.getDouble("intensity.sum.variance");
    const z = new Float64Array(refl.nrows);
    for (let r = 0; r < refl.nrows; r++) {
      const [h, k, l] = TETRAGONAL.mapToAsu(hkl[3 * r], hkl[3 * r + 1], hkl[3 * r + 2]);
      const mean =
        truth.true_scales[ids[r]] * resolutionFactor(0.2, 1 / d[r]) * part[r] * trueBraggIntensity(9, h, k, l);
      expect(variance[r]).toBeCloseTo(Math.max(mean, 0) + 30, 6);
      z[r] = (value[r] - mean) / Math.sqrt(variance[r]);
    }
    const zs = meanVar(z);
    expect(Math.abs(zs.mean)).toBeLessThan(5 / Math.sqrt(z.length));
    expect(Math.abs(zs.variance - 1)).toBeLessThan(5 * Math.sqrt(2 / z.length));

    const diffuse = await readBinnedDiffuse(join(dir, "a", "sim", "diffuse_binned.h5"));
    expect(diffuse.intensities.length).toBe(12000);
    expect(truth.n_diffuse).toBe(12000);
    expect(diffuse.attributes.ndiv).toBe(2);
    expect(diffuse.attributes.voxelGridDims).toEqual([165, 165, 81]);
    expect(diffuse.attributes.hklMax).toEqual([41, 41, 20]);
    for (let s = 0; s < 6; s++) expect(diffuse.stillIds.filter((v) => v === s).length).toBe(2000);
  });

  it("bins every diffuse observation into an ASU voxel by the project's rule, with the still's own A", async () => {
    const diffuse = await readBinnedDiffuse(join(dir, "a", "sim", "diffuse_binned.h5"));
    const expts = await readExperiments(join(dir, "a", "sim", "stills.expt"));
    const truth = JSON.parse(readFileSync(join(dir, "a", "sim", "truth.json"), "utf8")) as { true_scales: number[] };
    const grid = makeVoxelGrid(2, [41, 41, 20]);
    const centre = new Float64Array(3);
    const n = diffuse.intensities.length;
    const z = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      voxelCentre(grid, diffuse.voxelIndices[i], centre, 0);
      const sub = [Math.round(centre[0] * 2), Math.round(centre[1] * 2), Math.round(centre[2] * 2)];
      expect(TETRAGONAL.mapToAsu(sub[0], sub[1], sub[2])).toEqual(sub);
      const q = diffuse.qVectors.subarray(3 * i, 3 * i + 3);
      const qm = Math.hypot(q[0], q[1], q[2]);
      expect(qm).toBeLessThanOrEqual(0.5 + 1e-6);
      const crystal = expts.experiments[diffuse.stillIds[i]].crystal as Crystal;
      // away from Bragg nodes (q is stored as float32: allow its rounding)
      const frac = [crystal.realSpaceA, crystal.realSpaceB, crystal.realSpaceC].map(
        (v) => v[0] * q[0] + v[1] * q[1] + v[2] * q[2],
      );
      expect(Math.max(...frac.map((x) => Math.abs(x - Math.round(x))))).toBeGreaterThan(0.12 - 1e-4);
      const D = diffuseIntensityAt(crystal.B, centre[0], centre[1], centre[2]);
      const mu = truth.true_scales[diffuse.stillIds[i]] * resolutionFactor(0.2, qm) * D;
      expect(diffuse.sigmas[i]).toBeCloseTo(Math.sqrt(mu + 5), 2);
      z[i] = (diffuse.intensities[i] - mu) / diffuse.sigmas[i];
    }
    const zs = meanVar(z);
    expect(Math.abs(zs.mean)).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(zs.variance - 1)).toBeLessThan(5 * Math.sqrt(2 / n));
    // re-binning the stored q vectors of still 0 with the project's voxelizer gives the stored voxels
    const rows = [];
    for (let i = 0; i < n; i++) if (diffuse.stillIds[i] === 0) rows.push(i);
    const q0 = new Float64Array(3 * rows.length);
    rows.forEach((r, j) => {
      q0.set(diffuse.qVectors.subarray(3 * r, 3 * r + 3), 3 * j);
    });
    const crystal0 = expts.experiments[0].crystal as Crystal;
    const vox = voxelizeStill(crystal0, q0, TETRAGONAL, grid, { ndiv: 2, dMin: 2.0 + 1e-6 });
    let same = 0;
    rows.forEach((r, j) => {
      if (vox.keep[j] === 1 && vox.voxel[j] === diffuse.voxelIndices[r]) same++;
    });
    // float32 storage of q can move a point across a voxel boundary only within ~1e-7 of it
    expect(same).toBeGreaterThanOrEqual(rows.length - 2);
  });
});

describe("scaling recovers the simulated truth", () => {
  it("scaleDataset on 8 simulated stills finds the true per-still scales", async () => {
    const dir = mkdtempSync(join(tmpdir(), "simulate-scale-"));
    try {
      const sim = await simulateDataset({
        outDir: join(dir, "sim"),
        stills: 8,
        observationsPerStill: 20000,
        seed: 4,
      });
      const result = await scaleDataset({
        exptPath: sim.outputs.expt,
        reflPath: sim.outputs.refl,
        diffusePath: sim.outputs.diffuse,
        outDir: join(dir, "scaled"),
      });
      const ours = geometricNormalise(
        Array.from({ length: 8 }, (_, i) => result.scales.refined_parameters[String(i)].multiplicative_scale),
      );
      const truth = geometricNormalise(sim.trueScales);
      const rms = Math.sqrt(ours.reduce((s, v, i) => s + (v / truth[i] - 1) ** 2, 0) / 8);
      // Noise budget: each still has 20000 diffuse observations with relative noise √(D+5)/D ≈ 0.05–0.15
      // (D ≈ 40–460) and ~400 Bragg reflections at I/σ ≈ 28. With a few thousand of its observations sharing voxels
      // with other stills, a per-still scale is fixed to ≈ 0.1/√5000 ≈ 0.15 % or better (the refined esds are
      // ≈ 0.08 %, seeds 4–6 give RMS 0.06–0.09 %). 0.4 % is about 5σ: a wrong scale model, a wrong noise model
      // or a mismatch between the true scales and the data fails it.
      expect(rms).toBeLessThan(0.004);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120000);
});

describe("geometry helpers", () => {
  it("A = U·B reproduces the cell", () => {
    const { rotations } = drawStills(3, 2);
    const B = mat3Transpose(fractionalizationMatrix([...CELL]));
    const Ainv = mat3Inverse(mat3Multiply(rotations[0], B));
    expect(Math.hypot(Ainv[0], Ainv[1], Ainv[2])).toBeCloseTo(79.1, 9);
    expect(Math.hypot(Ainv[6], Ainv[7], Ainv[8])).toBeCloseTo(37.9, 9);
  });
});
