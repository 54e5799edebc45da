/**
 * One group of DIALS's standard outlier rejection (`NormDevOutlierRejection`) iterated to completion: pass after pass,
 * the single largest normalised deviation z > zmax is rejected, with the sums Σw·g·I and Σw·g² of each pass taken over
 * the remaining rows in row order as DIALS does. Two ways that give the same outliers in the same order:
 *
 * - **row by row** ({@link exactPasses}): every pass sums and tests every remaining row, O(m) a pass, O(m · passes) a
 *   group: quadratic when a fixed fraction of a large group is rejected (one voxel holding every row, all rows in one
 *   Bragg group);
 * - **bounded** (groups of {@link BOUNDED_PASSES_MIN_ROWS} rows or more): a pass as above (a *refresh*) also records
 *   every row's z and sorts the rows with z near or above zmax; the passes after it keep the two sums by subtracting
 *   each rejected row and test only the rows whose z may now be the largest, from an upper bound on how far any z can
 *   have moved since the refresh. A pass is taken this way only when the bound, with every rounding difference between
 *   these running sums and DIALS's fresh row-order sums accounted for, proves which row DIALS's pass rejects (or that it
 *   rejects none); otherwise that pass is a refresh. Either way the pass rejects DIALS's row.
 *
 * The bound. Write x = I/g and s² = 1/(w·g²) (the variance of x). With μ = ΣwgI/Σwg² the weighted mean of all remaining
 * rows and c = 1/Σwg², DIALS's leave-one-out z is, in exact arithmetic, z = |x − μ| / sqrt(s² − c). Rejecting rows
 * moves μ and raises c, so against the refresh's (μ₀, c₀): z ≤ z₀·sqrt(1 + (c − c₀)/q) + |μ − μ₀|/sqrt(q) with
 * q = min s² − c, for every row at once. Each rejection moves μ by about z·s/(rows), so on large groups hundreds of
 * passes go between refreshes, each testing a handful of rows.
 *
 * @packageDocumentation
 */

/** z assigned when (Σwg²)_others is exactly zero, to force rejection (as DIALS does). */
export const ZERO_SUM_Z = 1000;

/** Groups with at least this many rows take the bounded passes; smaller ones are cheapest row by row. */
export const BOUNDED_PASSES_MIN_ROWS = 64;

/** Unit roundoff of double precision (2⁻⁵³). */
const U = Number.EPSILON / 2;

/**
 * A refresh follows once the bounded passes since the last one have tested this many times its rows (a refresh costs
 * about as much as testing each remaining row a few times; measured: 1 to 4 cost the same within 20 %).
 */
const REFRESH_AFTER = 2;

/** Rows whose refresh z is at least this fraction of zmax are kept, sorted, for the bounded passes. */
const CANDIDATE_FRACTION = 0.75;

/**
 * One group's rows for {@link standardGroupPasses}, in row order (index t = the t-th row of the group): row id, capped
 * weight w (replaced by the variance 1/w once the products are formed), inverse scale g, intensity I and the products
 * w·g·I and w·g² (each computed once, as the sums use them); for the bounded passes, whether each row remains, its z at
 * the last refresh and the sorted candidates. Sized for the largest group; `rejected` receives the outlier rows in
 * pass order.
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
  z0: Float64Array;
  words: Uint32Array;
  order: Int32Array;
}

/** Scratch for groups of up to `size` rows. */
export function groupScratch(size: number): GroupScratch {
  const z0 = new Float64Array(size);
  return {
    row: new Int32Array(size),
    w: new Float64Array(size),
    g: new Float64Array(size),
    intensity: new Float64Array(size),
    wgI: new Float64Array(size),
    wg2: new Float64Array(size),
    rejected: new Int32Array(size),
    alive: new Uint8Array(size),
    z0,
    words: new Uint32Array(z0.buffer),
    order: new Int32Array(size),
  };
}

/** Index of the low 32-bit word of a double in a Uint32Array view (0 on little-endian machines). */
const LOW_WORD = new Uint32Array(Float64Array.of(1).buffer)[0] === 0 ? 0 : 1;

/**
 * The standard algorithm on one group whose `m` rows fill `s.row/w/g/intensity[0..m)` in ascending row order: one pass
 * per outlier, each rejecting the single largest z > zmax (strict; the first maximum in row order wins) while more than
 * two rows remain, stopping at the first pass that rejects nothing. Writes the outlier rows to `s.rejected` in pass
 * order and returns how many there are. Groups of `boundedFrom` rows or more whose values allow it (g > 0, everything
 * finite) take the bounded passes, O(m log m) for the usual few refreshes; the outliers are the same either way.
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
  const { w, g, intensity, wgI, wg2 } = s;
  for (let t = 0; t < m; t++) {
    wgI[t] = w[t] * g[t] * intensity[t];
    wg2[t] = w[t] * g[t] * g[t];
    // the variance 1/w of the row, from here on in place of w
    w[t] = 1 / w[t];
  }
  if (m >= boundedFrom && m > 2 && boundable(s, m)) return boundedPasses(s, m, zmax);
  return exactPasses(s, m, zmax, 0);
}

/** Whether every row has g > 0 and finite values, as the bound assumes. */
function boundable(s: GroupScratch, m: number): boolean {
  const { w: v, g, intensity, wgI, wg2 } = s;
  for (let t = 0; t < m; t++) {
    const ok =
      g[t] > 0 &&
      wg2[t] > 0 &&
      Number.isFinite(wg2[t]) &&
      Number.isFinite(wgI[t]) &&
      Number.isFinite(v[t]) &&
      Number.isFinite(1 / wg2[t]) &&
      Number.isFinite(Math.abs(intensity[t]) / g[t]);
    if (!ok) return false;
  }
  return true;
}

/**
 * DIALS's passes row by row on the `m` remaining rows of `s` (products formed, w holding the variance), the outliers
 * appended to `s.rejected` from index `nRejected`; returns the new count. Sums afresh each pass in row order; a
 * rejected row is removed from the compacted arrays. O(m) a pass.
 */
function exactPasses(s: GroupScratch, m: number, zmax: number, nRejected: number): number {
  const { row, w, g, intensity, wgI, wg2, rejected } = s;
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
      const z =
        othersWg2 === 0
          ? ZERO_SUM_Z
          : Math.abs((I - (gi * othersWgI) / othersWg2) / Math.sqrt(w[t] + (gi * gi) / othersWg2));
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

/** State of the bounded passes on one group: the running sums, and what the last refresh recorded. */
interface BoundState {
  /** Rows in the group. */
  m: number;
  /** Rows that remain. */
  n: number;
  /** Running Σw·g·I and Σw·g² of the remaining rows (the refresh's row-order sums less the rejected rows' terms). */
  sumI: number;
  sum2: number;
  /** Rows at the last refresh, and rows rejected since. */
  nRef: number;
  r: number;
  /** At the refresh: Σ|w·g·I|, Σw·g², the largest w·g², the largest |x| = |I|/g. */
  sumAbsA: number;
  sumB: number;
  bMax: number;
  xMax: number;
  /** A lower bound on min s² = 1/max(w·g²). */
  sMin2Lo: number;
  /** The refresh's mean μ₀ and a bound on its rounding error; a lower bound on its c₀. */
  mu0: number;
  eMu0: number;
  c0Lo: number;
  /** Error of the refresh's z as computed: |z − exact z| ≤ alpha0·z + beta0. */
  alpha0: number;
  beta0: number;
  /**
   * Candidates `order[head..nCand)`, by refresh z descending, with `z0[k]` at least the refresh z of row `order[k]`
   * (and descending too); every other remaining row had a refresh z below `cutoff`.
   */
  nCand: number;
  head: number;
  cutoff: number;
  /** Rows tested by bounded passes since the refresh. */
  scans: number;
}

/** What a bounded pass decided, besides a row to reject. */
const DONE = -1;
const REFRESH = -2;

/**
 * The passes on a group of `m` rows (products formed): a refresh, then bounded passes until one cannot decide or the
 * rows they test add up to {@link REFRESH_AFTER} times the rows at the refresh, then another refresh. If bounded passes keep failing to decide (ties,
 * one row dominating the sums), the remaining passes go row by row.
 */
function boundedPasses(s: GroupScratch, m: number, zmax: number): number {
  const { alive, row, rejected, wgI, wg2 } = s;
  alive.fill(1, 0, m);
  const b = emptyState(m, zmax);
  let nRejected = 0;
  let refresh = true;
  let passes = 0;
  let failures = 0;
  while (b.n > 2) {
    passes++;
    const t = refresh ? refreshPass(s, b, zmax) : boundedPass(s, b, zmax);
    if (t === REFRESH) {
      passes--;
      failures++;
      if (failures > 8 && 8 * failures > passes) return exactOnRemaining(s, b, zmax, nRejected);
      refresh = true;
      continue;
    }
    if (t === DONE) break;
    alive[t] = 0;
    b.n--;
    b.r++;
    b.sumI -= wgI[t];
    b.sum2 -= wg2[t];
    rejected[nRejected++] = row[t];
    // no bound when one row outweighs the rest (the refresh's error bounds say so): row by row from here
    if (!(b.alpha0 < 0.5)) return exactOnRemaining(s, b, zmax, nRejected);
    refresh = b.scans > REFRESH_AFTER * b.nRef;
  }
  return nRejected;
}

function emptyState(m: number, zmax: number): BoundState {
  return {
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
    sMin2Lo: 0,
    mu0: 0,
    eMu0: 0,
    c0Lo: 0,
    alpha0: 0,
    beta0: 0,
    nCand: 0,
    head: 0,
    cutoff: CANDIDATE_FRACTION * zmax,
    scans: 0,
  };
}

/** Moves the remaining rows to the front (row order kept) and finishes the group row by row. */
function exactOnRemaining(s: GroupScratch, b: BoundState, zmax: number, nRejected: number): number {
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
    n++;
  }
  return exactPasses(s, n, zmax, nRejected);
}

/**
 * A pass exactly as DIALS's (sums afresh in row order over the remaining rows, every row tested) that also records
 * each row's z, the error bounds of the next passes and the sorted candidates. Returns the row to reject, or DONE.
 */
function refreshPass(s: GroupScratch, b: BoundState, zmax: number): number {
  const { alive, w: v, g, intensity, wgI, wg2, z0, words, order } = s;
  const m = b.m;
  let sumI = 0;
  let sum2 = 0;
  for (let t = 0; t < m; t++) {
    if (alive[t] === 0) continue;
    sumI += wgI[t];
    sum2 += wg2[t];
  }
  let maxZ = zmax;
  let argMax = -1;
  let sumAbsA = 0;
  let bMax = 0;
  let xMax = 0;
  let nCand = 0;
  for (let t = 0; t < m; t++) {
    if (alive[t] === 0) continue;
    const gi = g[t];
    const I = intensity[t];
    const othersWgI = sumI - wgI[t];
    const othersWg2 = sum2 - wg2[t];
    const z =
      othersWg2 === 0
        ? ZERO_SUM_Z
        : Math.abs((I - (gi * othersWgI) / othersWg2) / Math.sqrt(v[t] + (gi * gi) / othersWg2));
    if (z > maxZ) {
      maxZ = z;
      argMax = t;
    }
    if (z >= b.cutoff) {
      // the key: z with its low 32 bits replaced by the row (a plain numeric sort orders by z, 2⁻²⁰ relative)
      z0[nCand] = Math.min(z, 1e300);
      words[2 * nCand + LOW_WORD] = t;
      nCand++;
    }
    sumAbsA += Math.abs(wgI[t]);
    if (wg2[t] > bMax) bMax = wg2[t];
    const x = Math.abs(I) / gi;
    if (x > xMax) xMax = x;
  }
  z0.subarray(0, nCand).sort();
  z0.subarray(0, nCand).reverse();
  for (let k = 0; k < nCand; k++) {
    order[k] = words[2 * k + LOW_WORD];
    // rounded up: at least the row's z
    words[2 * k + LOW_WORD] = 0xffffffff;
  }
  b.sumI = sumI;
  b.sum2 = sum2;
  b.nRef = b.n;
  b.r = 0;
  b.sumAbsA = sumAbsA;
  b.sumB = sum2;
  b.bMax = bMax;
  b.xMax = xMax;
  b.sMin2Lo = (1 / bMax) * (1 - 8 * U);
  b.nCand = nCand;
  b.head = 0;
  b.scans = 0;
  const e = errorBounds(b);
  b.mu0 = sumI / sum2;
  b.eMu0 = e.eMu;
  b.c0Lo = (1 / (sum2 + e.eB)) * (1 - 4 * U);
  b.alpha0 = e.alpha;
  b.beta0 = e.beta;
  return argMax < 0 ? DONE : argMax;
}

/** Bounds on rounding differences in the sums and in z: used by the refresh (r = 0) and by every bounded pass. */
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

/**
 * A pass from the running sums: tests the candidates in descending refresh z while the bound says that one of them may
 * be the largest; returns the row DIALS's pass rejects, DONE when it rejects none, REFRESH when the bound cannot tell.
 */
function boundedPass(s: GroupScratch, b: BoundState, zmax: number): number {
  const { alive, w: v, g, intensity, wgI, wg2, z0, order } = s;
  const e = errorBounds(b);
  const cHi = (1 / e.s2Lo) * (1 + 4 * U);
  const q = b.sMin2Lo - cHi;
  // any z now ≤ slope · (its refresh z) + offset, for rows that DIALS computes as well as for the exact values
  const rho = Math.sqrt(1 + Math.max(0, cHi - b.c0Lo) / q) * (1 + 4 * U);
  const shift = ((Math.abs(b.sumI / b.sum2 - b.mu0) * (1 + 2 * U) + e.eMu + b.eMu0) / Math.sqrt(q)) * (1 + 4 * U);
  const slope = (((1 + e.alpha) * rho) / (1 - b.alpha0)) * (1 + 8 * U);
  const offset = ((1 + e.alpha) * ((rho * b.beta0) / (1 - b.alpha0) + shift) + e.beta) * (1 + 8 * U);
  if (!(q > 0 && b.alpha0 < 0.5 && e.alpha < 0.5 && Number.isFinite(slope) && Number.isFinite(offset))) return REFRESH;
  // |DIALS's z − this z| ≤ 2(alpha·exact + beta), exact ≤ (z + beta)/(1 − alpha)
  const err = (z: number): number => 2 * ((e.alpha * (z + e.beta)) / (1 - e.alpha) + e.beta) * (1 + 8 * U);
  const { sumI, sum2 } = b;
  let best = -1;
  let bestZ = -Infinity;
  let bestLower = -Infinity;
  let bestUpper = -Infinity;
  let othersUpper = -Infinity;
  let unscanned = b.cutoff > 0 ? slope * b.cutoff + offset : -Infinity;
  while (b.head < b.nCand && alive[order[b.head]] === 0) b.head++;
  for (let k = b.head; k < b.nCand; k++) {
    const t = order[k];
    if (alive[t] === 0) continue;
    const bound = slope * z0[k] + offset;
    if (bound <= zmax || bound < bestLower) {
      unscanned = bound;
      break;
    }
    b.scans++;
    const gi = g[t];
    const I = intensity[t];
    const othersWg2 = sum2 - wg2[t];
    const z = Math.abs((I - (gi * (sumI - wgI[t])) / othersWg2) / Math.sqrt(v[t] + (gi * gi) / othersWg2));
    if (
      best >= 0 &&
      I === intensity[best] &&
      gi === g[best] &&
      v[t] === v[best] &&
      wgI[t] === wgI[best] &&
      wg2[t] === wg2[best]
    ) {
      // the same values: DIALS's z is the same too, and the first in row order is the one it rejects
      if (t < best) best = t;
      continue;
    }
    const d = err(z);
    if (z > bestZ) {
      othersUpper = Math.max(othersUpper, bestUpper);
      best = t;
      bestZ = z;
      bestLower = z - d;
      bestUpper = z + d;
    } else {
      othersUpper = Math.max(othersUpper, z + d);
    }
  }
  if (best >= 0 && bestLower > zmax && bestLower > othersUpper && bestLower > unscanned) return best;
  if (Math.max(bestUpper, othersUpper, unscanned) <= zmax) return DONE;
  return REFRESH;
}
