/**
 * Native reader of numeric datasets of an HDF5 file (at its root, or at a path of groups), with no HDF5 library and no WebAssembly: the
 * superblock, root group, object headers and whole chunk indexes are read once at open
 * (`hdf5-native-format.ts`, `hdf5-native-objects.ts`, `hdf5-native-chunks.ts`); rows are then read by positioned
 * reads of exactly the chunks they touch. Filtered chunks (deflate, shuffle, bitshuffle, LZ4) are decoded by
 * `hdf5-native-decode.ts`, in worker threads in parallel when a read spans several chunks and enough bytes, otherwise on the calling thread.
 *
 * Covered: superblocks 0–3; object headers 1 and 2; symbol-table and compact-link root groups; compact attributes
 * (little-endian integers and IEEE floats, scalar or 1-D, and scalar variable-length ASCII strings); little-endian
 * integer and IEEE float datasets of rank 1 to 3, read by ranges of their first dimension; contiguous storage; chunked
 * storage indexed by a version-1 B-tree, a single chunk, an implicit index, a fixed array or an extensible array;
 * filters deflate, shuffle, bitshuffle (LZ4 or none) and LZ4. For anything
 * else {@link openNativeH5} returns undefined and the caller reads the file with h5wasm.
 *
 * @packageDocumentation
 */
import { availableParallelism } from "node:os";
import { closeSync, constants, fstatSync, openSync } from "node:fs";
import { InputError } from "../errors.ts";
import { siblingWorkerEntry, SyncWorkerPool } from "../runtime/worker-pool.ts";
import { TASK, TASK_FIELDS, MAX_TASK_FILTERS, writeTaskFilters, type DecodePayload } from "./hdf5-decode-tasks.ts";
import { decodeChunk, type PipelineFilter } from "./hdf5-native-decode.ts";
import { FileBytes, readSuperblock } from "./hdf5-native-format.ts";
import {
  readNativeDataset,
  readRootAttributes,
  readRootLinks,
  resolveObjectPath,
  type NativeDataset,
} from "./hdf5-native-objects.ts";

/** Options of {@link openNativeH5}. */
export interface NativeH5Options {
  /**
   * Root links whose presence sends the file to h5wasm (datasets of a kind this reader does not decode, such as
   * variable-length strings, that the caller needs). @defaultValue none
   */
  h5wasmIfPresent?: readonly string[];
  /**
   * Whether to read the root group's attributes (files whose root attributes are of a kind not covered then still
   * open natively). @defaultValue true
   */
  rootAttributes?: boolean;
  /** Called with the reason when the file cannot be read natively (before {@link openNativeH5} returns undefined). */
  onUnsupported?: (reason: string) => void;
  /**
   * Worker threads that decode filtered chunks (fewer than 2: decode on the calling thread).
   * @defaultValue `min(4, os.availableParallelism())`
   */
  decodeThreads?: number;
  /**
   * Decoded bytes a read must span before it is handed to the worker threads.
   * @defaultValue `1 << 22` (4 MiB)
   */
  parallelMinBytes?: number;
}

/** Bytes of the shared staging buffer the workers decode into (a read larger than this is done in batches). */
const STAGING_BYTES = 1 << 26;
/** Task rows of the shared task table. */
const MAX_TASKS = 1 << 12;

/** An open file read natively. */
export interface NativeH5 {
  /** The datasets that were asked for, by name. */
  readonly datasets: ReadonlyMap<string, NativeDataset>;
  /** The root group's attributes, as `readAttributes` of `hdf5.ts` returns them. */
  readonly attributes: Record<string, unknown>;
  /**
   * Reads rows `[start, end)` of a dataset (`columns` elements per row; the whole second dimension) as raw
   * little-endian bytes in a fresh buffer.
   *
   * @throws {@link InputError} when a chunk cannot be read or decoded
   */
  readRows(name: string, start: number, end: number, columns: number): ArrayBuffer;
  /**
   * Reads rows `[start, end)` of a dataset as {@link NativeH5.readRows} does, into bytes `[0, size)` of `out` (at least
   * that long; 8-byte aligned) instead of a fresh buffer, so that a caller reading slice after slice reuses one.
   *
   * @throws {@link InputError} when a chunk cannot be read or decoded, or `out` is too short
   */
  readRowsInto(name: string, start: number, end: number, columns: number, out: Uint8Array): void;
  /** Closes the file and stops the decoding threads. */
  close(): void;
}

/**
 * Opens `path` natively when every structure it needs is covered, reading the chunk indexes of `names` whole.
 *
 * @param path - the `.h5` file
 * @param names - datasets to prepare for reading: names at the root, or paths from the root (`entry/data/data`)
 * @param options - decoding threads
 * @returns the open file, or undefined when the file (or any of `names`) uses something not covered, or is
 *   inconsistent: the caller then uses h5wasm, whose errors describe the fault
 */
export function openNativeH5(
  path: string,
  names: readonly string[],
  options: NativeH5Options = {},
): NativeH5 | undefined {
  let fd: number | undefined;
  try {
    // non-blocking: a FIFO must not hang the open (it is refused as not a regular file just below)
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new Error("not a regular file");
    const file = new FileBytes(fd, stat.size);
    const sb = readSuperblock(file);
    const links = readRootLinks(file, sb);
    if (options.h5wasmIfPresent?.some((name) => links.has(name)) === true) throw new Error("needs h5wasm");
    const datasets = new Map<string, NativeDataset>();
    for (const name of names) {
      const address = name.includes("/") ? resolveObjectPath(file, sb, name) : links.get(name);
      if (address === undefined) throw new Error(`no dataset '${name}'`);
      datasets.set(name, readNativeDataset(file, sb, address));
    }
    const attributes = options.rootAttributes === false ? {} : readRootAttributes(file, sb, path);
    const reader = new NativeReader(path, file, datasets, attributes, options);
    fd = undefined;
    return reader;
  } catch (error) {
    options.onUnsupported?.(error instanceof Error ? error.message : String(error));
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

class NativeReader implements NativeH5 {
  #open = true;
  #pool: { pool: SyncWorkerPool; payload: DecodePayload } | undefined;
  #poolFailed = false;
  readonly #threads: number;
  readonly #parallelMinBytes: number;

  readonly path: string;
  readonly file: FileBytes;
  readonly datasets: ReadonlyMap<string, NativeDataset>;
  readonly attributes: Record<string, unknown>;

  constructor(
    path: string,
    file: FileBytes,
    datasets: ReadonlyMap<string, NativeDataset>,
    attributes: Record<string, unknown>,
    options: NativeH5Options,
  ) {
    this.path = path;
    this.file = file;
    this.datasets = datasets;
    this.attributes = attributes;
    this.#threads = options.decodeThreads ?? Math.min(4, availableParallelism());
    this.#parallelMinBytes = options.parallelMinBytes ?? 1 << 22;
  }

  readRows(name: string, start: number, end: number, columns: number): ArrayBuffer {
    const es = this.datasets.get(name)?.type.size ?? 0;
    const out = new Uint8Array(Math.max(0, end - start) * columns * es);
    this.readRowsInto(name, start, end, columns, out);
    return out.buffer;
  }

  readRowsInto(name: string, start: number, end: number, columns: number, out: Uint8Array): void {
    const what = `reading dataset '${name}' rows ${start}..${end}`;
    const ds = this.datasets.get(name);
    if (!this.#open || ds === undefined) throw new InputError(`${what}: file closed or dataset unknown`, this.path);
    const es = ds.type.size;
    if (end <= start) return;
    if (out.length < (end - start) * columns * es || out.byteOffset % 8 !== 0) {
      throw new InputError(
        `${what}: a buffer of ${out.length} bytes at ${out.byteOffset} is too short or unaligned`,
        this.path,
      );
    }
    const box = boxOf(ds);
    if (box.dims[1] * box.dims[2] !== columns) {
      throw new InputError(
        `${what}: ${columns} elements per row asked, the dataset has ${box.dims[1] * box.dims[2]}`,
        this.path,
      );
    }
    const [c0] = box.chunkDims;
    const wholeRows = box.chunkDims[1] === box.dims[1] && box.chunkDims[2] === box.dims[2];
    const g12 = box.gridDims[1] * box.gridDims[2];
    const ks: number[] = [];
    for (let r = Math.floor(start / c0); r <= Math.floor((end - 1) / c0); r++) {
      for (let j = 0; j < g12; j++) ks.push(r * g12 + j);
    }
    const copy = (k: number, chunk: Uint8Array): void => {
      copyChunk(chunk, k, box, es, start, end, out);
    };
    try {
      if (ds.filters.length === 0) {
        for (const k of ks) {
          const r0 = Math.floor(k / g12) * c0;
          if (wholeRows) {
            // whole rows: read exactly the rows wanted, straight into the result
            const lo = Math.max(start, r0);
            const hi = Math.min(end, r0 + c0);
            const rowBytes = columns * es;
            this.#readInto(
              out,
              (lo - start) * rowBytes,
              ds.chunks.address[k] + (lo - r0) * rowBytes,
              (hi - lo) * rowBytes,
            );
          } else {
            const chunk = new Uint8Array(ds.chunks.size[k]);
            // (a fresh, 8-byte aligned buffer: copyChunk views it element-wise)
            this.#readInto(chunk, 0, ds.chunks.address[k], chunk.length);
            copy(k, chunk);
          }
        }
      } else this.#decode(ds, ks, copy);
    } catch (error) {
      if (error instanceof InputError && error.file !== undefined) throw error;
      throw new InputError(`${what}: ${error instanceof Error ? error.message : String(error)}`, this.path);
    }
  }

  #readInto(target: Uint8Array, at: number, address: number, length: number): void {
    this.file.readInto(target, at, address, length);
  }

  /** Decodes chunks `ks` of a filtered dataset, handing each to `use` (in parallel when worthwhile). */
  #decode(ds: NativeDataset, ks: number[], use: (k: number, chunk: Uint8Array) => void): void {
    const pipeline = ds.filters;
    const chunkBytes = ds.chunks.chunkDims.reduce((a, b) => a * b, ds.type.size);
    const parallel =
      this.#threads >= 2 &&
      !this.#poolFailed &&
      ks.length >= 2 &&
      ks.length * chunkBytes >= this.#parallelMinBytes &&
      chunkBytes <= STAGING_BYTES &&
      pipeline.length <= MAX_TASK_FILTERS;
    if (parallel) {
      try {
        this.#decodeParallel(ds, ks, pipeline, chunkBytes, use);
        return;
      } catch (error) {
        if (error instanceof InputError) throw error;
        // the threads could not start or failed: decode on this thread from now on
        this.#poolFailed = true;
      }
    }
    for (const k of ks) {
      const stored = this.file.read(ds.chunks.address[k], ds.chunks.size[k]);
      use(k, decodeChunk(stored, pipeline, ds.chunks.mask[k], ds.type.size, chunkBytes));
    }
  }

  #decodeParallel(
    ds: NativeDataset,
    ks: number[],
    pipeline: readonly PipelineFilter[],
    chunkBytes: number,
    use: (k: number, chunk: Uint8Array) => void,
  ): void {
    const { pool, payload } = this.#startPool();
    const perBatch = Math.max(1, Math.min(MAX_TASKS, Math.floor(STAGING_BYTES / chunkBytes)));
    for (let from = 0; from < ks.length; from += perBatch) {
      const batch = ks.slice(from, from + perBatch);
      batch.forEach((k, i) => {
        const t = i * TASK_FIELDS;
        payload.tasks[t + TASK.address] = ds.chunks.address[k];
        payload.tasks[t + TASK.size] = ds.chunks.size[k];
        payload.tasks[t + TASK.mask] = ds.chunks.mask[k];
        payload.tasks[t + TASK.elementSize] = ds.type.size;
        payload.tasks[t + TASK.chunkBytes] = chunkBytes;
        payload.tasks[t + TASK.stagingOffset] = i * chunkBytes;
        writeTaskFilters(payload.tasks, t, pipeline);
        payload.status[i] = -1;
      });
      pool.run(1, batch.length);
      batch.forEach((k, i) => {
        if (payload.status[i] !== 0) {
          // decode the failing chunk here to report zlib's own reason
          const stored = this.file.read(ds.chunks.address[k], ds.chunks.size[k]);
          use(k, decodeChunk(stored, pipeline, ds.chunks.mask[k], ds.type.size, chunkBytes));
          return;
        }
        use(k, payload.staging.subarray(i * chunkBytes, (i + 1) * chunkBytes));
      });
    }
  }

  #startPool(): { pool: SyncWorkerPool; payload: DecodePayload } {
    if (this.#pool === undefined) {
      const payload: DecodePayload = {
        path: this.path,
        tasks: new Float64Array(new SharedArrayBuffer(MAX_TASKS * TASK_FIELDS * 8)),
        status: new Int32Array(new SharedArrayBuffer(MAX_TASKS * 4)),
        staging: new Uint8Array(new SharedArrayBuffer(STAGING_BYTES)),
      };
      const pool = new SyncWorkerPool(
        siblingWorkerEntry(import.meta.url, "hdf5-decode-worker"),
        this.#threads,
        payload,
      );
      this.#pool = { pool, payload };
    }
    return this.#pool;
  }

  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#pool?.pool.close();
    this.#pool = undefined;
    closeSync(this.file.fd);
  }
}

/** A dataset of rank 1 to 3 seen as 3-D (rank 1: `(n, 1, 1)`, rank 2: `(n, 1, m)`), its chunks likewise. */
interface Box {
  dims: [number, number, number];
  chunkDims: [number, number, number];
  gridDims: [number, number, number];
}

function boxOf(ds: NativeDataset): Box {
  const three = (v: readonly number[]): [number, number, number] =>
    v.length === 1 ? [v[0], 1, 1] : v.length === 2 ? [v[0], 1, v[1]] : [v[0], v[1], v[2]];
  return { dims: three(ds.dims), chunkDims: three(ds.chunks.chunkDims), gridDims: three(ds.chunks.gridDims) };
}

/**
 * Copies the part of chunk `k` (row-major in the chunk grid) that falls in rows `[start, end)` into `out` (row-major,
 * the whole of dimensions 1 and 2 per row, elements of `es` bytes).
 */
function copyChunk(
  chunk: Uint8Array,
  k: number,
  box: Box,
  es: number,
  start: number,
  end: number,
  out: Uint8Array,
): void {
  const [, n1, n2] = box.dims;
  const [c0, c1, c2] = box.chunkDims;
  const [, g1, g2] = box.gridDims;
  const gr = Math.floor(k / (g1 * g2));
  const gy = Math.floor(k / g2) % g1;
  const gc = k % g2;
  const r0 = gr * c0;
  const lo = Math.max(start, r0);
  const hi = Math.min(end, r0 + c0);
  if (c1 === n1 && c2 === n2) {
    const rowBytes = n1 * n2 * es;
    out.set(chunk.subarray((lo - r0) * rowBytes, (hi - r0) * rowBytes), (lo - start) * rowBytes);
    return;
  }
  const y0 = gy * c1;
  const height = Math.min(n1, y0 + c1) - y0;
  const col0 = gc * c2;
  const width = Math.min(n2, col0 + c2) - col0;
  // element by element in the widest unit that divides the element size (chunks are 8-byte aligned)
  const unit = es % 4 === 0 ? 4 : es % 2 === 0 ? 2 : 1;
  const Ctor = unit === 4 ? Uint32Array : unit === 2 ? Uint16Array : Uint8Array;
  const src = new Ctor(chunk.buffer as ArrayBuffer, chunk.byteOffset, chunk.byteLength / unit);
  const dst = new Ctor(out.buffer as ArrayBuffer, out.byteOffset, out.byteLength / unit);
  const u = es / unit;
  for (let r = lo; r < hi; r++) {
    for (let y = 0; y < height; y++) {
      const s = ((r - r0) * c1 + y) * c2 * u;
      const d = (((r - start) * n1 + y0 + y) * n2 + col0) * u;
      for (let e = 0; e < width * u; e++) dst[d + e] = src[s + e];
    }
  }
}
