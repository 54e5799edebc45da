import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, it, expect } from "vitest";
import fc from "fast-check";
import { computeDiagnostics, computeDiagnosticsAndSharedGroups } from "../../src/merge/diagnostics.ts";
import { sharedGroupsPerStill } from "../../src/merge/fit-warning-input.ts";
import { Float32OrderStatistics } from "../../src/merge/order-statistics.ts";
import { ResidentResidualThreads } from "../../src/merge/resident-residuals.ts";
import { residualSummaries } from "../../src/merge/residuals.ts";
import { inverseScalesInRange } from "../../src/passes/inverse-scales.ts";
import { computeReferences, type JointRefinementResult } from "../../src/refine/joint-refinement.ts";
import { residentRows } from "../../src/observations/observation-windows.ts";
import { modelState, pagedCopy, randomObservations, removePaged } from "../fixtures/windowed/observations.ts";

const tmp = mkdtempSync(join(tmpdir(), "diagnostics-test-"));
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** A small deterministic generator (LCG) for large test arrays. */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

describe("Float32OrderStatistics", () => {
  it("equals a full sort of the float32 values at every wanted rank (ties, tails, zeros, infinities, any size)", () => {
    const arb = fc.record({
      n: fc.integer({ min: 1, max: 20000 }),
      kind: fc.constantFrom("normal", "ties", "heavy", "constant", "signedZeros", "extreme"),
      seed: fc.integer({ min: 1, max: 2 ** 30 }),
      nRanks: fc.integer({ min: 1, max: 400 }),
    });
    const extremes = [Infinity, -Infinity, 3.4e38, -3.4e38, 1e-45, -1e-45, 1.2e-38, 0, -0];
    fc.assert(
      fc.property(arb, ({ n, kind, seed, nRanks }) => {
        const next = lcg(seed);
        const values = new Float32Array(n);
        for (let i = 0; i < n; i++) {
          const u = next();
          const normal = Math.sqrt(-2 * Math.log(1 - u)) * Math.cos(2 * Math.PI * next());
          if (kind === "normal") values[i] = normal;
          else if (kind === "ties") values[i] = Math.floor(normal * 3) / 3;
          else if (kind === "heavy") values[i] = u < 0.01 ? normal * 1e6 : normal;
          else if (kind === "constant") values[i] = 2.5;
          else if (kind === "signedZeros") values[i] = u < 0.5 ? -0 : 0;
          else values[i] = u < 0.5 ? extremes[Math.floor(next() * extremes.length)] : normal;
        }
        const m = Math.min(nRanks, n);
        const ranks = Float64Array.from({ length: m }, (_, j) => (m === 1 ? 0 : Math.round((j * (n - 1)) / (m - 1))));
        const selection = new Float32OrderStatistics();
        // the three rounds see the same values in different orders
        for (const v of values) selection.add(v);
        expect(selection.n).toBe(n);
        selection.setRanks(ranks);
        for (let i = n - 1; i >= 0; i--) selection.add(values[i]);
        selection.nextRound();
        for (let i = 0; i < n; i++) selection.add(values[(i + Math.floor(n / 3)) % n]);
        const got = selection.values();
        const sorted = values.slice().sort();
        for (let j = 0; j < m; j++) if (!Object.is(got[j], sorted[ranks[j]])) return false;
        return true;
      }),
      { seed: 42, numRuns: 120 },
    );
  });

  it("addAll of a (sub)array is add of each of its values, in every round", () => {
    const arb = fc.record({
      n: fc.integer({ min: 1, max: 5000 }),
      seed: fc.integer({ min: 1, max: 2 ** 30 }),
      nRanks: fc.integer({ min: 1, max: 400 }),
    });
    const extremes = [Infinity, -Infinity, 3.4e38, -3.4e38, 1e-45, -1e-45, 0, -0];
    fc.assert(
      fc.property(arb, ({ n, seed, nRanks }) => {
        const next = lcg(seed);
        // the values sit after 3 others in their buffer (a subarray with an offset, as the kept residuals)
        const buffer = new Float32Array(n + 3);
        const values = buffer.subarray(3);
        for (let i = 0; i < n; i++) {
          const u = next();
          values[i] = u < 0.1 ? extremes[Math.floor(next() * extremes.length)] : Math.floor((u - 0.5) * 40) / 7;
        }
        const m = Math.min(nRanks, n);
        const ranks = Float64Array.from({ length: m }, (_, j) => (m === 1 ? 0 : Math.round((j * (n - 1)) / (m - 1))));
        const one = new Float32OrderStatistics();
        const all = new Float32OrderStatistics();
        for (let round = 0; round < 3; round++) {
          for (const v of values) one.add(v);
          all.addAll(values);
          if (round === 0) {
            expect(all.n).toBe(one.n);
            one.setRanks(ranks);
            all.setRanks(ranks);
          } else if (round === 1) {
            one.nextRound();
            all.nextRound();
          }
        }
        const a = one.values();
        const b = all.values();
        for (let j = 0; j < m; j++) if (!Object.is(a[j], b[j])) return false;
        return true;
      }),
      { seed: 7, numRuns: 60 },
    );
  });

  it("rejects ranks out of range or out of turn", () => {
    const s = new Float32OrderStatistics();
    s.add(1);
    s.add(2);
    expect(() => {
      s.setRanks(Float64Array.of(2));
    }).toThrow(RangeError);
    expect(() => {
      s.setRanks(Float64Array.of(1, 0));
    }).toThrow(RangeError);
    expect(() => s.values()).toThrow(RangeError);
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
      finalState: { scales: Float64Array.of(0.5, 0.75, 1, 1.25), smoother: undefined },
      observations: {
        n,
        nStills: 4,
        nGroups,
        nBraggGroups: 0,
        nBraggRows: 0,
        groupStart,
        rows: { kind: "resident", still, intensity, variance, weight, qMagnitude: new Float32Array(n).fill(0.3) },
      },
    } as unknown as JointRefinementResult;
    const diag = computeDiagnostics(result, undefined, undefined);
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
    const ss = expectedDelta.reduce((a, d) => a + (d - mean) ** 2, 0);
    expect(res.sd).toBeCloseTo(Math.sqrt(ss / (expectedDelta.length - 1)), 10);
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

/**
 * Random observations (5 % unusable rows, 2 % outliers) of `nStills` stills with scales `first + step·s` and a
 * 3-value smoother, and the refinement result the diagnostics read from them (references at those scales).
 */
function sampleResult(
  seed: number,
  nStills: number,
  shape: { nBraggGroups: number; nVoxels: number; maxGroupRows: number },
  first: number,
  step: number,
  smoother: number[],
): {
  nStills: number;
  obs: JointRefinementResult["observations"];
  outlierRows: Int32Array;
  state: ReturnType<typeof modelState>;
  result: JointRefinementResult;
} {
  const { obs, outlierRows } = randomObservations(seed, { nStills, ...shape, unusable: 0.05, outliers: 0.02 });
  const state = modelState(
    Float64Array.from({ length: nStills }, (_, s) => first + step * s),
    smoother,
  );
  const result = {
    includedStills: Int32Array.from({ length: nStills }, (_, s) => s),
    scales: state.scales,
    scaleEsds: new Float64Array(nStills),
    outlierRows,
    references: computeReferences(obs, state),
    finalState: state,
    observations: obs,
  } as unknown as JointRefinementResult;
  return { nStills, obs, outlierRows, state, result };
}

describe("computeDiagnostics on paged observations", () => {
  it("gives the resident diagnostics exactly, at any window size (Bragg and diffuse, with a smoother)", () => {
    const { nStills, obs, outlierRows, result } = sampleResult(
      21,
      7,
      { nBraggGroups: 1500, nVoxels: 3000, maxGroupRows: 7 },
      0.6,
      0.2,
      [1, 1.3, 0.7],
    );
    const resident = computeDiagnostics(result, undefined, undefined);
    // the shared-group counts of the same pass are sharedGroupsPerStill's
    const shared = sharedGroupsPerStill(result);
    expect(shared.some((n) => n > 0)).toBe(true);
    expect(computeDiagnosticsAndSharedGroups(result, undefined, undefined)).toEqual({
      diagnostics: resident,
      nSharedGroups: shared,
    });
    // per-still counts, outliers and Bragg shells by their definitions
    const { still, weight } = residentRows(obs);
    const nBragg = new Array<number>(nStills).fill(0);
    const nDiffuse = new Array<number>(nStills).fill(0);
    for (let o = 0; o < obs.n; o++) {
      if (weight[o] > 0) (o < obs.nBraggRows ? nBragg : nDiffuse)[still[o]]++;
    }
    expect(resident.perStill.nBragg).toEqual(nBragg);
    expect(resident.perStill.nDiffuse).toEqual(nDiffuse);
    const nOutBragg = Array.from(outlierRows).filter((o) => o < obs.nBraggRows).length;
    expect(nOutBragg).toBeGreaterThan(0);
    expect(resident.nOutliers).toEqual({ bragg: nOutBragg, diffuse: outlierRows.length - nOutBragg });
    let nBraggGroupsUsed = 0;
    for (let h = 0; h < obs.nBraggGroups; h++) if (result.references.nObservations[h] > 0) nBraggGroupsUsed++;
    expect(resident.braggIOverSigma?.n.reduce((a, b) => a + b, 0)).toBe(nBraggGroupsUsed);
    // both residual kinds are subsampled to 400 points
    expect(resident.residuals.bragg?.n).toBeGreaterThan(400);
    expect(resident.residuals.diffuse?.normalProbability.observed).toHaveLength(400);
    for (const windowRows of [1, 13, 500, 1 << 20]) {
      const paged = pagedCopy(obs, tmp, windowRows);
      try {
        const { diagnostics: got, nSharedGroups } = computeDiagnosticsAndSharedGroups(
          { ...result, observations: paged },
          undefined,
          undefined,
        );
        expect(got).toEqual(resident);
        expect(nSharedGroups).toEqual(shared);
        // toEqual does not tell −0 from +0: compare the plotted order statistics bit for bit as well
        for (const kind of ["bragg", "diffuse"] as const) {
          const a = resident.residuals[kind]?.normalProbability.observed ?? [];
          const b = got.residuals[kind]?.normalProbability.observed ?? [];
          expect(a.every((v, i) => Object.is(v, b[i]))).toBe(true);
        }
      } finally {
        removePaged(paged);
      }
    }
  });
});

describe("residual summaries on worker threads", () => {
  it("equal the one-thread summaries and counts exactly, for any shard size (and the paged ones)", () => {
    const { obs, state, result } = sampleResult(
      33,
      9,
      { nBraggGroups: 1200, nVoxels: 2500, maxGroupRows: 9 },
      0.7,
      0.1,
      [1, 1.2, 0.8],
    );
    const one = residualSummaries(result);
    expect(one.residuals.bragg?.n).toBeGreaterThan(400);
    expect(one.residuals.diffuse?.n).toBeGreaterThan(400);
    /** Equal, and the plotted order statistics and |q| bit for bit (toEqual does not tell −0 from +0). */
    const expectSame = (got: ReturnType<typeof residualSummaries>): void => {
      expect(got).toEqual(one);
      for (const kind of ["bragg", "diffuse"] as const) {
        const a = one.residuals[kind]?.normalProbability.observed ?? [];
        const b = got.residuals[kind]?.normalProbability.observed ?? [];
        expect(a.every((v, i) => Object.is(v, b[i]))).toBe(true);
        expect(Object.is(one.residuals[kind]?.mean, got.residuals[kind]?.mean)).toBe(true);
        expect(Object.is(one.residuals[kind]?.sd, got.residuals[kind]?.sd)).toBe(true);
      }
      expect(Array.from(got.counts.braggGroupQ)).toEqual(Array.from(one.counts.braggGroupQ));
    };
    for (const shardRows of [1, 97, 4000]) {
      expectSame(residualSummaries(result, { threads: 1, shardRows }));
      expectSame(residualSummaries(result, { threads: 2, shardRows }));
    }
    // workers started ahead of the call, with the precomputed inverse scales of a refinement
    const g = new Float32Array(obs.n);
    const rows = residentRows(obs);
    inverseScalesInRange(state, rows.still, rows.qMagnitude, 0, obs.n, g);
    const withG = { ...result, inverseScales: g };
    const prepared = new ResidentResidualThreads(withG, { threads: 3, shardRows: 500 });
    try {
      // the pass over the rows started ahead, beside other work
      prepared.begin();
      expectSame(residualSummaries(withG, { prepared }));
      // and again without it
      expectSame(residualSummaries(withG, { prepared }));
    } finally {
      prepared.close();
    }
    const paged = pagedCopy(obs, tmp, 211);
    try {
      expectSame(residualSummaries({ ...result, observations: paged }));
    } finally {
      removePaged(paged);
    }
  });
});
