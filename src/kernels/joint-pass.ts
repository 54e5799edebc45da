/**
 * The sharded, deterministic pass of joint scaling: observations (in `SharedArrayBuffer` columns) are cut once, from
 * the data only, into fixed shards of whole groups (≈ 2^18 rows each, more when the dense normal matrix is large);
 * each shard is accumulated into a zeroed partial and the partials are added to the result in shard order. The
 * in-thread path and the worker path run exactly these floating-point operations in this order, so the objective,
 * gradient and normal matrix are bit-identical for any number of threads.
 *
 * @packageDocumentation
 */
import {
  accumulateJointNormalEquations,
  addLowRankBlocksToDenseUpper,
  addLowRankGroupsToDenseUpper,
  addLowRankGroupTerms,
  clearJointAccumulation,
  createJointAccumulation,
  groupPairStart,
  type GroupCache,
  type GroupedColumns,
  type JointAccumulation,
  type JointModelState,
  type LowRankSums,
  precomputeSmootherWeights,
  inverseScalesInRange,
  symmetrizeUpper,
} from "./joint-normal-equations.ts";
import { flaggedRows, standardGroupedOutliersInRange } from "../framework/outlier-rejection.ts";
import type { SmootherKernelState } from "./smoother-weights.ts";
import { siblingWorkerEntry, SyncWorkerPool } from "./worker-pool.ts";

/** Minimum number of rows per shard. */
export const SHARD_ROWS = 1 << 18;

/** Above this many precomputed smoother weights (rows × values) the passes evaluate the smoother per row. */
export const PRECOMPUTE_SMOOTHER_MAX_WEIGHTS = 1 << 26;

/** What a pass computes. */
export const PassMode = {
  /** Objective, gradient and R-factor sums. */
  objective: 1,
  /** Also the dense normal matrix. */
  dense: 2,
  /** Also the matrix-free factors ({@link LowRankSums} and the {@link GroupCache}). */
  lowRank: 3,
  /** The group terms of the matrix-free operator applied to `vectorX`, into `vectorY` (after a lowRank pass). */
  groupProduct: 4,
  /** The group terms of the last lowRank pass expanded into the dense matrix (upper triangle; Σ pairs² work). */
  densify: 5,
  /** The inverse scale g of every row, into {@link RowPassArrays.inverseScale}. */
  inverseScales: 6,
  /** DIALS standard outliers among the usable rows at those g, flagged in {@link RowPassArrays.outlierFlag}. */
  outliers: 7,
} as const;
/** One of {@link PassMode}'s values. */
export type PassModeValue = (typeof PassMode)[keyof typeof PassMode];

/**
 * Fixed shard boundaries (group indices, ascending, first 0, last nGroups): groups are appended to a shard until it
 * holds at least `targetRows` rows. Depends on the data only.
 */
export function computeShards(groupStart: Int32Array, targetRows: number): Int32Array {
  const nGroups = groupStart.length - 1;
  const cuts = [0];
  let begin = 0;
  for (let h = 0; h < nGroups; h++) {
    if (groupStart[h + 1] - groupStart[begin] >= targetRows) {
      cuts.push(h + 1);
      begin = h + 1;
    }
  }
  if (cuts[cuts.length - 1] !== nGroups) cuts.push(nGroups);
  return Int32Array.from(cuts);
}

/** Largest number of shards a pass is cut into (more only costs synchronisation: each shard is one ordered turn). */
export const MAX_SHARDS = 128;

/**
 * Rows per shard for P parameters and n rows: 2^18, at least n/{@link MAX_SHARDS}, and at least P²/16 when the dense
 * matrix is formed (keeps the reduction cheap). Depends on the data only, never on the thread count.
 */
export function shardRowsFor(nParameters: number, dense: boolean, nRows = 0): number {
  const rows = Math.max(SHARD_ROWS, Math.ceil(nRows / MAX_SHARDS));
  return dense ? Math.max(rows, Math.ceil((nParameters * nParameters) / 16)) : rows;
}

/** A full symmetric copy of an upper-triangle accumulation. */
function symmetrized(upper: Float64Array, P: number): Float64Array {
  const m = upper.slice();
  symmetrizeUpper(m, P);
  return m;
}

/** Allocates a typed array over a SharedArrayBuffer. */
export function sharedFloat64(n: number): Float64Array {
  return new Float64Array(new SharedArrayBuffer(Math.max(1, n) * 8)).subarray(0, n);
}

/** Allocates a Float32Array over a SharedArrayBuffer. */
export function sharedFloat32(n: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(Math.max(1, n) * 4)).subarray(0, n);
}

/** Allocates an Int32Array over a SharedArrayBuffer. */
export function sharedInt32(n: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(Math.max(1, n) * 4)).subarray(0, n);
}

/** Allocates a Uint8Array over a SharedArrayBuffer. */
export function sharedUint8(n: number): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(Math.max(1, n))).subarray(0, n);
}

/** Copies into shared memory unless already shared. */
function shareF32(a: Float32Array): Float32Array {
  if (a.buffer instanceof SharedArrayBuffer) return a;
  const s = sharedFloat32(a.length);
  s.set(a);
  return s;
}
function shareI32(a: Int32Array): Int32Array {
  if (a.buffer instanceof SharedArrayBuffer) return a;
  const s = sharedInt32(a.length);
  s.set(a);
  return s;
}

/** Smoother constants as the workers receive them (values are shared separately). */
export interface PassSmootherConstants {
  /** Kernel constants. */
  readonly kernel: SmootherKernelState;
  /** |q| clamp range. */
  readonly qMin: number;
  /** Upper end of the clamp range. */
  readonly qMax: number;
}

/** Per-row arrays of the row passes (inverse scales, outliers), all shared. */
export interface RowPassArrays {
  /** Variance of each row (the outlier weights are 1/variance). */
  readonly variance: Float32Array;
  /** 1 for rows that take part in outlier rejection (set by the caller). */
  readonly usable: Uint8Array;
  /** Inverse scale g of each row (written by an inverseScales pass). */
  readonly inverseScale: Float32Array;
  /** 1 for the outliers found by the last outliers pass. */
  readonly outlierFlag: Uint8Array;
  /** [zmax] of the outliers pass. */
  readonly zmax: Float64Array;
}

/** Everything a pass reads and writes; every array is in shared memory. */
export interface JointPassPayload {
  /** The observations. */
  readonly columns: GroupedColumns;
  /** Shard boundaries in groups. */
  readonly shards: Int32Array;
  /** Number of stills. */
  readonly nStills: number;
  /** Smoother constants, or undefined. */
  readonly smoother: PassSmootherConstants | undefined;
  /** Current scales b_s (written by the main thread before each pass). */
  readonly scales: Float64Array;
  /** Current smoother values (length K, or 0). */
  readonly values: Float64Array;
  /** [objective, nObservations, rNumerator, rDenominator]. */
  readonly header: Float64Array;
  /** Result gradient (P). */
  readonly gradient: Float64Array;
  /** Result dense matrix (P², or length 0 when dense passes are not allowed). */
  readonly matrix: Float64Array;
  /** Result low-rank sums, or undefined when matrix-free passes are not allowed. */
  readonly lowRank: LowRankSums | undefined;
  /** Group factors of matrix-free passes, or undefined. */
  readonly cache: GroupCache | undefined;
  /** Input vector of {@link PassMode.groupProduct} (P, or 0 without matrix-free passes). */
  readonly vectorX: Float64Array;
  /** Output vector of {@link PassMode.groupProduct}. */
  readonly vectorY: Float64Array;
  /** Arrays of the row passes, or undefined when they are not allowed. */
  readonly rows: RowPassArrays | undefined;
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

/** A per-thread partial accumulation for one mode. */
export function createPartial(p: JointPassPayload, mode: PassModeValue): JointAccumulation {
  const kf = p.values.length > 0 ? p.values.length - 1 : 0;
  const P = p.nStills + kf;
  return createJointAccumulation(
    P,
    mode === PassMode.dense || mode === PassMode.densify,
    mode === PassMode.lowRank ? { nStills: p.nStills, nFreeSmoother: kf } : undefined,
  );
}

/** Accumulates shard k into `partial` (cleared first). */
export function computeShard(p: JointPassPayload, mode: PassModeValue, k: number, partial: JointAccumulation): void {
  clearJointAccumulation(partial);
  if (mode === PassMode.inverseScales || mode === PassMode.outliers) {
    if (p.rows !== undefined) rowPass(p, p.rows, mode, k);
    return;
  }
  if (mode === PassMode.densify) {
    if (p.cache === undefined || partial.matrix === undefined) return;
    const kf = p.values.length > 0 ? p.values.length - 1 : 0;
    addLowRankGroupsToDenseUpper(p.cache, p.nStills, kf, p.shards[k], p.shards[k + 1], partial.matrix);
    return;
  }
  if (mode === PassMode.groupProduct) {
    if (p.cache === undefined) return;
    const kf = p.values.length > 0 ? p.values.length - 1 : 0;
    addLowRankGroupTerms(p.cache, p.nStills, kf, p.shards[k], p.shards[k + 1], p.vectorX, partial.gradient);
    return;
  }
  accumulateJointNormalEquations(
    p.columns,
    stateOf(p),
    p.shards[k],
    p.shards[k + 1],
    partial,
    mode === PassMode.lowRank ? p.cache : undefined,
  );
}

function addInto(into: Float64Array, from: Float64Array): void {
  for (let i = 0; i < from.length; i++) into[i] += from[i];
}

/** The row passes of shard k: each writes only its own rows, so they need no reduction. */
function rowPass(p: JointPassPayload, rows: RowPassArrays, mode: PassModeValue, k: number): void {
  const { groupStart, still, intensity, qMagnitude } = p.columns;
  const begin = groupStart[p.shards[k]];
  const end = groupStart[p.shards[k + 1]];
  if (mode === PassMode.inverseScales) {
    inverseScalesInRange(stateOf(p), still, qMagnitude, begin, end, rows.inverseScale);
    return;
  }
  rows.outlierFlag.fill(0, begin, end);
  standardGroupedOutliersInRange(
    groupStart,
    intensity,
    rows.variance,
    rows.usable,
    rows.inverseScale,
    rows.zmax[0],
    p.shards[k],
    p.shards[k + 1],
    rows.outlierFlag,
  );
}

/** Adds a shard's partial into the shared result (called in shard order). */
export function reduceShard(p: JointPassPayload, mode: PassModeValue, partial: JointAccumulation): void {
  if (mode === PassMode.inverseScales || mode === PassMode.outliers) return;
  if (mode === PassMode.groupProduct) {
    addInto(p.vectorY, partial.gradient);
    return;
  }
  if (mode === PassMode.densify) {
    if (partial.matrix !== undefined) addInto(p.matrix, partial.matrix);
    return;
  }
  const hdr = p.header;
  hdr[0] += partial.objective;
  hdr[1] += partial.nObservations;
  hdr[2] += partial.rNumerator;
  hdr[3] += partial.rDenominator;
  addInto(p.gradient, partial.gradient);
  if (mode === PassMode.dense && partial.matrix !== undefined) addInto(p.matrix, partial.matrix);
  if (mode === PassMode.lowRank && partial.lowRank !== undefined && p.lowRank !== undefined) {
    addInto(p.lowRank.thetaDiagonal, partial.lowRank.thetaDiagonal);
    addInto(p.lowRank.thetaSmoother, partial.lowRank.thetaSmoother);
    addInto(p.lowRank.smootherBlock, partial.lowRank.smootherBlock);
    addInto(p.lowRank.diagonal, partial.lowRank.diagonal);
  }
}

/** Zeroes the shared result of a mode. */
function clearResult(p: JointPassPayload, mode: PassModeValue): void {
  p.header.fill(0);
  p.gradient.fill(0);
  if (mode === PassMode.dense || mode === PassMode.densify) p.matrix.fill(0);
  if (mode === PassMode.lowRank && p.lowRank !== undefined) {
    p.lowRank.thetaDiagonal.fill(0);
    p.lowRank.thetaSmoother.fill(0);
    p.lowRank.smootherBlock.fill(0);
    p.lowRank.diagonal.fill(0);
  }
}

/** Options of {@link JointPassRunner}. */
export interface JointPassRunnerOptions {
  /** Worker threads; 1 runs in the calling thread (same shards, same order). @defaultValue 1 */
  threads?: number;
  /** Allow dense passes (allocates P² shared doubles). @defaultValue true */
  dense?: boolean;
  /** Allow matrix-free passes (allocates the group cache: ~20 bytes per (group, still) pair). @defaultValue false */
  lowRank?: boolean;
  /**
   * Precompute the normalised smoother weights of every row once (about 8·stride + 5 bytes per row) instead of
   * evaluating the Gaussians in every pass. @defaultValue true while they take at most 512 MiB
   * ({@link PRECOMPUTE_SMOOTHER_MAX_WEIGHTS} weights), else false (the default depends on the data only, so results
   * are the same for any thread count)
   */
  precomputeSmoother?: boolean;
  /** Minimum rows per shard (tests use small shards). @defaultValue {@link shardRowsFor}(P, dense, rows) */
  shardRows?: number;
  /**
   * Allow the row passes (inverse scales and outlier rejection, in parallel) over these variances (allocates 6 shared
   * bytes per row). @defaultValue undefined (not allowed)
   */
  rowPasses?: { variance: Float32Array };
  /** Pair offsets already computed with {@link groupPairStart} (saves a pass). @defaultValue computed */
  pairStart?: Int32Array;
}

/**
 * Runs joint passes over fixed shards, in the calling thread or on a worker pool, with a deterministic reduction.
 * Call {@link JointPassRunner.close} when done (workers are unref'd, so a forgotten pool never keeps the process
 * alive).
 */
export class JointPassRunner {
  /** The shared payload (columns, state, results). */
  readonly payload: JointPassPayload;
  /** Number of threads used. */
  readonly threads: number;
  private pool: SyncWorkerPool | undefined;
  private readonly partials = new Map<PassModeValue, JointAccumulation>();

  /**
   * @param columns - Observations sorted by group then still (copied to shared memory unless already shared).
   * @param nStills - Number of stills.
   * @param smoother - Smoother constants, or undefined.
   * @param options - Threads and which pass kinds to allow.
   */
  constructor(
    columns: GroupedColumns,
    nStills: number,
    smoother: (PassSmootherConstants & { nValues: number }) | undefined,
    options: JointPassRunnerOptions = {},
  ) {
    const threads = Math.max(1, Math.floor(options.threads ?? 1));
    const dense = options.dense ?? true;
    const lowRank = options.lowRank ?? false;
    const kf = smoother === undefined ? 0 : smoother.nValues - 1;
    const P = nStills + kf;
    const qMagnitude = shareF32(columns.qMagnitude);
    const shared: GroupedColumns = {
      groupStart: shareI32(columns.groupStart),
      still: shareI32(columns.still),
      intensity: shareF32(columns.intensity),
      weight: shareF32(columns.weight),
      qMagnitude,
      ...(smoother === undefined ||
      !(options.precomputeSmoother ?? columns.qMagnitude.length * smoother.nValues <= PRECOMPUTE_SMOOTHER_MAX_WEIGHTS)
        ? {}
        : {
            smootherWeights: precomputeSmootherWeights(
              { ...smoother.kernel, qMin: smoother.qMin, qMax: smoother.qMax },
              qMagnitude,
              {
                f64: sharedFloat64,
                i32: sharedInt32,
                u8: sharedUint8,
              },
            ),
          }),
    };
    const nGroups = columns.groupStart.length - 1;
    let cache: GroupCache | undefined;
    if (lowRank) {
      const pairStart = shareI32(options.pairStart ?? groupPairStart(columns.groupStart, columns.still));
      const nPairs = pairStart[nGroups];
      cache = {
        pairStart,
        pairCount: sharedInt32(nGroups),
        pairStill: sharedInt32(nPairs),
        pairA: sharedFloat64(nPairs),
        pairV: sharedFloat64(nPairs),
        groupIh: sharedFloat64(nGroups),
        groupS: sharedFloat64(nGroups),
        groupSmootherA: sharedFloat64(nGroups * kf),
        groupSmootherV: sharedFloat64(nGroups * kf),
      };
    }
    this.payload = {
      columns: shared,
      shards: shareI32(
        computeShards(
          columns.groupStart,
          Math.max(1, options.shardRows ?? shardRowsFor(P, dense, columns.still.length)),
        ),
      ),
      nStills,
      smoother:
        smoother === undefined ? undefined : { kernel: smoother.kernel, qMin: smoother.qMin, qMax: smoother.qMax },
      scales: sharedFloat64(nStills),
      values: sharedFloat64(smoother === undefined ? 0 : smoother.nValues),
      header: sharedFloat64(4),
      gradient: sharedFloat64(P),
      matrix: sharedFloat64(dense ? P * P : 0),
      lowRank: lowRank
        ? {
            thetaDiagonal: sharedFloat64(nStills),
            thetaSmoother: sharedFloat64(nStills * kf),
            smootherBlock: sharedFloat64(kf * kf),
            diagonal: sharedFloat64(P),
          }
        : undefined,
      cache,
      vectorX: sharedFloat64(lowRank ? P : 0),
      vectorY: sharedFloat64(lowRank ? P : 0),
      rows:
        options.rowPasses === undefined
          ? undefined
          : {
              variance: shareF32(options.rowPasses.variance),
              usable: sharedUint8(columns.still.length),
              inverseScale: sharedFloat32(columns.still.length),
              outlierFlag: sharedUint8(columns.still.length),
              zmax: sharedFloat64(1),
            },
    };
    const nShards = this.payload.shards.length - 1;
    this.threads = Math.max(1, Math.min(threads, nShards));
    if (this.threads > 1) {
      this.pool = new SyncWorkerPool(siblingWorkerEntry(import.meta.url, "joint-worker"), this.threads, this.payload);
    }
  }

  /** Number of shards. */
  get nShards(): number {
    return this.payload.shards.length - 1;
  }

  /** The shared columns (their `weight` may be changed between passes). */
  get columns(): GroupedColumns {
    return this.payload.columns;
  }

  /**
   * One pass at the given model state. The returned arrays are copies, except that a low-rank pass leaves its group
   * factors in `payload.cache` (valid until the next low-rank pass).
   */
  run(mode: PassModeValue, scales: Float64Array, values: Float64Array | undefined): JointAccumulation {
    const p = this.payload;
    p.scales.set(scales);
    if (values !== undefined) p.values.set(values);
    clearResult(p, mode);
    this.dispatch(mode);
    const lr = p.lowRank;
    return {
      objective: p.header[0],
      nObservations: p.header[1],
      rNumerator: p.header[2],
      rDenominator: p.header[3],
      gradient: p.gradient.slice(),
      matrix: mode === PassMode.dense ? symmetrized(p.matrix, p.gradient.length) : undefined,
      lowRank:
        mode === PassMode.lowRank && lr !== undefined
          ? {
              thetaDiagonal: lr.thetaDiagonal.slice(),
              thetaSmoother: lr.thetaSmoother.slice(),
              smootherBlock: lr.smootherBlock.slice(),
              diagonal: lr.diagonal.slice(),
            }
          : undefined,
    };
  }

  /**
   * y += Σ_groups (low-rank group terms)·x over the fixed shards (in this thread or on the workers, same order), using
   * the factors of the last matrix-free pass. Requires the runner to allow matrix-free passes.
   */
  addGroupProduct(x: Float64Array, y: Float64Array): void {
    const p = this.payload;
    p.vectorX.set(x);
    p.vectorY.fill(0);
    this.dispatch(PassMode.groupProduct);
    for (let i = 0; i < y.length; i++) y[i] += p.vectorY[i];
  }

  /**
   * The dense normal matrix (both triangles, no gauge term or restraints) from the block sums and the group factors of
   * the last matrix-free pass, the group terms accumulated over the fixed shards (in this thread or on the workers,
   * same order). Requires the runner to allow matrix-free passes.
   */
  densify(sums: LowRankSums): Float64Array {
    const p = this.payload;
    const P = p.gradient.length;
    const cache = p.cache;
    if (cache === undefined) throw new RangeError("densify needs a runner that allows matrix-free passes");
    let m: Float64Array;
    if (p.matrix.length === P * P) {
      clearResult(p, PassMode.densify);
      this.dispatch(PassMode.densify);
      m = p.matrix.slice();
    } else {
      // no shared dense matrix (more stills than dense passes allow): the same shards, in this thread
      m = new Float64Array(P * P);
      const partial = new Float64Array(P * P);
      for (let k = 0; k < this.nShards; k++) {
        partial.fill(0);
        addLowRankGroupsToDenseUpper(cache, p.nStills, P - p.nStills, p.shards[k], p.shards[k + 1], partial);
        addInto(m, partial);
      }
    }
    addLowRankBlocksToDenseUpper(sums, p.nStills, P - p.nStills, m);
    symmetrizeUpper(m, P);
    return m;
  }

  /**
   * The inverse scale g of every row at these parameters, computed over the shards (in this thread or on the
   * workers). Returns the shared array, valid until the next call. Requires `rowPasses`.
   */
  inverseScales(scales: Float64Array, values: Float64Array | undefined): Float32Array {
    const p = this.payload;
    if (p.rows === undefined) throw new RangeError("inverseScales needs a runner that allows row passes");
    p.scales.set(scales);
    if (values !== undefined) p.values.set(values);
    this.dispatch(PassMode.inverseScales);
    return p.rows.inverseScale;
  }

  /**
   * DIALS standard outliers (see `rejectOutliersStandardGrouped`) among the rows flagged in `rows.usable`, at the
   * inverse scales of the last {@link JointPassRunner.inverseScales} call, over the shards. Returns the rows ascending.
   */
  outlierRows(zmax: number): Int32Array {
    const p = this.payload;
    if (p.rows === undefined) throw new RangeError("outlierRows needs a runner that allows row passes");
    p.rows.zmax[0] = zmax;
    this.dispatch(PassMode.outliers);
    return flaggedRows(p.rows.outlierFlag);
  }

  /** Runs one command over all shards (workers or this thread), reducing in shard order. */
  private dispatch(mode: PassModeValue): void {
    const p = this.payload;
    if (this.pool !== undefined) {
      this.pool.run(mode, this.nShards);
      return;
    }
    let partial = this.partials.get(mode);
    if (partial === undefined) {
      partial = createPartial(p, mode);
      this.partials.set(mode, partial);
    }
    for (let k = 0; k < this.nShards; k++) {
      computeShard(p, mode, k, partial);
      reduceShard(p, mode, partial);
    }
  }

  /** Stops the workers (idempotent). */
  close(): void {
    this.pool?.close();
    this.pool = undefined;
  }
}
