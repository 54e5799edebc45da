/**
 * Smoothly varying relative B factor along one coordinate (DIALS `SmoothBScaleComponent1D`).
 *
 * @packageDocumentation
 */
import { ConfigError } from "../../errors.ts";
import { SparseMatrix } from "../sparse-matrix.ts";
import { checkDataColumn, normalisedWeights } from "./scale-component.ts";
import type { GradientRestraints, JacobianRestraints, ScalesAndDerivatives } from "./scale-component.ts";
import { SmoothScaleComponent1D } from "./smooth-scale-component-1d.ts";

/** Data of a {@link SmoothBScaleComponent1D}: normalised coordinate x and resolution d (Å). */
export type SmoothBScaleComponent1DData = { x: Float64Array; d: Float64Array };

/**
 * g_i = exp(B(x_i)/(2 d_i²)) with B(x) a 1D Gaussian smoother over the parameters;
 * ∂g_i/∂p_j = g_i·(w_ij/Σw)/(2 d_i²). Null parameter value 0.
 *
 * Optional restraints towards 0 (`parameterRestraints`, one weight λ_k per parameter, e.g. the physical model's
 * `decay_restraint`): residual λ_k p_k², gradient 2 λ_k p_k; Jacobian form residual p_k, J = I, weight λ_k. They
 * cover the free parameters (DIALS uses all parameters, which only differs if the first one were fixed).
 */
export class SmoothBScaleComponent1D extends SmoothScaleComponent1D<SmoothBScaleComponent1DData> {
  static override readonly nullParameterValue: number = 0.0;
  private restraintWeights: Float64Array | undefined = undefined;

  /** The per-block resolution values d. */
  get dValues(): readonly Float64Array[] {
    return this.extraBlocks.map((b) => b[0]);
  }

  /** Restraint weight λ per parameter, or undefined for no restraint. */
  get parameterRestraints(): Float64Array | undefined {
    return this.restraintWeights;
  }
  set parameterRestraints(w: Float64Array | undefined) {
    if (w !== undefined && w.length !== this.nParams) {
      throw new ConfigError(`SmoothBScaleComponent1D: ${w.length} restraint weights, expected ${this.nParams}`);
    }
    this.restraintWeights = w === undefined ? undefined : Float64Array.from(w);
  }

  protected override checkData(d: SmoothBScaleComponent1DData): void {
    const x = checkDataColumn("SmoothBScaleComponent1D", "x", d.x);
    checkDataColumn("SmoothBScaleComponent1D", "d", d.d, x.length);
  }

  protected override extraColumns(): Float64Array[] {
    return [this.data.d];
  }

  override calculateScalesAndDerivatives(blockId = 0): ScalesAndDerivatives {
    const r = this.evaluate(blockId);
    const scales = this.toScales(r.value, blockId);
    const d = this.extraBlocks[blockId][0];
    const f = new Float64Array(scales.length);
    for (let i = 0; i < f.length; i++) f[i] = scales[i] / (2 * d[i] * d[i]);
    return { scales, derivatives: normalisedWeights(r.weight, r.sumweight, f) };
  }

  override calculateScales(blockId = 0): Float64Array {
    return this.toScales(this.evaluate(blockId).value, blockId);
  }

  private toScales(b: Float64Array, blockId: number): Float64Array {
    const d = this.extraBlocks[blockId][0];
    const out = new Float64Array(b.length);
    for (let i = 0; i < b.length; i++) out[i] = Math.exp(b[i] / (2 * d[i] * d[i]));
    return out;
  }

  private freeRestraintWeights(): Float64Array | undefined {
    const w = this.restraintWeights;
    if (w === undefined) return undefined;
    return this.initialParameterFixed ? w.subarray(1) : w;
  }

  override calculateRestraints(): GradientRestraints | undefined {
    const w = this.freeRestraintWeights();
    if (w === undefined) return undefined;
    const p = this.freeParameters;
    const residuals = new Float64Array(p.length);
    const gradient = new Float64Array(p.length);
    for (let k = 0; k < p.length; k++) {
      residuals[k] = w[k] * p[k] * p[k];
      gradient[k] = 2 * w[k] * p[k];
    }
    return { residuals, gradient };
  }

  override calculateJacobianRestraints(): JacobianRestraints | undefined {
    const w = this.freeRestraintWeights();
    if (w === undefined) return undefined;
    const n = w.length;
    const colPtr = new Int32Array(n + 1);
    const rowIdx = new Int32Array(n);
    for (let k = 0; k < n; k++) {
      colPtr[k + 1] = k + 1;
      rowIdx[k] = k;
    }
    const jacobian = new SparseMatrix(n, n, colPtr, rowIdx, new Float64Array(n).fill(1));
    return { residuals: Float64Array.from(this.freeParameters), jacobian, weights: Float64Array.from(w) };
  }
}
