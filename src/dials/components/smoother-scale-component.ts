/**
 * The common part of the DIALS smooth scale components (`SmoothScaleComponent1D`, `2D`, `3D`): a Gaussian smoother
 * built over the data by `updateReflectionData`, evaluated block by block (values, raw weights over the free
 * parameters, Σw), giving the scales g = S and the derivatives ∂g/∂p = w/Σw.
 *
 * @packageDocumentation
 */
import { ConfigError, requireNumbersArgument } from "../../errors.ts";
import type { SmootherMultiValueWeight } from "../gaussian-smoother-1d.ts";
import { nparamToVal } from "../model-utilities.ts";
import { SparseMatrix } from "../sparse-matrix.ts";
import { ScaleComponent, normalisedWeights, type ScalesAndDerivatives } from "./scale-component.ts";

/**
 * Check the parameter shape of a multi-axis smooth component: each axis has 2, 3 or ≥ 5 parameters and their product
 * is the parameter count.
 *
 * @param name - the component, for messages
 * @param shape - number of parameters along each axis
 * @param nParams - number of parameters
 * @throws ConfigError when the shape is invalid or does not match the parameter count
 */
export function checkSmootherShape(name: string, shape: readonly number[], nParams: number, axes: number): void {
  requireNumbersArgument(shape, `${name}: shape (parameters per axis)`, axes);
  let product = 1;
  for (const s of shape) {
    nparamToVal(s);
    product *= s;
  }
  if (product !== nParams) {
    throw new ConfigError(`${name}: shape ${shape.join("x")} does not match ${nParams} parameters`);
  }
}

/**
 * A scale component whose scales are the values of a Gaussian smoother `S` over its parameters.
 *
 * @typeParam D - data record
 * @typeParam S - the smoother type
 */
export abstract class SmootherScaleComponent<D, S> extends ScaleComponent<D> {
  /** The smoother built by the last `updateReflectionData`, if any. */
  protected smootherValue: S | undefined = undefined;

  /** The smoother built by the last `updateReflectionData`. */
  get smoother(): S {
    if (this.smootherValue === undefined) {
      throw new ConfigError(`${this.constructor.name}: smoother not built; call updateReflectionData first`);
    }
    return this.smootherValue;
  }

  /** Smoother values, raw weights (free columns) and Σw for a block that has reflections. */
  protected abstract blockValueWeight(blockId: number): SmootherMultiValueWeight;

  /** Smoother values, raw weights (free columns) and Σw for a block. */
  protected evaluate(blockId: number): SmootherMultiValueWeight {
    this.checkBlock(blockId);
    if (this.nReflPerBlock[blockId] === 0) {
      return {
        value: new Float64Array(0),
        weight: SparseMatrix.zeros(0, this.nFreeParams),
        sumweight: new Float64Array(0),
      };
    }
    return this.blockValueWeight(blockId);
  }

  override calculateScalesAndDerivatives(blockId = 0): ScalesAndDerivatives {
    const r = this.evaluate(blockId);
    return { scales: r.value, derivatives: normalisedWeights(r.weight, r.sumweight) };
  }

  override calculateScales(blockId = 0): Float64Array {
    return this.evaluate(blockId).value;
  }
}
