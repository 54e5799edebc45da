/**
 * `JointScalingProblem`: the joint Bragg + diffuse least-squares problem of the v1 model as a
 * {@link LeastSquaresProblem} the DIALS minimisers (LM, Gauss–Newton, L-BFGS) drive.
 *
 * Parameters, in order: `θ_s = ln b_s` for every still (so a scale can never cross zero), then the free smoother
 * values `c_1 … c_{K−1}` (the first value is fixed at 1, which removes the `b·k, a/k` degeneracy). References are
 * eliminated exactly (DIALS's target with `dIh/dp`), so each step is a true step of the joint problem.
 *
 * Gauge: the objective is exactly invariant under `θ → θ + t·1` (every b times e^t, every reference divided by it), so
 * `J·1 = 0`. The normal matrix gets `γ·11ᵀ` on its θ block (γ = mean θ diagonal / N): this makes it non-singular
 * without changing any step, because the gradient is orthogonal to `1` and so is the solution. After every accepted
 * step the θ are re-centred to mean 0, i.e. the geometric mean of the scales is pinned to 1 and nothing drifts.
 *
 * Smoothness restraint: `λ·Σ_k (c_{k−1} − 2c_k + c_{k+1})²` over the interior values (K ≥ 3), or `λ·(c_1 − c_0)²` for a
 * 2-value smoother, as restraint rows with weight λ (DIALS's Jacobian-restraint form).
 *
 * @packageDocumentation
 */
import type { LeastSquaresProblem, NormalEquations } from "../solve/least-squares-problem.ts";
import {
  accumulateJointNormalEquations,
  createJointAccumulation,
  type GroupedColumns,
  type JointAccumulation,
  type JointModelState,
} from "../kernels/joint-normal-equations.ts";
import type { SmootherKernelState } from "../kernels/smoother-weights.ts";
import { smoothnessRestraintRows } from "./smoothness-restraint.ts";

/** The resolution smoother as the joint problem sees it. */
export interface JointSmootherSetup {
  /** Smoother constants (from `GaussianSmoother1D` over the resolution range). */
  readonly kernel: SmootherKernelState;
  /** |q| below/above this range is clamped to it. */
  readonly qMin: number;
  /** Upper end of the |q| range. */
  readonly qMax: number;
  /** Initial values, length K; values[0] is fixed. */
  readonly initialValues: Float64Array;
  /** Restraint weight λ of the smoothness restraint. */
  readonly restraintWeight: number;
}

/** The joint problem over grouped observations. */
export class JointScalingProblem implements LeastSquaresProblem {
  readonly nParameters: number;
  readonly nStills: number;
  readonly nFreeSmoother: number;
  private readonly columns: GroupedColumns;
  private readonly nGroups: number;
  private readonly theta: Float64Array;
  private readonly values: Float64Array | undefined;
  private readonly smoother: JointSmootherSetup | undefined;
  private readonly names: string[];

  /**
   * @param columns - Observations sorted by group then still.
   * @param initialScales - Initial b per still (positive).
   * @param smoother - The resolution smoother, or undefined when it is off.
   */
  constructor(columns: GroupedColumns, initialScales: Float64Array, smoother: JointSmootherSetup | undefined) {
    this.columns = columns;
    this.nGroups = columns.groupStart.length - 1;
    this.nStills = initialScales.length;
    this.theta = new Float64Array(this.nStills);
    for (let s = 0; s < this.nStills; s++) this.theta[s] = Math.log(initialScales[s]);
    this.smoother = smoother;
    this.values = smoother === undefined ? undefined : Float64Array.from(smoother.initialValues);
    this.nFreeSmoother = smoother === undefined ? 0 : smoother.kernel.nValues - 1;
    this.nParameters = this.nStills + this.nFreeSmoother;
    this.names = [];
    for (let s = 0; s < this.nStills; s++) this.names.push(`per_still_scale_param${s}`);
    for (let k = 1; k <= this.nFreeSmoother; k++) this.names.push(`resolution_smoother_param${k}`);
    this.recentre();
  }

  parameterNames(): readonly string[] {
    return this.names;
  }

  getParameters(): Float64Array {
    const x = new Float64Array(this.nParameters);
    x.set(this.theta);
    if (this.values !== undefined) x.set(this.values.subarray(1), this.nStills);
    return x;
  }

  setParameters(x: Float64Array): void {
    this.theta.set(x.subarray(0, this.nStills));
    if (this.values !== undefined) this.values.set(x.subarray(this.nStills), 1);
  }

  /** Current per-still scales b_s = exp(θ_s). */
  scales(): Float64Array {
    return this.theta.map(Math.exp);
  }

  /** Current smoother values (length K, first fixed), or undefined. */
  smootherValues(): Float64Array | undefined {
    return this.values?.slice();
  }

  /** The model state handed to the kernels. */
  modelState(): JointModelState {
    const smoother = this.smoother;
    const values = this.values;
    return {
      scales: this.scales(),
      smoother:
        smoother === undefined || values === undefined
          ? undefined
          : { ...smoother.kernel, values, qMin: smoother.qMin, qMax: smoother.qMax },
    };
  }

  /** One pass over all observations. */
  accumulate(withMatrix: boolean): JointAccumulation {
    const acc = createJointAccumulation(this.nParameters, withMatrix);
    accumulateJointNormalEquations(this.columns, this.modelState(), 0, this.nGroups, acc);
    return acc;
  }

  /** Adds the smoothness restraint rows to an accumulation; returns the number of restraint rows. */
  private addRestraints(acc: JointAccumulation): number {
    const smoother = this.smoother;
    const c = this.values;
    if (smoother === undefined || c === undefined) return 0;
    const lambda = smoother.restraintWeight;
    const P = this.nParameters;
    const base = this.nStills; // free value j (1-based) is parameter base + j − 1
    const { residuals, entries } = smoothnessRestraintRows(c);
    for (const r of residuals) acc.objective += 0.5 * lambda * r * r;
    for (const [row, col, coeff] of entries) {
      acc.gradient[base + col] += lambda * residuals[row] * coeff;
      if (acc.matrix === undefined) continue;
      for (const [row2, col2, coeff2] of entries) {
        if (row2 === row) acc.matrix[(base + col) * P + base + col2] += lambda * coeff * coeff2;
      }
    }
    return residuals.length;
  }

  /** Adds the gauge term γ·11ᵀ to the θ block of a normal matrix (see the module comment); returns γ. */
  addGaugeTerm(matrix: Float64Array): number {
    const P = this.nParameters;
    const n = this.nStills;
    let trace = 0;
    for (let s = 0; s < n; s++) trace += matrix[s * P + s];
    const gamma = n > 0 && trace > 0 ? trace / (n * n) : 1;
    for (let i = 0; i < n; i++) {
      const row = i * P;
      for (let j = 0; j < n; j++) matrix[row + j] += gamma;
    }
    return gamma;
  }

  buildNormalEquations(): NormalEquations {
    const acc = this.accumulate(true);
    const nRestraints = this.addRestraints(acc);
    const matrix = acc.matrix ?? new Float64Array(0);
    this.addGaugeTerm(matrix);
    return {
      n: this.nParameters,
      matrix,
      gradient: acc.gradient,
      objective: acc.objective,
      nObservations: acc.nObservations,
      nEquations: acc.nObservations + nRestraints,
    };
  }

  computeObjective(): { objective: number; nObservations: number } {
    const acc = this.accumulate(false);
    this.addRestraints(acc);
    return { objective: acc.objective, nObservations: acc.nObservations };
  }

  computeFunctionalAndGradient(): { f: number; gradient: Float64Array } {
    const acc = this.accumulate(false);
    this.addRestraints(acc);
    return { f: 2 * acc.objective, gradient: acc.gradient.map((v) => 2 * v) };
  }

  afterAcceptedStep(): void {
    this.recentre();
  }

  /** Pins the gauge: mean θ = 0, i.e. geometric mean of the scales = 1. */
  private recentre(): void {
    const n = this.nStills;
    if (n === 0) return;
    let mean = 0;
    for (let s = 0; s < n; s++) mean += this.theta[s];
    mean /= n;
    for (let s = 0; s < n; s++) this.theta[s] -= mean;
  }
}
