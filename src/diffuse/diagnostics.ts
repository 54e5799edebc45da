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
import { normalQuantile } from "../framework/normal-distribution.ts";
import type { JointRefinementResult } from "./joint-refinement.ts";
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

/** Below this many values the order statistics come from a plain sort. */
const SORT_BELOW = 4096;

/**
 * The values that a full ascending sort of `values` would put at positions `ranks` (ascending), without sorting
 * everything: the values are counted into buckets of a monotone map of value to bucket (equal widths over
 * mean ± 10 sd, one overflow bucket at either end), and only the buckets that hold a wanted rank are gathered and
 * sorted. Exact whatever the distribution (a crowded bucket only costs time). The values must be finite.
 *
 * @param values - The values (not modified).
 * @param ranks - Wanted positions in the sorted order, ascending integers in `[0, values.length)`.
 * @param mean - Mean of the values (centres the bucket range).
 * @param sd - Standard deviation of the values (sets the bucket range).
 * @returns The order statistics, one per rank.
 * @internal
 */
export function orderStatistics(
  values: Float32Array | Float64Array,
  ranks: Float64Array,
  mean: number,
  sd: number,
): Float64Array {
  const n = values.length;
  const out = new Float64Array(ranks.length);
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const lo = Math.max(min, mean - 10 * sd);
  const hi = Math.min(max, mean + 10 * sd);
  const nInner = Math.min(1 << 16, Math.max(1024, n >> 4));
  const scale = nInner / (hi - lo);
  if (n < SORT_BELOW || !(hi > lo) || !Number.isFinite(scale) || !(scale > 0)) {
    const sorted = values.slice().sort();
    for (let j = 0; j < ranks.length; j++) out[j] = sorted[ranks[j]];
    return out;
  }
  // bucket 0: v < lo; 1..nInner: [lo, hi) in equal widths; nInner + 1: v ≥ hi (monotone non-decreasing in v)
  const nBuckets = nInner + 2;
  const bucketOf = (v: number): number =>
    v < lo ? 0 : v >= hi ? nBuckets - 1 : 1 + Math.min(nInner - 1, Math.floor((v - lo) * scale));
  const start = new Int32Array(nBuckets + 1);
  for (let i = 0; i < n; i++) start[bucketOf(values[i]) + 1]++;
  for (let b = 0; b < nBuckets; b++) start[b + 1] += start[b];
  // the buckets holding wanted ranks, and where their values go in the gather buffer
  const slot = new Int32Array(nBuckets).fill(-1);
  const bucketOfRank = new Int32Array(ranks.length);
  let gathered = 0;
  let b = 0;
  for (let j = 0; j < ranks.length; j++) {
    while (start[b + 1] <= ranks[j]) b++;
    bucketOfRank[j] = b;
    if (slot[b] < 0) {
      slot[b] = gathered;
      gathered += start[b + 1] - start[b];
    }
  }
  const buffer = new Float64Array(gathered);
  const fill = slot.slice();
  for (let i = 0; i < n; i++) {
    const bucket = bucketOf(values[i]);
    const k = fill[bucket];
    if (k >= 0) {
      buffer[k] = values[i];
      fill[bucket] = k + 1;
    }
  }
  let lastSorted = -1;
  for (let j = 0; j < ranks.length; j++) {
    const bj = bucketOfRank[j];
    const offset = slot[bj];
    if (bj !== lastSorted) {
      buffer.subarray(offset, offset + start[bj + 1] - start[bj]).sort();
      lastSorted = bj;
    }
    out[j] = buffer[offset + ranks[j] - start[bj]];
  }
  return out;
}

function summariseResiduals(delta: Float32Array): ResidualSummary | null {
  const n = delta.length;
  if (n === 0) return null;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += delta[i];
  mean /= n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (delta[i] - mean) ** 2;
  const nBins = 48;
  const edges = Array.from({ length: nBins + 1 }, (_, i) => -6 + (12 * i) / nBins);
  const binCounts = new Float64Array(nBins);
  for (let i = 0; i < n; i++) {
    const b = Math.min(nBins - 1, Math.max(0, Math.floor(((delta[i] + 6) / 12) * nBins)));
    binCounts[b]++;
  }
  const m = Math.min(400, n);
  const ranks = new Float64Array(m);
  for (let j = 0; j < m; j++) ranks[j] = m === n ? j : Math.round((j * (n - 1)) / (m - 1));
  const sd = n > 1 ? Math.sqrt(ss / (n - 1)) : 0;
  const observed = Array.from(orderStatistics(delta, ranks, mean, sd));
  const expected = Array.from(ranks, (i) => normalQuantile((i + 0.5) / n));
  return {
    n,
    mean,
    sd,
    histogram: { edges, counts: Array.from(binCounts) },
    normalProbability: { expected, observed },
  };
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
 * Computes the diagnostics.
 *
 * @param result - The refinement result.
 * @param g - Inverse scale of every final observation.
 * @param merged - The merged diffuse map, if any.
 * @param smoother - The smoother curve evaluator and its control points, if enabled.
 * @param nShells - Number of |q| shells. @defaultValue 10
 */
export function computeDiagnostics(
  result: JointRefinementResult,
  g: Float32Array | Float64Array,
  merged: MergedDiffuse | undefined,
  smoother:
    | { valueAt: (q: number) => number; qRange: readonly [number, number]; values: Float64Array; esds: Float64Array }
    | undefined,
  nShells = 10,
): ScalingDiagnostics {
  const obs = result.observations;
  const nIncluded = result.includedStills.length;
  const nBragg = new Array<number>(nIncluded).fill(0);
  const nDiffuse = new Array<number>(nIncluded).fill(0);
  const nBraggRows = obs.groupStart[obs.nBraggGroups];
  // float32 is plenty for the plotted residual distributions and halves the largest allocation of the report step
  const deltaBragg = new Float32Array(nBraggRows);
  const deltaDiffuse = new Float32Array(obs.groupStart[obs.nGroups] - nBraggRows);
  let nDeltaBragg = 0;
  let nDeltaDiffuse = 0;
  const multBragg = new Int32Array(obs.nBraggGroups);
  const multDiffuse = new Int32Array(obs.nGroups - obs.nBraggGroups);
  let nMultBragg = 0;
  let nMultDiffuse = 0;
  const refs = result.references;
  let qMinB = Infinity;
  let qMaxB = -Infinity;
  for (let h = 0; h < obs.nGroups; h++) {
    const n = refs.nObservations[h];
    const bragg = h < obs.nBraggGroups;
    if (n > 0) {
      if (bragg) multBragg[nMultBragg++] = n;
      else multDiffuse[nMultDiffuse++] = n;
    }
    for (let o = obs.groupStart[h]; o < obs.groupStart[h + 1]; o++) {
      if (obs.weight[o] === 0) continue;
      if (bragg) {
        nBragg[obs.still[o]]++;
        qMinB = Math.min(qMinB, obs.qMagnitude[o]);
        qMaxB = Math.max(qMaxB, obs.qMagnitude[o]);
      } else nDiffuse[obs.still[o]]++;
      if (n < 2) continue;
      const varScaled = obs.variance[o] / (g[o] * g[o]);
      const varResidual = varScaled - refs.sigma[h] * refs.sigma[h];
      if (!(varResidual > 0)) continue;
      const d = (obs.intensity[o] / g[o] - refs.intensity[h]) / Math.sqrt(varResidual);
      if (!Number.isFinite(d)) continue;
      if (bragg) deltaBragg[nDeltaBragg++] = d;
      else deltaDiffuse[nDeltaDiffuse++] = d;
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
      const q = obs.qMagnitude[obs.groupStart[h]];
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
    if (obs.isBragg[o]) outB++;
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
      bragg: summariseResiduals(deltaBragg.subarray(0, nDeltaBragg)),
      diffuse: summariseResiduals(deltaDiffuse.subarray(0, nDeltaDiffuse)),
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
