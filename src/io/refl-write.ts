/**
 * Write a {@link ReflectionTable} as a DIALS `.refl` file (MessagePack, format version 1, the version DIALS 3.12
 * reads), byte-identical to what DIALS itself writes for the same table.
 *
 * @packageDocumentation
 */
import { InputError } from "../errors.ts";
import { ReflectionTable } from "../table/reflection-table.ts";
import type { Column, ShoeboxColumn } from "../table/column-types.ts";
import { writeFileAtomic } from "./atomic-write.ts";
import { MsgpackFileWriter } from "./msgpack-writer.ts";
import { REFL_HEADER } from "./refl-read.ts";

/** The format version written: 1, readable by every DIALS release (Debian's DIALS 3.12 reads only version 1). */
export const REFL_WRITE_VERSION = 1;

const BIN32_LIMIT = 2 ** 32;

/** Bytes of a shoebox row before its pixel data: uint32 panel, int32 bbox[6], uint8 flag. */
const ROW_HEADER = 29;

/**
 * Check every shoebox row against its flag and bbox and return the size of the column once rows with flag 2
 * (uint8 mask, a format-version-2 feature) are rewritten as flag-1 rows (int32 mask), as a version-1 file needs.
 */
function planShoeboxV1(name: string, sb: ShoeboxColumn, path: string): { length: number; widen: boolean } {
  const { offsets, bytes } = sb;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = offsets.length - 1;
  let length = 0;
  let widen = false;
  for (let i = 0; i < n; i++) {
    const o = offsets[i];
    const rowLen = offsets[i + 1] - o;
    const bad = (what: string): never => {
      throw new InputError(`cannot write shoebox column "${name}": row ${i} ${what}`, path);
    };
    if (rowLen < ROW_HEADER) bad(`is ${rowLen} bytes, shorter than its 29-byte header`);
    const nx = view.getInt32(o + 8, true) - view.getInt32(o + 4, true);
    const ny = view.getInt32(o + 16, true) - view.getInt32(o + 12, true);
    const nz = view.getInt32(o + 24, true) - view.getInt32(o + 20, true);
    if (nx < 0 || ny < 0 || nz < 0) bad(`has an inverted bbox (extents ${nx}, ${ny}, ${nz})`);
    const npix = nx * ny * nz;
    const flag = bytes[o + 28];
    const expected = flag === 0 ? ROW_HEADER : flag === 1 ? ROW_HEADER + 12 * npix : ROW_HEADER + 9 * npix;
    if (flag > 2) bad(`has unknown data flag ${flag}`);
    if (rowLen !== expected) bad(`is ${rowLen} bytes but its flag ${flag} and bbox need ${expected}`);
    if (flag === 2) {
      widen = true;
      length += ROW_HEADER + 12 * npix;
    } else {
      length += rowLen;
    }
  }
  return { length, widen };
}

/** Stream a shoebox column's rows, rewriting flag-2 rows as flag-1 rows (uint8 mask widened to int32). */
async function writeShoeboxRowsV1(w: MsgpackFileWriter, sb: ShoeboxColumn): Promise<void> {
  const { offsets, bytes } = sb;
  const n = offsets.length - 1;
  let runStart = 0;
  for (let i = 0; i < n; i++) {
    const o = offsets[i];
    if (bytes[o + 28] !== 2) continue;
    await w.raw(bytes.subarray(runStart, o));
    const npix = (offsets[i + 1] - o - ROW_HEADER) / 9;
    const out = new Uint8Array(ROW_HEADER + 12 * npix);
    out.set(bytes.subarray(o, o + 28), 0);
    out[28] = 1;
    const src = o + ROW_HEADER;
    out.set(bytes.subarray(src, src + 4 * npix), ROW_HEADER);
    const mask = new DataView(out.buffer, ROW_HEADER + 4 * npix, 4 * npix);
    for (let k = 0; k < npix; k++) mask.setInt32(4 * k, bytes[src + 4 * npix + k], true);
    out.set(bytes.subarray(src + 5 * npix, src + 9 * npix), ROW_HEADER + 8 * npix);
    await w.raw(out);
    runStart = offsets[i + 1];
  }
  await w.raw(bytes.subarray(runStart, bytes.length));
}

function payload(column: Column): Uint8Array {
  if (column.type === "Shoebox<>") return column.data.bytes;
  const d = column.data;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/**
 * Write `table` to `path` atomically (temporary file + rename): the array `["dials::af::reflection_table", 1,
 * {identifiers, nrows, data}]` with identifiers in ascending id order and columns in byte-wise sorted name order,
 * every length and integer in the encoding msgpack-c picks. Column payloads are streamed one by one from their typed
 * arrays (little-endian). Shoebox rows are written verbatim, except rows with data flag 2 (uint8 mask, which only
 * format version 2 has): they are rewritten as flag-1 rows with the same values in an int32 mask, as version-1 readers
 * expect. Throws {@link InputError} if a shoebox row does not match its flag and bbox, or if a column is 4 GiB or
 * larger (the MessagePack `bin32` limit).
 */
export async function writeReflections(path: string, table: ReflectionTable): Promise<void> {
  if (!(table instanceof ReflectionTable))
    throw new InputError("writeReflections: table must be a ReflectionTable", path);
  const names = table.columnNames();
  const shoeboxPlans = new Map<string, { length: number; widen: boolean }>();
  for (const name of names) {
    const column = table.column(name);
    let len = payload(column).length;
    if (column.type === "Shoebox<>") {
      const plan = planShoeboxV1(name, column.data, path);
      shoeboxPlans.set(name, plan);
      len = plan.length;
    }
    if (len >= BIN32_LIMIT) {
      throw new InputError(`column "${name}" is ${len} bytes, above the 4 GiB MessagePack bin32 limit`, path);
    }
  }
  const ids = [...table.identifiers.keys()].sort((a, b) => a - b);
  await writeFileAtomic(path, async (fh) => {
    const w = new MsgpackFileWriter(fh);
    await w.arrayHeader(3);
    await w.str(REFL_HEADER);
    await w.uint(REFL_WRITE_VERSION);
    await w.mapHeader(3);
    await w.str("identifiers");
    await w.mapHeader(ids.length);
    for (const id of ids) {
      await w.uint(id);
      await w.str(table.identifiers.get(id) ?? "");
    }
    await w.str("nrows");
    await w.uint(table.nrows);
    await w.str("data");
    await w.mapHeader(names.length);
    for (const name of names) {
      const column = table.column(name);
      const bytes = payload(column);
      const plan = shoeboxPlans.get(name);
      await w.str(name);
      await w.arrayHeader(2);
      await w.str(column.type);
      await w.arrayHeader(2);
      await w.uint(table.nrows);
      if (column.type === "Shoebox<>" && plan?.widen === true) {
        await w.binHeader(plan.length);
        await writeShoeboxRowsV1(w, column.data);
      } else {
        await w.binHeader(bytes.length);
        await w.raw(bytes);
      }
    }
    await w.flush();
  });
}
