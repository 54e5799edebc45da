/**
 * The search structure of the bounded passes of DIALS's standard outlier rejection (`standard-outlier-passes.ts`):
 * the rows of one group merged into classes of identical rows, and two kinetic tournaments over the classes that keep
 * the row with the largest z as the weighted mean μ moves, a rejection updating O(log m) nodes.
 *
 * In exact arithmetic DIALS's leave-one-out z of a row is z = |x − μ| / sqrt(s² − c) with x = I/g, s² = 1/(w·g²),
 * μ = ΣwgI/Σwg² and c = 1/Σwg² over the remaining rows. With c fixed at a reference c₀ (its drift is a factor within
 * a few 10⁻⁶ of 1, bounded below) and v = 1/sqrt(s² − c₀), p = x·v, that is the larger of two *lines* in μ:
 * z = max(p − μ·v, −p + μ·v). Each tournament (one for each sign) is a binary tree over the classes whose every node
 * holds the class of its subtree with the largest line at the current μ, an interval of μ on which that stays so, and
 * a slack: every line of the subtree is at most the winner's plus the slack on the whole interval (0 but where the
 * node was decided within rounding of a crossing of two lines). When μ leaves a node's interval, the node is decided
 * again (children first), so a pass costs the nodes whose winner changes, and the root holds the largest z.
 *
 * A pass is decided only when it is proven: the best row's z as DIALS computes it, within its rounding bound, beats
 * zmax and an upper bound of every other class's z, found by branch and bound from the subtrees hanging off the root
 * winner's path and the other tournament's root (a node's bound: its winner's line plus its slack, widened for every
 * rounding, the drift of c and the distance between the computed and exact μ). Otherwise the caller settles the pass
 * by DIALS's own sums among the rows this one tested, or by a fresh pass.
 *
 * Identical rows (the same I, g, 1/w, w·g·I and w·g²) have bit for bit the same z in DIALS's pass, which rejects the
 * first of them in row order: a class keeps its rows in row order and is one leaf of the tournaments.
 *
 * @packageDocumentation
 */

/** Unit roundoff of double precision (2⁻⁵³). */
const U = Number.EPSILON / 2;

/**
 * What a pass decided, besides a row to reject: DIALS's pass rejects nothing, the bounds cannot tell, or c has drifted
 * so far from the lines' c₀ that the tournament should be built anew.
 */
export const DONE = -1;
export const REFRESH = -2;
export const REBUILD = -3;

/**
 * One group's rows in row order, as `standard-outlier-passes.ts` keeps them: intensity I, inverse scale g, variance
 * 1/w (in `w`), the products w·g·I and w·g², and whether each row remains.
 */
export interface TournamentRows {
  intensity: Float64Array;
  g: Float64Array;
  w: Float64Array;
  wgI: Float64Array;
  wg2: Float64Array;
  alive: Uint8Array;
}

/** One tournament: lines f(μ) = p − μ·v per class, and per inner node (heap order, root 1) what it holds. */
interface Side {
  p: Float64Array;
  v: Float64Array;
  /** Winning class (−1: no live class below). */
  win: Int32Array;
  slack: Float64Array;
  /** The interval of μ on which this node and every node below it hold: [maxLo, minHi]. */
  maxLo: Float64Array;
  minHi: Float64Array;
}

/** The classes of identical rows and the two tournaments over them. */
export interface Tournament {
  /** Class of each row (−1 for rows already rejected when the structure was built). */
  classOf: Int32Array;
  /** The rows of class c are `classRows[classStart[c] .. classStart[c+1])`, ascending; `classHead[c]` the first left. */
  classStart: Int32Array;
  classRows: Int32Array;
  classHead: Int32Array;
  nClasses: number;
  /** Leaves (a power of two ≥ classes): class c is node `leaves + c`. */
  leaves: number;
  /** The reference c₀ of the lines, the largest v, and the smallest s² (as computed). */
  c0: number;
  vMax: number;
  s2Min: number;
  /** The tournaments of p − μ·v (rows above μ) and of −p + μ·v (rows below). */
  above: Side;
  below: Side;
  /** The μ at which every node holds. */
  mu: number;
  /** The stack of a pass's search: entries (a node, plus 2·leaves for `below`) and their bounds. */
  stackNode: Int32Array;
  stackBound: Float64Array;
  /**
   * The rows whose z the last pass computed (the first rows of their classes): when it returns REFRESH, DIALS's pass
   * rejects one of these or none, which DIALS's sums tell.
   */
  tested: Int32Array;
  nTested: number;
}

/** What a pass knows: its running sums and how far the exact μ, c and DIALS's z can be from what it computes. */
export interface TournamentQuery {
  /** Rows that remain, and their running Σw·g·I and Σw·g². */
  n: number;
  sumI: number;
  sum2: number;
  /** |sumI/sum2 − exact μ| ≤ eMu; exact c ≤ cHi; every |x| (computed and exact) ≤ xMax·(1 + u). */
  eMu: number;
  cHi: number;
  xMax: number;
  /** z computed from these sums, and DIALS's z from its fresh sums, are each within alpha·z + beta of the exact z. */
  alpha: number;
  beta: number;
}

/**
 * The classes and tournaments of the rows of `rows[0..m)` that remain, with lines at the reference `c0` (about
 * 1/Σw·g² now) and nodes decided at `mu`; undefined when `c0` is not below half the smallest s². O(m).
 */
export function buildTournament(rows: TournamentRows, m: number, c0: number, mu: number): Tournament | undefined {
  const { classOf, classStart, classRows, nClasses } = rowClasses(rows, m);
  let s2Min = Infinity;
  for (let c = 0; c < nClasses; c++) s2Min = Math.min(s2Min, 1 / rows.wg2[classRows[classStart[c]]]);
  if (!(c0 >= 0 && c0 < 0.5 * s2Min)) return undefined;
  let leaves = 1;
  while (leaves < nClasses) leaves *= 2;
  const side = (): Side => ({
    p: new Float64Array(nClasses),
    v: new Float64Array(nClasses),
    win: new Int32Array(leaves),
    slack: new Float64Array(leaves),
    maxLo: new Float64Array(leaves),
    minHi: new Float64Array(leaves),
  });
  const above = side();
  const below = side();
  let vMax = 0;
  for (let c = 0; c < nClasses; c++) {
    const t = classRows[classStart[c]];
    // s² = 1/(w·g²) from the product as computed (within a few u of the exact value), x = I/g
    const v = 1 / Math.sqrt(1 / rows.wg2[t] - c0);
    const p = (rows.intensity[t] / rows.g[t]) * v;
    above.p[c] = p;
    above.v[c] = v;
    below.p[c] = -p;
    below.v[c] = -v;
    vMax = Math.max(vMax, v);
  }
  const depth = Math.log2(leaves);
  const tournament: Tournament = {
    classOf,
    classStart,
    classRows,
    classHead: classStart.slice(0, nClasses),
    nClasses,
    leaves,
    c0,
    vMax,
    s2Min,
    above,
    below,
    mu,
    stackNode: new Int32Array(4 * depth + 8),
    stackBound: new Float64Array(4 * depth + 8),
    tested: new Int32Array(nClasses),
    nTested: 0,
  };
  for (let node = leaves - 1; node >= 1; node--) {
    decide(tournament, above, node, mu);
    decide(tournament, below, node, mu);
  }
  return tournament;
}

/**
 * Classes of identical rows among the remaining rows of `rows[0..m)` (by hashing their values): class ids in order of
 * first row, each class's rows ascending.
 */
function rowClasses(
  rows: TournamentRows,
  m: number,
): { classOf: Int32Array; classStart: Int32Array; classRows: Int32Array; nClasses: number } {
  const { intensity, g, w, wgI, wg2, alive } = rows;
  let size = 16;
  while (size < 2 * m) size *= 2;
  const table = new Int32Array(size).fill(-1);
  const classOf = new Int32Array(m).fill(-1);
  const firstRow = new Int32Array(m);
  const count = new Int32Array(m + 1);
  const bits = new Float64Array(3);
  const words = new Int32Array(bits.buffer);
  let nClasses = 0;
  for (let t = 0; t < m; t++) {
    if (alive[t] === 0) continue;
    bits[0] = intensity[t];
    bits[1] = g[t];
    bits[2] = w[t];
    let h = 0x811c9dc5;
    for (let k = 0; k < 6; k++) h = Math.imul(h ^ words[k], 0x01000193) ^ (h >>> 15);
    let i = h & (size - 1);
    for (;;) {
      const c = table[i];
      if (c < 0) {
        table[i] = nClasses;
        firstRow[nClasses] = t;
        classOf[t] = nClasses++;
        break;
      }
      const f = firstRow[c];
      if (intensity[f] === intensity[t] && g[f] === g[t] && w[f] === w[t] && wgI[f] === wgI[t] && wg2[f] === wg2[t]) {
        classOf[t] = c;
        break;
      }
      i = (i + 1) & (size - 1);
    }
    count[classOf[t] + 1]++;
  }
  const classStart = new Int32Array(nClasses + 1);
  for (let c = 0; c < nClasses; c++) classStart[c + 1] = classStart[c] + count[c + 1];
  const next = classStart.slice(0, nClasses);
  const classRows = new Int32Array(classStart[nClasses]);
  for (let t = 0; t < m; t++) if (classOf[t] >= 0) classRows[next[classOf[t]]++] = t;
  return { classOf, classStart, classRows, nClasses };
}

/** The winning class of a node (a leaf: its class while it has a row left, else −1). */
function winner(tournament: Tournament, side: Side, node: number): number {
  if (node < tournament.leaves) return side.win[node];
  const c = node - tournament.leaves;
  return c < tournament.nClasses && tournament.classHead[c] < tournament.classStart[c + 1] ? c : -1;
}

/**
 * Decides inner node `node` from its children (which hold at `mu`): its winner at `mu`, the interval on which that
 * provably stays the winner (or, within rounding of the two lines' crossing, an interval around it and the slack of
 * the lines there), and the subtree's interval.
 */
function decide(tournament: Tournament, side: Side, node: number, mu: number): boolean {
  const { leaves } = tournament;
  const { p, v, slack, maxLo, minHi } = side;
  const a = 2 * node;
  const b = a + 1;
  const wa = winner(tournament, side, a);
  const wb = winner(tournament, side, b);
  const inner = a < leaves;
  const sa = inner ? slack[a] : 0;
  const sb = inner ? slack[b] : 0;
  let lo = inner ? Math.max(maxLo[a], maxLo[b]) : -Infinity;
  let hi = inner ? Math.min(minHi[a], minHi[b]) : Infinity;
  if (wa < 0 || wb < 0) return store(side, node, wa < 0 ? wb : wa, wa < 0 ? sb : sa, lo, hi);
  let w: number;
  let eps = 0;
  if (v[wa] === v[wb]) {
    // parallel lines: the larger p everywhere
    w = p[wa] >= p[wb] ? wa : wb;
  } else {
    // the steeper line (larger v) is the larger one below the crossing μ× = Δp/Δv
    const steep = v[wa] > v[wb] ? wa : wb;
    const flat = steep === wa ? wb : wa;
    const dp = p[steep] - p[flat];
    const dv = v[steep] - v[flat];
    const cross = dp / dv;
    // each of the three operations rounds once: cross is within 3.1u·|cross| of μ× (|dp|, |dv| normal), or within
    // the spacing of subnormals when it is one
    const margin = 6 * U * Math.abs(cross) + 4 * Number.MIN_VALUE;
    const tiny = Math.abs(dp) < 1e-280 || Math.abs(dv) < 1e-280 || !Number.isFinite(cross);
    if (!tiny && mu < cross - margin) {
      w = steep;
      hi = Math.min(hi, cross - margin);
    } else if (!tiny && mu > cross + margin) {
      w = flat;
      lo = Math.max(lo, cross + margin);
    } else if (!tiny) {
      // within rounding of the crossing: the steep line, up to |Δv|·|μ − μ×| on [cross − 2·margin, cross + 2·margin]
      w = steep;
      lo = Math.max(lo, cross - 2 * margin);
      hi = Math.min(hi, cross + 2 * margin);
      eps = Math.abs(dv) * 3 * margin * (1 + 8 * U) + Number.MIN_VALUE;
    } else {
      // no bound on the crossing: the larger line at mu, with no bound on its lead (the pass refreshes)
      w = p[wa] - mu * v[wa] >= p[wb] - mu * v[wb] ? wa : wb;
      eps = Infinity;
    }
  }
  return store(side, node, w, w === wa ? Math.max(sa, sb + eps) : Math.max(sb, sa + eps), lo, hi);
}

/** Stores a node's decision; returns whether it differs from the one it replaces. */
function store(side: Side, node: number, w: number, slack: number, lo: number, hi: number): boolean {
  const same = side.win[node] === w && side.slack[node] === slack && side.maxLo[node] === lo && side.minHi[node] === hi;
  side.win[node] = w;
  side.slack[node] = slack;
  side.maxLo[node] = lo;
  side.minHi[node] = hi;
  return !same;
}

/** Brings every node of `side` below `node` that does not hold at `mu` up to date (children first). */
function moveTo(tournament: Tournament, side: Side, node: number, mu: number): void {
  if (side.maxLo[node] <= mu && mu <= side.minHi[node]) return;
  if (2 * node < tournament.leaves) {
    moveTo(tournament, side, 2 * node, mu);
    moveTo(tournament, side, 2 * node + 1, mu);
  }
  decide(tournament, side, node, mu);
}

/**
 * Takes row t out after `rows.alive[t]` was cleared: its class's first row moves on, and when the class has no row
 * left the nodes above its leaf are decided again (at the μ the tournament holds at), up to the first that stays as
 * it was. O(log m).
 */
export function removeTournamentRow(tournament: Tournament, rows: TournamentRows, t: number): void {
  const c = tournament.classOf[t];
  if (c < 0) return;
  const end = tournament.classStart[c + 1];
  let h = tournament.classHead[c];
  while (h < end && rows.alive[tournament.classRows[h]] === 0) h++;
  tournament.classHead[c] = h;
  if (h < end) return;
  // a node decided as before leaves every node above it as it was
  for (let node = (tournament.leaves + c) >> 1; node >= 1; node >>= 1) {
    if (!decide(tournament, tournament.above, node, tournament.mu)) break;
  }
  for (let node = (tournament.leaves + c) >> 1; node >= 1; node >>= 1) {
    if (!decide(tournament, tournament.below, node, tournament.mu)) break;
  }
}

/** An upper bound of the real value p − μ·v of class c's line (the computed value plus its rounding). */
function lineUpper(side: Side, c: number, mu: number): number {
  const pc = side.p[c];
  const term = mu * side.v[c];
  return pc - term + 2.02 * U * (Math.abs(pc) + Math.abs(term));
}

/** An upper bound over the classes below `node` (a leaf or an inner node holding at mu) of their lines. */
function subtreeUpper(tournament: Tournament, side: Side, node: number, mu: number): number {
  const w = winner(tournament, side, node);
  if (w < 0) return -Infinity;
  const bound = lineUpper(side, w, mu);
  return node < tournament.leaves ? bound + side.slack[node] : bound;
}

/**
 * The tournament is built anew once the drift of c from c₀ widens the lines' bound by this factor, or by 2/n on n
 * remaining rows when that is larger (c drifts by about 1/n² of itself a pass; a larger drift means a few more
 * classes searched a pass, a rebuild costs O(n)).
 */
const MAX_DRIFT = 1e-5;

/**
 * DIALS's pass from the running sums: the row DIALS rejects (its largest z > zmax, the first in row order among
 * identical rows), DONE when it rejects none, REFRESH when the bounds cannot tell (then DIALS's pass rejects one of
 * `tested` or none), REBUILD when c has drifted too far.
 *
 * The candidate is the root winner of the tournament whose root line is larger; its z is computed as DIALS does. Every
 * other class is below one of the nodes hanging off the candidate's path or below the other tournament's root: such
 * a node whose bound on DIALS's z (from its winner's line and slack) is at most zmax, or below the candidate's lower
 * bound, is done with; the others are searched (branch and bound), their classes' z computed, a larger one becoming
 * the candidate. The candidate is returned only when its lower bound beats zmax and every tested class's upper bound.
 */
export function tournamentPass(tournament: Tournament, rows: TournamentRows, q: TournamentQuery, zmax: number): number {
  tournament.nTested = 0;
  const { sumI, sum2, alpha, beta } = q;
  const mu = sumI / sum2;
  // exact z ≤ k·(line + e0) for every class: c's drift from c0, v's and p's rounding, x's rounding and μ's error
  const q0 = tournament.s2Min * (1 - 4 * U) - q.cHi;
  if (!(q0 > 0)) return REFRESH;
  const drift = Math.sqrt(1 + Math.max(0, q.cHi - tournament.c0) / q0);
  if (drift - 1 > Math.max(MAX_DRIFT, 2 / q.n)) return REBUILD;
  const { above, below, leaves, stackNode, stackBound, classRows, classHead, tested } = tournament;
  moveTo(tournament, above, 1, mu);
  moveTo(tournament, below, 1, mu);
  tournament.mu = mu;
  // DIALS's z ≤ (1 + alpha)·exact + beta ≤ kUp·(line + e0) + betaUp (all rounding inside the factors)
  const kUp = (1 + alpha) * drift * (1 + 48 * U);
  const betaUp = beta * (1 + 8 * U);
  const e0 = (2.03 * U * q.xMax + q.eMu) * tournament.vMax * (1 + 4 * U);
  // |DIALS's z − the z computed here| ≤ 2(alpha·exact + beta) with exact ≤ (z + beta)/(1 − alpha): errA·z + errB
  const errA = ((2 * alpha) / (1 - alpha)) * (1 + 8 * U);
  const errB = 2 * ((alpha * beta) / (1 - alpha) + beta) * (1 + 8 * U);
  const { intensity, g, w: variance, wgI, wg2 } = rows;
  const upAbove = kUp * (subtreeUpper(tournament, above, 1, mu) + e0) + betaUp;
  const upBelow = kUp * (subtreeUpper(tournament, below, 1, mu) + e0) + betaUp;
  if (Math.max(upAbove, upBelow) <= zmax) return DONE;
  const first = upAbove >= upBelow ? above : below;
  let best = first.win[1];
  if (best < 0) return REFRESH;
  let bestZ = -Infinity;
  let bestLower = -Infinity;
  let bestUpper = -Infinity;
  let othersUpper = -Infinity;
  // stack entries: a node, plus 2·leaves for the second tournament; the candidate's own leaf first
  const other = 2 * leaves;
  const firstOffset = first === above ? 0 : other;
  let sp = 0;
  stackNode[sp] = other - firstOffset + 1;
  stackBound[sp++] = first === above ? upBelow : upAbove;
  for (let node = leaves + best; node > 1; node >>= 1) {
    stackNode[sp] = firstOffset + (node ^ 1);
    stackBound[sp++] = kUp * (subtreeUpper(tournament, first, node ^ 1, mu) + e0) + betaUp;
  }
  stackNode[sp] = firstOffset + leaves + best;
  stackBound[sp++] = Infinity;
  best = -1;
  while (sp > 0) {
    sp--;
    const entry = stackNode[sp];
    if (stackBound[sp] <= zmax || stackBound[sp] < bestLower) continue;
    const side = entry >= other ? below : above;
    const node = entry >= other ? entry - other : entry;
    if (node < leaves) {
      for (let child = 2 * node; child <= 2 * node + 1; child++) {
        const bound = kUp * (subtreeUpper(tournament, side, child, mu) + e0) + betaUp;
        if (bound <= zmax || bound < bestLower) continue;
        stackNode[sp] = entry - node + child;
        stackBound[sp++] = bound;
      }
      continue;
    }
    const c = winner(tournament, side, node);
    if (c < 0 || c === best) continue;
    const t = classRows[classHead[c]];
    tested[tournament.nTested++] = t;
    const gi = g[t];
    const othersWg2 = sum2 - wg2[t];
    // a zero (Σwg²)_others gives z = NaN here, which makes othersUpper NaN and the pass REFRESH: DIALS's fresh pass
    // then gives that row leaveOneOutZ's ZERO_SUM_Z, as the row-by-row passes do
    const z = Math.abs(
      (intensity[t] - (gi * (sumI - wgI[t])) / othersWg2) / Math.sqrt(variance[t] + (gi * gi) / othersWg2),
    );
    const d = errA * z + errB;
    if (z > bestZ) {
      othersUpper = Math.max(othersUpper, bestUpper);
      best = c;
      bestZ = z;
      bestLower = z - d;
      bestUpper = z + d;
    } else {
      othersUpper = Math.max(othersUpper, z + d);
    }
  }
  if (best >= 0 && bestLower > zmax && bestLower > othersUpper) return classRows[classHead[best]];
  if (Math.max(bestUpper, othersUpper) <= zmax) return DONE;
  return REFRESH;
}
