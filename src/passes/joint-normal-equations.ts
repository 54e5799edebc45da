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
import type { JointAccumulation, LowRankSums } from "./joint-accumulation.ts";
import {
  precomputedFactor,
  smootherFactor,
  type JointModelState,
  type PrecomputedSmootherWeights,
} from "./inverse-scales.ts";
import type { GroupCache } from "./low-rank-operator.ts";
import type { RowColumns } from "../observations/row-columns.ts";

/** Observations sorted by group, then by still: the row columns of some groups with their CSR offsets. */
export interface GroupedColumns {
  /** CSR offsets: rows of group h are `groupStart[h] .. groupStart[h+1]` (absolute rows). */
  readonly groupStart: Int32Array;
  /**
   * Absolute row of index 0 of the row columns (a view of the rows of some groups, e.g. a shard read from a scratch
   * file): row o is at index `o − rowOffset`. @defaultValue 0
   */
  readonly rowOffset?: number;
  /**
   * The row columns (float32 storage; the passes accumulate in float64). Only the outlier step reads the variances:
   * elsewhere they may have length 0.
   */
  readonly rows: RowColumns;
  /**
   * Precomputed normalised smoother weights per row (they depend on |q| only), or undefined to evaluate the smoother
   * per row. See {@link precomputeSmootherWeights}.
   */
  readonly smootherWeights?: PrecomputedSmootherWeights;
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

// stays whole: the hot loop over every row (locals stay in registers; a split would add calls per group or row)
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
  const { groupStart } = columns;
  const { still, intensity, weight, qMagnitude } = columns.rows;
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
