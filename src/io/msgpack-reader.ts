/**
 * A streaming MessagePack token walker over a file handle. It reads through a small buffered window with positioned
 * reads, so files far above 2 GiB can be walked; large `bin` payloads are read straight into caller-owned memory.
 * Every problem is reported as an {@link InputError} naming the file and the byte offset.
 *
 * @packageDocumentation
 */
import type { FileHandle } from "node:fs/promises";
import { InputError } from "../errors.ts";
import { printable } from "./printable.ts";

/** Kinds of MessagePack token the walker reports. Integers of every width (signed or not) are `"int"`. */
export type MsgpackTokenKind = "nil" | "bool" | "int" | "float" | "str" | "bin" | "array" | "map" | "ext";

/** One token: its kind, where it starts, the format name (e.g. `"uint16"`), and its value or length. */
export interface MsgpackToken {
  /** Token kind. */
  kind: MsgpackTokenKind;
  /** Absolute byte offset of the token's first byte. */
  offset: number;
  /** The MessagePack format name, for messages (`"fixmap"`, `"bin32"`, `"uint64"`, ...). */
  format: string;
  /**
   * For `int`: the value (exact only when {@link MsgpackToken.exact}); for `bool`/`float`: the value as a number;
   * for `str`/`bin`/`ext`: the payload length in bytes; for `array`/`map`: the element / entry count.
   */
  value: number;
  /** For `int`: whether `value` is exact (a safe integer). Always true for the other kinds. */
  exact: boolean;
}

/** Default size of the buffered read window in bytes. */
export const DEFAULT_WINDOW_BYTES = 64 * 1024;

/** Largest single positioned read/write issued (Node limits one call to < 2 GiB). */
export const MAX_IO_CHUNK = 1 << 30;

const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Walks the MessagePack tokens of one file with positioned reads through a buffered window. The walker never reads
 * past the file size it was given, and checks every declared length against the bytes that remain before the caller
 * allocates anything.
 */
export class MsgpackFileReader {
  /** Absolute offset of the next unread byte. */
  position = 0;
  /** Total size of the file in bytes. */
  readonly size: number;
  /** Path used in error messages. */
  readonly path: string;
  readonly #fh: FileHandle;
  readonly #buf: Buffer;
  #bufStart = 0;
  #bufEnd = 0;

  /**
   * @param fh - an open file handle; not closed by the reader.
   * @param size - the file size in bytes (from `stat`).
   * @param path - the file path, for messages.
   * @param windowBytes - size of the read window. @defaultValue {@link DEFAULT_WINDOW_BYTES}
   */
  constructor(fh: FileHandle, size: number, path: string, windowBytes = DEFAULT_WINDOW_BYTES) {
    this.#fh = fh;
    this.size = size;
    this.path = path;
    this.#buf = Buffer.allocUnsafe(Math.max(16, windowBytes));
  }

  /** Bytes left between the current position and the end of the file. */
  remaining(): number {
    return this.size - this.position;
  }

  /** Throw an {@link InputError} for this file with the offset appended. */
  fail(message: string, offset: number = this.position): never {
    // Messages quote keys and type names read from the file: keep them one printable line.
    throw new InputError(`${printable(message, Infinity)} (byte offset ${offset})`, this.path);
  }

  async #fill(n: number, what: string): Promise<void> {
    if (this.position >= this.#bufStart && this.position + n <= this.#bufEnd) return;
    if (this.position + n > this.size) {
      this.fail(`file truncated: ${what} needs ${n} bytes but only ${this.remaining()} remain`);
    }
    const want = Math.min(this.#buf.length, this.size - this.position);
    let got = 0;
    while (got < want) {
      const { bytesRead } = await this.#fh.read(this.#buf, got, want - got, this.position + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    this.#bufStart = this.position;
    this.#bufEnd = this.position + got;
    if (got < n) this.fail(`file truncated: ${what} needs ${n} bytes but the read returned ${got}`);
  }

  #at(k: number): number {
    return this.position + k - this.#bufStart;
  }

  // Kept whole: one case per MessagePack type byte, in the order of the format's type table.
  /** Read the next token header and advance past it (not past any str/bin/ext payload or container elements). */
  async next(what = "value"): Promise<MsgpackToken> {
    const offset = this.position;
    await this.#fill(1, what);
    const b = this.#buf[this.#at(0)];
    const tok = (kind: MsgpackTokenKind, format: string, value: number, exact = true): MsgpackToken => ({
      kind,
      offset,
      format,
      value,
      exact,
    });
    if (b <= 0x7f) {
      this.position += 1;
      return tok("int", "positive fixint", b);
    }
    if (b >= 0xe0) {
      this.position += 1;
      return tok("int", "negative fixint", b - 256);
    }
    if (b <= 0x8f) {
      this.position += 1;
      return tok("map", "fixmap", b & 0x0f);
    }
    if (b <= 0x9f) {
      this.position += 1;
      return tok("array", "fixarray", b & 0x0f);
    }
    if (b <= 0xbf) {
      this.position += 1;
      return tok("str", "fixstr", b & 0x1f);
    }
    const sized = async (kind: MsgpackTokenKind, format: string, width: number, extra = 0): Promise<MsgpackToken> => {
      await this.#fill(1 + width + extra, `${format} header`);
      const p = this.#at(1);
      const v =
        width === 1 ? this.#buf.readUInt8(p) : width === 2 ? this.#buf.readUInt16BE(p) : this.#buf.readUInt32BE(p);
      this.position += 1 + width + extra;
      return tok(kind, format, v);
    };
    const fixed = async (n: number, format: string): Promise<DataView> => {
      await this.#fill(1 + n, format);
      const p = this.#at(1);
      const view = new DataView(this.#buf.buffer, this.#buf.byteOffset + p, n);
      this.position += 1 + n;
      return view;
    };
    switch (b) {
      case 0xc0:
        this.position += 1;
        return tok("nil", "nil", 0);
      case 0xc2:
      case 0xc3:
        this.position += 1;
        return tok("bool", b === 0xc3 ? "true" : "false", b - 0xc2);
      case 0xc4:
        return sized("bin", "bin8", 1);
      case 0xc5:
        return sized("bin", "bin16", 2);
      case 0xc6:
        return sized("bin", "bin32", 4);
      case 0xc7:
        return sized("ext", "ext8", 1, 1);
      case 0xc8:
        return sized("ext", "ext16", 2, 1);
      case 0xc9:
        return sized("ext", "ext32", 4, 1);
      case 0xca:
        return tok("float", "float32", (await fixed(4, "float32")).getFloat32(0));
      case 0xcb:
        return tok("float", "float64", (await fixed(8, "float64")).getFloat64(0));
      case 0xcc:
        return tok("int", "uint8", (await fixed(1, "uint8")).getUint8(0));
      case 0xcd:
        return tok("int", "uint16", (await fixed(2, "uint16")).getUint16(0));
      case 0xce:
        return tok("int", "uint32", (await fixed(4, "uint32")).getUint32(0));
      case 0xcf: {
        const v = (await fixed(8, "uint64")).getBigUint64(0);
        return tok("int", "uint64", Number(v), v <= BigInt(Number.MAX_SAFE_INTEGER));
      }
      case 0xd0:
        return tok("int", "int8", (await fixed(1, "int8")).getInt8(0));
      case 0xd1:
        return tok("int", "int16", (await fixed(2, "int16")).getInt16(0));
      case 0xd2:
        return tok("int", "int32", (await fixed(4, "int32")).getInt32(0));
      case 0xd3: {
        const v = (await fixed(8, "int64")).getBigInt64(0);
        const safe = v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER);
        return tok("int", "int64", Number(v), safe);
      }
      case 0xd4:
      case 0xd5:
      case 0xd6:
      case 0xd7:
      case 0xd8: {
        await this.#fill(2, "fixext header");
        this.position += 2;
        return tok("ext", "fixext", 1 << (b - 0xd4));
      }
      case 0xd9:
        return sized("str", "str8", 1);
      case 0xda:
        return sized("str", "str16", 2);
      case 0xdb:
        return sized("str", "str32", 4);
      case 0xdc:
        return sized("array", "array16", 2);
      case 0xdd:
        return sized("array", "array32", 4);
      case 0xde:
        return sized("map", "map16", 2);
      case 0xdf:
        return sized("map", "map32", 4);
      default:
        return this.fail(`invalid MessagePack type byte 0x${b.toString(16)} while reading ${what}`, offset);
    }
  }

  /** Read the next token and require it to be of `kind`; the message names `what` was expected. */
  async expect(kind: MsgpackTokenKind, what: string): Promise<MsgpackToken> {
    const t = await this.next(what);
    if (t.kind !== kind) this.fail(`expected ${what} (${kind}), found ${t.format}`, t.offset);
    return t;
  }

  /** Read a non-negative integer token that fits in 2^53; `what` names it in errors. */
  async expectCount(what: string): Promise<number> {
    const t = await this.expect("int", what);
    if (!t.exact || t.value < 0)
      this.fail(`${what} must be a non-negative integer below 2^53, found ${t.format}`, t.offset);
    return t.value;
  }

  /** Require `len` more bytes to exist in the file (before allocating anything for them). */
  checkAvailable(len: number, what: string, offset: number = this.position): void {
    if (len > this.remaining()) {
      this.fail(`${what} declares ${len} bytes but only ${this.remaining()} remain in the file`, offset);
    }
  }

  /** Read `len` bytes as a UTF-8 string (strict decoding). */
  async readUtf8(len: number, what: string): Promise<string> {
    const offset = this.position;
    this.checkAvailable(len, what, offset);
    let bytes: Uint8Array;
    if (len <= this.#buf.length) {
      await this.#fill(len, what);
      const p = this.#at(0);
      bytes = this.#buf.subarray(p, p + len);
      this.position += len;
    } else {
      bytes = new Uint8Array(len);
      await this.readInto(bytes, what);
    }
    try {
      return decoder.decode(bytes);
    } catch {
      return this.fail(`${what} is not valid UTF-8`, offset);
    }
  }

  /** Read exactly `target.length` bytes at the current position into `target` and advance. */
  async readInto(target: Uint8Array, what: string): Promise<void> {
    const len = target.length;
    const offset = this.position;
    this.checkAvailable(len, what, offset);
    let done = 0;
    // Whatever is already buffered.
    if (this.position >= this.#bufStart && this.position < this.#bufEnd) {
      const p = this.#at(0);
      const k = Math.min(len, this.#bufEnd - this.position);
      target.set(this.#buf.subarray(p, p + k), 0);
      done = k;
    }
    while (done < len) {
      const chunk = Math.min(MAX_IO_CHUNK, len - done);
      const { bytesRead } = await this.#fh.read(target, done, chunk, offset + done);
      if (bytesRead === 0) this.fail(`file truncated while reading ${what}`, offset + done);
      done += bytesRead;
    }
    this.position = offset + len;
  }

  /** Advance past `len` bytes without reading them (they must exist). */
  skip(len: number, what: string): void {
    this.checkAvailable(len, what);
    this.position += len;
  }
}
