/**
 * Mini-CBF images (Pilatus/Eiger CBF, dxtbx's `FormatCBFMini`): the text header of `# Key value` lines that dxtbx
 * reads (`Pixel_size`, `Wavelength`, `Detector_distance`, `Beam_xy`, `Count_cutoff`, `Polarization`, the sensor
 * thickness), the MIME header of the binary section, and its `x-CBF_BYTE_OFFSET` payload decoded to 32-bit integers.
 *
 * @packageDocumentation
 */
import { readFileSync } from "node:fs";
import { InputError } from "../errors.ts";

/** The header keys of a mini-CBF image that dxtbx's `FormatCBFMini`/`FormatCBFMiniPilatus` read. */
export interface MiniCbfHeader {
  /** Every `# Key value` line of the `_array_data.header_contents` block, key → the rest of the line. */
  readonly lines: ReadonlyMap<string, string>;
  /** `Pixel_size` (fast, slow) in mm, when present. */
  readonly pixelSizeMm?: [number, number];
  /** `Wavelength` in Å, when present. */
  readonly wavelength?: number;
  /** `Detector_distance` in mm, when present. */
  readonly distanceMm?: number;
  /** `Beam_xy` in pixels, when present. */
  readonly beamXy?: [number, number];
  /** `Count_cutoff` (counts; the trusted maximum dxtbx uses), when present. */
  readonly countCutoff?: number;
  /** `Polarization`, when present. */
  readonly polarization?: number;
  /** Sensor thickness in mm (`# <material> sensor, thickness <t> m`), when present. */
  readonly thicknessMm?: number;
}

/** A decoded mini-CBF image. */
export interface MiniCbfImage {
  readonly header: MiniCbfHeader;
  /** Pixels along the fast axis (`X-Binary-Size-Fastest-Dimension`). */
  readonly width: number;
  /** Pixels along the slow axis (`X-Binary-Size-Second-Dimension`). */
  readonly height: number;
  /** The pixel values, row-major (slow, fast). */
  readonly data: Int32Array;
}

/** The 4 bytes that open a CBF binary section's payload. */
const BINARY_START = [0x0c, 0x1a, 0x04, 0xd5];

function firstNumber(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const m = /[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?/.exec(text);
  return m === null ? undefined : Number(m[0]);
}

function twoNumbers(text: string | undefined): [number, number] | undefined {
  if (text === undefined) return undefined;
  const m = [...text.matchAll(/[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?/g)].map((x) => Number(x[0]));
  return m.length >= 2 ? [m[0], m[1]] : undefined;
}

/** Parses the `# Key value` lines of a mini-CBF header (the key is the first word, without a trailing colon). */
export function parseMiniCbfHeader(text: string): MiniCbfHeader {
  const lines = new Map<string, string>();
  let thicknessMm: number | undefined;
  for (const raw of text.split(/\r?\n/)) {
    if (!raw.startsWith("# ")) continue;
    const body = raw.slice(2).trim();
    const m = /^([A-Za-z_][\w-]*):?\s*(.*)$/.exec(body);
    if (m === null) continue;
    if (!lines.has(m[1])) lines.set(m[1], m[2]);
    const t = /sensor, thickness\s+([-+\d.eE]+)\s*m/.exec(body);
    if (t !== null) thicknessMm = Number(t[1]) * 1000;
  }
  const pixel = twoNumbers(lines.get("Pixel_size"));
  const wavelength = firstNumber(lines.get("Wavelength"));
  const distance = firstNumber(lines.get("Detector_distance"));
  const beamXy = twoNumbers(lines.get("Beam_xy"));
  const countCutoff = firstNumber(lines.get("Count_cutoff"));
  const polarization = firstNumber(lines.get("Polarization"));
  return {
    lines,
    ...(pixel === undefined ? {} : { pixelSizeMm: [pixel[0] * 1000, pixel[1] * 1000] as [number, number] }),
    ...(wavelength === undefined ? {} : { wavelength }),
    ...(distance === undefined ? {} : { distanceMm: distance * 1000 }),
    ...(beamXy === undefined ? {} : { beamXy }),
    ...(countCutoff === undefined ? {} : { countCutoff }),
    ...(polarization === undefined ? {} : { polarization }),
    ...(thicknessMm === undefined ? {} : { thicknessMm }),
  };
}

/**
 * Decodes CBF byte-offset data: each value is the previous one plus a delta stored as int8, or (after the int8 marker
 * −128) int16, or (after the int16 marker −32768) int32, or (after the int32 marker) int64, all little-endian.
 *
 * @param bytes - the payload, starting after the 4 start bytes
 * @param out - receives the values; its length is the element count
 * @returns the number of payload bytes consumed
 * @throws {@link InputError} when the payload ends before `out` is full
 */
export function decodeByteOffset(bytes: Uint8Array, out: Int32Array, path = "<cbf>"): number {
  const n = out.length;
  const end = bytes.length;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const signed = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  let value = 0;
  let i = 0;
  // fast path, no bounds checks while a whole escape sequence (15 bytes at most) fits
  const safe = end - 15;
  while (i < n && pos < safe) {
    const d = signed[pos];
    if (d !== -128) {
      value = (value + d) | 0;
      pos += 1;
    } else {
      const d16 = (signed[pos + 2] << 8) | bytes[pos + 1];
      if (d16 !== -32768) {
        value = (value + d16) | 0;
        pos += 3;
      } else {
        const d32 = bytes[pos + 3] | (bytes[pos + 4] << 8) | (bytes[pos + 5] << 16) | (bytes[pos + 6] << 24);
        if (d32 !== -2147483648) {
          value = (value + d32) | 0;
          pos += 7;
        } else {
          // int64 delta: its low 32 bits (the sum is taken modulo 2^32, as every value is int32)
          value =
            (value + (bytes[pos + 7] | (bytes[pos + 8] << 8) | (bytes[pos + 9] << 16) | (bytes[pos + 10] << 24))) | 0;
          pos += 15;
        }
      }
    }
    out[i++] = value;
  }
  for (; i < n; i++) {
    if (pos >= end) throw new InputError(`byte-offset data end after ${i} of ${n} values`, path);
    let d = signed[pos];
    pos += 1;
    if (d === -128) {
      if (pos + 2 > end) throw new InputError(`byte-offset data truncated at value ${i}`, path);
      d = view.getInt16(pos, true);
      pos += 2;
      if (d === -32768) {
        if (pos + 4 > end) throw new InputError(`byte-offset data truncated at value ${i}`, path);
        d = view.getInt32(pos, true);
        pos += 4;
        if (d === -2147483648) {
          if (pos + 8 > end) throw new InputError(`byte-offset data truncated at value ${i}`, path);
          d = Number(view.getBigInt64(pos, true) & 0xffffffffn) | 0;
          pos += 8;
        }
      }
    }
    value = (value + d) | 0;
    out[i] = value;
  }
  return pos;
}

function indexOfBytes(hay: Uint8Array, needle: readonly number[], from: number): number {
  const last = hay.length - needle.length;
  outer: for (let i = from; i <= last; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function mimeValue(mime: string, key: string): string | undefined {
  const m = new RegExp(`^${key}:\\s*(.+?)\\s*$`, "mi").exec(mime);
  return m === null ? undefined : m[1].replace(/^"|"$/g, "");
}

/**
 * Parses a mini-CBF file's bytes. The values are decoded into `reuse` when it has exactly their number (a reader
 * keeping one image in memory), else into a new array.
 *
 * @throws {@link InputError} naming `path` for anything but one byte-offset section of signed 32-bit integers
 */
export function parseMiniCbf(bytes: Uint8Array, path: string, reuse?: Int32Array): MiniCbfImage {
  const start = indexOfBytes(bytes, BINARY_START, 0);
  if (start < 0) throw new InputError("no CBF binary section (start bytes 0C 1A 04 D5 not found)", path);
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, start).toString("latin1");
  if (!text.startsWith("###CBF")) throw new InputError("not a CBF file (no '###CBF' magic)", path);
  const section = text.lastIndexOf("--CIF-BINARY-FORMAT-SECTION--");
  if (section < 0) throw new InputError("no '--CIF-BINARY-FORMAT-SECTION--' before the binary data", path);
  const mime = text.slice(section);
  const conversions = mimeValue(mime, "Content-Type") ?? "";
  if (!conversions.includes("x-CBF_BYTE_OFFSET") && !/x-CBF_BYTE_OFFSET/.test(mime)) {
    throw new InputError(`unsupported CBF compression (need x-CBF_BYTE_OFFSET): ${conversions}`, path);
  }
  const elementType = mimeValue(mime, "X-Binary-Element-Type") ?? "";
  if (elementType !== "signed 32-bit integer") {
    throw new InputError(`unsupported X-Binary-Element-Type '${elementType}' (need signed 32-bit integer)`, path);
  }
  const width = Number(mimeValue(mime, "X-Binary-Size-Fastest-Dimension"));
  const height = Number(mimeValue(mime, "X-Binary-Size-Second-Dimension"));
  const count = Number(mimeValue(mime, "X-Binary-Number-of-Elements"));
  const size = Number(mimeValue(mime, "X-Binary-Size"));
  if (!(Number.isSafeInteger(width) && width > 0 && Number.isSafeInteger(height) && height > 0)) {
    throw new InputError("missing or invalid X-Binary-Size-Fastest-Dimension / X-Binary-Size-Second-Dimension", path);
  }
  if (count !== width * height) {
    throw new InputError(`X-Binary-Number-of-Elements ${count} is not ${width} × ${height}`, path);
  }
  const payloadStart = start + BINARY_START.length;
  const available = bytes.length - payloadStart;
  const payloadBytes = Number.isSafeInteger(size) && size > 0 ? Math.min(size, available) : available;
  const data = reuse !== undefined && reuse.length === count ? reuse : new Int32Array(count);
  decodeByteOffset(bytes.subarray(payloadStart, payloadStart + payloadBytes), data, path);
  const headerStart = text.indexOf("_array_data.header_contents");
  const headerEnd = text.indexOf("_array_data.data");
  const headerText = headerStart >= 0 ? text.slice(headerStart, headerEnd > headerStart ? headerEnd : section) : "";
  return { header: parseMiniCbfHeader(headerText), width, height, data };
}

/**
 * Reads and decodes a mini-CBF image file.
 *
 * @throws {@link InputError} when the file cannot be read or is not a byte-offset mini-CBF
 */
export function readMiniCbf(path: string): MiniCbfImage {
  return readMiniCbfReusing(path, undefined);
}

/**
 * {@link readMiniCbf}, decoding into `reuse` when it has the image's number of values (see {@link parseMiniCbf}).
 *
 * @internal
 */
export function readMiniCbfReusing(path: string, reuse: Int32Array | undefined): MiniCbfImage {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new InputError(`cannot read image: ${e instanceof Error ? e.message : String(e)}`, path);
  }
  return parseMiniCbf(bytes, path, reuse);
}
