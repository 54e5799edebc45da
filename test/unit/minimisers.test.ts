import { describe, expect, it } from "vitest";
import { RefinementFailure } from "../../src/errors.ts";
import { gaussNewton } from "../../src/solve/gauss-newton.ts";
import { lbfgs } from "../../src/solve/lbfgs.ts";
import type { IterationInfo, LeastSquaresProblem, NormalEquations } from "../../src/solve/least-squares-problem.ts";
import { rmsdOf } from "../../src/solve/least-squares-problem.ts";
import { levenbergMarquardt } from "../../src/solve/levenberg-marquardt.ts";
import { rmsdConverged } from "../../src/solve/minimiser-steps.ts";
import { moreThuenteLineSearch } from "../../src/solve/more-thuente.ts";
import { arrowSolve } from "../../src/solve/schur-complement.ts";

/**
 * A small dense weighted least-squares problem: unweighted residuals r(x) (observed − model) with Jacobian dr/dx,
 * weights w, and optional DIALS-style restraint rows (residual x_k, weight λ_k).
 */
class DenseProblem implements LeastSquaresProblem {
  readonly nParameters: number;
  x: Float64Array;
  accepted = 0;
  private readonly names: string[];
  private readonly nObs: number;
  private readonly w: Float64Array;
  private readonly residual: (x: Float64Array) => Float64Array;
  private readonly jacobian: (x: Float64Array) => Float64Array;
  private readonly restraints: readonly { index: number; weight: number }[];

  constructor(args: {
    names: string[];
    x0: number[];
    weights: number[];
    residual: (x: Float64Array) => Float64Array;
    jacobian: (x: Float64Array) => Float64Array;
    restraints?: { index: number; weight: number }[];
  }) {
    this.names = args.names;
    this.nParameters = args.names.length;
    this.x = Float64Array.from(args.x0);
    this.w = Float64Array.from(args.weights);
    this.nObs = args.weights.length;
    this.residual = args.residual;
    this.jacobian = args.jacobian;
    this.restraints = args.restraints ?? [];
  }
  parameterNames(): readonly string[] {
    return this.names;
  }
  getParameters(): Float64Array {
    return Float64Array.from(this.x);
  }
  setParameters(x: Float64Array): void {
    this.x = Float64Array.from(x);
  }
  private sumWr2(): number {
    const r = this.residual(this.x);
    let s = 0;
    for (let i = 0; i < this.nObs; i++) s += this.w[i] * r[i] * r[i];
    for (const { index, weight } of this.restraints) s += weight * this.x[index] ** 2;
    return s;
  }
  buildNormalEquations(): NormalEquations {
    const n = this.nParameters;
    const r = this.residual(this.x);
    const j = this.jacobian(this.x);
    const matrix = new Float64Array(n * n);
    const gradient = new Float64Array(n);
    for (let i = 0; i < this.nObs; i++) {
      for (let a = 0; a < n; a++) {
        gradient[a] += j[i * n + a] * this.w[i] * r[i];
        for (let b = 0; b < n; b++) matrix[a * n + b] += j[i * n + a] * this.w[i] * j[i * n + b];
      }
    }
    for (const { index, weight } of this.restraints) {
      matrix[index * n + index] += weight;
      gradient[index] += weight * this.x[index];
    }
    return {
      n,
      matrix,
      gradient,
      objective: 0.5 * this.sumWr2(),
      nObservations: this.nObs,
      nEquations: this.nObs + this.restraints.length,
    };
  }
  computeObjective(): { objective: number; nObservations: number } {
    return { objective: 0.5 * this.sumWr2(), nObservations: this.nObs };
  }
  computeFunctionalAndGradient(): { f: number; gradient: Float64Array } {
    const ne = this.buildNormalEquations();
    return { f: 2 * ne.objective, gradient: ne.gradient.map((v) => 2 * v) };
  }
  afterAcceptedStep(): void {
    this.accepted++;
  }
}

// Straight line y = a + b t, unit weights. By hand: Σt = 6, Σt² = 14, Σy = 11, Σty = 22, so b = (4·22 − 6·11)/(4·14 − 36)
// = 1.1, a = (11 − 6.6)/4 = 1.1; residuals −0.1, 0.8, −1.3, 0.6; Σr² = 2.7; χ²_red = 2.7/2 = 1.35; N = [[4,6],[6,14]],
// N⁻¹ = [[0.7,−0.3],[−0.3,0.2]], V = 1.35·N⁻¹ = [[0.945,−0.405],[−0.405,0.27]].
const LINE_T = [0, 1, 2, 3];
const LINE_Y = [1, 3, 2, 5];
function lineProblem(x0: number[] = [0, 0]): DenseProblem {
  return new DenseProblem({
    names: ["a", "b"],
    x0,
    weights: [1, 1, 1, 1],
    residual: (x) => Float64Array.from(LINE_T, (t, i) => LINE_Y[i] - (x[0] + x[1] * t)),
    jacobian: () => Float64Array.from(LINE_T.flatMap((t) => [-1, -t])),
  });
}

// Weighted exponential decay y = A exp(−k t); reference optimum and covariance from scipy (see
// test/fixtures/solve/exp-decay-reference.py and .txt).
const EXP_T = Array.from({ length: 10 }, (_, i) => i);
const EXP_Y = [
  5.05, 3.6740911034085895, 2.764058180470132, 1.9928482987029956, 1.5159710595610105, 1.145650800742149,
  0.8064944411079328, 0.6272821412649096, 0.44358976644706255, 0.3410275636987489,
];
const EXP_W = EXP_T.map((t) => 1 / (0.1 + 0.01 * t) ** 2);
const EXP_OPT = [5.030913025115609, 0.3029874777215314];
const EXP_SUM_WR2 = 0.3928819312460733;
const EXP_V = [0.00038864629770635033, 2.836905454851606e-5, 2.836905454851606e-5, 6.617305700770524e-6];
function expProblem(x0: number[] = [1, 0.1]): DenseProblem {
  return new DenseProblem({
    names: ["A", "k"],
    x0,
    weights: EXP_W,
    residual: (x) => Float64Array.from(EXP_T, (t, i) => EXP_Y[i] - x[0] * Math.exp(-x[1] * t)),
    jacobian: (x) => Float64Array.from(EXP_T.flatMap((t) => [-Math.exp(-x[1] * t), x[0] * t * Math.exp(-x[1] * t)])),
  });
}

// DIALS tests/algorithms/scaling/test_targetscaler.py::test_scale_against_target: KB model g = K exp(B/(2d²)) fitted
// against fixed target intensities (fixed-Ih target, r = I − g·Ih, w = 1/variance). DIALS expects K = 4^(−1/3)/2 and
// B = 8·ln4/3 exactly.
const KB_I = [2, 5, 2];
const KB_VAR = [2, 5, 2];
const KB_D = [1, 2, 1];
const KB_IH = [1, 10, 1];
function kbProblem(x0: number[] = [1, 0]): DenseProblem {
  return new DenseProblem({
    names: ["scale", "decay"],
    x0,
    weights: KB_VAR.map((v) => 1 / v),
    residual: (x) => Float64Array.from(KB_I, (obs, i) => obs - x[0] * Math.exp(x[1] / (2 * KB_D[i] ** 2)) * KB_IH[i]),
    jacobian: (x) =>
      Float64Array.from(
        KB_D.flatMap((d, i) => {
          const e = Math.exp(x[1] / (2 * d * d));
          return [-KB_IH[i] * e, (-KB_IH[i] * x[0] * e) / (2 * d * d)];
        }),
      ),
  });
}
const KB_K = 4 ** (-1 / 3) / 2;
const KB_B = (8 * Math.log(4)) / 3;

/** A problem whose model is √p: steps to p < 0 make the objective NaN. */
function sqrtProblem(): DenseProblem {
  const y = [0.01, 0.012, 0.008];
  return new DenseProblem({
    names: ["p"],
    x0: [1],
    weights: [1, 1, 1],
    residual: (x) => Float64Array.from(y, (v) => v - Math.sqrt(x[0])),
    jacobian: (x) => Float64Array.from(y, () => -0.5 / Math.sqrt(x[0])),
  });
}

function relClose(actual: number, expected: number, rel: number): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(rel * Math.abs(expected));
}

describe("rmsdOf", () => {
  it("is sqrt(2·objective/n) (DIALS test_target_function: ½Σwr² = 1 over 3 observations gives √(2/3))", () => {
    expect(rmsdOf(1, 3)).toBeCloseTo(Math.sqrt(2 / 3), 15);
    expect(rmsdOf(4, 3)).toBeCloseTo(Math.sqrt(8 / 3), 15);
    expect(rmsdOf(1, 0)).toBeNaN();
  });
});

describe("rmsdConverged (DIALS ScalingRefinery.test_rmsd_convergence)", () => {
  it("compares |(rmsd[−2] − rmsd[−1]) / rmsd[−2]| with the tolerance and treats rmsd[−2] ≤ 0 as converged", () => {
    expect(rmsdConverged([5], 1)).toBe(false);
    expect(rmsdConverged([9, 2, 1], 0.6)).toBe(true); // 0.5 < 0.6
    expect(rmsdConverged([2, 1], 0.5)).toBe(false); // 0.5 is not < 0.5
    expect(rmsdConverged([1, 2], 1.01)).toBe(true); // an increase of 100 % is below 1.01
    expect(rmsdConverged([0, 3], 1e-4)).toBe(true);
  });
});

describe("gaussNewton", () => {
  it("solves a linear problem in one step", () => {
    const p = lineProblem();
    const res = gaussNewton(p, { maxIterations: 1 });
    expect(res.nIterations).toBe(1);
    expect(res.stopReason).toBe("max_iterations");
    expect(res.converged).toBe(false);
    expect(res.parameters[0]).toBeCloseTo(1.1, 12);
    expect(res.parameters[1]).toBeCloseTo(1.1, 12);
    expect(Array.from(p.x)).toEqual(Array.from(res.parameters));
  });

  it("converges on the RMSD criterion once the step vanishes, with V = χ²_red·N⁻¹ (hand computation)", () => {
    const res = gaussNewton(lineProblem());
    expect(res.stopReason).toBe("rmsd_converged");
    expect(res.converged).toBe(true);
    expect(res.nIterations).toBe(2);
    expect(res.rmsdHistory).toHaveLength(3);
    expect(res.rmsdHistory[2]).toBeCloseTo(Math.sqrt(2.7 / 4), 12);
    const expected = [0.945, -0.405, -0.405, 0.27];
    for (let i = 0; i < 4; i++) expect(res.varianceCovariance[i]).toBeCloseTo(expected[i], 12);
    expect(res.esds[0]).toBeCloseTo(Math.sqrt(0.945), 12);
    expect(res.esds[1]).toBeCloseTo(Math.sqrt(0.27), 12);
  });

  it("reaches the scipy optimum of a weighted exponential fit, with scipy's covariance", () => {
    const res = gaussNewton(expProblem([4, 0.25]), { rmsdTolerance: 1e-12 });
    relClose(res.parameters[0], EXP_OPT[0], 1e-9);
    relClose(res.parameters[1], EXP_OPT[1], 1e-9);
    relClose(2 * res.objectiveHistory[res.objectiveHistory.length - 1], EXP_SUM_WR2, 1e-9);
    for (let i = 0; i < 4; i++) relClose(res.varianceCovariance[i], EXP_V[i], 1e-6);
  });

  it("steps back and stops when the objective increases", () => {
    // r = −atan(x) (twice): the Gauss–Newton iteration x ← x − atan(x)(1 + x²) overshoots from 1.5 to −1.69,
    // where |atan| is larger
    const p = new DenseProblem({
      names: ["x"],
      x0: [1.5],
      weights: [1, 1],
      residual: (x) => Float64Array.from([0 - Math.atan(x[0]), 0 - Math.atan(x[0])]),
      jacobian: (x) => Float64Array.from([-1 / (1 + x[0] ** 2), -1 / (1 + x[0] ** 2)]),
    });
    const res = gaussNewton(p);
    expect(res.stopReason).toBe("objective_increased");
    expect(res.converged).toBe(false);
    expect(res.parameters[0]).toBe(1.5);
    expect(p.x[0]).toBe(1.5);
    expect(res.objectiveHistory).toHaveLength(2);
    expect(res.objectiveHistory[1]).toBeGreaterThan(res.objectiveHistory[0]);
  });

  it("finds the DIALS targeted-scaling KB solution from a nearby start", () => {
    // (from K = 1, B = 0 the undamped first step overshoots and GN stops with objective_increased)
    const res = gaussNewton(kbProblem([0.3, 3.5]));
    relClose(res.parameters[0], KB_K, 1e-6);
    relClose(res.parameters[1], KB_B, 1e-6);
  });

  it("throws RefinementFailure with the last good parameters when the objective becomes NaN", () => {
    const p = sqrtProblem();
    let err: unknown;
    try {
      gaussNewton(p);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RefinementFailure);
    expect(Array.from((err as RefinementFailure).lastGoodParameters ?? [])).toEqual([1]);
  });

  it("rejects problems with fewer than nParameters + 1 equations", () => {
    const p = new DenseProblem({
      names: ["a", "b"],
      x0: [0, 0],
      weights: [1, 1],
      residual: (x) => Float64Array.from([1 - x[0], 2 - x[1]]),
      jacobian: () => Float64Array.from([-1, 0, 0, -1]),
    });
    expect(() => gaussNewton(p)).toThrow(/degrees of freedom/);
  });
});

describe("levenbergMarquardt", () => {
  it("reaches the scipy optimum with a non-increasing objective and calls afterAcceptedStep per accepted step", () => {
    const p = expProblem();
    const infos: IterationInfo[] = [];
    const res = levenbergMarquardt(p, { rmsdTolerance: 1e-12, onIteration: (i) => infos.push(i) });
    relClose(res.parameters[0], EXP_OPT[0], 1e-8);
    relClose(res.parameters[1], EXP_OPT[1], 1e-8);
    for (let i = 1; i < res.objectiveHistory.length; i++) {
      expect(res.objectiveHistory[i]).toBeLessThan(res.objectiveHistory[i - 1]);
    }
    expect(p.accepted).toBe(res.objectiveHistory.length - 1);
    expect(res.rmsdHistory).toHaveLength(res.objectiveHistory.length);
    expect(infos.length).toBeGreaterThanOrEqual(res.objectiveHistory.length);
    expect(infos.every((i) => i.mu !== undefined && i.mu > 0)).toBe(true);
    expect(Array.from(p.x)).toEqual(Array.from(res.parameters));
  });

  it("starts from mu = 1e-3·max(diag N)", () => {
    const infos: IterationInfo[] = [];
    levenbergMarquardt(lineProblem(), { maxIterations: 0, onIteration: (i) => infos.push(i) });
    // N = [[4,6],[6,14]] → mu = 0.014
    expect(infos).toHaveLength(1);
    expect(infos[0].mu).toBeCloseTo(0.014, 15);
  });

  it("divides μ by 3 after every step of a linear problem (ρ = 1 exactly, so max(1/3, 1 − (2ρ − 1)³) = 1/3)", () => {
    // for a linear model the actual decrease ½hᵀNh + μhᵀh equals the predicted ½hᵀ(μh − g) since (N + μI)h = −g
    const infos: IterationInfo[] = [];
    levenbergMarquardt(lineProblem(), { onIteration: (i) => infos.push(i) });
    expect(infos.length).toBeGreaterThanOrEqual(3);
    infos.forEach((info, i) => {
      relClose(info.mu ?? Number.NaN, 0.014 / 3 ** i, 1e-9);
      expect(info.iteration).toBe(i);
    });
  });

  it("on rejection multiplies μ by ν and doubles ν (hand-computed schedule on r = −atan(x) from 1.5)", () => {
    // N = 2/(1+x²)², g = 2 atan(x)/(1+x²); h = −g/(N + μ) is rejected while x + h < −1.5, i.e. for
    // μ/μ0 = 1, 2, 8, 64 (ρ = −0.113, −0.111, −0.100, −0.0012) and accepted at μ/μ0 = 1024 (ρ = 1.336), after which
    // μ is divided by 3 (1 − (2ρ − 1)³ < 1/3) and ν resets to 2
    const p = new DenseProblem({
      names: ["x"],
      x0: [1.5],
      weights: [1, 1],
      residual: (x) => Float64Array.from([-Math.atan(x[0]), -Math.atan(x[0])]),
      jacobian: (x) => Float64Array.from([-1 / (1 + x[0] ** 2), -1 / (1 + x[0] ** 2)]),
    });
    const infos: IterationInfo[] = [];
    const res = levenbergMarquardt(p, { maxIterations: 6, onIteration: (i) => infos.push(i) });
    const mu0 = 1e-3 * (2 / (1 + 1.5 ** 2) ** 2);
    const ratios = infos.map((i) => (i.mu ?? Number.NaN) / mu0);
    const expected = [1, 2, 8, 64, 1024, 1024 / 3];
    for (let i = 0; i < expected.length; i++) relClose(ratios[i], expected[i], 1e-12);
    expect(infos.map((i) => i.iteration).slice(0, 6)).toEqual([0, 1, 2, 3, 4, 5]);
    // the four rejected trials leave no trace in the histories
    expect(res.objectiveHistory[0]).toBeCloseTo(Math.atan(1.5) ** 2, 14);
    expect(res.objectiveHistory[1]).toBeCloseTo(Math.atan(-0.0781025694435864) ** 2, 10);
    expect(res.objectiveHistory[1]).toBeLessThan(res.objectiveHistory[0]);
  });

  it("gives up with damping_exhausted after the rejection at ν = 8192 (13 consecutive rejections)", () => {
    // a problem whose trial objectives are always worse: every step is rejected
    const p = lineProblem();
    const base = p.computeObjective.bind(p);
    p.computeObjective = () => ({ ...base(), objective: base().objective + 100 });
    const infos: IterationInfo[] = [];
    const res = levenbergMarquardt(p, { onIteration: (i) => infos.push(i) });
    expect(res.stopReason).toBe("damping_exhausted");
    expect(res.converged).toBe(false);
    expect(res.nIterations).toBe(13);
    expect(infos).toHaveLength(13);
    // μ is multiplied by ν = 2, 4, 8, ... after each rejection: μ_k = μ0·2^(k(k+1)/2)
    infos.forEach((info, k) => {
      relClose(info.mu ?? Number.NaN, 0.014 * 2 ** ((k * (k + 1)) / 2), 1e-12);
    });
    expect(Array.from(res.parameters)).toEqual([0, 0]);
    expect(res.rmsdHistory).toHaveLength(1);
    expect(p.accepted).toBe(0);
  });

  it("ESDs are χ²_red·(N + μI)⁻¹ with the μ of the last solve (hand computation on a line fit)", () => {
    const infos: IterationInfo[] = [];
    const res = levenbergMarquardt(lineProblem(), { onIteration: (i) => infos.push(i) });
    expect(res.converged).toBe(true);
    const mu = infos[infos.length - 1].mu ?? Number.NaN;
    const [a, b] = res.parameters;
    let sr2 = 0;
    for (let i = 0; i < 4; i++) sr2 += (LINE_Y[i] - a - b * LINE_T[i]) ** 2;
    const chi2 = sr2 / (4 - 2);
    // (N + μI)⁻¹ for N = [[4,6],[6,14]] by the 2×2 formula
    const det = (4 + mu) * (14 + mu) - 36;
    const expected = [(chi2 * (14 + mu)) / det, (-chi2 * 6) / det, (-chi2 * 6) / det, (chi2 * (4 + mu)) / det];
    for (let i = 0; i < 4; i++) relClose(res.varianceCovariance[i], expected[i], 1e-12);
    relClose(res.esds[0], Math.sqrt(expected[0]), 1e-12);
    relClose(res.esds[1], Math.sqrt(expected[3]), 1e-12);
    // the fit itself is the hand solution
    expect(a).toBeCloseTo(1.1, 3);
    expect(b).toBeCloseTo(1.1, 3);
  });

  it("reports max_iterations (not converged) when stopped by the iteration limit", () => {
    const res = levenbergMarquardt(expProblem(), { maxIterations: 2 });
    expect(res.nIterations).toBe(2);
    expect(res.stopReason).toBe("max_iterations");
    expect(res.converged).toBe(false);
  });

  it("throws the indeterminate-solution error naming parameters with a zero gradient", () => {
    const p = new DenseProblem({
      names: ["a", "unused", "b"],
      x0: [0, 0, 0],
      weights: [1, 1, 1, 1],
      residual: (x) => Float64Array.from(LINE_T, (t, i) => LINE_Y[i] - (x[0] + x[2] * t)),
      jacobian: () => Float64Array.from(LINE_T.flatMap((t) => [-1, 0, -t])),
    });
    expect(() => levenbergMarquardt(p)).toThrow(RefinementFailure);
    expect(() => levenbergMarquardt(p)).toThrow(/indeterminate solution.*unused$/);
  });

  it("throws RefinementFailure carrying the last good parameters when a step makes the objective NaN", () => {
    const p = sqrtProblem();
    let err: unknown;
    try {
      levenbergMarquardt(p);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RefinementFailure);
    expect(Array.from((err as RefinementFailure).lastGoodParameters ?? [])).toEqual([1]);
    expect(p.x[0]).toBe(1);
  });

  it("throws RefinementFailure when the starting objective is not finite", () => {
    const p = expProblem([Number.NaN, 0.1]);
    expect(() => levenbergMarquardt(p)).toThrow(RefinementFailure);
  });

  it("finds the DIALS targeted-scaling KB solution", () => {
    const res = levenbergMarquardt(kbProblem());
    relClose(res.parameters[0], KB_K, 1e-6);
    relClose(res.parameters[1], KB_B, 1e-6);
  });

  it("counts restraint rows as equations in χ²_red and includes them in the objective", () => {
    // line fit with a ridge restraint λ b² (λ = 2): objective ½(Σr² + 2b²); by hand the normal equations are
    // [[4,6],[6,16]] (a,b) = (11,22): b = (4·22 − 6·11)/(4·16 − 36) = 22/28, a = (11 − 6b)/4
    const p = new DenseProblem({
      names: ["a", "b"],
      x0: [0, 0],
      weights: [1, 1, 1, 1],
      residual: (x) => Float64Array.from(LINE_T, (t, i) => LINE_Y[i] - (x[0] + x[1] * t)),
      jacobian: () => Float64Array.from(LINE_T.flatMap((t) => [-1, -t])),
      restraints: [{ index: 1, weight: 2 }],
    });
    const infos: IterationInfo[] = [];
    const res = gaussNewton(p, { onIteration: (i) => infos.push(i) });
    const b = 22 / 28;
    const a = (11 - 6 * b) / 4;
    expect(res.parameters[0]).toBeCloseTo(a, 12);
    expect(res.parameters[1]).toBeCloseTo(b, 12);
    let s = 2 * b * b;
    for (let i = 0; i < 4; i++) s += (LINE_Y[i] - a - b * LINE_T[i]) ** 2;
    relClose(res.objectiveHistory[res.objectiveHistory.length - 1], s / 2, 1e-12);
    // RMSD over observations only: √(Σ / 4); χ²_red over 5 equations − 2 parameters
    relClose(res.rmsdHistory[res.rmsdHistory.length - 1], Math.sqrt(s / 4), 1e-12);
    const det = 4 * 16 - 36;
    relClose(res.varianceCovariance[0], ((s / 3) * 16) / det, 1e-12);
  });

  it("uses the problem's solveDamped when present and matches the dense path", () => {
    // per-group offsets o_g (arrow part) plus a shared slope s: y_i = o_g(i) + s·t_i
    const t = [0, 1, 2, 0, 1, 3, 0, 2, 4];
    const grp = [0, 0, 0, 1, 1, 1, 2, 2, 2];
    const y = [1, 2.1, 2.9, 3, 4.2, 5.8, -1, 1.1, 2.9];
    const w = [1, 2, 1, 1, 1, 2, 2, 1, 1];
    const make = (): DenseProblem =>
      new DenseProblem({
        names: ["o0", "o1", "o2", "s"],
        x0: [0, 0, 0, 0],
        weights: w,
        residual: (x) => Float64Array.from(t, (ti, i) => y[i] - x[grp[i]] - x[3] * ti),
        jacobian: () =>
          Float64Array.from(
            t.flatMap((ti, i) => [grp[i] === 0 ? -1 : 0, grp[i] === 1 ? -1 : 0, grp[i] === 2 ? -1 : 0, -ti]),
          ),
      });
    const dense = levenbergMarquardt(make());
    const structured = make();
    let calls = 0;
    const withSolver: LeastSquaresProblem = Object.assign(structured, {
      solveDamped: (ne: NormalEquations, mu: number, rhs: Float64Array) => {
        calls++;
        const m = ne.matrix;
        return arrowSolve(
          {
            nBlocks: 3,
            blockSize: 1,
            d: Float64Array.from([m[0], m[5], m[10]]),
            k: 1,
            b: Float64Array.from([m[3], m[7], m[11]]),
            c: Float64Array.from([m[15]]),
          },
          rhs,
          { shift: mu },
        );
      },
    });
    const res = levenbergMarquardt(withSolver);
    expect(calls).toBeGreaterThan(0);
    expect(res.nIterations).toBe(dense.nIterations);
    for (let i = 0; i < 4; i++) expect(res.parameters[i]).toBeCloseTo(dense.parameters[i], 10);
    for (let i = 0; i < 16; i++) expect(res.varianceCovariance[i]).toBeCloseTo(dense.varianceCovariance[i], 10);
  });

  it("rejects invalid options with ConfigError", () => {
    expect(() => levenbergMarquardt(lineProblem(), { maxIterations: -1 })).toThrow(/maxIterations/);
    expect(() => levenbergMarquardt(lineProblem(), { rmsdTolerance: Number.NaN })).toThrow(/rmsdTolerance/);
  });
});

describe("moreThuenteLineSearch", () => {
  // Moré & Thuente (1994) test function 1: φ(α) = −α/(α² + β), β = 2, with ftol = 1e-3, gtol = 0.1
  const beta = 2;
  const evaluate = (x: Float64Array): { f: number; gradient: Float64Array } => {
    const a = x[0];
    return { f: -a / (a * a + beta), gradient: Float64Array.of((a * a - beta) / (a * a + beta) ** 2) };
  };
  for (const stp of [1e-3, 1e-1, 10, 1000]) {
    it(`satisfies the strong Wolfe conditions from α0 = ${stp}`, () => {
      const r = moreThuenteLineSearch(
        evaluate,
        Float64Array.of(0),
        0,
        Float64Array.of(-1 / beta),
        Float64Array.of(1),
        stp,
        {
          ftol: 1e-3,
          gtol: 0.1,
        },
      );
      expect(r.status).toBe("converged");
      expect(r.f).toBeLessThanOrEqual(0 + 1e-3 * r.stp * (-1 / beta));
      expect(Math.abs(r.g[0])).toBeLessThanOrEqual(0.1 * (1 / beta));
      expect(r.x[0]).toBe(r.stp);
      expect(r.nfev).toBeLessThanOrEqual(20);
    });
  }
  it("accepts the first trial when it already satisfies both conditions (α0 = 10: one evaluation)", () => {
    const r = moreThuenteLineSearch(
      evaluate,
      Float64Array.of(0),
      0,
      Float64Array.of(-1 / beta),
      Float64Array.of(1),
      10,
      {
        ftol: 1e-3,
        gtol: 0.1,
      },
    );
    expect(r.nfev).toBe(1);
    expect(r.stp).toBe(10);
  });
  it("reports a non-descent direction without evaluating", () => {
    let calls = 0;
    const r = moreThuenteLineSearch(
      (x) => {
        calls++;
        return evaluate(x);
      },
      Float64Array.of(0),
      0,
      Float64Array.of(-0.5),
      Float64Array.of(-1),
      1,
    );
    expect(r.status).toBe("not_descent");
    expect(calls).toBe(0);
  });
});

describe("lbfgs", () => {
  // Rosenbrock as least squares: r1 = 10(x2 − x1²), r2 = 1 − x1; f = Σr² is the classic function, minimum at (1, 1)
  const rosenbrock = (): DenseProblem =>
    new DenseProblem({
      names: ["x1", "x2"],
      x0: [-1.2, 1],
      weights: [1, 1],
      residual: (x) => Float64Array.of(10 * (x[1] - x[0] ** 2), 1 - x[0]),
      jacobian: (x) => Float64Array.of(-20 * x[0], 10, -1, 0),
    });

  it("minimises the Rosenbrock function and stops on the gradient test (not 'converged')", () => {
    const p = rosenbrock();
    const res = lbfgs(p, { rmsdTolerance: 0 });
    expect(res.stopReason).toBe("gradient_small");
    expect(res.converged).toBe(false);
    expect(res.parameters[0]).toBeCloseTo(1, 3);
    expect(res.parameters[1]).toBeCloseTo(1, 3);
    expect(res.esds.every((v) => Number.isNaN(v))).toBe(true);
    expect(Array.from(p.x)).toEqual(Array.from(res.parameters));
  });

  it("reaches the scipy optimum of the weighted exponential fit", () => {
    const res = lbfgs(expProblem(), { rmsdTolerance: 0 });
    expect(["gradient_small", "objective_flat"]).toContain(res.stopReason);
    expect(Math.abs(res.parameters[0] - EXP_OPT[0])).toBeLessThan(1e-6);
    expect(Math.abs(res.parameters[1] - EXP_OPT[1])).toBeLessThan(1e-6);
  });

  it("finds the DIALS targeted-scaling KB solution (DIALS's default engine for this test)", () => {
    const res = lbfgs(kbProblem());
    relClose(res.parameters[0], KB_K, 1e-6);
    relClose(res.parameters[1], KB_B, 1e-6);
  });

  it("stops at maxIterations with converged = false", () => {
    const res = lbfgs(rosenbrock(), { maxIterations: 3 });
    expect(res.nIterations).toBe(3);
    expect(res.stopReason).toBe("max_iterations");
    expect(res.converged).toBe(false);
    expect(res.objectiveHistory).toHaveLength(4);
  });

  it("leaves the initial point out of the RMSD test, as DIALS's journal does", () => {
    const res = lbfgs(rosenbrock(), { rmsdTolerance: 10 });
    expect(res.stopReason).toBe("rmsd_converged");
    expect(res.converged).toBe(true);
    expect(res.nIterations).toBe(2);
  });

  it("stops immediately at a zero gradient", () => {
    // the stationary point of (1 − a)² + (3 − a)² is a = 2 exactly
    const p = new DenseProblem({
      names: ["a"],
      x0: [2],
      weights: [1, 1],
      residual: (x) => Float64Array.of(1 - x[0], 3 - x[0]),
      jacobian: () => Float64Array.of(-1, -1),
    });
    const r = lbfgs(p);
    expect(r.stopReason).toBe("gradient_small");
    expect(r.nIterations).toBe(0);
  });

  it("throws RefinementFailure with the best parameters seen when f becomes NaN", () => {
    const p = sqrtProblem();
    let err: unknown;
    try {
      lbfgs(p);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RefinementFailure);
    const good = (err as RefinementFailure).lastGoodParameters;
    expect(good).toBeDefined();
    expect(good?.[0]).toBeGreaterThan(0);
    expect(p.x[0]).toBe(good?.[0]);
  });
});
