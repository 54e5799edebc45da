import { describe, it, expect } from "vitest";
import { IhTable } from "../../src/dials/ih-table.ts";
import { ScalingRefinery, createScalingRefinery, refineScaling } from "../../src/dials/scaling-refinery.ts";
import { KBScalingModel } from "../../src/dials/kb-scaling-model.ts";
import type { ScalingParameterSet } from "../../src/dials/scaling-refinery.ts";
import { ScalingTarget, symmetrise } from "../../src/dials/target-function.ts";
import { SingleScaleFactor } from "../../src/dials/components/single-scale-factor.ts";
import { SparseMatrix } from "../../src/dials/sparse-matrix.ts";
import { SpaceGroup } from "../../src/symmetry/space-group.ts";
import { ConfigError, RefinementFailure } from "../../src/errors.ts";

const p1 = SpaceGroup.fromHall(" P 1");

/**
 * Noise-free data: 4 datasets with true inverse scales `trueG`, 6 unique reflections with intensities `Itrue`;
 * dataset d observes the reflections listed in `obs[d]`, I = g_d·Itrue, σ² = 1 + I/10.
 */
const trueG = [1.0, 0.5, 2.0, 1.25];
const Itrue = [100, 40, 250, 10, 70, 33];
const obs = [
  [0, 1, 2, 3],
  [0, 2, 4, 5],
  [1, 3, 4, 5, 0],
  [2, 3, 5],
];

function buildTable(noise = 0): IhTable {
  let seed = 7;
  const rand = (): number => {
    seed = (seed * 16807) % 2147483647;
    return seed / 2147483647 - 0.5;
  };
  return new IhTable(
    obs.map((rows, d) => {
      const I = rows.map((r) => trueG[d] * Itrue[r] * (1 + noise * rand()));
      return {
        millerIndex: Int32Array.from(rows.flatMap((r) => [r + 1, 0, 0])),
        intensity: Float64Array.from(I),
        variance: Float64Array.from(I.map((v) => 1 + Math.abs(v) / 10)),
      };
    }),
    p1,
  );
}

/** One SingleScaleFactor per dataset, driven directly (one parameter each). */
function scaleParameters(ih: IhTable, start = 1): ScalingParameterSet & { varCov?: Float64Array } {
  const comps = obs.map((rows, d) => {
    const c = new SingleScaleFactor([start]);
    c.data = { id: new Float64Array(rows.length) };
    c.updateReflectionData(undefined, ih.getBlockSelectionsForDataset(d));
    return c;
  });
  const set: ScalingParameterSet & { varCov?: Float64Array } = {
    datasets: comps,
    columnMaps: comps.map((_, d) => Int32Array.of(d)),
    nParameters: comps.length,
    parameterNames: () => comps.map((_, d) => `scale_expt${d}_param0`),
    getParameters: () => Float64Array.from(comps, (c) => c.parameters[0]),
    setParameters: (x: Float64Array) => {
      comps.forEach((c, d) => {
        c.parameters = Float64Array.of(x[d]);
      });
    },
    setVarianceCovariance: (v: Float64Array) => {
      set.varCov = v;
    },
  };
  return set;
}

/** Per-dataset scales divided by their geometric mean. */
function normalised(x: ArrayLike<number>): number[] {
  const v = Array.from(x);
  const gm = Math.exp(v.reduce((s, a) => s + Math.log(a), 0) / v.length);
  return v.map((a) => a / gm);
}

describe("ScalingRefinery", () => {
  it("builds normal equations equal to JᵀWJ and JᵀWr of the full Jacobian, over several blocks", () => {
    const ih = new IhTable(
      obs.map((rows, d) => ({
        millerIndex: Int32Array.from(rows.flatMap((r) => [r + 1, 0, 0])),
        intensity: Float64Array.from(rows.map((r) => trueG[d] * Itrue[r] + d - 1.5)),
        variance: Float64Array.from(rows.map((r) => 1 + Itrue[r] / 10)),
      })),
      p1,
      { nBlocks: 3 },
    );
    expect(ih.blocks.length).toBe(3);
    const params = scaleParameters(ih);
    const ref = new ScalingRefinery(ih, params);
    ref.setParameters(Float64Array.from([1.1, 0.45, 2.2, 1.3]));
    const ne = ref.buildNormalEquations();
    const P = 4;
    const dense = new Float64Array(P * P);
    const grad = new Float64Array(P);
    const target = new ScalingTarget();
    let sum = 0;
    for (const [b, block] of ih.blocks.entries()) {
      // Derivatives of this block, assembled independently: dg/dK_d = 1 on the rows of dataset d.
      const rows: number[] = [];
      const cols: number[] = [];
      for (let i = 0; i < block.size; i++) {
        rows.push(i);
        cols.push(block.datasetId[i]);
      }
      const D = SparseMatrix.fromTriplets(block.size, P, rows, cols, new Float64Array(rows.length).fill(1));
      const J = target.calculateJacobian(block, D).toDense();
      const r = target.calculateResiduals(block);
      for (let i = 0; i < block.size; i++) {
        expect(block.inverseScaleFactor[i]).toBeCloseTo([1.1, 0.45, 2.2, 1.3][block.datasetId[i]], 15);
        sum += block.weights[i] * r[i] * r[i];
        for (let a = 0; a < P; a++) {
          grad[a] += J[i * P + a] * block.weights[i] * r[i];
          for (let c = 0; c < P; c++) dense[a * P + c] += J[i * P + a] * block.weights[i] * J[i * P + c];
        }
      }
      expect(b).toBeLessThan(3);
    }
    for (let k = 0; k < P * P; k++) expect(ne.matrix[k]).toBeCloseTo(dense[k], 8);
    for (let k = 0; k < P; k++) expect(ne.gradient[k]).toBeCloseTo(grad[k], 8);
    expect(ne.objective).toBeCloseTo(sum / 2, 10);
    expect(ne.nObservations).toBe(16);
    expect(ne.nEquations).toBe(16);
    const fg = ref.computeFunctionalAndGradient();
    expect(fg.f).toBeCloseTo(sum, 10);
    for (let k = 0; k < P; k++) expect(fg.gradient[k]).toBeCloseTo(2 * grad[k], 8);
    expect(ref.computeObjective().objective).toBeCloseTo(sum / 2, 10);
    expect(ref.rmsd()).toBeCloseTo(Math.sqrt(sum / 16), 12);
  });

  for (const engine of ["LevMar", "LBFGS"] as const) {
    it(`recovers the true relative scales of noise-free data with ${engine}`, () => {
      const ih = buildTable();
      const params = scaleParameters(ih);
      const ref = new ScalingRefinery(ih, params);
      const res = refineScaling(ref, { engine, rmsdTolerance: 1e-12, maxIterations: 200 });
      const got = normalised(res.parameters);
      const want = normalised(trueG);
      for (let d = 0; d < 4; d++) expect(got[d]).toBeCloseTo(want[d], 6);
      expect(ref.rmsd()).toBeLessThan(1e-5);
      if (engine === "LevMar") expect(params.varCov?.length).toBe(16);
    });
  }

  it("Gauss–Newton needs the gauge row; with it, it matches Levenberg–Marquardt and keeps the gauge", () => {
    const ih = buildTable(0.05);
    expect(() => refineScaling(new ScalingRefinery(ih, scaleParameters(ih)), { engine: "GaussNewton" })).toThrow(
      RefinementFailure,
    );
    const ihGN = buildTable(0.05);
    const gn = new ScalingRefinery(ihGN, scaleParameters(ihGN), { gaugeParameters: [0, 1, 2, 3] });
    const neAt1 = gn.buildNormalEquations();
    expect(neAt1.nEquations).toBe(ihGN.size + 1);
    const resGN = refineScaling(gn, { engine: "GaussNewton", rmsdTolerance: 1e-10 });
    const ihLM = buildTable(0.05);
    const lm = new ScalingRefinery(ihLM, scaleParameters(ihLM));
    const resLM = refineScaling(lm, { engine: "LevMar", rmsdTolerance: 1e-10 });
    const a = normalised(resGN.parameters);
    const b = normalised(resLM.parameters);
    for (let d = 0; d < 4; d++) expect(a[d]).toBeCloseTo(b[d], 6);
    // Steps orthogonal to the null direction n = p keep Σp² to first order: the overall scale stays near 1.
    const gm = Math.exp(Array.from(resGN.parameters).reduce((s, v) => s + Math.log(v), 0) / 4);
    expect(Math.abs(gm - 1)).toBeLessThan(0.2);
    expect(gn.rmsd()).toBeCloseTo(lm.rmsd(), 6);
  });

  it("adds restraint rows to the normal equations and the functional", () => {
    const ih = buildTable(0.05);
    const base = scaleParameters(ih);
    const lambda = 3;
    const withRestraint: ScalingParameterSet = {
      ...base,
      calculateJacobianRestraints: () => {
        const x = base.getParameters();
        return {
          residuals: Float64Array.of(x[1]),
          jacobian: SparseMatrix.fromTriplets(1, 4, [0], [1], [1]),
          weights: Float64Array.of(lambda),
        };
      },
    };
    const plain = new ScalingRefinery(ih, base).buildNormalEquations();
    const ref = new ScalingRefinery(ih, withRestraint);
    const ne = ref.buildNormalEquations();
    expect(ne.nEquations).toBe(plain.nEquations + 1);
    expect(ne.matrix[1 * 4 + 1]).toBeCloseTo(plain.matrix[1 * 4 + 1] + lambda, 10);
    expect(ne.gradient[1]).toBeCloseTo(plain.gradient[1] + lambda * 1, 10);
    expect(ne.objective).toBeCloseTo(plain.objective + 0.5 * lambda, 10);
    const fg = ref.computeFunctionalAndGradient();
    expect(fg.f).toBeCloseTo(2 * plain.objective + lambda, 10);
    expect(fg.gradient[1]).toBeCloseTo(2 * plain.gradient[1] + 2 * lambda, 8);
  });

  it("updates the free block's scales and Ih but refines on the work blocks only", () => {
    const ih = new IhTable(
      obs.map((rows, d) => ({
        millerIndex: Int32Array.from(rows.flatMap((r) => [r + 1, 0, 0])),
        intensity: Float64Array.from(rows.map((r) => trueG[d] * Itrue[r])),
        variance: Float64Array.from(rows.map((r) => 1 + Itrue[r] / 10)),
      })),
      p1,
      { nBlocks: 2, freeSetPercentage: 50 },
    );
    const free = ih.freeBlock;
    if (free === undefined) throw new Error("no free block");
    expect(free.nGroups).toBe(3); // groups 0, 2, 4 of the 6
    const ref = new ScalingRefinery(ih, scaleParameters(ih));
    expect(ref.buildNormalEquations().nObservations).toBe(16 - free.size);
    const x = Float64Array.from(trueG);
    ref.setParameters(x);
    ref.computeObjective();
    for (let i = 0; i < free.size; i++) {
      expect(free.inverseScaleFactor[i]).toBe(trueG[free.datasetId[i]]);
      // noise-free data at the true scales: Ih is the true intensity of the group
      expect(free.IhValues[i] * free.inverseScaleFactor[i]).toBeCloseTo(free.intensity[i], 10);
    }
    expect(ref.rmsd()).toBeLessThan(1e-12);
  });

  it("shares a component across datasets (KB with shared decay): gradient matches finite differences", () => {
    const ih = buildTable(0.05);
    const models = obs.map((rows) => {
      const m = KBScalingModel.fromData();
      m.configureComponents({ id: new Float64Array(rows.length), d: Float64Array.from(rows, (r) => 1 + r / 4) });
      return m;
    });
    const { refinery, apm } = createScalingRefinery(models, ih, { shared: "decay" });
    expect(refinery.nParameters).toBe(5); // 4 K + 1 shared B
    expect(refinery.parameterNames()).toEqual([
      "scale_expt0_param0",
      "decay_expt0_param0",
      "scale_expt1_param0",
      "scale_expt2_param0",
      "scale_expt3_param0",
    ]);
    const x = Float64Array.from([1.1, 0.3, 0.6, 1.9, 1.2]);
    refinery.setParameters(x);
    const { f, gradient } = refinery.computeFunctionalAndGradient();
    expect(f).toBeCloseTo(2 * refinery.computeObjective().objective, 8);
    const h = 1e-6;
    for (let k = 0; k < 5; k++) {
      const xp = x.slice();
      const xm = x.slice();
      xp[k] += h;
      xm[k] -= h;
      refinery.setParameters(xp);
      const fp = refinery.computeFunctionalAndGradient().f;
      refinery.setParameters(xm);
      const fm = refinery.computeFunctionalAndGradient().f;
      expect(gradient[k]).toBeCloseTo((fp - fm) / (2 * h), 3);
    }
    expect(apm.getParamVals().length).toBe(5);
    const res = refineScaling(refinery, { engine: "LevMar", rmsdTolerance: 1e-8 });
    expect(res.converged).toBe(true);
    expect(models[1].components.get("decay")?.parameters[0]).toBeCloseTo(res.parameters[1], 12);
    expect(models[0].components.get("scale")?.parameterEsds?.[0]).toBeGreaterThan(0);
  });

  it("validates its inputs", () => {
    const ih = buildTable();
    const params = scaleParameters(ih);
    expect(() => new ScalingRefinery(ih, { ...params, datasets: params.datasets.slice(1) })).toThrow(ConfigError);
    expect(() => new ScalingRefinery(ih, params, { gaugeParameters: [9] })).toThrow(ConfigError);
    const ref = new ScalingRefinery(ih, params);
    expect(() => {
      ref.setParameters(new Float64Array(2));
    }).toThrow(ConfigError);
    expect(() => refineScaling(ref, { engine: "Simplex" as "LBFGS" })).toThrow(ConfigError);
  });
});

// keep symmetrise exercised from the public API
describe("symmetrise", () => {
  it("mirrors the upper triangle", () => {
    const m = Float64Array.from([1, 2, 3, 0, 4, 5, 0, 0, 6]);
    symmetrise(m, 3);
    expect(Array.from(m)).toEqual([1, 2, 3, 2, 4, 5, 3, 5, 6]);
  });
});
