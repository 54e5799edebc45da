/**
 * Undoing HDF5's filter pipeline on one stored chunk: deflate (filter 1, Node's native zlib `inflateSync`), shuffle
 * (filter 2, unshuffled here byte-plane by byte-plane, trailing bytes that do not fill an element kept as they are, as
 * HDF5's shuffle filter does), bitshuffle (32008, with LZ4 or uncompressed) and LZ4 (32004), both decoded by
 * `hdf5-native-lz4.ts`. Shared by the main thread and the decoding worker threads.
 *
 * @packageDocumentation
 */
import { inflateSync } from "node:zlib";
import { InputError } from "../errors.ts";
import { decodeBitshuffle, decodeHdf5Lz4, FILTER_BITSHUFFLE, FILTER_LZ4 } from "./hdf5-native-lz4.ts";

/** Filter ids the native reader undoes. */
export const FILTER_DEFLATE = 1;
/** @see FILTER_DEFLATE */
export const FILTER_SHUFFLE = 2;
export { FILTER_BITSHUFFLE, FILTER_LZ4 };

/** Every filter id {@link decodeChunk} undoes. */
export const DECODED_FILTERS: ReadonlySet<number> = new Set([
  FILTER_DEFLATE,
  FILTER_SHUFFLE,
  FILTER_BITSHUFFLE,
  FILTER_LZ4,
]);

/** One filter of a pipeline: its id and client values (`cd_values`). */
export interface PipelineFilter {
  readonly id: number;
  readonly values: readonly number[];
}

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
 * @param pipeline - filters in the order they were applied when writing
 * @param mask - the chunk's filter mask
 * @param elementSize - bytes per element (shuffle, bitshuffle)
 * @param chunkBytes - the decoded size every chunk must have
 * @returns the decoded bytes (exactly `chunkBytes`; 8-byte aligned)
 * @throws Error with zlib's reason; {@link InputError} for an unsupported filter, a corrupt LZ4 or bitshuffle chunk,
 *   or a size mismatch
 */
export function decodeChunk(
  stored: Uint8Array,
  pipeline: readonly PipelineFilter[],
  mask: number,
  elementSize: number,
  chunkBytes: number,
): Uint8Array {
  let data = stored;
  for (let f = pipeline.length - 1; f >= 0; f--) {
    if ((mask >>> f) & 1) continue;
    const { id, values } = pipeline[f];
    // the decoded size bounds every filter's output: deflate by zlib's limit, LZ4 and bitshuffle by their checks
    if (id === FILTER_DEFLATE) {
      data = inflateSync(data, { maxOutputLength: Math.max(chunkBytes, 1) });
    } else if (id === FILTER_SHUFFLE) {
      data = unshuffle(data, elementSize);
    } else if (id === FILTER_BITSHUFFLE) {
      data = decodeBitshuffle(data, values, elementSize, chunkBytes);
    } else if (id === FILTER_LZ4) {
      data = decodeHdf5Lz4(data, chunkBytes);
    } else {
      throw new InputError(`HDF5 filter ${id} not supported`);
    }
  }
  if (data.length !== chunkBytes) {
    throw new InputError(`chunk decodes to ${data.length} bytes, expected ${chunkBytes}`);
  }
  if (data.byteOffset % 8 !== 0) data = Uint8Array.from(data);
  return data;
}
