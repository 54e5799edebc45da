/**
 * Frames of NeXus/HDF5 image files (Eiger/Jungfrau-style NXmx): a master file whose `/entry/data` group holds either
 * one 3-D dataset `data` (frames, slow, fast) or links `data_000001`, `data_000002`, … to data files, each a 3-D
 * block of frames, in name order. External links are resolved against the master file's directory (as the Eiger
 * writes them: a bare file name). One frame is read at a time, so only that frame's chunks are decompressed.
 *
 * h5wasm opens the master and follows its links; each block of frames is then read by the native HDF5 reader
 * (`hdf5-native-reader.ts`), which decodes gzip/deflate, shuffle, bitshuffle-LZ4 (HDF5 filter 32008, as Eiger and
 * Jungfrau write) and LZ4 (32004) chunks itself. A block in a layout the native reader does not cover is read by
 * h5wasm (deflate, shuffle, Fletcher-32, n-bit, scale-offset); one that would need a filter h5wasm lacks is refused with a one-line error
 * naming the filter.
 *
 * @packageDocumentation
 */
import { dirname, isAbsolute, resolve } from "node:path";
import type { Dataset, File as H5File } from "h5wasm/node";
import { InputError, requireStringArgument } from "../errors.ts";
import { checkFilters, closeQuietly, guardH5, H5WASM_FILTERS, loadH5wasm, openH5Read } from "./hdf5.ts";
import { FILTER_BITSHUFFLE, FILTER_LZ4 } from "./hdf5-native-decode.ts";
import { openNativeH5, type NativeH5 } from "./hdf5-native-reader.ts";

/** Pixel values of one frame, as HDF5 returns them for the dataset's type. */
export type FrameValues =
  Int32Array | Uint32Array | Uint16Array | Int16Array | Uint8Array | Float32Array | Float64Array;

/** One block of frames: a 3-D dataset in some file, read natively or by h5wasm. */
interface FrameBlock {
  readonly path: string;
  readonly frames: number;
  /** Reads frame `f` of this block. */
  read(f: number): unknown;
}

/** An open NeXus image file, read frame by frame. */
export interface NexusImages {
  /** The master file's path. */
  readonly path: string;
  /** Total frames over every block. */
  readonly frames: number;
  /** Pixels (fast, slow) of a frame. */
  readonly frameSize: [number, number];
  /** Reads frame `index` (0-based), row-major (slow, fast). */
  readFrame(index: number): FrameValues;
  /** Closes every file. */
  close(): void;
}

/** Filters only the native reader decodes, by name. */
const NATIVE_ONLY_FILTERS: ReadonlyMap<number, string> = new Map([
  [FILTER_BITSHUFFLE, "bitshuffle"],
  [FILTER_LZ4, "lz4"],
]);

function checkDataset(dataset: Dataset, path: string, name: string): { shape: number[]; filters: number[] } {
  const shape = guardH5(path, `reading the shape of '${name}'`, () => dataset.shape);
  if (shape === null || shape.length !== 3) {
    throw new InputError(
      `dataset '${name}' must be 3-D (frames, slow, fast), got shape ${JSON.stringify(shape)}`,
      path,
    );
  }
  const filters = guardH5(path, `reading the filters of '${name}'`, () => dataset.filters);
  checkFilters(filters, name, path, NATIVE_ONLY_FILTERS);
  return { shape, filters: filters.map((f) => f.id) };
}

/** The frame's values as a typed array of the dataset's element type. */
function typedFrame(native: NativeH5, name: string, f: number, pixels: number, path: string): unknown {
  const ds = native.datasets.get(name);
  if (ds === undefined) throw new InputError(`dataset '${name}' not open`, path);
  const bytes = native.readRows(name, f, f + 1, pixels);
  const { kind, size } = ds.type;
  if (kind === "uint" && size === 1) return new Uint8Array(bytes);
  if (kind === "uint" && size === 2) return new Uint16Array(bytes);
  if (kind === "int" && size === 2) return new Int16Array(bytes);
  if (kind === "uint" && size === 4) return new Uint32Array(bytes);
  if (kind === "int" && size === 4) return new Int32Array(bytes);
  if (kind === "float" && size === 4) return new Float32Array(bytes);
  if (kind === "float" && size === 8) return new Float64Array(bytes);
  return bytes;
}

/**
 * A block read natively when the native reader covers it, else by h5wasm (refused when a filter only the native
 * reader decodes is needed).
 */
function frameBlock(
  filePath: string,
  objectPath: string,
  dataset: Dataset,
  name: string,
  natives: NativeH5[],
): FrameBlock {
  const { shape, filters } = checkDataset(dataset, filePath, name);
  const pixels = shape[1] * shape[2];
  const inner = objectPath.replace(/^\/+/, "");
  let reason = "";
  const native = openNativeH5(filePath, [inner], {
    rootAttributes: false,
    decodeThreads: 1,
    onUnsupported: (why) => {
      reason = why;
    },
  });
  if (native !== undefined) {
    natives.push(native);
    return { path: filePath, frames: shape[0], read: (f) => typedFrame(native, inner, f, pixels, filePath) };
  }
  const needsNative = filters.find((id) => !H5WASM_FILTERS.has(id));
  if (needsNative !== undefined) {
    throw new InputError(
      `dataset '${name}' is compressed with ${NATIVE_ONLY_FILTERS.get(needsNative) ?? "?"} (HDF5 filter ${needsNative}) in an HDF5 layout the native reader does not cover (${reason}); re-compress it with gzip (h5repack -f GZIP=4)`,
      filePath,
    );
  }
  return {
    path: filePath,
    frames: shape[0],
    read: (f) => guardH5(filePath, `reading frame ${f}`, () => dataset.slice([[f, f + 1], [], []])),
  };
}

/**
 * Opens a NeXus master file for frame reads.
 *
 * @throws {@link InputError} naming the file for a missing `/entry/data`, missing linked files, datasets that are
 * not 3-D or of different frame sizes, or compressed with a filter neither reader decodes
 */
export async function openNexusImages(path: string): Promise<NexusImages> {
  requireStringArgument(path, "openNexusImages: path");
  const h5 = await loadH5wasm();
  const master = await openH5Read(path);
  const opened: H5File[] = [master];
  const natives: NativeH5[] = [];
  const closeAll = (): void => {
    for (const n of natives) n.close();
    for (const f of opened) closeQuietly(f);
  };
  try {
    const group = guardH5(path, "opening /entry/data", () => master.get("/entry/data"));
    if (!(group instanceof h5.Group)) throw new InputError("no group /entry/data", path);
    const names = guardH5(path, "listing /entry/data", () => group.keys());
    const dataNames = names.filter((n) => n === "data" || /^data_\d+$/.test(n)).sort();
    if (dataNames.length === 0) throw new InputError("no 'data' or 'data_NNNNNN' entries in /entry/data", path);
    const blocks: FrameBlock[] = [];
    let frameSize: [number, number] | undefined;
    for (const name of dataNames) {
      let file = master;
      let filePath = path;
      let objectPath = `/entry/data/${name}`;
      // h5wasm follows an external link by itself when the file is there; the native reader needs its target
      const link = guardH5(path, `reading the link ${objectPath}`, () => master.get_external_link(objectPath)) as {
        filename?: unknown;
        obj_path?: unknown;
      } | null;
      let dataset: unknown;
      if (link !== null && typeof link.filename === "string" && typeof link.obj_path === "string") {
        filePath = isAbsolute(link.filename) ? link.filename : resolve(dirname(path), link.filename);
        file = await openH5Read(filePath);
        opened.push(file);
        const target = link.obj_path;
        objectPath = target;
        dataset = guardH5(filePath, `opening ${target}`, () => file.get(target));
      } else dataset = guardH5(path, `opening ${objectPath}`, () => group.get(name));
      if (!(dataset instanceof h5.Dataset)) throw new InputError(`/entry/data/${name} is not a dataset`, filePath);
      const block = frameBlock(filePath, objectPath, dataset, name, natives);
      const shape = guardH5(filePath, `reading the shape of '${name}'`, () => dataset.shape) as number[];
      const size: [number, number] = [shape[2], shape[1]];
      if (frameSize === undefined) frameSize = size;
      else if (frameSize[0] !== size[0] || frameSize[1] !== size[1]) {
        throw new InputError(`/entry/data/${name} frames are ${size.join("×")}, not ${frameSize.join("×")}`, filePath);
      }
      blocks.push(block);
    }
    const total = blocks.reduce((s, b) => s + b.frames, 0);
    const fs = frameSize ?? [0, 0];
    return {
      path,
      frames: total,
      frameSize: fs,
      readFrame(index: number): FrameValues {
        if (!Number.isSafeInteger(index) || index < 0 || index >= total) {
          throw new InputError(`frame ${index} outside the file's ${total} frames`, path);
        }
        let f = index;
        for (const b of blocks) {
          if (f >= b.frames) {
            f -= b.frames;
            continue;
          }
          const values = b.read(f);
          if (!(
            values instanceof Int32Array ||
            values instanceof Uint32Array ||
            values instanceof Uint16Array ||
            values instanceof Int16Array ||
            values instanceof Uint8Array ||
            values instanceof Float32Array ||
            values instanceof Float64Array
          )) {
            throw new InputError(`frame ${f}: unsupported pixel type`, b.path);
          }
          if (values.length !== fs[0] * fs[1]) {
            throw new InputError(`frame ${f}: got ${values.length} values, expected ${fs[0] * fs[1]}`, b.path);
          }
          return values;
        }
        throw new InputError(`frame ${index} not found`, path);
      },
      close: closeAll,
    };
  } catch (error) {
    closeAll();
    throw error;
  }
}
