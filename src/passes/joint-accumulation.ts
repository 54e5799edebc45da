/**
 * The sums of one accumulation pass (objective, gradient `JᵀWr`, optionally the normal matrix `JᵀWJ` and the
 * matrix-free block sums), and the fixed-order reduction that adds the partial sums of shards.
 *
 * @packageDocumentation
 */

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

/** `into += from`, element by element (arrays of one length). */
export function addInto(into: Float64Array, from: Float64Array): void {
  for (let i = 0; i < from.length; i++) into[i] += from[i];
}

/**
 * `into += band` on the upper triangle (diagonal included) of rows `[rowBegin, rowEnd)` of a P×P row-major matrix,
 * `band` holding those rows (element (r, c) at (r − rowBegin)·P + c), element by element; the band's elements added
 * are zeroed (ready for the next band).
 */
export function moveUpperRowsInto(
  into: Float64Array,
  band: Float64Array,
  P: number,
  rowBegin: number,
  rowEnd: number,
): void {
  for (let r = rowBegin; r < rowEnd; r++) {
    const row = r * P;
    const from = (r - rowBegin) * P;
    for (let c = r; c < P; c++) {
      into[row + c] += band[from + c];
      band[from + c] = 0;
    }
  }
}
