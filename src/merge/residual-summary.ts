/**
 * The shape of one kind's residual summary (./residuals.ts): the histogram bins, the ranks of the normal probability
 * plot and the summary object built from the accumulated numbers, shared by the streaming accumulator (paged rows)
 * and the sharded computation over resident rows (./resident-residuals.ts), so both give the same summary.
 *
 * @packageDocumentation
 */
import { normalQuantile } from "../dials/normal-distribution.ts";
import type { ResidualSummary } from "../io/diagnostics-json.ts";

/** Bins of the residual histogram over [−6, 6]. */
export const HISTOGRAM_BINS = 48;
/** Most points of the normal probability plot. */
const PROBABILITY_POINTS = 400;

/** The histogram bin of residual `d` (values outside [−6, 6] count in the end bins). */
export function histogramBin(d: number): number {
  return Math.min(HISTOGRAM_BINS - 1, Math.max(0, Math.floor(((d + 6) / 12) * HISTOGRAM_BINS)));
}

/** The ranks (ascending, in [0, n)) of the normal probability plot of n residuals: all of them up to 400, else 400. */
export function probabilityRanks(n: number): Float64Array {
  const m = Math.min(PROBABILITY_POINTS, n);
  const ranks = new Float64Array(m);
  for (let j = 0; j < m; j++) ranks[j] = m === n ? j : Math.round((j * (n - 1)) / (m - 1));
  return ranks;
}

/**
 * The summary of n residuals (n ≥ 1) from their mean, sum of squares about the mean, histogram counts, and the
 * values at {@link probabilityRanks}(n).
 */
export function residualSummaryOf(
  n: number,
  mean: number,
  ss: number,
  bins: Float64Array,
  ranks: Float64Array,
  observed: Float64Array,
): ResidualSummary {
  const edges = Array.from({ length: HISTOGRAM_BINS + 1 }, (_, i) => -6 + (12 * i) / HISTOGRAM_BINS);
  const sd = n > 1 ? Math.sqrt(ss / (n - 1)) : 0;
  const expected = Array.from(ranks, (i) => normalQuantile((i + 0.5) / n));
  return {
    n,
    mean,
    sd,
    histogram: { edges, counts: Array.from(bins) },
    normalProbability: { expected, observed: Array.from(observed) },
  };
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
