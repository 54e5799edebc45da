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
import type { ResidualSummary } from "../io/diagnostics-json.ts";
import type { JointRefinementResult } from "../refine/joint-refinement.ts";
import { forEachInverseScaleBatch } from "../passes/inverse-scale-batches.ts";
import { Float32OrderStatistics } from "./order-statistics.ts";
import { ResidentResidualThreads, type ResidentResidualOptions } from "./resident-residuals.ts";
import {
  HISTOGRAM_BINS,
  histogramBin,
  probabilityRanks,
  residualSummaryOf,
  type RowCounts,
} from "./residual-summary.ts";

/**
 * The residual summary of one observation kind, accumulated over three passes over the same residuals in the same
 * order (pass 1: count, mean, round 1 of the order statistics; pass 2: sum of squares about the mean, histogram,
 * round 2; pass 3: round 3), so nothing per residual is stored (paged rows: every pass recomputes the residuals from
 * the rows). The residuals are float32 values; sums are float64 in pass order, i.e. exactly what one array of the
 * residuals summed in order gives (as ./resident-residuals.ts sums them).
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
  private ranks: Float64Array = new Float64Array(0);

  /** Adds one residual (a float32 value) to the current pass. */
  add(d: number): void {
    if (this.pass === 0) {
      this.sum += d;
      this.n++;
    } else if (this.pass === 1) {
      this.ss += (d - this.mean) ** 2;
      this.bins[histogramBin(d)]++;
    }
    this.order.add(d);
  }

  /** Ends the current pass. */
  endPass(): void {
    if (this.pass === 0) {
      const n = this.n;
      this.mean = n > 0 ? this.sum / n : 0;
      this.ranks = probabilityRanks(n);
      this.order.setRanks(this.ranks);
    } else if (this.pass === 1) {
      this.order.nextRound();
    }
    this.pass++;
  }

  /** The summary after the third pass, or null without residuals. */
  summary(): ResidualSummary | null {
    if (this.n === 0) return null;
    return residualSummaryOf(this.n, this.mean, this.ss, this.bins, this.ranks, this.order.values());
  }
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
 * The residual summaries of both kinds and the row counts. Resident rows: over fixed shards, on `threads` worker
 * threads or in this thread (./resident-residuals.ts: every residual computed once, kept in row order; the same
 * numbers for any number of threads). Paged rows: three passes over the rows (window by window), the first of which
 * also counts the rows, nothing stored per row. Both give the same output.
 *
 * @param result - The refinement result (its `finalState` gives the inverse scales of the rows).
 * @param options - Threads and shard size of resident rows, or their workers already started (`prepared`, for these
 *   rows; the caller closes it). @defaultValue one thread
 */
export function residualSummaries(
  result: JointRefinementResult,
  options: ResidentResidualOptions & { prepared?: ResidentResidualThreads } = {},
): {
  residuals: { bragg: ResidualSummary | null; diffuse: ResidualSummary | null };
  counts: RowCounts;
} {
  const obs = result.observations;
  if (obs.rows.kind === "resident") {
    if (options.prepared !== undefined) return options.prepared.summaries();
    const threads = new ResidentResidualThreads(result, options);
    try {
      return threads.summaries();
    } finally {
      threads.close();
    }
  }
  const nIncluded = result.includedStills.length;
  const counts: RowCounts = {
    nBragg: new Array<number>(nIncluded).fill(0),
    nDiffuse: new Array<number>(nIncluded).fill(0),
    nSharedGroups: new Array<number>(nIncluded).fill(0),
    braggGroupQ: new Float32Array(obs.nBraggGroups),
    qMin: Infinity,
    qMax: -Infinity,
  };
  const residualsBragg = new ResidualAccumulator();
  const residualsDiffuse = new ResidualAccumulator();
  for (let pass = 0; pass < 3; pass++) {
    // passes 2 and 3 only serve the residual summaries
    if (pass > 0 && residualsBragg.n + residualsDiffuse.n === 0) break;
    residualPass(result, residualsBragg, residualsDiffuse, pass === 0 ? counts : undefined);
    residualsBragg.endPass();
    residualsDiffuse.endPass();
  }
  return { residuals: { bragg: residualsBragg.summary(), diffuse: residualsDiffuse.summary() }, counts };
}
