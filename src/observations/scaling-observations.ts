/**
 * `ScalingObservations`: the Bragg and diffuse observations that enter joint scaling, as one struct of arrays sorted
 * by group (Bragg ASU hkl groups first, in (h,k,l) order, then voxels in increasing voxel index) and, inside a group,
 * by still. Bragg groups and voxels are separate namespaces: a voxel never shares a reference with a Bragg reflection.
 *
 * Storage is compact: still ids, intensities, variances, weights and |q| take 4 bytes each (float32 values;
 * every pass accumulates in float64): 20 bytes per row. Diffuse rows are grouped straight from their source in chunks
 * — one pass counts the rows of every voxel, a second puts each row in the slot range of its bucket of voxels, then
 * each bucket is ordered by voxel and still — so no full-size intermediate copy exists and a file is never loaded
 * whole. The row columns live in `SharedArrayBuffer`s, so worker threads read them without a copy, or, for inputs
 * larger than memory, in a scratch file ({@link PagedRows}) read window by window: the paged rows are bit-identical
 * to the resident ones, and grouping them holds only per-group arrays and bounded buffers in memory.
 *
 * The input types are in `scaling-input.ts`, the row columns in `row-columns.ts`, Bragg grouping in
 * `bragg-grouping.ts`, diffuse placement in `diffuse-placement.ts`, and `restrictToStills` in `restrict-stills.ts`.
 *
 * @packageDocumentation
 */
import { tmpdir } from "node:os";
import { ConfigError, requireObjectArgument } from "../errors.ts";
import { sharedInt32 } from "../runtime/shared-arrays.ts";
import { usableMemory } from "../runtime/usable-memory.ts";
import { braggGroupKeys, denseIds, groupBraggRows, unpackHkl } from "./bragg-grouping.ts";
import { groupDiffuseRows } from "./diffuse-placement.ts";
import { countVoxelsInThreads, GroupingThreads } from "./diffuse-placement-threads.ts";
import { createRowFile, type PagedRows, type ResidentRows } from "./observation-windows.ts";
import { BYTES_PER_OBSERVATION, sliceRows } from "./row-columns.ts";
import { PagedStore, ResidentStore } from "./row-stores.ts";
import { singleChunkSource, type BraggInput, type DiffuseChunkSource, type DiffuseInput } from "./scaling-input.ts";
import { countVoxels } from "./voxel-slots.ts";

/** Observations sorted by group then still, with CSR group offsets. */
export interface ScalingObservations {
  /** Number of rows. */
  readonly n: number;
  /** Number of stills (parameters b). */
  readonly nStills: number;
  /** Number of groups; groups `[0, nBraggGroups)` are Bragg, the rest voxels. */
  readonly nGroups: number;
  /** Number of Bragg groups. */
  readonly nBraggGroups: number;
  /** Number of Bragg rows: rows `[0, nBraggRows)` are Bragg, the rest diffuse. */
  readonly nBraggRows: number;
  /** CSR offsets, length nGroups + 1. */
  readonly groupStart: Int32Array;
  /**
   * The row columns (still, I, σ², weight, |q|), in memory or paged from a scratch file: passes read them with
   * `forEachWindow` (see `observation-windows.ts`).
   */
  readonly rows: ResidentRows | PagedRows;
  /** Source row in the reflection table of each Bragg row (length nBraggRows; diffuse rows keep no source row). */
  readonly sourceRow: Int32Array;
  /** ASU hkl of each Bragg group (nBraggGroups × 3). */
  readonly braggHkl: Int32Array;
  /** Voxel index of each diffuse group (nGroups − nBraggGroups). */
  readonly voxelIndex: Float64Array;
  /**
   * The units (powers of two) the Bragg and diffuse rows are stored in: a stored I is I/unit, σ² is σ²/unit² (see
   * `value-unit.ts`; 1 for ordinary data). References and merged values are in these units until multiplied back.
   * @defaultValue both 1
   */
  readonly units?: { readonly bragg: number; readonly diffuse: number };
}

/** Options of {@link buildScalingObservations}. */
export interface BuildScalingObservationsOptions {
  /**
   * Memory the grouped row columns may take: when they need more ({@link BYTES_PER_OBSERVATION} bytes per
   * observation), they are paged from a scratch file in {@link BuildScalingObservationsOptions.scratchDirectory}
   * instead of held in memory (unless {@link BuildScalingObservationsOptions.paged} decides). It also sizes the
   * windows and buffers of a paged build. @defaultValue a quarter of the memory the process may use
   * ({@link usableMemory}: grouping, the passes and the outputs need more than the columns alone)
   */
  memoryLimitBytes?: number;
  /** Directory in which a paged build creates its scratch file (in a private subdirectory). @defaultValue `os.tmpdir()` */
  scratchDirectory?: string;
  /**
   * `true` pages the rows from a scratch file, `false` holds them in memory, whatever their size.
   * @defaultValue decided by {@link BuildScalingObservationsOptions.memoryLimitBytes}
   */
  paged?: boolean;
  /**
   * Most rows per window of paged observations (a single larger group is a window of its own).
   * @defaultValue `memoryLimitBytes / (8 · BYTES_PER_OBSERVATION)`, clamped to [2^16, 2^24]
   */
  windowRows?: number;
  /**
   * Internal tuning of a paged build (tests make it tiny to get many buckets): most rows per placement bucket, i.e.
   * per run of consecutive voxels ordered in memory at once (a single larger voxel is a bucket of its own). There are
   * at least 512 buckets when the voxels allow. @defaultValue `windowRows`
   */
  bucketRows?: number;
  /**
   * Internal tuning of a paged build: rows staged in memory per bucket before they are written to the scratch file
   * with one call per column. @defaultValue `min(2^26, memoryLimitBytes / 16) / (buckets · 20)`, clamped to [16, 2^16]
   */
  stagingRows?: number;
  /**
   * Threads that count the voxels of a source of unprepared rows (a binned file, binned rows in memory) and select,
   * place and order the diffuse rows of a resident build (worker threads over `SharedArrayBuffer`s, each with its own
   * part of every block of rows and its own run of voxels; the rows are the same for any number).
   * @defaultValue 1 (this thread)
   */
  threads?: number;
  /**
   * Internal tuning (tests make it tiny): fewest diffuse rows placed in threads; fewer are placed on this thread.
   * @defaultValue `2^20`
   */
  threadedMinRows?: number;
}

/** Fewest diffuse rows grouped in threads (the default of `threadedMinRows`). */
const THREADED_MIN_ROWS = 1 << 20;

/** Most threads diffuse placement uses (more split the rows of a block into runs too short to pay). */
const MAX_PLACEMENT_THREADS = 4;

/** Most observations one grouping can hold: row offsets are 32-bit. */
export const MAX_OBSERVATIONS = 2 ** 31 - 1;

/** Fails early, with what to do about it, when there are more rows than 32-bit offsets address. */
function checkCapacity(nRows: number): void {
  if (nRows > MAX_OBSERVATIONS) {
    throw new ConfigError(
      `${nRows} observations are more than one scaling job holds (${MAX_OBSERVATIONS}); scale the stills in parts`,
    );
  }
}

/** Throws unless `value` is undefined or an integer ≥ 1. */
function checkCount(name: string, value: number | undefined): void {
  if (value !== undefined && !(Number.isInteger(value) && value >= 1)) {
    throw new ConfigError(`buildScalingObservations: ${name} must be an integer ≥ 1, got ${value}`);
  }
}

/**
 * Groups Bragg and diffuse observations for joint scaling. Diffuse input is either in memory ({@link DiffuseInput})
 * or a {@link DiffuseChunkSource}, read twice (count, then place) without a full-size copy. The grouped rows are held
 * in memory, or, when larger than {@link BuildScalingObservationsOptions.memoryLimitBytes}, paged from a scratch file
 * (free it with {@link releaseObservations}); paged rows are bit-identical to resident ones (same groups, order,
 * values and weights), and grouping them holds only per-group arrays and bounded buffers in memory.
 *
 * @param nStills - Number of stills; every `still` value must lie in [0, nStills).
 * @param options - The memory limit and paging.
 * @throws {@link ConfigError} when a still index is out of range, an hkl is too large to pack, an option is invalid,
 *   or there are more observations than {@link MAX_OBSERVATIONS}.
 * @throws {@link InputError} when the scratch file of paged rows cannot be created or written.
 */
export function buildScalingObservations(
  nStills: number,
  bragg: BraggInput | undefined,
  diffuse: DiffuseInput | DiffuseChunkSource | undefined,
  options: BuildScalingObservationsOptions = {},
): ScalingObservations {
  const source = diffuse === undefined ? undefined : "chunks" in diffuse ? diffuse : singleChunkSource(diffuse);
  const nB = bragg?.still.length ?? 0;
  checkCapacity(nB + (source?.maxRows ?? 0));
  const memoryLimit = options.memoryLimitBytes ?? usableMemory() / 4;
  if (!(memoryLimit > 0)) {
    throw new ConfigError(`buildScalingObservations: memoryLimitBytes must be positive, got ${memoryLimit}`);
  }
  checkCount("windowRows", options.windowRows);
  checkCount("bucketRows", options.bucketRows);
  checkCount("stagingRows", options.stagingRows);
  checkCount("threads", options.threads);
  checkCount("threadedMinRows", options.threadedMinRows);
  const nThreads = Math.min(options.threads ?? 1, MAX_PLACEMENT_THREADS);
  // started first: their start-up overlaps the grouping of the Bragg rows
  const threads =
    source !== undefined && nThreads >= 2 && source.maxRows >= (options.threadedMinRows ?? THREADED_MIN_ROWS)
      ? GroupingThreads.start(nThreads)
      : undefined;
  try {
    return groupRows(nStills, bragg, source, options, memoryLimit, threads);
  } finally {
    threads?.close();
  }
}

/** {@link buildScalingObservations} once its options are checked, with its grouping threads (if any). */
function groupRows(
  nStills: number,
  bragg: BraggInput | undefined,
  source: DiffuseChunkSource | undefined,
  options: BuildScalingObservationsOptions,
  memoryLimit: number,
  threads: GroupingThreads | undefined,
): ScalingObservations {
  const nB = bragg?.still.length ?? 0;
  const braggKeys = bragg === undefined ? new Float64Array(0) : braggGroupKeys(bragg, nStills);
  const bIds = denseIds(braggKeys);
  const nBraggGroups = bIds.unique.length;
  const slots =
    source === undefined
      ? undefined
      : ((threads === undefined ? undefined : countVoxelsInThreads(threads, source)) ?? countVoxels(source));
  const nCounted = nB + (slots?.nRows ?? 0);
  checkCapacity(nCounted);
  let nGroups = nBraggGroups + (slots?.unique.length ?? 0);

  const groupStart = sharedInt32(nGroups + 1);
  for (let i = 0; i < nB; i++) groupStart[bIds.ids[i] + 1]++;
  if (slots !== undefined) {
    for (let v = 0; v < slots.unique.length; v++) groupStart[nBraggGroups + v + 1] = slots.counts[v];
  }
  for (let h = 0; h < nGroups; h++) groupStart[h + 1] += groupStart[h];

  const paged = options.paged ?? nCounted * BYTES_PER_OBSERVATION > memoryLimit;
  const windowRows =
    options.windowRows ?? Math.min(2 ** 24, Math.max(2 ** 16, Math.floor(memoryLimit / (8 * BYTES_PER_OBSERVATION))));
  const store = paged
    ? new PagedStore(createRowFile(options.scratchDirectory ?? tmpdir(), nCounted))
    : new ResidentStore(nCounted);
  const sourceRow = new Int32Array(nB);
  let voxelIndex = slots?.unique ?? new Float64Array(0);
  try {
    if (bragg !== undefined) {
      groupBraggRows(bragg, bIds.ids, groupStart, nBraggGroups, store.target(0, nB), sourceRow);
      store.commit(0, nB);
    }
    if (source !== undefined && slots !== undefined && slots.unique.length > 0) {
      const nVoxels = groupDiffuseRows(source, slots, nStills, groupStart, nBraggGroups, store, {
        paged,
        memoryLimit,
        windowRows,
        bucketRows: options.bucketRows,
        stagingRows: options.stagingRows,
        threads: slots.nRows >= (options.threadedMinRows ?? THREADED_MIN_ROWS) ? threads : undefined,
      });
      nGroups = nBraggGroups + nVoxels;
      if (nVoxels !== slots.unique.length) voxelIndex = slots.unique.slice(0, nVoxels);
    }
  } catch (e) {
    if (store instanceof PagedStore) store.file.remove();
    throw e;
  }
  const n = groupStart[nGroups];
  const braggHkl = unpackHkl(bIds.unique);
  let rows: ResidentRows | PagedRows;
  if (store instanceof PagedStore) {
    rows = { kind: "paged", file: store.file, windowRows };
  } else {
    rows = { kind: "resident", ...sliceRows(store.columns, 0, n) };
  }
  return {
    n,
    nStills,
    nGroups,
    nBraggGroups,
    nBraggRows: nB,
    groupStart: groupStart.subarray(0, nGroups + 1),
    rows,
    sourceRow,
    braggHkl,
    voxelIndex,
    units: { bragg: bragg?.unit ?? 1, diffuse: source?.unit ?? 1 },
  };
}

/**
 * Deletes the scratch file of paged observations (nothing to do for resident ones); `obs` must not be used afterwards.
 */
export function releaseObservations(obs: ScalingObservations): void {
  requireObjectArgument(obs, "releaseObservations: obs (the observations of a refinement, details.observations)");
  requireObjectArgument(obs.rows, "releaseObservations: obs.rows (the observations of a refinement)");
  if (obs.rows.kind === "paged") obs.rows.file.remove();
}
