/**
 * Smoothly varying scale over two coordinates (DIALS `SmoothScaleComponent2D`).
 *
 * @packageDocumentation
 */
import { ConfigError } from "../../errors.ts";
import { GaussianSmoother2D } from "../gaussian-smoother-2d.ts";
import { nparamToVal } from "../model-utilities.ts";
import { SparseMatrix } from "../sparse-matrix.ts";
import {
  ScaleComponent,
  checkDataColumn,
  maskColumns,
  normalisedWeights,
  shiftToOrigin,
  splitBlocks,
} from "./scale-component.ts";
import type { ScalesAndDerivatives } from "./scale-component.ts";

/** Data of a {@link SmoothScaleComponent2D}: normalised coordinates x and y. */
export type SmoothScaleComponent2DData = { x: Float64Array; y: Float64Array };

/**
 * g_i = S(x_i, y_i), a 2D Gaussian smoother over `shape[0]·shape[1]` parameters (x fastest:
 * `idx = i + j·shape[0]`); ∂g_i/∂p = w/Σw. Each axis is shifted to start at 0, its range is
 * `[0, max(ceil(max), 1)]` with `nparamToVal(shape[axis])` intervals. Null parameter value 1.
 */
export class SmoothScaleComponent2D extends ScaleComponent<SmoothScaleComponent2DData> {
  static override readonly nullParameterValue: number = 1.0;
  private readonly shapeValue: readonly [number, number];
  private blocks: Float64Array[][] = [];
  private smootherValue: GaussianSmoother2D | undefined = undefined;

  /**
   * @param initialValues - `shape[0]·shape[1]` initial parameters, x fastest
   * @param shape - number of parameters along x and y (each 2, 3 or ≥ 5)
   * @param parameterEsds - optional esds
   * @throws ConfigError when the shape is invalid or does not match the parameter count
   */
  constructor(initialValues: ArrayLike<number>, shape: readonly [number, number], parameterEsds?: ArrayLike<number>) {
    super(initialValues, parameterEsds);
    nparamToVal(shape[0]);
    nparamToVal(shape[1]);
    if (shape[0] * shape[1] !== this.nParams) {
      throw new ConfigError(
        `SmoothScaleComponent2D: shape ${shape[0]}x${shape[1]} does not match ${this.nParams} parameters`,
      );
    }
    this.shapeValue = [shape[0], shape[1]];
  }

  /** Number of parameters along x and y. */
  get shape(): readonly [number, number] {
    return this.shapeValue;
  }

  /** The smoother built by the last {@link SmoothScaleComponent2D.updateReflectionData}. */
  get smoother(): GaussianSmoother2D {
    if (this.smootherValue === undefined) {
      throw new ConfigError("SmoothScaleComponent2D: smoother not built; call updateReflectionData first");
    }
    return this.smootherValue;
  }

  protected override checkData(d: SmoothScaleComponent2DData): void {
    const x = checkDataColumn("SmoothScaleComponent2D", "x", d.x);
    checkDataColumn("SmoothScaleComponent2D", "y", d.y, x.length);
  }

  override updateReflectionData(selection?: Uint8Array, blockSelections?: readonly Int32Array[]): void {
    const name = "SmoothScaleComponent2D";
    const [x, y] = maskColumns(name, [this.data.x, this.data.y], selection);
    const sx = shiftToOrigin(name, "x", x);
    const sy = shiftToOrigin(name, "y", y);
    this.smootherValue = new GaussianSmoother2D(
      sx.range,
      nparamToVal(this.shapeValue[0]),
      sy.range,
      nparamToVal(this.shapeValue[1]),
    );
    this.blocks = splitBlocks(name, [sx.shifted, sy.shifted], blockSelections);
    this.nReflPerBlock = this.blocks.map((b) => b[0].length);
  }

  private evaluate(blockId: number): { value: Float64Array; weight: SparseMatrix; sumweight: Float64Array } {
    this.checkBlock(blockId);
    const [xs, ys] = this.blocks[blockId];
    if (xs.length === 0) {
      return { value: new Float64Array(0), weight: SparseMatrix.zeros(0, this.nParams), sumweight: xs };
    }
    return this.smoother.multiValueWeight(xs, ys, this.params);
  }

  override calculateScalesAndDerivatives(blockId = 0): ScalesAndDerivatives {
    const r = this.evaluate(blockId);
    return { scales: r.value, derivatives: normalisedWeights(r.weight, r.sumweight) };
  }

  override calculateScales(blockId = 0): Float64Array {
    return this.evaluate(blockId).value;
  }
}
