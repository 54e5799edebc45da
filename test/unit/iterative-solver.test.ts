import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { refineJointScaling, passSourceOf } from "../../src/refine/joint-refinement.ts";
import { JointScalingProblem, type JointSmootherSetup } from "../../src/refine/joint-scaling-problem.ts";
import { resolveScalingOptions } from "../../src/refine/scaling-options.ts";
import { buildScalingObservations } from "../../src/observations/scaling-observations.ts";
import type { DiffuseInput } from "../../src/observations/scaling-input.ts";
import { seededRandom } from "../../src/merge/seeded-random.ts";
import { choleskyFactorKernel, choleskySolveInPlace } from "../../src/solve/cholesky.ts";
import { levenbergMarquardt } from "../../src/solve/levenberg-marquardt.ts";
import { FIVE_POINT_KERNEL } from "../fixtures/kernels/five-point-smoother.ts";

function smootherSetup(): JointSmootherSetup {
  return {
    kernel: FIVE_POINT_KERNEL,
    qMin: 0,
    qMax: 0.5,
    initialValues: Float64Array.from([1, 0.95, 1.05, 1.0, 0.9]),
    restraintWeight: 3,
  };
}

/** Noisy diffuse data: nStills stills with true scales, voxels seen by 3–12 stills, a resolution trend in |q|. */
function diffuseCase(nStills: number, nVoxels: number, seed: number): { input: DiffuseInput; truth: Float64Array } {
  const rand = seededRandom(seed);
  const truth = Float64Array.from({ length: nStills }, () => 0.5 + rand());
  const still: number[] = [];
  const voxel: number[] = [];
  const intensity: number[] = [];
  const variance: number[] = [];
  const q: number[] = [];
  for (let v = 0; v < nVoxels; v++) {
    const ref = 100 + 900 * rand();
    const qv = 0.02 + 0.46 * rand();
    const m = 3 + Math.floor(rand() * 10);
    for (let j = 0; j < m; j++) {
      const s = Math.floor(rand() * nStills);
      // pixels of one voxel spread in |q| (otherwise the voxel reference absorbs the resolution factor)
      const qo = qv * (0.7 + 0.6 * rand());
      const mean = truth[s] * (1 - 0.8 * qo) * ref;
      const sigma = Math.sqrt(mean) + 1;
      still.push(s);
      voxel.push(v);
      intensity.push(mean + sigma * (rand() + rand() + rand() - 1.5));
      variance.push(sigma * sigma);
      q.push(qo);
    }
  }
  return {
    input: {
      still: Int32Array.from(still),
      voxel: Float64Array.from(voxel),
      intensity: Float64Array.from(intensity),
      variance: Float64Array.from(variance),
      qMagnitude: Float64Array.from(q),
      sourceRow: Int32Array.from(still, (_, i) => i),
    },
    truth,
  };
}

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}

describe("matrix-free normal equations (iterative mode)", () => {
  const nStills = 300;
  const { input } = diffuseCase(nStills, 6000, 5);
  const observations = buildScalingObservations(nStills, undefined, input);
  const rand = seededRandom(9);
  const start = Float64Array.from({ length: nStills }, () => 0.7 + 0.6 * rand());
  const dense = new JointScalingProblem(passSourceOf(observations), start, smootherSetup());
  const iterative = new JointScalingProblem(
    passSourceOf(observations),
    start,
    smootherSetup(),
    resolveScalingOptions({ iterativeAbove: 10 }),
  );
  const neDense = dense.buildNormalEquations();
  const neIter = iterative.buildNormalEquations();
  const P = dense.nParameters;

  it("switches to the operator form above the threshold only", () => {
    expect(dense.iterative).toBe(false);
    expect(iterative.iterative).toBe(true);
    expect(neIter.matrix.length).toBe(0);
    expect(neIter.operator?.diagonal.length).toBe(P);
    expect(neIter.objective).toBeCloseTo(neDense.objective, 6);
    for (let i = 0; i < P; i++) expect(neIter.gradient[i]).toBeCloseTo(neDense.gradient[i], 6);
  });

  it("the operator equals the dense (gauge-augmented) normal matrix times any vector, to 1e-12 relative", () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: P, maxLength: P }), (xs) => {
        const x = Float64Array.from(xs);
        const yDense = new Float64Array(P);
        for (let i = 0; i < P; i++) {
          let s = 0;
          for (let j = 0; j < P; j++) s += neDense.matrix[i * P + j] * x[j];
          yDense[i] = s;
        }
        const yOp = new Float64Array(P);
        iterative.applyNormalMatrix(neIter, x, yOp);
        const scale = maxAbs(yDense) + 1e-300;
        for (let i = 0; i < P; i++) expect(Math.abs(yOp[i] - yDense[i]) / scale).toBeLessThan(1e-12);
      }),
      { seed: 42, numRuns: 20 },
    );
    for (let i = 0; i < P; i++) {
      expect(Math.abs((neIter.operator?.diagonal[i] ?? 0) - neDense.matrix[i * P + i])).toBeLessThan(
        1e-10 * neDense.matrix[i * P + i],
      );
    }
  });

  it("the matrix expanded from the matrix-free factors equals the dense normal matrix", () => {
    iterative.buildNormalEquations();
    const m = iterative.densify();
    const scale = maxAbs(neDense.matrix);
    expect(m.length).toBe(P * P);
    for (let i = 0; i < P * P; i++) expect(Math.abs(m[i] - neDense.matrix[i])).toBeLessThan(1e-11 * scale);
  });

  for (const mu of [0, 1e-3, 10]) {
    it(`PCG gives the dense Cholesky step to 1e-8 (damping ${mu})`, () => {
      const rhs = neDense.gradient.map((v) => -v);
      const l = Float64Array.from(neDense.matrix);
      for (let i = 0; i < P; i++) l[i * P + i] += mu;
      expect(choleskyFactorKernel(l, P)).toBe(true);
      const hDense = Float64Array.from(rhs);
      choleskySolveInPlace(l, P, hDense);
      const hIter = iterative.solveDamped?.(neIter, mu, Float64Array.from(rhs));
      expect(hIter).toBeDefined();
      if (hIter === undefined) return;
      const scale = maxAbs(hDense);
      expect(scale).toBeGreaterThan(0);
      for (let i = 0; i < P; i++) expect(Math.abs(hIter[i] - hDense[i])).toBeLessThan(1e-8 * scale);
      expect(iterative.lastSolverIterations).toBeGreaterThan(0);
      expect(iterative.lastSolverIterations).toBeLessThan(P);
    });
  }

  it("a whole refinement reaches the dense solution to 1e-8 (300 stills, smoother on)", () => {
    const setup = { nStills, initialScales: new Map<number, number>(), smoother: smootherSetup() };
    const options = { outlierZmax: 0, convergenceTolerance: 1e-10, maxIterations: 60 };
    const a = refineJointScaling(setup, undefined, input, options);
    const b = refineJointScaling(setup, undefined, input, { ...options, iterativeAbove: 10 });
    expect(a.scales.length).toBe(nStills);
    for (let s = 0; s < nStills; s++) expect(Math.abs(b.scales[s] - a.scales[s])).toBeLessThan(1e-8 * a.scales[s]);
    const av = a.smootherValues ?? new Float64Array(0);
    const bv = b.smootherValues ?? new Float64Array(0);
    for (let k = 0; k < av.length; k++) expect(Math.abs(bv[k] - av[k])).toBeLessThan(1e-8);
    // ESDs: diagonal estimate, positive and of the dense ESDs' order of magnitude
    for (let s = 0; s < nStills; s++) {
      expect(b.scaleEsds[s]).toBeGreaterThan(0);
      expect(b.scaleEsds[s]).toBeLessThan(3 * a.scaleEsds[s]);
      expect(b.scaleEsds[s]).toBeGreaterThan(a.scaleEsds[s] / 3);
    }
  });

  it("with many stills per group it solves matrix-free but keeps exact ESDs from the expanded dense matrix", () => {
    const byGroups = new JointScalingProblem(
      passSourceOf(observations),
      start,
      smootherSetup(),
      resolveScalingOptions({
        denseGroupLimit: 1,
      }),
    );
    expect(byGroups.iterative).toBe(true);
    expect(byGroups.denseAvailable).toBe(true);
    const ne = byGroups.buildDenseNormalEquations();
    expect(ne?.matrix.length).toBe(P * P);
    const m = ne?.matrix ?? new Float64Array(0);
    const scale = maxAbs(neDense.matrix);
    for (let i = 0; i < P * P; i++) expect(Math.abs(m[i] - neDense.matrix[i])).toBeLessThan(1e-11 * scale);

    const setup = { nStills, initialScales: new Map<number, number>(), smoother: smootherSetup() };
    const options = { outlierZmax: 0, convergenceTolerance: 1e-10, maxIterations: 60 };
    const a = refineJointScaling(setup, undefined, input, options);
    const b = refineJointScaling(setup, undefined, input, { ...options, denseGroupLimit: 1 });
    for (let s = 0; s < nStills; s++) {
      expect(Math.abs(b.scales[s] - a.scales[s])).toBeLessThan(1e-8 * a.scales[s]);
      expect(Math.abs(b.scaleEsds[s] - a.scaleEsds[s])).toBeLessThan(1e-6 * a.scaleEsds[s]);
    }
    // the smoother block too (the ESD step reuses the last matrix-free factors: restraints must enter once)
    const ea = a.smootherEsds ?? new Float64Array(0);
    const eb = b.smootherEsds ?? new Float64Array(0);
    expect(ea.length).toBeGreaterThan(1);
    expect(eb.length).toBe(ea.length);
    for (let k = 1; k < ea.length; k++) expect(Math.abs(eb[k] - ea[k])).toBeLessThan(1e-6 * ea[k]);
  });

  for (const iterativeAbove of [2000, 10]) {
    it(`reusing the speculative pass of computeObjective changes no LM step beyond rounding (${iterativeAbove === 10 ? "PCG" : "dense"})`, () => {
      const run = (speculativeNormalEquations: boolean) => {
        const problem = new JointScalingProblem(
          passSourceOf(observations),
          start,
          smootherSetup(),
          resolveScalingOptions({
            iterativeAbove,
            speculativeNormalEquations,
          }),
        );
        let passes = 0;
        const accumulate = problem.accumulate.bind(problem);
        problem.accumulate = (withMatrix: boolean) => {
          passes++;
          return accumulate(withMatrix);
        };
        const result = levenbergMarquardt(problem, {
          rmsdTolerance: 1e-10,
          maxIterations: 30,
          computeCovariance: false,
        });
        return { result, passes };
      };
      const plain = run(false);
      const spec = run(true);
      expect(spec.result.nIterations).toBe(plain.result.nIterations);
      expect(spec.result.nIterations).toBeGreaterThan(2);
      // one pass per accepted step saved
      expect(spec.passes).toBeLessThan(plain.passes);
      for (let i = 0; i < P; i++) {
        expect(Math.abs(spec.result.parameters[i] - plain.result.parameters[i])).toBeLessThan(1e-9);
      }
      for (let k = 0; k < plain.result.rmsdHistory.length; k++) {
        expect(Math.abs(spec.result.rmsdHistory[k] - plain.result.rmsdHistory[k])).toBeLessThan(
          1e-10 * plain.result.rmsdHistory[k],
        );
      }
    });
  }
});
