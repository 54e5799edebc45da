/**
 * Smoothly varying scale over two coordinates (DIALS `SmoothScaleComponent2D`).
 *
 * @packageDocumentation
 */
import { GaussianSmoother2D } from "../gaussian-smoother-2d.ts";
import { nparamToVal } from "../model-utilities.ts";
import type { SmootherMultiValueWeight } from "../gaussian-smoother-1d.ts";
import { checkDataColumn, maskColumns, shiftToOrigin, splitBlocks } from "./scale-component.ts";
import { SmootherScaleComponent, checkSmootherShape } from "./smoother-scale-component.ts";

/** Data of a {@link SmoothScaleComponent2D}: normalised coordinates x and y. */
export type SmoothScaleComponent2DData = { x: Float64Array; y: Float64Array };

/**
 * g_i = S(x_i, y_i), a 2D Gaussian smoother over `shape[0]·shape[1]` parameters (x fastest:
 * `idx = i + j·shape[0]`); ∂g_i/∂p = w/Σw. Each axis is shifted to start at 0, its range is
 * `[0, max(ceil(max), 1)]` with `nparamToVal(shape[axis])` intervals. Null parameter value 1.
 */
export class SmoothScaleComponent2D extends SmootherScaleComponent<SmoothScaleComponent2DData, GaussianSmoother2D> {
  static override readonly nullParameterValue: number = 1.0;
  private readonly shapeValue: readonly [number, number];
  private blocks: Float64Array[][] = [];

  /**
   * @param initialValues - `shape[0]·shape[1]` initial parameters, x fastest
   * @param shape - number of parameters along x and y (each 2, 3 or ≥ 5)
   * @param parameterEsds - optional esds
   * @throws ConfigError when the shape is invalid or does not match the parameter count
   */
  constructor(initialValues: ArrayLike<number>, shape: readonly [number, number], parameterEsds?: ArrayLike<number>) {
    super(initialValues, parameterEsds);
    checkSmootherShape("SmoothScaleComponent2D", shape, this.nParams, 2);
    this.shapeValue = [shape[0], shape[1]];
  }

  /** Number of parameters along x and y. */
  get shape(): readonly [number, number] {
    return this.shapeValue;
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

  protected override blockValueWeight(blockId: number): SmootherMultiValueWeight {
    const [xs, ys] = this.blocks[blockId];
    return this.smoother.multiValueWeight(xs, ys, this.params);
  }
}
