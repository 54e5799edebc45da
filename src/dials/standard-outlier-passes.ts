/**
 * One group of DIALS's standard outlier rejection (`NormDevOutlierRejection`) iterated to completion: pass after pass,
 * the single largest normalised deviation z > zmax is rejected, with the sums Σw·g·I and Σw·g² of each pass taken over
 * the remaining rows in row order as DIALS does. Two ways that give the same outliers in the same order:
 *
 * - **row by row** ({@link exactPasses}): every pass sums and tests every remaining row, O(m) a pass, O(m · passes) a
 *   group: quadratic when a fixed fraction of a large group is rejected (one voxel holding every row, all rows in one
 *   Bragg group);
 * - **bounded** (groups of {@link BOUNDED_PASSES_MIN_ROWS} rows or more): the first passes are DIALS's own (*fresh*
 *   passes, which also record the error bounds below); then the passes keep the two sums by subtracting each rejected
 *   row and find the row with the largest z in kinetic tournaments over the classes of identical rows
 *   (`outlier-tournament.ts`): O(log m) nodes a pass on usual data, a rejection updating O(log m) nodes. A pass is
 *   taken this way only when the bounds, with every rounding difference between these running sums and DIALS's fresh
 *   row-order sums accounted for, prove which row DIALS's pass rejects (or that it rejects none); a near tie that they
 *   cannot split is settled by DIALS's own sums ({@link tiePass}, O(m) additions, z of the tied rows alone), anything
 *   else by a fresh pass. Either way the pass rejects DIALS's row. A group of m rows with k outliers costs
 *   O((m + k) log m) plus O(m) a near tie (two z closer than DIALS's rounding bound, about m·u relative).
 *
 * Error bounds. Write x = I/g and s² = 1/(w·g²) (the variance of x). With μ = ΣwgI/Σwg² the weighted mean of all
 * remaining rows and c = 1/Σwg², DIALS's leave-one-out z is, in exact arithmetic, z = |x − μ| / sqrt(s² − c). The sums
 * as computed (DIALS's fresh ones, or the running ones) are within a bound of the exact sums; that bounds μ and c, and
 * each z as computed is within alpha·z + beta of the exact z ({@link errorBounds}).
 *
 * @packageDocumentation
 */

import {
  buildTournament,
  DONE,
  REBUILD,
  REFRESH,
  removeTournamentRow,
  tournamentPass,
  type Tournament,
  type TournamentQuery,
} from "./outlier-tournament.ts";

/** z assigned when (Σwg²)_others is exactly zero, to force rejection (as DIALS does). */
export const ZERO_SUM_Z = 1000;

/**
 * DIALS's leave-one-out z of a row: |I − g·(ΣwgI)_others/(Σwg²)_others| / √(σ² + g²/(Σwg²)_others), or
 * {@link ZERO_SUM_Z} when (Σwg²)_others is exactly zero.
 *
 * @internal
 */
export function leaveOneOutZ(I: number, g: number, variance: number, othersWgI: number, othersWg2: number): number {
  return othersWg2 === 0
    ? ZERO_SUM_Z
    : Math.abs((I - (g * othersWgI) / othersWg2) / Math.sqrt(variance + (g * g) / othersWg2));
}

/**
 * Whether DIALS's z of a row ({@link leaveOneOutZ} as computed) is at most zmax, shown without its two quotients and
 * square root: with P = I·o₂ − g·o₁ and Q = o₂(o₂σ² + g²) (o₁, o₂ the others' Σw·g·I and Σw·g²), z = |P|/√Q exactly,
 * and z as computed is at most (|P̃| + E)(1 + 8u)/√Q̃ for P̃, Q̃ as computed here and E = 8u(|I·o₂| + |g·o₁|) plus an
 * absolute term for underflow — within the ranges tested (o₂ in [1e-50, 1e50], Q̃ in [1e-200, 1e200], |g·o₁| ≤ 1e100,
 * g and σ² positive), where no step of either computation overflows and each is within its relative rounding bound.
 * `zmax2` is zmax²·(1 − 1e-6): the margin covers the rounding of this test itself. False (not shown) otherwise, NaN
 * included: the row's z is then computed.
 *
 * @internal
 */
export function belowZmax(
  I: number,
  g: number,
  variance: number,
  othersWgI: number,
  othersWg2: number,
  zmax2: number,
): boolean {
  const io2 = I * othersWg2;
  const go1 = g * othersWgI;
  const q = othersWg2 * (othersWg2 * variance + g * g);
  const e = 8 * U * (Math.abs(io2) + Math.abs(go1)) + 1e-270;
  const p = Math.abs(io2 - go1) + e;
  return (
    p * p <= zmax2 * q &&
    othersWg2 >= 1e-50 &&
    othersWg2 <= 1e50 &&
    q >= 1e-200 &&
    q <= 1e200 &&
    Math.abs(go1) <= 1e100 &&
    g > 0 &&
    variance > 0
  );
}

/** Groups with at least this many rows take the bounded passes; smaller ones are cheapest row by row. */
export const BOUNDED_PASSES_MIN_ROWS = 64;

/** Unit roundoff of double precision (2⁻⁵³). */
const U = Number.EPSILON / 2;

/**
 * The first passes of a bounded group are fresh ones (DIALS's own): most groups reject one or two rows, for which
 * building the tournaments (a few passes' worth) does not pay.
 */
const FRESH_PASSES = 3;

/**
 * One group's rows for {@link standardGroupPasses}, in row order (index t = the t-th row of the group): row id, capped
 * weight w (replaced by the variance 1/w once the products are formed), inverse scale g, intensity I and the products
 * w·g·I and w·g² (each computed once, as the sums use them); for the bounded passes, whether each row remains. Sized
 * for the largest group; `rejected` receives the outlier rows in pass order.
 */
export interface GroupScratch {
  row: Int32Array;
  w: Float64Array;
  g: Float64Array;
  intensity: Float64Array;
  wgI: Float64Array;
  wg2: Float64Array;
  rejected: Int32Array;
  alive: Uint8Array;
}

/** Scratch for groups of up to `size` rows. */
export function groupScratch(size: number): GroupScratch {
  return {
    row: new Int32Array(size),
    w: new Float64Array(size),
    g: new Float64Array(size),
    intensity: new Float64Array(size),
    wgI: new Float64Array(size),
    wg2: new Float64Array(size),
    rejected: new Int32Array(size),
    alive: new Uint8Array(size),
  };
}

/**
 * The standard algorithm on one group whose `m` rows fill `s.row/w/g/intensity[0..m)` in ascending row order: one pass
 * per outlier, each rejecting the single largest z > zmax (strict; the first maximum in row order wins) while more than
 * two rows remain, stopping at the first pass that rejects nothing. Writes the outlier rows to `s.rejected` in pass
 * order and returns how many there are. Groups of `boundedFrom` rows or more whose values allow it (g > 0, everything
 * finite) take the bounded passes, O((m + k) log m) for k outliers on usual data; the outliers are the same either way.
 *
 * @param boundedFrom - smallest group that takes the bounded passes (tests lower it to exercise them on small groups)
 * @internal
 */
export function standardGroupPasses(
  s: GroupScratch,
  m: number,
  zmax: number,
  boundedFrom = BOUNDED_PASSES_MIN_ROWS,
): number {
  formGroupProducts(s, m);
  return standardPassesOnProducts(s, m, zmax, m >= boundedFrom && m > 2 && boundable(s, m));
}

/**
 * The products of each of the `m` rows of `s` (`w` holding the capped weights): w·g·I and w·g², and the variance 1/w
 * in place of w, as {@link standardGroupPasses} forms them.
 *
 * @internal
 */
export function formGroupProducts(s: GroupScratch, m: number): void {
  const { w, g, intensity, wgI, wg2 } = s;
  for (let t = 0; t < m; t++) {
    wgI[t] = w[t] * g[t] * intensity[t];
    wg2[t] = w[t] * g[t] * g[t];
    // the variance 1/w of the row, from here on in place of w
    w[t] = 1 / w[t];
  }
}

/**
 * {@link standardGroupPasses} on rows whose products are formed ({@link formGroupProducts}): the bounded passes when
 * `bounded` (the group has `boundedFrom` rows or more, more than two, and every row passes {@link boundableRow}), else
 * row by row.
 *
 * @internal
 */
export function standardPassesOnProducts(s: GroupScratch, m: number, zmax: number, bounded: boolean): number {
  return bounded ? boundedPasses(s, m, zmax) : exactPasses(s, m, zmax, 0);
}

/** Whether every row has g > 0 and finite values, as the bound assumes. */
function boundable(s: GroupScratch, m: number): boolean {
  const { w: v, g, intensity, wgI, wg2 } = s;
  for (let t = 0; t < m; t++) if (!boundableRow(g[t], intensity[t], v[t], wgI[t], wg2[t])) return false;
  return true;
}

/**
 * Whether one row (inverse scale g, intensity I, variance v, products w·g·I and w·g²) has what the bound assumes: g > 0
 * and w·g² > 0, and w·g·I, v, w·g², 1/(w·g²) and |I|/g finite. The two quotients are formed only where the operands
 * leave their finiteness open (1/x ≤ 1e300 for x ≥ 1e-300; |I|/g ≤ 2^961 for g ≥ 2^-64 and |I| ≤ 1e270).
 *
 * @internal
 */
export function boundableRow(g: number, I: number, v: number, wgI: number, wg2: number): boolean {
  return (
    g > 0 &&
    wg2 > 0 &&
    wg2 < Infinity &&
    Number.isFinite(wgI) &&
    Number.isFinite(v) &&
    (wg2 >= 1e-300 || Number.isFinite(1 / wg2)) &&
    ((g >= 5.421010862427522e-20 && Math.abs(I) <= 1e270) || Number.isFinite(Math.abs(I) / g))
  );
}

/**
 * DIALS's passes row by row on the `m` remaining rows of `s` (products formed, w holding the variance), the outliers
 * appended to `s.rejected` from index `nRejected`; returns the new count. Sums afresh each pass in row order; a
 * rejected row is removed from the compacted arrays. O(m) a pass.
 */
function exactPasses(s: GroupScratch, m: number, zmax: number, nRejected: number): number {
  const { row, w, g, intensity, wgI, wg2, rejected } = s;
  const zmax2 = zmax * zmax * (1 - 1e-6);
  for (let n = m; n > 2; n--) {
    let sumWgI = 0;
    let sumWg2 = 0;
    for (let t = 0; t < n; t++) {
      sumWgI += wgI[t];
      sumWg2 += wg2[t];
    }
    let maxZ = zmax;
    let argMax = -1;
    for (let t = 0; t < n; t++) {
      const gi = g[t];
      const I = intensity[t];
      const othersWgI = sumWgI - wgI[t];
      const othersWg2 = sumWg2 - wg2[t];
      // a z shown to be at most zmax cannot be the largest above it
      if (belowZmax(I, gi, w[t], othersWgI, othersWg2, zmax2)) continue;
      const z = leaveOneOutZ(I, gi, w[t], othersWgI, othersWg2);
      if (z > maxZ) {
        maxZ = z;
        argMax = t;
      }
    }
    if (argMax < 0) break;
    rejected[nRejected++] = row[argMax];
    // drop the rejected row, keeping the others in row order (the order of the sums)
    for (const a of [w, g, intensity, wgI, wg2]) a.copyWithin(argMax, argMax + 1, n);
    row.copyWithin(argMax, argMax + 1, n);
  }
  return nRejected;
}

/** State of the bounded passes on one group: the running sums, and what the last fresh pass recorded. */
interface BoundState {
  /** Rows in the group. */
  m: number;
  /** Rows that remain. */
  n: number;
  /** Running Σw·g·I and Σw·g² of the remaining rows (the fresh pass's row-order sums less the rejected rows' terms). */
  sumI: number;
  sum2: number;
  /** Rows at the last fresh pass, and rows rejected since. */
  nRef: number;
  r: number;
  /** At the fresh pass: Σ|w·g·I|, Σw·g², the largest w·g², the largest |x| = |I|/g. */
  sumAbsA: number;
  sumB: number;
  bMax: number;
  xMax: number;
  /** The fresh pass's bound on z's relative error (NaN when one row outweighs the rest). */
  alpha0: number;
}

/**
 * The passes on a group of `m` rows (products formed): {@link FRESH_PASSES} fresh passes, then passes by branch and
 * bound in the tournaments (`outlier-tournament.ts`), a near tie that their bounds cannot split settled by DIALS's
 * sums ({@link tiePass}). If passes keep failing outright (one row dominating the sums), the rest go row by row.
 */
function boundedPasses(s: GroupScratch, m: number, zmax: number): number {
  const { alive } = s;
  alive.fill(1, 0, m);
  const b: BoundState = {
    m,
    n: m,
    sumI: 0,
    sum2: 0,
    nRef: m,
    r: 0,
    sumAbsA: 0,
    sumB: 0,
    bMax: 0,
    xMax: 0,
    alpha0: 0,
  };
  let tournament: Tournament | undefined;
  let nRejected = 0;
  let fresh = true;
  let passes = 0;
  let failures = 0;
  while (b.n > 2) {
    passes++;
    let t: number;
    if (fresh) {
      t = freshPass(s, b, zmax);
    } else {
      tournament ??= buildTournament(s, b.m, 1 / b.sum2, b.sumI / b.sum2);
      if (tournament === undefined) return exactOnRemaining(s, b, zmax, nRejected);
      t = tournamentPass(tournament, s, passQuery(b), zmax);
    }
    if (t === REBUILD) {
      // c has drifted: lines anew at the present c, on the remaining rows moved to the front when they are few
      passes--;
      if (2 * b.n < b.m) compact(s, b);
      tournament = undefined;
      continue;
    }
    if (t === REFRESH && tournament !== undefined && tournament.nTested > 0) {
      // a near tie: DIALS's sums decide between the rows the pass tested
      t = tiePass(s, b, tournament.tested.subarray(0, tournament.nTested), zmax);
    }
    if (t === REFRESH) {
      passes--;
      failures++;
      if (failures > 8 && 8 * failures > passes) return exactOnRemaining(s, b, zmax, nRejected);
      fresh = true;
      continue;
    }
    if (t === DONE) break;
    nRejected = reject(s, b, t, nRejected);
    if (tournament !== undefined) removeTournamentRow(tournament, s, t);
    // no bound when one row outweighs the rest (the fresh pass's error bounds say so): row by row from here
    if (!(b.alpha0 < 0.5)) return exactOnRemaining(s, b, zmax, nRejected);
    fresh = passes < FRESH_PASSES;
  }
  return nRejected;
}

/** Rejects row t: out of the running sums, onto the outliers. Returns the new count of outliers. */
function reject(s: GroupScratch, b: BoundState, t: number, nRejected: number): number {
  s.alive[t] = 0;
  b.n--;
  b.r++;
  b.sumI -= s.wgI[t];
  b.sum2 -= s.wg2[t];
  s.rejected[nRejected] = s.row[t];
  return nRejected + 1;
}

/** Moves the remaining rows to the front (row order kept) and finishes the group row by row. */
function exactOnRemaining(s: GroupScratch, b: BoundState, zmax: number, nRejected: number): number {
  compact(s, b);
  return exactPasses(s, b.m, zmax, nRejected);
}

/** Moves the remaining rows to the front, row order kept: they are the group's rows from here on. */
function compact(s: GroupScratch, b: BoundState): void {
  const { alive, row, w, g, intensity, wgI, wg2 } = s;
  let n = 0;
  for (let t = 0; t < b.m; t++) {
    if (alive[t] === 0) continue;
    row[n] = row[t];
    w[n] = w[t];
    g[n] = g[t];
    intensity[n] = intensity[t];
    wgI[n] = wgI[t];
    wg2[n] = wg2[t];
    alive[n] = 1;
    n++;
  }
  b.m = n;
}

/**
 * A pass exactly as DIALS's (sums afresh in row order over the remaining rows, every row tested) that also records
 * what the error bounds of the next passes need. Returns the row to reject, or DONE.
 */
function freshPass(s: GroupScratch, b: BoundState, zmax: number): number {
  const { alive, w: v, g, intensity, wgI, wg2 } = s;
  const m = b.m;
  const zmax2 = zmax * zmax * (1 - 1e-6);
  let sumI = 0;
  let sum2 = 0;
  for (let t = 0; t < m; t++) {
    if (alive[t] === 0) continue;
    sumI += wgI[t];
    sum2 += wg2[t];
  }
  let maxZ = zmax;
  let argMax = -1;
  for (let t = 0; t < m; t++) {
    if (alive[t] === 0) continue;
    const othersWgI = sumI - wgI[t];
    const othersWg2 = sum2 - wg2[t];
    if (belowZmax(intensity[t], g[t], v[t], othersWgI, othersWg2, zmax2)) continue;
    const z = leaveOneOutZ(intensity[t], g[t], v[t], othersWgI, othersWg2);
    if (z > maxZ) {
      maxZ = z;
      argMax = t;
    }
  }
  // a pass that rejects nothing ends the group: the bounds of later passes are needed only after a rejection
  if (argMax < 0) return DONE;
  referenceStatistics(s, b, sumI, sum2);
  return argMax;
}

/**
 * The error-bound statistics of the remaining rows (Σ|w·g·I|, the largest w·g², the largest |I|/g, in row order) with
 * DIALS's sums `sumI`, `sum2` of them, taken as the running ones ({@link setReference}).
 */
function referenceStatistics(s: GroupScratch, b: BoundState, sumI: number, sum2: number): void {
  const { alive, g, intensity, wgI, wg2 } = s;
  let sumAbsA = 0;
  let bMax = 0;
  let xMax = 0;
  for (let t = 0; t < b.m; t++) {
    if (alive[t] === 0) continue;
    sumAbsA += Math.abs(wgI[t]);
    if (wg2[t] > bMax) bMax = wg2[t];
    const x = Math.abs(intensity[t]) / g[t];
    if (x > xMax) xMax = x;
  }
  setReference(b, sumI, sum2, sumAbsA, bMax, xMax);
}

/** Takes DIALS's sums over the remaining rows as the running ones, with what their error bounds need. */
function setReference(b: BoundState, sumI: number, sum2: number, sumAbsA: number, bMax: number, xMax: number): void {
  b.sumI = sumI;
  b.sum2 = sum2;
  b.nRef = b.n;
  b.r = 0;
  b.sumAbsA = sumAbsA;
  b.sumB = sum2;
  b.bMax = bMax;
  b.xMax = xMax;
  b.alpha0 = errorBounds(b).alpha;
}

/**
 * DIALS's pass when it can only reject one of the rows `candidates` (or none): its sums, afresh in row order over the
 * remaining rows, then its z of those rows alone. The sums become the running ones (their rounding bounds start
 * over). O(n), but no z other than the candidates'.
 */
function tiePass(s: GroupScratch, b: BoundState, candidates: Int32Array, zmax: number): number {
  const { alive, w: v, g, intensity, wgI, wg2 } = s;
  let sumI = 0;
  let sum2 = 0;
  let sumAbsA = 0;
  let bMax = 0;
  let xMax = 0;
  for (let t = 0; t < b.m; t++) {
    if (alive[t] === 0) continue;
    sumI += wgI[t];
    sum2 += wg2[t];
    sumAbsA += Math.abs(wgI[t]);
    if (wg2[t] > bMax) bMax = wg2[t];
    const x = Math.abs(intensity[t]) / g[t];
    if (x > xMax) xMax = x;
  }
  setReference(b, sumI, sum2, sumAbsA, bMax, xMax);
  // in row order: the first largest z wins
  candidates.sort();
  let maxZ = zmax;
  let argMax = -1;
  for (const t of candidates) {
    const gi = g[t];
    const othersWgI = sumI - wgI[t];
    const othersWg2 = sum2 - wg2[t];
    const z = leaveOneOutZ(intensity[t], gi, v[t], othersWgI, othersWg2);
    if (z > maxZ) {
      maxZ = z;
      argMax = t;
    }
  }
  return argMax < 0 ? DONE : argMax;
}

/** Bounds on rounding differences in the sums and in z: used by the fresh pass (r = 0) and by every tournament pass. */
interface ErrorBounds {
  /** |running or row-order Σw·g·I − exact| and the same for Σw·g². */
  eA: number;
  eB: number;
  /** Σw·g² (exact) is at least this. */
  s2Lo: number;
  /** z as computed from such sums is within alpha·z + beta of the exact z (NaN when no bound holds). */
  alpha: number;
  beta: number;
  /** |computed μ − exact μ| ≤ eMu. */
  eMu: number;
}

/**
 * Rounding error bounds for the current sums: a row-order sum of n terms is within (n − 1)·u·Σ|terms| of the exact sum,
 * each subtraction of a rejected row's term adds u·Σ|terms|, and the products w·g·I, w·g², 1/w are each within a few u
 * of the values the closed form assumes; all of it doubled. z's error follows from its formula: |ΔN| ≤
 * g(eA + |μ_others|·eB)/T plus a few u of |I| and |g·μ_others|, divided by sqrt(1/w + g²/T) ≥ g·s, with g/sqrt(…) ≤
 * sqrt(max w·g²), |μ_others| ≤ max|x| and T = Σwg² − w·g² ≥ s2Lo − max w·g².
 */
function errorBounds(b: BoundState): ErrorBounds {
  const scale = 2.02 * U * (2 * b.nRef + b.r + 8);
  const eA = scale * b.sumAbsA;
  const eB = scale * b.sumB;
  const s2Lo = b.sum2 - eB;
  const tMin = s2Lo - b.bMax;
  const mu = Math.abs(b.sumI / b.sum2);
  const eMu = ((eA + mu * eB) / s2Lo) * 1.01 + 4 * U * mu;
  if (!(tMin > 100 * eB)) return { eA, eB, s2Lo, alpha: NaN, beta: NaN, eMu };
  const alpha = 32 * U + (2 * eB) / tMin;
  const beta = Math.sqrt(b.bMax) * (32 * U * b.xMax + (eA + b.xMax * eB) / tMin) * 1.05;
  return { eA, eB, s2Lo, alpha, beta, eMu };
}

/** What a pass from the running sums knows of them (see {@link TournamentQuery}); NaN bounds when none hold. */
function passQuery(b: BoundState): TournamentQuery {
  const e = errorBounds(b);
  const ok = e.alpha < 0.5 && e.s2Lo > 0 && Number.isFinite(e.beta) && Number.isFinite(e.eMu);
  return {
    n: b.n,
    sumI: b.sumI,
    sum2: b.sum2,
    eMu: e.eMu,
    cHi: ok ? (1 / e.s2Lo) * (1 + 4 * U) : NaN,
    xMax: b.xMax,
    alpha: e.alpha,
    beta: e.beta,
  };
}
