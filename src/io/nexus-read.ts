/**
 * Frames of NeXus/HDF5 image files (Eiger/Jungfrau-style NXmx): a master file whose `/entry/data` group holds either
 * one 3-D dataset `data` (frames, slow, fast) or links `data_000001`, `data_000002`, … to data files, each a 3-D
 * block of frames, in name order. External links are resolved against the master file's directory (as the Eiger
 * writes them: a bare file name). One frame is read at a time, by hyperslab, so only that frame's chunks are
 * decompressed (gzip/deflate chunks are decoded by HDF5 itself).
 *
 * Chunks compressed with the bitshuffle-LZ4 filter (HDF5 filter 32008) are not readable here: the HDF5 build used
 * has no such filter plugin, and reading them is refused with an error saying so.
 *
 * @packageDocumentation
 */
import { dirname, isAbsolute, resolve } from "node:path";
import type { Dataset, File as H5File } from "h5wasm/node";
import { InputError, requireStringArgument } from "../errors.ts";
import { closeQuietly, guardH5, loadH5wasm, openH5Read } from "./hdf5.ts";

/** Pixel values of one frame, as HDF5 returns them for the dataset's type. */
export type FrameValues =
  Int32Array | Uint32Array | Uint16Array | Int16Array | Uint8Array | Float32Array | Float64Array;

/** One block of frames: a 3-D dataset in some file. */
interface FrameBlock {
  readonly file: H5File;
  readonly path: string;
  readonly dataset: Dataset;
  readonly frames: number;
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

/** HDF5 filter id of bitshuffle (with LZ4). */
const BITSHUFFLE_FILTER = 32008;

function checkDataset(dataset: Dataset, path: string, name: string): number[] {
  const shape = guardH5(path, `reading the shape of '${name}'`, () => dataset.shape);
  if (shape === null || shape.length !== 3) {
    throw new InputError(
      `dataset '${name}' must be 3-D (frames, slow, fast), got shape ${JSON.stringify(shape)}`,
      path,
    );
  }
  const filters = guardH5(path, `reading the filters of '${name}'`, () => dataset.filters);
  if (filters.some((f) => f.id === BITSHUFFLE_FILTER)) {
    throw new InputError(
      `dataset '${name}' is compressed with bitshuffle-LZ4 (HDF5 filter ${BITSHUFFLE_FILTER}), which this reader cannot decode; re-compress it with gzip (h5repack -f GZIP=4)`,
      path,
    );
  }
  return shape;
}

/**
 * Opens a NeXus master file for frame reads.
 *
 * @throws {@link InputError} naming the file for a missing `/entry/data`, missing linked files, datasets that are
 * not 3-D or of different frame sizes, or bitshuffle-compressed data
 */
export async function openNexusImages(path: string): Promise<NexusImages> {
  requireStringArgument(path, "openNexusImages: path");
  const h5 = await loadH5wasm();
  const master = await openH5Read(path);
  const opened: H5File[] = [master];
  const closeAll = (): void => {
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
      const entry = guardH5(path, `opening /entry/data/${name}`, () => group.get(name));
      let file = master;
      let filePath = path;
      let dataset: unknown = entry;
      const link = entry as { filename?: unknown; obj_path?: unknown } | null;
      if (link !== null && typeof link.filename === "string" && typeof link.obj_path === "string") {
        filePath = isAbsolute(link.filename) ? link.filename : resolve(dirname(path), link.filename);
        file = await openH5Read(filePath);
        opened.push(file);
        const target = link.obj_path;
        dataset = guardH5(filePath, `opening ${target}`, () => file.get(target));
      }
      if (!(dataset instanceof h5.Dataset)) throw new InputError(`/entry/data/${name} is not a dataset`, filePath);
      const shape = checkDataset(dataset, filePath, name);
      const size: [number, number] = [shape[2], shape[1]];
      if (frameSize === undefined) frameSize = size;
      else if (frameSize[0] !== size[0] || frameSize[1] !== size[1]) {
        throw new InputError(`/entry/data/${name} frames are ${size.join("×")}, not ${frameSize.join("×")}`, filePath);
      }
      blocks.push({ file, path: filePath, dataset, frames: shape[0] });
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
          const values = guardH5(b.path, `reading frame ${f}`, () => b.dataset.slice([[f, f + 1], [], []]));
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
