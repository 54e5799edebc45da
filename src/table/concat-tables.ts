/**
 * Row-wise concatenation of reflection tables with the same columns (as DIALS's `reflection_table.extend`): the rows
 * of the first table, then those of the second, and so on; the columns in the first table's order.
 *
 * @packageDocumentation
 */
import { InputError } from "../errors.ts";
import type { Column, ShoeboxColumn } from "./column-types.ts";
import { ReflectionTable } from "./reflection-table.ts";

/** Concatenates shoebox columns: the bytes one after the other, the offsets shifted. */
function concatShoeboxes(parts: readonly ShoeboxColumn[], nrows: number): ShoeboxColumn {
  let nBytes = 0;
  for (const p of parts) nBytes += p.bytes.length;
  const bytes = new Uint8Array(nBytes);
  const offsets = new Float64Array(nrows + 1);
  let row = 0;
  let base = 0;
  for (const p of parts) {
    bytes.set(p.bytes, base);
    const n = p.offsets.length - 1;
    for (let i = 1; i <= n; i++) offsets[row + i] = base + p.offsets[i];
    row += n;
    base += p.bytes.length;
  }
  return { offsets, bytes };
}

/** Concatenates the typed arrays of one column. */
function concatArrays<T extends Uint8Array | Int32Array | Float64Array | BigUint64Array>(
  parts: readonly T[],
  make: (n: number) => T,
): T {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = make(n);
  let at = 0;
  for (const p of parts) {
    // every part has the out array's type: set() copies it in one block
    (out as unknown as { set(a: T, o: number): void }).set(p, at);
    at += p.length;
  }
  return out;
}

/** Concatenates one column of every table (all of the same type). */
function concatColumn(columns: readonly Column[], nrows: number): Column {
  const first = columns[0];
  switch (first.type) {
    case "Shoebox<>":
      return {
        type: first.type,
        data: concatShoeboxes(
          columns.map((c) => c.data as ShoeboxColumn),
          nrows,
        ),
      };
    case "bool":
      return {
        type: first.type,
        data: concatArrays(
          columns.map((c) => c.data as Uint8Array),
          (n) => new Uint8Array(n),
        ),
      };
    case "int":
    case "int6":
    case "cctbx::miller::index<>":
      return {
        type: first.type,
        data: concatArrays(
          columns.map((c) => c.data as Int32Array),
          (n) => new Int32Array(n),
        ),
      };
    case "std::size_t":
      return {
        type: first.type,
        data: concatArrays(
          columns.map((c) => c.data as BigUint64Array),
          (n) => new BigUint64Array(n),
        ),
      };
    case "double":
    case "vec2<double>":
    case "vec3<double>":
    case "mat3<double>":
      return {
        type: first.type,
        data: concatArrays(
          columns.map((c) => c.data as Float64Array),
          (n) => new Float64Array(n),
        ),
      };
  }
}

/**
 * The rows of every table, one table after the other. Every table must have the same column names with the same
 * types (in any order); the result has the first table's column order and the given identifiers.
 *
 * @param tables - the tables (at least one)
 * @param files - the file of each table, for messages
 * @param identifiers - the experiment identifiers of the result
 * @throws {@link InputError} naming the file whose columns differ from the first file's
 */
export function concatTables(
  tables: readonly ReflectionTable[],
  files: readonly string[],
  identifiers: Map<number, string>,
): ReflectionTable {
  const names = tables[0].columnNames();
  for (let t = 1; t < tables.length; t++) {
    const other = tables[t].columnNames();
    const missing = names.find((n) => !tables[t].has(n)) ?? other.find((n) => !tables[0].has(n));
    if (missing !== undefined) {
      throw new InputError(
        `column "${missing}" is in one of ${files[0]} and ${files[t]} but not in the other: tables combined in one job need the same columns`,
        files[t],
      );
    }
    for (const n of names) {
      if (tables[t].columnType(n) !== tables[0].columnType(n)) {
        throw new InputError(
          `column "${n}" has type ${tables[t].columnType(n)} here but ${tables[0].columnType(n)} in ${files[0]}`,
          files[t],
        );
      }
    }
  }
  let nrows = 0;
  for (const t of tables) nrows += t.nrows;
  const out = new ReflectionTable(nrows, identifiers);
  for (const n of names) {
    out.setColumn(
      n,
      concatColumn(
        tables.map((t) => t.column(n)),
        nrows,
      ),
    );
  }
  return out;
}
