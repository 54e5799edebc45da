/**
 * NumPy `.npz` archives: a zip file of `.npy` members (`numpy.savez` stores them, `numpy.savez_compressed` deflates
 * them). The zip reader checks the end-of-central-directory record (zip64 included), every central-directory entry
 * against its local header, sizes against the file size, and each member's CRC-32 before its `.npy` bytes are
 * parsed. The writer stores members (optionally deflated), adding zip64 records only when sizes or offsets need
 * them, and replaces the destination atomically.
 *
 * @packageDocumentation
 */

import { open, rename, rm } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { randomUUID } from "node:crypto";
import { basename, dirname, join, resolve } from "node:path";
import { crc32, deflateRawSync, inflateRawSync } from "node:zlib";
import {
  ConfigError,
  InputError,
  fileSystemError,
  requireInstanceArgument,
  requireObjectArgument,
  requireOptionsArgument,
  requireStringArgument,
} from "../errors.ts";
import { syncDirectory } from "./atomic-write.ts";
import { MAX_NPZ_FILE_BYTES, readInputFile } from "./input-file.ts";
import { formatNpy, parseNpy } from "./npy.ts";
import { printable } from "./printable.ts"; // member names come from the file: keep messages one printable line
import type { NpyArray } from "./npy.ts";

export type { NpyArray, NpyData, NpyDtype } from "./npy.ts";

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_LOCATOR64 = 0x07064b50;
const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;
/** Deflate cannot expand data by more than about 1032:1; a larger declared ratio is a lie. */
const MAX_DEFLATE_RATIO = 1032;

/** One member of a zip archive, as located by the central directory. */
interface ZipEntry {
  name: string;
  rawName: Uint8Array;
  method: number;
  flags: number;
  crc: number;
  compressedSize: number;
  uncompressedSize: number;
  localOffset: number;
}

function u64(view: DataView, at: number, path: string, what: string): number {
  const v = view.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new InputError(`zip: ${what} ${v} is too large`, path);
  return Number(v);
}

/** Reads the zip64 extended-information extra field, replacing the 0xFFFF.. placeholders it stands for. */
function applyZip64Extra(
  view: DataView,
  start: number,
  length: number,
  fields: { uncompressedSize: number; compressedSize: number; localOffset?: number },
  path: string,
  where: string,
): void {
  let p = start;
  const end = start + length;
  while (p + 4 <= end) {
    const id = view.getUint16(p, true);
    const size = view.getUint16(p + 2, true);
    const body = p + 4;
    if (body + size > end) throw new InputError(`zip: extra field of ${where} overruns its area`, path);
    if (id === 0x0001) {
      let q = body;
      const take = (what: string): number => {
        if (q + 8 > body + size) throw new InputError(`zip: zip64 extra field of ${where} lacks the ${what}`, path);
        const v = u64(view, q, path, what);
        q += 8;
        return v;
      };
      if (fields.uncompressedSize === U32_MAX) fields.uncompressedSize = take("uncompressed size");
      if (fields.compressedSize === U32_MAX) fields.compressedSize = take("compressed size");
      if (fields.localOffset === U32_MAX) fields.localOffset = take("local header offset");
      return;
    }
    p = body + size;
  }
  if (fields.uncompressedSize === U32_MAX || fields.compressedSize === U32_MAX || fields.localOffset === U32_MAX) {
    throw new InputError(`zip: ${where} needs a zip64 extra field but has none`, path);
  }
}

/** Locates the central directory from the end records (zip64 aware) and validates its extent. */
function readDirectory(bytes: Uint8Array, path: string): { entries: ZipEntry[]; cdOffset: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length;
  if (n < 22) throw new InputError(`zip: ${n} bytes is too short for an archive`, path);
  let eocd = -1;
  for (let p = n - 22; p >= Math.max(0, n - 22 - U16_MAX); p--) {
    if (view.getUint32(p, true) === SIG_EOCD && p + 22 + view.getUint16(p + 20, true) === n) {
      eocd = p;
      break;
    }
  }
  if (eocd < 0) throw new InputError("zip: end of central directory record not found (truncated or not a zip)", path);
  const disk = view.getUint16(eocd + 4, true);
  const cdDisk = view.getUint16(eocd + 6, true);
  let count = view.getUint16(eocd + 10, true);
  const countHere = view.getUint16(eocd + 8, true);
  let cdSize = view.getUint32(eocd + 12, true);
  let cdOffset = view.getUint32(eocd + 16, true);
  let cdLimit = eocd;
  if (count === U16_MAX || cdSize === U32_MAX || cdOffset === U32_MAX || countHere === U16_MAX) {
    const loc = eocd - 20;
    if (loc < 0 || view.getUint32(loc, true) !== SIG_LOCATOR64) {
      throw new InputError("zip: zip64 end-of-directory locator missing", path);
    }
    const rec = u64(view, loc + 8, path, "zip64 record offset");
    if (rec + 56 > loc || view.getUint32(rec, true) !== SIG_EOCD64) {
      throw new InputError(`zip: zip64 end-of-directory record not found at offset ${rec}`, path);
    }
    if (view.getUint32(rec + 16, true) !== 0 || view.getUint32(rec + 20, true) !== 0) {
      throw new InputError("zip: multi-disk archives are not supported", path);
    }
    count = u64(view, rec + 32, path, "entry count");
    cdSize = u64(view, rec + 40, path, "central directory size");
    cdOffset = u64(view, rec + 48, path, "central directory offset");
    cdLimit = rec;
  } else if (disk !== 0 || cdDisk !== 0 || countHere !== count) {
    throw new InputError("zip: multi-disk archives are not supported", path);
  }
  if (cdOffset + cdSize > cdLimit) {
    throw new InputError(
      `zip: central directory (offset ${cdOffset}, ${cdSize} bytes) runs past its end record at ${cdLimit}`,
      path,
    );
  }
  if (count > cdSize / 46) throw new InputError(`zip: ${count} entries cannot fit in ${cdSize} directory bytes`, path);

  const entries: ZipEntry[] = [];
  let p = cdOffset;
  const cdEnd = cdOffset + cdSize;
  const latin1 = new TextDecoder("latin1");
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdEnd || view.getUint32(p, true) !== SIG_CENTRAL) {
      throw new InputError(`zip: central directory entry ${i} missing or corrupt at offset ${p}`, path);
    }
    const flags = view.getUint16(p + 8, true);
    const method = view.getUint16(p + 10, true);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    const next = p + 46 + nameLen + extraLen + commentLen;
    if (next > cdEnd) throw new InputError(`zip: central directory entry ${i} overruns the directory`, path);
    const rawName = bytes.subarray(p + 46, p + 46 + nameLen);
    let name: string;
    try {
      name = (flags & 0x800) !== 0 ? utf8.decode(rawName) : latin1.decode(rawName);
    } catch {
      throw new InputError(`zip: central directory entry ${i} has an invalid UTF-8 name`, path);
    }
    const fields = {
      uncompressedSize: view.getUint32(p + 24, true),
      compressedSize: view.getUint32(p + 20, true),
      localOffset: view.getUint32(p + 42, true),
    };
    applyZip64Extra(view, p + 46 + nameLen, extraLen, fields, path, `entry '${name}'`);
    entries.push({ name, rawName, method, flags, crc: view.getUint32(p + 16, true), ...fields });
    p = next;
  }
  return { entries, cdOffset };
}

/** Checks an entry's local header and returns the member's decompressed, CRC-checked bytes. */
function extract(bytes: Uint8Array, entry: ZipEntry, dataLimit: number, path: string): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const where = `member '${printable(entry.name)}'`;
  const p = entry.localOffset;
  if (p + 30 > dataLimit || view.getUint32(p, true) !== SIG_LOCAL) {
    throw new InputError(`zip: local header of ${where} missing at offset ${p}`, path);
  }
  if ((entry.flags & 0x1) !== 0) throw new InputError(`zip: ${where} is encrypted`, path);
  const method = view.getUint16(p + 8, true);
  const nameLen = view.getUint16(p + 26, true);
  const extraLen = view.getUint16(p + 28, true);
  const dataStart = p + 30 + nameLen + extraLen;
  if (dataStart > dataLimit) throw new InputError(`zip: local header of ${where} overruns the file`, path);
  if (method !== entry.method) {
    throw new InputError(`zip: ${where} local header says method ${method}, directory says ${entry.method}`, path);
  }
  const localName = bytes.subarray(p + 30, p + 30 + nameLen);
  if (nameLen !== entry.rawName.length || !localName.every((b, i) => b === entry.rawName[i])) {
    throw new InputError(`zip: local header of ${where} names a different member`, path);
  }
  if ((view.getUint16(p + 6, true) & 0x8) === 0) {
    const local = { uncompressedSize: view.getUint32(p + 22, true), compressedSize: view.getUint32(p + 18, true) };
    applyZip64Extra(view, p + 30 + nameLen, extraLen, local, path, `local header of ${where}`);
    if (local.compressedSize !== entry.compressedSize || local.uncompressedSize !== entry.uncompressedSize) {
      throw new InputError(`zip: sizes in the local header of ${where} disagree with the central directory`, path);
    }
    if (view.getUint32(p + 14, true) !== entry.crc) {
      throw new InputError(`zip: CRC in the local header of ${where} disagrees with the central directory`, path);
    }
  }
  if (dataStart + entry.compressedSize > dataLimit) {
    throw new InputError(
      `zip: ${where} declares ${entry.compressedSize} bytes at offset ${dataStart}, beyond the member area (${dataLimit} bytes)`,
      path,
    );
  }
  const raw = bytes.subarray(dataStart, dataStart + entry.compressedSize);
  let out: Uint8Array;
  if (entry.method === 0) {
    if (entry.compressedSize !== entry.uncompressedSize) {
      throw new InputError(`zip: stored ${where} has different compressed and uncompressed sizes`, path);
    }
    out = raw;
  } else if (entry.method === 8) {
    if (entry.uncompressedSize > entry.compressedSize * MAX_DEFLATE_RATIO + 64) {
      throw new InputError(`zip: ${where} declares an impossible ${entry.uncompressedSize}-byte expansion`, path);
    }
    try {
      out = inflateRawSync(raw, { maxOutputLength: Math.max(1, entry.uncompressedSize) });
    } catch (error) {
      const why = error instanceof Error ? error.message.split("\n", 1)[0] : String(error);
      throw new InputError(`zip: cannot inflate ${where}: ${why}`, path);
    }
    if (out.length !== entry.uncompressedSize) {
      throw new InputError(`zip: ${where} inflates to ${out.length} bytes, declared ${entry.uncompressedSize}`, path);
    }
  } else {
    throw new InputError(`zip: ${where} uses unsupported compression method ${entry.method}`, path);
  }
  if (crc32(out) >>> 0 !== entry.crc) throw new InputError(`zip: CRC-32 mismatch in ${where}`, path);
  return out;
}

/**
 * Extracts every member of a zip archive held in memory, after validating the archive's structure.
 *
 * @param bytes - the archive
 * @param path - its name, for messages
 * @returns member name → decompressed bytes, in directory order
 * @throws {@link InputError} for any structural inconsistency, unsupported feature (encryption, multi-disk, methods
 * other than stored/deflate), duplicate names or CRC mismatch
 */
export function readZipMembers(bytes: Uint8Array, path: string): Map<string, Uint8Array> {
  const { entries, cdOffset } = readDirectory(bytes, path);
  const out = new Map<string, Uint8Array>();
  for (const e of entries) {
    if (out.has(e.name)) throw new InputError(`zip: duplicate member '${printable(e.name)}'`, path);
    out.set(e.name, extract(bytes, e, cdOffset, path));
  }
  return out;
}

/**
 * Reads a `.npz` archive: every member must be a `.npy` array.
 *
 * @param path - the `.npz` file
 * @returns array name (member name without `.npy`) → array, in archive order
 * @throws {@link InputError} for a missing file, a corrupt archive or a corrupt/unsupported member
 */
export async function readNpz(path: string): Promise<Map<string, NpyArray>> {
  if (typeof path !== "string" || path === "") throw new ConfigError("readNpz: path must be a non-empty string");
  // a regular file of at most MAX_NPZ_FILE_BYTES, checked before it is read
  const bytes = await readInputFile(path, "npz archive", MAX_NPZ_FILE_BYTES);
  return parseNpz(bytes, path);
}

/**
 * Parses a `.npz` archive held in memory (see {@link readNpz}).
 *
 * @param bytes - the archive
 * @param path - its name, for messages
 * @returns array name → array, in archive order
 * @throws {@link InputError} for a corrupt archive or a corrupt/unsupported member
 */
export function parseNpz(bytes: Uint8Array, path: string): Map<string, NpyArray> {
  const out = new Map<string, NpyArray>();
  for (const [name, member] of readZipMembers(bytes, path)) {
    if (!name.endsWith(".npy")) throw new InputError(`npz: member '${printable(name)}' is not a .npy array`, path);
    out.set(name.slice(0, -4), parseNpy(member, `${path}:${printable(name)}`));
  }
  return out;
}

/** Options of {@link writeNpz}. */
export interface WriteNpzOptions {
  /**
   * Deflate the members, as `numpy.savez_compressed` does.
   * @defaultValue false (stored, as `numpy.savez`)
   */
  compressed?: boolean;
  /**
   * Write zip64 records even for a small archive (they are always written when a size or offset needs them).
   * @defaultValue false
   */
  forceZip64?: boolean;
}

/** DOS date 1980-01-01, time 00:00 (fixed, so output is reproducible). */
const DOS_DATE = 0x21;
const DOS_TIME = 0;

function header(size: number): { bytes: Uint8Array; view: DataView } {
  const bytes = new Uint8Array(size);
  return { bytes, view: new DataView(bytes.buffer) };
}

/** One archive member as written: its name, stored bytes, CRC-32 and size of the `.npy` bytes, and its method. */
interface NpzMember {
  name: Uint8Array;
  data: Uint8Array;
  crc: number;
  size: number;
  method: number;
}

/** General-purpose flag: names are UTF-8. */
const UTF8_NAMES = 0x800;

/** The fields local and central headers share, in the same order (method … extra length), from offset `at`. */
function setEntryFields(view: DataView, at: number, m: NpzMember, zip64: boolean, extraLength: number): void {
  view.setUint16(at, m.method, true);
  view.setUint16(at + 2, DOS_TIME, true);
  view.setUint16(at + 4, DOS_DATE, true);
  view.setUint32(at + 6, m.crc, true);
  view.setUint32(at + 10, zip64 ? U32_MAX : m.data.length, true);
  view.setUint32(at + 14, zip64 ? U32_MAX : m.size, true);
  view.setUint16(at + 18, m.name.length, true);
  view.setUint16(at + 20, extraLength, true);
}

/** The zip64 extended-information extra field (tag 1) holding `values` as 64-bit integers, from offset `at`. */
function setZip64Extra(view: DataView, at: number, values: readonly number[]): void {
  view.setUint16(at, 1, true);
  view.setUint16(at + 2, 8 * values.length, true);
  values.forEach((v, k) => {
    view.setBigUint64(at + 4 + 8 * k, BigInt(v), true);
  });
}

/** The local file header of a member (with its zip64 extra field when `zip64`). */
function localHeader(m: NpzMember, zip64: boolean): Uint8Array {
  const extra = zip64 ? 20 : 0;
  const local = header(30 + m.name.length + extra);
  local.view.setUint32(0, SIG_LOCAL, true);
  local.view.setUint16(4, zip64 ? 45 : 20, true);
  local.view.setUint16(6, UTF8_NAMES, true);
  setEntryFields(local.view, 8, m, zip64, extra);
  local.bytes.set(m.name, 30);
  if (zip64) setZip64Extra(local.view, 30 + m.name.length, [m.size, m.data.length]);
  return local.bytes;
}

/** The central directory header of a member whose local header is at `localOffset`. */
function centralHeader(m: NpzMember, zip64: boolean, localOffset: number): Uint8Array {
  const extra = zip64 ? 28 : 0;
  const version = zip64 ? 45 : 20;
  const cd = header(46 + m.name.length + extra);
  cd.view.setUint32(0, SIG_CENTRAL, true);
  cd.view.setUint16(4, (3 << 8) | version, true);
  cd.view.setUint16(6, version, true);
  cd.view.setUint16(8, UTF8_NAMES, true);
  setEntryFields(cd.view, 10, m, zip64, extra);
  cd.view.setUint32(38, (0o100644 << 16) >>> 0, true);
  cd.view.setUint32(42, zip64 ? U32_MAX : localOffset, true);
  cd.bytes.set(m.name, 46);
  if (zip64) setZip64Extra(cd.view, 46 + m.name.length, [m.size, m.data.length, localOffset]);
  return cd.bytes;
}

/**
 * The end records after a central directory of `count` entries and `cdSize` bytes at `cdOffset`: the zip64 end record
 * and its locator (when `zip64End`; the record starts at `cdOffset + cdSize`), then the classic end record.
 */
function endRecords(count: number, cdSize: number, cdOffset: number, zip64End: boolean): Uint8Array[] {
  const out: Uint8Array[] = [];
  if (zip64End) {
    const rec = header(56);
    const recOffset = cdOffset + cdSize;
    rec.view.setUint32(0, SIG_EOCD64, true);
    rec.view.setBigUint64(4, 44n, true);
    rec.view.setUint16(12, (3 << 8) | 45, true);
    rec.view.setUint16(14, 45, true);
    rec.view.setBigUint64(24, BigInt(count), true);
    rec.view.setBigUint64(32, BigInt(count), true);
    rec.view.setBigUint64(40, BigInt(cdSize), true);
    rec.view.setBigUint64(48, BigInt(cdOffset), true);
    out.push(rec.bytes);
    const loc = header(20);
    loc.view.setUint32(0, SIG_LOCATOR64, true);
    loc.view.setBigUint64(8, BigInt(recOffset), true);
    loc.view.setUint32(16, 1, true);
    out.push(loc.bytes);
  }
  const end = header(22);
  end.view.setUint32(0, SIG_EOCD, true);
  end.view.setUint16(8, zip64End ? U16_MAX : count, true);
  end.view.setUint16(10, zip64End ? U16_MAX : count, true);
  end.view.setUint32(12, zip64End ? U32_MAX : cdSize, true);
  end.view.setUint32(16, zip64End ? U32_MAX : cdOffset, true);
  out.push(end.bytes);
  return out;
}

/** The `.npy` bytes of each array as an archive member (stored, or raw-deflated when `compressed`). */
function npzMembers(arrays: Map<string, NpyArray>, compressed: boolean): NpzMember[] {
  const encoder = new TextEncoder();
  const members: NpzMember[] = [];
  for (const [key, array] of arrays) {
    requireStringArgument(key, "writeNpz: an array name");
    requireObjectArgument(array, `writeNpz: array '${key}' ({ dtype, shape, data })`);
    if (key === "" || key.includes("/") || key.includes("\\"))
      throw new ConfigError(`writeNpz: bad array name '${key}'`);
    const npy = formatNpy(array);
    const data = compressed ? deflateRawSync(npy) : npy;
    members.push({
      name: encoder.encode(`${key}.npy`),
      data,
      crc: crc32(npy) >>> 0,
      size: npy.length,
      method: compressed ? 8 : 0,
    });
  }
  return members;
}

/**
 * Writes a `.npz` archive that `numpy.load` reads: one `<name>.npy` member per array, stored (or deflated), with
 * zip64 records where needed. The destination is replaced atomically (temporary file, then rename).
 *
 * @param path - destination `.npz`
 * @param arrays - name → array (names must be non-empty and must not contain `/` or `\`)
 * @param options - compression and zip64
 * @throws {@link ConfigError} for bad names or arrays; {@link InputError} when the file cannot be written
 */
export async function writeNpz(
  path: string,
  arrays: Map<string, NpyArray>,
  options: WriteNpzOptions = {},
): Promise<void> {
  requireStringArgument(path, "writeNpz: path");
  requireInstanceArgument(arrays, Map, "writeNpz: arrays (name → NpyArray)");
  requireOptionsArgument(options, "writeNpz: options");
  const force = options.forceZip64 ?? false;
  const members = npzMembers(arrays, options.compressed ?? false);
  const full = resolve(path);
  const tmp = join(dirname(full), `.${basename(full)}.${process.pid}.${randomUUID()}.tmp`);
  let handle: FileHandle | undefined;
  try {
    handle = await open(tmp, "w");
  } catch (error) {
    throw fileSystemError(error, path, "create the output file");
  }
  const h = handle;
  try {
    let offset = 0;
    const central: Uint8Array[] = [];
    const write = async (b: Uint8Array): Promise<void> => {
      for (let done = 0; done < b.length;) {
        const { bytesWritten } = await h.write(b, done, b.length - done);
        done += bytesWritten;
      }
      offset += b.length;
    };
    for (const m of members) {
      const zip64 = force || m.size >= U32_MAX || m.data.length >= U32_MAX || offset >= U32_MAX;
      const localOffset = offset;
      await write(localHeader(m, zip64));
      await write(m.data);
      central.push(centralHeader(m, zip64, localOffset));
    }
    const cdOffset = offset;
    for (const c of central) await write(c);
    const cdSize = offset - cdOffset;
    const count = members.length;
    const zip64End = force || count >= U16_MAX || cdSize >= U32_MAX || cdOffset >= U32_MAX;
    for (const r of endRecords(count, cdSize, cdOffset, zip64End)) await write(r);
    await h.sync();
    handle = undefined;
    await h.close();
    await rename(tmp, full);
  } catch (error) {
    if (handle !== undefined) await h.close().catch(() => undefined);
    await rm(tmp, { force: true });
    if (error instanceof InputError || error instanceof ConfigError) throw error;
    throw fileSystemError(error, path, "write");
  }
  syncDirectory(dirname(full), path);
}
