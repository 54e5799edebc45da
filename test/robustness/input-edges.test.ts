/**
 * Valid inputs at the edges of the scale job's cost, each in bounded time with its expected exit code and results:
 * many observations in one voxel and in one hkl (one group: outlier rejection must not be quadratic in its size), all-zero
 * Miller indices (excluded, so refused), many experiments of which few have data (the same scales as without the
 * others), many stills with one observation each (underdetermined: refused by the refinement, exit 1, quickly). The
 * bench runs the same cases at 10^4 to 10^6 (`npm run bench:edges`). Setting the scaling model of every experiment
 * (`scaled.expt`) is linear: it once copied the experiment array per call.
 */
import { readFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseExperiments } from "../../src/io/expt.ts";
import { readMergedDiffuse } from "../../src/io/merged-diffuse.ts";
import { runMain } from "./cli-in-process.ts";
import { HAVE_TETRA, TETRA } from "./cli-process.ts";
import { makeEdgeCases, type EdgeCase } from "./input-edge-cases.ts";

let dir = "";
let cases: EdgeCase[] = [];

const SIZES = { voxelRows: 20_000, zeroRows: 3000, hklRows: 10_000, experiments: 20_000, stills: 20_000 };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "input-edges-"));
  if (HAVE_TETRA) cases = await makeEdgeCases(dir, SIZES);
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Wall-clock bound of one case on a loaded 2-core machine (each takes a few seconds of CPU). */
const BOUND_MS = 90_000;

interface Scales {
  data: {
    n_stills: number;
    n_diffuse_used: number;
    n_bragg_used: number;
    n_bragg_below_partiality: number;
    n_outliers: number;
    stills_without_data: number[];
  };
  refined_parameters: Record<string, { multiplicative_scale: number; esd: number }>;
}

async function scalesOf(out: string): Promise<Scales> {
  return JSON.parse(await readFile(join(out, "scales.json"), "utf8")) as Scales;
}

/** Every still with data has a finite positive scale and ESD; `nStills` stills have data. */
function expectFiniteScales(s: Scales, nStills: number): void {
  const scales = Object.values(s.refined_parameters);
  expect(scales).toHaveLength(nStills);
  expect(s.data.n_stills - s.data.stills_without_data.length).toBe(nStills);
  for (const p of scales) {
    expect(p.multiplicative_scale).toBeGreaterThan(0);
    expect(Number.isFinite(p.multiplicative_scale)).toBe(true);
    expect(p.esd).toBeGreaterThan(0);
    expect(Number.isFinite(p.esd)).toBe(true);
  }
}

describe.skipIf(!HAVE_TETRA)("inputs at the edges of the cost, in bounded time", () => {
  const run = async (name: string): Promise<{ code: number; err: string; out: string }> => {
    const c = cases.find((x) => x.name === name);
    expect(c).toBeDefined();
    const out = join(dir, `out-${name}`);
    const t0 = performance.now();
    const r = await runMain("scale", ...(c?.args ?? []), "--out", out, "--quiet");
    expect(performance.now() - t0).toBeLessThan(BOUND_MS);
    return { code: r.code, err: r.err, out };
  };

  it(
    "one voxel holding 20 000 diffuse rows: scaled, and the map's one voxel holds every row that is not an outlier",
    async () => {
      const r = await run("one-voxel");
      expect(r.err).toBe("");
      expect(r.code).toBe(0);
      const s = await scalesOf(r.out);
      expectFiniteScales(s, 40);
      // most of these rows come from other voxels: a large part are outliers of the one voxel, not all
      expect(s.data.n_diffuse_used).toBeGreaterThan(SIZES.voxelRows / 4);
      expect(s.data.n_diffuse_used).toBeLessThan(SIZES.voxelRows);
      const map = await readMergedDiffuse(join(r.out, "merged_diffuse.h5"));
      expect(map.voxelIndex).toHaveLength(1);
      expect(map.nObservations[0]).toBe(s.data.n_diffuse_used);
      expect(map.intensity[0]).toBeGreaterThan(0);
      expect(map.sigma[0]).toBeGreaterThan(0);
    },
    BOUND_MS + 30_000,
  );

  it(
    "one hkl holding 10 000 Bragg rows: scaled, most rows outliers of the one group",
    async () => {
      const r = await run("one-hkl");
      expect(r.err).toBe("");
      expect(r.code).toBe(0);
      const s = await scalesOf(r.out);
      // the first 10 000 rows of tetragonal-40's table come from its first 26 stills
      expectFiniteScales(s, 26);
      // rows above the partiality cut-off, of which most are outliers of the one group (these are 10 000 reflections)
      expect(s.data.n_bragg_used + s.data.n_bragg_below_partiality).toBe(SIZES.hklRows);
      expect(s.data.n_outliers).toBeGreaterThan(s.data.n_bragg_used / 2);
      expect(s.data.n_outliers).toBeLessThan(s.data.n_bragg_used);
    },
    BOUND_MS + 30_000,
  );

  it(
    "all-zero Miller indices: the (0,0,0) rows are excluded and nothing is left to scale (exit 1)",
    async () => {
      const r = await run("zero-hkl");
      expect(r.err).toMatch(/fewer than two stills share observations \(0 connected\)/);
      expect(r.code).toBe(1);
    },
    BOUND_MS + 30_000,
  );

  it(
    "20 000 experiments of which 40 have data: the 40 scales of tetragonal-40 alone, and every experiment written",
    async () => {
      const r = await run("many-experiments");
      expect(r.err).toBe("");
      expect(r.code).toBe(0);
      const s = await scalesOf(r.out);
      expect(s.data.n_stills).toBe(SIZES.experiments);
      const alone = join(dir, "out-tetragonal-40");
      const bragg = ["--expt", `${TETRA}stills.expt`, "--refl", `${TETRA}stills.refl`];
      const plain = await runMain("scale", ...bragg, "--out", alone, "--quiet");
      expect(plain.code).toBe(0);
      // the experiments without data change nothing: bit for bit the same scales and ESDs
      expect(s.refined_parameters).toEqual((await scalesOf(alone)).refined_parameters);
      const expt = JSON.parse(await readFile(join(r.out, "scaled.expt"), "utf8")) as { experiment: unknown[] };
      expect(expt.experiment).toHaveLength(SIZES.experiments);
    },
    2 * BOUND_MS,
  );

  it(
    "20 000 stills with one observation each: refused as underdetermined (exit 1)",
    async () => {
      const r = await run("one-observation-per-still");
      expect(r.err).toMatch(/not enough degrees of freedom to refine: (\d+) equations for \1 parameters/);
      expect(r.code).toBe(1);
    },
    BOUND_MS + 30_000,
  );
});

describe("the scaling models of 10^5 experiments are set in linear time", () => {
  it("setScalingModel on every one of 100 000 experiments", () => {
    const n = 100_000;
    const list = parseExperiments(
      { __id__: "ExperimentList", experiment: Array.from({ length: n }, (_, i) => ({ identifier: `e${i}` })) },
      "many.expt",
    );
    const t0 = performance.now();
    for (let i = 0; i < n; i++) list.setScalingModel(i, { __id__: "KB", scale: { parameters: [1] } });
    const doc = list.toJSON() as { scaling_model: unknown[] };
    expect(doc.scaling_model).toHaveLength(n);
    // the quadratic version copied 5·10^9 array slots here (minutes)
    expect(performance.now() - t0).toBeLessThan(10_000);
  });
});
