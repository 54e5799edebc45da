import { describe, expect, it } from "vitest";
import { DiffuseScalingModel } from "../../src/refine/diffuse-scaling-model.ts";
import {
  checkParameterLimit,
  parseDiffuseScalingConfigJson,
  resolveDiffuseScalingConfig,
} from "../../src/refine/config.ts";
import type { BinnedPixelData } from "../../src/observations/diffuse-input.ts";
import { ConfigError, DisabledComponentAccess, ParameterLimitExceeded, RefinementFailure } from "../../src/errors.ts";
import { inverseScalesInRange } from "../../src/passes/inverse-scales.ts";

/** Binned observations from (still, voxel, intensity, sigma, |q|) rows; q along x. */
function binned(rows: [number, number, number, number, number][]): BinnedPixelData {
  return {
    stillIds: Int32Array.from(rows, (r) => r[0]),
    voxelIndices: Float64Array.from(rows, (r) => r[1]),
    intensities: Float32Array.from(rows, (r) => r[2]),
    sigmas: Float32Array.from(rows, (r) => r[3]),
    qVectors: Float32Array.from(rows.flatMap((r) => [r[4], 0, 0])),
  };
}

/** Noise-free: true b = [2, 0.5], voxel values 100, 50, 80 seen by both stills, plus a singleton voxel (id 9). */
const tiny = binned([
  [0, 1, 200, 1, 0.1],
  [1, 1, 50, 1, 0.1],
  [0, 2, 100, 1, 0.2],
  [1, 2, 25, 1, 0.2],
  [0, 3, 160, 1, 0.3],
  [1, 3, 40, 1, 0.3],
  [0, 9, 70, 1, 0.4],
]);

describe("DiffuseScalingModel: statistics on a tiny noise-free dataset (hand-computed)", () => {
  it("recovers b exactly, pins the gauge, and reports R, shifts and convergence correctly", () => {
    const model = new DiffuseScalingModel({}, { nStills: 2 });
    const { refinedParameters, statistics } = model.refineParameters(tiny, undefined, { outlierZmax: 0 });
    // True b = [2, 0.5] has geometric mean 1, so the pinned gauge reproduces it exactly.
    expect(refinedParameters.get(0)?.multiplicativeScale).toBeCloseTo(2, 9);
    expect(refinedParameters.get(1)?.multiplicativeScale).toBeCloseTo(0.5, 9);
    expect(refinedParameters.get(0)?.additiveOffset).toBe(0);
    // Initial R at b = (1, 1): refs 125, 62.5, 100; Σ|I − Ih| = 150 + 75 + 120 over Σ|I| = 250 + 125 + 200 = 345/575.
    // The singleton voxel 9 is not counted (groups with ≥ 2 members only).
    expect(statistics.initialRFactor).toBeCloseTo(345 / 575, 12);
    expect(statistics.finalRFactor).toBeLessThan(1e-9);
    expect(statistics.convergenceAchieved).toBe(true);
    expect(statistics.nIterations).toBeGreaterThan(0);
    // Largest |b_final − b_initial| in the gauge: |2 − 1| = 1.
    expect(statistics.parameterShifts.per_still_scale).toBeCloseTo(1, 9);
    expect(statistics.parameterShifts.resolution_smoother).toBe(0);
  });

  it("convergence is false when stopped by the iteration limit", () => {
    const noisy = binned([
      [0, 1, 203, 2, 0.1],
      [1, 1, 49, 1, 0.1],
      [0, 2, 98, 2, 0.2],
      [1, 2, 26, 1, 0.2],
      [0, 3, 161, 2, 0.3],
      [1, 3, 41, 1, 0.3],
    ]);
    const model = new DiffuseScalingModel({}, { nStills: 2 });
    const { statistics } = model.refineParameters(noisy, undefined, {
      maxIterations: 1,
      outlierZmax: 0,
      convergenceTolerance: 1e-15,
    });
    expect(statistics.nIterations).toBe(1);
    expect(statistics.convergenceAchieved).toBe(false);
  });

  it("excludes and reports a still that shares no voxel with the others, and a still without data", () => {
    const data = binned([
      [0, 1, 200, 1, 0.1],
      [1, 1, 50, 1, 0.1],
      [0, 2, 100, 1, 0.2],
      [1, 2, 25, 1, 0.2],
      [2, 7, 10, 1, 0.2],
      [2, 8, 11, 1, 0.2],
    ]);
    const model = new DiffuseScalingModel({}, { nStills: 4 });
    const result = model.refineParameters(data, undefined, { outlierZmax: 0 });
    expect([...result.refinedParameters.keys()]).toEqual([0, 1]);
    expect(Array.from(result.details.stillsWithoutData)).toEqual([2, 3]);
    expect(result.details.stillsDisconnected.length).toBe(0);
  });

  it("counts unusable diffuse rows by reason", () => {
    const data = binned([
      [0, 1, 200, 1, 0.1],
      [1, 1, 50, 1, 0.1],
      [0, 2, 100, 1, 0.2],
      [1, 2, 25, 1, 0.2],
      [0, 2, Number.NaN, 1, 0.2],
      [1, 2, 25, 0, 0.2],
      [1, 2, 25, -1, 0.2],
      [5, 2, 25, 1, 0.2],
    ]);
    const model = new DiffuseScalingModel({}, { nStills: 2 });
    const { details } = model.refineParameters(data, undefined, { outlierZmax: 0 });
    expect(details.diffuseCounts).toEqual({
      nRows: 8,
      nUsed: 4,
      nNonFiniteIntensity: 1,
      nBadSigma: 2,
      nUnknownStill: 1,
      nValueOutOfRange: 0,
    });
  });

  it("throws RefinementFailure when fewer than two stills are connected", () => {
    const model = new DiffuseScalingModel({}, { nStills: 2 });
    const data = binned([
      [0, 1, 200, 1, 0.1],
      [0, 1, 190, 1, 0.1],
    ]);
    expect(() => model.refineParameters(data, undefined)).toThrow(RefinementFailure);
    expect(() => model.refineParameters(data, undefined)).toThrow(/^Parameter refinement failed: /);
  });

  it("getScalesForObservation works for a single point with the smoother on", () => {
    const model = new DiffuseScalingModel(
      { resolutionSmoother: { enabled: true, nControlPoints: 3, resolutionRange: [0, 0.5] } },
      { nStills: 2 },
    );
    model.resolutionComponent?.parameters.set([1, 1.2, 1.4]);
    const [m, c] = model.getScalesForObservation(1, 0.25);
    expect(c).toBe(0);
    // 3-value smoother at the centre of [0, 0.5]: z = 1, weights e^{-(1/0.7)^2}, 1, e^{-(1/0.7)^2} → value 1.2.
    expect(m).toBeCloseTo(1.2, 12);
    expect(() => model.getScalesForObservation(2, 0.25)).toThrow(ConfigError);
  });

  it("generateReferences returns weighted means keyed by voxel, without the rejected outlier", () => {
    const rows: [number, number, number, number, number][] = [];
    for (let i = 0; i < 8; i++) rows.push([i % 2, 4, 100 + (i % 3), 1, 0.2]);
    rows.push([0, 4, 1000, 1, 0.2]);
    rows.push([0, 5, 10, 1, 0.2]);
    rows.push([1, 5, 12, 1, 0.2]);
    const model = new DiffuseScalingModel({}, { nStills: 2 });
    const refs = model.generateReferences(binned(rows), undefined);
    const v4 = refs.diffuse.get(4);
    expect(v4?.nObservations).toBe(8);
    expect(v4?.intensity).toBeCloseTo((100 * 3 + 101 * 3 + 102 * 2) / 8, 10);
    expect(v4?.sigma).toBeCloseTo(1 / Math.sqrt(8), 12);
    expect(refs.diffuse.get(5)).toEqual({ intensity: 11, sigma: 1 / Math.sqrt(2), nObservations: 2 });
    expect(refs.bragg.size).toBe(0);
  });

  it("generateReferences divides out the model's scales b·a(|q|): I = b·a(|q|)·Ih gives back Ih", () => {
    const range: [number, number] = [0.1, 0.5];
    const model = new DiffuseScalingModel(
      {
        perStillScale: {
          initialValues: new Map([
            [0, 2],
            [1, 0.5],
            [2, 1.5],
          ]),
        },
        resolutionSmoother: { enabled: true, nControlPoints: 3, resolutionRange: range },
      },
      { nStills: 3 },
    );
    model.resolutionComponent?.parameters.set([1, 1.2, 0.9]);
    const truth = new Map([
      [7, 40],
      [8, 90],
    ]);
    const rows: [number, number, number, number, number][] = [];
    for (const [voxel, Ih] of truth) {
      for (let s = 0; s < 3; s++) {
        // |q| inside the range and beyond both ends (clamped)
        for (const q of [0.05, 0.2, 0.33, 0.7]) {
          rows.push([s, voxel, model.getScalesForObservation(s, q)[0] * Ih, 1 + s, q]);
        }
      }
    }
    const refs = model.generateReferences(binned(rows), undefined);
    for (const [voxel, Ih] of truth) {
      const r = refs.diffuse.get(voxel);
      expect(r?.nObservations).toBe(12);
      // g is float32 in the kernels (relative rounding ≤ 6e-8)
      expect(Math.abs((r?.intensity ?? 0) / Ih - 1)).toBeLessThan(1e-6);
    }
  });

  it("modelState evaluates g = b·a(|q|) as getScalesForObservation does", () => {
    const model = new DiffuseScalingModel(
      { resolutionSmoother: { enabled: true, nControlPoints: 5, resolutionRange: [0.1, 0.6] } },
      { nStills: 2 },
    );
    model.perStillComponent.parameters = Float64Array.of(1.7, 0.4);
    model.resolutionComponent?.parameters.set([1, 1.1, 0.95, 1.3, 0.8]);
    const state = model.modelState();
    const still = Int32Array.of(0, 1, 0, 1, 0, 1);
    const q = Float32Array.of(0.01, 0.1, 0.22, 0.37, 0.6, 0.9);
    const g = new Float32Array(6);
    inverseScalesInRange(state, still, q, 0, 6, g);
    for (let o = 0; o < 6; o++) {
      expect(g[o] / model.getScalesForObservation(still[o], q[o])[0]).toBeCloseTo(1, 6);
    }
    expect(new DiffuseScalingModel({}, { nStills: 2 }).modelState().smoother).toBeUndefined();
  });
});

describe("v1 guards", () => {
  it("more than 5 control points → ParameterLimitExceeded with the spec's message", () => {
    expect(
      () => new DiffuseScalingModel({ resolutionSmoother: { enabled: true, nControlPoints: 6 } }, { nStills: 3 }),
    ).toThrow(ParameterLimitExceeded);
    expect(() => resolveDiffuseScalingConfig({ resolutionSmoother: { enabled: true, nControlPoints: 7 } })).toThrow(
      /^v1 model parameter limit exceeded: /,
    );
  });

  it("total free parameters above 5 + N_stills → ParameterLimitExceeded", () => {
    expect(() => {
      checkParameterLimit(10, 16);
    }).toThrow(ParameterLimitExceeded);
    expect(() => {
      checkParameterLimit(10, 15);
    }).not.toThrow();
  });

  it("1 or 4 control points are impossible for a DIALS smoother: ConfigError naming 2, 3 or 5", () => {
    for (const n of [1, 4]) {
      expect(() => resolveDiffuseScalingConfig({ resolutionSmoother: { enabled: true, nControlPoints: n } })).toThrow(
        /use 2, 3 or 5|one of 2, 3 or 5/,
      );
    }
  });

  it("enabling an experimental component → DisabledComponentAccess", () => {
    for (const key of ["panelScale", "spatialScale", "additiveOffset"] as const) {
      expect(
        () => new DiffuseScalingModel({ experimentalComponents: { [key]: { enabled: true } } }, { nStills: 2 }),
      ).toThrow(/^Advanced component disabled in v1: /);
    }
    const model = new DiffuseScalingModel({}, { nStills: 2 });
    expect(() => model.component("additive_offset")).toThrow(DisabledComponentAccess);
  });

  it("per_still_scale must be enabled, and initial values must be positive", () => {
    expect(() => resolveDiffuseScalingConfig({ perStillScale: { enabled: false } })).toThrow(ConfigError);
    expect(() => resolveDiffuseScalingConfig({ perStillScale: { initialValues: { "0": -1 } } })).toThrow(/positive/);
    const model = new DiffuseScalingModel({ perStillScale: { initialValues: { "1": 1.5 } } }, { nStills: 2 });
    expect(model.getScalesForObservation(1, 0.1)).toEqual([1.5, 0]);
  });

  it("parses the snake_case JSON config and names the bad field", () => {
    const input = parseDiffuseScalingConfigJson(
      {
        per_still_scale: { enabled: true, initial_values: { "0": 1.2 } },
        resolution_smoother: { enabled: true, n_control_points: 5, resolution_range: [0.05, 0.5] },
        experimental_components: { additive_offset: { enabled: false } },
        partiality_threshold: 0.2,
      },
      "cfg.json",
    );
    const c = resolveDiffuseScalingConfig(input);
    expect(c.resolutionSmoother).toMatchObject({ enabled: true, nControlPoints: 5, resolutionRange: [0.05, 0.5] });
    expect(c.partialityThreshold).toBe(0.2);
    expect(c.perStillScale.initialValues.get(0)).toBe(1.2);
    expect(() => parseDiffuseScalingConfigJson({ resolution_smoother: { n_points: 3 } }, "cfg.json")).toThrow(
      /^cfg\.json: resolution_smoother/,
    );
  });
});
