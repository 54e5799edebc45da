/**
 * The columnar reflection table: a DIALS `reflection_table` held as one typed array per column.
 *
 * @packageDocumentation
 */
import {
  InputError,
  requireInstanceArgument,
  requireNumbersArgument,
  requireObjectArgument,
  requireStringArgument,
} from "../errors.ts";
import { elementWidth, type Column, type ColumnTypeName, type ShoeboxColumn } from "./column-types.ts";

/** A row selection: a boolean mask (`Uint8Array` of length `nrows`, nonzero = keep) or a list of row indices. */
export type RowSelection = Uint8Array | Int32Array | Uint32Array | readonly number[];

const utf8 = new TextEncoder();

/** Compare two strings by their UTF-8 bytes, as `std::map<std::string, ...>` orders its keys. */
export function compareColumnNames(a: string, b: string): number {
  return Buffer.compare(utf8.encode(a), utf8.encode(b));
}

function describe(column: Column): string {
  return column.type;
}

/**
 * A DIALS reflection table: `nrows` rows, named typed columns, and the map from experiment id (the `id` column) to
 * experiment identifier string. Columns are stored as typed arrays (see {@link Column}); vector types are row-major.
 */
export class ReflectionTable {
  /** Number of rows. Every column holds exactly this many rows. */
  readonly nrows: number;
  /** Experiment id (as used in the `id` column) → experiment identifier string. */
  readonly identifiers: Map<number, string>;
  readonly #columns = new Map<string, Column>();

  /**
   * Create an empty table (no columns).
   *
   * @param nrows - number of rows; a non-negative safe integer.
   * @param identifiers - experiment id → identifier; copied. Keys must be non-negative safe integers.
   */
  constructor(nrows: number, identifiers?: Map<number, string>) {
    if (!Number.isSafeInteger(nrows) || nrows < 0) {
      throw new InputError(`reflection table: nrows must be a non-negative integer, got ${String(nrows)}`);
    }
    this.nrows = nrows;
    this.identifiers = new Map<number, string>();
    if (identifiers !== undefined) {
      requireInstanceArgument(identifiers, Map, "ReflectionTable: identifiers (experiment id → identifier)");
      for (const [k, v] of identifiers) {
        if (!Number.isSafeInteger(k) || k < 0) {
          throw new InputError(`reflection table: experiment id ${String(k)} is not a non-negative integer`);
        }
        this.identifiers.set(k, v);
      }
    }
  }

  /** Column names in byte-wise sorted order (the order of DIALS's `std::map` and of `.refl` files). */
  columnNames(): string[] {
    return [...this.#columns.keys()].sort(compareColumnNames);
  }

  /** Whether a column of this name exists. */
  has(name: string): boolean {
    return this.#columns.has(name);
  }

  /** The column `name`; throws {@link InputError} naming the column if it is absent. */
  column(name: string): Column {
    const c = this.#columns.get(name);
    if (c === undefined) throw new InputError(`reflection table has no column "${name}"`);
    return c;
  }

  /** The DIALS type name of column `name`; throws {@link InputError} if absent. */
  columnType(name: string): ColumnTypeName {
    return this.column(name).type;
  }

  /**
   * Add or replace a column. The data are stored by reference (not copied). Validates that the data hold exactly
   * `nrows` rows (`nrows × elementWidth` components; for shoeboxes `nrows + 1` non-decreasing offsets ending at
   * `bytes.length`). Throws {@link InputError} otherwise.
   */
  setColumn(name: string, column: Column): void {
    requireStringArgument(name, "ReflectionTable.setColumn: name");
    requireObjectArgument(column, `ReflectionTable.setColumn: column "${name}" ({ type, data })`);
    if (column.type === "Shoebox<>") {
      validateShoeboxShape(name, column.data, this.nrows);
    } else {
      const w = elementWidth(column.type);
      if (!isExpectedArray(column)) {
        throw new InputError(`reflection table: column "${name}" of type ${column.type} has the wrong array class`);
      }
      if (column.data.length !== this.nrows * w) {
        throw new InputError(
          `reflection table: column "${name}" (${column.type}) has ${column.data.length} values, expected ${this.nrows * w} (${this.nrows} rows × ${w})`,
        );
      }
    }
    this.#columns.set(name, column);
  }

  /** Remove column `name` (no-op if absent). */
  deleteColumn(name: string): void {
    this.#columns.delete(name);
  }

  #typed(name: string, type: ColumnTypeName): Column {
    const c = this.column(name);
    if (c.type !== type) {
      throw new InputError(`reflection table: column "${name}" has type ${describe(c)}, expected ${type}`);
    }
    return c;
  }

  /** Data of `double` column `name`. Throws {@link InputError} if absent or of another type. */
  getDouble(name: string): Float64Array {
    return this.#typed(name, "double").data as Float64Array;
  }
  /** Data of `int` column `name`. Throws {@link InputError} if absent or of another type. */
  getInt(name: string): Int32Array {
    return this.#typed(name, "int").data as Int32Array;
  }
  /** Data of `bool` column `name` (0/1 bytes). Throws {@link InputError} if absent or of another type. */
  getBool(name: string): Uint8Array {
    return this.#typed(name, "bool").data as Uint8Array;
  }
  /** Data of `std::size_t` column `name`. Throws {@link InputError} if absent or of another type. */
  getSizeT(name: string): BigUint64Array {
    return this.#typed(name, "std::size_t").data as BigUint64Array;
  }
  /** Data of `vec2<double>` column `name` (n×2, row-major). Throws {@link InputError} if absent or of another type. */
  getVec2(name: string): Float64Array {
    return this.#typed(name, "vec2<double>").data as Float64Array;
  }
  /** Data of `vec3<double>` column `name` (n×3, row-major). Throws {@link InputError} if absent or of another type. */
  getVec3(name: string): Float64Array {
    return this.#typed(name, "vec3<double>").data as Float64Array;
  }
  /** Data of `mat3<double>` column `name` (n×9, row-major). Throws {@link InputError} if absent or of another type. */
  getMat3(name: string): Float64Array {
    return this.#typed(name, "mat3<double>").data as Float64Array;
  }
  /** Data of `int6` column `name` (n×6). Throws {@link InputError} if absent or of another type. */
  getInt6(name: string): Int32Array {
    return this.#typed(name, "int6").data as Int32Array;
  }
  /**
   * Data of Miller-index column `name` (n×3: h, k, l). Throws {@link InputError} if absent or of another type.
   *
   * @param name - column name. @defaultValue `"miller_index"`
   */
  getMillerIndex(name = "miller_index"): Int32Array {
    return this.#typed(name, "cctbx::miller::index<>").data as Int32Array;
  }
  /** Data of `Shoebox<>` column `name`. Throws {@link InputError} if absent or of another type. */
  getShoebox(name = "shoebox"): ShoeboxColumn {
    return this.#typed(name, "Shoebox<>").data as ShoeboxColumn;
  }

  /**
   * A new table holding the selected rows, in selection order (mask: ascending row order). Every column is gathered
   * into fresh typed arrays; identifiers are copied. Throws {@link InputError} for a mask of the wrong length or an
   * index outside `[0, nrows)`.
   */
  select(selection: RowSelection): ReflectionTable {
    requireNumbersArgument(selection, "ReflectionTable.select: selection (a mask or row indices)");
    const idx = selectionToIndices(selection, this.nrows);
    const out = new ReflectionTable(idx.length, this.identifiers);
    for (const [name, col] of this.#columns) {
      out.#columns.set(name, gatherColumn(col, idx));
    }
    return out;
  }

  /**
   * A deep copy: the same rows, columns (in the same order) and identifiers, every column in fresh typed arrays.
   * Equal to selecting every row in order, at the cost of one block copy per column.
   */
  copy(): ReflectionTable {
    const out = new ReflectionTable(this.nrows, this.identifiers);
    for (const [name, col] of this.#columns) {
      out.#columns.set(name, copyColumn(col));
    }
    return out;
  }
}

function isExpectedArray(column: Column): boolean {
  switch (column.type) {
    case "bool":
      return column.data instanceof Uint8Array;
    case "int":
    case "int6":
    case "cctbx::miller::index<>":
      return column.data instanceof Int32Array;
    case "std::size_t":
      return column.data instanceof BigUint64Array;
    case "double":
    case "vec2<double>":
    case "vec3<double>":
    case "mat3<double>":
      return column.data instanceof Float64Array;
    case "Shoebox<>":
      return true;
  }
}

function validateShoeboxShape(name: string, sb: ShoeboxColumn, nrows: number): void {
  const { offsets, bytes } = sb;
  if (!(offsets instanceof Float64Array) || !(bytes instanceof Uint8Array)) {
    throw new InputError(`reflection table: shoebox column "${name}" needs Float64Array offsets and Uint8Array bytes`);
  }
  if (offsets.length !== nrows + 1) {
    throw new InputError(
      `reflection table: shoebox column "${name}" has ${offsets.length} offsets, expected ${nrows + 1}`,
    );
  }
  if (offsets[0] !== 0 || offsets[nrows] !== bytes.length) {
    throw new InputError(`reflection table: shoebox column "${name}" offsets must run from 0 to ${bytes.length}`);
  }
  for (let i = 0; i < nrows; i++) {
    if (!(offsets[i + 1] >= offsets[i]) || !Number.isInteger(offsets[i + 1])) {
      throw new InputError(`reflection table: shoebox column "${name}" offsets are not non-decreasing at row ${i}`);
    }
  }
}

/** Row indices of a selection: 32-bit when every row number fits (always for tables whose columns can exist). */
type RowIndices = Uint32Array | Float64Array;

function selectionToIndices(selection: RowSelection, nrows: number): RowIndices {
  const wide = nrows > 2 ** 32;
  if (selection instanceof Uint8Array) {
    if (selection.length !== nrows) {
      throw new InputError(`reflection table: selection mask has length ${selection.length}, expected ${nrows}`);
    }
    let count = 0;
    for (let i = 0; i < nrows; i++) if (selection[i] !== 0) count++;
    const idx = wide ? new Float64Array(count) : new Uint32Array(count);
    let j = 0;
    for (let i = 0; i < nrows; i++) if (selection[i] !== 0) idx[j++] = i;
    return idx;
  }
  const n = selection.length;
  const idx = wide ? new Float64Array(n) : new Uint32Array(n);
  if (selection instanceof Int32Array || selection instanceof Uint32Array) {
    // integers already: only the range needs checking
    for (let j = 0; j < n; j++) {
      const v = selection[j];
      if (v < 0 || v >= nrows) throw badIndex(v, j, nrows);
      idx[j] = v;
    }
    return idx;
  }
  for (let j = 0; j < n; j++) {
    const v = selection[j];
    if (!Number.isInteger(v) || v < 0 || v >= nrows) throw badIndex(v, j, nrows);
    idx[j] = v;
  }
  return idx;
}

function badIndex(v: number, j: number, nrows: number): InputError {
  return new InputError(`reflection table: selection index ${String(v)} at position ${j} is outside [0, ${nrows})`);
}

/*
 * The gathers below are one tight loop per element size, over integer views of the column buffers: 8-byte elements
 * (double, vec2/vec3/mat3, std::size_t) are moved as pairs of 32-bit words, so every bit pattern (NaN payloads, 64-bit
 * flags) is copied exactly and no BigInt or boxed number is made per row.
 */

function gather8(src: Uint8Array, idx: RowIndices, w: number): Uint8Array {
  const n = idx.length;
  const out = new Uint8Array(n * w);
  if (w === 1) {
    for (let j = 0; j < n; j++) out[j] = src[idx[j]];
  } else {
    for (let j = 0, d = 0; j < n; j++) {
      const s = idx[j] * w;
      for (let k = 0; k < w; k++) out[d++] = src[s + k];
    }
  }
  return out;
}

function gather32(src: Uint32Array, idx: RowIndices, w: number): Uint32Array {
  const n = idx.length;
  const out = new Uint32Array(n * w);
  switch (w) {
    case 1:
      for (let j = 0; j < n; j++) out[j] = src[idx[j]];
      break;
    case 2:
      for (let j = 0, d = 0; j < n; j++, d += 2) {
        const s = 2 * idx[j];
        out[d] = src[s];
        out[d + 1] = src[s + 1];
      }
      break;
    case 3:
      for (let j = 0, d = 0; j < n; j++, d += 3) {
        const s = 3 * idx[j];
        out[d] = src[s];
        out[d + 1] = src[s + 1];
        out[d + 2] = src[s + 2];
      }
      break;
    case 6:
      for (let j = 0, d = 0; j < n; j++, d += 6) {
        const s = 6 * idx[j];
        out[d] = src[s];
        out[d + 1] = src[s + 1];
        out[d + 2] = src[s + 2];
        out[d + 3] = src[s + 3];
        out[d + 4] = src[s + 4];
        out[d + 5] = src[s + 5];
      }
      break;
    default:
      for (let j = 0, d = 0; j < n; j++) {
        const s = idx[j] * w;
        for (let k = 0; k < w; k++) out[d++] = src[s + k];
      }
  }
  return out;
}

/** A 32-bit word view of a 4- or 8-byte-element typed array (no copy). */
function words(a: Int32Array | Float64Array | BigUint64Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.byteLength / 4);
}

function gatherShoebox(sb: ShoeboxColumn, idx: RowIndices): ShoeboxColumn {
  const n = idx.length;
  const offsets = new Float64Array(n + 1);
  const src = sb.offsets;
  let total = 0;
  for (let j = 0; j < n; j++) {
    const i = idx[j];
    total += src[i + 1] - src[i];
    offsets[j + 1] = total;
  }
  const bytes = new Uint8Array(total);
  for (let j = 0; j < n; j++) {
    const i = idx[j];
    bytes.set(sb.bytes.subarray(src[i], src[i + 1]), offsets[j]);
  }
  return { offsets, bytes };
}

function gatherColumn(col: Column, idx: RowIndices): Column {
  const w = elementWidth(col.type);
  switch (col.type) {
    case "bool":
      return { type: col.type, data: gather8(col.data, idx, w) };
    case "int":
    case "int6":
    case "cctbx::miller::index<>": {
      const g = gather32(words(col.data), idx, w);
      return { type: col.type, data: new Int32Array(g.buffer, g.byteOffset, g.length) };
    }
    case "std::size_t": {
      const g = gather32(words(col.data), idx, 2 * w);
      return { type: col.type, data: new BigUint64Array(g.buffer, g.byteOffset, g.length / 2) };
    }
    case "double":
    case "vec2<double>":
    case "vec3<double>":
    case "mat3<double>": {
      const g = gather32(words(col.data), idx, 2 * w);
      return { type: col.type, data: new Float64Array(g.buffer, g.byteOffset, g.length / 2) };
    }
    case "Shoebox<>":
      return { type: col.type, data: gatherShoebox(col.data, idx) };
  }
}

/** A deep copy of one column (fresh buffers of exactly the column's size). */
function copyColumn(col: Column): Column {
  switch (col.type) {
    case "bool":
      return { type: col.type, data: col.data.slice() };
    case "int":
    case "int6":
    case "cctbx::miller::index<>":
      return { type: col.type, data: col.data.slice() };
    case "std::size_t":
      return { type: col.type, data: col.data.slice() };
    case "double":
    case "vec2<double>":
    case "vec3<double>":
    case "mat3<double>":
      return { type: col.type, data: col.data.slice() };
    case "Shoebox<>":
      return { type: col.type, data: { offsets: col.data.offsets.slice(), bytes: col.data.bytes.slice() } };
  }
}
