/**
 * A buffered MessagePack writer over a file handle that picks encodings exactly as msgpack-c does: the smallest
 * unsigned integer format, fixstr/str8/str16/str32, fixmap/map16/map32, fixarray/array16/array32 and bin8/bin16/bin32.
 * Large payloads are written straight from their typed arrays, never concatenated into one big buffer.
 *
 * @packageDocumentation
 */
import type { FileHandle } from "node:fs/promises";
import { InputError } from "../errors.ts";
import { DEFAULT_WINDOW_BYTES, MAX_IO_CHUNK } from "./msgpack-reader.ts";

const encoder = new TextEncoder();

/** Streams MessagePack to a file handle from its current start (offset 0) onwards. */
export class MsgpackFileWriter {
  readonly #fh: FileHandle;
  readonly #buf: Buffer;
  #used = 0;
  /** Bytes handed to the file so far (including the buffered ones). */
  position = 0;
  #filePos = 0;

  /**
   * @param fh - an open, writable file handle; not closed by the writer.
   * @param windowBytes - size of the write buffer. @defaultValue {@link DEFAULT_WINDOW_BYTES}
   */
  constructor(fh: FileHandle, windowBytes = DEFAULT_WINDOW_BYTES) {
    this.#fh = fh;
    this.#buf = Buffer.allocUnsafe(Math.max(64, windowBytes));
  }

  async #writeFully(bytes: Uint8Array): Promise<void> {
    let done = 0;
    while (done < bytes.length) {
      const chunk = Math.min(MAX_IO_CHUNK, bytes.length - done);
      const { bytesWritten } = await this.#fh.write(bytes, done, chunk, this.#filePos);
      done += bytesWritten;
      this.#filePos += bytesWritten;
    }
  }

  /** Write out the buffered bytes. Call once at the end. */
  async flush(): Promise<void> {
    if (this.#used > 0) {
      const n = this.#used;
      this.#used = 0;
      await this.#writeFully(this.#buf.subarray(0, n));
    }
  }

  async #reserve(n: number): Promise<number> {
    if (this.#used + n > this.#buf.length) await this.flush();
    const p = this.#used;
    this.#used += n;
    this.position += n;
    return p;
  }

  /** Write raw bytes (a str/bin payload). Small ones are buffered; large ones go straight to the file. */
  async raw(bytes: Uint8Array): Promise<void> {
    if (bytes.length <= this.#buf.length - this.#used) {
      const p = await this.#reserve(bytes.length);
      this.#buf.set(bytes, p);
      return;
    }
    await this.flush();
    await this.#writeFully(bytes);
    this.position += bytes.length;
  }

  /** A non-negative integer in the smallest format msgpack-c would choose (fixint, uint8/16/32/64). */
  async uint(value: number | bigint): Promise<void> {
    const v = BigInt(value);
    if (v < 0n || v >= 1n << 64n) throw new InputError(`msgpack writer: ${String(value)} is not a uint64`);
    if (v < 128n) {
      const p = await this.#reserve(1);
      this.#buf[p] = Number(v);
    } else if (v < 256n) {
      const p = await this.#reserve(2);
      this.#buf[p] = 0xcc;
      this.#buf[p + 1] = Number(v);
    } else if (v < 65536n) {
      const p = await this.#reserve(3);
      this.#buf[p] = 0xcd;
      this.#buf.writeUInt16BE(Number(v), p + 1);
    } else if (v < 1n << 32n) {
      const p = await this.#reserve(5);
      this.#buf[p] = 0xce;
      this.#buf.writeUInt32BE(Number(v), p + 1);
    } else {
      const p = await this.#reserve(9);
      this.#buf[p] = 0xcf;
      this.#buf.writeBigUInt64BE(v, p + 1);
    }
  }

  async #header(
    n: number,
    fix: number,
    fixLimit: number,
    c8: number,
    c16: number,
    c32: number,
    what: string,
  ): Promise<void> {
    if (!Number.isSafeInteger(n) || n < 0 || n >= 2 ** 32) {
      throw new InputError(`msgpack writer: ${what} length ${String(n)} is outside [0, 2^32)`);
    }
    if (n < fixLimit) {
      const p = await this.#reserve(1);
      this.#buf[p] = fix | n;
    } else if (c8 !== 0 && n < 256) {
      const p = await this.#reserve(2);
      this.#buf[p] = c8;
      this.#buf[p + 1] = n;
    } else if (n < 65536) {
      const p = await this.#reserve(3);
      this.#buf[p] = c16;
      this.#buf.writeUInt16BE(n, p + 1);
    } else {
      const p = await this.#reserve(5);
      this.#buf[p] = c32;
      this.#buf.writeUInt32BE(n, p + 1);
    }
  }

  /** A map header for `n` entries (fixmap, map16, map32). */
  mapHeader(n: number): Promise<void> {
    return this.#header(n, 0x80, 16, 0, 0xde, 0xdf, "map");
  }

  /** An array header for `n` elements (fixarray, array16, array32). */
  arrayHeader(n: number): Promise<void> {
    return this.#header(n, 0x90, 16, 0, 0xdc, 0xdd, "array");
  }

  /** A bin header for `n` payload bytes (bin8, bin16, bin32). */
  binHeader(n: number): Promise<void> {
    return this.#header(n, 0, 0, 0xc4, 0xc5, 0xc6, "bin");
  }

  /** A str header for `n` UTF-8 bytes (fixstr, str8, str16, str32). */
  strHeader(n: number): Promise<void> {
    return this.#header(n, 0xa0, 32, 0xd9, 0xda, 0xdb, "str");
  }

  /** A string: header then its UTF-8 bytes. */
  async str(s: string): Promise<void> {
    const bytes = encoder.encode(s);
    await this.strHeader(bytes.length);
    await this.raw(bytes);
  }
}
