import { describe, it, expect } from "vitest";
import { SingleScaleFactor } from "../../src/dials/components/single-scale-factor.ts";
import { SingleBScaleFactor } from "../../src/dials/components/single-b-scale-factor.ts";
import { SmoothScaleComponent1D } from "../../src/dials/components/smooth-scale-component-1d.ts";
import { SmoothBScaleComponent1D } from "../../src/dials/components/smooth-b-scale-component-1d.ts";
import { SmoothScaleComponent2D } from "../../src/dials/components/smooth-scale-component-2d.ts";
import { SmoothScaleComponent3D } from "../../src/dials/components/smooth-scale-component-3d.ts";
import { calcNParamFromBins, initialiseSmoothInput, nparamToVal } from "../../src/dials/model-utilities.ts";
import { ConfigError } from "../../src/errors.ts";

const f64 = (a: number[]): Float64Array => Float64Array.from(a);
const near = (a: number, b: number, tol = 1e-12): void => {
  expect(Math.abs(a - b)).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(b)));
};
/** Sum of row i of a dense row-major matrix. */
function rowSum(dense: Float64Array, nCols: number, i: number): number {
  let s = 0;
  for (let j = 0; j < nCols; j++) s += dense[i * nCols + j];
  return s;
}

describe("ScaleComponent base behaviour (DIALS test_ScaleComponentBase)", () => {
  it("parameters, esds, var-cov, restraints", () => {
    const c = new SmoothScaleComponent1D(f64([1, 1, 1]));
    expect(c.nParams).toBe(3);
    expect(c.parameterEsds).toBeUndefined();
    c.parameters = f64([2, 2, 2]);
    expect(Array.from(c.parameters)).toEqual([2, 2, 2]);
    expect(() => {
      c.parameters = f64([2, 2, 2, 2]);
    }).toThrow(ConfigError);
    expect(c.varCovMatrix).toBeUndefined();
    c.varCovMatrix = f64([1, 0, 0]);
    expect(Array.from(c.varCovMatrix)).toEqual([1, 0, 0]);
    expect(c.calculateRestraints()).toBeUndefined();
    expect(c.calculateJacobianRestraints()).toBeUndefined();
    const e = new SmoothScaleComponent1D(f64([1, 1, 1]), f64([0.1, 0.1, 0.1]));
    expect(Array.from(e.parameterEsds ?? [])).toEqual([0.1, 0.1, 0.1]);
    expect(() => new SmoothScaleComponent1D(f64([1, 1, 1]), f64([0.1]))).toThrow(ConfigError);
  });
  it("data must be set before use and columns are checked", () => {
    const c = new SingleBScaleFactor(f64([0]));
    expect(() => c.data).toThrow(ConfigError);
    expect(() => {
      c.data = { d: [1, 2] as unknown as Float64Array };
    }).toThrow(ConfigError);
    const b = new SmoothBScaleComponent1D(f64([0, 0]));
    expect(() => {
      b.data = { x: f64([0, 1]), d: f64([1]) };
    }).toThrow(ConfigError);
  });
});

describe("SingleScaleFactor (DIALS test_SingleScaleFactor)", () => {
  it("scales, derivatives and selection", () => {
    const k = new SingleScaleFactor(f64([2]));
    expect(k.nParams).toBe(1);
    expect(k.nullParameterValue).toBe(1);
    k.data = { id: f64([0, 0]) };
    k.updateReflectionData();
    expect(k.nRefl).toEqual([2]);
    const { scales, derivatives } = k.calculateScalesAndDerivatives();
    expect(Array.from(scales)).toEqual([2, 2]);
    expect(derivatives.get(0, 0)).toBe(1);
    expect(derivatives.get(1, 0)).toBe(1);
    k.updateReflectionData(new Uint8Array([1, 0]));
    expect(k.nRefl[0]).toBe(1);
    k.updateReflectionData(undefined, [Int32Array.from([1]), Int32Array.from([0, 1])]);
    expect(k.nRefl).toEqual([1, 2]);
    expect(() => k.calculateScales(2)).toThrow(ConfigError);
  });
});

describe("SingleBScaleFactor (DIALS test_SingleBScaleFactor)", () => {
  it("B = 0, d = 1 gives s = 1 and derivative 0.5", () => {
    const b = new SingleBScaleFactor(f64([0]));
    expect(b.nullParameterValue).toBe(0);
    b.data = { d: f64([1, 1]) };
    b.updateReflectionData();
    expect(b.nRefl).toEqual([2]);
    expect(Array.from(b.dValues[0])).toEqual([1, 1]);
    const { scales, derivatives } = b.calculateScalesAndDerivatives();
    expect(Array.from(scales)).toEqual([1, 1]);
    expect(derivatives.get(0, 0)).toBe(0.5);
    expect(derivatives.get(1, 0)).toBe(0.5);
    b.updateReflectionData(new Uint8Array([1, 0]));
    expect(b.nRefl[0]).toBe(1);
  });
  it("g = exp(B/(2d²))", () => {
    const b = new SingleBScaleFactor(f64([3]));
    b.data = { d: f64([2, 0.8]) };
    b.updateReflectionData();
    const { scales, derivatives } = b.calculateScalesAndDerivatives();
    near(scales[0], Math.exp(3 / 8));
    near(scales[1], Math.exp(3 / (2 * 0.64)));
    near(derivatives.get(1, 0), Math.exp(3 / 1.28) / 1.28);
  });
});

describe("SmoothScaleComponent1D (DIALS test_SmoothScaleFactor1D)", () => {
  it("values, derivatives and row sums", () => {
    const sf = new SmoothScaleComponent1D(new Float64Array(5).fill(1.1));
    expect(sf.nParams).toBe(5);
    sf.data = { x: f64([0.5, 1.0, 2.5, 0.0]) };
    sf.updateReflectionData();
    expect(Array.from(sf.normalisedValues[0])).toEqual([0.5, 1.0, 2.5, 0.0]);
    sf.smoother.setSmoothing(4, 1.0);
    expect(Array.from(sf.smoother.positions())).toEqual([-0.5, 0.5, 1.5, 2.5, 3.5]);
    const { scales, derivatives: d } = sf.calculateScalesAndDerivatives();
    expect(Array.from(sf.calculateScales())).toEqual(Array.from(scales));
    for (const s of scales) near(s, 1.1);
    near(d.get(0, 0) / d.get(0, 1), Math.exp(-1));
    near(d.get(0, 1), 1 / (2 * Math.exp(-1) + 1));
    const dense = d.toDense();
    for (let i = 0; i < 3; i++) near(rowSum(dense, 5, i), 1, 1e-15);
    expect(d.get(1, 1)).toBe(d.get(1, 2));
    expect(d.get(1, 0)).toBe(d.get(1, 3));
  });
  it("one- and zero-reflection blocks", () => {
    const sf = new SmoothScaleComponent1D(new Float64Array(5).fill(1.1));
    sf.data = { x: f64([0.5, 1.0, 2.5, 0.0]) };
    sf.updateReflectionData(undefined, [Int32Array.from([0]), new Int32Array(0)]);
    expect(sf.nRefl).toEqual([1, 0]);
    const one = sf.calculateScalesAndDerivatives(0);
    near(one.scales[0], 1.1);
    expect(Array.from(sf.calculateScales(0))).toEqual(Array.from(one.scales));
    const none = sf.calculateScalesAndDerivatives(1);
    expect(none.scales.length).toBe(0);
    expect([none.derivatives.nRows, none.derivatives.nCols]).toEqual([0, 5]);
  });
  it("origin is the data minimum and the range is max(ceil(max), 1)", () => {
    const sf = new SmoothScaleComponent1D(f64([1, 2, 3, 4, 5, 6, 7]));
    sf.data = { x: f64([10.25, 12.0, 14.5]) };
    sf.updateReflectionData();
    expect(Array.from(sf.normalisedValues[0])).toEqual([0, 1.75, 4.25]);
    // range [0, 5] with nparamToVal(7) = 5 intervals
    expect(sf.smoother.spacing()).toBe(1);
    // round(…, 10) stops 3.00000000001 from adding an interval
    const sg = new SmoothScaleComponent1D(f64([1, 1, 1, 1, 1]));
    sg.data = { x: f64([0, 3.00000000001]) };
    sg.updateReflectionData();
    expect(sg.smoother.spacing()).toBe(1);
    const sh = new SmoothScaleComponent1D(f64([1, 1]));
    sh.data = { x: f64([0.1, 0.3]) };
    sh.updateReflectionData();
    expect(sh.smoother.spacing()).toBe(1);
    // a selection sets the origin from the selected rows only
    const si = new SmoothScaleComponent1D(f64([1, 1, 1]));
    si.data = { x: f64([0, 5, 6]) };
    si.updateReflectionData(new Uint8Array([0, 1, 1]));
    expect(Array.from(si.normalisedValues[0])).toEqual([0, 1]);
  });
  it("rejects 4 parameters and fewer than 2", () => {
    expect(() => new SmoothScaleComponent1D(f64([1, 1, 1, 1]))).toThrow(ConfigError);
    expect(() => new SmoothScaleComponent1D(f64([1]))).toThrow(ConfigError);
  });
  it("fixInitialParameter: free parameters, esds and derivative columns exclude the first", () => {
    const params = f64([1.0, 1.2, 0.9, 1.1, 1.05]);
    const a = new SmoothScaleComponent1D(params);
    const b = new SmoothScaleComponent1D(params);
    const x = f64([0.1, 0.7, 1.4, 2.2, 2.9]);
    a.data = { x };
    b.data = { x };
    a.updateReflectionData();
    b.updateReflectionData();
    b.fixInitialParameter();
    expect(Array.from(b.freeParameters)).toEqual([1.2, 0.9, 1.1, 1.05]);
    const ra = a.calculateScalesAndDerivatives();
    const rb = b.calculateScalesAndDerivatives();
    expect(Array.from(rb.scales)).toEqual(Array.from(ra.scales));
    expect(rb.derivatives.nCols).toBe(4);
    for (let i = 0; i < 5; i++)
      for (let j = 1; j < 5; j++) expect(rb.derivatives.get(i, j - 1)).toBe(ra.derivatives.get(i, j));
    b.freeParameters = f64([2, 2, 2, 2]);
    expect(Array.from(b.parameters)).toEqual([1, 2, 2, 2, 2]);
    b.freeParameterEsds = f64([0.1, 0.2, 0.3, 0.4]);
    expect(Array.from(b.parameterEsds ?? [])).toEqual([0, 0.1, 0.2, 0.3, 0.4]);
    expect(() => {
      b.freeParameters = f64([1, 1, 1, 1, 1]);
    }).toThrow(ConfigError);
  });
});

describe("SmoothBScaleComponent1D (DIALS test_SmoothBScaleFactor1D)", () => {
  it("values, derivatives and row sums of 0.5", () => {
    const sf = new SmoothBScaleComponent1D(new Float64Array(5));
    expect(sf.nullParameterValue).toBe(0);
    sf.data = { x: f64([0.5, 1.0, 2.5, 0.0]), d: f64([1, 1, 1, 1]) };
    sf.updateReflectionData();
    expect(Array.from(sf.normalisedValues[0])).toEqual([0.5, 1.0, 2.5, 0.0]);
    expect(Array.from(sf.dValues[0])).toEqual([1, 1, 1, 1]);
    sf.smoother.setSmoothing(4, 1.0);
    const { scales: s, derivatives: d } = sf.calculateScalesAndDerivatives();
    expect(Array.from(sf.calculateScales())).toEqual(Array.from(s));
    for (const v of s) near(v, 1);
    near(d.get(0, 0) / d.get(0, 1), Math.exp(-1));
    near(d.get(0, 1), (1 / (2 * Math.exp(-1) + 1)) * (s[1] / 2));
    const dense = d.toDense();
    for (let i = 0; i < 3; i++) near(rowSum(dense, 5, i), 0.5, 1e-15);
    expect(d.get(1, 1)).toBe(d.get(1, 2));
    expect(d.get(1, 0)).toBe(d.get(1, 3));
  });
  it("returns exp(S/(2d²))", () => {
    const sf = new SmoothBScaleComponent1D(f64([2, -1, 3]));
    sf.data = { x: f64([0, 0.5, 2]), d: f64([1.5, 2, 0.9]) };
    sf.updateReflectionData();
    const s = sf.calculateScales();
    // 3-value smoother over [0, 2], spacing 1, sigma 0.7; at x = 0.5 all three values are used
    const w = [0.5, 0.5, 1.5].map((dz) => Math.exp(-((dz / 0.7) ** 2)));
    const bval = (2 * w[0] - 1 * w[1] + 3 * w[2]) / (w[0] + w[1] + w[2]);
    near(s[1], Math.exp(bval / 8));
  });
  it("restraints: λp², 2λp, and Jacobian form", () => {
    const sf = new SmoothBScaleComponent1D(f64([1, -2, 3]));
    expect(sf.calculateRestraints()).toBeUndefined();
    sf.parameterRestraints = f64([0.1, 0.1, 0.1]);
    const r = sf.calculateRestraints();
    expect(r).toBeDefined();
    const rr = r ?? { residuals: new Float64Array(0), gradient: new Float64Array(0) };
    [0.1, 0.4, 0.9].forEach((v, k) => {
      near(rr.residuals[k], v);
    });
    [0.2, -0.4, 0.6].forEach((v, k) => {
      near(rr.gradient[k], v);
    });
    const j = sf.calculateJacobianRestraints();
    expect(j).toBeDefined();
    if (j !== undefined) {
      expect(Array.from(j.residuals)).toEqual([1, -2, 3]);
      expect(Array.from(j.jacobian.toDense())).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1]);
      expect(Array.from(j.weights)).toEqual([0.1, 0.1, 0.1]);
    }
  });
});

describe("SmoothScaleComponent2D (DIALS test_SmoothScaleFactor2D)", () => {
  it("shape (6,5)", () => {
    expect(() => new SmoothScaleComponent2D(new Float64Array(30).fill(1.1), [5, 5])).toThrow(ConfigError);
    const sf = new SmoothScaleComponent2D(new Float64Array(30).fill(1.1), [6, 5]);
    expect(sf.shape).toEqual([6, 5]);
    const x = new Float64Array(30).fill(0.5);
    const y = new Float64Array(30).fill(0.5);
    x[0] = 0;
    y[0] = 0;
    x[29] = 3.99;
    y[29] = 2.99;
    sf.data = { x, y };
    sf.updateReflectionData();
    sf.smoother.setSmoothing(4, 1.0);
    expect(Array.from(sf.smoother.xPositions())).toEqual([-0.5, 0.5, 1.5, 2.5, 3.5, 4.5]);
    expect(Array.from(sf.smoother.yPositions())).toEqual([-0.5, 0.5, 1.5, 2.5, 3.5]);
    const { scales, derivatives } = sf.calculateScalesAndDerivatives();
    for (const s of scales) near(s, 1.1);
    near(derivatives.get(1, 7), 1 / (1 + 4 * Math.exp(-1) + 4 * Math.exp(-2)));
  });
  it("shape (3,2)", () => {
    const sf = new SmoothScaleComponent2D(new Float64Array(6).fill(1.1), [3, 2]);
    const x = new Float64Array(6).fill(0.5);
    const y = new Float64Array(6).fill(0.5);
    x[0] = 0;
    y[0] = 0;
    x[5] = 1.99;
    y[5] = 0.99;
    sf.data = { x, y };
    sf.updateReflectionData();
    sf.smoother.setSmoothing(4, 1.0);
    expect(Array.from(sf.smoother.xPositions())).toEqual([0, 1, 2]);
    expect(Array.from(sf.smoother.yPositions())).toEqual([0, 1]);
    const { scales, derivatives } = sf.calculateScalesAndDerivatives();
    expect(Array.from(sf.calculateScales())).toEqual(Array.from(scales));
    near(derivatives.get(1, 1), Math.exp(-0.5) / (4 * Math.exp(-0.5) + 2 * Math.exp(-2.5)));
    sf.updateReflectionData(undefined, [Int32Array.from([1]), new Int32Array(0)]);
    near(sf.calculateScales(0)[0], 1.1);
    const none = sf.calculateScalesAndDerivatives(1);
    expect(none.scales.length).toBe(0);
    expect(none.derivatives.nRows).toBe(0);
  });
});

describe("SmoothScaleComponent3D (DIALS test_SmoothScaleFactor3D)", () => {
  it("shape (6,5,5)", () => {
    expect(() => new SmoothScaleComponent3D(new Float64Array(150).fill(1.1), [5, 5, 5])).toThrow(ConfigError);
    const sf = new SmoothScaleComponent3D(new Float64Array(150).fill(1.1), [6, 5, 5]);
    const x = new Float64Array(150).fill(0.5);
    const y = new Float64Array(150).fill(0.5);
    const z = new Float64Array(150).fill(0.5);
    x[0] = 0;
    y[0] = 0;
    z[0] = 0;
    x[149] = 3.99;
    y[149] = 2.99;
    z[149] = 2.99;
    sf.data = { x, y, z };
    sf.updateReflectionData();
    sf.smoother.setSmoothing(3, 1.0);
    expect(Array.from(sf.smoother.xPositions())).toEqual([-0.5, 0.5, 1.5, 2.5, 3.5, 4.5]);
    expect(Array.from(sf.smoother.yPositions())).toEqual([-0.5, 0.5, 1.5, 2.5, 3.5]);
    expect(Array.from(sf.smoother.zPositions())).toEqual([-0.5, 0.5, 1.5, 2.5, 3.5]);
    const { scales, derivatives } = sf.calculateScalesAndDerivatives();
    expect(Array.from(sf.calculateScales())).toEqual(Array.from(scales));
    for (const s of scales) near(s, 1.1);
    const sumexp = 1 + 6 * Math.exp(-1) + 8 * Math.exp(-3) + 12 * Math.exp(-2);
    near(derivatives.get(1, 7), Math.exp(-1) / sumexp);
  });
});

describe("model utilities (DIALS test_model_factory_utilities, test_SmoothMixin)", () => {
  it("nparamToVal", () => {
    expect([2, 3, 5, 6].map(nparamToVal)).toEqual([1, 2, 3, 4]);
    expect(() => nparamToVal(4)).toThrow(ConfigError);
    expect(() => nparamToVal(1)).toThrow(ConfigError);
  });
  it("initialiseSmoothInput", () => {
    const cases: [number, number, number, number, number][] = [
      [1.0, 1.0, 12, 0.999, 1.0],
      [1.0, 12, 2, 0.0999, 10.0],
      [1.0, 10, 2, 0.0999, 10.0],
      [1.0, 9.99, 3, 0.1998, 5.0],
      [1.0, 5.0, 3, 0.1998, 5.0],
      [1.0, 4.99, 5, (0.999 * 3) / 10, 10 / 3],
      [2.0, 4.99, 5, (0.999 * 6) / 10, 10 / 3],
    ];
    for (const [width, interval, n, norm, rot] of cases) {
      const r = initialiseSmoothInput([0, 10], width, interval);
      expect(r.nParam).toBe(n);
      near(r.normFac, norm, 1e-14);
      near(r.rotInt, rot, 1e-14);
    }
  });
  it("calcNParamFromBins", () => {
    const cases: [number, number, number, number, number][] = [
      [0, 1, 1, 2, 1.0],
      [0, 2, 2, 3, 1.0],
      [0, 3, 3, 5, 1.0],
      [0, 10, 10, 12, 1.0],
      [0, 10, 5, 7, 2.0],
    ];
    for (const [a, b, nb, n, w] of cases) {
      expect(calcNParamFromBins(a, b, nb)).toEqual({ nParam: n, binWidth: w });
    }
    expect(() => calcNParamFromBins(0, 1, 0)).toThrow(ConfigError);
  });
});
