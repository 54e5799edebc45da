/** The five columns as Int32 views of their bytes (copies through them move every bit, NaN payloads included). */
function columnBits(rows: RowColumns): readonly Int32Array[] {
  return ROW_COLUMN_NAMES.map((name) => {
    const c = rows[name];
    return new Int32Array(c.buffer, c.byteOffset, c.length);
  });
}

/** Copies rows [from, from + count) of the columns `src` to rows [to, to + count) of `dst` (bit for bit). */
function copyRows(
  src: readonly Int32Array[],
  from: number,
  dst: readonly Int32Array[],
  to: number,
  count: number,
): void {
  // element loops, not `set`: placement puts a few hundred rows at a time, where five subarray views and five `set`
  // calls per put cost more than the copy
  for (let c = 0; c < src.length; c++) {
    const a = src[c];
    const b = dst[c];
    for (let k = 0; k < count; k++) b[to + k] = a[from + k];
  }
}

/**
 * Where grouping writes its rows: the final row columns in memory (`SharedArrayBuffer`s), or a scratch file for rows
 * larger than memory. Both keep each placed row's dense voxel id in the bytes of its weight column until the rows are
 * ordered and their weights set.
 *
 * @packageDocumentation
 */
import type { ColumnFile } from "../runtime/column-file.ts";
import { ROW_COLUMN_NAMES, rowColumns, sliceRows, type RowColumns } from "./row-columns.ts";

/**
 * Diffuse rows as placed in their bucket (source order): the row columns, with each row's dense voxel id in the bytes
 * of the weight column (`voxel` views them).
 */
export interface PlacedRows {
  /** The row columns (the weight column holds the voxel ids' bytes). */
  readonly rows: RowColumns;
  /** Dense voxel id of each row: an Int32 view of the weight column's bytes. */
  readonly voxel: Int32Array;
  /** Every column as an Int32 view of its bytes (in the order of {@link ROW_COLUMN_NAMES}). */
  readonly bits: readonly Int32Array[];
}

/** Placed-row buffers for `n` rows (in `SharedArrayBuffer`s when `shared`). */
export function placedRows(n: number, shared = false): PlacedRows {
  const rows = rowColumns(n, shared);
  return { rows, voxel: new Int32Array(rows.weight.buffer, 0, n), bits: columnBits(rows) };
}

/**
 * Where grouping writes its rows: the final columns in memory, or a scratch file (paged). Placement puts each
 * bucket's rows (source order, with voxel ids) in the bucket's slot range; ordering then reads a bucket back and
 * writes its grouped rows at a running cursor that never passes the bucket's first slot.
 */
export interface RowStore {
  /** Writes placed rows [from, from + count) of `placed` to slots [dest, dest + count). */
  put(dest: number, placed: PlacedRows, from: number, count: number): void;
  /** Reads placed rows [begin, begin + m) into `into` (a copy). */
  get(begin: number, m: number, into: PlacedRows): void;
  /** Columns to write final rows [t, t + m) into, at local index 0 (valid until {@link RowStore.commit}). */
  target(t: number, m: number): RowColumns;
  /** Makes the rows written through {@link RowStore.target} final. */
  commit(t: number, m: number): void;
}

/**
 * The final columns in memory (`SharedArrayBuffer`s); placement keeps voxel ids in the weight column's bytes (a
 * typed-array copy between arrays of one type preserves every bit).
 */
export class ResidentStore implements RowStore {
  readonly columns: RowColumns;
  readonly #bits: readonly Int32Array[];

  /** New shared columns for `n` rows, or the given columns (a worker thread's view of them). */
  constructor(n: number | RowColumns) {
    this.columns = typeof n === "number" ? rowColumns(n, true) : n;
    this.#bits = columnBits(this.columns);
  }

  put(dest: number, placed: PlacedRows, from: number, count: number): void {
    copyRows(placed.bits, from, this.#bits, dest, count);
  }

  get(begin: number, m: number, into: PlacedRows): void {
    copyRows(this.#bits, begin, into.bits, 0, m);
  }

  target(t: number, m: number): RowColumns {
    return sliceRows(this.columns, t, t + m);
  }

  commit(): void {
    // the target views are the columns
  }
}

/** The row columns of a scratch file; placement keeps voxel ids in the weight column. Buffers grow as needed. */
export class PagedStore implements RowStore {
  readonly file: ColumnFile;
  private buffer: RowColumns = rowColumns(0);

  constructor(file: ColumnFile) {
    this.file = file;
  }

  put(dest: number, placed: PlacedRows, from: number, count: number): void {
    for (const name of ROW_COLUMN_NAMES) this.file.write(name, dest, placed.rows[name].subarray(from, from + count));
  }

  get(begin: number, m: number, into: PlacedRows): void {
    for (const name of ROW_COLUMN_NAMES) this.file.read(name, begin, into.rows[name].subarray(0, m));
  }

  target(_t: number, m: number): RowColumns {
    if (this.buffer.still.length < m) this.buffer = rowColumns(m);
    return sliceRows(this.buffer, 0, m);
  }

  commit(t: number, m: number): void {
    const b = this.buffer;
    for (const name of ROW_COLUMN_NAMES) this.file.write(name, t, b[name].subarray(0, m));
  }
}
