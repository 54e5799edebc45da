/**
 * Valid but large or small values: scaling is unit-invariant, so I and σ of a class (Bragg or diffuse) times any
 * factor must give the same scales and a map in the input's units, never a silently smaller problem. Rows that cannot
 * be represented next to the others (σ 60 binary orders of magnitude from the class's unit, |I| beyond 2^120 units)
 * are dropped and counted as `nValueOutOfRange`; (0,0,0) Bragg rows are counted too.
 * A small synthetic dataset (6 stills of the simulated tetragonal list, Bragg + diffuse) is written with the project's
 * writers and scaled through the CLI in-process.
 */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readMergedDiffuse } from "../../src/io/merged-diffuse.ts";
import { DiffuseScalingModel } from "../../src/refine/diffuse-scaling-model.ts";
import { SpaceGroup } from "../../src/symmetry/space-group.ts";
import { runMain } from "./cli-in-process.ts";
import { HALL, N_STILLS, braggTable, dataset, writeSmallData, writeSmallExpt, type Dataset } from "./small-dataset.ts";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "value-range-"));
  writeSmallExpt(join(dir, "stills.expt"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface RunResult {
  code: number;
  err: string;
  scales: number[];
  refinement: { bragg_counts: Record<string, number>; diffuse_counts: Record<string, number> };
  merged: { intensity: Float64Array; sigma: Float64Array } | undefined;
}

/** Writes the dataset, runs `diffuse-scale scale` in-process, and reads what it wrote. */
async function scaleFiles(name: string, data: Dataset): Promise<RunResult> {
  const { refl, h5 } = await writeSmallData(dir, name, data);
  const out = join(dir, `${name}-out`);
  const r = await runMain(
    "scale",
    "--expt",
    join(dir, "stills.expt"),
    "--refl",
    refl,
    "--diffuse",
    h5,
    "--out",
    out,
    "--threads",
    "1",
  );
  if (r.code !== 0)
    return {
      code: r.code,
      err: r.err,
      scales: [],
      refinement: { bragg_counts: {}, diffuse_counts: {} },
      merged: undefined,
    };
  const scalesJson = JSON.parse(readFileSync(join(out, "scales.json"), "utf8")) as {
    refined_parameters: Record<string, { multiplicative_scale: number }>;
  };
  const scales = Array.from(
    { length: N_STILLS },
    (_, s) => scalesJson.refined_parameters[String(s)].multiplicative_scale,
  );
  const refinement = JSON.parse(readFileSync(join(out, "refinement.json"), "utf8")) as RunResult["refinement"];
  const merged = await readMergedDiffuse(join(out, "merged_diffuse.h5"));
  return { code: r.code, err: r.err, scales, refinement, merged };
}

/** Every scale within `tol` (relative) of the reference run's. */
function expectSameScales(got: number[], want: number[], tol: number): void {
  expect(got).toHaveLength(want.length);
  for (let s = 0; s < want.length; s++) expect(Math.abs(got[s] / want[s] - 1), `still ${s}`).toBeLessThan(tol);
}

/** The dataset with the diffuse rows changed by `f` (on copies). */
function withDiffuse(
  f: (d: { intensities: Float32Array; sigmas: Float32Array; stillIds: Int32Array }) => void,
): Dataset {
  const data = dataset();
  f(data.diffuse);
  return data;
}

let baseline: RunResult;

describe("values far from 1 are scaled, or counted when they cannot be stored", () => {
  beforeAll(async () => {
    baseline = await scaleFiles("baseline", dataset());
    expect(baseline.code).toBe(0);
  });

  it("diffuse I and σ × 1e30: every row used, same scales, the map × 1e30 (not silently Bragg-only)", async () => {
    const t0 = performance.now();
    const r = await scaleFiles(
      "diffuse-1e30",
      withDiffuse((d) => {
        for (let i = 0; i < d.intensities.length; i++) {
          d.intensities[i] *= 1e30;
          d.sigmas[i] *= 1e30;
        }
      }),
    );
    expect(r.code, r.err).toBe(0);
    const dc = r.refinement.diffuse_counts;
    expect(dc.nUsed).toBe(dc.nRows);
    expect(dc.nValueOutOfRange).toBe(0);
    expectSameScales(r.scales, baseline.scales, 1e-5);
    const m = r.merged;
    const b = baseline.merged;
    expect(m?.intensity.length).toBe(b?.intensity.length);
    expect(m?.intensity.length).toBeGreaterThan(0);
    for (let v = 0; v < (b?.intensity.length ?? 0); v++) {
      expect(Math.abs((m?.intensity[v] ?? 0) / ((b?.intensity[v] ?? 0) * 1e30) - 1)).toBeLessThan(1e-5);
    }
    expect(performance.now() - t0).toBeLessThan(20_000);
  });

  it("σ = 1e-30 for every diffuse row of one still: those rows are counted, not silently lost", async () => {
    let planted = 0;
    const r = await scaleFiles(
      "one-still-tiny-sigma",
      withDiffuse((d) => {
        for (let i = 0; i < d.sigmas.length; i++) {
          if (d.stillIds[i] === 3) {
            d.sigmas[i] = 1e-30;
            planted++;
          }
        }
      }),
    );
    expect(r.code, r.err).toBe(0);
    const dc = r.refinement.diffuse_counts;
    expect(planted).toBeGreaterThan(20);
    expect(dc.nValueOutOfRange).toBe(planted);
    expect(dc.nUsed + dc.nValueOutOfRange).toBe(dc.nRows);
  });

  it("10 rows with σ = 5e-20 and 10 intensities of 3e38: counted, and the fit is the baseline's without them", async () => {
    const r = await scaleFiles(
      "extreme-rows",
      withDiffuse((d) => {
        for (let k = 0; k < 10; k++) d.sigmas[7 * k] = 5e-20;
        for (let k = 0; k < 10; k++) d.intensities[7 * k + 3] = 3e38;
      }),
    );
    expect(r.code, r.err).toBe(0);
    expect(r.refinement.diffuse_counts.nValueOutOfRange).toBe(20);
    expectSameScales(r.scales, baseline.scales, 0.01);
  });

  it("Bragg I × 1e20 (σ × 1e20): the same scales, every Bragg row used", async () => {
    const data = dataset();
    for (let i = 0; i < data.bragg.I.length; i++) {
      data.bragg.I[i] *= 1e20;
      data.bragg.V[i] *= 1e40;
    }
    const r = await scaleFiles("bragg-1e20", data);
    expect(r.code, r.err).toBe(0);
    expect(r.refinement.bragg_counts.nUsed).toBe(baseline.refinement.bragg_counts.nUsed);
    expect(r.refinement.bragg_counts.nValueOutOfRange).toBe(0);
    expectSameScales(r.scales, baseline.scales, 1e-5);
  });

  it("Bragg I × 1e30 with σ unchanged (I/σ ~ 1e32): every Bragg row still used, exit 0", async () => {
    const data = dataset();
    for (let i = 0; i < data.bragg.I.length; i++) data.bragg.I[i] *= 1e30;
    const r = await scaleFiles("bragg-i-only", data);
    expect(r.code, r.err).toBe(0);
    expect(r.refinement.bragg_counts.nUsed).toBe(baseline.refinement.bragg_counts.nUsed);
    expect(r.refinement.bragg_counts.nValueOutOfRange).toBe(0);
  });

  it("(0,0,0) Bragg rows are excluded and counted", async () => {
    const data = dataset();
    for (let k = 0; k < 4; k++) data.bragg.hkl.fill(0, 3 * 5 * k, 3 * 5 * k + 3);
    const r = await scaleFiles("origin", data);
    expect(r.code, r.err).toBe(0);
    expect(r.refinement.bragg_counts.nOriginIndex).toBe(4);
    expect(r.refinement.bragg_counts.nUsed).toBe(baseline.refinement.bragg_counts.nUsed - 4);
  });
});

describe("property: I and σ of every row × 10^k, k in −30…30, give the same scales", () => {
  it("same per-still scales to 1e-4 relative (float32 rounding of the inputs)", () => {
    const sg = SpaceGroup.fromHall(HALL);
    const refine = (k: number): Float64Array => {
      const data = dataset();
      const c = 10 ** k;
      for (let i = 0; i < data.bragg.I.length; i++) {
        data.bragg.I[i] *= c;
        data.bragg.V[i] *= c * c;
      }
      for (let i = 0; i < data.diffuse.intensities.length; i++) {
        data.diffuse.intensities[i] *= c;
        data.diffuse.sigmas[i] *= c;
      }
      const model = new DiffuseScalingModel({}, { nStills: N_STILLS, spaceGroup: sg });
      const res = model.refineParameters(data.diffuse, braggTable(data.bragg), { threads: 1, errorModel: "none" });
      expect(res.details.diffuseCounts?.nUsed).toBe(data.diffuse.intensities.length);
      return Float64Array.from(model.perStillComponent.parameters);
    };
    const want = refine(0);
    fc.assert(
      fc.property(fc.integer({ min: -30, max: 30 }), (k) => {
        const got = refine(k);
        for (let s = 0; s < N_STILLS; s++)
          expect(Math.abs(got[s] / want[s] - 1), `k=${k} still ${s}`).toBeLessThan(1e-4);
      }),
      { seed: 18, numRuns: 12, examples: [[-30], [30], [-19], [21]] },
    );
  });
});
