/**
 * Column types of a DIALS reflection table, named exactly as DIALS writes them in a `.refl` file, and the typed-array
 * layout each one uses in memory.
 *
 * @packageDocumentation
 */

/** The DIALS type name of a reflection-table column, verbatim as stored in `.refl` files. */
export type ColumnTypeName =
  | "bool"
  | "int"
  | "std::size_t"
  | "double"
  | "vec2<double>"
  | "vec3<double>"
  | "mat3<double>"
  | "int6"
  | "cctbx::miller::index<>"
  | "Shoebox<>";

/**
 * A `Shoebox<>` column: the exact per-row bytes as they appear on disk, concatenated. Row `i` occupies
 * `bytes.subarray(offsets[i], offsets[i + 1])`: `uint32 panel`, `int32 bbox[6]`, `uint8 flag`, then for flag 1 or 2
 * `float32 data[npix]`, the mask (`int32[npix]` for flag 1, `uint8[npix]` for flag 2) and `float32 background[npix]`.
 */
export interface ShoeboxColumn {
  /** `nrows + 1` byte offsets into {@link ShoeboxColumn.bytes}; `offsets[0] = 0`, last = `bytes.length`. */
  offsets: Float64Array;
  /** The concatenated per-row bytes, exactly as on disk. */
  bytes: Uint8Array;
}

/** One column of a reflection table: its DIALS type and its row-major typed-array data. */
export type Column =
  | { type: "bool"; data: Uint8Array }
  | { type: "int"; data: Int32Array }
  | { type: "std::size_t"; data: BigUint64Array }
  | { type: "double"; data: Float64Array }
  | { type: "vec2<double>"; data: Float64Array }
  | { type: "vec3<double>"; data: Float64Array }
  | { type: "mat3<double>"; data: Float64Array }
  | { type: "int6"; data: Int32Array }
  | { type: "cctbx::miller::index<>"; data: Int32Array }
  | { type: "Shoebox<>"; data: ShoeboxColumn };

/** Every supported column type name, in the order of {@link ColumnTypeName}. */
export const COLUMN_TYPES: readonly ColumnTypeName[] = Object.freeze([
  "bool",
  "int",
  "std::size_t",
  "double",
  "vec2<double>",
  "vec3<double>",
  "mat3<double>",
  "int6",
  "cctbx::miller::index<>",
  "Shoebox<>",
] as const);

const WIDTH: Readonly<Record<ColumnTypeName, number>> = {
  bool: 1,
  int: 1,
  "std::size_t": 1,
  double: 1,
  "vec2<double>": 2,
  "vec3<double>": 3,
  "mat3<double>": 9,
  int6: 6,
  "cctbx::miller::index<>": 3,
  "Shoebox<>": 1,
};

const BYTES: Readonly<Record<ColumnTypeName, number>> = {
  bool: 1,
  int: 4,
  "std::size_t": 8,
  double: 8,
  "vec2<double>": 16,
  "vec3<double>": 24,
  "mat3<double>": 72,
  int6: 24,
  "cctbx::miller::index<>": 12,
  "Shoebox<>": 0,
};

/** True when `name` is one of the supported {@link ColumnTypeName}s. */
export function isColumnTypeName(name: string): name is ColumnTypeName {
  return Object.hasOwn(WIDTH, name);
}

/**
 * Number of typed-array components per row: 1 for scalars, 2/3/9 for vec2/vec3/mat3, 6 for int6, 3 for Miller indices.
 * A shoebox column counts as one (variable-size) element per row.
 */
export function elementWidth(t: ColumnTypeName): number {
  return WIDTH[t];
}

/**
 * Bytes per row on disk (and in memory) for the fixed-size types; 0 for `Shoebox<>`, whose rows vary in size.
 */
export function elementBytes(t: ColumnTypeName): number {
  return BYTES[t];
}

/** Number of rows held by a column's data (for shoeboxes, `offsets.length - 1`). */
export function columnRows(column: Column): number {
  if (column.type === "Shoebox<>") return column.data.offsets.length - 1;
  return column.data.length / WIDTH[column.type];
}
