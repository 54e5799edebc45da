/**
 * The normalised residual summaries of the diagnostics (Bragg and diffuse separately: count, mean, sd, histogram and
 * normal probability plot), and the row counts gathered in the same pass over the rows (used rows per still, |q| of
 * the Bragg groups), so that the rows, possibly paged from a scratch file, are read as few times as possible.
 *
 * Normalised residual: `δ = (I/g − Ih) / √(σ'² − σ²(Ih))` with `σ' = σ/g` and `σ²(Ih) = 1/Σ(g²/σ²)`, for observations in
 * groups with n ≥ 2 used members. The denominator is the exact standard deviation of `I/g − Ih` when the σ are right
 * (the observation is part of its own reference), so δ ~ N(0, 1) for a correct error model; DIALS's
 * `√((n−1)/n)·(I/g − Ih)/σ'` equals this only for equal weights.
 *
 * @packageDocumentation
 */
import { normalQuantile } from "../dials/normal-distribution.ts";
import type { ResidualSummary } from "../io/diagnostics-json.ts";
import type { JointRefinementResult } from "../refine/joint-refinement.ts";
import { forEachInverseScaleBatch } from "../passes/inverse-scale-batches.ts";
import { Float32OrderStatistics } from "./order-statistics.ts";

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
      this.sum += d;
      if (this.kept !== undefined) {
        // counted for the order statistics at the end of the pass, in one loop over the kept values
        this.kept[this.n++] = d;
        return;
      }
      this.n++;
    } else if (this.pass === 1) {
      this.ss += (d - this.mean) ** 2;
      this.bins[Math.min(HISTOGRAM_BINS - 1, Math.max(0, Math.floor(((d + 6) / 12) * HISTOGRAM_BINS)))]++;
    }
    this.order.add(d);
  }

  /**
   * Adds the residuals kept from pass 1 again, in their order (passes 2 and 3 of a replayable accumulator): what
   * {@link ResidualAccumulator.add} of each would do, in tight loops (the sum of squares in the same order; the
   * histogram and the order statistics only count).
   */
  replay(): void {
    const kept = this.kept;
    if (kept === undefined) throw new RangeError("no residuals were kept");
    if (this.pass === 0) throw new RangeError("pass 1 is not replayed");
    const values = kept.subarray(0, this.n);
    if (this.pass === 1) {
      const { mean, bins } = this;
      let ss = this.ss;
      for (let i = 0; i < values.length; i++) {
        const d = values[i];
        ss += (d - mean) ** 2;
        bins[Math.min(HISTOGRAM_BINS - 1, Math.max(0, Math.floor(((d + 6) / 12) * HISTOGRAM_BINS)))]++;
      }
      this.ss = ss;
    }
    this.order.addAll(values);
  }

  /** Ends the current pass. */
  endPass(): void {
    if (this.pass === 0) {
      const n = this.n;
      if (this.kept !== undefined) this.order.addAll(this.kept.subarray(0, n));
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
export interface RowCounts {
  /** Used Bragg rows per still. */
  readonly nBragg: number[];
  /** Used diffuse rows per still. */
  readonly nDiffuse: number[];
  /**
   * Per still: the groups with ≥ 2 used observations that hold at least one used observation of the still, each
   * counted once (`sharedGroupsPerStill` of ./fit-warning-input.ts).
   */
  readonly nSharedGroups: number[];
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
  // the last group that counted each still as sharing it (a still seen twice in one group counts once)
  const lastGroup = counts === undefined ? undefined : new Int32Array(counts.nSharedGroups.length).fill(-1);
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
          if (counts !== undefined && lastGroup !== undefined) {
            const s = still[l];
            if (n >= 2 && lastGroup[s] !== h) {
              lastGroup[s] = h;
              counts.nSharedGroups[s]++;
            }
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

/**
 * The residual summaries of both kinds and the row counts, in three passes over the residuals: pass 1 over the rows
 * (window by window, whether resident or paged: the same output either way), which also counts the rows; passes 2
 * and 3 replay the residuals kept by pass 1 (resident rows) or recompute them from the rows (paged rows). Nothing is
 * stored per row beyond the kept residuals.
 *
 * @param result - The refinement result (its `finalState` gives the inverse scales of the rows).
 */
export function residualSummaries(result: JointRefinementResult): {
  residuals: { bragg: ResidualSummary | null; diffuse: ResidualSummary | null };
  counts: RowCounts;
} {
  const obs = result.observations;
  const nIncluded = result.includedStills.length;
  const counts: RowCounts = {
    nBragg: new Array<number>(nIncluded).fill(0),
    nDiffuse: new Array<number>(nIncluded).fill(0),
    nSharedGroups: new Array<number>(nIncluded).fill(0),
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
  return { residuals: { bragg: residualsBragg.summary(), diffuse: residualsDiffuse.summary() }, counts };
}
