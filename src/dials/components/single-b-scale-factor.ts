/**
 * Overall relative B factor (DIALS `SingleBScaleFactor`).
 *
 * @packageDocumentation
 */
import { ConfigError } from "../../errors.ts";
import { ScaleComponent, checkDataColumn, columnMatrix, gather, resolveBlocks } from "./scale-component.ts";
import type { ScalesAndDerivatives } from "./scale-component.ts";

/** Data of a {@link SingleBScaleFactor}: resolution d (Å) per reflection. */
export type SingleBScaleFactorData = { d: Float64Array };

/** One parameter B; g_i = exp(B/(2 d_i²)) and ∂g_i/∂B = g_i/(2 d_i²). Null parameter value 0. */
export class SingleBScaleFactor extends ScaleComponent<SingleBScaleFactorData> {
  static override readonly nullParameterValue: number = 0.0;
  private dBlocks: Float64Array[] = [];

  /**
   * @param initialValues - one value, B
   * @param parameterEsds - optional esd of B
   */
  constructor(initialValues: ArrayLike<number>, parameterEsds?: ArrayLike<number>) {
    super(initialValues, parameterEsds);
    if (this.nParams !== 1) throw new ConfigError(`SingleBScaleFactor: expected 1 parameter, got ${this.nParams}`);
  }

  /** The per-block resolution values d. */
  get dValues(): readonly Float64Array[] {
    return this.dBlocks;
  }

  protected override checkData(d: SingleBScaleFactorData): void {
    checkDataColumn("SingleBScaleFactor", "d", d.d);
  }

  override updateReflectionData(selection?: Uint8Array, blockSelections?: readonly Int32Array[]): void {
    const d = this.data.d;
    const blocks = resolveBlocks("SingleBScaleFactor", d.length, selection, blockSelections);
    this.dBlocks = blocks === undefined ? [d] : blocks.map((b) => gather(d, b));
    this.nReflPerBlock = this.dBlocks.map((b) => b.length);
  }

  override calculateScalesAndDerivatives(blockId = 0): ScalesAndDerivatives {
    const scales = this.calculateScales(blockId);
    const d = this.dBlocks[blockId];
    const der = new Float64Array(scales.length);
    for (let i = 0; i < der.length; i++) der[i] = scales[i] / (2 * d[i] * d[i]);
    return { scales, derivatives: columnMatrix(scales.length, der) };
  }

  override calculateScales(blockId = 0): Float64Array {
    this.checkBlock(blockId);
    const d = this.dBlocks[blockId];
    const b = this.params[0];
    const out = new Float64Array(d.length);
    for (let i = 0; i < d.length; i++) out[i] = Math.exp(b / (2 * d[i] * d[i]));
    return out;
  }
}
