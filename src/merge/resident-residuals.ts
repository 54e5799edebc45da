/**
 * The residual summaries and row counts of resident rows (./residuals.ts) over fixed shards of whole groups, on
 * worker threads or in the calling thread (./residual-shards.ts; the same numbers either way): the threads compute
 * every row's normalised residual into one array, in row order, and count (rows per still, shared groups, histogram,
 * the three rounds of the order statistics); the calling thread adds the threads' integer counts and forms the
 * float64 sum and sum of squares in one loop each over the kept residuals, in row order: the values and the order of
 * the one-pass accumulator, so the summaries are bit-identical to it for any number of threads.
 *
 * @packageDocumentation
 */
import type { ResidualSummary } from "../io/diagnostics-json.ts";
import { residentRows } from "../observations/observation-windows.ts";
import { inverseScalesInRange } from "../passes/inverse-scales.ts";
import { computeShards, shardRowsFor } from "../passes/pass-payload.ts";
import type { JointRefinementResult } from "../refine/joint-refinement.ts";
import { sharedCopy, sharedFloat32, sharedFloat64, sharedInt32 } from "../runtime/shared-arrays.ts";
import { siblingWorkerEntry, SyncWorkerPool } from "../runtime/worker-pool.ts";
import { Float32OrderStatistics } from "./order-statistics.ts";
import {
  ResidualCommand,
  ResidualShardThread,
  ROUND1_BINS,
  rowSumsLayout,
  type KeyRound,
  type ResidualShardPayload,
} from "./residual-shards.ts";
import { HISTOGRAM_BINS, probabilityRanks, residualSummaryOf, type RowCounts } from "./residual-summary.ts";

/** Options of {@link ResidentResidualThreads}. */
export interface ResidentResidualOptions {
  /** Worker threads; 1 computes in the calling thread (same shards, same numbers). @defaultValue 1 */
  threads?: number;
  /** Minimum rows per shard (tests use small shards). @defaultValue `shardRowsFor(0, false, rows)` */
  shardRows?: number;
}

/** A pair of values, one per kind (0 Bragg, 1 diffuse). */
function perKind<T>(f: (kind: 0 | 1) => T): [T, T] {
  return [f(0), f(1)];
}

/** Shard boundaries in groups: Bragg groups and voxels cut separately, so that every shard is of one kind. */
function residualShards(groupStart: Int32Array, nBraggGroups: number, targetRows: number): Int32Array {
  const bragg = computeShards(groupStart.subarray(0, nBraggGroups + 1), targetRows);
  const diffuse = computeShards(groupStart.subarray(nBraggGroups), targetRows);
  const out = sharedInt32(bragg.length + diffuse.length - 1);
  out.set(bragg);
  for (let i = 1; i < diffuse.length; i++) out[bragg.length - 1 + i] = diffuse[i] + nBraggGroups;
  return out;
}

/** The float64 sums of one kind's residuals, over its shards' kept residuals in row order. */
function sumsInRowOrder(p: ResidualShardPayload, kind: 0 | 1): { n: number; mean: number; ss: number } {
  const { kept, shards, shardCount, groupStart } = p;
  const nShards = shards.length - 1;
  const isKind = (k: number): boolean => (shards[k] < p.nBraggGroups ? 0 : 1) === kind;
  let n = 0;
  let sum = 0;
  for (let k = 0; k < nShards; k++) {
    if (!isKind(k)) continue;
    const base = groupStart[shards[k]];
    const end = base + shardCount[k];
    for (let i = base; i < end; i++) sum += kept[i];
    n += shardCount[k];
  }
  const mean = n > 0 ? sum / n : 0;
  let ss = 0;
  for (let k = 0; k < nShards; k++) {
    if (!isKind(k)) continue;
    const base = groupStart[shards[k]];
    const end = base + shardCount[k];
    for (let i = base; i < end; i++) ss += (kept[i] - mean) ** 2;
  }
  return { n, mean, ss };
}

/** Adds `length` counts of every thread's slot of `slots`. */
function addSlots(slots: Float64Array, nThreads: number, stride: number, offset: number, length: number): Float64Array {
  const out = new Float64Array(length);
  for (let t = 0; t < nThreads; t++) {
    const at = t * stride + offset;
    for (let i = 0; i < length; i++) out[i] += slots[at + i];
  }
  return out;
}

/**
 * The residual summaries and row counts of a refinement result with resident rows, on `threads` worker threads
 * (started by the constructor, so they load while the caller does other work) or in the calling thread. Call
 * {@link ResidentResidualThreads.close} when done.
 */
export class ResidentResidualThreads {
  private readonly payload: ResidualShardPayload;
  private readonly thread: ResidualShardThread;
  private readonly pool: SyncWorkerPool | undefined;
  private readonly nIncluded: number;
  /** The pass over the rows was started by {@link ResidentResidualThreads.begin} and not yet waited for. */
  private begun = false;

  /**
   * @param result - The refinement result (resident rows; its `inverseScales`, computed here when absent).
   * @param options - Threads and shard size.
   * @throws RangeError when the rows are paged.
   */
  constructor(result: JointRefinementResult, options: ResidentResidualOptions = {}) {
    const obs = result.observations;
    const rows = residentRows(obs);
    const nRows = obs.groupStart[obs.nGroups];
    let g = result.inverseScales;
    if (g === undefined) {
      g = sharedFloat32(nRows);
      inverseScalesInRange(result.finalState, rows.still, rows.qMagnitude, 0, nRows, g);
    }
    const shards = residualShards(
      obs.groupStart,
      obs.nBraggGroups,
      Math.max(1, options.shardRows ?? shardRowsFor(0, false, nRows)),
    );
    const nShards = shards.length - 1;
    const threads = Math.max(1, Math.min(Math.floor(options.threads ?? 1), nShards));
    const refs = result.references;
    this.nIncluded = result.includedStills.length;
    this.payload = {
      groupStart: sharedCopy(obs.groupStart),
      nBraggGroups: obs.nBraggGroups,
      // (the counts are per included still: as many as the observations' stills)
      nStills: Math.max(obs.nStills, this.nIncluded),
      still: sharedCopy(rows.still),
      intensity: sharedCopy(rows.intensity),
      variance: sharedCopy(rows.variance),
      weight: sharedCopy(rows.weight),
      qMagnitude: sharedCopy(rows.qMagnitude),
      g: sharedCopy(g),
      refIntensity: sharedCopy(refs.intensity),
      refSigma: sharedCopy(refs.sigma),
      refN: sharedCopy(refs.nObservations),
      shards,
      kept: sharedFloat32(nRows),
      shardCount: sharedInt32(nShards),
      braggGroupQ: sharedFloat32(obs.nBraggGroups),
      ticket: sharedInt32(1),
      rowSums: sharedFloat64(threads * rowSumsLayout(Math.max(obs.nStills, this.nIncluded)).stride),
    };
    this.thread = new ResidualShardThread(this.payload);
    this.pool =
      threads > 1
        ? new SyncWorkerPool(siblingWorkerEntry(import.meta.url, "residual-worker"), threads, this.payload)
        : undefined;
  }

  /** Number of threads counting (slots of the counts). */
  private get nThreads(): number {
    return this.pool?.size ?? 1;
  }

  /** Runs one command over every shard (on the workers, or here). */
  private run(command: number, round?: KeyRound): void {
    const p = this.payload;
    const nShards = p.shards.length - 1;
    p.ticket[0] = 0;
    if (this.pool !== undefined) {
      if (round !== undefined) this.pool.post(round);
      this.pool.run(command, nShards);
      return;
    }
    let next = 0;
    this.thread.serve(command, round, () => (next < nShards ? next++ : -1));
  }

  /**
   * Starts the pass over the rows on the workers and returns at once (nothing with one thread): the caller may go on
   * with other work (not on these rows' residual arrays) until {@link ResidentResidualThreads.summaries}, which waits
   * for it. Blocks only while the workers are still starting.
   */
  begin(): void {
    if (this.pool === undefined || this.begun) return;
    this.payload.ticket[0] = 0;
    this.pool.start(ResidualCommand.rows, this.payload.shards.length - 1);
    this.begun = true;
  }

  /** The residual summaries of both kinds and the row counts (see `residualSummaries`). */
  summaries(): {
    residuals: { bragg: ResidualSummary | null; diffuse: ResidualSummary | null };
    counts: RowCounts;
  } {
    const p = this.payload;
    if (this.begun) {
      this.begun = false;
      this.pool?.finish();
    } else this.run(ResidualCommand.rows);
    const nThreads = this.nThreads;
    const layout = rowSumsLayout(p.nStills);
    const perStill = (offset: number): number[] => {
      const sums = addSlots(p.rowSums, nThreads, layout.stride, offset, p.nStills);
      return Array.from(sums.subarray(0, this.nIncluded));
    };
    let qMin = Infinity;
    let qMax = -Infinity;
    for (let t = 0; t < nThreads; t++) {
      qMin = Math.min(qMin, p.rowSums[t * layout.stride + layout.qMin]);
      qMax = Math.max(qMax, p.rowSums[t * layout.stride + layout.qMax]);
    }
    const counts: RowCounts = {
      nBragg: perStill(layout.nBragg),
      nDiffuse: perStill(layout.nDiffuse),
      nSharedGroups: perStill(layout.nShared),
      braggGroupQ: p.braggGroupQ,
      qMin,
      qMax,
    };
    const kinds = perKind((kind) => {
      const order = new Float32OrderStatistics();
      order.addCounts(addSlots(p.rowSums, nThreads, layout.stride, layout.keys[kind], ROUND1_BINS));
      const sums = sumsInRowOrder(p, kind);
      const ranks = probabilityRanks(sums.n);
      if (sums.n > 0) order.setRanks(ranks);
      const bins = addSlots(p.rowSums, nThreads, layout.stride, layout.bins[kind], HISTOGRAM_BINS);
      return { ...sums, order, ranks, bins };
    });
    if (kinds[0].n + kinds[1].n === 0) return { residuals: { bragg: null, diffuse: null }, counts };
    // rounds 2 and 3 of the order statistics
    for (let r = 0; r < 2; r++) {
      const tables = perKind((kind) => (kinds[kind].n > 0 ? kinds[kind].order.roundTables() : undefined));
      const length = perKind((kind) => tables[kind]?.counts.length ?? 0);
      const round: KeyRound = {
        round: r + 1,
        slot1: perKind((kind) => sharedCopy(tables[kind]?.slot1 ?? new Int32Array(0))),
        slot2: perKind((kind) => sharedCopy(r === 1 ? (tables[kind]?.slot2 ?? new Int32Array(0)) : new Int32Array(0))),
        counts: perKind((kind) => sharedFloat64(nThreads * length[kind])),
        length,
      };
      this.run(ResidualCommand.keys, round);
      for (const kind of [0, 1] as const) {
        if (kinds[kind].n === 0) continue;
        kinds[kind].order.addCounts(addSlots(round.counts[kind], nThreads, length[kind], 0, length[kind]));
        if (r === 0) kinds[kind].order.nextRound();
      }
    }
    const summary = (kind: 0 | 1): ResidualSummary | null => {
      const k = kinds[kind];
      return k.n === 0 ? null : residualSummaryOf(k.n, k.mean, k.ss, k.bins, k.ranks, k.order.values());
    };
    return { residuals: { bragg: summary(0), diffuse: summary(1) }, counts };
  }

  /** Stops the workers (idempotent). */
  close(): void {
    this.pool?.close();
  }
}
