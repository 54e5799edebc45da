/**
 * The scaling refinery glue (DIALS `S/scaling_refiner.py` with `MultiScalerBase._update_for_minimisation`): a
 * {@link LeastSquaresProblem} over one or many datasets (scaling models driven by an active parameter manager) and an
 * Ih table. Every evaluation recomputes, block by block, the inverse scales and their derivatives, then Ih (unless
 * the target holds Ih fixed), and accumulates the normal equations or the L-BFGS functional and gradient.
 *
 * @packageDocumentation
 */
import {
  ConfigError,
  requireInstanceArgument,
  requireArrayArgument,
  requireObjectArgument,
  requireOptionsArgument,
} from "../errors.ts";
import type {
  LeastSquaresProblem,
  NormalEquations,
  RefinementOptions,
  RefinementResult,
} from "../solve/least-squares-problem.ts";
import { levenbergMarquardt } from "../solve/levenberg-marquardt.ts";
import { gaussNewton } from "../solve/gauss-newton.ts";
import { lbfgs } from "../solve/lbfgs.ts";
import { IhTable, type IhTableBlock } from "./ih-table.ts";
import { SparseMatrix } from "./sparse-matrix.ts";
import { ScalingTarget, symmetrise } from "./target-function.ts";
import type { NormalEquationAccumulator } from "./target-function.ts";
import type { JacobianRestraints, ScalesAndDerivatives } from "./components/scale-component.ts";
import {
  MultiActiveParameterManager,
  ScalingActiveParameterManager,
  SharedActiveParameterManager,
} from "./active-parameter-manager.ts";
import { ScalingModel } from "./scaling-model.ts";

/** One dataset's scale calculator: inverse scales and dg/dp of its rows in an Ih block (block order). */
export interface DatasetScaleCalculator {
  /**
   * Inverse scales and derivatives (rows: the dataset's rows of block `blockId`, in block order; columns: the
   * dataset's active parameters).
   */
  calculateScalesAndDerivatives(blockId: number): ScalesAndDerivatives;
}

/**
 * The parameters a {@link ScalingRefinery} refines: the concatenated active parameters of all datasets, as DIALS's
 * `multi_active_parameter_manager` holds them. {@link fromActiveParameterManagers} builds one from the project's
 * parameter managers.
 */
export interface ScalingParameterSet {
  /** Per dataset, its scale calculator (components already given the Ih table's block selections). */
  readonly datasets: readonly DatasetScaleCalculator[];
  /**
   * Per dataset, the index in the concatenated vector of each of its parameters (a contiguous range for a plain
   * multi-dataset manager; shared components map several datasets onto the same indices).
   */
  readonly columnMaps: readonly Int32Array[];
  /** Total number of parameters. */
  readonly nParameters: number;
  /** One name per parameter. */
  parameterNames(): readonly string[];
  /** A copy of the concatenated parameters. */
  getParameters(): Float64Array;
  /** Pushes the concatenated parameters back into the components. */
  setParameters(x: Float64Array): void;
  /** Restraints in Jacobian form over all parameters (rows: restraints, columns: all parameters), if any. */
  calculateJacobianRestraints?(): JacobianRestraints | undefined;
  /** Receives the final variance–covariance matrix and esds (n×n row-major, n) after full-matrix refinement. */
  setVarianceCovariance?(varCov: Float64Array, esds: Float64Array): void;
}

/** Options of {@link ScalingRefinery}. */
export interface ScalingRefineryOptions {
  /**
   * The target; pass a `ScalingTargetFixedIH` to scale against fixed reference intensities already set as the
   * blocks' `IhValues`.
   * @defaultValue a new {@link ScalingTarget}
   */
  target?: ScalingTarget;
  /**
   * Indices of parameters along which the problem has a gauge freedom (typically every multiplicative `scale`
   * parameter: multiplying them all by c divides every Ih by c and leaves the residuals unchanged). When given, a
   * zero-residual row `Σ_k p_k·Δp_k` (weight {@link ScalingRefineryOptions.gaugeWeight}) is added to the normal
   * equations, which removes the null direction n = (p_k) from every step without changing the objective or the
   * gradient; Gauss–Newton needs this, Levenberg–Marquardt merely benefits (meaningful ESDs). It also counts as one
   * equation for the reduced χ², as it removes one degree of freedom.
   * @defaultValue undefined (no gauge row)
   */
  gaugeParameters?: readonly number[];
  /**
   * Weight of the gauge row relative to the mean diagonal of JᵀWJ.
   * @defaultValue 1
   */
  gaugeWeight?: number;
}

/**
 * A {@link LeastSquaresProblem} over Ih-table blocks and a multi-dataset parameter set. Rows of dataset d in block b
 * are `block.datasetRanges[d]`; their scales come from `datasets[d].calculateScalesAndDerivatives(b)`.
 */
export class ScalingRefinery implements LeastSquaresProblem {
  /** The Ih table (work blocks are refined; the free block, if any, is only updated). */
  readonly ihTable: IhTable;
  /** The parameters. */
  readonly parameters: ScalingParameterSet;
  /** The target function. */
  readonly target: ScalingTarget;
  readonly #gauge: Int32Array | undefined;
  readonly #gaugeWeight: number;
  /** Work-block derivatives at the current parameters; undefined when the parameters changed since. */
  #derivs: SparseMatrix[] | undefined = undefined;

  /**
   * @param ihTable - the Ih table; components must have been given its block selections
   * @param parameters - the parameter set
   * @param options - target and gauge handling
   * @throws ConfigError when the parameter set does not match the table
   */
  constructor(ihTable: IhTable, parameters: ScalingParameterSet, options: ScalingRefineryOptions = {}) {
    requireInstanceArgument(ihTable, IhTable, "ScalingRefinery: ihTable");
    requireObjectArgument(parameters, "ScalingRefinery: parameters (a ScalingParameterSet)");
    for (const key of ["datasets", "columnMaps"] as const)
      requireArrayArgument(parameters[key], `ScalingRefinery: parameters.${key}`);
    requireOptionsArgument(options, "ScalingRefinery: options");
    if (parameters.datasets.length !== ihTable.nDatasets || parameters.columnMaps.length !== ihTable.nDatasets) {
      throw new ConfigError(
        `ScalingRefinery: ${parameters.datasets.length} dataset calculators for an Ih table of ${ihTable.nDatasets} datasets`,
      );
    }
    this.ihTable = ihTable;
    this.parameters = parameters;
    this.target = options.target ?? new ScalingTarget();
    if (options.gaugeParameters !== undefined) {
      const g = Int32Array.from(options.gaugeParameters);
      for (const k of g) {
        if (k < 0 || k >= parameters.nParameters) {
          throw new ConfigError(`ScalingRefinery: gauge parameter ${k} is outside 0..${parameters.nParameters - 1}`);
        }
      }
      this.#gauge = g.length > 0 ? g : undefined;
    } else {
      this.#gauge = undefined;
    }
    const gw = options.gaugeWeight ?? 1;
    if (!(gw > 0) || !Number.isFinite(gw)) throw new ConfigError(`ScalingRefinery: gaugeWeight must be > 0, got ${gw}`);
    this.#gaugeWeight = gw;
    this.updateForMinimisation();
  }

  /** Number of parameters. */
  get nParameters(): number {
    return this.parameters.nParameters;
  }

  /** Parameter names. */
  parameterNames(): readonly string[] {
    return this.parameters.parameterNames();
  }

  /** A copy of the current parameters. */
  getParameters(): Float64Array {
    return this.parameters.getParameters();
  }

  /** Sets the parameters and recomputes scales and Ih in every block. */
  setParameters(x: Float64Array): void {
    requireInstanceArgument(x, Float64Array, "ScalingRefinery.setParameters: x");
    if (x.length !== this.nParameters) {
      throw new ConfigError(`ScalingRefinery: ${x.length} parameters given, expected ${this.nParameters}`);
    }
    this.parameters.setParameters(x);
    this.#derivs = undefined;
  }

  /** The work-block derivatives at the current parameters, updating scales and Ih first if needed. */
  #current(): SparseMatrix[] {
    this.#derivs ??= this.updateForMinimisation();
    return this.#derivs;
  }

  /**
   * Recomputes the inverse scales of every block (free block included) from the current parameters and, unless the
   * target holds Ih fixed, Ih. Returns the derivatives of the work blocks.
   */
  updateForMinimisation(): SparseMatrix[] {
    const derivs: SparseMatrix[] = [];
    const blocks = this.ihTable.allBlocks;
    for (let b = 0; b < blocks.length; b++) {
      const block = blocks[b];
      const d = this.#updateBlock(block, b);
      if (b < this.ihTable.blocks.length) derivs.push(d);
      if (!this.target.fixedIh) block.calcIh();
    }
    this.#derivs = derivs;
    return derivs;
  }

  /** Sets one block's inverse scales and returns its derivatives over all parameters. */
  #updateBlock(block: IhTableBlock, blockId: number): SparseMatrix {
    const P = this.nParameters;
    const parts: { sd: ScalesAndDerivatives; start: number; map: Int32Array }[] = [];
    let nnz = 0;
    for (let d = 0; d < this.ihTable.nDatasets; d++) {
      const [start, end] = block.datasetRanges[d];
      if (end === start) continue;
      const sd = this.parameters.datasets[d].calculateScalesAndDerivatives(blockId);
      if (sd.scales.length !== end - start || sd.derivatives.nRows !== end - start) {
        throw new ConfigError(
          `ScalingRefinery: dataset ${d} gave ${sd.scales.length} scales for ${end - start} rows of block ${blockId}`,
        );
      }
      const map = this.parameters.columnMaps[d];
      if (map.length !== sd.derivatives.nCols) {
        throw new ConfigError(
          `ScalingRefinery: dataset ${d} has ${sd.derivatives.nCols} derivative columns but ${map.length} mapped parameters`,
        );
      }
      for (const c of map) {
        if (!(c >= 0 && c < P)) throw new ConfigError(`ScalingRefinery: dataset ${d} maps a parameter to column ${c}`);
      }
      block.inverseScaleFactor.set(sd.scales, start);
      parts.push({ sd, start, map });
      nnz += sd.derivatives.colPtr[sd.derivatives.nCols];
    }
    // Assemble the block-diagonal CSC matrix (datasets own disjoint rows; columns may coincide if shared).
    const count = new Int32Array(P + 1);
    for (const { sd, map } of parts) {
      const m = sd.derivatives;
      for (let j = 0; j < m.nCols; j++) count[map[j] + 1] += m.colPtr[j + 1] - m.colPtr[j];
    }
    for (let j = 0; j < P; j++) count[j + 1] += count[j];
    const fill = count.slice(0, P);
    const rowIdx = new Int32Array(nnz);
    const values = new Float64Array(nnz);
    // Datasets are visited in row order, so rows stay increasing within every column.
    for (const { sd, start, map } of parts) {
      const m = sd.derivatives;
      for (let j = 0; j < m.nCols; j++) {
        for (let k = m.colPtr[j]; k < m.colPtr[j + 1]; k++) {
          const t = fill[map[j]]++;
          rowIdx[t] = m.rowIdx[k] + start;
          values[t] = m.values[k];
        }
      }
    }
    return new SparseMatrix(block.size, P, count, rowIdx, values);
  }

  /** Number of observations in the work blocks. */
  get nObservations(): number {
    return this.ihTable.size;
  }

  /** Normal equations at the current parameters (DIALS's full-matrix engines). */
  buildNormalEquations(): NormalEquations {
    const P = this.nParameters;
    const derivs = this.#current();
    const acc: NormalEquationAccumulator = {
      matrix: new Float64Array(P * P),
      gradient: new Float64Array(P),
      sumWr2: 0,
    };
    this.ihTable.blocks.forEach((block, b) => {
      this.target.accumulateNormalEquations(block, derivs[b], acc);
    });
    let nEquations = this.nObservations;
    const restraints = this.parameters.calculateJacobianRestraints?.();
    if (restraints !== undefined) {
      nEquations += this.#addRestraintRows(restraints, acc);
    }
    if (this.#gauge !== undefined) {
      let trace = 0;
      for (let k = 0; k < P; k++) trace += acc.matrix[k * P + k];
      const lambda = (this.#gaugeWeight * trace) / Math.max(P, 1);
      const x = this.getParameters();
      const idx = this.#gauge;
      let nn = 0;
      for (const k of idx) nn += x[k] * x[k];
      const scale = nn > 0 ? lambda / nn : lambda;
      for (const a of idx) {
        for (const b of idx) {
          if (b >= a) acc.matrix[a * P + b] += scale * x[a] * x[b];
        }
      }
      nEquations += 1;
    }
    symmetrise(acc.matrix, P);
    return {
      n: P,
      matrix: acc.matrix,
      gradient: acc.gradient,
      objective: 0.5 * acc.sumWr2,
      nObservations: this.nObservations,
      nEquations,
    };
  }

  /** Adds the restraint rows (residual r, Jacobian R, weight λ) to the accumulator; returns their count. */
  #addRestraintRows(r: JacobianRestraints, acc: NormalEquationAccumulator): number {
    const P = this.nParameters;
    const J = r.jacobian;
    if (J.nCols !== P || J.nRows !== r.residuals.length || r.weights.length !== r.residuals.length) {
      throw new ConfigError("ScalingRefinery: restraint Jacobian does not match the parameters");
    }
    const rowsT = J.transpose(); // columns = restraint rows
    for (let q = 0; q < J.nRows; q++) {
      const w = r.weights[q];
      const res = r.residuals[q];
      acc.sumWr2 += w * res * res;
      for (let s = rowsT.colPtr[q]; s < rowsT.colPtr[q + 1]; s++) {
        const a = rowsT.rowIdx[s];
        const va = rowsT.values[s];
        acc.gradient[a] += w * res * va;
        for (let t = rowsT.colPtr[q]; t < rowsT.colPtr[q + 1]; t++) {
          const b = rowsT.rowIdx[t];
          if (b >= a) acc.matrix[a * P + b] += w * va * rowsT.values[t];
        }
      }
    }
    return J.nRows;
  }

  /** ½Σwr² (restraints included) at the current parameters. */
  computeObjective(): { objective: number; nObservations: number } {
    this.#current();
    let sum = 0;
    for (const block of this.ihTable.blocks) {
      const r = this.target.calculateResiduals(block);
      for (let i = 0; i < block.size; i++) sum += block.weights[i] * r[i] * r[i];
    }
    const restraints = this.parameters.calculateJacobianRestraints?.();
    if (restraints !== undefined) {
      for (let q = 0; q < restraints.residuals.length; q++) {
        sum += restraints.weights[q] * restraints.residuals[q] ** 2;
      }
    }
    return { objective: 0.5 * sum, nObservations: this.nObservations };
  }

  /** The L-BFGS functional f = Σwr² + Σλp² and its gradient. */
  computeFunctionalAndGradient(): { f: number; gradient: Float64Array } {
    const P = this.nParameters;
    const derivs = this.#current();
    const gradient = new Float64Array(P);
    let f = 0;
    this.ihTable.blocks.forEach((block, b) => {
      const r = this.target.calculateResiduals(block);
      for (let i = 0; i < block.size; i++) f += block.weights[i] * r[i] * r[i];
      const g = this.target.calculateGradient(block, derivs[b]);
      for (let k = 0; k < P; k++) gradient[k] += g[k];
    });
    const restraints = this.parameters.calculateJacobianRestraints?.();
    if (restraints !== undefined) {
      const acc: NormalEquationAccumulator = {
        matrix: new Float64Array(P * P),
        gradient: new Float64Array(P),
        sumWr2: 0,
      };
      this.#addRestraintRows(restraints, acc);
      f += acc.sumWr2;
      for (let k = 0; k < P; k++) gradient[k] += 2 * acc.gradient[k];
    }
    return { f, gradient };
  }

  /** The RMSD DIALS reports at the current parameters. */
  rmsd(): number {
    const { objective, nObservations } = this.computeObjective();
    return Math.sqrt((2 * objective) / nObservations);
  }
}

/** The minimisers {@link refineScaling} can run (DIALS `scaling_refinery.engine` / `full_matrix_engine`). */
export type ScalingEngine = "LevMar" | "GaussNewton" | "LBFGS";

/** Options of {@link refineScaling}. */
export interface RefineScalingOptions extends RefinementOptions {
  /**
   * The minimiser.
   * @defaultValue "LBFGS" (DIALS's default `scaling_refinery.engine`)
   */
  engine?: ScalingEngine;
}

/**
 * Runs a minimiser on a scaling problem and pushes the result back: the parameters are left at the minimum, and
 * after a full-matrix engine (LevMar, GaussNewton) on a {@link ScalingRefinery} the variance–covariance matrix and
 * esds go to its parameter set ({@link ScalingParameterSet.setVarianceCovariance}), as DIALS does after full-matrix
 * refinement.
 *
 * @param refinery - the problem (usually a {@link ScalingRefinery}; any least-squares problem is accepted)
 * @param options - engine, iteration limit, RMSD tolerance and progress callback
 * @returns the minimiser's result
 */
export function refineScaling(refinery: LeastSquaresProblem, options: RefineScalingOptions = {}): RefinementResult {
  requireOptionsArgument(options, "refineScaling: options");
  const engine = options.engine ?? "LBFGS";
  const opts: RefinementOptions = {};
  if (options.maxIterations !== undefined) opts.maxIterations = options.maxIterations;
  if (options.rmsdTolerance !== undefined) opts.rmsdTolerance = options.rmsdTolerance;
  if (options.onIteration !== undefined) opts.onIteration = options.onIteration;
  let result: RefinementResult;
  switch (engine) {
    case "LevMar":
      result = levenbergMarquardt(refinery, opts);
      break;
    case "GaussNewton":
      result = gaussNewton(refinery, opts);
      break;
    case "LBFGS":
      result = lbfgs(refinery, opts);
      break;
    default:
      throw new ConfigError(`refineScaling: unknown engine "${String(engine)}" (LevMar, GaussNewton or LBFGS)`);
  }
  refinery.setParameters(result.parameters);
  if (engine !== "LBFGS" && refinery instanceof ScalingRefinery) {
    refinery.parameters.setVarianceCovariance?.(result.varianceCovariance, result.esds);
  }
  return result;
}

/**
 * Wraps a multi-dataset parameter manager (plain or shared) whose per-dataset managers are
 * {@link ScalingActiveParameterManager}s as a {@link ScalingParameterSet}: scales and derivatives come from the
 * managers, restraints from the active components (`calculateJacobianRestraints`, stacked per dataset and component
 * at their parameter columns), and the final variance–covariance matrix and esds go back through
 * `calculateModelStateUncertainties` and `setParamEsds`.
 *
 * @param apm - the parameter manager; its components must already hold the Ih table's block structure
 * @returns the parameter set
 * @throws ConfigError when a dataset's manager is not a ScalingActiveParameterManager
 */
export function parameterSetFromApm(apm: MultiActiveParameterManager): ScalingParameterSet {
  const datasets = apm.apmList.map((a, i) => {
    if (!(a instanceof ScalingActiveParameterManager)) {
      throw new ConfigError(`parameterSetFromApm: dataset ${i} needs a ScalingActiveParameterManager`);
    }
    return a;
  });
  const columnMaps: Int32Array[] =
    apm instanceof SharedActiveParameterManager
      ? apm.apmData.map((slice) => Int32Array.from(slice.apmSel))
      : apm.apmData.map((slice) => {
          const map = new Int32Array(slice.endIdx - slice.startIdx);
          for (let k = 0; k < map.length; k++) map[k] = slice.startIdx + k;
          return map;
        });
  const nParameters = apm.nActiveParams;
  const fullNames = apm.getParamNames();
  const names: string[] = new Array<string>(nParameters).fill("");
  let f = 0;
  columnMaps.forEach((map) => {
    for (const c of map) {
      if (names[c] === "") names[c] = fullNames[f] ?? `param${c}`;
      f++;
    }
  });
  return {
    datasets,
    columnMaps,
    nParameters,
    parameterNames: () => names,
    getParameters: () => apm.getParamVals(),
    setParameters: (x) => {
      apm.setParamVals(x);
    },
    calculateJacobianRestraints: () => {
      const rows: number[] = [];
      const cols: number[] = [];
      const vals: number[] = [];
      const residuals: number[] = [];
      const weights: number[] = [];
      datasets.forEach((a, i) => {
        for (const c of a.components.values()) {
          const r = c.object.calculateJacobianRestraints();
          if (r === undefined) continue;
          const base = residuals.length;
          const J = r.jacobian;
          for (let j = 0; j < J.nCols; j++) {
            for (let k = J.colPtr[j]; k < J.colPtr[j + 1]; k++) {
              rows.push(base + J.rowIdx[k]);
              cols.push(columnMaps[i][c.startIdx + j]);
              vals.push(J.values[k]);
            }
          }
          residuals.push(...r.residuals);
          weights.push(...r.weights);
        }
      });
      if (residuals.length === 0) return undefined;
      return {
        residuals: Float64Array.from(residuals),
        jacobian: SparseMatrix.fromTriplets(residuals.length, nParameters, rows, cols, vals),
        weights: Float64Array.from(weights),
      };
    },
    setVarianceCovariance: (varCov, esds) => {
      apm.calculateModelStateUncertainties(varCov);
      apm.setParamEsds(esds);
    },
  };
}

/** Options of {@link createScalingRefinery}. */
export interface CreateScalingRefineryOptions {
  /**
   * The target (a `ScalingTargetFixedIH` for scaling against a reference whose Ih are already in the table).
   * @defaultValue a new {@link ScalingTarget}
   */
  target?: ScalingTarget;
  /**
   * Name of a component shared by all datasets (DIALS `shared`), or undefined for independent models.
   * @defaultValue undefined
   */
  shared?: string;
  /**
   * Gauge handling for the full-matrix engines: `"auto"` adds the zero-residual gauge row over every `scale`
   * component's parameters when Ih is free and every dataset refines a `scale` component (the overall scale is then
   * undetermined); `"none"` never does.
   * @defaultValue "auto"
   */
  gauge?: "auto" | "none";
}

/**
 * Builds the scaling problem DIALS's scaler sets up: gives every component of every model the Ih table's block
 * selections (`updateReflectionData`), creates the (shared or plain) multi-dataset parameter manager over the
 * non-fixed components, and wraps everything in a {@link ScalingRefinery}.
 *
 * @param models - one model per dataset, in Ih-table dataset order, components' `data` already set (e.g.
 *   `KBScalingModel.configureComponents`) over the dataset rows given to the Ih table
 * @param ihTable - the Ih table
 * @param options - target, shared component and gauge handling
 * @returns the refinery and the parameter manager
 */
export function createScalingRefinery(
  models: readonly ScalingModel[],
  ihTable: IhTable,
  options: CreateScalingRefineryOptions = {},
): { refinery: ScalingRefinery; apm: MultiActiveParameterManager } {
  requireArrayArgument(models, "createScalingRefinery: models (ScalingModels)");
  models.forEach((m, i) => {
    requireInstanceArgument(m, ScalingModel, `createScalingRefinery: models[${i}]`);
  });
  requireInstanceArgument(ihTable, IhTable, "createScalingRefinery: ihTable");
  requireOptionsArgument(options, "createScalingRefinery: options");
  if (models.length !== ihTable.nDatasets) {
    throw new ConfigError(`createScalingRefinery: ${models.length} models for ${ihTable.nDatasets} datasets`);
  }
  models.forEach((m, d) => {
    const selections = ihTable.getBlockSelectionsForDataset(d);
    for (const c of m.components.values()) c.updateReflectionData(undefined, selections);
  });
  const components = models.map((m) => m.components);
  const active = models.map((m) => [...m.components.keys()].filter((k) => !m.fixedComponents.includes(k)));
  const apm =
    options.shared === undefined
      ? new MultiActiveParameterManager(components, active, ScalingActiveParameterManager)
      : new SharedActiveParameterManager(components, active, ScalingActiveParameterManager, options.shared);
  const parameters = parameterSetFromApm(apm);
  const target = options.target ?? new ScalingTarget();
  const refineryOptions: ScalingRefineryOptions = { target };
  if ((options.gauge ?? "auto") === "auto" && !target.fixedIh && options.shared !== "scale") {
    const gauge: number[] = [];
    let everyDataset = true;
    for (const [i, a] of apm.apmList.entries()) {
      const info = a.components.get("scale");
      if (info === undefined) {
        everyDataset = false;
        break;
      }
      for (let k = info.startIdx; k < info.endIdx; k++) gauge.push(parameters.columnMaps[i][k]);
    }
    if (everyDataset && gauge.length > 0) refineryOptions.gaugeParameters = gauge;
  }
  return { refinery: new ScalingRefinery(ihTable, parameters, refineryOptions), apm };
}
