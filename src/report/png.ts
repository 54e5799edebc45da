/**
 * A minimal PNG encoder for the report's map images: 8-bit indexed colour (colour type 3) with a palette of at most
 * 256 RGB entries, each row filtered with filter type 0 (none), the image data deflated with `node:zlib`. Enough for
 * images whose pixels are palette indices, as the map slices are; no dependency.
 *
 * @packageDocumentation
 */
import { deflateSync } from "node:zlib";
import { ConfigError } from "../errors.ts";

const SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

let crcTable: Uint32Array | undefined;

/** CRC-32 (ISO 3309, the one PNG chunks carry) of `bytes`. */
export function crc32(bytes: Uint8Array): number {
  if (crcTable === undefined) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (const b of bytes) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/**
 * Encodes an indexed-colour image as PNG.
 *
 * @param width - image width in pixels (≥ 1)
 * @param height - image height in pixels (≥ 1)
 * @param indices - `width·height` palette indices, row by row from the top
 * @param palette - RGB triples (3 bytes per entry, 1 to 256 entries); every index must be below the entry count
 * @returns the PNG file's bytes
 * @throws {@link ConfigError} for inconsistent sizes or an index outside the palette
 */
export function encodeIndexedPng(width: number, height: number, indices: Uint8Array, palette: Uint8Array): Uint8Array {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new ConfigError(`encodeIndexedPng: size ${width}×${height} must be positive integers`);
  }
  const nColours = palette.length / 3;
  if (!Number.isInteger(nColours) || nColours < 1 || nColours > 256) {
    throw new ConfigError(`encodeIndexedPng: palette of ${palette.length} bytes is not 1..256 RGB entries`);
  }
  if (indices.length !== width * height) {
    throw new ConfigError(`encodeIndexedPng: ${indices.length} indices for a ${width}×${height} image`);
  }
  const raw = new Uint8Array((width + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = indices.subarray(y * width, (y + 1) * width);
    for (const v of row) {
      if (v >= nColours) throw new ConfigError(`encodeIndexedPng: index ${v} outside the palette of ${nColours}`);
    }
    raw.set(row, y * (width + 1) + 1);
  }
  const header = new Uint8Array(13);
  const hv = new DataView(header.buffer);
  hv.setUint32(0, width);
  hv.setUint32(4, height);
  header[8] = 8; // bit depth
  header[9] = 3; // indexed colour
  const parts = [
    SIGNATURE,
    chunk("IHDR", header),
    chunk("PLTE", palette),
    chunk("IDAT", deflateSync(raw, { level: 9 })),
    chunk("IEND", new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A PNG as a `data:` URI. */
export function pngDataUri(png: Uint8Array): string {
  return `data:image/png;base64,${Buffer.from(png.buffer, png.byteOffset, png.byteLength).toString("base64")}`;
}
