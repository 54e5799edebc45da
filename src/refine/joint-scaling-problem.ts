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
 * Passes over the observations run on fixed shards (`passes/joint-pass.ts`), in this thread or on worker
 * threads, with bit-identical results for any thread count.
 *
 * Solver: the dense normal matrix is formed and the minimisers factor it (Cholesky) unless there are more than
 * `iterativeAbove` stills (default 2000), or forming it would cost more than `denseGroupLimit` updates per (group,
 * still) pair (many stills per voxel: the formation costs Σ pairs², which grows with the square of the observations
 * per voxel). Then the matrix is not formed for the steps: each pass stores the per-group low-rank factors of `JᵀWJ`
 * (~20 bytes per (group, still) pair), and the damped, gauge-augmented system is solved by conjugate gradients with a
 * Jacobi (diagonal) preconditioner to a relative residual of 1e-13 (the group products run on the same fixed shards
 * and threads), which reproduces the Cholesky step to ~1e-10 (tested to 1e-8). Should PCG not converge, the matrix is
 * expanded from the factors and factored. ESDs: exact up to `iterativeAbove` stills — the dense matrix of the final
 * pass, or in matrix-free mode the matrix expanded from the last factors (in parallel over the shards; no pass when
 * they are at the solution) — and above it χ²_red / N_ii only.
 *
 * @packageDocumentation
 */
import type { GroupReferenceArrays } from "../passes/group-references.ts";
import type { LeastSquaresProblem, NormalEquations } from "../solve/least-squares-problem.ts";
import { applyLowRankBlocks } from "../passes/low-rank-operator.ts";
import type { JointAccumulation, LowRankSums } from "../passes/joint-accumulation.ts";
import type { JointModelState } from "../passes/inverse-scales.ts";
import { JointPassRunner, pairStartOf, type PassSource } from "../passes/joint-pass.ts";
import { PassMode } from "../passes/pass-payload.ts";
import type { OutlierWeightCounts, RowErrorModel } from "../passes/outlier-weights.ts";
import { choleskyFactorKernel, choleskySolveInPlace } from "../solve/cholesky.ts";
import { conjugateGradient } from "../solve/conjugate-gradient.ts";
import type { SmootherKernelState } from "../dials/smoother-weights.ts";
import { smoothnessRestraintRows } from "./smoothness-restraint.ts";
import { SCALING_DEFAULTS, type ResolvedScalingOptions } from "./scaling-options.ts";

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

/**
 * Options of {@link JointScalingProblem}: the solver knobs of the resolved refinement options (see
 * `resolveScalingOptions`; its defaults are `SCALING_DEFAULTS`).
 */
export type JointScalingProblemOptions = Pick<
  ResolvedScalingOptions,
  "threads" | "iterativeAbove" | "shardRows" | "denseGroupLimit" | "speculativeNormalEquations"
>;

/**
 * What the problem remembers of its last passes, so that no pass runs twice at the same parameters.
 *
 * Invalidation rule: `last.x` and `lowRankAt` are the keys. A cached pass is reused only when the current parameters
 * equal its key up to the gauge shift of the re-centring (the sums are exactly invariant under it), and
 * {@link JointScalingProblem.invalidate} clears both keys whenever the weights change (the outlier step), which makes
 * every cached sum unreachable: `lowRankSums` is read only together with `lowRankAt`, and `operatorSums` /
 * `operatorGamma` describe the last matrix-free operator built (replaced by the next one; `densify` expands them).
 */
interface PassCache {
  /** The last pass: its parameters, its data-only sums (restraints not added), and whether it had the matrix. */
  last: { x: Float64Array; acc: JointAccumulation; full: boolean } | undefined;
  /** Parameters of the last matrix-free pass (its group factors are still in the runner's cache). */
  lowRankAt: Float64Array | undefined;
  /** The block sums exactly as the last matrix-free pass produced them (no restraints). */
  lowRankSums: LowRankSums | undefined;
  /** The block sums of the last matrix-free operator (restraint block included): what densify expands. */
  operatorSums: LowRankSums | undefined;
  /** γ of the gauge term of the last matrix-free operator. */
  operatorGamma: number;
}

/** Σ_groups pairs² / Σ_groups pairs, with pairs the distinct stills of a group (the dense update cost per pair). */
function meanPairsPerGroupWeighted(pairStart: Int32Array): number {
  let sum = 0;
  let sum2 = 0;
  for (let h = 0; h + 1 < pairStart.length; h++) {
    const p = pairStart[h + 1] - pairStart[h];
    sum += p;
    sum2 += p * p;
  }
  return sum > 0 ? sum2 / sum : 0;
}

/** The joint problem over grouped observations. */
export class JointScalingProblem implements LeastSquaresProblem {
  readonly nParameters: number;
  readonly nStills: number;
  readonly nFreeSmoother: number;
  private readonly theta: Float64Array;
  private readonly values: Float64Array | undefined;
  private readonly smoother: JointSmootherSetup | undefined;
  private readonly names: string[];
  private readonly runner: JointPassRunner;
  /** Whether steps are solved matrix-free (PCG). */
  readonly iterative: boolean;
  /** Whether a dense normal matrix may be formed (nStills ≤ iterativeAbove): exact ESDs, PCG fallback. */
  readonly denseAvailable: boolean;
  /** Iterations of the last PCG solve (0 in dense mode). */
  lastSolverIterations = 0;
  /** The last passes (see {@link PassCache} for when they are reused and forgotten). */
  private readonly cache: PassCache = {
    last: undefined,
    lowRankAt: undefined,
    lowRankSums: undefined,
    operatorSums: undefined,
    operatorGamma: 0,
  };
  private readonly speculative: boolean;
  /** Matrix-free damped solve (set only in iterative mode). */
  readonly solveDamped?: (ne: NormalEquations, mu: number, rhs: Float64Array) => Float64Array | undefined;
  /** Matrix-free problems provide no dense inverse (set only in iterative mode). */
  readonly inverseDamped?: (ne: NormalEquations, mu: number) => Float64Array | undefined;

  /**
   * @param columns - Observations sorted by group then still: resident columns or paged rows.
   * @param initialScales - Initial b per still (positive).
   * @param smoother - The resolution smoother, or undefined when it is off.
   * @param options - Threads, shard size and solver thresholds, resolved. @defaultValue `SCALING_DEFAULTS`
   * @param knownPairStart - `groupPairStart` of `columns` when already counted (e.g. by the connectivity sweep).
   *   @defaultValue counted here
   */
  constructor(
    columns: PassSource,
    initialScales: Float64Array,
    smoother: JointSmootherSetup | undefined,
    options: JointScalingProblemOptions = SCALING_DEFAULTS,
    knownPairStart?: Int32Array,
  ) {
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
    const iterativeAbove = options.iterativeAbove;
    this.denseAvailable = this.nStills <= iterativeAbove;
    this.speculative = options.speculativeNormalEquations;
    const pairStart = knownPairStart ?? pairStartOf(columns);
    this.iterative = this.nStills > iterativeAbove || meanPairsPerGroupWeighted(pairStart) > options.denseGroupLimit;
    this.runner = new JointPassRunner(
      columns,
      this.nStills,
      smoother === undefined
        ? undefined
        : { kernel: smoother.kernel, qMin: smoother.qMin, qMax: smoother.qMax, nValues: smoother.kernel.nValues },
      {
        threads: options.threads,
        dense: this.denseAvailable,
        lowRank: this.iterative,
        pairStart,
        rowInverseScales: !("paged" in columns),
        ...(options.shardRows === undefined ? {} : { shardRows: options.shardRows }),
      },
    );
    if (this.iterative) {
      this.solveDamped = (ne, mu, rhs) => this.solveIteratively(ne, mu, rhs);
      this.inverseDamped = () => undefined;
    }
    this.recentre();
  }

  /**
   * The outlier step at the current parameters (parallel over the shards): DIALS standard outliers among the usable
   * rows, and every row's weight reset to 1/σ² (0 for outliers and unusable rows). Call {@link invalidate} when rows
   * changed. Needs the variances (resident columns with `variance`, or paged rows). With `errorModel`, the test and
   * the weights use its σ' (weights 1/σ'²).
   */
  rejectOutliers(zmax: number, errorModel?: RowErrorModel): OutlierWeightCounts {
    return this.runner.outlierWeights(this.scales(), this.values, zmax, errorModel);
  }

  /**
   * Inverse scale g of every row at the current parameters, in parallel (resident rows only; a shared array valid
   * until the next call), or undefined for paged rows.
   */
  inverseScales(): Float32Array | undefined {
    return this.runner.payload.rowFile === undefined
      ? this.runner.inverseScales(this.scales(), this.values)
      : undefined;
  }

  /**
   * {@link JointScalingProblem.inverseScales} and, from the same pass, each group's reference at them (Ih, σ and the
   * number of usable rows: the numbers `computeReferences` gives from these g), or undefined for paged rows.
   */
  inverseScalesAndReferences(): { inverseScales: Float32Array; references: GroupReferenceArrays } | undefined {
    const inverseScales = this.inverseScales();
    if (inverseScales === undefined) return undefined;
    const r = this.runner.payload.groupReferences;
    return {
      inverseScales,
      references: { intensity: r.intensity.slice(), sigma: r.sigma.slice(), nObservations: r.nObservations.slice() },
    };
  }

  /** Number of threads the passes run on. */
  get threads(): number {
    return this.runner.threads;
  }

  /** Forgets the cached passes (call after changing weights; see {@link PassCache}). */
  invalidate(): void {
    this.cache.last = undefined;
    this.cache.lowRankAt = undefined;
  }

  /** Stops the worker threads (idempotent). */
  close(): void {
    this.runner.close();
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

  /**
   * One pass over all observations (restraints not included). With `withMatrix`, the dense matrix, or in iterative
   * mode the low-rank sums (and the group factors kept for {@link JointScalingProblem.applyNormalMatrix}).
   */
  accumulate(withMatrix: boolean): JointAccumulation {
    const mode = !withMatrix ? PassMode.objective : this.iterative ? PassMode.lowRank : PassMode.dense;
    const acc = this.runner.run(mode, this.scales(), this.values);
    // the cache keeps the data-only sums (callers add restraints to `acc` in place)
    const last = { x: this.getParameters(), acc: { ...acc, gradient: acc.gradient.slice() }, full: withMatrix };
    this.cache.last = last;
    if (mode === PassMode.lowRank) this.cache.lowRankAt = last.x;
    return acc;
  }

  /**
   * The objective-level sums at the current parameters, reusing the last pass when it was made at exactly these
   * parameters (and weights), else running an objective pass.
   */
  accumulateReusing(): JointAccumulation {
    const m = this.cache.last;
    if (m !== undefined && this.sameUpToGauge(this.getParameters(), m.x)) return m.acc;
    return this.accumulate(false);
  }

  /**
   * {@link accumulateReusing} at the starting point of a minimisation: a pass that has to run here runs with the
   * normal matrix (dense, or the matrix-free factors) when passes are speculative, so that the minimiser's first
   * normal equations at these parameters reuse it instead of passing over the rows again. Same sums either way.
   */
  accumulateAhead(): JointAccumulation {
    const m = this.cache.last;
    if (m !== undefined && this.sameUpToGauge(this.getParameters(), m.x)) return m.acc;
    return this.accumulate(this.speculative);
  }

  /**
   * Whether `x` equals `y` up to a common shift of the θ part (smoother values bit-identical, θ differences equal to
   * 1e-12): the objective, R-factor and normal equations are exactly invariant under that shift.
   */
  private sameUpToGauge(x: Float64Array, y: Float64Array): boolean {
    if (x.length !== y.length) return false;
    const ns = this.nStills;
    for (let i = ns; i < x.length; i++) if (!Object.is(x[i], y[i])) return false;
    if (ns === 0) return true;
    const t = x[0] - y[0];
    for (let s = 0; s < ns; s++) {
      if (!(Math.abs(x[s] - y[s] - t) <= 1e-12 * (1 + Math.abs(x[s])))) return false;
    }
    return true;
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
    const cache = this.cache;
    const m = cache.last;
    let acc: JointAccumulation;
    if (m?.full === true && this.sameUpToGauge(this.getParameters(), m.x)) {
      // reuse the speculative full pass of computeObjective (once: restraints are added to it in place below)
      acc = m.acc;
      cache.last = {
        x: m.x,
        acc: { ...m.acc, gradient: m.acc.gradient.slice(), matrix: undefined, lowRank: undefined },
        full: false,
      };
    } else if (
      this.iterative &&
      m !== undefined &&
      cache.lowRankSums !== undefined &&
      cache.lowRankAt !== undefined &&
      this.sameUpToGauge(this.getParameters(), m.x) &&
      this.sameUpToGauge(m.x, cache.lowRankAt)
    ) {
      // the group factors of the last matrix-free pass are at these parameters (only objective passes at other
      // points ran since, which leave them alone): the normal equations need no pass (e.g. the ESDs at the solution)
      acc = { ...m.acc, gradient: m.acc.gradient.slice(), lowRank: cache.lowRankSums };
    } else {
      acc = this.accumulate(true);
    }
    const nRestraints = this.addRestraints(acc);
    if (this.iterative) return this.matrixFreeEquations(acc, nRestraints);
    return this.denseEquations(acc, nRestraints);
  }

  /** Dense normal equations from a pass with the matrix: adds the gauge term and counts the restraint rows. */
  private denseEquations(acc: JointAccumulation, nRestraints: number): NormalEquations {
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

  /** Restraint normal-matrix block (kf × kf) and the normal equations in operator form (iterative mode). */
  private matrixFreeEquations(acc: JointAccumulation, nRestraints: number): NormalEquations {
    const P = this.nParameters;
    const ns = this.nStills;
    const kf = this.nFreeSmoother;
    const sums = acc.lowRank;
    if (sums === undefined || this.runner.payload.cache === undefined) {
      throw new RangeError("matrix-free pass produced no factors");
    }
    const block = sums.smootherBlock.slice();
    const diagonal = sums.diagonal.slice();
    this.cache.lowRankSums = sums;
    if (kf > 0) {
      const r = this.restraintBlock();
      for (let k = 0; k < kf; k++) {
        for (let l = 0; l < kf; l++) block[k * kf + l] += r[k * kf + l];
        diagonal[ns + k] += r[k * kf + k];
      }
    }
    let trace = 0;
    for (let s = 0; s < ns; s++) trace += diagonal[s];
    const gamma = ns > 0 && trace > 0 ? trace / (ns * ns) : 1;
    for (let s = 0; s < ns; s++) diagonal[s] += gamma;
    this.cache.operatorGamma = gamma;
    const operatorSums = { ...sums, smootherBlock: block };
    this.cache.operatorSums = operatorSums;
    const apply = (x: Float64Array, out: Float64Array): void => {
      applyLowRankBlocks(operatorSums, ns, kf, x, out);
      this.runner.addGroupProduct(x, out);
      let sum = 0;
      for (let s = 0; s < ns; s++) sum += x[s];
      const g = gamma * sum;
      for (let s = 0; s < ns; s++) out[s] += g;
    };
    return {
      n: P,
      matrix: new Float64Array(0),
      operator: { diagonal, apply },
      gradient: acc.gradient,
      objective: acc.objective,
      nObservations: acc.nObservations,
      nEquations: acc.nObservations + nRestraints,
    };
  }

  /** The smoothness restraint's contribution to the normal matrix (kf × kf). */
  private restraintBlock(): Float64Array {
    const kf = this.nFreeSmoother;
    const out = new Float64Array(kf * kf);
    const c = this.values;
    const smoother = this.smoother;
    if (c === undefined || smoother === undefined) return out;
    const lambda = smoother.restraintWeight;
    const { entries } = smoothnessRestraintRows(c);
    for (const [row, col, coeff] of entries) {
      for (const [row2, col2, coeff2] of entries) if (row2 === row) out[col * kf + col2] += lambda * coeff * coeff2;
    }
    return out;
  }

  /**
   * Solves (N + γ11ᵀ + μI) h = rhs by Jacobi-preconditioned conjugate gradients (iterative mode); undefined when
   * PCG breaks down (not positive definite) or does not converge.
   */
  private solveIteratively(ne: NormalEquations, mu: number, rhs: Float64Array): Float64Array | undefined {
    const op = ne.operator;
    if (op === undefined) return undefined;
    const n = ne.n;
    const diagonal = new Float64Array(n);
    for (let i = 0; i < n; i++) diagonal[i] = op.diagonal[i] + mu;
    for (let i = 0; i < n; i++) if (!(diagonal[i] > 0)) return undefined;
    const result = conjugateGradient(
      (x, out) => {
        op.apply(x, out);
        for (let i = 0; i < n; i++) out[i] += mu * x[i];
      },
      rhs,
      { tolerance: 1e-13, maxIterations: Math.max(100, 10 * n), preconditioner: { kind: "diagonal", diagonal } },
    );
    this.lastSolverIterations = result.iterations;
    if (result.converged || result.relativeResidual < 1e-9) return result.x;
    if (!this.denseAvailable) return undefined;
    // PCG did not converge: dense Cholesky on the expanded matrix
    const a = this.densify();
    for (let i = 0; i < n; i++) a[i * n + i] += mu;
    if (!choleskyFactorKernel(a, n)) return undefined;
    const h = Float64Array.from(rhs);
    choleskySolveInPlace(a, n, h);
    return h;
  }

  /**
   * The dense normal equations at the current parameters (restraints and gauge term included): in dense mode
   * {@link JointScalingProblem.buildNormalEquations}; in iterative mode one dense pass over the observations (the ESDs
   * use {@link JointScalingProblem.densify} instead, which needs no pass). Undefined when
   * the dense matrix is not available (more stills than `iterativeAbove`).
   */
  buildDenseNormalEquations(): NormalEquations | undefined {
    if (!this.iterative) return this.buildNormalEquations();
    if (!this.denseAvailable) return undefined;
    const acc = this.runner.run(PassMode.dense, this.scales(), this.values);
    return this.denseEquations(acc, this.addRestraints(acc));
  }

  /**
   * Dense N + γ11ᵀ (restraints included) expanded from the factors of the last matrix-free pass (Σ pairs² work; the
   * PCG fallback). Iterative mode only.
   */
  densify(): Float64Array {
    const P = this.nParameters;
    const ns = this.nStills;
    const lr = this.cache.operatorSums;
    if (lr === undefined) throw new RangeError("no matrix-free factors to densify");
    const m = this.runner.densify(lr);
    const gamma = this.cache.operatorGamma;
    for (let i = 0; i < ns; i++) for (let j = 0; j < ns; j++) m[i * P + j] += gamma;
    return m;
  }

  /**
   * The inverse of a symmetric positive-definite P×P matrix (`a`, lower triangle read, is overwritten) by Cholesky,
   * with the rows split over the pass workers when there are any: bit-identical to `choleskyFactor` then
   * `choleskyInverse` in one thread. Undefined when `a` is not positive definite.
   */
  inversePositiveDefinite(a: Float64Array): Float64Array | undefined {
    return this.runner.inversePositiveDefinite(a);
  }

  /** y = (N + γ11ᵀ)·x from normal equations built in iterative mode. */
  applyNormalMatrix(ne: NormalEquations, x: Float64Array, y: Float64Array): void {
    if (ne.operator === undefined) throw new RangeError("normal equations have no operator (dense mode)");
    ne.operator.apply(x, y);
  }

  computeObjective(): { objective: number; nObservations: number } {
    const acc = this.accumulate(this.speculative);
    let objective = acc.objective;
    const smoother = this.smoother;
    if (smoother !== undefined && this.values !== undefined) {
      const lambda = smoother.restraintWeight;
      for (const r of smoothnessRestraintRows(this.values).residuals) objective += 0.5 * lambda * r * r;
    }
    return { objective, nObservations: acc.nObservations };
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
