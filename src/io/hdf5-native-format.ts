/**
 * The part of the HDF5 file format (specification version 3) that the native reader of flat binned-diffuse files
 * needs, parsed straight from the bytes with no HDF5 library: superblocks 0–3, object headers 1 and 2 (with their
 * continuation blocks and Jenkins lookup3 checksums), the root group's links (symbol table or compact link messages)
 * and the dataspace, datatype, filter pipeline, data layout and attribute messages.
 *
 * It is a fast path for valid files only: anything it does not cover, or any inconsistency, throws
 * {@link NativeUnsupported}, and the caller then reads the file with h5wasm instead (which reports corrupt files with
 * HDF5's own diagnostics).
 *
 * @packageDocumentation
 */
import { readSync } from "node:fs";

/** Thrown for any layout, message or value the native reader does not cover (or a file it finds inconsistent). */
export class NativeUnsupported extends Error {
  override name = "NativeUnsupported";
}

/** Throws {@link NativeUnsupported} with `why` unless `ok`. */
export function need(ok: boolean, why: string): asserts ok {
  if (!ok) throw new NativeUnsupported(why);
}

const UNDEFINED_ADDRESS = -1;

/** Positioned reads from an open file descriptor, bounded by the file size. */
export class FileBytes {
  readonly fd: number;
  readonly size: number;

  constructor(fd: number, size: number) {
    this.fd = fd;
    this.size = size;
  }

  /** Reads `length` bytes at `address` (throws {@link NativeUnsupported} past the end of the file). */
  read(address: number, length: number): Buffer {
    const out = Buffer.allocUnsafeSlow(length);
    this.readInto(out, 0, address, length);
    return out;
  }

  /** Reads `length` bytes at `address` into `target` from byte `at` on. */
  readInto(target: Uint8Array, at: number, address: number, length: number): void {
    need(Number.isSafeInteger(address) && Number.isSafeInteger(length) && address >= 0 && length >= 0, "bad address");
    need(address + length <= this.size, `read of ${length} bytes at ${address} past the end of the file`);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, target, at + done, length - done, address + done);
      need(n > 0, "short read");
      done += n;
    }
  }
}

/** A little-endian cursor over a buffer with the file's sizes of offsets and lengths. */
export class Cursor {
  readonly buf: Buffer;
  pos: number;
  readonly offsetSize: number;
  readonly lengthSize: number;

  constructor(buf: Buffer, pos: number, offsetSize: number, lengthSize: number) {
    this.buf = buf;
    this.pos = pos;
    this.offsetSize = offsetSize;
    this.lengthSize = lengthSize;
  }

  private check(n: number): void {
    need(this.pos + n <= this.buf.length, "structure runs past its block");
  }

  u8(): number {
    this.check(1);
    return this.buf[this.pos++];
  }

  u16(): number {
    this.check(2);
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.check(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  /** An unsigned integer of `width` bytes (1–8); all-ones 8-byte values give −1, others beyond 2^53 are refused. */
  uint(width: number): number {
    this.check(width);
    let v = 0;
    let allOnes = true;
    for (let i = width - 1; i >= 0; i--) {
      const b = this.buf[this.pos + i];
      if (b !== 0xff) allOnes = false;
      v = v * 256 + b;
    }
    this.pos += width;
    if (allOnes && width >= 4) return UNDEFINED_ADDRESS;
    need(Number.isSafeInteger(v), "integer beyond 2^53");
    return v;
  }

  /** A file address (−1 when undefined). */
  address(): number {
    return this.uint(this.offsetSize);
  }

  /** A length field. */
  length(): number {
    const v = this.uint(this.lengthSize);
    need(v >= 0, "undefined length");
    return v;
  }

  skip(n: number): void {
    this.check(n);
    this.pos += n;
  }

  bytes(n: number): Buffer {
    this.check(n);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

/** Jenkins lookup3 `hashlittle` (byte-wise), the checksum of HDF5's version-2 metadata structures. */
export function lookup3(k: Uint8Array, start: number, end: number): number {
  let length = end - start;
  let a = (0xdeadbeef + length) | 0;
  let b = a;
  let c = a;
  let p = start;
  const rot = (x: number, s: number): number => (x << s) | (x >>> (32 - s));
  while (length > 12) {
    a = (a + (k[p] | (k[p + 1] << 8) | (k[p + 2] << 16) | (k[p + 3] << 24))) | 0;
    b = (b + (k[p + 4] | (k[p + 5] << 8) | (k[p + 6] << 16) | (k[p + 7] << 24))) | 0;
    c = (c + (k[p + 8] | (k[p + 9] << 8) | (k[p + 10] << 16) | (k[p + 11] << 24))) | 0;
    a = (a - c) | 0;
    a ^= rot(c, 4);
    c = (c + b) | 0;
    b = (b - a) | 0;
    b ^= rot(a, 6);
    a = (a + c) | 0;
    c = (c - b) | 0;
    c ^= rot(b, 8);
    b = (b + a) | 0;
    a = (a - c) | 0;
    a ^= rot(c, 16);
    c = (c + b) | 0;
    b = (b - a) | 0;
    b ^= rot(a, 19);
    a = (a + c) | 0;
    c = (c - b) | 0;
    c ^= rot(b, 4);
    b = (b + a) | 0;
    length -= 12;
    p += 12;
  }
  if (length === 0) return c >>> 0;
  const tail = [0, 0, 0];
  for (let i = 0; i < length; i++) tail[i >> 2] |= k[p + i] << (8 * (i & 3));
  a = (a + tail[0]) | 0;
  b = (b + tail[1]) | 0;
  c = (c + tail[2]) | 0;
  c ^= b;
  c = (c - rot(b, 14)) | 0;
  a ^= c;
  a = (a - rot(c, 11)) | 0;
  b ^= a;
  b = (b - rot(a, 25)) | 0;
  c ^= b;
  c = (c - rot(b, 16)) | 0;
  a ^= c;
  a = (a - rot(c, 4)) | 0;
  b ^= a;
  b = (b - rot(a, 14)) | 0;
  c ^= b;
  c = (c - rot(b, 24)) | 0;
  return c >>> 0;
}

/** Checks the lookup3 checksum stored in the 4 bytes after `[start, end)` of `buf`. */
export function checkChecksum(buf: Buffer, start: number, end: number, what: string): void {
  need(end + 4 <= buf.length, `${what}: no room for its checksum`);
  need(lookup3(buf, start, end) === buf.readUInt32LE(end), `${what}: checksum mismatch`);
}

/** The superblock fields the reader uses. */
export interface Superblock {
  offsetSize: number;
  lengthSize: number;
  /** Absolute file position that addresses are relative to. */
  base: number;
  /** Object header address of the root group (relative to `base`). */
  rootAddress: number;
  /** Symbol-table B-tree and local heap of the root group, from a version 0/1 superblock's cached entry. */
  rootSymbolTable?: { btree: number; heap: number };
}

const SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

/** Finds and parses the superblock (at 0, 512, 1024, … as HDF5 searches) and checks the file is not truncated. */
export function readSuperblock(file: FileBytes): Superblock {
  let at = -1;
  for (let p = 0; p + 8 <= file.size; p = p === 0 ? 512 : p * 2) {
    const sig = file.read(p, 8);
    if (SIGNATURE.every((v, i) => sig[i] === v)) {
      at = p;
      break;
    }
  }
  need(at >= 0, "no HDF5 signature");
  const head = file.read(at, Math.min(file.size - at, 128));
  const version = head[8];
  if (version === 0 || version === 1) {
    const offsetSize = head[13];
    const lengthSize = head[14];
    need([4, 8].includes(offsetSize) && [4, 8].includes(lengthSize), "unusual offset/length size");
    const c = new Cursor(head, version === 0 ? 24 : 28, offsetSize, lengthSize);
    const base = c.address();
    c.address(); // free-space info
    const eof = c.address();
    c.address(); // driver information block
    c.length(); // root entry: link name offset
    const rootAddress = c.address();
    const cacheType = c.u32();
    c.skip(4);
    need(base >= 0 && eof >= 0 && base + eof <= file.size, "truncated file or odd base address");
    const s: Superblock = { offsetSize, lengthSize, base, rootAddress };
    if (cacheType === 1) s.rootSymbolTable = { btree: c.address(), heap: c.address() };
    return s;
  }
  need(version === 2 || version === 3, `superblock version ${version}`);
  const offsetSize = head[9];
  const lengthSize = head[10];
  need([4, 8].includes(offsetSize) && [4, 8].includes(lengthSize), "unusual offset/length size");
  const c = new Cursor(head, 12, offsetSize, lengthSize);
  const base = c.address();
  const extension = c.address();
  const eof = c.address();
  const rootAddress = c.address();
  checkChecksum(head, 0, c.pos, "superblock");
  need(extension === UNDEFINED_ADDRESS, "superblock extension");
  need(base >= 0 && eof >= 0 && base + eof <= file.size, "truncated file or odd base address");
  return { offsetSize, lengthSize, base, rootAddress };
}

/** One header message: its type, flags and body. */
export interface HeaderMessage {
  type: number;
  flags: number;
  body: Cursor;
}

/** Message types the reader interprets. */
export const MSG = {
  dataspace: 0x1,
  linkInfo: 0x2,
  datatype: 0x3,
  link: 0x6,
  layout: 0x8,
  filters: 0xb,
  attribute: 0xc,
  continuation: 0x10,
  symbolTable: 0x11,
  attributeInfo: 0x15,
} as const;

/** Reads every message of the object header at `address` (version 1 or 2), following continuation blocks. */
export function readObjectHeader(file: FileBytes, sb: Superblock, address: number): HeaderMessage[] {
  need(address >= 0, "undefined object header address");
  const abs = sb.base + address;
  const prefix = file.read(abs, Math.min(16, file.size - abs));
  const messages: HeaderMessage[] = [];
  const blocks: [number, number][] = [];
  const seen = new Set<number>();
  let v2 = false;
  let creationOrder = false;
  if (prefix.length >= 4 && prefix.toString("latin1", 0, 4) === "OHDR") {
    v2 = true;
    const c = new Cursor(file.read(abs, Math.min(64, file.size - abs)), 4, sb.offsetSize, sb.lengthSize);
    need(c.u8() === 2, "object header version");
    const flags = c.u8();
    creationOrder = (flags & 0x04) !== 0;
    if (flags & 0x20) c.skip(16);
    if (flags & 0x10) c.skip(4);
    const size = c.uint(1 << (flags & 3));
    const whole = file.read(abs, c.pos + size + 4);
    checkChecksum(whole, 0, c.pos + size, "object header");
    parseV2Messages(whole, c.pos, c.pos + size, sb, creationOrder, messages);
  } else {
    const c = new Cursor(prefix, 0, sb.offsetSize, sb.lengthSize);
    need(c.u8() === 1, "object header version");
    c.skip(1);
    c.u16(); // number of messages
    c.u32(); // reference count
    const size = c.u32();
    blocks.push([abs + 16, size]);
  }
  for (let i = 0; i < messages.length || blocks.length > 0;) {
    if (blocks.length > 0) {
      const [at, len] = blocks.shift() ?? [0, 0];
      need(!seen.has(at) && seen.size < 64, "continuation loop");
      seen.add(at);
      const block = file.read(at, len);
      if (v2) {
        need(block.toString("latin1", 0, 4) === "OCHK", "continuation signature");
        checkChecksum(block, 0, len - 4, "object header continuation");
        parseV2Messages(block, 4, len - 4, sb, creationOrder, messages);
      } else parseV1Messages(block, sb, messages);
      continue;
    }
    const m = messages[i++];
    if (m.type === MSG.continuation) {
      const at = m.body.address();
      const len = m.body.length();
      need(at >= 0, "undefined continuation address");
      blocks.push([sb.base + at, len]);
    }
  }
  return messages;
}

function parseV1Messages(block: Buffer, sb: Superblock, out: HeaderMessage[]): void {
  let p = 0;
  while (p + 8 <= block.length) {
    const type = block.readUInt16LE(p);
    const size = block.readUInt16LE(p + 2);
    const flags = block[p + 4];
    need(p + 8 + size <= block.length, "message runs past its header block");
    out.push({ type, flags, body: new Cursor(block.subarray(p + 8, p + 8 + size), 0, sb.offsetSize, sb.lengthSize) });
    p += 8 + size;
  }
}

function parseV2Messages(
  block: Buffer,
  from: number,
  to: number,
  sb: Superblock,
  creationOrder: boolean,
  out: HeaderMessage[],
): void {
  const headerSize = creationOrder ? 6 : 4;
  let p = from;
  while (p + headerSize <= to) {
    const type = block[p];
    const size = block.readUInt16LE(p + 1);
    const flags = block[p + 3];
    const start = p + headerSize;
    need(start + size <= to, "message runs past its header block");
    out.push({ type, flags, body: new Cursor(block.subarray(start, start + size), 0, sb.offsetSize, sb.lengthSize) });
    p = start + size;
  }
}

/** A numeric or string element type. */
export interface Datatype {
  /** `float`, `int` (signed), `uint`, or `vlen-string`. */
  kind: "float" | "int" | "uint" | "vlen-string";
  /** Element size in bytes. */
  size: number;
}

/** Parses a datatype message: little-endian IEEE floats, little-endian integers, variable-length strings. */
export function parseDatatype(c: Cursor): Datatype {
  const b0 = c.u8();
  const cls = b0 & 0x0f;
  const bits = c.u8() | (c.u8() << 8) | (c.u8() << 16);
  const size = c.u32();
  if (cls === 0) {
    need((bits & 0x01) === 0, "big-endian integer");
    need(c.u16() === 0 && c.u16() === size * 8 && [1, 2, 4, 8].includes(size), "unusual integer type");
    return { kind: bits & 0x08 ? "int" : "uint", size };
  }
  if (cls === 1) {
    need((bits & 0x41) === 0, "big-endian or VAX float");
    const offset = c.u16();
    const precision = c.u16();
    const fields = [c.u8(), c.u8(), c.u8(), c.u8(), c.u32()];
    const ieee = size === 4 ? [23, 8, 0, 23, 127] : size === 8 ? [52, 11, 0, 52, 1023] : [-1, -1, -1, -1, -1];
    need(
      offset === 0 && precision === size * 8 && fields.every((v, i) => v === ieee[i]) && (bits & 0x0e) === 0,
      "non-IEEE float",
    );
    return { kind: "float", size };
  }
  if (cls === 9) {
    need((bits & 0x0f) === 1 && ((bits >> 8) & 0x0f) <= 1, "variable-length sequence or unusual charset");
    return { kind: "vlen-string", size };
  }
  throw new NativeUnsupported(`datatype class ${cls}`);
}

/** Parses a dataspace message: the current dimensions (`[]` for a scalar) and whether any maximum is unlimited. */
export function parseDataspace(c: Cursor): { dims: number[]; maxDims: number[] | undefined } {
  const version = c.u8();
  need(version === 1 || version === 2, "dataspace version");
  const rank = c.u8();
  const flags = c.u8();
  if (version === 1) c.skip(5);
  else need(c.u8() !== 2, "null dataspace");
  need(rank <= 3 && (flags & 0x02) === 0, "dataspace rank above 3 or permuted");
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(c.length());
  let maxDims: number[] | undefined;
  if (flags & 0x01) {
    maxDims = [];
    for (let i = 0; i < rank; i++) {
      // all-ones is H5S_UNLIMITED (−1 here)
      maxDims.push(c.uint(c.lengthSize));
    }
  }
  return { dims, maxDims };
}

/** One filter of a pipeline. */
export interface Filter {
  /** HDF5 filter id (1 deflate, 2 shuffle). */
  id: number;
  /** Client values. */
  values: number[];
}

/** Parses a filter pipeline message (versions 1 and 2). */
export function parseFilters(c: Cursor): Filter[] {
  const version = c.u8();
  need(version === 1 || version === 2, "filter pipeline version");
  const n = c.u8();
  if (version === 1) c.skip(6);
  const out: Filter[] = [];
  for (let f = 0; f < n; f++) {
    const id = c.u16();
    const nameLength = version === 1 || id >= 256 ? c.u16() : 0;
    c.u16(); // flags (optional or not: a skipped optional filter shows in each chunk's filter mask)
    const nValues = c.u16();
    c.skip(version === 1 ? Math.ceil(nameLength / 8) * 8 : nameLength);
    const values: number[] = [];
    for (let i = 0; i < nValues; i++) values.push(c.u32());
    if (version === 1 && nValues % 2 === 1) c.skip(4);
    out.push({ id, values });
  }
  return out;
}
