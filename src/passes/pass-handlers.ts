/**
 * What each pass mode does, as one handler per mode: the per-thread partial a shard is computed into, the computation
 * of one shard, the reduction of a shard's partial into the shared result (called in shard order, so the result is
 * bit-identical for any number of threads) and the zeroing of that result before a pass. Adding a pass is adding a
 * mode and its handler. {@link ShardWorkspace} is one thread's use of the table (the calling thread's or a worker's).
 *
 * @packageDocumentation
 */
import {
  choleskyFactorRowsKernel,
  choleskyInverseFactorKernel,
  choleskyInverseProductKernel,
} from "../solve/cholesky.ts";
import { groupReferencesInRange } from "./group-references.ts";
import { type JointModelState, inverseScalesInRange } from "./inverse-scales.ts";
import {
  addInto,
  clearJointAccumulation,
  createJointAccumulation,
  moveUpperRowsInto,
  type JointAccumulation,
} from "./joint-accumulation.ts";
import { accumulateJointNormalEquations } from "./joint-normal-equations.ts";
import { addLowRankGroupsToDenseRows, addLowRankGroupTerms } from "./low-rank-operator.ts";
import { outlierWeightsInRange, type OutlierWeightCounts, type RowErrorModel } from "./outlier-weights.ts";
import { PassMode, type JointPassPayload, type PassModeValue } from "./pass-payload.ts";
import { ShardViews } from "./shard-views.ts";

/** What one pass mode does, shard by shard; `P` is the per-thread partial one shard is computed into. */
export interface PassHandler<P> {
  /**
   * A partial for this thread (allocated once per thread, mode and slot — see {@link PassHandler.maxPending} — and
   * reused for every shard).
   */
  create(p: JointPassPayload): P;
  /** Computes shard k into `partial` (reset first), reading the shard through this thread's `views`. */
  compute(p: JointPassPayload, k: number, partial: P, views: ShardViews): void;
  /** Adds a shard's partial into the shared result (called in shard order). */
  reduce(p: JointPassPayload, partial: P): void;
  /** Zeroes the shared result before a pass. */
  clear(p: JointPassPayload): void;
  /**
   * True when each item writes its own part of the shared result and `reduce` does nothing: a worker then takes the
   * next item without waiting for the earlier ones to be reduced. @defaultValue false
   */
  readonly unordered?: boolean;
  /**
   * Most shards a worker may hold computed but not yet reduced (each in a partial of its own): a worker whose shard
   * must wait for an earlier one to be reduced computes the next shards meanwhile, and reduces them in shard order
   * when their turns come. 1 for a partial too large to hold several of. @defaultValue {@link MAX_PENDING_SHARDS}
   */
  readonly maxPending?: number;
}

/** Most shards a worker holds computed and not yet reduced (unless its mode's handler says fewer). */
export const MAX_PENDING_SHARDS = 4;

/** The partial of each mode. */
export interface PassPartials {
  /** Objective, gradient and R-factor sums. */
  [PassMode.objective]: JointAccumulation;
  /** Also the dense normal matrix (upper triangle). */
  [PassMode.dense]: JointAccumulation;
  /** Also the matrix-free block sums (the group factors go to the shared cache). */
  [PassMode.lowRank]: JointAccumulation;
  /** The shard's group terms applied to `vectorX` (P). */
  [PassMode.groupProduct]: Float64Array;
  /** One band of rows of the dense matrix: a shard's group terms there, before they are added (grown on demand). */
  [PassMode.densify]: { band: Float64Array };
  /** The shard's outlier counts. */
  [PassMode.outlierWeights]: OutlierWeightCounts;
  /** Nothing: the inverse scales are written straight to the shared array. */
  [PassMode.inverseScales]: undefined;
  /** Nothing: each item writes its own rows of the shared matrix (so do the two inverse modes). */
  [PassMode.factorRows]: undefined;
  [PassMode.inverseFactorRows]: undefined;
  [PassMode.inverseProductRows]: undefined;
}

/** Model state view for the kernels. */
function stateOf(p: JointPassPayload): JointModelState {
  return {
    scales: p.scales,
    smoother:
      p.smoother === undefined
        ? undefined
        : { ...p.smoother.kernel, values: p.values, qMin: p.smoother.qMin, qMax: p.smoother.qMax },
  };
}

/** Number of free smoother values. */
function freeSmootherValues(p: JointPassPayload): number {
  return p.values.length > 0 ? p.values.length - 1 : 0;
}

/** The handler of a normal-equation pass: objective and gradient, plus the dense matrix or the matrix-free sums. */
function normalEquationPass(withMatrix: boolean, lowRank: boolean): PassHandler<JointAccumulation> {
  return {
    create(p) {
      const kf = freeSmootherValues(p);
      return createJointAccumulation(
        p.nStills + kf,
        withMatrix,
        lowRank ? { nStills: p.nStills, nFreeSmoother: kf } : undefined,
      );
    },
    compute(p, k, partial, views) {
      clearJointAccumulation(partial);
      const cache = lowRank ? views.cache(k, false) : undefined;
      accumulateJointNormalEquations(views.columns(k), stateOf(p), p.shards[k], p.shards[k + 1], partial, cache);
      views.storeCache(k, cache);
    },
    // the dense matrix's partial is P² doubles: one per thread
    ...(withMatrix ? { maxPending: 1 } : {}),
    reduce(p, partial) {
      const t = p.totals;
      t.objective[0] += partial.objective;
      t.nObservations[0] += partial.nObservations;
      t.rNumerator[0] += partial.rNumerator;
      t.rDenominator[0] += partial.rDenominator;
      addInto(p.gradient, partial.gradient);
      if (withMatrix && partial.matrix !== undefined) addInto(p.matrix, partial.matrix);
      if (lowRank && partial.lowRank !== undefined && p.lowRank !== undefined) {
        addInto(p.lowRank.thetaDiagonal, partial.lowRank.thetaDiagonal);
        addInto(p.lowRank.thetaSmoother, partial.lowRank.thetaSmoother);
        addInto(p.lowRank.smootherBlock, partial.lowRank.smootherBlock);
        addInto(p.lowRank.diagonal, partial.lowRank.diagonal);
      }
    },
    clear(p) {
      const t = p.totals;
      t.objective.fill(0);
      t.nObservations.fill(0);
      t.rNumerator.fill(0);
      t.rDenominator.fill(0);
      p.gradient.fill(0);
      if (withMatrix) p.matrix.fill(0);
      if (lowRank && p.lowRank !== undefined) {
        p.lowRank.thetaDiagonal.fill(0);
        p.lowRank.thetaSmoother.fill(0);
        p.lowRank.smootherBlock.fill(0);
        p.lowRank.diagonal.fill(0);
      }
    },
  };
}

const groupProductPass: PassHandler<Float64Array> = {
  create: (p) => new Float64Array(p.nStills + freeSmootherValues(p)),
  compute(p, k, partial, views) {
    partial.fill(0);
    const cache = views.cache(k, true);
    if (cache === undefined) return;
    addLowRankGroupTerms(cache, p.nStills, freeSmootherValues(p), p.shards[k], p.shards[k + 1], p.vectorX, partial);
  },
  reduce(p, partial) {
    addInto(p.vectorY, partial);
  },
  clear(p) {
    p.vectorY.fill(0);
  },
};

/**
 * Item k expands rows [cut_k, cut_{k+1}) of {@link JointPassPayload.matrixTask} (its [P, band rows, cuts…]) into the
 * upper triangle of `payload.matrix`: shard by shard, band by band of those rows, the shard's group terms are
 * accumulated into a zeroed band, which is then added to the matrix. Every element is thus the sum over the shards,
 * in shard order, of each shard's terms summed from zero in group order: the numbers of a per-shard dense partial
 * reduced in shard order, for any cut of the rows. A band stays in cache while its scattered updates land in it, and
 * items write disjoint rows (no ordered reduction).
 */
const densifyPass: PassHandler<{ band: Float64Array }> = {
  unordered: true,
  create: () => ({ band: new Float64Array(0) }),
  compute(p, k, partial, views) {
    const t = p.matrixTask;
    const P = t[0];
    const bandRows = t[1];
    if (partial.band.length < bandRows * P) partial.band = new Float64Array(bandRows * P);
    expandRowsOverShards(p, views, t[2 + k], t[3 + k], bandRows, partial.band, p.matrix);
  },
  reduce() {
    // every item writes its own rows
  },
  clear() {
    // every item zeroes its own rows first
  },
};

/**
 * Rows `[rowBegin, rowEnd)` of the upper triangle of `out` (P×P) set to the group terms of the last matrix-free pass
 * (see {@link densifyPass}), bands of `bandRows` rows at a time in `band` (zero on entry and on return, at least
 * bandRows·P long).
 */
export function expandRowsOverShards(
  p: JointPassPayload,
  views: ShardViews,
  rowBegin: number,
  rowEnd: number,
  bandRows: number,
  band: Float64Array,
  out: Float64Array,
): void {
  const kf = freeSmootherValues(p);
  const P = p.nStills + kf;
  for (let r = rowBegin; r < rowEnd; r++) out.fill(0, r * P + r, (r + 1) * P);
  // bands of about equal height (no thin last band, whose few rows per group would miss the four-row tiles)
  const height = Math.ceil((rowEnd - rowBegin) / Math.max(1, Math.ceil((rowEnd - rowBegin) / bandRows)));
  const nShards = p.shards.length - 1;
  for (let s = 0; s < nShards; s++) {
    const cache = views.cache(s, true);
    if (cache === undefined) return;
    for (let r0 = rowBegin; r0 < rowEnd; r0 += height) {
      const r1 = Math.min(rowEnd, r0 + height);
      addLowRankGroupsToDenseRows(cache, p.nStills, kf, p.shards[s], p.shards[s + 1], r0, r1, band);
      moveUpperRowsInto(out, band, P, r0, r1);
    }
  }
}

/** The error model of the payload, or undefined when it is off. */
function errorModelOf(p: JointPassPayload): RowErrorModel | undefined {
  const e = p.errorModel;
  if (e[0] === 0) return undefined;
  return { nBraggGroups: e[1], braggA: e[2], braggB: e[3], diffuseA: e[4], diffuseB: e[5] };
}

const outlierWeightsPass: PassHandler<OutlierWeightCounts> = {
  create: () => ({ nOutliers: 0, nChanged: 0, nFlipped: 0 }),
  compute(p, k, partial, views) {
    const columns = views.columns(k, true);
    const counts = outlierWeightsInRange(columns, stateOf(p), p.zmax[0], p.shards[k], p.shards[k + 1], errorModelOf(p));
    views.storeWeights(k, columns);
    partial.nChanged = counts.nChanged;
    partial.nOutliers = counts.nOutliers;
    partial.nFlipped = counts.nFlipped;
  },
  reduce(p, partial) {
    p.outlierCounts.nChanged[0] += partial.nChanged;
    p.outlierCounts.nOutliers[0] += partial.nOutliers;
    p.outlierCounts.nFlipped[0] += partial.nFlipped;
  },
  clear(p) {
    p.outlierCounts.nChanged.fill(0);
    p.outlierCounts.nOutliers.fill(0);
    p.outlierCounts.nFlipped.fill(0);
  },
};

const inverseScalesPass: PassHandler<undefined> = {
  unordered: true,
  create: () => undefined,
  compute(p, k) {
    const { groupStart, rows } = p.columns;
    const groupBegin = p.shards[k];
    const groupEnd = p.shards[k + 1];
    const g = p.inverseScale;
    inverseScalesInRange(stateOf(p), rows.still, rows.qMagnitude, groupStart[groupBegin], groupStart[groupEnd], g);
    // the shard's groups, while their rows are in cache
    groupReferencesInRange(groupStart, rows.weight, rows.intensity, 0, g, 0, groupBegin, groupEnd, p.groupReferences);
  },
  reduce() {
    // every shard writes its own rows of the shared array
  },
  clear() {
    // every row and group is overwritten
  },
};

/** A dense-matrix step: item k runs `kernel` on rows [cut_k, cut_{k+1}) of {@link JointPassPayload.matrixTask}. */
function matrixRowsPass(
  kernel: (p: JointPassPayload, n: number, rowBegin: number, rowEnd: number, jEnd: number) => void,
): PassHandler<undefined> {
  return {
    unordered: true,
    create: () => undefined,
    compute(p, k) {
      const t = p.matrixTask;
      kernel(p, t[0], t[2 + k], t[3 + k], t[1]);
    },
    reduce() {
      // every item writes its own rows
    },
    clear() {
      // every element the step owns is written
    },
  };
}

/** The handler of every pass mode. */
export const PASS_HANDLERS: { readonly [M in PassModeValue]: PassHandler<PassPartials[M]> } = {
  [PassMode.objective]: normalEquationPass(false, false),
  [PassMode.dense]: normalEquationPass(true, false),
  [PassMode.lowRank]: normalEquationPass(false, true),
  [PassMode.groupProduct]: groupProductPass,
  [PassMode.densify]: densifyPass,
  [PassMode.outlierWeights]: outlierWeightsPass,
  [PassMode.inverseScales]: inverseScalesPass,
  [PassMode.factorRows]: matrixRowsPass((p, n, r0, r1, jEnd) => {
    choleskyFactorRowsKernel(p.matrix, n, r0, r1, 0, jEnd);
  }),
  [PassMode.inverseFactorRows]: matrixRowsPass((p, n, r0, r1) => {
    choleskyInverseFactorKernel(p.matrix, p.inverseFactor, n, r0, r1);
  }),
  [PassMode.inverseProductRows]: matrixRowsPass((p, n, r0, r1) => {
    choleskyInverseProductKernel(p.inverseFactor, p.matrix, n, r0, r1);
  }),
};

/**
 * One thread's use of the handlers: its partial per mode (allocated on first use) and its view of the shards. The
 * calling thread and every worker run shards through one of these, so they compute exactly the same numbers.
 */
export class ShardWorkspace {
  /** This thread's view of the shards. */
  readonly views: ShardViews;
  private readonly payload: JointPassPayload;
  private readonly partials = new Map<PassModeValue, { readonly value: unknown }[]>();

  constructor(payload: JointPassPayload) {
    this.payload = payload;
    this.views = new ShardViews(payload);
  }

  /** This thread's partial of `mode` in `slot`. */
  private partial<M extends PassModeValue>(mode: M, slot: number): PassPartials[M] {
    let slots = this.partials.get(mode);
    if (slots === undefined) {
      slots = [];
      this.partials.set(mode, slots);
    }
    slots[slot] ??= { value: PASS_HANDLERS[mode].create(this.payload) };
    // the slots of `mode` hold what the handler of `mode` created
    return slots[slot].value as PassPartials[M];
  }

  /** Computes shard k of a pass of `mode` into this thread's partial in `slot` (below the mode's maxPending). */
  // M ties the handler of `mode` to its partial (a plain PassModeValue would not type-check the call)
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
  compute<M extends PassModeValue>(mode: M, k: number, slot = 0): void {
    PASS_HANDLERS[mode].compute(this.payload, k, this.partial(mode, slot), this.views);
  }

  /** Adds the shard computed into `slot` to the shared result (call in shard order). */
  // M ties the handler of `mode` to its partial (a plain PassModeValue would not type-check the call)
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
  reduce<M extends PassModeValue>(mode: M, slot = 0): void {
    PASS_HANDLERS[mode].reduce(this.payload, this.partial(mode, slot));
  }

  /** Closes this thread's file handles. */
  close(): void {
    this.views.close();
  }
}
