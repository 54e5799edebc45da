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
 * The runner here owns the payload and the workers; the shards, modes and payload layout are in `pass-payload.ts`,
 * what each mode computes and reduces in `pass-handlers.ts`, and a thread's view of the shards in `shard-views.ts`.
 *
 * @packageDocumentation
 */
import { ColumnFile } from "../runtime/column-file.ts";
import { forEachWindow, type PagedRows } from "../observations/observation-windows.ts";
import type { RowColumns } from "../observations/row-columns.ts";
import { rowColumns } from "../observations/row-columns.ts";
import { sharedCopy, sharedFloat32, sharedFloat64, sharedInt32, sharedUint8 } from "../runtime/shared-arrays.ts";
import { siblingWorkerEntry, SyncWorkerPool } from "../runtime/worker-pool.ts";
import { choleskyFactorKernel, choleskyInverseKernel } from "../solve/cholesky.ts";
import { equalWorkCuts, invertInPayload, setMatrixTask } from "./dense-inverse.ts";
import { precomputeSmootherWeights } from "./inverse-scales.ts";
import { symmetrizeUpper, type JointAccumulation, type LowRankSums } from "./joint-accumulation.ts";
import type { GroupedColumns } from "./joint-normal-equations.ts";
import {
  addLowRankBlocksToDenseUpper,
  addPairCounts,
  denseBandRows,
  groupPairStart,
  type GroupCache,
} from "./low-rank-operator.ts";
import type { OutlierWeightCounts, RowErrorModel } from "./outlier-weights.ts";
import { expandRowsOverShards, PASS_HANDLERS, ShardWorkspace } from "./pass-handlers.ts";
import {
  computeShards,
  MAX_MATRIX_ITEMS,
  PassMode,
  sharedOutlierCounts,
  sharedPassTotals,
  shardRowsFor,
  type JointPassPayload,
  type PassModeValue,
  type PassSmootherConstants,
} from "./pass-payload.ts";

/** Above this many precomputed smoother weights (rows × values) the passes evaluate the smoother per row. */
export const PRECOMPUTE_SMOOTHER_MAX_WEIGHTS = 1 << 26;

/** The modes {@link JointPassRunner.run} runs: the normal-equation passes. */
export type NormalEquationMode = typeof PassMode.objective | typeof PassMode.dense | typeof PassMode.lowRank;

/** A full symmetric copy of an upper-triangle accumulation. */
function symmetrized(upper: Float64Array, P: number): Float64Array {
  const m = upper.slice();
  symmetrizeUpper(m, P);
  return m;
}

/** The observations a {@link JointPassRunner} passes over: resident columns, or paged rows. */
export type PassSource =
  | { readonly groupStart: Int32Array; readonly rows: RowColumns }
  | { readonly groupStart: Int32Array; readonly paged: PagedRows };

/** {@link groupPairStart} of a pass source (paged rows window by window). */
export function pairStartOf(source: PassSource): Int32Array {
  if (!("paged" in source)) return groupPairStart(source.groupStart, source.rows.still);
  const { groupStart } = source;
  const nGroups = groupStart.length - 1;
  const out = new Int32Array(nGroups + 1);
  forEachWindow({ groupStart, nGroups, rows: source.paged }, (w) => {
    addPairCounts(groupStart, w.rows.still, w.rowBegin, w.groupBegin, w.groupEnd, out);
  });
  for (let h = 0; h < nGroups; h++) out[h + 1] += out[h];
  return out;
}

/**
 * The columns of the payload: the resident columns in shared memory (copied unless already shared), with the
 * smoother weights precomputed when `smoother` is given; only `groupStart` for paged rows.
 */
function passColumns(
  source: PassSource,
  groupStart: Int32Array,
  smoother: PassSmootherConstants | undefined,
): GroupedColumns {
  if ("paged" in source) return { groupStart, rows: rowColumns(0) };
  const qMagnitude = sharedCopy(source.rows.qMagnitude);
  return {
    groupStart,
    rows: {
      still: sharedCopy(source.rows.still),
      intensity: sharedCopy(source.rows.intensity),
      variance: sharedCopy(source.rows.variance),
      weight: sharedCopy(source.rows.weight),
      qMagnitude,
    },
    ...(smoother === undefined
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

/** A shared {@link GroupCache} for these pair slots; `paged`: the pair arrays are empty (they live in a file). */
function sharedGroupCache(pairStart: Int32Array, kf: number, paged: boolean): GroupCache {
  const nGroups = pairStart.length - 1;
  const nPairs = paged ? 0 : pairStart[nGroups];
  return {
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
  /** Rows per band of {@link JointPassRunner.densify} (tests use small bands). @defaultValue {@link denseBandRows}(P) */
  bandRows?: number;
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
  /** This thread's partials and view of the shards (in-thread passes). */
  private readonly workspace: ShardWorkspace;
  /** The pair-factor scratch file of paged matrix-free passes (created and removed here). */
  private readonly ownedCacheFile: ColumnFile | undefined;
  /** Rows per band of {@link JointPassRunner.densify}. */
  private readonly bandRows: number;

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
    this.bandRows = Math.max(1, Math.floor(options.bandRows ?? denseBandRows(P)));
    const groupStart = sharedCopy(source.groupStart);
    const nGroups = groupStart.length - 1;
    const nRows = groupStart[nGroups];
    const precompute =
      smoother !== undefined &&
      (options.precomputeSmoother ?? nRows * smoother.nValues <= PRECOMPUTE_SMOOTHER_MAX_WEIGHTS);
    const columns = passColumns(source, groupStart, precompute ? smoother : undefined);
    const rowInverseScales = options.rowInverseScales === true && !("paged" in source);
    let cache: GroupCache | undefined;
    if (lowRank) {
      const pairStart = sharedCopy(options.pairStart ?? pairStartOf(source));
      // paged rows: the pair factors in a scratch file beside the rows' file, in the same scratch directory
      this.ownedCacheFile =
        "paged" in source
          ? ColumnFile.create(
              source.paged.file.layout.directory,
              { pairStill: 4, pairA: 8, pairV: 8 },
              pairStart[nGroups],
            )
          : undefined;
      cache = sharedGroupCache(pairStart, kf, this.ownedCacheFile !== undefined);
    }
    this.payload = {
      columns,
      rowFile: "paged" in source ? source.paged.file.layout : undefined,
      precomputeSmoother: precompute,
      shards: sharedCopy(computeShards(groupStart, Math.max(1, options.shardRows ?? shardRowsFor(P, dense, nRows)))),
      nStills,
      smoother:
        smoother === undefined ? undefined : { kernel: smoother.kernel, qMin: smoother.qMin, qMax: smoother.qMax },
      scales: sharedFloat64(nStills),
      values: sharedFloat64(smoother === undefined ? 0 : smoother.nValues),
      totals: sharedPassTotals(),
      zmax: sharedFloat64(1),
      errorModel: sharedFloat64(6),
      outlierCounts: sharedOutlierCounts(),
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
      inverseScale: sharedFloat32(rowInverseScales ? nRows : 0),
      groupReferences: {
        intensity: sharedFloat64(rowInverseScales ? nGroups : 0),
        sigma: sharedFloat64(rowInverseScales ? nGroups : 0),
        nObservations: sharedInt32(rowInverseScales ? nGroups : 0),
      },
      // untouched (so not resident) until a dense inverse is taken
      inverseFactor: sharedFloat64(dense ? P * P : 0),
      matrixTask: sharedInt32(3 + MAX_MATRIX_ITEMS),
    };
    this.workspace = new ShardWorkspace(this.payload);
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
  run(mode: NormalEquationMode, scales: Float64Array, values: Float64Array | undefined): JointAccumulation {
    const p = this.payload;
    p.scales.set(scales);
    if (values !== undefined) p.values.set(values);
    this.pass(mode);
    const lr = p.lowRank;
    const t = p.totals;
    return {
      objective: t.objective[0],
      nObservations: t.nObservations[0],
      rNumerator: t.rNumerator[0],
      rDenominator: t.rDenominator[0],
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
    this.pass(PassMode.groupProduct);
    for (let i = 0; i < y.length; i++) y[i] += p.vectorY[i];
  }

  /**
   * The dense normal matrix (both triangles, no gauge term or restraints) from the block sums and the group factors of
   * the last matrix-free pass. The rows are cut into items of about equal work (in this thread or on the workers, any
   * order): each item sums every shard's group terms in its rows band by band and adds them in shard order (see the
   * densify handler), which gives the numbers of per-shard dense partials reduced in shard order. Requires the runner
   * to allow matrix-free passes.
   */
  densify(sums: LowRankSums): Float64Array {
    const p = this.payload;
    const P = p.gradient.length;
    if (p.cache === undefined) throw new RangeError("densify needs a runner that allows matrix-free passes");
    let m: Float64Array;
    if (p.matrix.length === P * P) {
      // the upper triangle's row r holds P − r elements; twice as many items as threads, so that a thread that runs
      // slower hands work to the others
      const items = this.pool === undefined ? 1 : Math.min(MAX_MATRIX_ITEMS, 2 * this.threads);
      const cuts = equalWorkCuts(P, (r) => P - r, items);
      this.runItems(PassMode.densify, setMatrixTask(p, P, this.bandRows, cuts, 1));
      m = p.matrix.slice();
    } else {
      // no shared dense matrix (more stills than dense passes allow): the same bands, in this thread
      m = new Float64Array(P * P);
      expandRowsOverShards(p, this.workspace.views, 0, P, this.bandRows, new Float64Array(this.bandRows * P), m);
    }
    addLowRankBlocksToDenseUpper(sums, p.nStills, P - p.nStills, m);
    symmetrizeUpper(m, P);
    return m;
  }

  /**
   * The inverse of the symmetric positive-definite P×P matrix `a` (row-major, lower triangle read; overwritten) by
   * Cholesky: on the workers when there are any and dense passes are allowed (see `dense-inverse.ts`; the shared dense
   * matrix is overwritten), else in this thread. Bit-identical either way to `choleskyFactorKernel` then
   * `choleskyInverseKernel`. Undefined when `a` is not positive definite.
   */
  inversePositiveDefinite(a: Float64Array): Float64Array | undefined {
    const p = this.payload;
    const n = p.gradient.length;
    const pool = this.pool;
    if (pool === undefined || p.matrix.length !== n * n) {
      return choleskyFactorKernel(a, n) ? choleskyInverseKernel(a, n) : undefined;
    }
    p.matrix.set(a);
    if (
      !invertInPayload(p, n, this.threads, (mode, nItems) => {
        pool.run(mode, nItems);
      })
    )
      return undefined;
    return p.matrix.slice();
  }

  /**
   * The outlier step over the shards (in this thread or on the workers): DIALS standard outliers among the usable
   * rows at these parameters, and every row's weight reset to 1/σ² (0 for outliers and unusable rows). Needs the
   * variances (resident columns with `variance`, or paged rows).
   */
  outlierWeights(
    scales: Float64Array,
    values: Float64Array | undefined,
    zmax: number,
    errorModel?: RowErrorModel,
  ): OutlierWeightCounts {
    const p = this.payload;
    if (p.rowFile === undefined && p.columns.rows.variance.length !== p.columns.rows.weight.length) {
      throw new RangeError("outlier passes need the variance of every row");
    }
    p.scales.set(scales);
    if (values !== undefined) p.values.set(values);
    p.zmax[0] = zmax;
    const e = p.errorModel;
    if (errorModel === undefined) e.fill(0);
    else {
      e[0] = 1;
      e[1] = errorModel.nBraggGroups;
      e[2] = errorModel.braggA;
      e[3] = errorModel.braggB;
      e[4] = errorModel.diffuseA;
      e[5] = errorModel.diffuseB;
    }
    this.pass(PassMode.outlierWeights);
    const c = p.outlierCounts;
    return { nChanged: c.nChanged[0], nOutliers: c.nOutliers[0], nFlipped: c.nFlipped[0] };
  }

  /**
   * The inverse scale g of every row at these parameters, computed over the shards (in this thread or on the
   * workers; the same numbers as `inverseScalesInRange` in one pass). Needs the `rowInverseScales` option (resident
   * rows only: paged rows have no per-row arrays). Returns a shared array, overwritten by the next call.
   */
  inverseScales(scales: Float64Array, values: Float64Array | undefined): Float32Array {
    const p = this.payload;
    if (p.rowFile !== undefined) throw new RangeError("paged rows keep no per-row inverse scales");
    if (p.inverseScale.length !== p.columns.rows.still.length) {
      throw new RangeError("inverseScales needs a runner made with the rowInverseScales option");
    }
    p.scales.set(scales);
    if (values !== undefined) p.values.set(values);
    this.pass(PassMode.inverseScales);
    return p.inverseScale;
  }

  /** Runs items 0…nItems−1 of a mode whose items write their own part of the result (workers or this thread). */
  private runItems(mode: PassModeValue, nItems: number): void {
    if (this.pool !== undefined) {
      this.pool.run(mode, nItems);
      return;
    }
    for (let k = 0; k < nItems; k++) this.workspace.compute(mode, k);
  }

  /**
   * Zeroes the shared result of `mode`, then runs the mode over all shards (workers or this thread), reducing in
   * shard order.
   */
  private pass(mode: PassModeValue): void {
    PASS_HANDLERS[mode].clear(this.payload);
    if (this.pool !== undefined) {
      this.pool.run(mode, this.nShards);
      return;
    }
    for (let k = 0; k < this.nShards; k++) {
      this.workspace.compute(mode, k);
      this.workspace.reduce(mode);
    }
  }

  /** Stops the workers (idempotent). */
  close(): void {
    this.pool?.close();
    this.pool = undefined;
    this.workspace.close();
    this.ownedCacheFile?.remove();
  }
}
