import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import { KBScalingModel } from "../../src/dials/kb-scaling-model.ts";
import { ScalingModel } from "../../src/dials/scaling-model.ts";
import { SingleScaleFactor } from "../../src/dials/components/single-scale-factor.ts";
import { SingleBScaleFactor } from "../../src/dials/components/single-b-scale-factor.ts";
import { ScalingActiveParameterManager } from "../../src/dials/active-parameter-manager.ts";
import { calcSigmasq } from "../../src/dials/model-utilities.ts";
import { ConfigError, InputError } from "../../src/errors.ts";

const f64 = (a: number[]): Float64Array => Float64Array.from(a);
const near = (a: number, b: number, tol = 1e-12): void => {
  expect(Math.abs(a - b)).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(b)));
};

/** KB scaling models written by dials.scale (DIALS 3.12) for the CuNiR stills. */
const dialsModels = (
  JSON.parse(readFileSync(new URL("../fixtures/dials/kb-scaling-models.json", import.meta.url), "utf8")) as {
    scaling_model: Record<string, unknown>[];
  }
).scaling_model;

describe("KBScalingModel", () => {
  it("fromData: components scale then decay, corrections as DIALS writes them", () => {
    const m = KBScalingModel.fromData();
    expect(m.id).toBe("KB");
    expect([...m.components.keys()]).toEqual(["scale", "decay"]);
    expect(m.configdict.corrections).toEqual(["decay", "scale"]);
    expect(m.consecutiveRefinementOrder).toEqual([["scale", "decay"]]);
    expect(m.isScaled).toBe(false);
    expect(m.components.get("scale")).toBeInstanceOf(SingleScaleFactor);
    expect(m.components.get("decay")).toBeInstanceOf(SingleBScaleFactor);
    expect(Array.from(m.components.get("scale")?.parameters ?? [])).toEqual([1]);
    expect(Array.from(m.components.get("decay")?.parameters ?? [])).toEqual([0]);
    const noDecay = KBScalingModel.fromData({ decayCorrection: false });
    expect([...noDecay.components.keys()]).toEqual(["scale"]);
    const fixed = KBScalingModel.fromData({ fix: ["decay"] });
    expect(fixed.fixedComponents).toEqual(["decay"]);
    expect(() => KBScalingModel.fromData({ decayCorrection: false, fix: ["decay"] })).toThrow(ConfigError);
  });

  it("inverse scales are K·exp(B/(2d²)) and scales their reciprocals", () => {
    const m = KBScalingModel.fromData();
    m.configureComponents({ id: f64([0, 0, 0]), d: f64([2.0, 0.8, 2.0]) });
    m.components.get("scale")?.parameters.set([2]);
    (m.components.get("decay") as SingleBScaleFactor).parameters = f64([1]);
    for (const c of m.components.values()) c.updateReflectionData();
    const g = m.getInverseScales();
    const s = m.getScales();
    [2.0, 0.8, 2.0].forEach((d, i) => {
      near(g[i], 2 * Math.exp(1 / (2 * d * d)));
      near(s[i], 1 / g[i]);
    });
  });

  it("reads every DIALS-written KB model and writes it back identically", () => {
    for (const d of dialsModels) {
      const m = ScalingModel.fromDict(d, "scaled.expt");
      expect(m).toBeInstanceOf(KBScalingModel);
      expect(m.isScaled).toBe(true);
      expect([...m.components.keys()]).toEqual(["scale", "decay"]);
      expect(m.toDict()).toEqual(d);
    }
    const first = dialsModels[0] as { scale: { parameters: number[] }; decay: { est_standard_devs: number[] } };
    const m = KBScalingModel.fromDict(dialsModels[0]);
    expect(m.components.get("scale")?.parameters[0]).toBe(first.scale.parameters[0]);
    expect(m.components.get("decay")?.parameterEsds?.[0]).toBe(first.decay.est_standard_devs[0]);
  });

  it("toDict omits est_standard_devs when esds are unknown", () => {
    const d = KBScalingModel.fromData().toDict();
    expect(d).toEqual({
      __id__: "KB",
      scale: { n_parameters: 1, parameters: [1], null_parameter_value: 1 },
      decay: { n_parameters: 1, parameters: [0], null_parameter_value: 0 },
      configuration_parameters: { corrections: ["decay", "scale"] },
    });
  });

  it("fromDict rejects malformed entries with InputError naming the file", () => {
    expect(() => ScalingModel.fromDict({ __id__: "nonsense" }, "x.expt")).toThrow(/x\.expt.*nonsense/);
    expect(() => ScalingModel.fromDict([], "x.expt")).toThrow(InputError);
    const bad = structuredClone(dialsModels[0]);
    (bad.scale as Record<string, unknown>).parameters = [1, 2];
    expect(() => ScalingModel.fromDict(bad, "x.expt")).toThrow(InputError);
    const bad2 = structuredClone(dialsModels[0]);
    delete bad2.configuration_parameters;
    expect(() => ScalingModel.fromDict(bad2)).toThrow(InputError);
    const bad3 = structuredClone(dialsModels[0]);
    delete bad3.decay;
    expect(() => ScalingModel.fromDict(bad3)).toThrow(/decay/);
  });
});

describe("calcSigmasq (DIALS test_scaler.py::test_calc_sf_variances)", () => {
  it("KB with K = 1, B = 0: var = a + c/d² + b/(4d⁴)", () => {
    const m = KBScalingModel.fromData();
    const dvals = [1.0, 2.0, 0.8, 3.5];
    m.configureComponents({ id: new Float64Array(4), d: f64(dvals) });
    for (const c of m.components.values()) c.updateReflectionData();
    const apm = new ScalingActiveParameterManager(m.components, ["scale", "decay"]);
    const { derivatives } = apm.calculateScalesAndDerivatives();
    const [a, c, b] = [0.2, 0.1, 0.3];
    const v = calcSigmasq(derivatives, f64([a, c, c, b]));
    dvals.forEach((d, i) => {
      near(v[i], a + c / d ** 2 + b / (4 * d ** 4));
    });
    expect(() => calcSigmasq(derivatives, f64([1]))).toThrow(ConfigError);
  });
});
