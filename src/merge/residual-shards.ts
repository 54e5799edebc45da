/**
 * The residual summaries' work over resident rows, shard by shard, as the calling thread or a worker does it
 * (./resident-residuals.ts drives it; ./residual-worker.ts serves it): shards are runs of whole groups, each of one
 * kind (Bragg groups first). The rows command writes each shard's normalised residuals, in row order, to the shard's
 * own rows of one array and counts, per thread, the rows (per still), the groups each still shares, the histogram and
 * round 1 of the order statistics; the keys command counts round 2 or 3. Every count is an integer, so adding the
 * threads' counts gives the same numbers whatever thread took which shard; the order-dependent sums are left to the
 * caller, over the kept residuals in row order.
 *
 * @packageDocumentation
 */
import { countFloat32Keys } from "./order-statistics.ts";
import { HISTOGRAM_BINS, histogramBin } from "./residual-summary.ts";

/** Bins of round 1 of the order statistics (`Float32OrderStatistics`: the top 11 key bits). */
export const ROUND1_BINS = 1 << 11;

/** Round 1 of the key counts reads no slots. */
const NO_SLOTS = new Int32Array(0);

/** The commands of the shards' work. */
export const ResidualCommand = {
  /** Residuals of the rows, row counts, histogram and round-1 key counts. */
  rows: 1,
  /** Key counts of round 2 or 3 of the order statistics (the tables are posted before). */
  keys: 2,
} as const;

/** What every thread reads and writes (shared memory). */
export interface ResidualShardPayload {
  /** CSR offsets of the groups (Bragg groups first). */
  readonly groupStart: Int32Array;
  /** Number of Bragg groups. */
  readonly nBraggGroups: number;
  /** Number of stills. */
  readonly nStills: number;
  /** The row columns. */
  readonly still: Int32Array;
  readonly intensity: Float32Array;
  readonly variance: Float32Array;
  readonly weight: Float32Array;
  readonly qMagnitude: Float32Array;
  /** Inverse scale of every row. */
  readonly g: Float32Array;
  /** Each group's reference: Ih, σ(Ih) and the number of used rows. */
  readonly refIntensity: Float64Array;
  readonly refSigma: Float64Array;
  readonly refN: Int32Array;
  /** Shard boundaries in groups (ascending; `nBraggGroups` is one of them). */
  readonly shards: Int32Array;
  /** The residuals of shard k, in row order, at rows `groupStart[shards[k]] …` (float32, as plotted). */
  readonly kept: Float32Array;
  /** Number of residuals of each shard. */
  readonly shardCount: Int32Array;
  /** |q| of the first row of every Bragg group. */
  readonly braggGroupQ: Float32Array;
  /** [next thread slot] (zeroed before each command). */
  readonly ticket: Int32Array;
  /** The rows command's counts, one {@link rowSumsStride} slot per thread (see {@link RowSumsLayout}). */
  readonly rowSums: Float64Array;
}

/** Offsets inside one thread's slot of {@link ResidualShardPayload.rowSums}. */
export interface RowSumsLayout {
  /** Used Bragg rows per still; used diffuse rows per still; shared groups per still (nStills each). */
  readonly nBragg: number;
  readonly nDiffuse: number;
  readonly nShared: number;
  /** Round-1 key counts (Bragg, then diffuse; {@link ROUND1_BINS} each). */
  readonly keys: readonly [number, number];
  /** Histogram counts (Bragg, then diffuse; {@link HISTOGRAM_BINS} each). */
  readonly bins: readonly [number, number];
  /** Smallest and largest |q| of the used Bragg rows. */
  readonly qMin: number;
  readonly qMax: number;
  /** Length of a slot. */
  readonly stride: number;
}

/** The layout of a thread's slot of the rows command's counts. */
export function rowSumsLayout(nStills: number): RowSumsLayout {
  const keys = 3 * nStills;
  const bins = keys + 2 * ROUND1_BINS;
  const qMin = bins + 2 * HISTOGRAM_BINS;
  return {
    nBragg: 0,
    nDiffuse: nStills,
    nShared: 2 * nStills,
    keys: [keys, keys + ROUND1_BINS],
    bins: [bins, bins + HISTOGRAM_BINS],
    qMin,
    qMax: qMin + 1,
    stride: qMin + 2,
  };
}

/** The tables of a keys command (posted to the workers before it): per kind (Bragg, diffuse). */
export interface KeyRound {
  /** Round of the order statistics (1 or 2). */
  readonly round: number;
  /** Slots of the round-1 and round-2 bins holding a wanted rank (shared copies). */
  readonly slot1: readonly [Int32Array, Int32Array];
  readonly slot2: readonly [Int32Array, Int32Array];
  /** The counts, one slot of `length` per thread. */
  readonly counts: readonly [Float64Array, Float64Array];
  readonly length: readonly [number, number];
}

/** The first kept row and the kind (0 Bragg, 1 diffuse) of shard k. */
function shardPlace(p: ResidualShardPayload, k: number): { base: number; kind: 0 | 1 } {
  const groupBegin = p.shards[k];
  return { base: p.groupStart[groupBegin], kind: groupBegin < p.nBraggGroups ? 0 : 1 };
}

/**
 * Shard k of the rows command: the normalised residual `δ = (I/g − Ih) / √(σ'² − σ²(Ih))` of every used row in a group
 * with ≥ 2 used rows (where finite) to `kept`, and the counts into `sums` (one thread's slot).
 */
function rowsOfShard(
  p: ResidualShardPayload,
  k: number,
  sums: Float64Array,
  layout: RowSumsLayout,
  lastGroup: Int32Array,
  keptBits: Int32Array,
): void {
  const { groupStart, still, intensity, variance, weight, qMagnitude, g, refIntensity, refSigma, refN } = p;
  const groupBegin = p.shards[k];
  const groupEnd = p.shards[k + 1];
  const { base, kind } = shardPlace(p, k);
  const isBragg = kind === 0;
  const kept = p.kept;
  const perStill = isBragg ? layout.nBragg : layout.nDiffuse;
  const sharedAt = layout.nShared;
  let qMin = sums[layout.qMin];
  let qMax = sums[layout.qMax];
  let m = 0;
  for (let h = groupBegin; h < groupEnd; h++) {
    const n = refN[h];
    const begin = groupStart[h];
    const end = groupStart[h + 1];
    if (isBragg && end > begin) p.braggGroupQ[h] = qMagnitude[begin];
    const sigma = refSigma[h];
    const ih = refIntensity[h];
    for (let o = begin; o < end; o++) {
      if (weight[o] === 0) continue;
      const s = still[o];
      if (n >= 2 && lastGroup[s] !== h) {
        lastGroup[s] = h;
        sums[sharedAt + s]++;
      }
      sums[perStill + s]++;
      if (isBragg) {
        qMin = Math.min(qMin, qMagnitude[o]);
        qMax = Math.max(qMax, qMagnitude[o]);
      }
      if (n < 2) continue;
      const go = g[o];
      const varScaled = variance[o] / (go * go);
      const varResidual = varScaled - sigma * sigma;
      if (!(varResidual > 0)) continue;
      const d = (intensity[o] / go - ih) / Math.sqrt(varResidual);
      if (!Number.isFinite(d)) continue;
      // kept at float32 precision (as plotted)
      kept[base + m++] = d;
    }
  }
  sums[layout.qMin] = qMin;
  sums[layout.qMax] = qMax;
  p.shardCount[k] = m;
  const binsAt = layout.bins[kind];
  for (let i = base; i < base + m; i++) sums[binsAt + histogramBin(kept[i])]++;
  const keys = sums.subarray(layout.keys[kind], layout.keys[kind] + ROUND1_BINS);
  countFloat32Keys(keptBits, base, base + m, 0, NO_SLOTS, NO_SLOTS, keys);
}

/**
 * One thread's part of the shards' work: it takes a slot of the counts, then shards until none is left. Used by the
 * calling thread (`take` over every shard) and by each worker (`take` from the pool's shared counter).
 */
export class ResidualShardThread {
  private readonly payload: ResidualShardPayload;
  private readonly layout: RowSumsLayout;
  private readonly keptBits: Int32Array;

  constructor(payload: ResidualShardPayload) {
    this.payload = payload;
    this.layout = rowSumsLayout(payload.nStills);
    this.keptBits = new Int32Array(payload.kept.buffer, payload.kept.byteOffset, payload.kept.length);
  }

  /**
   * Runs `command` over the shards `take` hands out (−1: none left); `round` holds the tables of a keys command.
   *
   * @throws RangeError for an unknown command or a keys command without its tables.
   */
  serve(command: number, round: KeyRound | undefined, take: () => number): void {
    const p = this.payload;
    const slot = Atomics.add(p.ticket, 0, 1);
    if (command === ResidualCommand.rows) {
      const layout = this.layout;
      const sums = p.rowSums.subarray(slot * layout.stride, (slot + 1) * layout.stride);
      sums.fill(0);
      sums[layout.qMin] = Infinity;
      sums[layout.qMax] = -Infinity;
      // the last group that counted each still as sharing it (a still seen twice in one group counts once)
      const lastGroup = new Int32Array(p.nStills).fill(-1);
      for (let k = take(); k >= 0; k = take()) rowsOfShard(p, k, sums, layout, lastGroup, this.keptBits);
      return;
    }
    if (command !== ResidualCommand.keys || round === undefined) throw new RangeError(`unknown command ${command}`);
    const counts = [0, 1].map((kind) => {
      const length = round.length[kind];
      const c = round.counts[kind].subarray(slot * length, (slot + 1) * length);
      c.fill(0);
      return c;
    });
    for (let k = take(); k >= 0; k = take()) {
      const { base, kind } = shardPlace(p, k);
      const end = base + p.shardCount[k];
      countFloat32Keys(this.keptBits, base, end, round.round, round.slot1[kind], round.slot2[kind], counts[kind]);
    }
  }
}
