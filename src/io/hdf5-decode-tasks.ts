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

/** Client values kept per filter (bitshuffle reads its first five). */
export const MAX_FILTER_VALUES = 5;

/** Doubles per filter of a task row: id, number of values kept, the values. */
export const FILTER_FIELDS = 2 + MAX_FILTER_VALUES;

/** Doubles per task row. */
export const TASK_FIELDS = TASK.filter0 + MAX_TASK_FILTERS * FILTER_FIELDS;

/** Writes `pipeline` into the task row starting at `t` (at most {@link MAX_TASK_FILTERS} filters). */
export function writeTaskFilters(
  tasks: Float64Array,
  t: number,
  pipeline: readonly { id: number; values: readonly number[] }[],
): void {
  tasks[t + TASK.nFilters] = pipeline.length;
  pipeline.forEach((f, i) => {
    const at = t + TASK.filter0 + i * FILTER_FIELDS;
    const n = Math.min(f.values.length, MAX_FILTER_VALUES);
    tasks[at] = f.id;
    tasks[at + 1] = n;
    for (let v = 0; v < n; v++) tasks[at + 2 + v] = f.values[v];
  });
}

/** Reads the pipeline of the task row starting at `t`. */
export function readTaskFilters(tasks: Float64Array, t: number): { id: number; values: number[] }[] {
  const out: { id: number; values: number[] }[] = [];
  for (let i = 0; i < tasks[t + TASK.nFilters]; i++) {
    const at = t + TASK.filter0 + i * FILTER_FIELDS;
    const values: number[] = [];
    for (let v = 0; v < tasks[at + 1]; v++) values.push(tasks[at + 2 + v]);
    out.push({ id: tasks[at], values });
  }
  return out;
}

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
