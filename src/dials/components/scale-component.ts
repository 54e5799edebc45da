/**
 * Abstract base of the scale components (DIALS `ScaleComponentBase`, `S/model/components/scale_components.py`).
 * Every component models a factor of the *inverse* scale g (I_obs ≈ g·I_true).
 *
 * @packageDocumentation
 */
import { ConfigError, describeValue, requireArrayArgument, requireNumbersArgument } from "../../errors.ts";
import { SparseMatrix } from "../sparse-matrix.ts";

/** Inverse scales of one block and their derivatives with respect to the component's free parameters. */
export interface ScalesAndDerivatives {
  /** One inverse scale per observation of the block. */
  scales: Float64Array;
  /** nObs(block) × nFreeParams derivatives ∂g/∂p. */
  derivatives: SparseMatrix;
}

/** Restraint terms in least-squares (Jacobian) form: residual r_k, ∂r/∂p and the weight of each restraint. */
export interface JacobianRestraints {
  /** Restraint residuals. */
  residuals: Float64Array;
  /** nRestraints × nFreeParams Jacobian of the residuals. */
  jacobian: SparseMatrix;
  /** Weight of each restraint. */
  weights: Float64Array;
}

/** Restraint terms in gradient form: `residual_k = λ_k p_k²`, `gradient_k = 2 λ_k p_k`. */
export interface GradientRestraints {
  /** Restraint residuals. */
  residuals: Float64Array;
  /** Gradient of the restraint term with respect to the free parameters. */
  gradient: Float64Array;
}

/** Check a per-reflection data column: a Float64Array of the expected length. */
export function checkDataColumn(component: string, key: string, column: unknown, n?: number): Float64Array {
  if (!(column instanceof Float64Array)) {
    throw new ConfigError(`${component}: data key "${key}" must be a Float64Array`);
  }
  if (n !== undefined && column.length !== n) {
    throw new ConfigError(`${component}: data key "${key}" has length ${column.length}, expected ${n}`);
  }
  return column;
}

/**
 * The per-block row indices of a component update, as {@link resolveBlocks} chooses them, with all rows as one block
 * when neither a selection nor block selections are given.
 *
 * @param component - component name for error messages
 * @param n - number of data rows
 * @param selection - optional row mask
 * @param blockSelections - optional index arrays
 */
export function blockIndices(
  component: string,
  n: number,
  selection: Uint8Array | undefined,
  blockSelections: readonly Int32Array[] | undefined,
): Int32Array[] {
  return resolveBlocks(component, n, selection, blockSelections) ?? [Int32Array.from({ length: n }, (_, i) => i)];
}

/**
 * The per-block index lists to use for a component update: `selection` (a 0/1 mask, one block) takes precedence,
 * then `blockSelections` (indices into the data, one array per block), otherwise all rows as one block.
 *
 * @param component - component name for error messages
 * @param n - number of data rows
 * @param selection - optional row mask
 * @param blockSelections - optional index arrays
 */
export function resolveBlocks(
  component: string,
  n: number,
  selection: Uint8Array | undefined,
  blockSelections: readonly Int32Array[] | undefined,
): Int32Array[] | undefined {
  if (selection !== undefined) {
    requireNumbersArgument(selection, `${component}.updateReflectionData: selection`);
    if (selection.length !== n) {
      throw new ConfigError(`${component}: selection has length ${selection.length}, expected ${n}`);
    }
    let m = 0;
    for (let i = 0; i < n; i++) if (selection[i] !== 0) m++;
    const idx = new Int32Array(m);
    let p = 0;
    for (let i = 0; i < n; i++) if (selection[i] !== 0) idx[p++] = i;
    return [idx];
  }
  if (blockSelections !== undefined) {
    requireArrayArgument(blockSelections, `${component}.updateReflectionData: blockSelections`);
    blockSelections.forEach((sel, b) => {
      requireNumbersArgument(sel, `${component}.updateReflectionData: blockSelections[${b}]`);
    });
    for (const [b, sel] of blockSelections.entries()) {
      for (const i of sel) {
        if (i < 0 || i >= n) {
          throw new ConfigError(`${component}: block selection ${b} has index ${i} outside [0, ${n})`);
        }
      }
    }
    return blockSelections.slice();
  }
  return undefined;
}

/** Gather `v[idx[k]]`. */
export function gather(v: Float64Array, idx: Int32Array): Float64Array {
  const out = new Float64Array(idx.length);
  for (let k = 0; k < idx.length; k++) out[k] = v[idx[k]];
  return out;
}

/**
 * Base class of a scale component: a parameter vector, optional esds and variance–covariance matrix, the data of
 * all suitable reflections of a dataset (`data`), and per-block arrays built by
 * {@link ScaleComponent.updateReflectionData}.
 *
 * @typeParam D - the record of per-reflection data columns this component needs
 */
export abstract class ScaleComponent<D = Record<string, Float64Array>> {
  /** Value of a parameter that applies no correction; written to the model JSON. */
  static readonly nullParameterValue: number = 1.0;

  /** Full-matrix variance–covariance of the free parameters (dense nFree × nFree, row-major), set after refinement. */
  varCovMatrix: Float64Array | undefined = undefined;

  /** Parameter values (all, including a fixed first one). */
  protected params: Float64Array;
  /** Estimated standard deviations of all parameters. */
  protected esds: Float64Array | undefined;
  /** Number of reflections per block. */
  protected nReflPerBlock: number[] = [];
  private dataValue: D | undefined = undefined;

  /**
   * @param initialValues - initial parameter values (copied)
   * @param parameterEsds - optional esds, same length (copied)
   */
  constructor(initialValues: ArrayLike<number>, parameterEsds?: ArrayLike<number>) {
    requireNumbersArgument(initialValues, `${new.target.name}: initialValues`);
    if (parameterEsds !== undefined) requireNumbersArgument(parameterEsds, `${new.target.name}: parameterEsds`);
    this.params = Float64Array.from(initialValues);
    if (parameterEsds !== undefined && parameterEsds.length !== this.params.length) {
      throw new ConfigError(
        `${this.constructor.name}: ${parameterEsds.length} esds for ${this.params.length} parameters`,
      );
    }
    this.esds = parameterEsds === undefined ? undefined : Float64Array.from(parameterEsds);
  }

  /** The null parameter value of this component's class. */
  get nullParameterValue(): number {
    return (this.constructor as typeof ScaleComponent).nullParameterValue;
  }

  /** Number of parameters (including a fixed first one). */
  get nParams(): number {
    return this.params.length;
  }

  /** All parameters (the live array; copy before keeping). */
  get parameters(): Float64Array {
    return this.params;
  }
  set parameters(p: Float64Array) {
    if (p.length !== this.params.length) {
      throw new ConfigError(`${this.constructor.name}: ${p.length} parameters given, expected ${this.params.length}`);
    }
    this.params = Float64Array.from(p);
  }

  /** The parameters the minimiser refines; equal to {@link ScaleComponent.parameters} unless a subclass fixes some. */
  get freeParameters(): Float64Array {
    return this.params;
  }
  set freeParameters(p: Float64Array) {
    this.parameters = p;
  }

  /** Esds of all parameters, if known. */
  get parameterEsds(): Float64Array | undefined {
    return this.esds;
  }
  set parameterEsds(e: Float64Array | undefined) {
    if (e !== undefined && e.length !== this.params.length) {
      throw new ConfigError(`${this.constructor.name}: ${e.length} esds given, expected ${this.params.length}`);
    }
    this.esds = e === undefined ? undefined : Float64Array.from(e);
  }

  /** Esds of the free parameters. */
  get freeParameterEsds(): Float64Array | undefined {
    return this.esds;
  }
  set freeParameterEsds(e: Float64Array | undefined) {
    this.parameterEsds = e;
  }

  /** Number of free parameters. */
  get nFreeParams(): number {
    return this.freeParameters.length;
  }

  /** The per-reflection data of all suitable reflections of the dataset. */
  get data(): D {
    if (this.dataValue === undefined) throw new ConfigError(`${this.constructor.name}: data has not been set`);
    return this.dataValue;
  }
  set data(d: D) {
    this.checkData(d);
    this.dataValue = d;
  }

  /** Whether data has been set. */
  get hasData(): boolean {
    return this.dataValue !== undefined;
  }

  /** Number of reflections in each block (after {@link ScaleComponent.updateReflectionData}). */
  get nRefl(): readonly number[] {
    return this.nReflPerBlock;
  }

  /** Check that `d` holds the exact columns this component needs; throw ConfigError otherwise. */
  protected abstract checkData(d: D): void;

  /**
   * Build the per-block arrays from {@link ScaleComponent.data}.
   *
   * @param selection - optional 0/1 mask over the data rows: one block of the selected rows (takes precedence)
   * @param blockSelections - optional index arrays into the data rows, one per block
   */
  abstract updateReflectionData(selection?: Uint8Array, blockSelections?: readonly Int32Array[]): void;

  /**
   * Inverse scales and derivatives (nObs(block) × nFreeParams) for one block.
   *
   * @param blockId - block index, default 0
   */
  abstract calculateScalesAndDerivatives(blockId?: number): ScalesAndDerivatives;

  /**
   * Inverse scales for one block.
   *
   * @param blockId - block index, default 0
   */
  calculateScales(blockId = 0): Float64Array {
    return this.calculateScalesAndDerivatives(blockId).scales;
  }

  /** Restraint residuals and gradient, or undefined when the component is unrestrained. */
  calculateRestraints(): GradientRestraints | undefined {
    return undefined;
  }

  /** Restraints in Jacobian form, or undefined when the component is unrestrained. */
  calculateJacobianRestraints(): JacobianRestraints | undefined {
    return undefined;
  }

  /** Throw unless `blockId` names an existing block. */
  protected checkBlock(blockId: number): void {
    if (!Number.isInteger(blockId) || blockId < 0 || blockId >= this.nReflPerBlock.length) {
      throw new ConfigError(
        `${this.constructor.name}: block ${describeValue(blockId)} does not exist (${this.nReflPerBlock.length} blocks; call updateReflectionData first)`,
      );
    }
  }
}

/** A column of ones as an n × 1 sparse matrix scaled by `v` (or ones when `v` is omitted). */
export function columnMatrix(n: number, v?: Float64Array): SparseMatrix {
  const colPtr = new Int32Array([0, n]);
  const rowIdx = new Int32Array(n);
  for (let i = 0; i < n; i++) rowIdx[i] = i;
  const values = v === undefined ? new Float64Array(n).fill(1) : Float64Array.from(v);
  return new SparseMatrix(n, 1, colPtr, rowIdx, values);
}

/**
 * DIALS smooth-component selection, step 1: when a 0/1 `selection` is given, keep only the selected rows of every
 * column (the smoother origin and range are then taken over the selection only).
 *
 * @param component - component name for error messages
 * @param columns - data columns of equal length
 * @param selection - optional row mask
 */
export function maskColumns(component: string, columns: Float64Array[], selection?: Uint8Array): Float64Array[] {
  if (selection === undefined) return columns;
  const n = columns[0].length;
  const blocks = resolveBlocks(component, n, selection, undefined);
  const idx = (blocks ?? [])[0];
  return columns.map((c) => gather(c, idx));
}

/**
 * DIALS smooth-component selection, step 2: split (already masked and normalised) columns into blocks, one per
 * index array; without `blockSelections`, one block holding every row.
 *
 * @returns blocks × columns
 */
export function splitBlocks(
  component: string,
  columns: Float64Array[],
  blockSelections?: readonly Int32Array[],
): Float64Array[][] {
  if (blockSelections === undefined) return [columns];
  const blocks = resolveBlocks(component, columns[0].length, undefined, blockSelections) ?? [];
  return blocks.map((sel) => columns.map((c) => gather(c, sel)));
}

/** Round to 10 decimals, like Python's `round(x, 10)` (correctly rounded decimal conversion). */
function round10(x: number): number {
  return Number(x.toFixed(10));
}

/**
 * Shift a coordinate column so its minimum is exactly 0 and return the smoother range DIALS uses:
 * `[floor(round(min, 10)), max(ceil(round(max, 10)), 1)]`.
 *
 * @param component - component name for error messages
 * @param key - data key for error messages
 * @param v - coordinates (not modified)
 */
export function shiftToOrigin(
  component: string,
  key: string,
  v: Float64Array,
): { shifted: Float64Array; range: [number, number] } {
  if (v.length === 0) throw new ConfigError(`${component}: no reflections in data key "${key}"`);
  let lo = Infinity;
  for (const a of v) {
    if (!Number.isFinite(a)) throw new ConfigError(`${component}: non-finite value in data key "${key}"`);
    if (a < lo) lo = a;
  }
  const shifted = new Float64Array(v.length);
  let hi = -Infinity;
  let mn = Infinity;
  for (let i = 0; i < v.length; i++) {
    const s = v[i] - lo;
    shifted[i] = s;
    if (s > hi) hi = s;
    if (s < mn) mn = s;
  }
  return { shifted, range: [Math.floor(round10(mn)), Math.max(Math.ceil(round10(hi)), 1)] };
}

/** Multiply each row of raw smoother weights by 1/Σw (0 where Σw = 0), times an optional extra factor per row. */
export function normalisedWeights(weight: SparseMatrix, sumweight: Float64Array, factor?: Float64Array): SparseMatrix {
  const f = new Float64Array(sumweight.length);
  for (let i = 0; i < f.length; i++) {
    const s = sumweight[i];
    f[i] = s > 0 ? (factor === undefined ? 1 : factor[i]) / s : 0;
  }
  return weight.rowMultiply(f);
}
