import { describe, it, expect } from "vitest";
import {
  ActiveParameterManager,
  MultiActiveParameterManager,
  ScalingActiveParameterManager,
  SharedActiveParameterManager,
} from "../../src/dials/active-parameter-manager.ts";
import { SingleScaleFactor } from "../../src/dials/components/single-scale-factor.ts";
import { SingleBScaleFactor } from "../../src/dials/components/single-b-scale-factor.ts";
import { SmoothScaleComponent1D } from "../../src/dials/components/smooth-scale-component-1d.ts";
import type { ScaleComponent } from "../../src/dials/components/scale-component.ts";
import { SparseMatrix } from "../../src/dials/sparse-matrix.ts";
import { ConfigError } from "../../src/errors.ts";

const f64 = (a: number[]): Float64Array => Float64Array.from(a);
const near = (a: number, b: number, tol = 1e-12): void => {
  expect(Math.abs(a - b)).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(b)));
};

/** The DIALS test_basis_function.py setup: scale, decay and a fake "abs" scale factor. */
function basisComponents(): Map<string, ScaleComponent> {
  const id = new Float64Array(3);
  const scale = new SingleScaleFactor(f64([1]));
  scale.data = { id };
  const decay = new SingleBScaleFactor(f64([0]));
  decay.data = { d: f64([2.0, 0.8, 2.0]) };
  const abs = new SingleScaleFactor(f64([1]));
  abs.data = { id };
  const m = new Map<string, ScaleComponent>([
    ["scale", scale],
    ["decay", decay],
    ["abs", abs],
  ]);
  for (const c of m.values()) c.updateReflectionData();
  return m;
}

describe("ActiveParameterManager", () => {
  it("x follows component order, not selection order; names and slices", () => {
    const comps = basisComponents();
    const apm = new ActiveParameterManager(comps, ["decay", "scale"]);
    expect(apm.componentsList).toEqual(["scale", "decay"]);
    expect(Array.from(apm.getParamVals())).toEqual([1, 0]);
    expect(apm.getParamNames()).toEqual(["scale_param0", "decay_param0"]);
    expect(apm.components.get("decay")).toMatchObject({ nParams: 1, startIdx: 1, endIdx: 2 });
    apm.setParamVals(f64([2, 1]));
    expect(comps.get("scale")?.parameters[0]).toBe(2);
    expect(comps.get("decay")?.parameters[0]).toBe(1);
    expect(() => {
      apm.setParamVals(f64([1]));
    }).toThrow(ConfigError);
    apm.setParamEsds(f64([0.1, 0.2]));
    expect(comps.get("decay")?.parameterEsds?.[0]).toBe(0.2);
    apm.calculateModelStateUncertainties(f64([1, 2, 3, 4]));
    expect(Array.from(comps.get("scale")?.varCovMatrix ?? [])).toEqual([1]);
    expect(Array.from(comps.get("decay")?.varCovMatrix ?? [])).toEqual([4]);
  });
  it("uses free parameters (fixed first smoother parameter excluded)", () => {
    const s = new SmoothScaleComponent1D(f64([1, 2, 3]));
    s.fixInitialParameter();
    const apm = new ActiveParameterManager(new Map<string, ScaleComponent>([["scale", s]]), ["scale"]);
    expect(Array.from(apm.getParamVals())).toEqual([2, 3]);
    apm.setParamVals(f64([5, 6]));
    expect(Array.from(s.parameters)).toEqual([1, 5, 6]);
  });
});

describe("ScalingActiveParameterManager (DIALS test_basis_function.py)", () => {
  it("product-rule scales and derivatives with two active components", () => {
    const comps = basisComponents();
    const apm = new ScalingActiveParameterManager(comps, ["decay", "scale"]);
    const newS = 2.0;
    const newB = 1.0;
    apm.setParamVals(f64([newS, newB]));
    const { scales, derivatives: d } = apm.calculateScalesAndDerivatives(0);
    const decay = comps.get("decay") as SingleBScaleFactor;
    const dv = decay.dValues[0];
    const sScale = comps.get("scale")?.calculateScalesAndDerivatives(0);
    const sDecay = decay.calculateScalesAndDerivatives(0);
    for (let i = 0; i < 3; i++) {
      near(scales[i], newS * Math.exp(newB / (2 * dv[i] * dv[i])));
      expect(d.get(i, 0)).toBe((sScale?.derivatives.get(i, 0) ?? NaN) * sDecay.scales[i]);
      expect(d.get(i, 1)).toBe(sDecay.derivatives.get(i, 0) * (sScale?.scales[i] ?? NaN));
    }
    expect(apm.constantGValues?.[0].length).toBe(3);
    expect(apm.nObs).toEqual([3]);
  });
  it("one active component: derivatives are multiplied by constant_g (DIALS omits this)", () => {
    const comps = basisComponents();
    (comps.get("abs") as SingleScaleFactor).parameters = f64([3]);
    (comps.get("decay") as SingleBScaleFactor).parameters = f64([0.5]);
    const apm = new ScalingActiveParameterManager(comps, ["scale"]);
    apm.setParamVals(f64([2]));
    const { scales, derivatives } = apm.calculateScalesAndDerivatives(0);
    const dv = [2.0, 0.8, 2.0];
    for (let i = 0; i < 3; i++) {
      const cg = 3 * Math.exp(0.5 / (2 * dv[i] * dv[i]));
      near(apm.constantGValues?.[0][i] ?? NaN, cg);
      near(scales[i], 2 * cg);
      near(derivatives.get(i, 0), cg);
    }
    near(apm.calculateScales(0)[1], scales[1]);
  });
  it("no active components: scales are constant_g and the Jacobian has no columns", () => {
    const apm = new ScalingActiveParameterManager(basisComponents(), []);
    const { scales, derivatives } = apm.calculateScalesAndDerivatives(0);
    expect(Array.from(scales)).toEqual([1, 1, 1]);
    expect([derivatives.nRows, derivatives.nCols]).toEqual([3, 0]);
  });
  it("rejects components with different block structures", () => {
    const comps = basisComponents();
    comps.get("abs")?.updateReflectionData(new Uint8Array([1, 0, 1]));
    expect(() => new ScalingActiveParameterManager(comps, ["scale"])).toThrow(ConfigError);
  });
});

describe("MultiActiveParameterManager", () => {
  it("concatenates datasets, apmData slices and names", () => {
    const a = basisComponents();
    const b = basisComponents();
    (b.get("scale") as SingleScaleFactor).parameters = f64([5]);
    const multi = new MultiActiveParameterManager(
      [a, b],
      [["scale", "decay"], ["scale"]],
      ScalingActiveParameterManager,
    );
    expect(multi.nActiveParams).toBe(3);
    expect(multi.apmData).toEqual([
      { startIdx: 0, endIdx: 2 },
      { startIdx: 2, endIdx: 3 },
    ]);
    expect(Array.from(multi.getParamVals())).toEqual([1, 0, 5]);
    expect(multi.getParamNames()).toEqual(["scale_expt0_param0", "decay_expt0_param0", "scale_expt1_param0"]);
    expect(multi.componentsList).toEqual(["scale", "decay", "scale"]);
    multi.setParamVals(f64([7, 8, 9]));
    expect(a.get("decay")?.parameters[0]).toBe(8);
    expect(b.get("scale")?.parameters[0]).toBe(9);
    multi.setParamEsds(f64([0.1, 0.2, 0.3]));
    expect(b.get("scale")?.parameterEsds?.[0]).toBe(0.3);
    multi.calculateModelStateUncertainties(f64([1, 2, 3, 4, 5, 6, 7, 8, 9]));
    expect(Array.from(a.get("decay")?.varCovMatrix ?? [])).toEqual([5]);
    expect(Array.from(b.get("scale")?.varCovMatrix ?? [])).toEqual([9]);
    expect(multi.apmList[0]).toBeInstanceOf(ScalingActiveParameterManager);
  });
});

describe("SharedActiveParameterManager (DIALS test_param_manager.py::test_shared_apm)", () => {
  function comps(names: string[]): Map<string, ScaleComponent> {
    return new Map<string, ScaleComponent>(names.map((n, i) => [n, new SingleScaleFactor(f64([i + 1]))]));
  }
  it("reducing matrix and apm selections", () => {
    const c1 = comps(["scale", "decay", "absorption"]);
    const c2 = comps(["scale", "decay"]);
    const apm = new SharedActiveParameterManager(
      [c1, c2],
      [
        ["scale", "decay"],
        ["scale", "decay"],
      ],
      ActiveParameterManager,
      "decay",
    );
    expect(Array.from(apm.reducingMatrix.toDense())).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0]);
    expect([apm.reducingMatrix.nRows, apm.reducingMatrix.nCols]).toEqual([4, 3]);
    expect(Array.from(apm.apmData[0].apmSel)).toEqual([0, 1]);
    expect(Array.from(apm.apmData[1].apmSel)).toEqual([2, 1]);
    expect(apm.nActiveParams).toBe(3);
    expect(Array.from(apm.getParamVals())).toEqual([1, 2, 1]);
    apm.setParamVals(f64([10, 20, 30]));
    expect(c1.get("decay")?.parameters[0]).toBe(20);
    expect(c2.get("decay")?.parameters[0]).toBe(20);
    expect(c2.get("scale")?.parameters[0]).toBe(30);
    expect(Array.from(apm.reduceGradient(f64([1, 2, 3, 4])))).toEqual([1, 6, 3]);
    const j = SparseMatrix.fromDense(2, 4, [1, 2, 3, 4, 5, 6, 7, 8]);
    expect(Array.from(apm.reduceJacobian(j).toDense())).toEqual([1, 6, 3, 5, 14, 7]);
    apm.setParamEsds(f64([0.1, 0.2, 0.3]));
    expect(c2.get("decay")?.parameterEsds?.[0]).toBe(0.2);
    apm.calculateModelStateUncertainties(f64([1, 2, 3, 4, 5, 6, 7, 8, 9]));
    expect(Array.from(c2.get("scale")?.varCovMatrix ?? [])).toEqual([9]);
    expect(Array.from(c2.get("decay")?.varCovMatrix ?? [])).toEqual([5]);
  });
});
