/**
 * The hot loop of joint Bragg + diffuse scaling: one pass over observations grouped by reference (ASU hkl or voxel)
 * that eliminates each group's reference exactly (DIALS's closed form `Ih = Σwg I / Σwg²`), and accumulates the
 * objective, the gradient `JᵀWr` and, optionally, the normal matrix `JᵀWJ` of the reduced (variable-projection)
 * problem, including the `dIh/dp` terms. Unchecked: the caller (`JointScalingProblem`) validates once.
 *
 * Model: `g_o = b_s · a(|q|_o)` with parameters `θ_s = ln b_s` (one per still) followed by the free smoother values
 * `c_1 … c_{K−1}` (`c_0 ≡ 1`). Per observation `dg/dθ_s = g` and `dg/dc_j = b_s·ŵ_j(|q|)` (normalised weights).
 * For a group with members o: `r_o = I_o − g_o Ih`, `J_o = −(Ih·d_o + g_o·v)`, `v = Σ_o w_o (I_o − 2 g_o Ih) d_o / S`,
 * `S = Σ w g²`, so `JᵀWJ = Σ_o w Ih² d_o d_oᵀ + Σ_groups [Ih (a vᵀ + v aᵀ) + S v vᵀ]` with `a = Σ_o w g d_o`. The
 * group terms cost m² for a group seen by m stills: never a dense observations × parameters matrix.
 *
 * @packageDocumentation
 */
import { smootherWeightsAt, type SmootherKernelState } from "../dials/smoother-weights.ts";

/** Observations sorted by group, then by still (struct of arrays). */
export interface GroupedColumns {
  /** CSR offsets: rows of group h are `groupStart[h] .. groupStart[h+1]` (absolute rows). */
  readonly groupStart: Int32Array;
  /**
   * Absolute row of index 0 of the row arrays below (a view of the rows of some groups, e.g. a shard read from a
   * scratch file): row o is at index `o − rowOffset`. @defaultValue 0
   */
  readonly rowOffset?: number;
  /** Still (parameter) index of each row. */
  readonly still: Int32Array;
  /** Intensity of each row (float32 storage; the passes accumulate in float64). */
  readonly intensity: Float32Array;
  /** Weight 1/σ² of each row; 0 excludes the row (outlier or unusable). */
  readonly weight: Float32Array;
  /** |q| of each row (1/Å), the smoother's coordinate. */
  readonly qMagnitude: Float32Array;
  /**
   * Precomputed normalised smoother weights per row (they depend on |q| only), or undefined to evaluate the smoother
   * per row. See {@link precomputeSmootherWeights}.
   */
  readonly smootherWeights?: PrecomputedSmootherWeights;
}

/** Normalised smoother weights of every row: row o uses values `first[o] … first[o] + count[o] − 1`. */
export interface PrecomputedSmootherWeights {
  /** Weights per row slot. */
  readonly stride: number;
  /** Index of the first value used by each row. */
  readonly first: Int32Array;
  /** Number of values used by each row (≤ stride). */
  readonly count: Uint8Array;
  /** ŵ_j = w_j / Σw, row o at `o·stride`. */
  readonly weights: Float64Array;
}

/**
 * Normalised smoother weights of every row (clamped |q|), computed once: the passes then need no `exp`.
 *
 * @param smoother - Smoother constants and clamp range.
 * @param qMagnitude - |q| per row.
 * @param allocate - Allocator for the arrays (e.g. shared memory).
 */
export function precomputeSmootherWeights(
  smoother: SmootherKernelState & { readonly qMin: number; readonly qMax: number },
  qMagnitude: Float32Array,
  allocate: { f64: (n: number) => Float64Array; i32: (n: number) => Int32Array; u8: (n: number) => Uint8Array },
): PrecomputedSmootherWeights {
  const n = qMagnitude.length;
  const stride = Math.min(8, smoother.nValues);
  const first = allocate.i32(n);
  const count = allocate.u8(n);
  const weights = allocate.f64(n * stride);
  const w = new Float64Array(8);
  const c = new Int32Array(2);
  for (let o = 0; o < n; o++) {
    const q = qMagnitude[o];
    const x = q < smoother.qMin ? smoother.qMin : q > smoother.qMax ? smoother.qMax : q;
    const f = smootherWeightsAt(smoother, x, w, c);
    const m = Math.min(c[0], stride);
    let sumW = 0;
    for (let j = 0; j < m; j++) sumW += w[j];
    first[o] = f;
    count[o] = m;
    for (let j = 0; j < m; j++) weights[o * stride + j] = sumW > 0 ? w[j] / sumW : 0;
  }
  return { stride, first, count, weights };
}

/** a(|q|) of row o from precomputed weights, and (when `dOut` is given) its normalised weights for the free values. */
function precomputedFactor(
  pre: PrecomputedSmootherWeights,
  values: Float64Array,
  o: number,
  dOut: Float64Array | undefined,
): number {
  const base = o * pre.stride;
  const first = pre.first[o];
  const m = pre.count[o];
  const weights = pre.weights;
  let a = 0;
  for (let j = 0; j < m; j++) a += weights[base + j] * values[first + j];
  if (dOut !== undefined) {
    dOut.fill(0);
    for (let j = 0; j < m; j++) {
      const idx = first + j;
      if (idx > 0) dOut[idx - 1] = weights[base + j];
    }
  }
  return a;
}

/** The current model: per-still scales and the optional smoother. */
export interface JointModelState {
  /** b_s = exp(θ_s), one per still. */
  readonly scales: Float64Array;
  /** Smoother constants and values (values[0] is the fixed first value), or undefined when the smoother is off. */
  readonly smoother:
    (SmootherKernelState & { readonly values: Float64Array; readonly qMin: number; readonly qMax: number }) | undefined;
}

/** Sums produced by one accumulation pass over a range of groups. */
export interface JointAccumulation {
  /** ½ Σ w r². */
  objective: number;
  /** Number of rows with non-zero weight in groups with Σwg² > 0. */
  nObservations: number;
  /** JᵀWr, length P = nStills + K − 1. */
  readonly gradient: Float64Array;
  /**
   * JᵀWJ (P×P row-major), or undefined when only the objective/gradient are wanted. The kernel fills the upper
   * triangle only; {@link symmetrizeUpper} copies it to the lower one.
   */
  readonly matrix: Float64Array | undefined;
  /** Σ |I/g − Ih| over rows in groups with ≥ 2 used members (R-factor numerator). */
  rNumerator: number;
  /** Σ |I/g| over the same rows (R-factor denominator). */
  rDenominator: number;
  /**
   * The parts of `JᵀWJ` that are not per-group low-rank terms, for the matrix-free operator (see {@link GroupCache}),
   * or undefined when not wanted.
   */
  readonly lowRank: LowRankSums | undefined;
}

/**
 * The "block" part of the normal matrix that the matrix-free operator adds to the per-group low-rank terms:
 * `Σ_o w Ih² d_o d_oᵀ` (diagonal on θ, dense θ×c and c×c blocks), plus the full diagonal of `JᵀWJ`.
 */
export interface LowRankSums {
  /** Σ Ih² Σ_o w g² per still (θθ diagonal of the first term), length nStills. */
  readonly thetaDiagonal: Float64Array;
  /** θ×c block of the first term, nStills × kf row-major. */
  readonly thetaSmoother: Float64Array;
  /** c×c block of the first term, kf × kf. */
  readonly smootherBlock: Float64Array;
  /** The full diagonal of `JᵀWJ` (both terms), length P (for the preconditioner and the gauge term). */
  readonly diagonal: Float64Array;
}

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

/**
 * Allocates a zeroed accumulation for P parameters.
 *
 * @param nParameters - P.
 * @param withMatrix - Whether to allocate the dense P×P matrix.
 * @param lowRank - `{ nStills, nFreeSmoother }` to allocate the matrix-free sums, or undefined.
 */
export function createJointAccumulation(
  nParameters: number,
  withMatrix: boolean,
  lowRank?: { nStills: number; nFreeSmoother: number },
): JointAccumulation {
  return {
    objective: 0,
    nObservations: 0,
    gradient: new Float64Array(nParameters),
    matrix: withMatrix ? new Float64Array(nParameters * nParameters) : undefined,
    rNumerator: 0,
    rDenominator: 0,
    lowRank:
      lowRank === undefined
        ? undefined
        : {
            thetaDiagonal: new Float64Array(lowRank.nStills),
            thetaSmoother: new Float64Array(lowRank.nStills * lowRank.nFreeSmoother),
            smootherBlock: new Float64Array(lowRank.nFreeSmoother * lowRank.nFreeSmoother),
            diagonal: new Float64Array(nParameters),
          },
  };
}

/** Copies the strict upper triangle of a P×P row-major matrix onto its lower one, in cache-sized tiles. */
export function symmetrizeUpper(matrix: Float64Array, P: number): void {
  const T = 64;
  for (let r0 = 0; r0 < P; r0 += T) {
    const r1 = Math.min(r0 + T, P);
    for (let c0 = r0; c0 < P; c0 += T) {
      const c1 = Math.min(c0 + T, P);
      for (let r = r0; r < r1; r++) {
        const row = r * P;
        for (let c = Math.max(c0, r + 1); c < c1; c++) matrix[c * P + r] = matrix[row + c];
      }
    }
  }
}

/** Resets an accumulation to zero (reused per shard). */
export function clearJointAccumulation(acc: JointAccumulation): void {
  acc.objective = 0;
  acc.nObservations = 0;
  acc.rNumerator = 0;
  acc.rDenominator = 0;
  acc.gradient.fill(0);
  acc.matrix?.fill(0);
  if (acc.lowRank !== undefined) {
    acc.lowRank.thetaDiagonal.fill(0);
    acc.lowRank.thetaSmoother.fill(0);
    acc.lowRank.smootherBlock.fill(0);
    acc.lowRank.diagonal.fill(0);
  }
}

/** `into += from`, element by element (the fixed-order shard reduction). */
export function addJointAccumulation(into: JointAccumulation, from: JointAccumulation): void {
  into.objective += from.objective;
  into.nObservations += from.nObservations;
  into.rNumerator += from.rNumerator;
  into.rDenominator += from.rDenominator;
  addArray(into.gradient, from.gradient);
  if (into.matrix !== undefined && from.matrix !== undefined) addArray(into.matrix, from.matrix);
  if (into.lowRank !== undefined && from.lowRank !== undefined) {
    addArray(into.lowRank.thetaDiagonal, from.lowRank.thetaDiagonal);
    addArray(into.lowRank.thetaSmoother, from.lowRank.thetaSmoother);
    addArray(into.lowRank.smootherBlock, from.lowRank.smootherBlock);
    addArray(into.lowRank.diagonal, from.lowRank.diagonal);
  }
}

function addArray(into: Float64Array, from: Float64Array): void {
  for (let i = 0; i < into.length; i++) into[i] += from[i];
}

/** Scratch space reused across groups (sized for the largest group). */
interface Scratch {
  supStill: Int32Array;
  supA: Float64Array;
  supV: Float64Array;
  supR: Float64Array;
  supE: Float64Array;
  smA: Float64Array;
  smV: Float64Array;
  smR: Float64Array;
  smCC: Float64Array;
  w3: Float64Array;
  count: Int32Array;
}

function createScratch(maxGroupSize: number, nFreeSmoother: number): Scratch {
  const m = Math.max(1, maxGroupSize);
  const k = Math.max(1, nFreeSmoother);
  return {
    supStill: new Int32Array(m),
    supA: new Float64Array(m),
    supV: new Float64Array(m),
    supR: new Float64Array(m),
    supE: new Float64Array(m * k),
    smA: new Float64Array(k),
    smV: new Float64Array(k),
    smR: new Float64Array(k),
    smCC: new Float64Array(k * k),
    w3: new Float64Array(8),
    count: new Int32Array(2),
  };
}

/** Largest number of rows in one group. */
export function maxGroupSize(groupStart: Int32Array): number {
  let m = 0;
  for (let h = 0; h + 1 < groupStart.length; h++) {
    const size = groupStart[h + 1] - groupStart[h];
    if (size > m) m = size;
  }
  return m;
}

/**
 * Smoother factor a(|q|) at one point and, when `dOut` is given, its normalised weights ŵ_j for the free values
 * (index j − 1; the fixed first value has no column). Returns a(|q|).
 */
export function smootherFactor(
  smoother: NonNullable<JointModelState["smoother"]>,
  q: number,
  w3: Float64Array,
  count: Int32Array,
  dOut: Float64Array | undefined,
): number {
  const x = q < smoother.qMin ? smoother.qMin : q > smoother.qMax ? smoother.qMax : q;
  const first = smootherWeightsAt(smoother, x, w3, count);
  const n = count[0];
  let sumW = 0;
  let sumWV = 0;
  const values = smoother.values;
  for (let j = 0; j < n; j++) {
    sumW += w3[j];
    sumWV += w3[j] * values[first + j];
  }
  if (dOut !== undefined) {
    dOut.fill(0);
    for (let j = 0; j < n; j++) {
      const idx = first + j;
      if (idx > 0) dOut[idx - 1] = sumW > 0 ? w3[j] / sumW : 0;
    }
  }
  return sumW > 0 ? sumWV / sumW : 0;
}

/**
 * The model's inverse scale `g = b_still · a(|q|)` of rows `[begin, end)`, into `out` (float32, like the columns).
 * Unchecked.
 */
export function inverseScalesInRange(
  state: JointModelState,
  still: Int32Array,
  qMagnitude: Float32Array,
  begin: number,
  end: number,
  out: Float32Array,
): void {
  const { scales, smoother } = state;
  if (smoother === undefined) {
    for (let o = begin; o < end; o++) out[o] = scales[still[o]];
    return;
  }
  const w3 = new Float64Array(8);
  const count = new Int32Array(2);
  for (let o = begin; o < end; o++) {
    out[o] = scales[still[o]] * smootherFactor(smoother, qMagnitude[o], w3, count, undefined);
  }
}

/**
 * Accumulates objective, gradient and (optionally) the normal matrix over groups `[groupBegin, groupEnd)` into `out`.
 * With `cache` (and `out.lowRank`), also writes the per-group low-rank factors of the matrix-free operator.
 * Unchecked: columns must be consistent and sorted by group then still.
 */
export function accumulateJointNormalEquations(
  columns: GroupedColumns,
  state: JointModelState,
  groupBegin: number,
  groupEnd: number,
  out: JointAccumulation,
  cache?: GroupCache,
): void {
  const { groupStart, still, intensity, weight, qMagnitude } = columns;
  const rowOffset = columns.rowOffset ?? 0;
  const pre = columns.smootherWeights;
  const scales = state.scales;
  const smoother = state.smoother;
  const nStills = scales.length;
  const kf = smoother === undefined ? 0 : smoother.nValues - 1;
  const P = nStills + kf;
  const grad = out.gradient;
  const N = out.matrix;
  let maxSize = 0;
  for (let h = groupBegin; h < groupEnd; h++) {
    const size = groupStart[h + 1] - groupStart[h];
    if (size > maxSize) maxSize = size;
  }
  const sc = createScratch(maxSize, kf);
  const dj = new Float64Array(Math.max(1, kf));
  const { supStill, supA, supV, supR, supE, smA, smV, smR, smCC, w3, count } = sc;
  let objective = 0;
  let nObs = 0;
  let rNum = 0;
  let rDen = 0;

  for (let h = groupBegin; h < groupEnd; h++) {
    const start = groupStart[h] - rowOffset;
    const end = groupStart[h + 1] - rowOffset;
    // Pass 1: the group's reference.
    let S = 0;
    let T = 0;
    let nUsed = 0;
    for (let o = start; o < end; o++) {
      const w = weight[o];
      if (w === 0) continue;
      const a =
        smoother === undefined
          ? 1
          : pre !== undefined
            ? precomputedFactor(pre, smoother.values, o, undefined)
            : smootherFactor(smoother, qMagnitude[o], w3, count, undefined);
      const g = scales[still[o]] * a;
      S += w * g * g;
      T += w * g * intensity[o];
      nUsed++;
    }
    if (!(S > 0)) {
      if (cache !== undefined) cache.pairCount[h] = 0;
      continue;
    }
    const Ih = T / S;
    // Pass 2: residuals and per-still / per-smoother-value sums.
    let m = -1;
    let lastStill = -1;
    if (kf > 0) {
      smA.fill(0);
      smV.fill(0);
      smR.fill(0);
      smCC.fill(0);
    }
    let Q = 0;
    for (let o = start; o < end; o++) {
      const w = weight[o];
      if (w === 0) continue;
      const s = still[o];
      const bs = scales[s];
      const a =
        smoother === undefined
          ? 1
          : pre !== undefined
            ? precomputedFactor(pre, smoother.values, o, dj)
            : smootherFactor(smoother, qMagnitude[o], w3, count, dj);
      const g = bs * a;
      const I = intensity[o];
      const r = I - g * Ih;
      objective += 0.5 * w * r * r;
      nObs++;
      if (nUsed >= 2 && g !== 0) {
        const scaled = I / g;
        rNum += Math.abs(scaled - Ih);
        rDen += Math.abs(scaled);
      }
      const u = w * (I - 2 * g * Ih);
      if (s !== lastStill) {
        m++;
        supStill[m] = s;
        supA[m] = 0;
        supV[m] = 0;
        supR[m] = 0;
        for (let k = 0; k < kf; k++) supE[m * kf + k] = 0;
        lastStill = s;
      }
      const wg = w * g;
      supA[m] += wg * g;
      supV[m] += u * g;
      supR[m] += w * r * g;
      Q += w * r * g;
      for (let k = 0; k < kf; k++) {
        const d = bs * dj[k];
        if (d === 0) continue;
        smA[k] += wg * d;
        smV[k] += u * d;
        smR[k] += w * r * d;
        supE[m * kf + k] += wg * d;
        for (let l = 0; l < kf; l++) smCC[k * kf + l] += w * d * bs * dj[l];
      }
    }
    const nm = m + 1;
    const invS = 1 / S;
    for (let i = 0; i < nm; i++) {
      grad[supStill[i]] += -Ih * supR[i] - Q * supV[i] * invS;
    }
    for (let k = 0; k < kf; k++) {
      grad[nStills + k] += -Ih * smR[k] - Q * smV[k] * invS;
    }
    if (cache !== undefined && out.lowRank !== undefined) {
      writeGroupCache(cache, out.lowRank, h, nm, Ih, S, nStills, kf, sc);
    }
    if (N === undefined) continue;
    const Ih2 = Ih * Ih;
    for (let i = 0; i < nm; i++) {
      const pi = supStill[i];
      const ai = supA[i];
      const vi = supV[i] * invS;
      const row = pi * P;
      N[row + pi] += Ih2 * ai;
      // upper triangle only (supStill is increasing); see symmetrizeUpper
      const c1 = Ih * ai;
      const c2 = Ih * vi;
      const c3 = S * vi;
      for (let j = i; j < nm; j++) {
        const vj = supV[j] * invS;
        N[row + supStill[j]] += c1 * vj + c2 * supA[j] + c3 * vj;
      }
      for (let k = 0; k < kf; k++) {
        const svk = smV[k] * invS;
        N[row + nStills + k] += Ih2 * supE[i * kf + k] + Ih * (ai * svk + vi * smA[k]) + S * vi * svk;
      }
    }
    for (let k = 0; k < kf; k++) {
      const svk = smV[k] * invS;
      const rowK = (nStills + k) * P + nStills;
      for (let l = k; l < kf; l++) {
        const svl = smV[l] * invS;
        N[rowK + l] += Ih2 * smCC[k * kf + l] + Ih * (smA[k] * svl + svk * smA[l]) + S * svk * svl;
      }
    }
  }
  out.objective += objective;
  out.nObservations += nObs;
  out.rNumerator += rNum;
  out.rDenominator += rDen;
}

/** Stores one group's low-rank factors and adds its block and diagonal terms (matrix-free pass). */
function writeGroupCache(
  cache: GroupCache,
  sums: LowRankSums,
  h: number,
  nm: number,
  Ih: number,
  S: number,
  nStills: number,
  kf: number,
  sc: Scratch,
): void {
  const { supStill, supA, supV, supE, smA, smV, smCC } = sc;
  const invS = 1 / S;
  const Ih2 = Ih * Ih;
  const base = cache.pairStart[h] - (cache.pairOffset ?? 0);
  cache.pairCount[h] = nm;
  cache.groupIh[h] = Ih;
  cache.groupS[h] = S;
  const diag = sums.diagonal;
  for (let i = 0; i < nm; i++) {
    const pi = supStill[i];
    const ai = supA[i];
    const vi = supV[i] * invS;
    cache.pairStill[base + i] = pi;
    cache.pairA[base + i] = ai;
    cache.pairV[base + i] = vi;
    sums.thetaDiagonal[pi] += Ih2 * ai;
    diag[pi] += Ih2 * ai + 2 * Ih * ai * vi + S * vi * vi;
    for (let k = 0; k < kf; k++) sums.thetaSmoother[pi * kf + k] += Ih2 * supE[i * kf + k];
  }
  for (let k = 0; k < kf; k++) {
    const svk = smV[k] * invS;
    cache.groupSmootherA[h * kf + k] = smA[k];
    cache.groupSmootherV[h * kf + k] = svk;
    for (let l = 0; l < kf; l++) sums.smootherBlock[k * kf + l] += Ih2 * smCC[k * kf + l];
    diag[nStills + k] += Ih2 * smCC[k * kf + k] + 2 * Ih * smA[k] * svk + S * svk * svk;
  }
}

/**
 * y = (JᵀWJ)·x from the sums and group factors of a matrix-free pass (no gauge, damping or restraints). Unchecked.
 * Cost: O(pairs + groups·kf + nStills·kf).
 */
export function applyLowRankOperator(
  sums: LowRankSums,
  cache: GroupCache,
  nStills: number,
  kf: number,
  x: Float64Array,
  y: Float64Array,
): void {
  applyLowRankBlocks(sums, nStills, kf, x, y);
  addLowRankGroupTerms(cache, nStills, kf, 0, cache.pairCount.length, x, y);
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
 * work; the shards of a parallel densification). Unchecked.
 */
export function addLowRankGroupsToDenseUpper(
  cache: GroupCache,
  nStills: number,
  kf: number,
  groupBegin: number,
  groupEnd: number,
  out: Float64Array,
): void {
  const P = nStills + kf;
  const { pairStart, pairCount, pairStill, pairA, pairV, groupIh, groupS, groupSmootherA, groupSmootherV } = cache;
  const pairOffset = cache.pairOffset ?? 0;
  for (let h = groupBegin; h < groupEnd; h++) {
    const nm = pairCount[h];
    if (nm === 0) continue;
    const base = pairStart[h] - pairOffset;
    const end = base + nm;
    const Ih = groupIh[h];
    const S = groupS[h];
    addGroupThetaTerms(pairStill, pairA, pairV, base, end, Ih, S, P, out);
    if (kf === 0) continue;
    const hk = h * kf;
    for (let p = base; p < end; p++) {
      const row = pairStill[p] * P + nStills;
      const c = Ih * pairA[p] + S * pairV[p];
      const d = Ih * pairV[p];
      for (let k = 0; k < kf; k++) out[row + k] += c * groupSmootherV[hk + k] + d * groupSmootherA[hk + k];
    }
    for (let k = 0; k < kf; k++) {
      const row = (nStills + k) * P + nStills;
      const c = Ih * groupSmootherA[hk + k] + S * groupSmootherV[hk + k];
      const d = Ih * groupSmootherV[hk + k];
      for (let l = k; l < kf; l++) out[row + l] += c * groupSmootherV[hk + l] + d * groupSmootherA[hk + l];
    }
  }
}

/** The θ×θ part of one group's term in {@link addLowRankToDense} (upper triangle, pairs `[base, end)`). */
function addGroupThetaTerms(
  pairStill: Int32Array,
  pairA: Float64Array,
  pairV: Float64Array,
  base: number,
  end: number,
  Ih: number,
  S: number,
  P: number,
  out: Float64Array,
): void {
  let p = base;
  for (; p + 3 < end; p += 4) {
    const r0 = pairStill[p] * P;
    const r1 = pairStill[p + 1] * P;
    const r2 = pairStill[p + 2] * P;
    const r3 = pairStill[p + 3] * P;
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
  for (; p < end; p++) {
    const row = pairStill[p] * P;
    const c = Ih * pairA[p] + S * pairV[p];
    const d = Ih * pairV[p];
    for (let q = p; q < end; q++) out[row + pairStill[q]] += c * pairV[q] + d * pairA[q];
  }
}
