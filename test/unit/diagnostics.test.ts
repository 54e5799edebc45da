import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { computeDiagnostics, orderStatistics } from "../../src/diffuse/diagnostics.ts";
import type { JointRefinementResult } from "../../src/diffuse/joint-refinement.ts";

function meanAndSd(v: Float64Array): [number, number] {
  let mean = 0;
  for (const x of v) mean += x;
  mean /= v.length;
  let ss = 0;
  for (const x of v) ss += (x - mean) ** 2;
  return [mean, v.length > 1 ? Math.sqrt(ss / (v.length - 1)) : 0];
}

/** A small deterministic generator (LCG) for large test arrays. */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

describe("orderStatistics", () => {
  it("equals a full sort at every wanted rank (ties, tails, few distinct values, any size)", () => {
    const arb = fc.record({
      n: fc.integer({ min: 1, max: 20000 }),
      kind: fc.constantFrom("normal", "ties", "heavy", "constant", "signedZeros"),
      seed: fc.integer({ min: 1, max: 2 ** 30 }),
      nRanks: fc.integer({ min: 1, max: 400 }),
    });
    fc.assert(
      fc.property(arb, ({ n, kind, seed, nRanks }) => {
        const next = lcg(seed);
        const values = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          const u = next();
          const normal = Math.sqrt(-2 * Math.log(1 - u)) * Math.cos(2 * Math.PI * next());
          if (kind === "normal") values[i] = normal;
          else if (kind === "ties") values[i] = Math.floor(normal * 3) / 3;
          else if (kind === "heavy") values[i] = u < 0.01 ? normal * 1e6 : normal;
          else if (kind === "constant") values[i] = 2.5;
          else values[i] = u < 0.5 ? -0 : 0;
        }
        const m = Math.min(nRanks, n);
        const ranks = Float64Array.from({ length: m }, (_, j) => (m === 1 ? 0 : Math.round((j * (n - 1)) / (m - 1))));
        const copy = values.slice();
        const [mean, sd] = meanAndSd(values);
        const got = orderStatistics(values, ranks, mean, sd);
        const sorted = values.slice().sort();
        for (let j = 0; j < m; j++) if (!Object.is(got[j], sorted[ranks[j]])) return false;
        // the input is left as it was
        return copy.every((v, i) => Object.is(v, values[i]));
      }),
      { seed: 42, numRuns: 120 },
    );
  });
});

describe("computeDiagnostics residuals", () => {
  it("normalised residuals, histogram and probability plot follow their definitions (10 000 rows)", () => {
    // one still-scale g per row; groups of 5 diffuse rows; σ² = 1 + (o mod 3); row 7 excluded (weight 0)
    const nGroups = 2000;
    const n = 5 * nGroups;
    const next = lcg(7);
    const groupStart = Int32Array.from({ length: nGroups + 1 }, (_, h) => 5 * h);
    const intensity = new Float32Array(n);
    const variance = new Float32Array(n);
    const weight = new Float32Array(n);
    const still = new Int32Array(n);
    const g = new Float64Array(n);
    for (let o = 0; o < n; o++) {
      still[o] = o % 4;
      g[o] = 0.5 + 0.25 * still[o];
      variance[o] = 1 + (o % 3);
      intensity[o] = g[o] * (100 + Math.floor(o / 5)) + Math.sqrt(variance[o]) * 4 * (next() - 0.5);
      weight[o] = o === 7 ? 0 : 1 / variance[o];
    }
    // references as the refinement defines them: Ih = Σwg I / Σwg², σ(Ih) = 1/√Σwg²
    const refI = new Float64Array(nGroups);
    const refSigma = new Float64Array(nGroups);
    const refN = new Int32Array(nGroups);
    for (let h = 0; h < nGroups; h++) {
      let S = 0;
      let T = 0;
      for (let o = 5 * h; o < 5 * h + 5; o++) {
        if (weight[o] === 0) continue;
        S += weight[o] * g[o] * g[o];
        T += weight[o] * g[o] * intensity[o];
        refN[h]++;
      }
      refI[h] = T / S;
      refSigma[h] = 1 / Math.sqrt(S);
    }
    const result = {
      includedStills: Int32Array.of(0, 1, 2, 3),
      scales: Float64Array.of(0.5, 0.75, 1, 1.25),
      scaleEsds: new Float64Array(4),
      outlierRows: Int32Array.of(7),
      references: { intensity: refI, sigma: refSigma, nObservations: refN },
      observations: {
        n,
        nStills: 4,
        nGroups,
        nBraggGroups: 0,
        nBraggRows: 0,
        groupStart,
        still,
        intensity,
        variance,
        weight,
        qMagnitude: new Float32Array(n).fill(0.3),
        isBragg: new Uint8Array(n),
      },
    } as unknown as JointRefinementResult;
    const diag = computeDiagnostics(result, g, undefined, undefined);
    const expectedDelta: number[] = [];
    for (let h = 0; h < nGroups; h++) {
      for (let o = 5 * h; o < 5 * h + 5; o++) {
        if (weight[o] === 0) continue;
        const varResidual = variance[o] / (g[o] * g[o]) - refSigma[h] ** 2;
        // computed in float64, kept in float32 (the residual arrays are float32)
        expectedDelta.push(Math.fround((intensity[o] / g[o] - refI[h]) / Math.sqrt(varResidual)));
      }
    }
    const res = diag.residuals.diffuse;
    expect(diag.residuals.bragg).toBeNull();
    expect(res).not.toBeNull();
    if (res === null) return;
    expect(res.n).toBe(n - 1);
    const sorted = Float64Array.from(expectedDelta).sort();
    const mean = expectedDelta.reduce((a, b) => a + b, 0) / expectedDelta.length;
    expect(res.mean).toBeCloseTo(mean, 12);
    expect(res.normalProbability.observed).toHaveLength(400);
    res.normalProbability.observed.forEach((v, j) => {
      const i = Math.round((j * (res.n - 1)) / 399);
      expect(v).toBeCloseTo(sorted[i], 12);
    });
    expect(res.normalProbability.observed[0]).toBeCloseTo(sorted[0], 12);
    expect(res.normalProbability.observed[399]).toBeCloseTo(sorted[res.n - 1], 12);
    const counts = new Array<number>(48).fill(0);
    for (const d of expectedDelta) counts[Math.min(47, Math.max(0, Math.floor(((d + 6) / 12) * 48)))]++;
    expect(res.histogram.counts).toEqual(counts);
    expect(diag.multiplicity.diffuse?.counts).toEqual([0, 0, 0, 1, nGroups - 1]);
    expect(diag.nOutliers).toEqual({ bragg: 0, diffuse: 1 });
  });
});
