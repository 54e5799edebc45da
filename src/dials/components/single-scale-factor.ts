/**
 * Overall scale factor K (DIALS `SingleScaleFactor`).
 *
 * @packageDocumentation
 */
import { ConfigError } from "../../errors.ts";
import { ScaleComponent, checkDataColumn, columnMatrix, resolveBlocks } from "./scale-component.ts";
import type { ScalesAndDerivatives } from "./scale-component.ts";

/** Data of a {@link SingleScaleFactor}: the experiment id column (only its length is used). */
export type SingleScaleFactorData = { id: Float64Array };

/** One parameter K; g_i = K and ∂g_i/∂K = 1. Null parameter value 1. */
export class SingleScaleFactor extends ScaleComponent<SingleScaleFactorData> {
  static override readonly nullParameterValue: number = 1.0;

  /**
   * @param initialValues - one value, K
   * @param parameterEsds - optional esd of K
   */
  constructor(initialValues: ArrayLike<number>, parameterEsds?: ArrayLike<number>) {
    super(initialValues, parameterEsds);
    if (this.nParams !== 1) throw new ConfigError(`SingleScaleFactor: expected 1 parameter, got ${this.nParams}`);
  }

  protected override checkData(d: SingleScaleFactorData): void {
    checkDataColumn("SingleScaleFactor", "id", d.id);
  }

  override updateReflectionData(selection?: Uint8Array, blockSelections?: readonly Int32Array[]): void {
    const n = this.data.id.length;
    const blocks = resolveBlocks("SingleScaleFactor", n, selection, blockSelections);
    this.nReflPerBlock = blocks === undefined ? [n] : blocks.map((b) => b.length);
  }

  override calculateScalesAndDerivatives(blockId = 0): ScalesAndDerivatives {
    const scales = this.calculateScales(blockId);
    return { scales, derivatives: columnMatrix(scales.length) };
  }

  override calculateScales(blockId = 0): Float64Array {
    this.checkBlock(blockId);
    return new Float64Array(this.nReflPerBlock[blockId]).fill(this.params[0]);
  }
}
