import { describe, it, expect } from "vitest";
import { BasicErrorModel } from "../../src/dials/error-model.ts";
import { calculateBinVariances, createErrorModelBins } from "../../src/dials/error-model-bins.ts";
import { prepareErrorModelData, type ErrorModelObservations } from "../../src/dials/error-model-data.ts";
import { normalProbabilityPlotX, refineErrorModel } from "../../src/dials/error-model-refinement.ts";
import { ConfigError, RefinementFailure } from "../../src/errors.ts";

/** xoshiro128** seeded by splitmix32; `next()` gives a double in [0, 1) with 53 random bits. */
function makeRng(seed: number): () => number {
  let s = seed >>> 0;
  const split = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = split();
  let b = split();
  let c = split();
  let d = split();
  const next32 = (): number => {
    const result = Math.imul(rotl(Math.imul(b, 5) >>> 0, 7), 9) >>> 0;
    const t = (b << 9) >>> 0;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d >>> 0, 11);
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    return result;
  };
  return () => ((next32() >>> 5) * 67108864 + (next32() >>> 6)) / 9007199254740992;
}
function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** log(k!) exactly for small k, Stirling series otherwise. */
function logFactorial(k: number): number {
  if (k < 30) {
    let s = 0;
    for (let i = 2; i <= k; i++) s += Math.log(i);
    return s;
  }
  const x = k + 1;
  return (
    (x - 0.5) * Math.log(x) - x + 0.5 * Math.log(2 * Math.PI) + 1 / (12 * x) - 1 / (360 * x ** 3) + 1 / (1260 * x ** 5)
  );
}

/** Poisson variate: multiplication method below mean 10, Hörmann's PTRS above. */
function poisson(rng: () => number, lam: number): number {
  if (lam < 10) {
    const l = Math.exp(-lam);
    let k = 0;
    let p = rng();
    while (p > l) {
      k++;
      p *= rng();
    }
    return k;
  }
  const slam = Math.sqrt(lam);
  const loglam = Math.log(lam);
  const b = 0.931 + 2.53 * slam;
  const a = -0.059 + 0.02483 * b;
  const invalpha = 1.1239 + 1.1328 / (b - 3.4);
  const vr = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    const u = rng() - 0.5;
    const v = rng();
    const us = 0.5 - Math.abs(u);
    const k = Math.floor(((2 * a) / us + b) * u + lam + 0.43);
    if (us >= 0.07 && v <= vr) return k;
    if (k < 0 || (us < 0.013 && v > us)) continue;
    if (Math.log(v) + Math.log(invalpha) - Math.log(a / (us * us) + b) <= -lam + k * loglam - logFactorial(k)) return k;
  }
}

/**
 * The unique reflections of DIALS's simulated-data test: P 21 21 21, cell (12, 12, 25, 90, 90, 90), d_min = 1,
 * non-anomalous (h, k, l ≥ 0, without the screw-axis absences h00/0k0/00l with odd index). Returns their d-spacings.
 */
function p212121DSpacings(): Float64Array {
  const d: number[] = [];
  for (let h = 0; h <= 12; h++) {
    for (let k = 0; k <= 12; k++) {
      for (let l = 0; l <= 25; l++) {
        if (h === 0 && k === 0 && l === 0) continue;
        const dstar2 = (h * h) / 144 + (k * k) / 144 + (l * l) / 625;
        if (dstar2 > 1 + 1e-12) continue;
        if (k === 0 && l === 0 && h % 2 === 1) continue;
        if (h === 0 && l === 0 && k % 2 === 1) continue;
        if (h === 0 && k === 0 && l % 2 === 1) continue;
        d.push(1 / Math.sqrt(dstar2));
      }
    }
  }
  return Float64Array.from(d);
}

/**
 * DIALS `data_for_error_model_test`: each unique reflection (mean 5·d⁴) is sampled `multiplicity` times from a Poisson
 * distribution; the deviation from the mean is inflated by α = sqrt(1 + b²·I) and the recorded variance is
 * (I + background)/a², so that the refined model should return (a, b).
 */
function simulatedData(seed: number, a: number, b: number, multiplicity = 100, background = 1): ErrorModelObservations {
  const rng = makeRng(seed);
  const dSpacings = p212121DSpacings();
  const nRows = dSpacings.length * multiplicity;
  const groupIndex = new Int32Array(nRows);
  const intensity = new Float64Array(nRows);
  const variance = new Float64Array(nRows);
  let r = 0;
  dSpacings.forEach((d, j) => {
    const mean = 5.0 * d ** 4;
    for (let m = 0; m < multiplicity; m++) {
      const x = poisson(rng, mean);
      groupIndex[r] = j;
      if (b > 0) {
        const alpha = Math.sqrt(1 + b * b * x);
        intensity[r] = Math.trunc(alpha * x + (1 - alpha) * mean);
      } else {
        intensity[r] = x;
      }
      variance[r] = (x + background) / (a * a);
      r++;
    }
  });
  return {
    nGroups: dSpacings.length,
    groupIndex,
    intensity,
    variance,
    inverseScale: new Float64Array(nRows).fill(1),
  };
}

/**
 * DIALS `test_errormodel` table (space group P 1): I = var = 1..10, g = [1]*5 + [2]*5, Miller indices
 * (1,0,0) (0,0,1) (−3,0,0) (0,2,0) (1,0,0) (0,0,−20) (0,0,2) (10,0,0) (10,0,0) (1,0,0). Rows are in Ih-table order
 * (sorted asymmetric-unit index): (0,0,1) r1, (0,0,2) r6, (0,0,20) r5, (0,2,0) r3, (1,0,0) r0 r4 r9, (3,0,0) r2,
 * (10,0,0) r7 r8.
 */
function dialsTable(): ErrorModelObservations {
  const inputRow = [1, 6, 5, 3, 0, 4, 9, 2, 7, 8];
  const group = [0, 1, 2, 3, 4, 4, 4, 5, 6, 6];
  const I = Float64Array.from(inputRow, (r) => r + 1);
  return {
    nGroups: 7,
    groupIndex: Int32Array.from(group),
    intensity: I,
    variance: I.slice(),
    inverseScale: Float64Array.from(inputRow, (r) => (r < 5 ? 1 : 2)),
  };
}

describe("BasicErrorModel", () => {
  it("has DIALS's defaults and variance formula a²(σ² + (b·I)²)", () => {
    const m = new BasicErrorModel();
    expect(m.a).toBe(1.0);
    expect(m.b).toBe(0.02);
    const m2 = new BasicErrorModel(1.5, 0.1);
    expect(m2.varianceOf(4, 30)).toBeCloseTo(2.25 * (4 + 9), 12);
    const out = m2.updateVariances(Float64Array.of(4, 1), Float64Array.of(30, 0));
    expect(out[0]).toBeCloseTo(29.25, 12);
    expect(out[1]).toBeCloseTo(2.25, 12);
    expect(() => m2.updateVariances(Float64Array.of(1), Float64Array.of(1, 2))).toThrow(ConfigError);
  });

  it("reproduces DIALS test_errormodel: filtered rows, σ' and δ", () => {
    const data = prepareErrorModelData(dialsTable(), { minIh: 1.0, minReflectionsRequired: 1 });
    // Ih-table positions 4,5,6 (group (1,0,0)) and 8,9 (group (10,0,0)) survive.
    expect(Array.from(data.rows)).toEqual([4, 5, 6, 8, 9]);
    const sp = new BasicErrorModel(1.0, 0.1).calcSigmaprime(data.variance, data.intensity, data.inverseScale);
    const I = [1, 5, 10, 8, 9];
    const g = [1, 1, 2, 2, 2];
    I.forEach((x, k) => {
      expect(sp[k]).toBeCloseTo(Math.sqrt(x + (0.1 * x) ** 2) / g[k], 12);
    });
    const model = new BasicErrorModel(1.0, 0.0);
    const sigma = model.calcSigmaprime(data.variance, data.intensity, data.inverseScale);
    const delta = model.calcDeltahl(data.intensity, data.inverseScale, data.Ih, data.nh, sigma);
    const expected = [
      -1.5 * Math.sqrt(2 / 3),
      2.5 * Math.sqrt(2 / 15),
      5.0 * Math.sqrt(2 / 30),
      -0.117647058824,
      0.124783549621,
    ];
    expected.forEach((e, k) => {
      expect(delta[k]).toBeCloseTo(e, 10);
    });
  });
});

describe("stills filter (DIALS filter_unsuitable_reflections_stills)", () => {
  it("applies I/σ ≥ 2, g·Ih·p > minIh, |δ| < 6 and multiplicity ≥ 4 in that order", () => {
    // Group 0 (Ih 100): I = [100×4, 1], σ² = [100×4, 1] → the last row fails I/σ ≥ 2; four rows remain (δ = 0).
    // Group 1 (Ih 100): I = [100×4, 300], σ² = 100 → δ(300) = sqrt(4/5)·200/10 = 17.9 ≥ 6 is dropped; four remain.
    // Group 2 (Ih 10): g·Ih·p = 10 ≤ 25 → dropped. Group 3 (Ih 100): three rows → multiplicity 3 < 4 → dropped.
    const I = [100, 100, 100, 100, 1, 100, 100, 100, 100, 300, 10, 10, 10, 10, 100, 100, 100];
    const V = [100, 100, 100, 100, 1, 100, 100, 100, 100, 100, 1, 1, 1, 1, 100, 100, 100];
    const G = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3];
    const obs: ErrorModelObservations = {
      nGroups: 4,
      groupIndex: Int32Array.from(G),
      intensity: Float64Array.from(I),
      variance: Float64Array.from(V),
      inverseScale: new Float64Array(I.length).fill(1),
      partiality: new Float64Array(I.length).fill(1),
      Ih: Float64Array.of(100, 100, 10, 100),
    };
    const data = prepareErrorModelData(obs, { stills: true, minReflectionsRequired: 1 });
    expect(Array.from(data.rows)).toEqual([0, 1, 2, 3, 5, 6, 7, 8]);
    expect(Array.from(data.nh)).toEqual([4, 4, 4, 4, 4, 4, 4, 4]);
  });
});

describe("error model binning", () => {
  it("reproduces DIALS test_errormodel: n_bins 2, min_Ih 1 → bins [1,1,0,0,0], refl_per_bin [3,2]", () => {
    const data = prepareErrorModelData(dialsTable(), { minIh: 1.0, minReflectionsRequired: 1 });
    const expected = Float64Array.from(data.Ih, (ih, i) => ih * data.inverseScale[i]);
    const bins = createErrorModelBins(expected, { nBins: 2, minReflectionsRequired: 1 });
    expect(Array.from(bins.binIndex)).toEqual([1, 1, 0, 0, 0]);
    expect(Array.from(bins.reflPerBin)).toEqual([3, 2]);
    // var_b = mean(δ²) − mean(δ)² per bin
    const delta = Float64Array.of(1, 2, 3, 5, 8);
    const v = calculateBinVariances(delta, bins);
    expect(v[0]).toBeCloseTo((9 + 25 + 64) / 3 - (16 / 3) ** 2, 12);
    expect(v[1]).toBeCloseTo((1 + 4) / 2 - 1.5 ** 2, 12);
  });

  it("enlarges under-filled bins as DIALS does (hand-derived from ErrorModelBinner rules)", () => {
    // I = 1..60, 10 bins: boundaries 60·(1/60)^(i/10), last = min − 0.01 = 0.99; min_per_bin = min(250, ⌊60/30⌋) = 2.
    // Bins 0–6 hold 40..60, 27..39, 18..26, 12..17, 8..11, 6..7, 4..5. Bin 7 (2.27, 3.42] holds only 3, so its lower
    // boundary moves to the intensity at rank n_cumul + 2 = 59 (I = 1): it then holds 2 and 3. Bin 8 (1.506, 1] is
    // empty and cannot be enlarged (rank 61 ≥ n); bin 9 (0.99, 1.506] holds 1. Nothing is dropped (counts ≥ 2 − 5).
    const I = Float64Array.from({ length: 60 }, (_, i) => i + 1);
    const bins = createErrorModelBins(I, { nBins: 10 });
    expect(Array.from(bins.reflPerBin)).toEqual([21, 13, 9, 6, 4, 2, 2, 2, 0, 1]);
    expect(bins.binBoundaries[8]).toBe(1);
    expect(bins.binIndex[0]).toBe(9);
    expect(bins.binIndex[1]).toBe(7);
    expect(bins.binIndex[2]).toBe(7);
    expect(bins.binIndex[59]).toBe(0);
    // bin weight = mean intensity of the bin: (40 + … + 60)/21 = 50
    expect(bins.weights[0]).toBeCloseTo(50, 12);
    expect(bins.weights[7]).toBeCloseTo(2.5, 12);
    expect(Number.isNaN(bins.weights[8])).toBe(true);
  });
});

describe("normal probability plot", () => {
  it("uses the central region |x| < 1.5 with DIALS's index rule", () => {
    // Φ(−1.5) = 0.0668072012688581, Φ(1.5) = 0.9331927987311419 (scipy.stats.norm.cdf)
    const { i0, i1, x } = normalProbabilityPlotX(1000);
    expect(i0).toBe(Math.ceil(0.0668072012688581 * 1000 - 0.5));
    expect(i1).toBe(Math.ceil(0.9331927987311419 * 1000 - 0.5));
    expect(x.length).toBe(i1 - i0);
    // x_0 = Φ⁻¹((67 + 0.5)/1000) = −1.4946722498066205 (scipy.stats.norm.ppf(0.0675))
    expect(i0).toBe(67);
    expect(x[0]).toBeCloseTo(-1.4946722498066205, 12);
  });
});

describe("refineErrorModel on simulated data (DIALS test_error_model_on_simulated_data)", () => {
  const cases: [number, number][] = [
    [1.0, 0.0],
    [1.0, 0.02],
    [1.0, 0.04],
    [1.4, 0.0],
  ];
  it("builds the 2150 unique reflections of the DIALS test", () => {
    expect(p212121DSpacings().length).toBe(2150);
  });
  for (const [a, b] of cases) {
    it(`recovers a = ${a}, b = ${b} within ±0.05 / ±0.005 (individual)`, () => {
      const res = refineErrorModel(simulatedData(42, a, b));
      expect(res.nUsed).toBeGreaterThan(400);
      expect(res.converged).toBe(true);
      expect(Math.abs(res.a - a)).toBeLessThan(0.05);
      expect(Math.abs(res.b - b)).toBeLessThan(0.005);
    });
  }

  it("refines only b when a is fixed, and only a when b is fixed", () => {
    const obs = simulatedData(43, 1.0, 0.03, 40);
    const onlyB = refineErrorModel(obs, { fixA: 1.0 });
    expect(onlyB.a).toBe(1.0);
    expect(Math.abs(onlyB.b - 0.03)).toBeLessThan(0.005);
    const onlyA = refineErrorModel(obs, { fixB: 0.03 });
    expect(onlyA.b).toBe(0.03);
    expect(Math.abs(onlyA.a - 1.0)).toBeLessThan(0.05);
    const none = refineErrorModel(obs, { fixA: 1.2, fixB: 0.05 });
    expect([none.a, none.b, none.cycles]).toEqual([1.2, 0.05, 0]);
  });
});

describe("refineErrorModel, regression minimisation", () => {
  it("recovers a and b exactly when y = a²·x + a²b² holds row by row", () => {
    // Pairs I = Ih ± d (g = 1, Ih given per group) give Σ_group (I − Ih)²/(n − 1) = 2d² for both rows, so
    // y_i = 2d²/I_i². Choosing σ_i² = (2d² − a²b²·I_i²)/a² makes x_i = σ_i²/I_i² satisfy y_i = a²·x_i + a²b² exactly.
    const a = 1.1;
    const b = 0.02;
    const nGroups = 150;
    const Ih = new Float64Array(nGroups);
    const groupIndex = new Int32Array(2 * nGroups);
    const intensity = new Float64Array(2 * nGroups);
    const variance = new Float64Array(2 * nGroups);
    for (let j = 0; j < nGroups; j++) {
      Ih[j] = 30 * Math.pow(1000 / 30, j / (nGroups - 1));
      const d = 0.6 * Math.sqrt(Ih[j]);
      for (let m = 0; m < 2; m++) {
        const r = 2 * j + m;
        groupIndex[r] = j;
        intensity[r] = Ih[j] + (m === 0 ? d : -d);
        variance[r] = (2 * d * d - a * a * b * b * intensity[r] ** 2) / (a * a);
      }
    }
    const obs: ErrorModelObservations = {
      nGroups,
      groupIndex,
      intensity,
      variance,
      inverseScale: new Float64Array(2 * nGroups).fill(1),
      Ih,
    };
    const res = refineErrorModel(obs, { minimisation: "regression" });
    expect(res.nUsed).toBe(300);
    expect(res.a).toBeCloseTo(a, 9);
    expect(res.b).toBeCloseTo(b, 9);
    const onlyB = refineErrorModel(obs, { minimisation: "regression", fixA: a });
    expect(onlyB.b).toBeCloseTo(b, 9);
    const onlyA = refineErrorModel(obs, { minimisation: "regression", fixB: b });
    expect(onlyA.a).toBeCloseTo(a, 9);
  });

  it("fails like DIALS when the fitted b² is not positive", () => {
    // Same construction with b = 0 and a slightly negative intercept: σ_i² = (2d² + 1e-4·I_i²)/a².
    const nGroups = 150;
    const Ih = new Float64Array(nGroups);
    const groupIndex = new Int32Array(2 * nGroups);
    const intensity = new Float64Array(2 * nGroups);
    const variance = new Float64Array(2 * nGroups);
    for (let j = 0; j < nGroups; j++) {
      Ih[j] = 30 * Math.pow(1000 / 30, j / (nGroups - 1));
      const d = 0.6 * Math.sqrt(Ih[j]);
      for (let m = 0; m < 2; m++) {
        const r = 2 * j + m;
        groupIndex[r] = j;
        intensity[r] = Ih[j] + (m === 0 ? d : -d);
        variance[r] = 2 * d * d + 1e-4 * intensity[r] ** 2;
      }
    }
    const obs: ErrorModelObservations = {
      nGroups,
      groupIndex,
      intensity,
      variance,
      inverseScale: new Float64Array(2 * nGroups).fill(1),
      Ih,
    };
    expect(() => refineErrorModel(obs, { minimisation: "regression" })).toThrow(RefinementFailure);
  });
});

describe("refineErrorModel errors", () => {
  it("throws RefinementFailure with fewer than 250 suitable reflections", () => {
    expect(() => refineErrorModel(dialsTable())).toThrow(RefinementFailure);
  });
  it("rejects a per-row Ih and a bad minimisation name", () => {
    const obs = { ...dialsTable(), Ih: new Float64Array(10) };
    expect(() => refineErrorModel(obs)).toThrow(ConfigError);
    expect(() => refineErrorModel(dialsTable(), { minimisation: "lbfgs" as "regression" })).toThrow(ConfigError);
  });
});
