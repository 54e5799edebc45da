/**
 * The observations that enter grouping: Bragg rows (filtered and partiality-corrected, with ASU Miller indices) and
 * diffuse rows (with voxel indices), in memory or delivered in chunks from a source larger than memory.
 *
 * @packageDocumentation
 */
import { ConfigError } from "../errors.ts";
import type { BinnedDiffuseBuffers } from "../io/binned-diffuse.ts";
import type { DiffuseSelectionCounts } from "./diffuse-input.ts";

/** Bragg observations before grouping (already filtered and partiality-corrected). */
export interface BraggInput {
  /** Still (experiment) index of each row. */
  readonly still: Int32Array;
  /** ASU-mapped Miller indices, n×3. */
  readonly asuHkl: Int32Array;
  /** Intensity (divided by partiality). */
  readonly intensity: Float64Array;
  /** Variance (divided by partiality²). */
  readonly variance: Float64Array;
  /** |q| = 1/d (1/Å). */
  readonly qMagnitude: Float64Array;
  /** Row of the source reflection table. */
  readonly sourceRow: Int32Array;
  /**
   * The Bragg unit, a power of two: grouping stores I/unit and σ²/unit² (see `value-unit.ts`). @defaultValue 1
   */
  readonly unit?: number;
}

/** Diffuse observations before grouping (one chunk of a source, or all of it). */
export interface DiffuseInput {
  /** Still index of each row. */
  readonly still: Int32Array;
  /** Linear voxel index of each row (integer-valued). */
  readonly voxel: Float64Array;
  /** Intensity. */
  readonly intensity: Float64Array | Float32Array;
  /** Variance σ². */
  readonly variance: Float64Array | Float32Array;
  /** |q| (1/Å). */
  readonly qMagnitude: Float64Array | Float32Array;
  /** Row of the source binned file. */
  readonly sourceRow: Int32Array;
}

/**
 * Diffuse observations delivered in chunks, e.g. slices of a `diffuse_binned.h5` file: grouping iterates it twice, so
 * `chunks()` must yield the same rows in the same order every time.
 */
export interface DiffuseChunkSource {
  /** Upper bound on the number of rows over all chunks. */
  readonly maxRows: number;
  /** Inclusive bounds [lo, hi] of every voxel index (a superset is fine: e.g. the voxel grid). */
  readonly voxelBounds: readonly [number, number];
  /**
   * The diffuse unit, a power of two, by which the rows `chunks()` yields are already divided (I/unit, σ²/unit²; see
   * `value-unit.ts`); final once `chunks()` has yielded its first chunk. @defaultValue 1
   */
  readonly unit?: number;
  /** The rows, chunk by chunk (a chunk's arrays may be reused for the next: read them before asking for it). */
  chunks(): Iterable<DiffuseInput>;
  /**
   * The voxel index of every row before selection, chunk by chunk, in the order `chunks()` yields them, or undefined.
   * When given, grouping counts voxels from it (reading a quarter of a row's bytes from a file) and `chunks()` may
   * skip rows (unusable ones): the holes they leave are closed afterwards.
   */
  voxelChunks?(): Iterable<Float64Array>;
  /**
   * The rows before selection and conversion, read by ranges, or undefined: grouping threads then read them into
   * shared buffers and select and convert them themselves (as `chunks()` does), each a part of every block.
   */
  readonly unprepared?: UnpreparedRows;
}

/**
 * Binned rows before selection (a file's, or rows in memory) read by ranges into buffers of the caller: what grouping
 * threads need to do the work of `chunks()` themselves. `chunks()` stays the reference: a thread that finds an
 * unusable block leaves the error to it.
 */
export interface UnpreparedRows {
  /** Number of rows (before selection). */
  readonly nRows: number;
  /** Number of experiments (rows of other stills are unusable). */
  readonly nStills: number;
  /** Reads the voxel index of rows [start, end) into rows [0, end − start) of `into`. */
  readVoxels(start: number, end: number, into: Float64Array): void;
  /** Reads rows [start, end) into rows [0, end − start) of `into` (`qVectors`: three a row), still ids matched. */
  read(start: number, end: number, into: BinnedDiffuseBuffers): void;
  /** The diffuse unit `chunks()` divides by (from the first rows: reads them the first time). */
  unit(): number;
  /** Adds the selection counts of every row (once, after all rows were selected; as a first pass of `chunks()`). */
  addCounts(counts: DiffuseSelectionCounts): void;
}

/** Inclusive bounds [min, max] of voxel indices held in memory ([0, 0] when there are none). */
export function voxelBoundsOf(voxel: Float64Array): [number, number] {
  if (voxel.length === 0) return [0, 0];
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < voxel.length; i++) {
    if (voxel[i] < lo) lo = voxel[i];
    if (voxel[i] > hi) hi = voxel[i];
  }
  return [lo, hi];
}

/** Wraps in-memory diffuse input as a one-chunk source. */
export function singleChunkSource(input: DiffuseInput): DiffuseChunkSource {
  return { maxRows: input.voxel.length, voxelBounds: voxelBoundsOf(input.voxel), chunks: () => [input] };
}

/** Throws unless every still of `still` lies in [0, nStills). */
export function checkStills(still: Int32Array, nStills: number, rowOffset: number): void {
  for (let i = 0; i < still.length; i++) {
    const s = still[i];
    if (!(s >= 0 && s < nStills)) {
      throw new ConfigError(`observation ${rowOffset + i}: still index ${s} outside [0, ${nStills})`);
    }
  }
}
