/**
 * `PerStillMultiplierComponent`: one multiplicative scale b_s per still (v1 model). g_i = b_{still(i)},
 * ∂g_i/∂b_s = 1 when still(i) = s. During refinement the joint problem works in ln b, so a scale stays positive.
 *
 * @packageDocumentation
 */
import { ConfigError } from "../../errors.ts";
import { SparseMatrix } from "../../dials/sparse-matrix.ts";
import {
  ScaleComponent,
  checkDataColumn,
  gather,
  blockIndices,
  type ScalesAndDerivatives,
} from "../../dials/components/scale-component.ts";

/** Data of a {@link PerStillMultiplierComponent}: the still index of every observation. */
export type PerStillMultiplierData = { stillId: Float64Array };

/** One positive scale per still; null parameter value 1. */
export class PerStillMultiplierComponent extends ScaleComponent<PerStillMultiplierData> {
  static override readonly nullParameterValue: number = 1.0;
  private blocks: Int32Array[] = [];

  /**
   * @param initialValues - one positive initial b per still
   * @param parameterEsds - optional esds
   * @throws {@link ConfigError} when a value is not positive and finite
   */
  constructor(initialValues: ArrayLike<number>, parameterEsds?: ArrayLike<number>) {
    super(initialValues, parameterEsds);
    this.params.forEach((b, s) => {
      if (!(b > 0 && Number.isFinite(b))) {
        throw new ConfigError(`PerStillMultiplierComponent: initial scale of still ${s} must be positive, got ${b}`);
      }
    });
  }

  /** Number of stills. */
  get nStills(): number {
    return this.nParams;
  }

  /** The scale of one still. */
  getScaleForStill(stillId: number): number {
    if (!Number.isInteger(stillId) || stillId < 0 || stillId >= this.nParams) {
      throw new ConfigError(`still id ${stillId} is outside [0, ${this.nParams})`);
    }
    return this.params[stillId];
  }

  protected override checkData(d: PerStillMultiplierData): void {
    const ids = checkDataColumn("PerStillMultiplierComponent", "stillId", d.stillId);
    for (let i = 0; i < ids.length; i++) {
      const s = ids[i];
      if (!(Number.isInteger(s) && s >= 0 && s < this.nParams)) {
        throw new ConfigError(`PerStillMultiplierComponent: stillId[${i}] = ${s} is outside [0, ${this.nParams})`);
      }
    }
  }

  override updateReflectionData(selection?: Uint8Array, blockSelections?: readonly Int32Array[]): void {
    this.blocks = blockIndices("PerStillMultiplierComponent", this.data.stillId.length, selection, blockSelections);
    this.nReflPerBlock = this.blocks.map((b) => b.length);
  }

  override calculateScalesAndDerivatives(blockId = 0): ScalesAndDerivatives {
    this.checkBlock(blockId);
    const ids = gather(this.data.stillId, this.blocks[blockId]);
    const n = ids.length;
    const scales = new Float64Array(n);
    const rows = new Int32Array(n);
    const cols = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      scales[i] = this.params[ids[i]];
      rows[i] = i;
      cols[i] = ids[i];
    }
    return { scales, derivatives: SparseMatrix.fromTriplets(n, this.nParams, rows, cols, new Float64Array(n).fill(1)) };
  }
}
