/**
 * The LZ4-based HDF5 filters, decoded natively: bitshuffle (filter 32008, as Eiger and Jungfrau detectors write
 * their images; with LZ4 or without compression) and the HDF5 LZ4 filter (32004). Written from the formats'
 * descriptions:
 *
 * - an LZ4 *block* (not frame): sequences of a token (literal length, match length − 4, nibbles extended by 255-bytes),
 *   literals, and a 2-byte little-endian offset back into the output; the last sequence has literals only;
 * - bitshuffle-LZ4 chunk: 8-byte big-endian decoded size, 4-byte big-endian block size in bytes, then per block a
 *   4-byte big-endian compressed size and an LZ4 block that decodes to the block's bit planes. Blocks hold
 *   `blockSize / elementSize` elements (a multiple of 8); the last, shorter block holds the remaining elements
 *   rounded down to a multiple of 8, and the last `n mod 8` elements are stored as they are, after the blocks;
 * - bit planes of a block of `m` elements: plane `8j + b` (`m / 8` bytes) holds bit `b` of byte `j` of every element,
 *   element `i` at bit `i mod 8` of byte `⌊i / 8⌋`;
 * - bitshuffle without compression: the same blocks (size from the filter's parameters, or bitshuffle's default of
 *   8192 bytes' worth of elements, a multiple of 8, at least 128), no header and no sizes;
 * - HDF5 LZ4 (32004): 8-byte big-endian decoded size, 4-byte big-endian block size, then per block a 4-byte
 *   big-endian stored size and the block: raw when the stored size equals the block's decoded size, else LZ4.
 *
 * Every length read from a chunk is checked against the chunk's bytes and the chunk's declared decoded size before
 * anything is copied, so corrupt chunks fail with {@link InputError} and never allocate more than the chunk's size.
 *
 * @packageDocumentation
 */
import { InputError } from "../errors.ts";

/** HDF5 filter id of bitshuffle. */
export const FILTER_BITSHUFFLE = 32008;
/** HDF5 filter id of LZ4. */
export const FILTER_LZ4 = 32004;
/** Bitshuffle's `cd_values[4]` for LZ4 compression (3 is zstd, not decoded here). */
const BSHUF_LZ4 = 2;

function corrupt(what: string, detail: string): InputError {
  return new InputError(`corrupt ${what} chunk: ${detail}`);
}

function u32be(b: Uint8Array, at: number): number {
  return ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
}

/** The 8-byte big-endian size at `at` (any value above 2^53 reads as Infinity: refused by the size check). */
function u64be(b: Uint8Array, at: number): number {
  const hi = u32be(b, at);
  return hi >= 1 << 21 ? Infinity : hi * 2 ** 32 + u32be(b, at + 4);
}

/**
 * Decodes one LZ4 block `input[from, to)` into exactly `out[outFrom, outTo)`.
 *
 * @throws {@link InputError} when the block overruns its input or output, refers before the output's start, or does
 *   not fill the output exactly
 */
export function decodeLz4Block(
  input: Uint8Array,
  from: number,
  to: number,
  out: Uint8Array,
  outFrom: number,
  outTo: number,
  what = "LZ4",
): void {
  let ip = from;
  let op = outFrom;
  while (ip < to) {
    const token = input[ip++];
    let literals = token >>> 4;
    if (literals === 15) {
      let b = 255;
      while (b === 255) {
        if (ip >= to) throw corrupt(what, "literal length past the end of the block");
        b = input[ip++];
        literals += b;
      }
    }
    if (literals > to - ip || literals > outTo - op) throw corrupt(what, "literals overrun the block or the output");
    if (literals < 16) {
      for (let e = ip + literals; ip < e;) out[op++] = input[ip++];
    } else {
      out.set(input.subarray(ip, ip + literals), op);
      ip += literals;
      op += literals;
    }
    if (ip === to) break; // the last sequence: literals only
    if (to - ip < 2) throw corrupt(what, "match offset past the end of the block");
    const offset = input[ip] | (input[ip + 1] << 8);
    ip += 2;
    if (offset === 0 || offset > op - outFrom) throw corrupt(what, `match offset ${offset} before the block's start`);
    let length = (token & 15) + 4;
    if ((token & 15) === 15) {
      let b = 255;
      while (b === 255) {
        if (ip >= to) throw corrupt(what, "match length past the end of the block");
        b = input[ip++];
        length += b;
      }
    }
    if (length > outTo - op) throw corrupt(what, "match overruns the output");
    const src = op - offset;
    if (offset === 1) {
      out.fill(out[src], op, op + length);
      op += length;
    } else if (length < 16) {
      // short (and possibly overlapping): byte by byte repeats the last `offset` bytes
      for (let e = op + length, k = src; op < e;) out[op++] = out[k++];
    } else if (offset >= length) {
      out.copyWithin(op, src, src + length);
      op += length;
    } else {
      // overlapping: the first period, then the copied prefix doubled (it stays periodic with period `offset`)
      out.copyWithin(op, src, op);
      let copied = offset;
      while (copied < length) {
        const n = Math.min(copied, length - copied);
        out.copyWithin(op + copied, op, op + n);
        copied += n;
      }
      op += length;
    }
  }
  if (op !== outTo) throw corrupt(what, `block decodes to ${op - outFrom} bytes, expected ${outTo - outFrom}`);
}

/**
 * Undoes bitshuffle's bit transpose of one block of `m` elements (`m` a multiple of 8) of `es` bytes: the planes are
 * `planes[from, from + m·es)`, the elements go to `out[outFrom, outFrom + m·es)`, which must hold zeros (a fresh
 * array): bytes whose eight bits are all zero are not written.
 */
export function bitUnshuffleBlock(
  planes: Uint8Array,
  from: number,
  out: Uint8Array,
  outFrom: number,
  m: number,
  es: number,
): void {
  const rowBytes = m >>> 3;
  for (let j = 0; j < es; j++) {
    const plane0 = from + 8 * j * rowBytes;
    if (allZero(planes, plane0, plane0 + 8 * rowBytes)) continue; // byte j zero in every element (high bytes of counts)
    for (let g = 0; g < rowBytes; g++) {
      // the 8×8 bit matrix of byte j of elements 8g…8g+7: row b = plane 8j+b's byte g, column t = element 8g+t
      const p = plane0 + g;
      const r = rowBytes;
      let lo = planes[p] | (planes[p + r] << 8) | (planes[p + 2 * r] << 16) | (planes[p + 3 * r] << 24);
      let hi = planes[p + 4 * r] | (planes[p + 5 * r] << 8) | (planes[p + 6 * r] << 16) | (planes[p + 7 * r] << 24);
      if ((lo | hi) === 0) continue; // all eight bytes zero (the high bit planes of counts): `out` holds zeros already
      // transpose the 8×8 bit matrix held in (hi:lo), byte r = row r, bit c = column c (Hacker's Delight, 32-bit)
      let t = (lo ^ (lo >>> 7)) & 0x00aa00aa;
      lo = lo ^ t ^ (t << 7);
      t = (hi ^ (hi >>> 7)) & 0x00aa00aa;
      hi = hi ^ t ^ (t << 7);
      t = (lo ^ (lo >>> 14)) & 0x0000cccc;
      lo = lo ^ t ^ (t << 14);
      t = (hi ^ (hi >>> 14)) & 0x0000cccc;
      hi = hi ^ t ^ (t << 14);
      t = ((lo >>> 4) ^ hi) & 0x0f0f0f0f;
      hi ^= t;
      lo ^= t << 4;
      const o = outFrom + 8 * g * es + j;
      out[o] = lo;
      out[o + es] = lo >>> 8;
      out[o + 2 * es] = lo >>> 16;
      out[o + 3 * es] = lo >>> 24;
      out[o + 4 * es] = hi;
      out[o + 5 * es] = hi >>> 8;
      out[o + 6 * es] = hi >>> 16;
      out[o + 7 * es] = hi >>> 24;
    }
  }
}

function allZero(b: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i] !== 0) return false;
  return true;
}

/** Bitshuffle's default block (elements) when the filter's parameters give none. */
function defaultBlockElements(es: number): number {
  return Math.max(128, Math.floor(8192 / es / 8) * 8);
}

/**
 * Decodes one chunk stored with the bitshuffle filter.
 *
 * @param stored - the chunk as stored (after any later filter was undone)
 * @param values - the filter's parameters (`cd_values`: versions, element size, block size, compression)
 * @param elementSize - the dataset's element size
 * @param chunkBytes - the decoded size the chunk must have
 * @throws {@link InputError} for zstd compression, parameters that disagree with the dataset, or a corrupt chunk
 */
export function decodeBitshuffle(
  stored: Uint8Array,
  values: readonly number[],
  elementSize: number,
  chunkBytes: number,
): Uint8Array {
  const what = "bitshuffle";
  const es = values.length > 2 ? values[2] : elementSize;
  if (es !== elementSize || es < 1) {
    throw new InputError(`bitshuffle element size ${es} differs from the dataset's ${elementSize}`);
  }
  const compression = values.length > 4 ? values[4] : 0;
  if (compression !== 0 && compression !== BSHUF_LZ4) {
    throw new InputError(
      `bitshuffle compression ${compression} (${compression === 3 ? "zstd" : "unknown"}) is not supported; only LZ4 (2) and none (0)`,
    );
  }
  if (chunkBytes % es !== 0) throw corrupt(what, `chunk of ${chunkBytes} bytes is not whole ${es}-byte elements`);
  const n = chunkBytes / es;
  let at = 0;
  let blockElements: number;
  if (compression === BSHUF_LZ4) {
    if (stored.length < 12) throw corrupt(what, `${stored.length} bytes, shorter than its 12-byte header`);
    const total = u64be(stored, 0);
    if (total !== chunkBytes) throw corrupt(what, `header says ${total} bytes, the chunk holds ${chunkBytes}`);
    const blockBytes = u32be(stored, 8);
    blockElements = blockBytes / es;
    at = 12;
  } else {
    blockElements = values.length > 3 && values[3] > 0 ? values[3] : defaultBlockElements(es);
    if (stored.length !== chunkBytes) throw corrupt(what, `${stored.length} bytes stored, expected ${chunkBytes}`);
  }
  if (!Number.isInteger(blockElements) || blockElements < 8 || blockElements % 8 !== 0) {
    throw corrupt(what, `block of ${blockElements} elements is not a positive multiple of 8`);
  }
  const out = new Uint8Array(chunkBytes);
  const planes = new Uint8Array(Math.min(blockElements, n) * es);
  const tail = n % blockElements;
  const lastBlock = tail - (tail % 8);
  const fullBlocks = (n - tail) / blockElements;
  for (let k = 0; k <= fullBlocks; k++) {
    const m = k < fullBlocks ? blockElements : lastBlock;
    if (m === 0) break;
    const bytes = m * es;
    const outAt = k * blockElements * es;
    if (compression === BSHUF_LZ4) {
      if (stored.length - at < 4) throw corrupt(what, `block ${k} size past the end of the chunk`);
      const size = u32be(stored, at);
      at += 4;
      if (size > stored.length - at) throw corrupt(what, `block ${k} of ${size} bytes past the end of the chunk`);
      decodeLz4Block(stored, at, at + size, planes, 0, bytes, what);
      at += size;
      bitUnshuffleBlock(planes, 0, out, outAt, m, es);
    } else {
      bitUnshuffleBlock(stored, outAt, out, outAt, m, es);
      at += bytes;
    }
  }
  const rest = (n % 8) * es;
  if (stored.length - at !== rest) {
    throw corrupt(what, `${stored.length - at} bytes after the blocks, expected ${rest}`);
  }
  out.set(stored.subarray(at, at + rest), chunkBytes - rest);
  return out;
}

/**
 * Decodes one chunk stored with the HDF5 LZ4 filter (32004).
 *
 * @throws {@link InputError} for a corrupt chunk or one whose declared size differs from `chunkBytes`
 */
export function decodeHdf5Lz4(stored: Uint8Array, chunkBytes: number): Uint8Array {
  const what = "LZ4";
  if (stored.length < 12) throw corrupt(what, `${stored.length} bytes, shorter than its 12-byte header`);
  const total = u64be(stored, 0);
  if (total !== chunkBytes) throw corrupt(what, `header says ${total} bytes, the chunk holds ${chunkBytes}`);
  const blockBytes = u32be(stored, 8);
  if (blockBytes === 0 && total > 0) throw corrupt(what, "block size 0");
  const out = new Uint8Array(chunkBytes);
  let at = 12;
  for (let op = 0, k = 0; op < chunkBytes; op += blockBytes, k++) {
    const bytes = Math.min(blockBytes, chunkBytes - op);
    if (stored.length - at < 4) throw corrupt(what, `block ${k} size past the end of the chunk`);
    const size = u32be(stored, at);
    at += 4;
    if (size > stored.length - at) throw corrupt(what, `block ${k} of ${size} bytes past the end of the chunk`);
    if (size === bytes) out.set(stored.subarray(at, at + size), op);
    else decodeLz4Block(stored, at, at + size, out, op, op + bytes, what);
    at += size;
  }
  if (at !== stored.length) throw corrupt(what, `${stored.length - at} bytes after the last block`);
  return out;
}
