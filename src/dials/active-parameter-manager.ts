/**
 * Active parameter managers (DIALS `S/active_parameter_managers.py` and `scaling_active_parameter_manager` in
 * `S/parameter_handler.py`): they map the minimiser's flat parameter vector x onto the free parameters of the
 * components being refined.
 *
 * @packageDocumentation
 */
import {
  ConfigError,
  describeValue,
  requireArrayArgument,
  requireFunctionArgument,
  requireInstanceArgument,
  requireNumbersArgument,
  requireStringArgument,
} from "../errors.ts";
import type { ScaleComponent, ScalesAndDerivatives } from "./components/scale-component.ts";
import { SparseMatrix } from "./sparse-matrix.ts";

/** Bookkeeping of one active component: its object and its slice `[startIdx, endIdx)` of x. */
export interface ActiveComponentInfo {
  /** The component. */
  object: ScaleComponent;
  /** Number of free parameters. */
  nParams: number;
  /** First index in x. */
  startIdx: number;
  /** One past the last index in x. */
  endIdx: number;
}

function checkLen(what: string, v: ArrayLike<number>, n: number): void {
  requireNumbersArgument(v, what);
  if (v.length !== n) throw new ConfigError(`${what} has length ${v.length}, expected ${n}`);
}

/** Checks a manager's components (a Map of name → component) and the names of the active ones. */
function checkComponents(components: unknown, selectionList: unknown, what: string): void {
  requireInstanceArgument(components, Map, `${what}: components (name → ScaleComponent)`);
  requireArrayArgument(selectionList, `${what}: selectionList (component names)`);
  selectionList.forEach((name, i) => {
    requireStringArgument(name, `${what}: selectionList[${i}]`);
  });
}

/** Copy the diagonal block [i0, i0+n) × [i0, i0+n) of a dense row-major N × N matrix. */
function diagonalBlock(m: ArrayLike<number>, nTotal: number, i0: number, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) out[r * n + c] = m[(i0 + r) * nTotal + i0 + c];
  return out;
}

/**
 * Manages the active parameters of one dataset's model during a minimisation. x is the concatenation of the
 * `freeParameters` of the components named in `selectionList`, taken in **component order** (the map's insertion
 * order), not in selection-list order. Names in the selection list that are not components are ignored (consecutive
 * refinement cycles may name components a model lacks).
 */
export class ActiveParameterManager {
  /** Active components in component order, with their slices of x. */
  readonly components = new Map<string, ActiveComponentInfo>();
  /** Names of the active components, in component order. */
  readonly componentsList: string[] = [];
  /** Full variance–covariance matrix of x, set by {@link ActiveParameterManager.calculateModelStateUncertainties}. */
  varCovMatrix: Float64Array | undefined = undefined;
  private x: Float64Array;

  /**
   * @param components - the model's components, in parameter order
   * @param selectionList - names of the components to refine
   */
  constructor(components: ReadonlyMap<string, ScaleComponent>, selectionList: readonly string[]) {
    checkComponents(components, selectionList, new.target.name);
    const parts: Float64Array[] = [];
    let n = 0;
    for (const [name, object] of components) {
      if (!selectionList.includes(name)) continue;
      const p = object.freeParameters;
      parts.push(p);
      this.components.set(name, { object, nParams: p.length, startIdx: n, endIdx: n + p.length });
      this.componentsList.push(name);
      n += p.length;
    }
    this.x = new Float64Array(n);
    let o = 0;
    for (const p of parts) {
      this.x.set(p, o);
      o += p.length;
    }
  }

  /** Number of active parameters (length of x). */
  get nActiveParams(): number {
    return this.x.length;
  }

  /** A copy of x. */
  getParamVals(): Float64Array {
    return this.x.slice();
  }

  /**
   * Set x and push each component's slice into its `freeParameters`.
   *
   * @param x - new parameter vector, length {@link ActiveParameterManager.nActiveParams}
   */
  setParamVals(x: ArrayLike<number>): void {
    checkLen(`${this.constructor.name}.setParamVals: x (parameter vector)`, x, this.x.length);
    this.x = Float64Array.from(x);
    for (const c of this.components.values()) c.object.freeParameters = this.x.slice(c.startIdx, c.endIdx);
  }

  /** Parameter names `"<comp>_param<j>"`, in x order. */
  getParamNames(): string[] {
    const names: string[] = [];
    for (const [name, c] of this.components) for (let j = 0; j < c.nParams; j++) names.push(`${name}_param${j}`);
    return names;
  }

  /**
   * Store the variance–covariance matrix of x and give each component its diagonal block (`varCovMatrix`).
   *
   * @param varCov - dense nActive × nActive matrix, row-major
   */
  calculateModelStateUncertainties(varCov: ArrayLike<number>): void {
    const n = this.x.length;
    checkLen(`${this.constructor.name}.calculateModelStateUncertainties: varCov`, varCov, n * n);
    for (const c of this.components.values()) {
      c.object.varCovMatrix = diagonalBlock(varCov, n, c.startIdx, c.nParams);
    }
    this.varCovMatrix = Float64Array.from(varCov);
  }

  /**
   * Write the esds of x into the components' `freeParameterEsds`.
   *
   * @param esds - one esd per active parameter
   */
  setParamEsds(esds: ArrayLike<number>): void {
    checkLen(`${this.constructor.name}.setParamEsds: esds`, esds, this.x.length);
    const e = Float64Array.from(esds);
    for (const c of this.components.values()) c.object.freeParameterEsds = e.slice(c.startIdx, c.endIdx);
  }
}

/**
 * Parameter manager for scaling: also keeps, per block, the product of the inverse scales of the components that
 * are **not** active (`constantGValues`, undefined when every component is active), and composes scales and
 * product-rule derivatives of the active components.
 *
 * Deliberate difference from DIALS: when exactly one component is active, DIALS returns that component's derivatives
 * without multiplying them by `constant_g` (so the Jacobian is too small by that factor whenever other components
 * are fixed). Here the derivatives are always `∂g_c/∂p · Π_{c'≠c} g_c' · constant_g`, which is the true derivative of
 * the returned scales.
 */
export class ScalingActiveParameterManager extends ActiveParameterManager {
  /** Per block, the product of the non-active components' inverse scales; undefined when none are fixed. */
  readonly constantGValues: Float64Array[] | undefined;
  /** Number of observations per block (the components' common `nRefl`). */
  readonly nObs: readonly number[];

  /**
   * @param components - the model's components, all updated with the same block structure
   * @param selectionList - names of the components to refine
   * @throws ConfigError when the components disagree on the block structure
   */
  constructor(components: ReadonlyMap<string, ScaleComponent>, selectionList: readonly string[]) {
    super(components, selectionList);
    let nObs: readonly number[] | undefined;
    for (const [name, c] of components) {
      const nr = c.nRefl;
      if (nObs === undefined) nObs = nr;
      else if (nr.length !== nObs.length || nr.some((v, i) => v !== (nObs as readonly number[])[i])) {
        throw new ConfigError(
          `component "${name}" has reflection counts [${nr.join(",")}], expected [${nObs.join(",")}]`,
        );
      }
    }
    this.nObs = nObs === undefined ? [] : nObs.slice();
    let constant: Float64Array[] | undefined;
    for (const [name, c] of components) {
      if (this.components.has(name)) continue;
      if (constant === undefined) {
        constant = this.nObs.map((_, b) => Float64Array.from(c.calculateScales(b)));
      } else {
        for (let b = 0; b < constant.length; b++) {
          const s = c.calculateScales(b);
          const g = constant[b];
          for (let i = 0; i < g.length; i++) g[i] *= s[i];
        }
      }
    }
    this.constantGValues = constant;
  }

  /**
   * Inverse scales g = Π_active g_c × constant_g for a block, and ∂g/∂x (nObs(block) × nActiveParams) with the
   * product rule, each component's columns at its offset in x.
   *
   * @param blockId - block index, default 0
   */
  calculateScalesAndDerivatives(blockId = 0): ScalesAndDerivatives {
    if (!Number.isInteger(blockId) || blockId < 0 || blockId >= this.nObs.length) {
      throw new ConfigError(
        `ScalingActiveParameterManager: block ${describeValue(blockId)} does not exist (${this.nObs.length} blocks)`,
      );
    }
    const n = this.nObs[blockId];
    const parts: ScalesAndDerivatives[] = [];
    for (const c of this.components.values()) parts.push(c.object.calculateScalesAndDerivatives(blockId));
    const constant = this.constantGValues?.[blockId];
    const scales = constant === undefined ? new Float64Array(n).fill(1) : Float64Array.from(constant);
    for (const p of parts) for (let i = 0; i < n; i++) scales[i] *= p.scales[i];
    if (parts.length === 0) return { scales, derivatives: SparseMatrix.zeros(n, 0) };
    const blocks = parts.map((p, k) => {
      const others = constant === undefined ? new Float64Array(n).fill(1) : Float64Array.from(constant);
      parts.forEach((q, m) => {
        if (m !== k) for (let i = 0; i < n; i++) others[i] *= q.scales[i];
      });
      return p.derivatives.rowMultiply(others);
    });
    return { scales, derivatives: SparseMatrix.hstack(blocks) };
  }

  /**
   * Inverse scales of a block (see {@link ScalingActiveParameterManager.calculateScalesAndDerivatives}).
   *
   * @param blockId - block index, default 0
   */
  calculateScales(blockId = 0): Float64Array {
    const n = this.nObs[blockId];
    const constant = this.constantGValues?.[blockId];
    const scales = constant === undefined ? new Float64Array(n).fill(1) : Float64Array.from(constant);
    for (const c of this.components.values()) {
      const s = c.object.calculateScales(blockId);
      for (let i = 0; i < n; i++) scales[i] *= s[i];
    }
    return scales;
  }
}

/** Constructor of a single-dataset parameter manager. */
export type ActiveParameterManagerClass = new (
  components: ReadonlyMap<string, ScaleComponent>,
  selectionList: readonly string[],
) => ActiveParameterManager;

/** Slice of the multi-dataset x owned by one dataset's manager. */
export interface ApmSlice {
  /** First index in x. */
  startIdx: number;
  /** One past the last index in x. */
  endIdx: number;
}

/**
 * Parameter manager over several datasets refined together: one single-dataset manager per dataset, x is their
 * concatenation in dataset order and `apmData[i]` records dataset i's slice.
 */
export class MultiActiveParameterManager {
  /** One manager per dataset. */
  readonly apmList: ActiveParameterManager[];
  /** Slice of x per dataset. */
  readonly apmData: ApmSlice[] = [];
  /** Names of the active components over all datasets, dataset by dataset. */
  readonly componentsList: string[] = [];
  /** The concatenated parameter vector. */
  protected x: Float64Array;

  /**
   * @param componentsList - each dataset's model components
   * @param selectionLists - each dataset's active component names
   * @param apmClass - single-dataset manager class
   * @defaultValue apmClass = ActiveParameterManager
   */
  constructor(
    componentsList: readonly ReadonlyMap<string, ScaleComponent>[],
    selectionLists: readonly (readonly string[])[],
    apmClass: ActiveParameterManagerClass = ActiveParameterManager,
  ) {
    requireArrayArgument(componentsList, `${new.target.name}: componentsList`);
    requireArrayArgument(selectionLists, `${new.target.name}: selectionLists`);
    requireFunctionArgument(apmClass, `${new.target.name}: apmClass (a parameter manager class)`);
    if (componentsList.length !== selectionLists.length) {
      throw new ConfigError(`${componentsList.length} component sets but ${selectionLists.length} selection lists`);
    }
    this.apmList = componentsList.map((c, i) => new apmClass(c, selectionLists[i]));
    let n = 0;
    for (const apm of this.apmList) {
      this.apmData.push({ startIdx: n, endIdx: n + apm.nActiveParams });
      n += apm.nActiveParams;
      this.componentsList.push(...apm.componentsList);
    }
    this.x = new Float64Array(n);
    this.apmList.forEach((apm, i) => {
      this.x.set(apm.getParamVals(), this.apmData[i].startIdx);
    });
  }

  /** Number of parameters the minimiser sees (length of x). */
  get nActiveParams(): number {
    return this.x.length;
  }

  /** A copy of x. */
  getParamVals(): Float64Array {
    return this.x.slice();
  }

  /** The parameters of dataset i's manager taken from x. */
  protected selectParameters(i: number): Float64Array {
    return this.x.slice(this.apmData[i].startIdx, this.apmData[i].endIdx);
  }

  /**
   * Set x and push each dataset's parameters into its manager.
   *
   * @param x - new parameter vector
   */
  setParamVals(x: ArrayLike<number>): void {
    checkLen(`${this.constructor.name}.setParamVals: x (parameter vector)`, x, this.x.length);
    this.x = Float64Array.from(x);
    this.apmList.forEach((apm, i) => {
      apm.setParamVals(this.selectParameters(i));
    });
  }

  /** Parameter names `"<comp>_expt<i>_param<j>"` for every dataset's active parameters. */
  getParamNames(): string[] {
    const names: string[] = [];
    this.apmList.forEach((apm, i) => {
      for (const [name, c] of apm.components) {
        for (let j = 0; j < c.nParams; j++) names.push(`${name}_expt${i}_param${j}`);
      }
    });
    return names;
  }

  /**
   * Write esds of x into the components.
   *
   * @param esds - one esd per entry of x
   */
  setParamEsds(esds: ArrayLike<number>): void {
    checkLen(`${this.constructor.name}.setParamEsds: esds`, esds, this.x.length);
    this.apmList.forEach((apm, i) => {
      apm.setParamEsds(Array.prototype.slice.call(esds, this.apmData[i].startIdx, this.apmData[i].endIdx) as number[]);
    });
  }

  /**
   * Give each dataset's manager its diagonal block of the variance–covariance matrix of x.
   *
   * @param varCov - dense n × n matrix (n = length of x), row-major
   */
  calculateModelStateUncertainties(varCov: ArrayLike<number>): void {
    const n = this.x.length;
    checkLen(`${this.constructor.name}.calculateModelStateUncertainties: varCov`, varCov, n * n);
    this.apmList.forEach((apm, i) => {
      const a = this.apmData[i];
      apm.calculateModelStateUncertainties(diagonalBlock(varCov, n, a.startIdx, a.endIdx - a.startIdx));
    });
  }
}

/** Slice of the per-dataset parameters plus the indices of x (unique parameters) they are taken from. */
export interface SharedApmSlice extends ApmSlice {
  /** For each of this dataset's active parameters, its index in the reduced x. */
  apmSel: Int32Array;
}

/**
 * Multi-dataset manager in which one component (e.g. "decay" or "absorption") is shared by all datasets: the first
 * occurrence owns the parameters, later occurrences map onto the same entries of x. The reducing matrix R
 * (nFull × nUnique, one 1 per row) maps full-space derivatives to the reduced space: gradients become Rᵀg and
 * Jacobians J·R.
 */
export class SharedActiveParameterManager extends MultiActiveParameterManager {
  /** nFull × nUnique reducing matrix. */
  readonly reducingMatrix: SparseMatrix;
  /** Per dataset: full-space slice and the reduced-x index of each of its parameters. */
  declare readonly apmData: SharedApmSlice[];
  private readonly fullToUnique: Int32Array;

  /**
   * @param componentsList - each dataset's model components
   * @param selectionLists - each dataset's active component names
   * @param apmClass - single-dataset manager class
   * @param shared - name of the shared component
   */
  constructor(
    componentsList: readonly ReadonlyMap<string, ScaleComponent>[],
    selectionLists: readonly (readonly string[])[],
    apmClass: ActiveParameterManagerClass,
    shared: string,
  ) {
    super(componentsList, selectionLists, apmClass);
    requireStringArgument(shared, "SharedActiveParameterManager: shared (a component name)");
    const nFull = this.x.length;
    const map = new Int32Array(nFull);
    const unique: number[] = [];
    let sharedStart = -1;
    let sharedLen = 0;
    const data: SharedApmSlice[] = [];
    this.apmList.forEach((apm, i) => {
      const base = this.apmData[i];
      const sel: number[] = [];
      for (const [name, c] of apm.components) {
        const s = base.startIdx + c.startIdx;
        if (name === shared && sharedStart >= 0) {
          if (c.nParams !== sharedLen) {
            throw new ConfigError(
              `shared component "${shared}" has ${c.nParams} parameters in dataset ${i}, expected ${sharedLen}`,
            );
          }
          for (let k = 0; k < c.nParams; k++) {
            map[s + k] = sharedStart + k;
            sel.push(sharedStart + k);
          }
        } else {
          if (name === shared) {
            sharedStart = unique.length;
            sharedLen = c.nParams;
          }
          for (let k = 0; k < c.nParams; k++) {
            map[s + k] = unique.length;
            sel.push(unique.length);
            unique.push(s + k);
          }
        }
      }
      data.push({ startIdx: base.startIdx, endIdx: base.endIdx, apmSel: Int32Array.from(sel) });
    });
    (this as { apmData: SharedApmSlice[] }).apmData = data;
    this.fullToUnique = map;
    const rows = new Int32Array(nFull);
    for (let r = 0; r < nFull; r++) rows[r] = r;
    this.reducingMatrix = SparseMatrix.fromTriplets(nFull, unique.length, rows, map, new Float64Array(nFull).fill(1));
    const full = this.x;
    this.x = Float64Array.from(unique, (j) => full[j]);
  }

  protected override selectParameters(i: number): Float64Array {
    const sel = this.apmData[i].apmSel;
    return Float64Array.from(sel, (j) => this.x[j]);
  }

  override setParamEsds(esds: ArrayLike<number>): void {
    checkLen(`${this.constructor.name}.setParamEsds: esds`, esds, this.x.length);
    this.apmList.forEach((apm, i) => {
      apm.setParamEsds(Float64Array.from(this.apmData[i].apmSel, (j) => esds[j]));
    });
  }

  /**
   * Give each dataset's manager the variance–covariance blocks of its components, taken from the reduced-space
   * matrix (cross-component covariances within a dataset are left 0, as in DIALS).
   *
   * @param varCov - dense nUnique × nUnique matrix, row-major
   */
  override calculateModelStateUncertainties(varCov: ArrayLike<number>): void {
    const n = this.x.length;
    checkLen(`${this.constructor.name}.calculateModelStateUncertainties: varCov`, varCov, n * n);
    this.apmList.forEach((apm, i) => {
      const m = apm.nActiveParams;
      const sub = new Float64Array(m * m);
      const sel = this.apmData[i].apmSel;
      for (const c of apm.components.values()) {
        for (let r = c.startIdx; r < c.endIdx; r++) {
          for (let q = c.startIdx; q < c.endIdx; q++) sub[r * m + q] = varCov[sel[r] * n + sel[q]];
        }
      }
      apm.calculateModelStateUncertainties(sub);
    });
  }

  /**
   * Reduce a full-space gradient: Rᵀ·g.
   *
   * @param g - gradient over the full (concatenated) parameters
   */
  reduceGradient(g: ArrayLike<number>): Float64Array {
    checkLen("SharedActiveParameterManager.reduceGradient: g", g, this.fullToUnique.length);
    const out = new Float64Array(this.x.length);
    for (let r = 0; r < g.length; r++) out[this.fullToUnique[r]] += g[r];
    return out;
  }

  /**
   * Reduce a full-space Jacobian: J·R (columns of shared parameters summed).
   *
   * @param j - nRows × nFull Jacobian
   */
  reduceJacobian(j: SparseMatrix): SparseMatrix {
    requireInstanceArgument(j, SparseMatrix, "SharedActiveParameterManager.reduceJacobian: j");
    if (j.nCols !== this.fullToUnique.length) {
      throw new ConfigError(`Jacobian has ${j.nCols} columns, expected ${this.fullToUnique.length}`);
    }
    const nnz = j.nonZeros();
    const cols = new Int32Array(nnz);
    for (let c = 0; c < j.nCols; c++) cols.fill(this.fullToUnique[c], j.colPtr[c], j.colPtr[c + 1]);
    return SparseMatrix.fromTriplets(
      j.nRows,
      this.x.length,
      j.rowIdx.subarray(0, nnz),
      cols,
      j.values.subarray(0, nnz),
    );
  }
}
