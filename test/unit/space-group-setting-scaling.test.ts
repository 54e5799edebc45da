/**
 * A dataset indexed in a non-reference setting scales as well as the same data in the reference setting. The fixture
 * (`test/fixtures/settings-i121`, made by its `make_fixture.py` with DIALS/cctbx) holds 12 stills of a monoclinic
 * crystal indexed in `I 1 2 1` (DIALS writes the Hall symbol `" C 2y (x,y,-x+z)"`) and the same stills changed by
 * cctbx to `C 1 2 1` (crystal models and Miller indices), with the diffuse pixels (lab-frame q, setting-free) and the
 * true scales. Voxelize bins the pixels in each setting; scale refines both; each must find the true scales, and the
 * Bragg-only scales must agree between the settings (the same reflections, grouped by the same symmetry).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readExperiments } from "../../src/io/expt.ts";
import type { ScalesJson } from "../../src/io/scales-json.ts";
import { scaleDataset } from "../../src/job/scale-dataset.ts";
import { voxelizeFiles } from "../../src/job/voxelize-files.ts";

const fixture = fileURLToPath(new URL("../fixtures/settings-i121/", import.meta.url));
const truth = JSON.parse(readFileSync(join(fixture, "truth.json"), "utf8")) as { true_scales: number[] };
const SETTINGS = ["i121", "c121"] as const;

let dir = "";

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "setting-scaling-"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** |ln(b_s / t_s)| of every still, both in the gauge geometric mean = 1. */
function logErrors(scales: ScalesJson): number[] {
  const t = truth.true_scales;
  const gt = Math.exp(t.reduce((a, x) => a + Math.log(x), 0) / t.length);
  return t.map((x, s) => {
    const p = scales.refined_parameters[String(s)];
    expect(p).toBeDefined();
    return Math.abs(Math.log(p.multiplicative_scale / (x / gt)));
  });
}

describe("a dataset indexed in I 1 2 1 scales as well as the same data in C 1 2 1", () => {
  it("the fixture is in the two settings DIALS writes", async () => {
    const i121 = await readExperiments(join(fixture, "i121.expt"));
    const c121 = await readExperiments(join(fixture, "c121.expt"));
    expect(i121.experiments[0].crystal?.spaceGroupHall).toBe(" C 2y (x,y,-x+z)");
    expect(c121.experiments[0].crystal?.spaceGroupHall).toBe(" C 2y");
  });

  it("Bragg only: the same scales in both settings", async () => {
    const scales = await Promise.all(
      SETTINGS.map(async (s) => {
        const r = await scaleDataset({
          exptPath: join(fixture, `${s}.expt`),
          reflPath: join(fixture, `${s}.refl`),
          outDir: join(dir, `bragg-${s}`),
          threads: 1,
        });
        return r.scales;
      }),
    );
    const [a, b] = scales;
    expect(Object.keys(a.refined_parameters)).toHaveLength(truth.true_scales.length);
    for (const [s, p] of Object.entries(a.refined_parameters)) {
      expect(Math.abs(b.refined_parameters[s].multiplicative_scale / p.multiplicative_scale - 1)).toBeLessThan(1e-9);
    }
    expect(Math.max(...logErrors(a))).toBeLessThan(0.1);
  });

  it("voxelized in each setting and scaled jointly: both find the true scales equally well", async () => {
    const errors: number[][] = [];
    for (const s of SETTINGS) {
      const expt = join(fixture, `${s}.expt`);
      const binned = join(dir, `${s}.h5`);
      const summary = await voxelizeFiles({
        exptPath: expt,
        pixels: [join(fixture, "pixels", "*.npz")],
        ndiv: 2,
        dMin: 2.6,
        outPath: binned,
      });
      expect(summary.nBinned).toBe(summary.nObservations);
      const r = await scaleDataset({
        exptPath: expt,
        reflPath: join(fixture, `${s}.refl`),
        diffusePath: binned,
        smootherPoints: 3,
        outDir: join(dir, `joint-${s}`),
        threads: 1,
      });
      expect(r.merged?.voxelIndex.length).toBeGreaterThan(0);
      expect(r.scales.data.n_diffuse_used).toBe(summary.nBinned);
      errors.push(logErrors(r.scales));
    }
    const mean = (e: number[]): number => e.reduce((x, y) => x + y, 0) / e.length;
    const [ei, ec] = errors;
    expect(Math.max(...ei)).toBeLessThan(0.1);
    expect(Math.max(...ec)).toBeLessThan(0.1);
    // as well: the mean error of the one within 20 % of the other's
    expect(mean(ei)).toBeLessThan(1.2 * mean(ec));
  });
});
