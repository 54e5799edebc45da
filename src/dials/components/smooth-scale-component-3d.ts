/**
 * Smoothly varying scale over three coordinates (DIALS `SmoothScaleComponent3D`).
 *
 * @packageDocumentation
 */
import { ConfigError } from "../../errors.ts";
import { GaussianSmoother3D } from "../gaussian-smoother-3d.ts";
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

/** Data of a {@link SmoothScaleComponent3D}: normalised coordinates x, y and z. */
export type SmoothScaleComponent3DData = { x: Float64Array; y: Float64Array; z: Float64Array };

/**
 * g_i = S(x_i, y_i, z_i), a 3D Gaussian smoother over `shape[0]·shape[1]·shape[2]` parameters (x fastest:
 * `idx = i + j·shape[0] + k·shape[0]·shape[1]`); ∂g_i/∂p = w/Σw. Each axis is shifted to start at 0, its range is
 * `[0, max(ceil(max), 1)]` with `nparamToVal(shape[axis])` intervals. Null parameter value 1.
 */
export class SmoothScaleComponent3D extends ScaleComponent<SmoothScaleComponent3DData> {
  static override readonly nullParameterValue: number = 1.0;
  private readonly shapeValue: readonly [number, number, number];
  private blocks: Float64Array[][] = [];
  private smootherValue: GaussianSmoother3D | undefined = undefined;

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
    nparamToVal(shape[0]);
    nparamToVal(shape[1]);
    nparamToVal(shape[2]);
    if (shape[0] * shape[1] * shape[2] !== this.nParams) {
      throw new ConfigError(
        `SmoothScaleComponent3D: shape ${shape[0]}x${shape[1]}x${shape[2]} does not match ${this.nParams} parameters`,
      );
    }
    this.shapeValue = [shape[0], shape[1], shape[2]];
  }

  /** Number of parameters along x, y and z. */
  get shape(): readonly [number, number, number] {
    return this.shapeValue;
  }

  /** The smoother built by the last {@link SmoothScaleComponent3D.updateReflectionData}. */
  get smoother(): GaussianSmoother3D {
    if (this.smootherValue === undefined) {
      throw new ConfigError("SmoothScaleComponent3D: smoother not built; call updateReflectionData first");
    }
    return this.smootherValue;
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

  private evaluate(blockId: number): { value: Float64Array; weight: SparseMatrix; sumweight: Float64Array } {
    this.checkBlock(blockId);
    const [xs, ys, zs] = this.blocks[blockId];
    if (xs.length === 0) {
      return { value: new Float64Array(0), weight: SparseMatrix.zeros(0, this.nParams), sumweight: xs };
    }
    return this.smoother.multiValueWeight(xs, ys, zs, this.params);
  }

  override calculateScalesAndDerivatives(blockId = 0): ScalesAndDerivatives {
    const r = this.evaluate(blockId);
    return { scales: r.value, derivatives: normalisedWeights(r.weight, r.sumweight) };
  }

  override calculateScales(blockId = 0): Float64Array {
    return this.evaluate(blockId).value;
  }
}
