import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../../src/errors.ts";
import { readReflections } from "../../src/io/refl-read.ts";
import { readBinnedDiffuse } from "../../src/io/binned-diffuse.ts";
import { readNpz } from "../../src/io/npz.ts";
import { scaleDataset } from "../../src/job/scale-dataset.ts";
import { simulateDataset } from "../../src/simulate/simulate-dataset.ts";
import { resolveSimulateOptions } from "../../src/simulate/simulation-options.ts";

describe("simulate with misreported σ", () => {
  let dir: string;
  const base = { stills: 6, observationsPerStill: 4000, seed: 21 };
  const misreported = { braggErrorB: 0.06, braggSigmaFactor: 0.8, diffuseSigmaFactor: 2.5 };
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "simulate-misreported-"));
    await simulateDataset({ ...base, outDir: join(dir, "plain") });
    await simulateDataset({ ...base, ...misreported, outDir: join(dir, "mis") });
  }, 60000);
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("writes the true σ for scoring, and reports σ as the options say", async () => {
    expect(existsSync(join(dir, "plain", "truth_sigmas.npz"))).toBe(false);
    const truth = await readNpz(join(dir, "mis", "truth_sigmas.npz"));
    const trueVariance = truth.get("bragg_true_variance")?.data;
    const trueSigma = truth.get("diffuse_true_sigma")?.data;
    const refl = await readReflections(join(dir, "mis", "stills.refl"));
    const plain = await readReflections(join(dir, "plain", "stills.refl"));
    const reported = refl.getDouble("intensity.sum.variance");
    const counting = plain.getDouble("intensity.sum.variance");
    expect(trueVariance?.length).toBe(refl.nrows);
    expect(refl.nrows).toBe(plain.nrows);
    if (trueVariance === undefined || trueSigma === undefined) throw new Error("missing arrays");
    for (let r = 0; r < refl.nrows; r++) {
      expect(reported[r]).toBeCloseTo(counting[r] * 0.64, 6);
      // the true variance adds (0.06·mean)² to the counting variance
      expect(Number(trueVariance[r])).toBeGreaterThanOrEqual(counting[r]);
    }
    const diffuse = await readBinnedDiffuse(join(dir, "mis", "diffuse_binned.h5"));
    const plainDiffuse = await readBinnedDiffuse(join(dir, "plain", "diffuse_binned.h5"));
    expect(trueSigma.length).toBe(diffuse.sigmas.length);
    for (let i = 0; i < trueSigma.length; i += 97) {
      expect(diffuse.sigmas[i]).toBe(Math.fround(Number(trueSigma[i]) * 2.5));
      expect(plainDiffuse.sigmas[i]).toBe(Math.fround(Number(trueSigma[i])));
    }
    const args = (JSON.parse(readFileSync(join(dir, "mis", "truth.json"), "utf8")) as { args: Record<string, number> })
      .args;
    expect(args).toMatchObject({ bragg_error_b: 0.06, bragg_sigma_factor: 0.8, diffuse_sigma_factor: 2.5 });
  });

  it("scale's error model recovers the diffuse σ factor and the Bragg model", async () => {
    const out = join(dir, "scaled");
    const result = await scaleDataset({
      exptPath: join(dir, "mis", "stills.expt"),
      reflPath: join(dir, "mis", "stills.refl"),
      diffusePath: join(dir, "mis", "diffuse_binned.h5"),
      outDir: out,
      threads: 1,
    });
    const em = result.scales.error_model;
    expect(em?.diffuse?.refined).toBe(true);
    expect(Math.abs((em?.diffuse?.a ?? 0) / 0.4 - 1)).toBeLessThan(0.1);
    expect(em?.bragg?.a ?? 0).toBeGreaterThan(1);
    // scaled.expt keeps the Bragg model where DIALS does; scaled.refl carries a²(σ² + (b·I)²)·(1 + σ(g)/g)
    const a = em?.bragg?.a ?? NaN;
    const b = em?.bragg?.b ?? NaN;
    const expt = JSON.parse(readFileSync(join(out, "scaled.expt"), "utf8")) as {
      scaling_model: { configuration_parameters: Record<string, unknown> }[];
    };
    expect(expt.scaling_model[0].configuration_parameters).toEqual({
      corrections: ["scale"],
      error_model_type: "BasicErrorModel",
      error_model_parameters: [a, b],
    });
    const scaled = await readReflections(join(out, "scaled.refl"));
    const I = scaled.getDouble("intensity.sum.value");
    const V = scaled.getDouble("intensity.sum.variance");
    const p = scaled.getDouble("partiality");
    const g = scaled.getDouble("inverse_scale_factor");
    const vg = scaled.getDouble("inverse_scale_factor_variance");
    const written = scaled.getDouble("intensity.scale.variance");
    for (let r = 0; r < scaled.nrows; r += 13) {
      const bi = (b * I[r]) / p[r];
      const expected = a * a * (V[r] / (p[r] * p[r]) + bi * bi) * (1 + Math.sqrt(vg[r]) / g[r]);
      expect(Math.abs(written[r] / expected - 1)).toBeLessThan(1e-12);
    }
  }, 120000);

  it("rejects out-of-range factors, naming the flag", () => {
    const ok = { outDir: "x", stills: 1, observationsPerStill: 1 };
    expect(() => resolveSimulateOptions({ ...ok, braggSigmaFactor: 0 })).toThrow(ConfigError);
    expect(() => resolveSimulateOptions({ ...ok, diffuseSigmaFactor: -1 })).toThrow(/--diffuse-sigma-factor/);
    expect(() => resolveSimulateOptions({ ...ok, braggErrorB: 11 })).toThrow(/--bragg-error-b/);
  });
});
