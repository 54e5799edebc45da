/**
 * The row columns of scaling observations: still id, intensity, variance, weight and |q| of every row, 4 bytes each
 * (float32 values; every pass accumulates in float64). One type serves every place rows live: the resident columns,
 * a window or shard read from a scratch file, the buffers rows are grouped in, and the kernels' view of them.
 *
 * @packageDocumentation
 */
import { sharedFloat32, sharedInt32 } from "../runtime/shared-arrays.ts";

/** The five row columns (struct of arrays, one element per row). */
export interface RowColumns {
  /** Still (parameter) index of each row. */
  readonly still: Int32Array;
  /** Intensity of each row. */
  readonly intensity: Float32Array;
  /** Variance σ² of each row (length 0 in a view that never reads it, e.g. a shard of a pass without outliers). */
  readonly variance: Float32Array;
  /** Weight 1/σ² of each row; 0 excludes the row (outlier or unusable). */
  readonly weight: Float32Array;
  /** |q| of each row (1/Å), the smoother's coordinate. */
  readonly qMagnitude: Float32Array;
}

/** The name of a row column. */
export type RowColumnName = keyof RowColumns;

/** Every row column, in the order of the scratch file. */
export const ROW_COLUMN_NAMES: readonly RowColumnName[] = ["still", "intensity", "variance", "weight", "qMagnitude"];

/** Bytes per observation of the row columns (still id, I, σ², weight, |q| in 4 bytes each). */
export const BYTES_PER_OBSERVATION = 20;

/** Zeroed row columns for `n` rows, in ordinary memory or (`shared`) in `SharedArrayBuffer`s for worker threads. */
export function rowColumns(n: number, shared = false): RowColumns {
  return shared
    ? {
        still: sharedInt32(n),
        intensity: sharedFloat32(n),
        variance: sharedFloat32(n),
        weight: sharedFloat32(n),
        qMagnitude: sharedFloat32(n),
      }
    : {
        still: new Int32Array(n),
        intensity: new Float32Array(n),
        variance: new Float32Array(n),
        weight: new Float32Array(n),
        qMagnitude: new Float32Array(n),
      };
}

/** Views of rows [begin, end) of every column (no copy). */
export function sliceRows(rows: RowColumns, begin: number, end: number): RowColumns {
  return {
    still: rows.still.subarray(begin, end),
    intensity: rows.intensity.subarray(begin, end),
    variance: rows.variance.subarray(begin, end),
    weight: rows.weight.subarray(begin, end),
    qMagnitude: rows.qMagnitude.subarray(begin, end),
  };
}
