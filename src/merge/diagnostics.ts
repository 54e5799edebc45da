/**
 * Diagnostics of a scaling run, as plain JSON-ready data for the report: per-still scales and counts, the smoother
 * curve, normalised residuals (histogram and normal probability plot, Bragg and diffuse separately), Bragg ⟨I/σ⟩ and
 * diffuse ⟨I⟩ and CC½ in |q| shells, and multiplicity histograms. Everything is aggregated (bounded size whatever the
 * number of observations).
 *
 * Normalised residual: `δ = (I/g − Ih) / √(σ'² − σ²(Ih))` with `σ' = σ/g` and `σ²(Ih) = 1/Σ(g²/σ²)`, for observations in
 * groups with n ≥ 2 used members. The denominator is the exact standard deviation of `I/g − Ih` when the σ are right
 * (the observation is part of its own reference), so δ ~ N(0, 1) for a correct error model; DIALS's
 * `√((n−1)/n)·(I/g − Ih)/σ'` equals this only for equal weights. Shells are equal-volume in |q|³ (as cctbx's merging
 * statistics).
 *
 * @packageDocumentation
 */
import { normalQuantile } from "../dials/normal-distribution.ts";
import type { JointRefinementResult } from "../refine/joint-refinement.ts";
import { checkModelState, forEachInverseScaleBatch } from "../passes/inverse-scale-batches.ts";
import type { MergedDiffuse } from "./merge.ts";

/** A histogram: `counts[i]` values in `[edges[i], edges[i+1])`. */
export interface Histogram {
  edges: number[];
  counts: number[];
}

/** Residual summaries of one observation kind. */
export interface ResidualSummary {
  /** Number of normalised residuals. */
  n: number;
  /** Mean and standard deviation of δ. */
  mean: number;
  sd: number;
  /** Histogram of δ over [−6, 6] (values outside are clamped into the end bins). */
  histogram: Histogram;
  /** Normal probability plot: expected normal quantiles vs observed sorted δ (at most 400 points). */
  normalProbability: { expected: number[]; observed: number[] };
}

/** Resolution shells. */
export interface ShellTable {
  /** Shell boundaries in |q| (1/Å), length nShells + 1. */
  qEdges: number[];
  /** Mean |q| of each shell. */
  qCentre: number[];
  /** The statistic per shell. */
  value: number[];
  /** Count per shell. */
  n: number[];
}

/** Everything the report plots. */
export interface ScalingDiagnostics {
  perStill: { still: number[]; scale: number[]; esd: number[]; nBragg: number[]; nDiffuse: number[] };
  smoother: {
    q: number[];
    value: number[];
    controlQ: number[];
    controlValues: number[];
    controlEsds: number[];
  } | null;
  residuals: { bragg: ResidualSummary | null; diffuse: ResidualSummary | null };
  braggIOverSigma: ShellTable | null;
  diffuseMeanIntensity: ShellTable | null;
  diffuseCcHalf: ShellTable | null;
  multiplicity: { bragg: Histogram | null; diffuse: Histogram | null };
  nOutliers: { bragg: number; diffuse: number };
}

/** Bits of the sortable float32 key resolved by each round of {@link Float32OrderStatistics}: 11 + 11 + 10 = 32. */
const ROUND_BITS = [11, 11, 10] as const;

/**
 * Exact order statistics of a stream of float32 values, in three passes over the values and bounded memory (no copy of
 * the values): a radix selection on the 32-bit key of each value whose unsigned order is the order of a full
 * ascending sort of a `Float32Array` (−0 before +0). Round 1 counts the values by the top 11 key bits; rounds 2 and 3
 * count, inside each bin that holds a wanted rank, the next 11 and the last 10 bits. After round 3 every wanted rank's
 * key, hence its value, is known exactly, whatever the distribution (ties, tails, constant values). Memory: at most
 * (number of ranks) × 2048 counters.
 *
 * Use: `add` every value (round 1), `setRanks`, `add` every value again (round 2), `nextRound`, `add` every value a
 * third time (round 3), then `values`. The values must not be NaN and must be the same, in any order, in every round.
 * @internal
 */
export class Float32OrderStatistics {
  private readonly f32 = new Float32Array(1);
  private readonly u32 = new Uint32Array(this.f32.buffer);
  private round = 0;
  private count = 0;
  /** Counts of round 1 (by the top 11 key bits). */
  private readonly counts1 = new Float64Array(1 << ROUND_BITS[0]);
  /** Round-2 segment of each round-1 bin holding a wanted rank, −1 for the others. */
  private readonly slot1 = new Int32Array(1 << ROUND_BITS[0]).fill(-1);
  /** Round-2 counts, one segment of 2^11 per round-1 bin in `slot1`. */
  private counts2 = new Float64Array(0);
  /** Round-3 segment of each (round-2 segment, bin) holding a wanted rank, −1 for the others. */
  private slot2 = new Int32Array(0);
  /** Round-3 counts, one segment of 2^10 per entry of `slot2`. */
  private counts3 = new Float64Array(0);
  /** Per wanted rank: its key so far (the bits resolved) and its rank inside the current bin. */
  private rankKey = new Float64Array(0);
  private rankRest = new Float64Array(0);
  /** Per wanted rank: its segment in the current round's counts. */
  private rankSlot = new Int32Array(0);

  /** Number of values added in round 1. */
  get n(): number {
    return this.count;
  }

  private key(v: number): number {
    this.f32[0] = v;
    const bits = this.u32[0];
    return bits >= 0x80000000 ? ~bits >>> 0 : (bits | 0x80000000) >>> 0;
  }

  /** Adds one value (a float32 value: it is rounded to float32 otherwise) to the current round. */
  add(v: number): void {
    const key = this.key(v);
    const b1 = key >>> 21;
    if (this.round === 0) {
      this.counts1[b1]++;
      this.count++;
      return;
    }
    const s1 = this.slot1[b1];
    if (s1 < 0) return;
    const b2 = (key >>> 10) & 0x7ff;
    if (this.round === 1) {
      this.counts2[(s1 << 11) + b2]++;
      return;
    }
    const s2 = this.slot2[(s1 << 11) + b2];
    if (s2 >= 0) this.counts3[(s2 << 10) + (key & 0x3ff)]++;
  }

  /**
   * Ends round 1 and sets the wanted ranks (ascending integers in [0, n)).
   *
   * @throws RangeError when called out of turn or a rank is out of range.
   */
  setRanks(ranks: Float64Array): void {
    if (this.round !== 0) throw new RangeError("setRanks after round 1 only");
    const m = ranks.length;
    for (let j = 0; j < m; j++) {
      if (!(
        Number.isInteger(ranks[j]) &&
        ranks[j] >= 0 &&
        ranks[j] < this.count &&
        (j === 0 || ranks[j] >= ranks[j - 1])
      )) {
        throw new RangeError(`rank ${ranks[j]} is not an ascending integer in [0, ${this.count})`);
      }
    }
    this.rankKey = new Float64Array(m);
    this.rankRest = Float64Array.from(ranks);
    this.rankSlot = new Int32Array(m);
    const nSlots = this.locate(this.counts1, ROUND_BITS[0], 21, this.slot1, false);
    this.counts2 = new Float64Array(nSlots << 11);
    this.round = 1;
  }

  /** Ends round 2. @throws RangeError when called out of turn. */
  nextRound(): void {
    if (this.round !== 1) throw new RangeError("nextRound after round 2 only");
    this.slot2 = new Int32Array(this.counts2.length).fill(-1);
    const nSlots = this.locate(this.counts2, ROUND_BITS[1], 10, this.slot2, true);
    this.counts3 = new Float64Array(nSlots << 10);
    this.round = 2;
  }

  /** Ends round 3: the value at each wanted rank. @throws RangeError when called out of turn. */
  values(): Float64Array {
    if (this.round !== 2) throw new RangeError("values after round 3 only");
    this.locate(this.counts3, ROUND_BITS[2], 0, undefined, true);
    const m = this.rankKey.length;
    const out = new Float64Array(m);
    for (let j = 0; j < m; j++) {
      const key = this.rankKey[j];
      this.u32[0] = key >= 0x80000000 ? key - 0x80000000 : ~key >>> 0;
      out[j] = this.f32[0];
    }
    this.round = 3;
    return out;
  }

  /**
   * Finds each rank's bin among the counts of its segment (2^bits bins; the rank's `rankSlot` numbers the segment when
   * `segmented`, else there is one), adds the bin to the rank's key at bit `shift` and makes the rank relative to the
   * bin. With `slots`, numbers the distinct (segment, bin) pairs from 0 in the order met, records each rank's number
   * in `rankSlot`, and returns how many there are.
   */
  private locate(
    counts: Float64Array,
    bits: number,
    shift: number,
    slots: Int32Array | undefined,
    segmented: boolean,
  ): number {
    const nBins = 1 << bits;
    let nSlots = 0;
    for (let j = 0; j < this.rankKey.length; j++) {
      const base = segmented ? this.rankSlot[j] << bits : 0;
      let rest = this.rankRest[j];
      let b = 0;
      while (b < nBins - 1 && rest >= counts[base + b]) {
        rest -= counts[base + b];
        b++;
      }
      this.rankRest[j] = rest;
      this.rankKey[j] += b * 2 ** shift;
      if (slots !== undefined) {
        if (slots[base + b] < 0) slots[base + b] = nSlots++;
        this.rankSlot[j] = slots[base + b];
      }
    }
    return nSlots;
  }
}

/** Bins of the residual histogram over [−6, 6]. */
const HISTOGRAM_BINS = 48;
/** Most points of the normal probability plot. */
const PROBABILITY_POINTS = 400;

/**
 * The residual summary of one observation kind, accumulated over three passes over the same residuals in the same
 * order (pass 1: count, mean, round 1 of the order statistics; pass 2: sum of squares about the mean, histogram,
 * round 2; pass 3: round 3), so nothing per residual is stored. The residuals are float32 values; sums are float64 in
 * pass order, i.e. exactly what one array of the residuals summed in order gives. With a capacity (resident
 * observations, where memory per row is there anyway) pass 1 also keeps the residuals, and passes 2 and 3 replay them
 * ({@link ResidualAccumulator.replay}) instead of recomputing them from the rows: the same values in the same order.
 */
class ResidualAccumulator {
  /** Pass being accumulated (0, 1, 2). */
  pass = 0;
  /** Number of residuals (after pass 1). */
  n = 0;
  private sum = 0;
  private mean = 0;
  private ss = 0;
  private readonly bins = new Float64Array(HISTOGRAM_BINS);
  private readonly order = new Float32OrderStatistics();
  private ranks = new Float64Array(0);
  private readonly kept: Float32Array | undefined;

  /** @param capacity - Keep up to this many residuals of pass 1 for {@link ResidualAccumulator.replay}. */
  constructor(capacity?: number) {
    this.kept = capacity === undefined ? undefined : new Float32Array(capacity);
  }

  /** Adds one residual (a float32 value) to the current pass. */
  add(d: number): void {
    if (this.pass === 0) {
      if (this.kept !== undefined) this.kept[this.n] = d;
      this.n++;
      this.sum += d;
    } else if (this.pass === 1) {
      this.ss += (d - this.mean) ** 2;
      this.bins[Math.min(HISTOGRAM_BINS - 1, Math.max(0, Math.floor(((d + 6) / 12) * HISTOGRAM_BINS)))]++;
    }
    this.order.add(d);
  }

  /** Adds the residuals kept from pass 1 again, in their order (passes 2 and 3 of a replayable accumulator). */
  replay(): void {
    const kept = this.kept;
    if (kept === undefined) throw new RangeError("no residuals were kept");
    for (let i = 0; i < this.n; i++) this.add(kept[i]);
  }

  /** Ends the current pass. */
  endPass(): void {
    if (this.pass === 0) {
      const n = this.n;
      this.mean = n > 0 ? this.sum / n : 0;
      const m = Math.min(PROBABILITY_POINTS, n);
      this.ranks = new Float64Array(m);
      for (let j = 0; j < m; j++) this.ranks[j] = m === n ? j : Math.round((j * (n - 1)) / (m - 1));
      this.order.setRanks(this.ranks);
    } else if (this.pass === 1) {
      this.order.nextRound();
    }
    this.pass++;
  }

  /** The summary after the third pass, or null without residuals. */
  summary(): ResidualSummary | null {
    const n = this.n;
    if (n === 0) return null;
    const edges = Array.from({ length: HISTOGRAM_BINS + 1 }, (_, i) => -6 + (12 * i) / HISTOGRAM_BINS);
    const sd = n > 1 ? Math.sqrt(this.ss / (n - 1)) : 0;
    const observed = Array.from(this.order.values());
    const expected = Array.from(this.ranks, (i) => normalQuantile((i + 0.5) / n));
    return {
      n,
      mean: this.mean,
      sd,
      histogram: { edges, counts: Array.from(this.bins) },
      normalProbability: { expected, observed },
    };
  }
}

/** What the first pass over the rows gathers besides residuals. */
interface RowCounts {
  /** Used Bragg rows per still. */
  readonly nBragg: number[];
  /** Used diffuse rows per still. */
  readonly nDiffuse: number[];
  /** |q| of the first row of every Bragg group. */
  readonly braggGroupQ: Float32Array;
  /** Smallest |q| of the used Bragg rows. */
  qMin: number;
  /** Largest |q| of the used Bragg rows. */
  qMax: number;
}

/**
 * One pass over the rows (window by window, in batches with their inverse scales): adds the normalised residual of
 * every used row in a group with ≥ 2 used members to its kind's accumulator, and, with `counts`, counts rows.
 */
function residualPass(
  result: JointRefinementResult,
  bragg: ResidualAccumulator,
  diffuse: ResidualAccumulator,
  counts: RowCounts | undefined,
): void {
  const obs = result.observations;
  const refs = result.references;
  const groupStart = obs.groupStart;
  const nBraggGroups = obs.nBraggGroups;
  // resident observations: g of every row as the refinement computed it (in parallel); paged: batch by batch
  const precomputed = result.inverseScales;
  forEachInverseScaleBatch(
    obs,
    result.finalState,
    (window, groupBegin, groupEnd, g, gRow) => {
      const { still, intensity, variance, weight, qMagnitude } = window.rows;
      const { rowBegin } = window;
      for (let h = groupBegin; h < groupEnd; h++) {
        const n = refs.nObservations[h];
        const isBragg = h < nBraggGroups;
        const acc = isBragg ? bragg : diffuse;
        const begin = groupStart[h];
        const end = groupStart[h + 1];
        if (counts !== undefined && isBragg && end > begin) counts.braggGroupQ[h] = qMagnitude[begin - rowBegin];
        const sigma = refs.sigma[h];
        for (let o = begin; o < end; o++) {
          const l = o - rowBegin;
          if (weight[l] === 0) continue;
          if (counts !== undefined) {
            if (isBragg) {
              counts.nBragg[still[l]]++;
              counts.qMin = Math.min(counts.qMin, qMagnitude[l]);
              counts.qMax = Math.max(counts.qMax, qMagnitude[l]);
            } else counts.nDiffuse[still[l]]++;
          }
          if (n < 2) continue;
          const go = g[o - gRow];
          const varScaled = variance[l] / (go * go);
          const varResidual = varScaled - sigma * sigma;
          if (!(varResidual > 0)) continue;
          const d = (intensity[l] / go - refs.intensity[h]) / Math.sqrt(varResidual);
          if (!Number.isFinite(d)) continue;
          // the residuals are kept at float32 precision (as plotted)
          acc.add(Math.fround(d));
        }
      }
    },
    { precomputed },
  );
}

/** Equal-volume |q|³ shell edges over [qMin, qMax]. */
function shellEdges(qMin: number, qMax: number, nShells: number): number[] {
  const a = qMin ** 3;
  const b = qMax ** 3;
  return Array.from({ length: nShells + 1 }, (_, i) => Math.cbrt(a + ((b - a) * i) / nShells));
}

function shellOf(edges: number[], q: number): number {
  const n = edges.length - 1;
  for (let s = 0; s < n; s++) if (q < edges[s + 1]) return s;
  return n - 1;
}

function integerHistogram(values: Int32Array | number[], cap: number): Histogram | null {
  if (values.length === 0) return null;
  let max = 0;
  for (const v of values) max = Math.max(max, Math.min(v, cap));
  const counts = new Array<number>(max).fill(0);
  for (const v of values) if (v >= 1) counts[Math.min(v, cap) - 1]++;
  return { edges: Array.from({ length: max + 1 }, (_, i) => i + 1), counts };
}

/**
 * Computes the diagnostics, in three passes over the rows of the final observations (window by window, whether
 * resident or paged: the same output either way) and nothing stored per row.
 *
 * @param result - The refinement result (its `finalState` gives the inverse scales of the rows).
 * @param merged - The merged diffuse map, if any.
 * @param smoother - The smoother curve evaluator and its control points, if enabled.
 * @param nShells - Number of |q| shells. @defaultValue 10
 * @throws {@link ConfigError} when `result.finalState` has fewer still scales than the observations have stills.
 */
export function computeDiagnostics(
  result: JointRefinementResult,
  merged: MergedDiffuse | undefined,
  smoother:
    | { valueAt: (q: number) => number; qRange: readonly [number, number]; values: Float64Array; esds: Float64Array }
    | undefined,
  nShells = 10,
): ScalingDiagnostics {
  const obs = result.observations;
  checkModelState(obs, result.finalState);
  const nIncluded = result.includedStills.length;
  const counts: RowCounts = {
    nBragg: new Array<number>(nIncluded).fill(0),
    nDiffuse: new Array<number>(nIncluded).fill(0),
    braggGroupQ: new Float32Array(obs.nBraggGroups),
    qMin: Infinity,
    qMax: -Infinity,
  };
  // resident rows: pass 1 keeps the residuals (4 bytes per row, as the rows themselves) for passes 2 and 3; paged
  // rows: every pass recomputes them from the rows
  const nBraggRows = obs.groupStart[obs.nBraggGroups];
  const resident = obs.rows.kind === "resident";
  const residualsBragg = new ResidualAccumulator(resident ? nBraggRows : undefined);
  const residualsDiffuse = new ResidualAccumulator(resident ? obs.groupStart[obs.nGroups] - nBraggRows : undefined);
  for (let pass = 0; pass < 3; pass++) {
    // passes 2 and 3 only serve the residual summaries
    if (pass > 0 && residualsBragg.n + residualsDiffuse.n === 0) break;
    if (pass > 0 && resident) {
      residualsBragg.replay();
      residualsDiffuse.replay();
    } else {
      residualPass(result, residualsBragg, residualsDiffuse, pass === 0 ? counts : undefined);
    }
    residualsBragg.endPass();
    residualsDiffuse.endPass();
  }
  const { nBragg, nDiffuse } = counts;
  const qMinB = counts.qMin;
  const qMaxB = counts.qMax;
  const multBragg = new Int32Array(obs.nBraggGroups);
  const multDiffuse = new Int32Array(obs.nGroups - obs.nBraggGroups);
  let nMultBragg = 0;
  let nMultDiffuse = 0;
  const refs = result.references;
  for (let h = 0; h < obs.nGroups; h++) {
    const n = refs.nObservations[h];
    if (n > 0) {
      if (h < obs.nBraggGroups) multBragg[nMultBragg++] = n;
      else multDiffuse[nMultDiffuse++] = n;
    }
  }
  let braggIOverSigma: ShellTable | null = null;
  if (obs.nBraggGroups > 0 && qMaxB > qMinB) {
    const edges = shellEdges(qMinB, qMaxB, nShells);
    const sum = new Array<number>(nShells).fill(0);
    const sumQ = new Array<number>(nShells).fill(0);
    const count = new Array<number>(nShells).fill(0);
    for (let h = 0; h < obs.nBraggGroups; h++) {
      if (refs.nObservations[h] === 0 || !(refs.sigma[h] > 0)) continue;
      const q = counts.braggGroupQ[h];
      const s = shellOf(edges, q);
      sum[s] += refs.intensity[h] / refs.sigma[h];
      sumQ[s] += q;
      count[s]++;
    }
    braggIOverSigma = {
      qEdges: edges,
      qCentre: sumQ.map((v, i) => (count[i] > 0 ? v / count[i] : 0.5 * (edges[i] + edges[i + 1]))),
      value: sum.map((v, i) => (count[i] > 0 ? v / count[i] : 0)),
      n: count,
    };
  }
  let diffuseMeanIntensity: ShellTable | null = null;
  let diffuseCcHalf: ShellTable | null = null;
  if (merged !== undefined && merged.voxelIndex.length > 1) {
    let lo = Infinity;
    let hi = -Infinity;
    for (const q of merged.qMagnitude) {
      lo = Math.min(lo, q);
      hi = Math.max(hi, q);
    }
    if (hi > lo) {
      const edges = shellEdges(lo, hi, nShells);
      const sum = new Array<number>(nShells).fill(0);
      const sumQ = new Array<number>(nShells).fill(0);
      const count = new Array<number>(nShells).fill(0);
      const cc = Array.from({ length: nShells }, () => ({ n: 0, sx: 0, sy: 0, sxx: 0, syy: 0, sxy: 0 }));
      for (let r = 0; r < merged.voxelIndex.length; r++) {
        const s = shellOf(edges, merged.qMagnitude[r]);
        sum[s] += merged.intensity[r];
        sumQ[s] += merged.qMagnitude[r];
        count[s]++;
        if (merged.halfSetCount1[r] > 0 && merged.halfSetCount2[r] > 0) {
          const c = cc[s];
          const x = merged.halfSet1[r];
          const y = merged.halfSet2[r];
          c.n++;
          c.sx += x;
          c.sy += y;
          c.sxx += x * x;
          c.syy += y * y;
          c.sxy += x * y;
        }
      }
      const qCentre = sumQ.map((v, i) => (count[i] > 0 ? v / count[i] : 0.5 * (edges[i] + edges[i + 1])));
      diffuseMeanIntensity = {
        qEdges: edges,
        qCentre,
        value: sum.map((v, i) => (count[i] > 0 ? v / count[i] : 0)),
        n: count,
      };
      diffuseCcHalf = {
        qEdges: edges,
        qCentre,
        value: cc.map((c) => {
          if (c.n < 3) return 0;
          const vx = c.sxx - (c.sx * c.sx) / c.n;
          const vy = c.syy - (c.sy * c.sy) / c.n;
          return vx > 0 && vy > 0 ? (c.sxy - (c.sx * c.sy) / c.n) / Math.sqrt(vx * vy) : 0;
        }),
        n: cc.map((c) => c.n),
      };
    }
  }
  let smootherOut: ScalingDiagnostics["smoother"] = null;
  if (smoother !== undefined) {
    const [q0, q1] = smoother.qRange;
    const q = Array.from({ length: 101 }, (_, i) => q0 + ((q1 - q0) * i) / 100);
    const k = smoother.values.length;
    const spacing = k <= 3 ? (q1 - q0) / Math.max(1, k - 1) : (q1 - q0) / (k - 2);
    const controlQ = Array.from({ length: k }, (_, j) => (k <= 3 ? q0 + j * spacing : q0 + (j - 0.5) * spacing));
    smootherOut = {
      q,
      value: q.map((x) => smoother.valueAt(x)),
      controlQ,
      controlValues: Array.from(smoother.values),
      controlEsds: Array.from(smoother.esds),
    };
  }
  let outB = 0;
  let outD = 0;
  for (const o of result.outlierRows) {
    if (o < obs.nBraggRows) outB++;
    else outD++;
  }
  return {
    perStill: {
      still: Array.from(result.includedStills),
      scale: Array.from(result.scales),
      esd: Array.from(result.scaleEsds),
      nBragg,
      nDiffuse,
    },
    smoother: smootherOut,
    residuals: {
      bragg: residualsBragg.summary(),
      diffuse: residualsDiffuse.summary(),
    },
    braggIOverSigma,
    diffuseMeanIntensity,
    diffuseCcHalf,
    multiplicity: {
      bragg: integerHistogram(multBragg.subarray(0, nMultBragg), 60),
      diffuse: integerHistogram(multDiffuse.subarray(0, nMultDiffuse), 60),
    },
    nOutliers: { bragg: outB, diffuse: outD },
  };
}
