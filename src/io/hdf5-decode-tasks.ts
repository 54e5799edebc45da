/**
 * The shared task table between the native HDF5 reader and its decoding worker threads: one row of
 * {@link TASK_FIELDS} doubles per chunk to decode, a status word per task, and the staging buffer the decoded chunks
 * are written to.
 *
 * @packageDocumentation
 */

/** Field offsets of one task row. */
export const TASK = {
  address: 0,
  size: 1,
  mask: 2,
  elementSize: 3,
  chunkBytes: 4,
  stagingOffset: 5,
  nFilters: 6,
  filter0: 7,
} as const;

/** Filters a task can carry (the pipeline of the dataset, in writing order). */
export const MAX_TASK_FILTERS = 4;

/** Doubles per task row. */
export const TASK_FIELDS = TASK.filter0 + MAX_TASK_FILTERS;

/** What every decoding worker receives (typed arrays over shared memory). */
export interface DecodePayload {
  /** The file to read. */
  path: string;
  /** Task rows. */
  tasks: Float64Array;
  /** Per task: 0 decoded, 1 failed. */
  status: Int32Array;
  /** Decoded chunks land here, at each task's staging offset. */
  staging: Uint8Array;
}
