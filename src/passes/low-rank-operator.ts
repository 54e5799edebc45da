/**
 * The matrix-free normal matrix of joint scaling: the per-group low-rank factors the pass stores (a group seen by m
 * stills adds `Ih (a vᵀ + v aᵀ) + S v vᵀ`, m² entries never formed), the operator `y = (JᵀWJ)·x` from them and the
 * block sums, and their expansion into a dense matrix when one is needed (ESDs, or as a fallback).
 *
 * @packageDocumentation
 */
import type { LowRankSums } from "./joint-accumulation.ts";
import { symmetrizeUpper } from "./joint-accumulation.ts";

/**
 * Per-group low-rank factors of `JᵀWJ` written by the matrix-free pass: group h adds
 * `Ih (a vᵀ + v aᵀ) + S v vᵀ` with `a`, `v` sparse over the stills of the group (pairs) and dense over the smoother.
 * Slots are fixed from the data (`pairStart`, the number of distinct stills per group over all rows), so concurrent
 * shards write disjoint ranges.
 */
export interface GroupCache {
  /** CSR offsets of each group's pair slots, length nGroups + 1. */
  readonly pairStart: Int32Array;
  /**
   * Slot of index 0 of `pairStill`, `pairA` and `pairV` (a view of the pairs of some groups, e.g. a shard paged from
   * a scratch file): pair slot i is at index `i − pairOffset`. @defaultValue 0
   */
  readonly pairOffset?: number;
  /** Pairs used by each group this pass (0 for a group without usable rows). */
  readonly pairCount: Int32Array;
  /** Still of each pair. */
  readonly pairStill: Int32Array;
  /** a_i = Σ w g² of the pair's rows. */
  readonly pairA: Float64Array;
  /** v_i = Σ w (I − 2 g Ih) g / S of the pair's rows. */
  readonly pairV: Float64Array;
  /** Ih per group. */
  readonly groupIh: Float64Array;
  /** S = Σ w g² per group. */
  readonly groupS: Float64Array;
  /** Smoother part of a per group (nGroups × kf). */
  readonly groupSmootherA: Float64Array;
  /** Smoother part of v per group (nGroups × kf). */
  readonly groupSmootherV: Float64Array;
}

/** Slot offsets of a {@link GroupCache}: the number of distinct stills of each group over all rows (CSR). */
export function groupPairStart(groupStart: Int32Array, still: Int32Array): Int32Array {
  const nGroups = groupStart.length - 1;
  const out = new Int32Array(nGroups + 1);
  addPairCounts(groupStart, still, 0, 0, nGroups, out);
  for (let h = 0; h < nGroups; h++) out[h + 1] += out[h];
  return out;
}

/**
 * Sets `out[h + 1]` to the number of distinct stills of group h, for groups [groupBegin, groupEnd), from a view of the
 * rows starting at absolute row `rowOffset`. Unchecked.
 */
export function addPairCounts(
  groupStart: Int32Array,
  still: Int32Array,
  rowOffset: number,
  groupBegin: number,
  groupEnd: number,
  out: Int32Array,
): void {
  for (let h = groupBegin; h < groupEnd; h++) {
    let count = 0;
    let last = -1;
    for (let o = groupStart[h] - rowOffset; o < groupStart[h + 1] - rowOffset; o++) {
      if (still[o] !== last) {
        count++;
        last = still[o];
      }
    }
    out[h + 1] = count;
  }
}

/** y = (block part of JᵀWJ)·x: the θ diagonal, θ×c and c×c blocks (overwrites y). Unchecked. */
export function applyLowRankBlocks(
  sums: LowRankSums,
  nStills: number,
  kf: number,
  x: Float64Array,
  y: Float64Array,
): void {
  const { thetaDiagonal, thetaSmoother, smootherBlock } = sums;
  for (let s = 0; s < nStills; s++) {
    let v = thetaDiagonal[s] * x[s];
    for (let k = 0; k < kf; k++) v += thetaSmoother[s * kf + k] * x[nStills + k];
    y[s] = v;
  }
  for (let k = 0; k < kf; k++) {
    let v = 0;
    for (let s = 0; s < nStills; s++) v += thetaSmoother[s * kf + k] * x[s];
    for (let l = 0; l < kf; l++) v += smootherBlock[k * kf + l] * x[nStills + l];
    y[nStills + k] = v;
  }
}

/** y += Σ_groups [Ih (a vᵀ + v aᵀ) + S v vᵀ]·x over groups `[groupBegin, groupEnd)`. Unchecked. */
export function addLowRankGroupTerms(
  cache: GroupCache,
  nStills: number,
  kf: number,
  groupBegin: number,
  groupEnd: number,
  x: Float64Array,
  y: Float64Array,
): void {
  const { pairStart, pairCount, pairStill, pairA, pairV, groupIh, groupS, groupSmootherA, groupSmootherV } = cache;
  const pairOffset = cache.pairOffset ?? 0;
  for (let h = groupBegin; h < groupEnd; h++) {
    const nm = pairCount[h];
    if (nm === 0) continue;
    const base = pairStart[h] - pairOffset;
    let vx = 0;
    let ax = 0;
    for (let i = base; i < base + nm; i++) {
      const xs = x[pairStill[i]];
      vx += pairV[i] * xs;
      ax += pairA[i] * xs;
    }
    for (let k = 0; k < kf; k++) {
      const xk = x[nStills + k];
      vx += groupSmootherV[h * kf + k] * xk;
      ax += groupSmootherA[h * kf + k] * xk;
    }
    const Ih = groupIh[h];
    const cA = Ih * vx;
    const cV = Ih * ax + groupS[h] * vx;
    for (let i = base; i < base + nm; i++) y[pairStill[i]] += cA * pairA[i] + cV * pairV[i];
    for (let k = 0; k < kf; k++) y[nStills + k] += cA * groupSmootherA[h * kf + k] + cV * groupSmootherV[h * kf + k];
  }
}

/**
 * Adds the normal matrix of a matrix-free pass to a dense P×P matrix: the block sums plus every group's low-rank
 * term. Costs Σ_groups pairs²/2 (one dense formation), for ESDs or as a fallback. Unchecked.
 *
 * Only the upper triangle is accumulated, then copied onto the lower one, so `out` must be symmetric on entry (e.g.
 * zeros); the result is exactly symmetric. A group's term for the element of pairs i ≤ j is
 * `Ih (a_i v_j + v_i a_j) + S v_i v_j`, evaluated as `c_i v_j + d_i a_j` with the row constants `c_i = Ih a_i + S v_i`
 * and `d_i = Ih v_i` (the same for the smoother coordinates), four rows at a time so that each column's factors are
 * loaded once for four updates. The pairs of a group must be in ascending still order (as the pass stores them).
 */
export function addLowRankToDense(
  sums: LowRankSums,
  cache: GroupCache,
  nStills: number,
  kf: number,
  out: Float64Array,
): void {
  const P = nStills + kf;
  addLowRankBlocksToDenseUpper(sums, nStills, kf, out);
  addLowRankGroupsToDenseUpper(cache, nStills, kf, 0, cache.pairCount.length, out);
  symmetrizeUpper(out, P);
}

/** The block sums of a matrix-free pass added to the upper triangle of a dense P×P matrix. Unchecked. */
export function addLowRankBlocksToDenseUpper(sums: LowRankSums, nStills: number, kf: number, out: Float64Array): void {
  const P = nStills + kf;
  const { thetaDiagonal, thetaSmoother, smootherBlock } = sums;
  for (let s = 0; s < nStills; s++) {
    const row = s * P;
    out[row + s] += thetaDiagonal[s];
    for (let k = 0; k < kf; k++) out[row + nStills + k] += thetaSmoother[s * kf + k];
  }
  for (let k = 0; k < kf; k++) {
    const row = (nStills + k) * P + nStills;
    for (let l = k; l < kf; l++) out[row + l] += smootherBlock[k * kf + l];
  }
}

/**
 * The low-rank terms of groups `[groupBegin, groupEnd)` added to the upper triangle of a dense P×P matrix (Σ pairs²
 * work). Unchecked.
 */
export function addLowRankGroupsToDenseUpper(
  cache: GroupCache,
  nStills: number,
  kf: number,
  groupBegin: number,
  groupEnd: number,
  out: Float64Array,
): void {
  addLowRankGroupsToDenseRows(cache, nStills, kf, groupBegin, groupEnd, 0, nStills + kf, out);
}

/**
 * Rows per band of {@link addLowRankGroupsToDenseRows} in a parallel expansion: about 1 MiB of a P-wide band (it stays
 * in a core's cache while the band's scattered updates land in it), a multiple of 4, at most P.
 */
export function denseBandRows(P: number): number {
  return Math.max(4, Math.min(P, 4 * Math.floor(2 ** 15 / Math.max(1, P))));
}

/**
 * The low-rank terms of groups `[groupBegin, groupEnd)` in rows `[rowBegin, rowEnd)` of the upper triangle of a dense
 * P×P matrix, added to `rows`, which holds those rows (element (r, c) at (r − rowBegin)·P + c). Unchecked.
 *
 * Each element gets one term per group that has both its coordinates, in ascending group order, whatever the rows
 * asked for, so a matrix expanded band by band is bit-identical to one expanded whole. A group's term for the element
 * of pairs i ≤ j is `Ih (a_i v_j + v_i a_j) + S v_i v_j`, evaluated as `c_i v_j + d_i a_j` with the row constants
 * `c_i = Ih a_i + S v_i` and `d_i = Ih v_i` (the same for the smoother coordinates), four rows at a time so that each
 * column's factors are loaded once for four updates. The pairs of a group must be in ascending still order (as the
 * pass stores them): a band's θ rows of a group are then one run of its pairs.
 */
export function addLowRankGroupsToDenseRows(
  cache: GroupCache,
  nStills: number,
  kf: number,
  groupBegin: number,
  groupEnd: number,
  rowBegin: number,
  rowEnd: number,
  rows: Float64Array,
): void {
  const P = nStills + kf;
  const { pairStart, pairCount, pairStill, pairA, pairV, groupIh, groupS, groupSmootherA, groupSmootherV } = cache;
  const pairOffset = cache.pairOffset ?? 0;
  const origin = rowBegin * P;
  const thetaEnd = Math.min(rowEnd, nStills);
  // the band's smoother rows, as smoother indices
  const kBegin = Math.max(rowBegin, nStills) - nStills;
  const kEnd = rowEnd - nStills;
  for (let h = groupBegin; h < groupEnd; h++) {
    const nm = pairCount[h];
    if (nm === 0) continue;
    const base = pairStart[h] - pairOffset;
    const end = base + nm;
    const Ih = groupIh[h];
    const S = groupS[h];
    const hk = h * kf;
    if (rowBegin < thetaEnd) {
      const pb = firstPairFrom(pairStill, base, end, rowBegin);
      const pe = firstPairFrom(pairStill, pb, end, thetaEnd);
      if (pe > pb) {
        addGroupThetaTerms(pairStill, pairA, pairV, pb, pe, end, Ih, S, P, origin, rows);
        for (let p = pb; p < pe && kf > 0; p++) {
          const row = pairStill[p] * P - origin + nStills;
          const c = Ih * pairA[p] + S * pairV[p];
          const d = Ih * pairV[p];
          for (let k = 0; k < kf; k++) rows[row + k] += c * groupSmootherV[hk + k] + d * groupSmootherA[hk + k];
        }
      }
    }
    for (let k = kBegin; k < kEnd; k++) {
      const row = (nStills + k) * P - origin + nStills;
      const c = Ih * groupSmootherA[hk + k] + S * groupSmootherV[hk + k];
      const d = Ih * groupSmootherV[hk + k];
      for (let l = k; l < kf; l++) rows[row + l] += c * groupSmootherV[hk + l] + d * groupSmootherA[hk + l];
    }
  }
}

/** The first pair in `[lo, hi)` whose still is at least `still` (`hi` if none): a binary search over ascending stills. */
function firstPairFrom(pairStill: Int32Array, lo: number, hi: number, still: number): number {
  let a = lo;
  let b = hi;
  while (a < b) {
    const m = (a + b) >>> 1;
    if (pairStill[m] < still) a = m + 1;
    else b = m;
  }
  return a;
}

/**
 * The θ×θ part of one group's term in {@link addLowRankGroupsToDenseRows}: rows of the pairs `[pb, pe)`, columns of the
 * pairs `[p, end)` from each row's own pair (upper triangle), into `rows` whose first element is at `origin` of the
 * P×P matrix.
 */
function addGroupThetaTerms(
  pairStill: Int32Array,
  pairA: Float64Array,
  pairV: Float64Array,
  pb: number,
  pe: number,
  end: number,
  Ih: number,
  S: number,
  P: number,
  origin: number,
  out: Float64Array,
): void {
  let p = pb;
  for (; p + 3 < pe; p += 4) {
    const r0 = pairStill[p] * P - origin;
    const r1 = pairStill[p + 1] * P - origin;
    const r2 = pairStill[p + 2] * P - origin;
    const r3 = pairStill[p + 3] * P - origin;
    const c0 = Ih * pairA[p] + S * pairV[p];
    const c1 = Ih * pairA[p + 1] + S * pairV[p + 1];
    const c2 = Ih * pairA[p + 2] + S * pairV[p + 2];
    const c3 = Ih * pairA[p + 3] + S * pairV[p + 3];
    const d0 = Ih * pairV[p];
    const d1 = Ih * pairV[p + 1];
    const d2 = Ih * pairV[p + 2];
    const d3 = Ih * pairV[p + 3];
    // the triangle among the four rows themselves
    for (let q = p; q < p + 4; q++) {
      const s = pairStill[q];
      const v = pairV[q];
      const a = pairA[q];
      out[r0 + s] += c0 * v + d0 * a;
      if (q > p) out[r1 + s] += c1 * v + d1 * a;
      if (q > p + 1) out[r2 + s] += c2 * v + d2 * a;
      if (q > p + 2) out[r3 + s] += c3 * v + d3 * a;
    }
    for (let q = p + 4; q < end; q++) {
      const s = pairStill[q];
      const v = pairV[q];
      const a = pairA[q];
      out[r0 + s] += c0 * v + d0 * a;
      out[r1 + s] += c1 * v + d1 * a;
      out[r2 + s] += c2 * v + d2 * a;
      out[r3 + s] += c3 * v + d3 * a;
    }
  }
  for (; p < pe; p++) {
    const row = pairStill[p] * P - origin;
    const c = Ih * pairA[p] + S * pairV[p];
    const d = Ih * pairV[p];
    for (let q = p; q < end; q++) out[row + pairStill[q]] += c * pairV[q] + d * pairA[q];
  }
}
