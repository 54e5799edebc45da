import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { buildScalingObservations } from "../../src/observations/scaling-observations.ts";
import { JointScalingProblem, type JointSmootherSetup } from "../../src/refine/joint-scaling-problem.ts";
import { passSourceOf } from "../../src/refine/joint-refinement.ts";
import { residentRows } from "../../src/observations/observation-windows.ts";
import { FIVE_POINT_KERNEL } from "../fixtures/kernels/five-point-smoother.ts";

/** A 5-value smoother over [0, 0.5] (3 intervals), with DIALS's defaults (naverage 3, sigma 0.7). */
function smootherSetup(values: number[]): JointSmootherSetup {
  return {
    kernel: FIVE_POINT_KERNEL,
    qMin: 0,
    qMax: 0.5,
    initialValues: Float64Array.from(values),
    restraintWeight: 7,
  };
}

/** Independent residual vector: for every group, Ih = Σwg I/Σwg², r = I − g Ih (plain loops over the raw input). */
function residuals(
  groups: number[][],
  rows: { still: number; I: number; w: number; q: number }[],
  x: Float64Array,
  nStills: number,
  smoother: JointSmootherSetup | undefined,
): Float64Array {
  const a = (q: number): number => {
    if (smoother === undefined) return 1;
    const k = smoother.kernel;
    const c = [smoother.initialValues[0], ...Array.from(x.subarray(nStills))];
    const z = (Math.min(Math.max(q, smoother.qMin), smoother.qMax) - k.x0) / k.spacing;
    const r = (v: number) => (v >= 0 ? Math.floor(v + 0.5) : -Math.floor(-v + 0.5));
    let i1 = r(z - 1.5) + 1;
    let i2 = i1 + 3;
    if (i1 < 0) {
      i1 = 0;
      i2 = Math.max(2, i2);
    }
    if (i2 > 5) {
      i2 = 5;
      i1 = Math.min(i1, 3);
    }
    let sw = 0;
    let swv = 0;
    for (let j = i1; j < i2; j++) {
      const w = Math.exp(-(((z - k.positions[j]) / k.sigma) ** 2));
      sw += w;
      swv += w * c[j];
    }
    return swv / sw;
  };
  const out = new Float64Array(rows.length);
  for (const members of groups) {
    let S = 0;
    let T = 0;
    for (const i of members) {
      const g = Math.exp(x[rows[i].still]) * a(rows[i].q);
      S += rows[i].w * g * g;
      T += rows[i].w * g * rows[i].I;
    }
    for (const i of members) {
      const g = Math.exp(x[rows[i].still]) * a(rows[i].q);
      out[i] = rows[i].I - (g * T) / S;
    }
  }
  return out;
}

function randomCase(seed: number, withSmoother: boolean) {
  let state = seed >>> 0 || 1;
  const rand = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
  const nStills = 4;
  const nVoxels = 5;
  const rows: { still: number; I: number; w: number; q: number; voxel: number }[] = [];
  for (let v = 0; v < nVoxels; v++) {
    const m = 2 + Math.floor(rand() * 5);
    for (let j = 0; j < m; j++) {
      rows.push({
        still: Math.floor(rand() * nStills),
        I: 50 + 100 * rand(),
        w: 0.5 + rand(),
        q: 0.5 * rand(),
        voxel: 10 + v,
      });
    }
  }
  const observations = buildScalingObservations(nStills, undefined, {
    still: Int32Array.from(rows, (r) => r.still),
    voxel: Float64Array.from(rows, (r) => r.voxel),
    intensity: Float64Array.from(rows, (r) => r.I),
    variance: Float64Array.from(rows, (r) => 1 / r.w),
    qMagnitude: Float64Array.from(rows, (r) => r.q),
    sourceRow: Int32Array.from(rows, (_, i) => i),
  });
  const scales = Float64Array.from({ length: nStills }, () => 0.6 + 0.8 * rand());
  const smoother = withSmoother ? smootherSetup([1, 0.9 + 0.2 * rand(), 1.1, 0.95 + 0.1 * rand(), 1.05]) : undefined;
  const problem = new JointScalingProblem(passSourceOf(observations), scales, smoother);
  // Rows in problem order, and group membership, for the independent residual function.
  const sorted = Array.from({ length: observations.n }, (_, j) => ({
    still: residentRows(observations).still[j],
    I: residentRows(observations).intensity[j],
    w: residentRows(observations).weight[j],
    q: residentRows(observations).qMagnitude[j],
  }));
  const groups: number[][] = [];
  for (let h = 0; h < observations.nGroups; h++) {
    const members: number[] = [];
    for (let j = observations.groupStart[h]; j < observations.groupStart[h + 1]; j++) members.push(j);
    groups.push(members);
  }
  return { problem, sorted, groups, nStills, smoother };
}

describe("JointScalingProblem", () => {
  for (const withSmoother of [false, true]) {
    it(`normal equations equal JᵀWJ and JᵀWr of a finite-difference Jacobian (smoother ${withSmoother ? "on" : "off"})`, () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 1 << 30 }), (seed) => {
          const { problem, sorted, groups, nStills, smoother } = randomCase(seed, withSmoother);
          const x = problem.getParameters();
          const P = x.length;
          const smootherNoRestraint = smoother === undefined ? undefined : { ...smoother, restraintWeight: 0 };
          const r0 = residuals(groups, sorted, x, nStills, smootherNoRestraint);
          const J: Float64Array[] = [];
          for (let p = 0; p < P; p++) {
            const h = 1e-6;
            const xp = Float64Array.from(x);
            const xm = Float64Array.from(x);
            xp[p] += h;
            xm[p] -= h;
            const rp = residuals(groups, sorted, xp, nStills, smootherNoRestraint);
            const rm = residuals(groups, sorted, xm, nStills, smootherNoRestraint);
            J.push(rp.map((v, i) => (v - rm[i]) / (2 * h)));
          }
          const acc = problem.accumulate(true);
          let objective = 0;
          for (let i = 0; i < r0.length; i++) objective += 0.5 * sorted[i].w * r0[i] ** 2;
          expect(acc.objective).toBeCloseTo(objective, 8);
          const matrix = acc.matrix ?? new Float64Array(0);
          for (let p = 0; p < P; p++) {
            let g = 0;
            for (let i = 0; i < r0.length; i++) g += sorted[i].w * J[p][i] * r0[i];
            expect(Math.abs(acc.gradient[p] - g)).toBeLessThan(1e-5 * (1 + Math.abs(g)));
            for (let q = 0; q < P; q++) {
              let n = 0;
              for (let i = 0; i < r0.length; i++) n += sorted[i].w * J[p][i] * J[q][i];
              expect(Math.abs(matrix[p * P + q] - n)).toBeLessThan(1e-5 * (1 + Math.abs(n)));
            }
          }
        }),
        { seed: 42, numRuns: 25 },
      );
    });
  }

  it("is invariant under a common rescaling of every still (the gauge) and the gradient is orthogonal to it", () => {
    const { problem } = randomCase(7, true);
    const x = problem.getParameters();
    const f0 = problem.computeObjective().objective;
    const shifted = Float64Array.from(x);
    for (let s = 0; s < problem.nStills; s++) shifted[s] += 0.3;
    problem.setParameters(shifted);
    expect(problem.computeObjective().objective).toBeCloseTo(f0, 9);
    const ne = problem.buildNormalEquations();
    let sum = 0;
    for (let s = 0; s < problem.nStills; s++) sum += ne.gradient[s];
    expect(Math.abs(sum)).toBeLessThan(1e-8);
    problem.afterAcceptedStep();
    const scales = problem.scales();
    const logMean = scales.reduce((acc, b) => acc + Math.log(b), 0) / scales.length;
    expect(Math.abs(logMean)).toBeLessThan(1e-15);
  });

  it("adds the second-difference restraint with its weight", () => {
    const { problem, smoother } = randomCase(11, true);
    const withR = problem.computeObjective().objective;
    const acc = problem.accumulate(false);
    const c = smoother?.initialValues ?? new Float64Array(0);
    let expected = 0;
    for (let k = 1; k < 4; k++) expected += 0.5 * 7 * (c[k - 1] - 2 * c[k] + c[k + 1]) ** 2;
    expect(withR - acc.objective).toBeCloseTo(expected, 12);
  });
});
