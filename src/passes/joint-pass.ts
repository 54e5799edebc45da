/**
 * The sharded, deterministic pass of joint scaling: observations (in `SharedArrayBuffer` columns) are cut once, from
 * the data only, into fixed shards of whole groups (≈ 2^18 rows each, more when the dense normal matrix is large);
 * each shard is accumulated into a zeroed partial and the partials are added to the result in shard order. The
 * in-thread path and the worker path run exactly these floating-point operations in this order, so the objective,
 * gradient and normal matrix are bit-identical for any number of threads.
 *
 * Paged observations (larger than memory) run the same shards: each thread reads a shard's rows from the scratch
 * file into its own buffers ({@link ShardViews}), computes exactly what it computes on resident columns, and writes
 * back what the pass changes (the weights of the outlier step, the pair factors of a matrix-free pass, which then
 * live in a second scratch file). Only per-group and per-parameter arrays stay in memory.
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
  addPairCounts,
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
import { ColumnFile, type ColumnFileLayout } from "../runtime/column-file.ts";
import {
  forEachWindow,
  readWindowColumns,
  ROW_COLUMN_NAMES,
  rowColumnBuffers,
  type PagedRows,
  type RowColumnBuffers,
} from "../observations/observation-windows.ts";
import { outlierWeightsInRange, type OutlierWeightColumns, type OutlierWeightCounts } from "./outlier-weights.ts";
import type { SmootherKernelState } from "../dials/smoother-weights.ts";
import { sharedFloat32, sharedFloat64, sharedInt32, sharedUint8 } from "../runtime/shared-arrays.ts";
import { siblingWorkerEntry, SyncWorkerPool } from "../runtime/worker-pool.ts";

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
  /**
   * DIALS standard outliers among the usable rows at the current inverse scales, and every row's weight reset to
   * 1/σ² (0 for outliers and unusable rows); the header gets [rows whose weight changed, outliers].
   */
  outlierWeights: 6,
  /** The inverse scale g of every row into {@link JointPassPayload.inverseScale} (resident rows only). */
  inverseScales: 7,
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

/** The row columns a paged shard is read with: all of them for the outlier pass, the others without variances. */
const ROWS_WITHOUT_VARIANCE = ROW_COLUMN_NAMES.filter((name) => name !== "variance");

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

/** Observation columns of the passes: the kernels' columns plus the variances (for the outlier passes). */
export type PassColumns = OutlierWeightColumns;

/** Everything a pass reads and writes; every array is in shared memory. */
export interface JointPassPayload {
  /**
   * The observations: resident columns, or, when `rowFile` is set, only `groupStart` (the rows are read from the
   * file shard by shard).
   */
  readonly columns: PassColumns;
  /** The scratch file of paged rows (columns still, intensity, variance, weight, qMagnitude), or undefined. */
  readonly rowFile: ColumnFileLayout | undefined;
  /** Precompute the smoother weights of each paged shard as it is read (resident columns carry them). */
  readonly precomputeSmoother: boolean;
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
  /** [objective, nObservations, rNumerator, rDenominator] ([changed, outliers] after an outlier pass). */
  readonly header: Float64Array;
  /** [zmax] of the outlier passes. */
  readonly zmax: Float64Array;
  /** Result gradient (P). */
  readonly gradient: Float64Array;
  /** Result dense matrix (P², or length 0 when dense passes are not allowed). */
  readonly matrix: Float64Array;
  /** Result low-rank sums, or undefined when matrix-free passes are not allowed. */
  readonly lowRank: LowRankSums | undefined;
  /**
   * Group factors of matrix-free passes, or undefined. With paged rows the pair arrays (`pairStill`, `pairA`,
   * `pairV`) are empty and live in `cacheFile`.
   */
  readonly cache: GroupCache | undefined;
  /** The scratch file of the pair factors of paged matrix-free passes, or undefined. */
  readonly cacheFile: ColumnFileLayout | undefined;
  /** Input vector of {@link PassMode.groupProduct} (P, or 0 without matrix-free passes). */
  readonly vectorX: Float64Array;
  /** Output vector of {@link PassMode.groupProduct}. */
  readonly vectorY: Float64Array;
  /** Inverse scale of every row (written by {@link PassMode.inverseScales}; length 0 when not allowed). */
  readonly inverseScale: Float32Array;
}

/**
 * One thread's view of the shards: the shared columns themselves when resident; otherwise shard k's rows (and pair
 * factors) read from the scratch files into this thread's buffers, and the columns a pass changes written back.
 */
export class ShardViews {
  private readonly p: JointPassPayload;
  private rowFile: ColumnFile | undefined;
  private cacheFile: ColumnFile | undefined;
  private rowBuffers: RowColumnBuffers | undefined;
  private pairBuffers: { still: Int32Array; a: Float64Array; v: Float64Array } | undefined;

  constructor(p: JointPassPayload) {
    this.p = p;
  }

  /** The longest of a range over all shards (sizes this thread's buffers once). */
  private largest(range: (k: number) => [number, number]): number {
    let largest = 0;
    for (let k = 0; k + 1 < this.p.shards.length; k++) {
      const [a, e] = range(k);
      largest = Math.max(largest, e - a);
    }
    return largest;
  }

  /** Rows of shard k: [first, end) absolute. */
  private rowRange(k: number): [number, number] {
    const { groupStart } = this.p.columns;
    return [groupStart[this.p.shards[k]], groupStart[this.p.shards[k + 1]]];
  }

  /**
   * The columns of shard k (a view starting at the shard's first row when paged; paged variances are read only when
   * asked for: the outlier pass is the one that needs them).
   */
  columns(k: number, withVariance = false): PassColumns {
    const p = this.p;
    if (p.rowFile === undefined) return p.columns;
    this.rowFile ??= ColumnFile.open(p.rowFile);
    const [lo, hi] = this.rowRange(k);
    const m = hi - lo;
    let b = this.rowBuffers;
    if (b === undefined || b.still.length < m) {
      b = rowColumnBuffers(this.largest((j) => this.rowRange(j)));
      this.rowBuffers = b;
    }
    readWindowColumns(this.rowFile, lo, hi, b, withVariance ? ROW_COLUMN_NAMES : ROWS_WITHOUT_VARIANCE);
    const still = b.still.subarray(0, m);
    const intensity = b.intensity.subarray(0, m);
    const variance = b.variance.subarray(0, withVariance ? m : 0);
    const weight = b.weight.subarray(0, m);
    const qMagnitude = b.qMagnitude.subarray(0, m);
    const smoother = p.smoother;
    return {
      groupStart: p.columns.groupStart,
      rowOffset: lo,
      still,
      intensity,
      variance,
      weight,
      qMagnitude,
      ...(smoother === undefined || !p.precomputeSmoother
        ? {}
        : {
            smootherWeights: precomputeSmootherWeights(
              { ...smoother.kernel, qMin: smoother.qMin, qMax: smoother.qMax },
              qMagnitude,
              { f64: (n) => new Float64Array(n), i32: (n) => new Int32Array(n), u8: (n) => new Uint8Array(n) },
            ),
          }),
    };
  }

  /** Writes the weights of shard k back (paged rows; `columns` is what {@link ShardViews.columns} returned). */
  storeWeights(k: number, columns: PassColumns): void {
    if (this.rowFile === undefined) return;
    this.rowFile.write("weight", this.rowRange(k)[0], columns.weight);
  }

  /** Pair slots of shard k: [first, end). */
  private pairRange(k: number): [number, number] {
    const cache = this.p.cache;
    if (cache === undefined) return [0, 0];
    return [cache.pairStart[this.p.shards[k]], cache.pairStart[this.p.shards[k + 1]]];
  }

  /** The group cache for shard k; paged: a view over this thread's pair buffers, read from the file when `load`. */
  cache(k: number, load: boolean): GroupCache | undefined {
    const p = this.p;
    const cache = p.cache;
    if (cache === undefined || p.cacheFile === undefined) return cache;
    this.cacheFile ??= ColumnFile.open(p.cacheFile);
    const [lo, hi] = this.pairRange(k);
    const m = hi - lo;
    let b = this.pairBuffers;
    if (b === undefined || b.still.length < m) {
      const largest = this.largest((j) => this.pairRange(j));
      b = { still: new Int32Array(largest), a: new Float64Array(largest), v: new Float64Array(largest) };
      this.pairBuffers = b;
    }
    const view: GroupCache = {
      ...cache,
      pairOffset: lo,
      pairStill: b.still.subarray(0, m),
      pairA: b.a.subarray(0, m),
      pairV: b.v.subarray(0, m),
    };
    if (load) {
      this.cacheFile.read("pairStill", lo, view.pairStill);
      this.cacheFile.read("pairA", lo, view.pairA);
      this.cacheFile.read("pairV", lo, view.pairV);
    }
    return view;
  }

  /** Writes the pair factors of shard k (paged; `view` is what {@link ShardViews.cache} returned). */
  storeCache(k: number, view: GroupCache | undefined): void {
    if (this.cacheFile === undefined || view === undefined) return;
    const lo = this.pairRange(k)[0];
    this.cacheFile.write("pairStill", lo, view.pairStill);
    this.cacheFile.write("pairA", lo, view.pairA);
    this.cacheFile.write("pairV", lo, view.pairV);
  }

  /** Closes this thread's file handles. */
  close(): void {
    this.rowFile?.close();
    this.cacheFile?.close();
    this.rowFile = undefined;
    this.cacheFile = undefined;
  }
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

/** Accumulates shard k into `partial` (cleared first), reading the shard through this thread's `views`. */
export function computeShard(
  p: JointPassPayload,
  mode: PassModeValue,
  k: number,
  partial: JointAccumulation,
  views: ShardViews,
): void {
  clearJointAccumulation(partial);
  const kf = p.values.length > 0 ? p.values.length - 1 : 0;
  if (mode === PassMode.outlierWeights) {
    const columns = views.columns(k, true);
    const counts = outlierWeightsInRange(columns, stateOf(p), p.zmax[0], p.shards[k], p.shards[k + 1]);
    views.storeWeights(k, columns);
    partial.objective = counts.nChanged;
    partial.nObservations = counts.nOutliers;
    return;
  }
  if (mode === PassMode.inverseScales) {
    const { groupStart, still, qMagnitude } = p.columns;
    inverseScalesInRange(
      stateOf(p),
      still,
      qMagnitude,
      groupStart[p.shards[k]],
      groupStart[p.shards[k + 1]],
      p.inverseScale,
    );
    return;
  }
  if (mode === PassMode.densify) {
    const cache = views.cache(k, true);
    if (cache === undefined || partial.matrix === undefined) return;
    addLowRankGroupsToDenseUpper(cache, p.nStills, kf, p.shards[k], p.shards[k + 1], partial.matrix);
    return;
  }
  if (mode === PassMode.groupProduct) {
    const cache = views.cache(k, true);
    if (cache === undefined) return;
    addLowRankGroupTerms(cache, p.nStills, kf, p.shards[k], p.shards[k + 1], p.vectorX, partial.gradient);
    return;
  }
  const cache = mode === PassMode.lowRank ? views.cache(k, false) : undefined;
  accumulateJointNormalEquations(views.columns(k), stateOf(p), p.shards[k], p.shards[k + 1], partial, cache);
  views.storeCache(k, cache);
}

function addInto(into: Float64Array, from: Float64Array): void {
  for (let i = 0; i < from.length; i++) into[i] += from[i];
}

/** Adds a shard's partial into the shared result (called in shard order). */
export function reduceShard(p: JointPassPayload, mode: PassModeValue, partial: JointAccumulation): void {
  if (mode === PassMode.inverseScales) return;
  if (mode === PassMode.outlierWeights) {
    p.header[0] += partial.objective;
    p.header[1] += partial.nObservations;
    return;
  }
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

/** The observations a {@link JointPassRunner} passes over: resident columns, or paged rows. */
export type PassSource =
  | (GroupedColumns & { readonly variance?: Float32Array })
  | { readonly groupStart: Int32Array; readonly paged: PagedRows };

/** {@link groupPairStart} of a pass source (paged rows window by window). */
export function pairStartOf(source: PassSource): Int32Array {
  if (!("paged" in source)) return groupPairStart(source.groupStart, source.still);
  const { groupStart } = source;
  const nGroups = groupStart.length - 1;
  const out = new Int32Array(nGroups + 1);
  forEachWindow({ groupStart, nGroups, rows: source.paged }, (w) => {
    addPairCounts(groupStart, w.still, w.rowBegin, w.groupBegin, w.groupEnd, out);
  });
  for (let h = 0; h < nGroups; h++) out[h + 1] += out[h];
  return out;
}

/** Options of {@link JointPassRunner}. */
export interface JointPassRunnerOptions {
  /** Worker threads; 1 runs in the calling thread (same shards, same order). @defaultValue 1 */
  threads?: number;
  /** Allow dense passes (allocates P² shared doubles). @defaultValue true */
  dense?: boolean;
  /**
   * Allow matrix-free passes (allocates the group cache: ~20 bytes per (group, still) pair, in a scratch file beside
   * paged rows). @defaultValue false
   */
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
   * Allow {@link JointPassRunner.inverseScales} (resident rows only: allocates 4 shared bytes per row).
   * @defaultValue false
   */
  rowInverseScales?: boolean;
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
  /** This thread's view of the shards (in-thread passes). */
  private readonly views: ShardViews;
  /** The pair-factor scratch file of paged matrix-free passes (created and removed here). */
  private readonly ownedCacheFile: ColumnFile | undefined;

  /**
   * @param source - Observations sorted by group then still: resident columns (copied to shared memory unless already
   *   shared; outlier passes need their `variance`), or `groupStart` and paged rows (read shard by shard).
   * @param nStills - Number of stills.
   * @param smoother - Smoother constants, or undefined.
   * @param options - Threads and which pass kinds to allow.
   */
  constructor(
    source: PassSource,
    nStills: number,
    smoother: (PassSmootherConstants & { nValues: number }) | undefined,
    options: JointPassRunnerOptions = {},
  ) {
    const threads = Math.max(1, Math.floor(options.threads ?? 1));
    const dense = options.dense ?? true;
    const lowRank = options.lowRank ?? false;
    const kf = smoother === undefined ? 0 : smoother.nValues - 1;
    const P = nStills + kf;
    const groupStart = shareI32(source.groupStart);
    const nGroups = groupStart.length - 1;
    const nRows = groupStart[nGroups];
    const precompute =
      smoother !== undefined &&
      (options.precomputeSmoother ?? nRows * smoother.nValues <= PRECOMPUTE_SMOOTHER_MAX_WEIGHTS);
    let columns: PassColumns;
    let rowFile: ColumnFileLayout | undefined;
    if ("paged" in source) {
      rowFile = source.paged.file.layout;
      columns = {
        groupStart,
        still: new Int32Array(0),
        intensity: new Float32Array(0),
        variance: new Float32Array(0),
        weight: new Float32Array(0),
        qMagnitude: new Float32Array(0),
      };
    } else {
      const qMagnitude = shareF32(source.qMagnitude);
      columns = {
        groupStart,
        still: shareI32(source.still),
        intensity: shareF32(source.intensity),
        variance: shareF32(source.variance ?? new Float32Array(0)),
        weight: shareF32(source.weight),
        qMagnitude,
        ...(smoother === undefined || !precompute
          ? {}
          : {
              smootherWeights: precomputeSmootherWeights(
                { ...smoother.kernel, qMin: smoother.qMin, qMax: smoother.qMax },
                qMagnitude,
                { f64: sharedFloat64, i32: sharedInt32, u8: sharedUint8 },
              ),
            }),
      };
    }
    let cache: GroupCache | undefined;
    if (lowRank) {
      const pairStart = shareI32(options.pairStart ?? pairStartOf(source));
      const nPairs = pairStart[nGroups];
      const pagedPairs = "paged" in source;
      if (pagedPairs) {
        // beside the rows' file, in the same scratch directory
        this.ownedCacheFile = ColumnFile.create(
          source.paged.file.layout.directory,
          { pairStill: 4, pairA: 8, pairV: 8 },
          nPairs,
        );
      }
      cache = {
        pairStart,
        pairCount: sharedInt32(nGroups),
        pairStill: sharedInt32(pagedPairs ? 0 : nPairs),
        pairA: sharedFloat64(pagedPairs ? 0 : nPairs),
        pairV: sharedFloat64(pagedPairs ? 0 : nPairs),
        groupIh: sharedFloat64(nGroups),
        groupS: sharedFloat64(nGroups),
        groupSmootherA: sharedFloat64(nGroups * kf),
        groupSmootherV: sharedFloat64(nGroups * kf),
      };
    }
    this.payload = {
      columns,
      rowFile,
      precomputeSmoother: precompute,
      shards: shareI32(computeShards(groupStart, Math.max(1, options.shardRows ?? shardRowsFor(P, dense, nRows)))),
      nStills,
      smoother:
        smoother === undefined ? undefined : { kernel: smoother.kernel, qMin: smoother.qMin, qMax: smoother.qMax },
      scales: sharedFloat64(nStills),
      values: sharedFloat64(smoother === undefined ? 0 : smoother.nValues),
      header: sharedFloat64(4),
      zmax: sharedFloat64(1),
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
      cacheFile: this.ownedCacheFile?.layout,
      vectorX: sharedFloat64(lowRank ? P : 0),
      vectorY: sharedFloat64(lowRank ? P : 0),
      inverseScale: sharedFloat32(options.rowInverseScales === true && !("paged" in source) ? nRows : 0),
    };
    this.views = new ShardViews(this.payload);
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
        const view = this.views.cache(k, true) ?? cache;
        addLowRankGroupsToDenseUpper(view, p.nStills, P - p.nStills, p.shards[k], p.shards[k + 1], partial);
        addInto(m, partial);
      }
    }
    addLowRankBlocksToDenseUpper(sums, p.nStills, P - p.nStills, m);
    symmetrizeUpper(m, P);
    return m;
  }

  /**
   * The outlier step over the shards (in this thread or on the workers): DIALS standard outliers among the usable
   * rows at these parameters, and every row's weight reset to 1/σ² (0 for outliers and unusable rows). Needs the
   * variances (resident columns with `variance`, or paged rows).
   */
  outlierWeights(scales: Float64Array, values: Float64Array | undefined, zmax: number): OutlierWeightCounts {
    const p = this.payload;
    if (p.rowFile === undefined && p.columns.variance.length !== p.columns.weight.length) {
      throw new RangeError("outlier passes need the variance of every row");
    }
    p.scales.set(scales);
    if (values !== undefined) p.values.set(values);
    p.zmax[0] = zmax;
    p.header.fill(0);
    this.dispatch(PassMode.outlierWeights);
    return { nChanged: p.header[0], nOutliers: p.header[1] };
  }

  /**
   * The inverse scale g of every row at these parameters, computed over the shards (in this thread or on the
   * workers; the same numbers as `inverseScalesInRange` in one pass). Needs the `rowInverseScales` option (resident
   * rows only: paged rows have no per-row arrays). Returns a shared array, overwritten by the next call.
   */
  inverseScales(scales: Float64Array, values: Float64Array | undefined): Float32Array {
    const p = this.payload;
    if (p.rowFile !== undefined) throw new RangeError("paged rows keep no per-row inverse scales");
    if (p.inverseScale.length !== p.columns.still.length) {
      throw new RangeError("inverseScales needs a runner made with the rowInverseScales option");
    }
    p.scales.set(scales);
    if (values !== undefined) p.values.set(values);
    this.dispatch(PassMode.inverseScales);
    return p.inverseScale;
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
      computeShard(p, mode, k, partial, this.views);
      reduceShard(p, mode, partial);
    }
  }

  /** Stops the workers (idempotent). */
  close(): void {
    this.pool?.close();
    this.pool = undefined;
    this.views.close();
    this.ownedCacheFile?.remove();
  }
}
