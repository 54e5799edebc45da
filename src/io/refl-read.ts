/**
 * Read DIALS `.refl` files (MessagePack reflection tables, format versions 1 and 2) into a {@link ReflectionTable}.
 * The file is never loaded whole: a streaming token walker reads the small structure with positioned reads, and each
 * column's `bin` payload is read straight into a freshly allocated (hence aligned) typed array, so files above 2 GiB
 * work. Every defect is reported as an {@link InputError} naming the file, what is wrong and the byte offset.
 *
 * @packageDocumentation
 */
import { endianness } from "node:os";
import { InputError, requireOptionsArgument } from "../errors.ts";
import { ReflectionTable } from "../table/reflection-table.ts";
import {
  elementBytes,
  isColumnTypeName,
  type Column,
  type ColumnTypeName,
  type ShoeboxColumn,
} from "../table/column-types.ts";
import { openInputFile } from "./input-file.ts";
import { DEFAULT_WINDOW_BYTES, MsgpackFileReader } from "./msgpack-reader.ts";

/** Options of {@link readReflections}. */
export interface ReadReflectionsOptions {
  /**
   * Size in bytes of the buffered window through which the MessagePack structure is walked (column payloads are read
   * directly into their arrays regardless). At least 16.
   *
   * @defaultValue 65536
   */
  windowBytes?: number;
}

/** The header string that opens every `.refl` MessagePack file. */
export const REFL_HEADER = "dials::af::reflection_table";

/** The `.refl` format versions this reader accepts. */
export const REFL_READ_VERSIONS: readonly number[] = [1, 2];

/** Bytes of a shoebox row before its pixel data: uint32 panel, int32 bbox[6], uint8 flag. */
const SHOEBOX_ROW_HEADER = 29;

/** Longest top-level key or column type name worth reading before declaring it unknown. */
const MAX_KEY_BYTES = 256;

function requireLittleEndian(path: string): void {
  if (endianness() !== "LE") throw new InputError(".refl payloads are little-endian; this platform is not", path);
}

function fixedColumn(type: Exclude<ColumnTypeName, "Shoebox<>">, buffer: ArrayBuffer): Column {
  switch (type) {
    case "bool":
      return { type, data: new Uint8Array(buffer) };
    case "int":
    case "int6":
    case "cctbx::miller::index<>":
      return { type, data: new Int32Array(buffer) };
    case "std::size_t":
      return { type, data: new BigUint64Array(buffer) };
    case "double":
    case "vec2<double>":
    case "vec3<double>":
    case "mat3<double>":
      return { type, data: new Float64Array(buffer) };
  }
}

/**
 * Find the row boundaries of a shoebox blob and validate its structure. `base` is the blob's file offset, for
 * messages. Rows: uint32 panel, int32 bbox (x0,x1,y0,y1,z0,z1), uint8 flag; flag 0 = no pixels; flag 1 = float32 data,
 * int32 mask, float32 background; flag 2 = the same with a uint8 mask; npix = (x1−x0)(y1−y0)(z1−z0).
 */
function parseShoeboxes(
  bytes: Uint8Array,
  n: number,
  base: number,
  name: string,
  reader: MsgpackFileReader,
): ShoeboxColumn {
  const len = bytes.length;
  if (n * SHOEBOX_ROW_HEADER > len) {
    reader.fail(`shoebox column "${name}" has ${len} bytes, too few for ${n} rows`, base);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const offsets = new Float64Array(n + 1);
  let p = 0;
  for (let i = 0; i < n; i++) {
    if (len - p < SHOEBOX_ROW_HEADER) {
      reader.fail(`shoebox column "${name}" row ${i} is truncated`, base + p);
    }
    const flag = view.getUint8(p + 28);
    // DIALS asserts x1 >= x0, y1 >= y0, z1 >= z0 for every row, with or without pixel data.
    const nx = view.getInt32(p + 8, true) - view.getInt32(p + 4, true);
    const ny = view.getInt32(p + 16, true) - view.getInt32(p + 12, true);
    const nz = view.getInt32(p + 24, true) - view.getInt32(p + 20, true);
    if (nx < 0 || ny < 0 || nz < 0) {
      reader.fail(`shoebox column "${name}" row ${i} has an inverted bbox (extents ${nx}, ${ny}, ${nz})`, base + p);
    }
    if (flag === 1 || flag === 2) {
      const npix = nx * ny * nz;
      const rowBytes = npix * (flag === 1 ? 12 : 9);
      if (rowBytes > len - p - SHOEBOX_ROW_HEADER) {
        reader.fail(
          `shoebox column "${name}" row ${i} declares ${npix} pixels (${rowBytes} bytes) past the end of the column`,
          base + p,
        );
      }
      p += SHOEBOX_ROW_HEADER + rowBytes;
    } else if (flag === 0) {
      p += SHOEBOX_ROW_HEADER;
    } else {
      reader.fail(`shoebox column "${name}" row ${i} has unknown data flag ${flag}`, base + p + 28);
    }
    offsets[i + 1] = p;
  }
  if (p !== len) reader.fail(`shoebox column "${name}" has ${len - p} bytes left over after ${n} rows`, base + p);
  return { offsets, bytes };
}

interface PendingColumn {
  name: string;
  n: number;
  offset: number;
  column: Column;
}

async function readKey(r: MsgpackFileReader, what: string): Promise<{ text: string; offset: number }> {
  const t = await r.expect("str", what);
  if (t.value > MAX_KEY_BYTES) {
    r.fail(`${what} is ${t.value} bytes long, not a known key`, t.offset);
  }
  return { text: await r.readUtf8(t.value, what), offset: t.offset };
}

async function readIdentifiers(r: MsgpackFileReader): Promise<Map<number, string>> {
  const m = await r.expect("map", `"identifiers" map`);
  if (m.value * 2 > r.remaining())
    r.fail(`"identifiers" declares ${m.value} entries, more than the file can hold`, m.offset);
  const ids = new Map<number, string>();
  for (let i = 0; i < m.value; i++) {
    const kOff = r.position;
    const k = await r.expectCount(`experiment id of identifier ${i}`);
    if (ids.has(k)) r.fail(`duplicate experiment id ${k} in "identifiers"`, kOff);
    const s = await r.expect("str", `identifier string for experiment id ${k}`);
    ids.set(k, await r.readUtf8(s.value, `identifier string for experiment id ${k}`));
  }
  return ids;
}

async function readColumn(r: MsgpackFileReader, nrows: number | undefined): Promise<PendingColumn> {
  const nameTok = await r.expect("str", "column name");
  const name = await r.readUtf8(nameTok.value, "column name");
  const pair = await r.expect("array", `[type, values] pair of column "${name}"`);
  if (pair.value !== 2)
    r.fail(`column "${name}" must be a 2-element [type, values] array, has ${pair.value}`, pair.offset);
  const typeTok = await r.expect("str", `type name of column "${name}"`);
  if (typeTok.value > MAX_KEY_BYTES)
    r.fail(`column "${name}" has an unknown type name of ${typeTok.value} bytes`, typeTok.offset);
  const type = await r.readUtf8(typeTok.value, `type name of column "${name}"`);
  if (type === "std::string") {
    r.fail(
      `column "${name}" has type std::string, which is unsupported (raw C++ string objects are not portable)`,
      typeTok.offset,
    );
  }
  if (type === "FrameSlicedShoebox<>") {
    r.fail(`column "${name}" has type FrameSlicedShoebox<>, which is unsupported`, typeTok.offset);
  }
  if (!isColumnTypeName(type)) r.fail(`column "${name}" has unknown column type "${type}"`, typeTok.offset);
  const values = await r.expect("array", `[n, payload] pair of column "${name}"`);
  if (values.value !== 2)
    r.fail(`column "${name}" values must be a 2-element [n, payload] array, has ${values.value}`, values.offset);
  const nOff = r.position;
  const n = await r.expectCount(`row count of column "${name}"`);
  if (nrows !== undefined && n !== nrows) r.fail(`column "${name}" has ${n} rows but nrows is ${nrows}`, nOff);
  const bin = await r.expect("bin", `payload of column "${name}"`);
  const len = bin.value;
  const dataOffset = r.position;
  r.checkAvailable(len, `payload of column "${name}"`, bin.offset);
  if (type === "Shoebox<>") {
    const bytes = new Uint8Array(len);
    await r.readInto(bytes, `payload of column "${name}"`);
    return { name, n, offset: nOff, column: { type, data: parseShoeboxes(bytes, n, dataOffset, name, r) } };
  }
  const size = elementBytes(type);
  if (len % size !== 0 || len / size !== n) {
    r.fail(`payload of column "${name}" (${type}) is ${len} bytes, expected ${n} × ${size} = ${n * size}`, bin.offset);
  }
  const buffer = new ArrayBuffer(len);
  await r.readInto(new Uint8Array(buffer), `payload of column "${name}"`);
  return { name, n, offset: nOff, column: fixedColumn(type, buffer) };
}

async function parse(r: MsgpackFileReader): Promise<ReflectionTable> {
  const top = await r.expect("array", "top-level [header, version, table] array");
  if (top.value !== 3) r.fail(`top-level array must have 3 elements, has ${top.value}`, top.offset);
  const h = await r.expect("str", "header string");
  if (h.value !== REFL_HEADER.length)
    r.fail(`not a DIALS reflection table: header string has ${h.value} bytes`, h.offset);
  const header = await r.readUtf8(h.value, "header string");
  if (header !== REFL_HEADER) r.fail(`not a DIALS reflection table: header is "${header}"`, h.offset);
  const vOff = r.position;
  const version = await r.expectCount("format version");
  if (!REFL_READ_VERSIONS.includes(version))
    r.fail(`unsupported .refl format version ${version} (expected 1 or 2)`, vOff);
  const map = await r.expect("map", "table map");
  let identifiers = new Map<number, string>();
  let nrows: number | undefined;
  const columns: PendingColumn[] = [];
  const seenKeys = new Set<string>();
  for (let i = 0; i < map.value; i++) {
    const key = await readKey(r, "table map key");
    if (seenKeys.has(key.text)) r.fail(`duplicate table key "${key.text}"`, key.offset);
    seenKeys.add(key.text);
    if (key.text === "identifiers") {
      identifiers = await readIdentifiers(r);
    } else if (key.text === "nrows") {
      nrows = await r.expectCount("nrows");
    } else if (key.text === "data") {
      const d = await r.expect("map", `"data" map`);
      if (d.value * 8 > r.remaining())
        r.fail(`"data" declares ${d.value} columns, more than the file can hold`, d.offset);
      const names = new Set<string>();
      for (let c = 0; c < d.value; c++) {
        const col = await readColumn(r, nrows);
        if (names.has(col.name)) r.fail(`duplicate column "${col.name}"`, col.offset);
        names.add(col.name);
        columns.push(col);
      }
    } else {
      r.fail(`unknown table key "${key.text}" (expected identifiers, nrows, data)`, key.offset);
    }
  }
  if (nrows === undefined) r.fail(`table map has no "nrows" entry`, map.offset);
  if (!seenKeys.has("data")) r.fail(`table map has no "data" entry`, map.offset);
  if (r.position !== r.size) r.fail(`${r.size - r.position} bytes of trailing garbage after the reflection table`);
  const table = new ReflectionTable(nrows, identifiers);
  for (const col of columns) {
    if (col.n !== nrows) r.fail(`column "${col.name}" has ${col.n} rows but nrows is ${nrows}`, col.offset);
    table.setColumn(col.name, col.column);
  }
  return table;
}

/**
 * Read a DIALS `.refl` file (MessagePack, format version 1 or 2) into a {@link ReflectionTable}. Validates the header,
 * the version, the table keys (only `identifiers`, `nrows`, `data`), every column type (`std::string` is unsupported),
 * every payload length (`n × element size`, `n == nrows`, never more than the file holds, checked before
 * allocating), the shoebox row structure, truncation and trailing bytes. Any failure is an {@link InputError} naming
 * `path`, what is wrong and where (column name, byte offset).
 *
 * @param path - the `.refl` file.
 * @param options - see {@link ReadReflectionsOptions}.
 */
export async function readReflections(path: string, options: ReadReflectionsOptions = {}): Promise<ReflectionTable> {
  if (typeof path !== "string" || path.length === 0)
    throw new InputError("readReflections: path must be a non-empty string");
  requireOptionsArgument(options, "readReflections: options");
  const windowBytes = options.windowBytes ?? DEFAULT_WINDOW_BYTES;
  if (!Number.isSafeInteger(windowBytes) || windowBytes < 16) {
    throw new InputError(`readReflections: windowBytes must be an integer >= 16, got ${String(windowBytes)}`, path);
  }
  requireLittleEndian(path);
  // a regular file, not mostly holes (checked before reading; its size bounds every declared length)
  const { handle: fh, size } = await openInputFile(path, "reflection table");
  try {
    return await parse(new MsgpackFileReader(fh, size, path, windowBytes));
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(`cannot read reflection file: ${e instanceof Error ? e.message : String(e)}`, path);
  } finally {
    await fh.close();
  }
}
