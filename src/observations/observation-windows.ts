/**
 * Passes over the rows of {@link ScalingObservations} window by window. A window is a run of whole groups with the
 * columns of its rows; row `o` (absolute, as `groupStart` counts) is at index `o − rowBegin` of the window's columns.
 * Resident observations are one window over the columns themselves (no copy); paged observations (inputs larger than
 * memory) are read from their scratch file window by window into reused buffers, and the columns a pass
 * changes are written back. Every pass visits groups in ascending order, so a pass that carries its accumulators from
 * one window to the next computes exactly what it computes on resident columns.
 *
 * @packageDocumentation
 */
import { ColumnFile } from "../runtime/column-file.ts";
import { ROW_COLUMN_NAMES, rowColumns, sliceRows, type RowColumnName, type RowColumns } from "./row-columns.ts";

/** Row columns held in memory (`SharedArrayBuffer`s, so worker threads read them without a copy). */
export interface ResidentRows extends RowColumns {
  /** Discriminant. */
  readonly kind: "resident";
}

/** Row columns in a scratch file (one column per {@link RowColumnName}, 4 bytes per value), read window by window. */
export interface PagedRows {
  /** Discriminant. */
  readonly kind: "paged";
  /** The scratch file. */
  readonly file: ColumnFile;
  /** Most rows a window holds (a single group larger than this is a window of its own). */
  readonly windowRows: number;
}

/** The columns of one window: row o at index o − rowBegin. */
export interface ObservationWindow {
  /** First group. */
  readonly groupBegin: number;
  /** One past the last group. */
  readonly groupEnd: number;
  /** First row (absolute). */
  readonly rowBegin: number;
  /** One past the last row (absolute). */
  readonly rowEnd: number;
  /** The columns of the window's rows. */
  readonly rows: RowColumns;
}

/** What {@link forEachWindow} needs of the observations. */
export interface WindowedRows {
  /** CSR offsets of the groups (absolute rows). */
  readonly groupStart: Int32Array;
  /** Number of groups. */
  readonly nGroups: number;
  /** The row columns. */
  readonly rows: ResidentRows | PagedRows;
}

/** Options of {@link forEachWindow}. */
export interface ForEachWindowOptions {
  /** First group visited. @defaultValue 0 */
  groupBegin?: number;
  /** One past the last group visited. @defaultValue all groups */
  groupEnd?: number;
  /** Columns the pass changes (written back to a scratch file after each window). @defaultValue none */
  write?: readonly RowColumnName[];
}

/** Creates the scratch file of `n` paged rows: every row column, 4 bytes per value (see {@link PagedRows}). */
export function createRowFile(directory: string, n: number): ColumnFile {
  return ColumnFile.create(directory, { still: 4, intensity: 4, variance: 4, weight: 4, qMagnitude: 4 }, n);
}

/** The group after the last one of the window starting at `h` (≥ h + 1): whole groups up to `windowRows` rows. */
export function windowEnd(groupStart: Int32Array, h: number, groupEnd: number, windowRows: number): number {
  const limit = groupStart[h] + windowRows;
  let e = h + 1;
  while (e < groupEnd && groupStart[e + 1] <= limit) e++;
  return e;
}

/** Rows of the largest window of groups [groupBegin, groupEnd) (what a window's buffers must hold). */
export function largestWindow(
  groupStart: Int32Array,
  groupBegin: number,
  groupEnd: number,
  windowRows: number,
): number {
  let largest = 0;
  for (let h = groupBegin; h < groupEnd;) {
    const e = windowEnd(groupStart, h, groupEnd, windowRows);
    largest = Math.max(largest, groupStart[e] - groupStart[h]);
    h = e;
  }
  return largest;
}

/**
 * Reads the columns of rows [rowBegin, rowEnd) of a paged file into the start of `buffers`.
 *
 * @param names - The columns to read. @defaultValue all five
 */
export function readWindowColumns(
  file: ColumnFile,
  rowBegin: number,
  rowEnd: number,
  buffers: RowColumns,
  names: readonly RowColumnName[] = ROW_COLUMN_NAMES,
): void {
  for (const name of names) file.read(name, rowBegin, buffers[name].subarray(0, rowEnd - rowBegin));
}

/**
 * Calls `pass` for the windows of groups [groupBegin, groupEnd) in ascending order (one window for resident rows;
 * windows of at most `windowRows` rows for paged ones, read from the scratch file and written back in the columns
 * named by `write`). The window's arrays are valid only during the call.
 */
export function forEachWindow(
  obs: WindowedRows,
  pass: (window: ObservationWindow) => void,
  options: ForEachWindowOptions = {},
): void {
  const groupBegin = options.groupBegin ?? 0;
  const groupEnd = options.groupEnd ?? obs.nGroups;
  if (groupEnd <= groupBegin) return;
  const { groupStart, rows } = obs;
  if (rows.kind === "resident") {
    pass({ groupBegin, groupEnd, rowBegin: 0, rowEnd: groupStart[obs.nGroups], rows });
    return;
  }
  const buffers = rowColumns(largestWindow(groupStart, groupBegin, groupEnd, rows.windowRows));
  const write = options.write ?? [];
  for (let h = groupBegin; h < groupEnd;) {
    const e = windowEnd(groupStart, h, groupEnd, rows.windowRows);
    const rowBegin = groupStart[h];
    const rowEnd = groupStart[e];
    const m = rowEnd - rowBegin;
    readWindowColumns(rows.file, rowBegin, rowEnd, buffers);
    pass({ groupBegin: h, groupEnd: e, rowBegin, rowEnd, rows: sliceRows(buffers, 0, m) });
    for (const name of write) rows.file.write(name, rowBegin, buffers[name].subarray(0, m));
    h = e;
  }
}

/** The resident columns of `obs`; throws for paged observations (for callers that need whole columns, e.g. tests). */
export function residentRows(obs: WindowedRows): ResidentRows {
  if (obs.rows.kind !== "resident") throw new RangeError("the observations are paged from a scratch file");
  return obs.rows;
}
