/**
 * Smoothly varying scale along one coordinate (DIALS `SmoothScaleComponent1D`).
 *
 * @packageDocumentation
 */
import { ConfigError } from "../../errors.ts";
import { GaussianSmoother1D } from "../gaussian-smoother-1d.ts";
import { nparamToVal } from "../model-utilities.ts";
import type { SmootherMultiValueWeight } from "../gaussian-smoother-1d.ts";
import { checkDataColumn, maskColumns, shiftToOrigin, splitBlocks } from "./scale-component.ts";
import { SmootherScaleComponent } from "./smoother-scale-component.ts";

/** Data of a {@link SmoothScaleComponent1D}: the normalised coordinate x (e.g. frame·s_norm_fac). */
export type SmoothScaleComponent1DData = { x: Float64Array };

/**
 * g_i = S(x_i), a 1D Gaussian smoother over the parameters (2, 3 or ≥ 5 of them); ∂g_i/∂p_j = w_ij/Σ_j w_ij.
 * The smoother origin is the minimum x over the data (after an optional selection) and its range is
 * `[0, max(ceil(max − min), 1)]`, divided into `nparamToVal(nParams)` intervals. Null parameter value 1.
 *
 * With {@link SmoothScaleComponent1D.fixInitialParameter} the first parameter is held fixed: free parameters, free
 * esds and derivative columns exclude it.
 *
 * @typeParam D - data record (subclasses add columns)
 */
export class SmoothScaleComponent1D<
  D extends SmoothScaleComponent1DData = SmoothScaleComponent1DData,
> extends SmootherScaleComponent<D, GaussianSmoother1D> {
  static override readonly nullParameterValue: number = 1.0;
  /** Normalised coordinates per block. */
  protected xBlocks: Float64Array[] = [];
  /** Per block, the extra columns of {@link SmoothScaleComponent1D.extraColumns}, in order. */
  protected extraBlocks: Float64Array[][] = [];
  private fixedInitial = false;

  /**
   * @param initialValues - initial parameters: 2, 3 or ≥ 5 values
   * @param parameterEsds - optional esds, same length
   * @throws ConfigError for fewer than 2 or exactly 4 parameters
   */
  constructor(initialValues: ArrayLike<number>, parameterEsds?: ArrayLike<number>) {
    super(initialValues, parameterEsds);
    nparamToVal(this.nParams);
  }

  /** The per-block normalised coordinates (x − min x) used by the smoother. */
  get normalisedValues(): readonly Float64Array[] {
    return this.xBlocks;
  }

  /** Whether the first parameter is held fixed. */
  get initialParameterFixed(): boolean {
    return this.fixedInitial;
  }

  /** Hold the first parameter fixed (used by the physical model's final full-matrix cycle). */
  fixInitialParameter(): void {
    this.fixedInitial = true;
  }

  /** Release the first parameter. */
  unfixInitialParameter(): void {
    this.fixedInitial = false;
  }

  override get freeParameters(): Float64Array {
    return this.fixedInitial ? this.params.subarray(1) : this.params;
  }
  override set freeParameters(p: Float64Array) {
    const n = this.nFreeParams;
    if (p.length !== n) throw new ConfigError(`${this.constructor.name}: ${p.length} free parameters, expected ${n}`);
    const next = this.params.slice();
    next.set(p, this.fixedInitial ? 1 : 0);
    this.params = next;
  }

  override get freeParameterEsds(): Float64Array | undefined {
    if (this.esds === undefined) return undefined;
    return this.fixedInitial ? this.esds.subarray(1) : this.esds;
  }
  /** With the first parameter fixed, its esd is set to 0 (as in DIALS, whose output shows esd 0.0 for it). */
  override set freeParameterEsds(e: Float64Array | undefined) {
    if (e === undefined) {
      this.esds = undefined;
      return;
    }
    const n = this.nFreeParams;
    if (e.length !== n) throw new ConfigError(`${this.constructor.name}: ${e.length} free esds, expected ${n}`);
    const next = new Float64Array(this.nParams);
    if (this.esds !== undefined) next.set(this.esds);
    next.set(e, this.fixedInitial ? 1 : 0);
    this.esds = next;
  }

  override get nFreeParams(): number {
    return this.fixedInitial ? this.nParams - 1 : this.nParams;
  }

  protected override checkData(d: D): void {
    checkDataColumn(this.constructor.name, "x", d.x);
  }

  /** Extra per-reflection columns carried into the blocks (none here; SmoothB adds d). */
  protected extraColumns(): Float64Array[] {
    return [];
  }

  override updateReflectionData(selection?: Uint8Array, blockSelections?: readonly Int32Array[]): void {
    const name = this.constructor.name;
    const extra = this.extraColumns();
    const extra0 = extra[0] as Float64Array | undefined;
    if (extra0 !== undefined && extra0.length !== this.data.x.length) {
      throw new ConfigError(`${name}: data columns differ in length`);
    }
    const masked = maskColumns(name, [this.data.x, ...extra], selection);
    const { shifted, range } = shiftToOrigin(name, "x", masked[0]);
    this.smootherValue = new GaussianSmoother1D(range, nparamToVal(this.nParams));
    const blocks = splitBlocks(name, [shifted, ...masked.slice(1)], blockSelections);
    this.xBlocks = blocks.map((b) => b[0]);
    this.extraBlocks = blocks.map((b) => b.slice(1));
    this.nReflPerBlock = this.xBlocks.map((b) => b.length);
  }

  protected override blockValueWeight(blockId: number): SmootherMultiValueWeight {
    const xs = this.xBlocks[blockId];
    return this.fixedInitial
      ? this.smoother.multiValueWeightFirstFixed(xs, this.params)
      : this.smoother.multiValueWeight(xs, this.params);
  }
}
