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
import { smootherWeightsAt, type SmootherKernelState } from "./smoother-weights.ts";

/** Observations sorted by group, then by still (struct of arrays). */
export interface GroupedColumns {
  /** CSR offsets: rows of group h are `groupStart[h] .. groupStart[h+1]`. */
  readonly groupStart: Int32Array;
  /** Still (parameter) index of each row. */
  readonly still: Int32Array;
  /** Intensity of each row. */
  readonly intensity: Float64Array;
  /** Weight 1/σ² of each row; 0 excludes the row (outlier or unusable). */
  readonly weight: Float64Array;
  /** |q| of each row (1/Å), the smoother's coordinate. */
  readonly qMagnitude: Float64Array;
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
  /** JᵀWJ (P×P row-major, full), or undefined when only the objective/gradient are wanted. */
  readonly matrix: Float64Array | undefined;
  /** Σ |I/g − Ih| over rows in groups with ≥ 2 used members (R-factor numerator). */
  rNumerator: number;
  /** Σ |I/g| over the same rows (R-factor denominator). */
  rDenominator: number;
}

/** Allocates a zeroed accumulation for P parameters. */
export function createJointAccumulation(nParameters: number, withMatrix: boolean): JointAccumulation {
  return {
    objective: 0,
    nObservations: 0,
    gradient: new Float64Array(nParameters),
    matrix: withMatrix ? new Float64Array(nParameters * nParameters) : undefined,
    rNumerator: 0,
    rDenominator: 0,
  };
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
    count: new Int32Array(1),
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
 * Accumulates objective, gradient and (optionally) the normal matrix over groups `[groupBegin, groupEnd)` into `out`.
 * Unchecked: columns must be consistent and sorted by group then still.
 */
export function accumulateJointNormalEquations(
  columns: GroupedColumns,
  state: JointModelState,
  groupBegin: number,
  groupEnd: number,
  out: JointAccumulation,
): void {
  const { groupStart, still, intensity, weight, qMagnitude } = columns;
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
  const { supStill, supA, supV, supR, supE, smA, smV, smR, smCC, w3, count } = sc;
  const dj = new Float64Array(Math.max(1, kf));
  let objective = 0;
  let nObs = 0;
  let rNum = 0;
  let rDen = 0;

  for (let h = groupBegin; h < groupEnd; h++) {
    const start = groupStart[h];
    const end = groupStart[h + 1];
    // Pass 1: the group's reference.
    let S = 0;
    let T = 0;
    let nUsed = 0;
    for (let o = start; o < end; o++) {
      const w = weight[o];
      if (w === 0) continue;
      const a = smoother === undefined ? 1 : smootherFactor(smoother, qMagnitude[o], w3, count, undefined);
      const g = scales[still[o]] * a;
      S += w * g * g;
      T += w * g * intensity[o];
      nUsed++;
    }
    if (!(S > 0)) continue;
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
      const a = smoother === undefined ? 1 : smootherFactor(smoother, qMagnitude[o], w3, count, dj);
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
    if (N === undefined) continue;
    const Ih2 = Ih * Ih;
    for (let i = 0; i < nm; i++) {
      const pi = supStill[i];
      const ai = supA[i];
      const vi = supV[i] * invS;
      const row = pi * P;
      N[row + pi] += Ih2 * ai;
      for (let j = 0; j < nm; j++) {
        const vj = supV[j] * invS;
        N[row + supStill[j]] += Ih * (ai * vj + vi * supA[j]) + S * vi * vj;
      }
      for (let k = 0; k < kf; k++) {
        const pk = nStills + k;
        const svk = smV[k] * invS;
        const val = Ih2 * supE[i * kf + k] + Ih * (ai * svk + vi * smA[k]) + S * vi * svk;
        N[row + pk] += val;
        N[pk * P + pi] += val;
      }
    }
    for (let k = 0; k < kf; k++) {
      const svk = smV[k] * invS;
      const rowK = (nStills + k) * P + nStills;
      for (let l = 0; l < kf; l++) {
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
