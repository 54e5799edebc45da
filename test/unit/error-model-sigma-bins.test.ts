/**
 * The numbers the report shows of each class's error model: σ' against I in log-spaced intensity bins
 * (`errorModelSigmaBins`) and the normalised residual sd with σ as reported and with σ' (`normalisedResidualSd`),
 * on small cases computed by hand.
 */
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/errors.ts";
import { normalisedResidualSd, type ClassRows } from "../../src/refine/class-error-models.ts";
import { ERROR_MODEL_SIGMA_BINS, errorModelSigmaBins } from "../../src/refine/error-model-sigma-bins.ts";

describe("errorModelSigmaBins", () => {
  it("gives the mean I, σ and σ' = a·√(σ² + (b·I)²) per log-spaced bin (hand-computed)", () => {
    // I = 1 and 5 fall in [1, 10), 20 and 100 in [10, 100]; I ≤ 0 is left out
    const bins = errorModelSigmaBins([1, 5, 20, 100, 0, -3], [1, 4, 9, 16, 1, 1], 2, 0.1, 2);
    expect(bins).toHaveLength(2);
    const [lo, hi] = bins;
    expect(lo.iMin).toBe(1);
    expect(lo.iMax).toBeCloseTo(10, 12);
    expect(hi.iMin).toBeCloseTo(10, 12);
    expect(hi.iMax).toBe(100);
    expect([lo.n, hi.n]).toEqual([2, 2]);
    expect(lo.meanIntensity).toBe(3);
    expect(hi.meanIntensity).toBe(60);
    expect(lo.meanSigma).toBe(1.5);
    expect(hi.meanSigma).toBe(3.5);
    // (2·√(1 + 0.1²) + 2·√(4 + 0.5²))/2 and (2·√(9 + 2²) + 2·√(16 + 10²))/2
    expect(lo.meanSigmaPrime).toBeCloseTo(Math.sqrt(1.01) + Math.sqrt(4.25), 12);
    expect(hi.meanSigmaPrime).toBeCloseTo(Math.sqrt(13) + Math.sqrt(116), 12);
  });

  it("leaves out empty bins and non-finite rows; one bin when every positive I is the same", () => {
    const bins = errorModelSigmaBins([1, 100, NaN, 50], [1, 1, 1, Infinity], 1, 0, 4);
    expect(bins.map((b) => [b.iMin, b.n])).toEqual([
      [1, 1],
      [expect.closeTo(10 ** 1.5, 9), 1],
    ]);
    expect(bins[1].iMax).toBe(100);
    const one = errorModelSigmaBins([7, 7, -1], [4, 16, 1], 1, 0);
    expect(one).toEqual([{ iMin: 7, iMax: 7, n: 2, meanIntensity: 7, meanSigma: 3, meanSigmaPrime: 3 }]);
    expect(errorModelSigmaBins([0, -2], [1, 1], 1, 0)).toEqual([]);
    expect(errorModelSigmaBins([], [], 1, 0)).toEqual([]);
  });

  it("σ' equals σ for a = 1, b = 0, and uses at most ERROR_MODEL_SIGMA_BINS bins by default", () => {
    const I = Array.from({ length: 500 }, (_, i) => 1.03 ** i);
    const v = I.map((x) => x + 2);
    const bins = errorModelSigmaBins(I, v, 1, 0);
    expect(bins).toHaveLength(ERROR_MODEL_SIGMA_BINS);
    expect(bins.reduce((s, b) => s + b.n, 0)).toBe(500);
    for (const b of bins) expect(b.meanSigmaPrime).toBe(b.meanSigma);
    for (let j = 1; j < bins.length; j++) expect(bins[j].iMin).toBe(bins[j - 1].iMax);
  });

  it("refuses mismatched lengths, a non-finite model and a bad bin count", () => {
    expect(() => errorModelSigmaBins([1, 2], [1], 1, 0)).toThrow(ConfigError);
    expect(() => errorModelSigmaBins([1], [1], NaN, 0)).toThrow(/a and b must be finite/);
    expect(() => errorModelSigmaBins([1], [1], 1, 0, 0)).toThrow(/nBins/);
  });
});

/** Sample sd of δ computed directly from its definition, one group of rows at a time. */
function directSd(groups: { I: number[]; v: number[]; g: number[]; w: number[] }[], a: number, b: number): number {
  const deltas: number[] = [];
  for (const { I, v, g, w } of groups) {
    const n = I.length;
    if (n < 2) continue;
    let S = 0;
    let T = 0;
    for (let i = 0; i < n; i++) {
      S += w[i] * g[i] * g[i];
      T += w[i] * g[i] * I[i];
    }
    const Ih = T / S;
    for (let i = 0; i < n; i++) {
      const sigmaPrime = (a * Math.sqrt(v[i] + (b * I[i]) ** 2)) / g[i];
      deltas.push((Math.sqrt(n / (n - 1)) * (I[i] / g[i] - Ih)) / sigmaPrime);
    }
  }
  const mean = deltas.reduce((s, d) => s + d, 0) / deltas.length;
  return Math.sqrt(deltas.reduce((s, d) => s + (d - mean) ** 2, 0) / (deltas.length - 1));
}

describe("normalisedResidualSd", () => {
  const groups = [
    { I: [10, 14], v: [4, 4], g: [1, 1], w: [0.25, 0.25] },
    { I: [6, 10], v: [1, 1], g: [1, 2], w: [1, 1] },
    { I: [30, 41, 25], v: [9, 16, 4], g: [1.5, 2, 0.8], w: [0.3, 0.2, 1] },
    { I: [99], v: [1], g: [1], w: [1] }, // one member: no residual
  ];
  const rows: ClassRows = {
    nGroups: groups.length,
    n: groups.reduce((s, x) => s + x.I.length, 0),
    groupIndex: Int32Array.from(groups.flatMap((x, h) => x.I.map(() => h))),
    intensity: Float64Array.from(groups.flatMap((x) => x.I)),
    variance: Float64Array.from(groups.flatMap((x) => x.v)),
    inverseScale: Float64Array.from(groups.flatMap((x) => x.g)),
    weights: Float64Array.from(groups.flatMap((x) => x.w)),
  };

  it("with σ as reported: the first two groups by hand (δ = ±√2, 0.8√2, −0.4√2), all three directly", () => {
    const two: ClassRows = {
      nGroups: 2,
      n: 4,
      groupIndex: rows.groupIndex.subarray(0, 4),
      intensity: rows.intensity.subarray(0, 4),
      variance: rows.variance.subarray(0, 4),
      inverseScale: rows.inverseScale.subarray(0, 4),
      weights: rows.weights.subarray(0, 4),
    };
    const d = [-Math.SQRT2, Math.SQRT2, 0.8 * Math.SQRT2, -0.4 * Math.SQRT2];
    const mean = (d[0] + d[1] + d[2] + d[3]) / 4;
    const byHand = Math.sqrt(d.reduce((s, x) => s + (x - mean) ** 2, 0) / 3);
    expect(normalisedResidualSd(two, 1, 0)).toBeCloseTo(byHand, 12);
    expect(normalisedResidualSd(rows, 1, 0)).toBeCloseTo(directSd(groups, 1, 0), 12);
  });

  it("with σ' of a model: the direct computation, and a alone divides the sd by a", () => {
    expect(normalisedResidualSd(rows, 1.7, 0.05)).toBeCloseTo(directSd(groups, 1.7, 0.05), 12);
    expect(normalisedResidualSd(rows, 2, 0)).toBeCloseTo(normalisedResidualSd(rows, 1, 0) / 2, 12);
  });

  it("is 0 without two residuals", () => {
    const single: ClassRows = { ...rows, nGroups: 1, n: 1, groupIndex: new Int32Array(1) };
    expect(normalisedResidualSd(single, 1, 0)).toBe(0);
  });
});
