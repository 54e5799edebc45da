import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { BinnedPixelData } from "../../src/observations/diffuse-input.ts";
import { DiffuseScalingModel } from "../../src/refine/diffuse-scaling-model.ts";
import { residentRows } from "../../src/observations/observation-windows.ts";
import { buildScalesJson } from "../../src/job/scale-documents.ts";
import { parseScalesJson } from "../../src/io/scales-json.ts";
import { errorModelSigmaBins } from "../../src/refine/error-model-sigma-bins.ts";
import { pagedCopy, removePaged } from "../fixtures/windowed/observations.ts";

const tmp = mkdtempSync(join(tmpdir(), "scales-json-test-"));
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** Three stills over 40 voxels, 1 % deviations at σ = 1 (outliers at z = 3); every 9th row has σ = 0 (unusable). */
function data(): BinnedPixelData {
  const rows: [number, number, number, number][] = [];
  for (let v = 0; v < 40; v++) {
    for (let s = 0; s < 3; s++) rows.push([s, 10 + v, (50 + v) * [0.5, 1.3, 2][s] * (1 + 0.01 * ((v * 7 + s) % 5)), 1]);
  }
  rows.forEach((r, i) => {
    if (i % 9 === 4) r[3] = 0;
  });
  return {
    stillIds: Int32Array.from(rows, (r) => r[0]),
    voxelIndices: Float64Array.from(rows, (r) => r[1]),
    intensities: Float32Array.from(rows, (r) => r[2]),
    sigmas: Float32Array.from(rows, (r) => r[3]),
    qVectors: Float32Array.from(rows.flatMap((r) => [0.1 + 0.01 * (r[1] % 30), 0, 0])),
  };
}

describe("buildScalesJson counts", () => {
  it("n_diffuse_used counts the used diffuse rows, resident or paged alike", () => {
    const model = new DiffuseScalingModel({}, { nStills: 3 });
    const refinement = model.refineParameters(data(), undefined, { outlierZmax: 3 });
    const obs = refinement.details.observations;
    const { weight } = residentRows(obs);
    let used = 0;
    for (let o = obs.nBraggRows; o < obs.n; o++) if (weight[o] > 0) used++;
    // 120 rows, 13 unusable (i % 9 = 4), and the outliers
    expect(refinement.details.outlierRows.length).toBeGreaterThan(0);
    expect(used).toBe(120 - 13 - refinement.details.outlierRows.length);
    const timings = { readS: 0, refineS: 0, mergeS: 0, writeS: 0 };
    const resident = buildScalesJson(model, refinement, "lm", timings);
    expect(resident.data.n_diffuse_used).toBe(used);
    for (const windowRows of [1, 5, 1000]) {
      const paged = pagedCopy(obs, tmp, windowRows);
      try {
        const got = buildScalesJson(
          model,
          { ...refinement, details: { ...refinement.details, observations: paged } },
          "lm",
          timings,
        );
        expect(got).toEqual(resident);
      } finally {
        removePaged(paged);
      }
    }
  });
});

describe("buildScalesJson error_model", () => {
  const timings = { readS: 0, refineS: 0, mergeS: 0, writeS: 0 };

  it("records the refined model, the residual sd before and after it, and σ' against I of the used rows", () => {
    const model = new DiffuseScalingModel({}, { nStills: 3 });
    const refinement = model.refineParameters(data(), undefined, { outlierZmax: 3 });
    const summary = refinement.details.errorModels.diffuse ?? expect.unreachable();
    const doc = parseScalesJson(JSON.parse(JSON.stringify(buildScalesJson(model, refinement, "lm", timings))), "s");
    const entry = doc.error_model?.diffuse ?? expect.unreachable();
    expect(doc.error_model?.bragg).toBeUndefined();
    expect(entry).toMatchObject({ model: "basic", a: summary.a, b: summary.b, refined: summary.refined });
    expect(entry.residual_sd_before).toBe(summary.normalisedResidualSd.before);
    expect(entry.residual_sd_after).toBe(summary.normalisedResidualSd.after);
    expect(entry.residual_sd_before).toBeGreaterThan(0);
    // the bins of the used diffuse rows (weight > 0: neither unusable nor outliers) with the model's a and b
    const obs = refinement.details.observations;
    const { weight, intensity, variance } = residentRows(obs);
    const I: number[] = [];
    const v: number[] = [];
    for (let o = obs.nBraggRows; o < obs.n; o++) {
      if (weight[o] > 0) {
        I.push(intensity[o]);
        v.push(variance[o]);
      }
    }
    const expected = errorModelSigmaBins(I, v, summary.a, summary.b);
    expect(expected.length).toBeGreaterThan(1);
    expect(entry.sigma_bins).toEqual(
      expected.map((b) => ({
        i_min: b.iMin,
        i_max: b.iMax,
        n: b.n,
        mean_i: b.meanIntensity,
        mean_sigma: b.meanSigma,
        mean_sigma_prime: b.meanSigmaPrime,
      })),
    );
    expect(entry.sigma_bins?.reduce((s, b) => s + b.n, 0)).toBe(I.length);
  });

  it("says 'none' with --error-model none: a = 1, b = 0, one residual sd, no σ' bins", () => {
    const model = new DiffuseScalingModel({}, { nStills: 3 });
    const refinement = model.refineParameters(data(), undefined, { outlierZmax: 3, errorModel: "none" });
    const entry = buildScalesJson(model, refinement, "lm", timings).error_model?.diffuse ?? expect.unreachable();
    expect(entry).toEqual({
      model: "none",
      a: 1,
      b: 0,
      refined: false,
      residual_sd_before: entry.residual_sd_after,
      residual_sd_after: refinement.details.errorModels.diffuse?.normalisedResidualSd.after,
    });
    expect(entry.residual_sd_after).toBeGreaterThan(0);
  });
});
