import { describe, it, expect } from "vitest";
import { IhTable } from "../../src/dials/ih-table.ts";
import type { IhTableBlock } from "../../src/dials/ih-table.ts";
import { ScalingTarget, ScalingTargetFixedIH, symmetrise } from "../../src/dials/target-function.ts";
import { SparseMatrix } from "../../src/dials/sparse-matrix.ts";
import { SpaceGroup } from "../../src/symmetry/space-group.ts";
import { ConfigError } from "../../src/errors.ts";

// Expected values: dials/dials tests/algorithms/scaling/test_target_function.py (mock Ih table), reference §4.1/§7.5.
const p1 = SpaceGroup.fromHall(" P 1");

/** The DIALS mock: g = [1, 1/1.1, 1], I = [10, 10, 12], Ih = 11, w = 1, groups {0,1} and {2}. */
function mockBlock(): IhTableBlock {
  const t = new IhTable(
    [
      {
        millerIndex: Int32Array.from([1, 0, 0, 1, 0, 0, 2, 0, 0]),
        intensity: Float64Array.from([10, 10, 12]),
        variance: Float64Array.from([1, 1, 1]),
        inverseScaleFactor: Float64Array.from([1, 1 / 1.1, 1]),
      },
    ],
    p1,
  );
  const b = t.blocks[0];
  expect(Array.from(b.groupIndex)).toEqual([0, 0, 1]);
  b.IhValues.set([11, 11, 11]);
  return b;
}

const dgdp = SparseMatrix.fromDense(3, 1, [1, 2, 3]);

describe("ScalingTarget on the DIALS mock table", () => {
  it("residuals, functional and gradient", () => {
    const b = mockBlock();
    const t = new ScalingTarget();
    const r = t.calculateResiduals(b);
    expect(r[0]).toBeCloseTo(-1, 12);
    expect(r[1]).toBeCloseTo(0, 12);
    expect(r[2]).toBeCloseTo(1, 12);
    let f = 0;
    r.forEach((ri, i) => (f += b.weights[i] * ri * ri));
    expect(f).toBeCloseTo(2, 12);
    const g = t.calculateGradient(b, dgdp);
    expect(g.length).toBe(1);
    expect(g[0]).toBeCloseTo(-19.04072398, 7);
  });

  it("full Jacobian including dIh/dp, and 2·JᵀWr equals the gradient", () => {
    const b = mockBlock();
    const t = new ScalingTarget();
    const J = t.calculateJacobian(b, dgdp).toDense();
    expect(J[0]).toBeCloseTo(6.520362, 6);
    expect(J[1]).toBeCloseTo(-6.072398, 6);
    expect(J[2]).toBeCloseTo(-3.0, 12);
    const r = t.calculateResiduals(b);
    const twoJtWr = 2 * (J[0] * r[0] + J[1] * r[1] + J[2] * r[2]);
    expect(twoJtWr).toBeCloseTo(-19.04072398, 7);
    const acc = { matrix: new Float64Array(1), gradient: new Float64Array(1), sumWr2: 0 };
    t.accumulateNormalEquations(b, dgdp, acc);
    expect(acc.sumWr2).toBeCloseTo(2, 12);
    expect(acc.gradient[0]).toBeCloseTo(-19.04072398 / 2, 7);
    expect(acc.matrix[0]).toBeCloseTo(J[0] ** 2 + J[1] ** 2 + J[2] ** 2, 9);
  });

  it("fixed-Ih target: J = −Ih·dg/dp, gradient −44", () => {
    const b = mockBlock();
    const t = new ScalingTargetFixedIH();
    expect(Array.from(t.calculateJacobian(b, dgdp).toDense())).toEqual([-11, -22, -33]);
    expect(t.calculateGradient(b, dgdp)[0]).toBeCloseTo(-44, 10);
  });

  it("RMSD as DIALS reports it, with and without restraints", () => {
    const b = mockBlock();
    const t = new ScalingTarget();
    expect(t.rmsd([b], [1, 2, 3])).toBeCloseTo(Math.sqrt(8 / 3), 12);
    expect(t.rmsd([b])).toBeCloseTo(Math.sqrt(2 / 3), 12);
  });

  it("rejects derivatives of the wrong height", () => {
    const b = mockBlock();
    expect(() => new ScalingTarget().calculateGradient(b, SparseMatrix.zeros(2, 1))).toThrow(ConfigError);
  });
});

describe("ScalingTarget on DIALS's large_reflection_table (C 2y, g = 1)", () => {
  it("gives the residuals and weights of test_target_jacobian_calculation_finite_difference, in Ih order", () => {
    const c2 = SpaceGroup.fromHall(" C 2y");
    const t = new IhTable(
      [
        {
          intensity: Float64Array.from([75, 10, 100, 25, 50, 100, 25, 20, 300, 10]),
          variance: Float64Array.from([50, 10, 100, 50, 10, 100, 50, 10, 100, 10]),
          millerIndex: Int32Array.from([
            1, 0, 0, 0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 4, 0, 0, 0, 1, 1, 0, 0, 0, 4, 0,
          ]),
        },
      ],
      c2,
    );
    const b = t.blocks[0];
    const r = new ScalingTarget().calculateResiduals(b);
    const expectedR = [-50 / 3, 70 / 3, -20 / 3, 12.5, -2.5, -25, 0, -75, 0, 200];
    const expectedW = [0.1, 0.1, 0.1, 0.02, 0.1, 0.02, 0.01, 0.02, 0.01, 0.01];
    expectedR.forEach((v, i) => {
      expect(r[i]).toBeCloseTo(v, 10);
      expect(b.weights[i]).toBeCloseTo(expectedW[i], 15);
    });
  });
});

describe("ScalingTarget against finite differences (Ih recomputed)", () => {
  // Three datasets, one multiplicative scale each: g_i = p_{dataset(i)}. Ih depends on p through calcIh.
  const hkl = [
    [1, 0, 0],
    [2, 0, 0],
    [1, 1, 0],
    [3, 0, 0],
  ];
  const data = [
    { rows: [0, 1, 2], I: [10, 20, 31] },
    { rows: [0, 1, 3], I: [14, 25, 7] },
    { rows: [0, 2, 3, 2], I: [7, 15, 4, 16] },
  ];
  const variances = [
    [1, 2, 3],
    [2, 1, 0.5],
    [1, 1.5, 2, 3],
  ];

  function build(p: number[]): IhTable {
    return new IhTable(
      data.map((d, k) => ({
        millerIndex: Int32Array.from(d.rows.flatMap((r) => hkl[r])),
        intensity: Float64Array.from(d.I),
        variance: Float64Array.from(variances[k]),
        inverseScaleFactor: new Float64Array(d.I.length).fill(p[k]),
      })),
      p1,
    );
  }

  function derivs(b: IhTableBlock): SparseMatrix {
    return SparseMatrix.fromTriplets(
      b.size,
      3,
      Array.from(b.datasetId, (_, i) => i),
      Array.from(b.datasetId),
      new Float64Array(b.size).fill(1),
    );
  }

  it("Jacobian and normal equations match central differences of the residuals", () => {
    const p = [1.3, 0.8, 1.1];
    const b = build(p).blocks[0];
    const t = new ScalingTarget();
    const J = t.calculateJacobian(b, derivs(b)).toDense();
    const h = 1e-6;
    for (let j = 0; j < 3; j++) {
      const pp = p.slice();
      const pm = p.slice();
      pp[j] += h;
      pm[j] -= h;
      const rp = t.calculateResiduals(build(pp).blocks[0]);
      const rm = t.calculateResiduals(build(pm).blocks[0]);
      for (let i = 0; i < b.size; i++) expect(J[i * 3 + j]).toBeCloseTo((rp[i] - rm[i]) / (2 * h), 6);
    }
    const acc = { matrix: new Float64Array(9), gradient: new Float64Array(3), sumWr2: 0 };
    t.accumulateNormalEquations(b, derivs(b), acc);
    symmetrise(acc.matrix, 3);
    const r = t.calculateResiduals(b);
    for (let a = 0; a < 3; a++) {
      let g = 0;
      for (let i = 0; i < b.size; i++) g += J[i * 3 + a] * b.weights[i] * r[i];
      expect(acc.gradient[a]).toBeCloseTo(g, 9);
      for (let c = 0; c < 3; c++) {
        let m = 0;
        for (let i = 0; i < b.size; i++) m += J[i * 3 + a] * b.weights[i] * J[i * 3 + c];
        expect(acc.matrix[a * 3 + c]).toBeCloseTo(m, 9);
      }
    }
    // Gradient of Σwr² equals d/dp by central differences.
    const grad = t.calculateGradient(b, derivs(b));
    const f = (q: number[]): number => {
      const bb = build(q).blocks[0];
      const rr = t.calculateResiduals(bb);
      return rr.reduce((s, ri, i) => s + bb.weights[i] * ri * ri, 0);
    };
    for (let j = 0; j < 3; j++) {
      const pp = p.slice();
      const pm = p.slice();
      pp[j] += h;
      pm[j] -= h;
      expect(grad[j]).toBeCloseTo((f(pp) - f(pm)) / (2 * h), 4);
    }
  });
});
