/**
 * Smoothly varying scale over three coordinates (DIALS `SmoothScaleComponent3D`).
 *
 * @packageDocumentation
 */
import { GaussianSmoother3D } from "../gaussian-smoother-3d.ts";
import { nparamToVal } from "../model-utilities.ts";
import type { SmootherMultiValueWeight } from "../gaussian-smoother-1d.ts";
import { checkDataColumn, maskColumns, shiftToOrigin, splitBlocks } from "./scale-component.ts";
import { SmootherScaleComponent, checkSmootherShape } from "./smoother-scale-component.ts";

/** Data of a {@link SmoothScaleComponent3D}: normalised coordinates x, y and z. */
export type SmoothScaleComponent3DData = { x: Float64Array; y: Float64Array; z: Float64Array };

/**
 * g_i = S(x_i, y_i, z_i), a 3D Gaussian smoother over `shape[0]·shape[1]·shape[2]` parameters (x fastest:
 * `idx = i + j·shape[0] + k·shape[0]·shape[1]`); ∂g_i/∂p = w/Σw. Each axis is shifted to start at 0, its range is
 * `[0, max(ceil(max), 1)]` with `nparamToVal(shape[axis])` intervals. Null parameter value 1.
 */
export class SmoothScaleComponent3D extends SmootherScaleComponent<SmoothScaleComponent3DData, GaussianSmoother3D> {
  static override readonly nullParameterValue: number = 1.0;
  private readonly shapeValue: readonly [number, number, number];
  private blocks: Float64Array[][] = [];

  /**
   * @param initialValues - `shape[0]·shape[1]·shape[2]` initial parameters, x fastest
   * @param shape - number of parameters along x, y and z (each 2, 3 or ≥ 5)
   * @param parameterEsds - optional esds
   * @throws ConfigError when the shape is invalid or does not match the parameter count
   */
  constructor(
    initialValues: ArrayLike<number>,
    shape: readonly [number, number, number],
    parameterEsds?: ArrayLike<number>,
  ) {
    super(initialValues, parameterEsds);
    checkSmootherShape("SmoothScaleComponent3D", shape, this.nParams, 3);
    this.shapeValue = [shape[0], shape[1], shape[2]];
  }

  /** Number of parameters along x, y and z. */
  get shape(): readonly [number, number, number] {
    return this.shapeValue;
  }

  protected override checkData(d: SmoothScaleComponent3DData): void {
    const x = checkDataColumn("SmoothScaleComponent3D", "x", d.x);
    checkDataColumn("SmoothScaleComponent3D", "y", d.y, x.length);
    checkDataColumn("SmoothScaleComponent3D", "z", d.z, x.length);
  }

  override updateReflectionData(selection?: Uint8Array, blockSelections?: readonly Int32Array[]): void {
    const name = "SmoothScaleComponent3D";
    const [x, y, z] = maskColumns(name, [this.data.x, this.data.y, this.data.z], selection);
    const sx = shiftToOrigin(name, "x", x);
    const sy = shiftToOrigin(name, "y", y);
    const sz = shiftToOrigin(name, "z", z);
    this.smootherValue = new GaussianSmoother3D(
      sx.range,
      nparamToVal(this.shapeValue[0]),
      sy.range,
      nparamToVal(this.shapeValue[1]),
      sz.range,
      nparamToVal(this.shapeValue[2]),
    );
    this.blocks = splitBlocks(name, [sx.shifted, sy.shifted, sz.shifted], blockSelections);
    this.nReflPerBlock = this.blocks.map((b) => b[0].length);
  }

  protected override blockValueWeight(blockId: number): SmootherMultiValueWeight {
    const [xs, ys, zs] = this.blocks[blockId];
    return this.smoother.multiValueWeight(xs, ys, zs, this.params);
  }
}
