/**
 * What the threads of a joint pass share: the fixed shards (cut once, from the data only, into runs of whole groups),
 * the pass modes, and the payload every thread reads and writes (observations, model state and the results, all in
 * shared memory).
 *
 * @packageDocumentation
 */
import type { ColumnFileLayout } from "../runtime/column-file.ts";
import type { SmootherKernelState } from "../dials/smoother-weights.ts";
import { sharedFloat64 } from "../runtime/shared-arrays.ts";
import type { LowRankSums } from "./joint-accumulation.ts";
import type { GroupedColumns } from "./joint-normal-equations.ts";
import type { GroupReferenceArrays } from "./group-references.ts";
import type { GroupCache } from "./low-rank-operator.ts";

/** Most work items of a dense-matrix step ({@link PassMode.densify}, {@link PassMode.factorRows}, the inverse modes). */
export const MAX_MATRIX_ITEMS = 64;

/** Minimum number of rows per shard. */
export const SHARD_ROWS = 1 << 18;

/** What a pass computes. */
export const PassMode = {
  /** Objective, gradient and R-factor sums. */
  objective: 1,
  /** Also the dense normal matrix. */
  dense: 2,
  /** Also the matrix-free factors ({@link LowRankSums} and the {@link GroupCache}). */
  lowRank: 3,
  /** The group terms of the matrix-free operator applied to `vectorX`, into `vectorY` (after a lowRank pass). */
  groupProduct: 4,
  /**
   * The group terms of the last lowRank pass expanded into the upper triangle of the dense matrix (Σ pairs² work),
   * item k the rows of item k of {@link JointPassPayload.matrixTask} (its second word: the rows per band).
   */
  densify: 5,
  /**
   * DIALS standard outliers among the usable rows at the current inverse scales, and every row's weight reset to
   * 1/σ² (0 for outliers and unusable rows), counted in {@link JointPassPayload.outlierCounts}.
   */
  outlierWeights: 6,
  /**
   * The inverse scale g of every row into {@link JointPassPayload.inverseScale}, and each group's reference at them
   * into `groupReferences` (resident rows only).
   */
  inverseScales: 7,
  /**
   * Dense Cholesky of {@link JointPassPayload.matrix} in place, rows split over the threads: item k factors the rows
   * of item k of {@link JointPassPayload.matrixTask} in the columns before its `jEnd` (see `dense-inverse.ts`).
   */
  factorRows: 8,
  /** U = L⁻ᵀ from the factor in {@link JointPassPayload.matrix} into `inverseFactor`, item k its rows of U. */
  inverseFactorRows: 9,
  /** A⁻¹ = U Uᵀ from `inverseFactor` into {@link JointPassPayload.matrix}, item k its rows of A⁻¹. */
  inverseProductRows: 10,
} as const;
/** One of {@link PassMode}'s values. */
export type PassModeValue = (typeof PassMode)[keyof typeof PassMode];

/**
 * Fixed shard boundaries (group indices, ascending, first 0, last nGroups): groups are appended to a shard until it
 * holds at least `targetRows` rows. Depends on the data only.
 */
export function computeShards(groupStart: Int32Array, targetRows: number): Int32Array {
  const nGroups = groupStart.length - 1;
  const cuts = [0];
  let begin = 0;
  for (let h = 0; h < nGroups; h++) {
    if (groupStart[h + 1] - groupStart[begin] >= targetRows) {
      cuts.push(h + 1);
      begin = h + 1;
    }
  }
  if (cuts[cuts.length - 1] !== nGroups) cuts.push(nGroups);
  return Int32Array.from(cuts);
}

/** Largest number of shards a pass is cut into (more only costs synchronisation: each shard is one ordered turn). */
export const MAX_SHARDS = 128;

/**
 * Rows per shard for P parameters and n rows: 2^18, at least n/{@link MAX_SHARDS}, and at least P²/16 when the dense
 * matrix is formed (keeps the reduction cheap). Depends on the data only, never on the thread count.
 */
export function shardRowsFor(nParameters: number, dense: boolean, nRows = 0): number {
  const rows = Math.max(SHARD_ROWS, Math.ceil(nRows / MAX_SHARDS));
  return dense ? Math.max(rows, Math.ceil((nParameters * nParameters) / 16)) : rows;
}

/** Smoother constants as the workers receive them (values are shared separately). */
export interface PassSmootherConstants {
  /** Kernel constants. */
  readonly kernel: SmootherKernelState;
  /** |q| clamp range. */
  readonly qMin: number;
  /** Upper end of the clamp range. */
  readonly qMax: number;
}

/** The scalar totals of a normal-equation pass, each a one-element view of shared memory. */
export interface PassTotals {
  /** ½ Σ w r². */
  readonly objective: Float64Array;
  /** Rows with non-zero weight in groups with Σwg² > 0. */
  readonly nObservations: Float64Array;
  /** R-factor numerator. */
  readonly rNumerator: Float64Array;
  /** R-factor denominator. */
  readonly rDenominator: Float64Array;
}

/** The counts of an outlier pass, each a one-element view of shared memory. */
export interface PassOutlierCounts {
  /** Rows whose weight changed. */
  readonly nChanged: Float64Array;
  /** Outlier rows. */
  readonly nOutliers: Float64Array;
  /** Rows that became or stopped being outliers. */
  readonly nFlipped: Float64Array;
}

/** Zeroed shared {@link PassTotals}. */
export function sharedPassTotals(): PassTotals {
  const t = sharedFloat64(4);
  return {
    objective: t.subarray(0, 1),
    nObservations: t.subarray(1, 2),
    rNumerator: t.subarray(2, 3),
    rDenominator: t.subarray(3, 4),
  };
}

/** Zeroed shared {@link PassOutlierCounts}. */
export function sharedOutlierCounts(): PassOutlierCounts {
  const c = sharedFloat64(3);
  return { nChanged: c.subarray(0, 1), nOutliers: c.subarray(1, 2), nFlipped: c.subarray(2, 3) };
}

/** Everything a pass reads and writes; every array is in shared memory. */
export interface JointPassPayload {
  /**
   * The observations: resident columns, or, when `rowFile` is set, only `groupStart` (the rows are read from the
   * file shard by shard).
   */
  readonly columns: GroupedColumns;
  /** The scratch file of paged rows (columns still, intensity, variance, weight, qMagnitude), or undefined. */
  readonly rowFile: ColumnFileLayout | undefined;
  /** Precompute the smoother weights of each paged shard as it is read (resident columns carry them). */
  readonly precomputeSmoother: boolean;
  /** Shard boundaries in groups. */
  readonly shards: Int32Array;
  /** Number of stills. */
  readonly nStills: number;
  /** Smoother constants, or undefined. */
  readonly smoother: PassSmootherConstants | undefined;
  /** Current scales b_s (written by the main thread before each pass). */
  readonly scales: Float64Array;
  /** Current smoother values (length K, or 0). */
  readonly values: Float64Array;
  /** Scalar totals of the normal-equation passes ({@link PassMode.objective}, `dense`, `lowRank`). */
  readonly totals: PassTotals;
  /** [zmax] of the outlier passes. */
  readonly zmax: Float64Array;
  /**
   * The error model of the outlier passes: [on (1) or off (0), nBraggGroups, Bragg a, Bragg b, diffuse a, diffuse b]
   * (see `RowErrorModel`); off, the passes use σ² as given.
   */
  readonly errorModel: Float64Array;
  /** Counts of {@link PassMode.outlierWeights}. */
  readonly outlierCounts: PassOutlierCounts;
  /** Result gradient (P). */
  readonly gradient: Float64Array;
  /** Result dense matrix (P², or length 0 when dense passes are not allowed). */
  readonly matrix: Float64Array;
  /** Result low-rank sums, or undefined when matrix-free passes are not allowed. */
  readonly lowRank: LowRankSums | undefined;
  /**
   * Group factors of matrix-free passes, or undefined. With paged rows the pair arrays (`pairStill`, `pairA`,
   * `pairV`) are empty and live in `cacheFile`.
   */
  readonly cache: GroupCache | undefined;
  /** The scratch file of the pair factors of paged matrix-free passes, or undefined. */
  readonly cacheFile: ColumnFileLayout | undefined;
  /** Input vector of {@link PassMode.groupProduct} (P, or 0 without matrix-free passes). */
  readonly vectorX: Float64Array;
  /** Output vector of {@link PassMode.groupProduct}. */
  readonly vectorY: Float64Array;
  /** Inverse scale of every row (written by {@link PassMode.inverseScales}; length 0 when not allowed). */
  readonly inverseScale: Float32Array;
  /**
   * Each group's reference at the inverse scales of the last {@link PassMode.inverseScales} pass (length nGroups
   * when `inverseScale` is allowed, else 0).
   */
  readonly groupReferences: GroupReferenceArrays;
  /** U = L⁻ᵀ of the dense inverse (P², or length 0 when dense passes are not allowed). */
  readonly inverseFactor: Float64Array;
  /**
   * The work items of a dense-matrix step: [n, jEnd, cut_0, …, cut_m] (item k covers rows [cut_k, cut_{k+1}); jEnd
   * is the column bound of {@link PassMode.factorRows}, the rows per band of {@link PassMode.densify}); length 2 +
   * {@link MAX_MATRIX_ITEMS} + 1.
   */
  readonly matrixTask: Int32Array;
}
