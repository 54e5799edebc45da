/**
 * Undoing HDF5's filter pipeline on one stored chunk with Node's native zlib: deflate (filter 1, `inflateSync`) and
 * shuffle (filter 2, unshuffled here byte-plane by byte-plane, trailing bytes that do not fill an element kept as
 * they are, as HDF5's shuffle filter does). Shared by the main thread and the decoding worker threads.
 *
 * @packageDocumentation
 */
import { inflateSync } from "node:zlib";

/** Filter ids the native reader undoes. */
export const FILTER_DEFLATE = 1;
/** @see FILTER_DEFLATE */
export const FILTER_SHUFFLE = 2;

/** Reverses HDF5's shuffle filter: byte plane `b` of element `i` sits at `b·n + i` in the shuffled data. */
export function unshuffle(input: Uint8Array, elementSize: number): Uint8Array {
  const out = new Uint8Array(input.length);
  const n = Math.floor(input.length / elementSize);
  if (elementSize <= 1 || n <= 1) {
    out.set(input);
    return out;
  }
  for (let b = 0; b < elementSize; b++) {
    const plane = b * n;
    for (let i = 0, o = b; i < n; i++, o += elementSize) out[o] = input[plane + i];
  }
  const whole = n * elementSize;
  if (whole < input.length) out.set(input.subarray(whole), whole);
  return out;
}

/**
 * Decodes one chunk: the filters of `pipeline` are undone in reverse order, skipping those whose bit is set in `mask`.
 *
 * @param stored - the bytes as stored in the file
 * @param pipeline - filter ids in the order they were applied when writing
 * @param mask - the chunk's filter mask
 * @param elementSize - bytes per element (shuffle)
 * @param chunkBytes - the decoded size every chunk must have
 * @returns the decoded bytes (exactly `chunkBytes`; 4-byte aligned)
 * @throws Error with zlib's reason, or a size mismatch
 */
export function decodeChunk(
  stored: Uint8Array,
  pipeline: readonly number[],
  mask: number,
  elementSize: number,
  chunkBytes: number,
): Uint8Array {
  let data = stored;
  for (let f = pipeline.length - 1; f >= 0; f--) {
    if ((mask >>> f) & 1) continue;
    if (pipeline[f] === FILTER_DEFLATE) {
      data = inflateSync(data, { maxOutputLength: Math.max(chunkBytes, 1) });
    } else if (pipeline[f] === FILTER_SHUFFLE) {
      data = unshuffle(data, elementSize);
    } else throw new Error(`filter ${pipeline[f]} not supported`);
  }
  if (data.length !== chunkBytes) throw new Error(`chunk decodes to ${data.length} bytes, expected ${chunkBytes}`);
  if (data.byteOffset % 8 !== 0) data = Uint8Array.from(data);
  return data;
}
