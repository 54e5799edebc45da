/**
 * `ResolutionSmootherComponent`: the shared resolution factor a(|q|) of the v1 model, a DIALS `GaussianSmoother1D`
 * over |q| with exactly `nControlPoints` values over the resolution range (2, 3 or 5 values: 1, 2 or 3 intervals).
 * The first value is fixed at 1 (it removes the `b·k, a/k` degeneracy with the per-still scales), so the free
 * parameters are values 1…K−1 and the derivatives come from the smoother's first-fixed form. |q| outside the range is
 * clamped to it. A second-difference smoothness restraint (first difference for K = 2) is provided in DIALS's
 * Jacobian-restraint form.
 *
 * @packageDocumentation
 */
import { ConfigError, requireFiniteArgument, requireNumbersArgument } from "../../errors.ts";
import { GaussianSmoother1D } from "../../dials/gaussian-smoother-1d.ts";
import { nparamToVal } from "../../dials/model-utilities.ts";
import { SparseMatrix } from "../../dials/sparse-matrix.ts";
import {
  ScaleComponent,
  checkDataColumn,
  gather,
  normalisedWeights,
  blockIndices,
  type JacobianRestraints,
  type ScalesAndDerivatives,
} from "../../dials/components/scale-component.ts";
import type { SmootherKernelState } from "../../dials/smoother-weights.ts";
import { smoothnessRestraintRows } from "../smoothness-restraint.ts";

/** Data of a {@link ResolutionSmootherComponent}: |q| of every observation (1/Å). */
export type ResolutionSmootherData = { qMagnitude: Float64Array };

/** The shared smoother a(|q|); null parameter value 1. */
export class ResolutionSmootherComponent extends ScaleComponent<ResolutionSmootherData> {
  static override readonly nullParameterValue: number = 1.0;
  /** The |q| range [q_min, q_max]. */
  readonly qRange: readonly [number, number];
  /** Weight λ of the smoothness restraint. */
  readonly restraintWeight: number;
  private readonly smoother: GaussianSmoother1D;
  private blocks: Int32Array[] = [];

  /**
   * @param qRange - [q_min, q_max], 0 ≤ q_min < q_max
   * @param initialValues - K ∈ {2, 3, 5} values; the first is fixed (normally 1)
   * @param restraintWeight - λ of the smoothness restraint (≥ 0)
   * @param parameterEsds - optional esds
   */
  constructor(
    qRange: readonly [number, number],
    initialValues: ArrayLike<number>,
    restraintWeight: number,
    parameterEsds?: ArrayLike<number>,
  ) {
    super(initialValues, parameterEsds);
    requireNumbersArgument(qRange, "ResolutionSmootherComponent: qRange [min, max]", 2);
    requireFiniteArgument(restraintWeight, "ResolutionSmootherComponent: restraintWeight");
    const k = this.nParams;
    if (k !== 2 && k !== 3 && k !== 5) {
      throw new ConfigError(`ResolutionSmootherComponent: ${k} values; a DIALS smoother here has 2, 3 or 5`);
    }
    this.qRange = [qRange[0], qRange[1]];
    this.restraintWeight = restraintWeight;
    this.smoother = new GaussianSmoother1D(this.qRange, nparamToVal(k));
  }

  /** The smoother constants for the hot loops. */
  kernelState(): SmootherKernelState {
    return {
      nValues: this.smoother.numValues(),
      x0: this.qRange[0],
      spacing: this.smoother.spacing(),
      sigma: this.smoother.sigma(),
      nAverage: this.smoother.numAverage(),
      positions: this.smoother.positions(),
    };
  }

  /** Clamps |q| to the range. */
  clamp(q: number): number {
    return Math.min(Math.max(q, this.qRange[0]), this.qRange[1]);
  }

  /** a(|q|) at one point (works for a single point, unlike DIALS's multi-point path). */
  valueAt(q: number): number {
    return this.smoother.valueWeight(this.clamp(q), this.params).value;
  }

  /** ∂a/∂c_j at one point for the free values j = 1…K−1 (normalised weights w_j/Σw). */
  derivativesAt(q: number): Float64Array {
    const vw = this.smoother.valueWeight(this.clamp(q), this.params);
    const out = new Float64Array(this.nParams - 1);
    if (vw.sumweight > 0) for (let j = 1; j < this.nParams; j++) out[j - 1] = vw.weight[j] / vw.sumweight;
    return out;
  }

  override get freeParameters(): Float64Array {
    return this.params.subarray(1);
  }
  override set freeParameters(p: Float64Array) {
    if (p.length !== this.nParams - 1) {
      throw new ConfigError(
        `ResolutionSmootherComponent: ${p.length} free parameters given, expected ${this.nParams - 1}`,
      );
    }
    this.params.set(p, 1);
  }

  override get freeParameterEsds(): Float64Array | undefined {
    return this.esds?.subarray(1);
  }
  override set freeParameterEsds(e: Float64Array | undefined) {
    if (e === undefined) {
      this.esds = undefined;
      return;
    }
    const all = new Float64Array(this.nParams);
    all.set(e, 1);
    this.parameterEsds = all;
  }

  protected override checkData(d: ResolutionSmootherData): void {
    const q = checkDataColumn("ResolutionSmootherComponent", "qMagnitude", d.qMagnitude);
    for (let i = 0; i < q.length; i++) {
      if (!(q[i] >= 0 && Number.isFinite(q[i]))) {
        throw new ConfigError(`ResolutionSmootherComponent: qMagnitude[${i}] = ${q[i]} is not a finite |q| ≥ 0`);
      }
    }
  }

  override updateReflectionData(selection?: Uint8Array, blockSelections?: readonly Int32Array[]): void {
    this.blocks = blockIndices("ResolutionSmootherComponent", this.data.qMagnitude.length, selection, blockSelections);
    this.nReflPerBlock = this.blocks.map((b) => b.length);
  }

  override calculateScalesAndDerivatives(blockId = 0): ScalesAndDerivatives {
    this.checkBlock(blockId);
    const q = gather(this.data.qMagnitude, this.blocks[blockId]).map((v) => this.clamp(v));
    const n = q.length;
    const k = this.nParams;
    if (n === 0) return { scales: new Float64Array(0), derivatives: SparseMatrix.zeros(0, k - 1) };
    // Evaluate point by point: this also covers one observation (DIALS's multi-point path asserts n > 1).
    const scales = new Float64Array(n);
    const sumweight = new Float64Array(n);
    const rows: number[] = [];
    const cols: number[] = [];
    const vals: number[] = [];
    for (let i = 0; i < n; i++) {
      const vw = this.smoother.valueWeight(q[i], this.params);
      scales[i] = vw.value;
      sumweight[i] = vw.sumweight;
      for (let j = 1; j < k; j++) {
        if (vw.weight[j] !== 0) {
          rows.push(i);
          cols.push(j - 1);
          vals.push(vw.weight[j]);
        }
      }
    }
    const raw = SparseMatrix.fromTriplets(n, k - 1, rows, cols, vals);
    return { scales, derivatives: normalisedWeights(raw, sumweight) };
  }

  /** Rows of the smoothness restraint: residuals, Jacobian over the free values, weights λ. */
  override calculateJacobianRestraints(): JacobianRestraints | undefined {
    if (this.restraintWeight === 0) return undefined;
    const { residuals, entries } = smoothnessRestraintRows(this.params);
    return {
      residuals,
      jacobian: SparseMatrix.fromTriplets(
        residuals.length,
        this.nParams - 1,
        entries.map((e) => e[0]),
        entries.map((e) => e[1]),
        entries.map((e) => e[2]),
      ),
      weights: new Float64Array(residuals.length).fill(this.restraintWeight),
    };
  }
}
