/**
 * Thin, validated layer over h5wasm (the HDF5 C library compiled to WebAssembly, node entry point with direct host
 * file access). It loads the module lazily (never a top-level await, so CommonJS consumers can still `require()` the
 * library), switches HDF5 to throwing errors, and turns every h5wasm/HDF5 failure into a one-line
 * {@link InputError} that names the file and the dataset or attribute concerned.
 *
 * The wasm heap is 32-bit: callers read and write big datasets in hyperslab slices (see {@link readRows} and
 * {@link writeRowsChunked}), never whole.
 *
 * @packageDocumentation
 */

import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { basename, dirname, join, resolve } from "node:path";
import type h5wasmNamespace from "h5wasm/node";
import type { Dataset, File as H5File, Group } from "h5wasm/node";
import { ConfigError, InputError, fileSystemError, isSystemError } from "../errors.ts";
import { openInputFile } from "./input-file.ts";
import { removeStaleTemporaryFiles, syncDirectory, testStallBeforeRename } from "./atomic-write.ts";

/** The h5wasm namespace, once its wasm module is ready. */
export type H5Wasm = typeof h5wasmNamespace;

/** The HDF5 datatype class codes h5wasm reports in `metadata.type`. */
export const H5_CLASS = { integer: 0, float: 1, string: 3 } as const;

let ready: Promise<H5Wasm> | undefined;
/** The loaded namespace (set once {@link loadH5wasm} resolved); every h5wasm object exists only after that. */
let loaded: H5Wasm | undefined;

/**
 * Loads h5wasm once and activates HDF5's throwing error handler (by default HDF5 prints its error stack and returns
 * negative ids instead of throwing). The module (and its wasm compile) is imported here on first use, not when this
 * file is imported, so commands that touch no HDF5 file never pay for it.
 *
 * @returns the h5wasm namespace, ready for use
 */
export function loadH5wasm(): Promise<H5Wasm> {
  ready ??= import("h5wasm/node").then(async ({ default: h5 }) => {
    const module = await h5.ready;
    module.activate_throwing_error_handler();
    loaded = h5;
    return h5;
  });
  return ready;
}

/** The loaded h5wasm namespace; only called where an h5wasm object already exists (so it was loaded). */
function h5wasmLoaded(): H5Wasm {
  if (loaded === undefined) throw new Error("h5wasm used before loadH5wasm() resolved");
  return loaded;
}

/**
 * Condenses an h5wasm/HDF5 error (often a multi-line HDF5-DIAG stack) into one line: the innermost "minor:" reason
 * when present, otherwise the first line.
 *
 * @param error - what h5wasm threw
 * @returns a one-line description
 */
export function h5ErrorText(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const minors = [...text.matchAll(/minor:\s*([^\n]+)/g)].map((m) => m[1].trim());
  const majors = [...text.matchAll(/#\d+:\s*\S+ line \d+ in (\w+\(\)): ([^\n]+)/g)].map(
    (m) => `${m[1]}: ${m[2].trim()}`,
  );
  if (majors.length > 0) {
    const last = majors[majors.length - 1];
    const minor = minors.length > 0 ? minors[minors.length - 1] : undefined;
    return minor === undefined ? last : `${last} (${minor})`;
  }
  const first = text.split("\n", 1)[0].trim();
  return first === "" ? "unknown HDF5 error" : first;
}

/**
 * Runs `fn`, rethrowing anything that is not already an {@link InputError}/{@link ConfigError} as an
 * {@link InputError} naming `path` and `what`.
 *
 * @param path - the file concerned
 * @param what - what was being done, e.g. `reading dataset 'sigmas' rows 0..100`
 * @param fn - the h5wasm call(s)
 * @returns what `fn` returns
 */
export function guardH5<T>(path: string, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof InputError || error instanceof ConfigError) throw error;
    throw new InputError(`${what}: ${h5ErrorText(error)}`, path);
  }
}

/**
 * Opens an existing HDF5 file read-only. The existence check comes first because h5wasm does not throw on a missing
 * file by itself.
 *
 * @param path - the file to open
 * @returns the open file; the caller closes it
 * @throws {@link InputError} when the file is missing, not a regular file, or not HDF5
 */
export async function openH5Read(path: string): Promise<H5File> {
  const h5 = await loadH5wasm();
  const full = resolve(path);
  if (!existsSync(full)) throw new InputError("file not found", path);
  // a regular file, not mostly holes (a FIFO, device or directory is refused before h5wasm touches it)
  const { handle } = await openInputFile(path, "HDF5 file");
  await handle.close();
  return guardH5(path, "cannot open as HDF5", () => new h5.File(full, "r"));
}

/** Closes an h5wasm file, ignoring errors (used on error paths and in `close()`). */
export function closeQuietly(file: H5File): void {
  try {
    file.close();
  } catch {
    // already closed or unusable: nothing left to release
  }
}

/** What a dataset must look like: datatype class, element size in bytes, signedness (integers), rank. */
export interface DatasetSpec {
  /** Dataset name at the file's root. */
  name: string;
  /** `"float"` or `"int"`. */
  kind: "float" | "int";
  /** Element size in bytes. */
  size: 1 | 2 | 4 | 8;
  /** Number of dimensions. */
  rank: 1 | 2;
  /** Required length of the second dimension when `rank` is 2. */
  columns?: number;
}

/** numpy-style name of a dtype spec, for messages. */
function specName(kind: "float" | "int", size: number): string {
  return `${kind === "float" ? "float" : "int"}${size * 8}`;
}

/**
 * Fetches a dataset at the file root and checks its datatype, byte order and rank.
 *
 * @param file - the open file
 * @param path - the file path, for messages
 * @param spec - what the dataset must be
 * @returns the dataset and its number of rows (first dimension)
 * @throws {@link InputError} naming the dataset when it is missing or has the wrong type or shape
 */
export function requireDataset(file: Group, path: string, spec: DatasetSpec): { dataset: Dataset; rows: number } {
  const entity = guardH5(path, `looking up dataset '${spec.name}'`, () => file.get(spec.name));
  if (entity === null) throw new InputError(`missing dataset '${spec.name}'`, path);
  if (!(entity instanceof h5wasmLoaded().Dataset)) throw new InputError(`'${spec.name}' is not a dataset`, path);
  const meta = guardH5(path, `reading metadata of dataset '${spec.name}'`, () => entity.metadata);
  const wantClass = spec.kind === "float" ? H5_CLASS.float : H5_CLASS.integer;
  const signedOk = spec.kind === "float" || meta.signed;
  if (meta.type !== wantClass || meta.size !== spec.size || !signedOk) {
    const found =
      meta.type === H5_CLASS.float
        ? `float${meta.size * 8}`
        : meta.type === H5_CLASS.integer
          ? `${meta.signed ? "int" : "uint"}${meta.size * 8}`
          : `HDF5 class ${meta.type}`;
    throw new InputError(`dataset '${spec.name}' has dtype ${found}, expected ${specName(spec.kind, spec.size)}`, path);
  }
  if (!meta.littleEndian)
    throw new InputError(`dataset '${spec.name}' is big-endian (only little-endian supported)`, path);
  const shape = meta.shape;
  if (shape?.length !== spec.rank) {
    const expected = spec.rank === 1 ? "(N,)" : `(N, ${spec.columns ?? "M"})`;
    throw new InputError(`dataset '${spec.name}' has shape (${(shape ?? []).join(", ")}), expected ${expected}`, path);
  }
  if (spec.rank === 2 && spec.columns !== undefined && shape[1] !== spec.columns) {
    throw new InputError(`dataset '${spec.name}' has shape (${shape.join(", ")}), expected (N, ${spec.columns})`, path);
  }
  checkFilters(
    guardH5(path, `reading the filters of dataset '${spec.name}'`, () => entity.filters),
    spec.name,
    path,
  );
  return { dataset: entity, rows: shape[0] };
}

/** The HDF5 filters this build decodes: deflate (gzip), shuffle, Fletcher-32, N-bit, scale-offset. */
const SUPPORTED_FILTERS = new Map([
  [1, "deflate"],
  [2, "shuffle"],
  [3, "fletcher32"],
  [5, "nbit"],
  [6, "scaleoffset"],
]);

/** Ids of the filters h5wasm's HDF5 build decodes. */
export const H5WASM_FILTERS: ReadonlySet<number> = new Set(SUPPORTED_FILTERS.keys());

/** Names of registered third-party filters a file may name (HDF Group filter registry). */
const KNOWN_FILTERS = new Map([
  [4, "SZIP"],
  [307, "BZIP2"],
  [32000, "LZF"],
  [32001, "BLOSC"],
  [32004, "LZ4"],
  [32008, "BITSHUFFLE"],
  [32013, "ZFP"],
  [32015, "ZSTD"],
  [32017, "SZ"],
  [32026, "BLOSC2"],
]);

/**
 * Throws unless every filter of a dataset is one this build decodes (or one of `alsoDecoded`, filters the caller
 * decodes itself), so that a file compressed with e.g. LZF is refused by name before any read (HDF5 itself would
 * report a failed plugin search in a build directory).
 *
 * @throws {@link InputError} naming the file, the dataset and the filter
 */
export function checkFilters(
  filters: readonly { id: number; name?: string }[],
  dataset: string,
  path: string,
  alsoDecoded: ReadonlyMap<number, string> = new Map(),
): void {
  for (const f of filters) {
    if (SUPPORTED_FILTERS.has(f.id) || alsoDecoded.has(f.id)) continue;
    const name = KNOWN_FILTERS.get(f.id) ?? (f.name !== undefined && f.name !== "" ? f.name : `id ${f.id}`);
    const supported = [...SUPPORTED_FILTERS.values(), ...alsoDecoded.values()];
    throw new InputError(
      `dataset '${dataset}' uses unsupported filter ${name.replace(/[^\x20-\x7e]/g, "?").slice(0, 40)} (HDF5 filter ${f.id}); supported: ${supported.join(", ")}`,
      path,
    );
  }
}

/** Typed arrays h5wasm returns for numeric datasets. */
export type H5Numeric = Float32Array | Float64Array | Int32Array | BigInt64Array;

/**
 * Reads rows `[start, end)` of a rank-1 or rank-2 dataset by hyperslab and checks the element count.
 *
 * @param dataset - the dataset (already validated by {@link requireDataset})
 * @param path - the file, for messages
 * @param name - the dataset name, for messages
 * @param start - first row
 * @param end - one past the last row (`end > start`)
 * @param columns - elements per row (1 for rank 1)
 * @param ctor - the typed-array class expected back
 * @returns the values, row-major
 */
export function readRows<T extends H5Numeric>(
  dataset: Dataset,
  path: string,
  name: string,
  start: number,
  end: number,
  columns: number,
  ctor: abstract new (...args: never[]) => T,
): T {
  const what = `reading dataset '${name}' rows ${start}..${end}`;
  const out = guardH5(path, what, () => dataset.slice(columns === 1 ? [[start, end]] : [[start, end], []]));
  if (!(out instanceof ctor)) throw new InputError(`${what}: unexpected element type`, path);
  if (out.length !== (end - start) * columns) {
    throw new InputError(`${what}: got ${out.length} values, expected ${(end - start) * columns}`, path);
  }
  return out;
}

/** Row-count of slices used when writing (bounded wasm heap use). */
export const WRITE_SLICE_ROWS = 1 << 20;

/**
 * Creates a chunked (optionally gzip-compressed) dataset and writes it slice by slice, so the wasm heap never holds
 * more than {@link WRITE_SLICE_ROWS} rows at a time.
 *
 * h5wasm's `create_dataset` applies a single filter, so compression is deflate (level 4) without the shuffle filter.
 *
 * @param file - the file open for writing
 * @param path - the file path, for messages
 * @param name - dataset name
 * @param data - the values, row-major
 * @param columns - elements per row (1 → rank-1 dataset, otherwise rank 2 `(N, columns)`)
 * @param dtype - h5wasm dtype string (`"<f4"`, `"<f8"`, `"<i4"`, `"<q"`)
 * @param chunkRows - HDF5 chunk length in rows
 * @param compression - whether to deflate
 * @param sliceRows - rows written per `write_slice` call. @defaultValue {@link WRITE_SLICE_ROWS}
 */
export function writeRowsChunked(
  file: H5File,
  path: string,
  name: string,
  data: H5Numeric,
  columns: number,
  dtype: string,
  chunkRows: number,
  compression: boolean,
  sliceRows: number = WRITE_SLICE_ROWS,
): void {
  const rows = data.length / columns;
  const first = Math.min(rows, sliceRows);
  const shapeOf = (n: number): number[] => (columns === 1 ? [n] : [n, columns]);
  const chunks = shapeOf(Math.max(1, chunkRows));
  guardH5(path, `creating dataset '${name}'`, () => {
    const ds = file.create_dataset({
      name,
      data: data.subarray(0, first * columns),
      shape: shapeOf(first),
      maxshape: columns === 1 ? [null] : [null, columns],
      chunks,
      dtype,
      ...(compression ? { compression: "gzip" as const, compression_opts: 4 } : {}),
    });
    if (rows > first) {
      ds.resize(shapeOf(rows));
      for (let s = first; s < rows; s += sliceRows) {
        const e = Math.min(rows, s + sliceRows);
        ds.write_slice(columns === 1 ? [[s, e]] : [[s, e], []], data.subarray(s * columns, e * columns));
      }
    }
  });
}

/** Attribute values this library writes. */
export type AttributeValue = number | string | number[];

/**
 * Writes one attribute: a string as a variable-length UTF-8 string, integers (all values integral and safe) as int64,
 * other numbers as float64; arrays as rank-1, single numbers as scalars.
 *
 * @param file - the file open for writing
 * @param path - the file path, for messages
 * @param name - attribute name
 * @param value - the value
 * @throws {@link ConfigError} for values of any other type or non-finite integers
 */
export function writeAttribute(file: H5File, path: string, name: string, value: unknown): void {
  if (typeof value === "string") {
    guardH5(path, `writing attribute '${name}'`, () => {
      file.create_attribute(name, value);
    });
    return;
  }
  const isNumberArray = (x: unknown): x is number[] => Array.isArray(x) && x.every((v) => typeof v === "number");
  let values: number[];
  if (typeof value === "number") values = [value];
  else if (isNumberArray(value)) values = value;
  else throw new ConfigError(`attribute '${name}': expected a number, string or number[], got ${typeof value}`);
  const integral = values.length > 0 && values.every((v) => Number.isSafeInteger(v));
  const shape = typeof value === "number" ? [] : [values.length];
  guardH5(path, `writing attribute '${name}'`, () => {
    if (integral)
      file.create_attribute(
        name,
        BigInt64Array.from(values, (v) => BigInt(v)),
        shape,
        "<q",
      );
    else file.create_attribute(name, Float64Array.from(values), shape, "<d");
  });
}

/** Converts a bigint to a number, failing if it is not exactly representable. */
function bigToNumber(v: bigint, path: string, name: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new InputError(`attribute '${name}' value ${v} exceeds 2^53`, path);
  return n;
}

/**
 * Reads every attribute of a group or dataset into plain JS values: strings, numbers (int64 converted exactly, or an
 * error beyond 2^53), and `number[]`/`string[]` for arrays.
 *
 * @param obj - the file, group or dataset
 * @param path - the file path, for messages
 * @returns attribute name → value
 */
export function readAttributes(obj: Group | Dataset, path: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const attrs = guardH5(path, "listing attributes", () => obj.attrs);
  for (const [name, attr] of Object.entries(attrs)) {
    const value = guardH5(path, `reading attribute '${name}'`, () => attr.value);
    out[name] = toPlain(value, path, name);
  }
  return out;
}

function toPlain(value: unknown, path: string, name: string): unknown {
  if (typeof value === "bigint") return bigToNumber(value, path, name);
  if (value instanceof BigInt64Array || value instanceof BigUint64Array) {
    return Array.from(value, (v) => bigToNumber(v, path, name));
  }
  if (
    value instanceof Float32Array ||
    value instanceof Float64Array ||
    value instanceof Int8Array ||
    value instanceof Int16Array ||
    value instanceof Int32Array ||
    value instanceof Uint8Array ||
    value instanceof Uint16Array ||
    value instanceof Uint32Array
  ) {
    return Array.from(value);
  }
  if (Array.isArray(value)) return value.map((v: unknown) => toPlain(v, path, name));
  return value;
}

/** The timestamp (ms) written into HDF5 object headers: `SOURCE_DATE_EPOCH` seconds when valid, else 0. */
function reproducibleEpochMs(): number {
  const v = Number(process.env.SOURCE_DATE_EPOCH);
  return Number.isSafeInteger(v) && v >= 0 ? v * 1000 : 0;
}

/** fsync of a closed file (by path), an OS error naming `given`. */
export function syncFile(path: string, given: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r+");
    fsyncSync(fd);
  } catch (e) {
    throw fileSystemError(e, given, "write");
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Writes an HDF5 file atomically: `write` fills a temporary file in the same directory, which is renamed onto `path`
 * only after it was closed successfully; on any failure the temporary file is removed and `path` is left untouched.
 * The temporary name is `.<name>.<pid>.<uuid>.tmp`; leftovers of killed processes are removed first. Object-header
 * timestamps are fixed (`SOURCE_DATE_EPOCH` or 0), so equal data give byte-identical files.
 *
 * @param path - the destination
 * @param write - fills the open file
 */
export async function writeH5Atomic(path: string, write: (file: H5File) => void): Promise<void> {
  const h5 = await loadH5wasm();
  const full = resolve(path);
  const dir = dirname(full);
  if (!existsSync(dir)) throw new InputError("output directory does not exist", path);
  await removeStaleTemporaryFiles(full);
  const tmp = join(dir, `.${basename(full)}.${process.pid}.${randomUUID()}.tmp`);
  let file: H5File | undefined;
  // HDF5 stamps every object header with the wall-clock time (libhdf5 tracks object times by default and h5wasm
  // cannot turn that off), which would make equal data give different bytes. The wasm module reads the clock
  // through Date.now(), so the whole synchronous create/write/close runs under a fixed clock: SOURCE_DATE_EPOCH
  // (seconds, the reproducible-builds convention) when set, else 0, so that equal data give byte-identical files.
  const realNow = Date.now;
  const epochMs = reproducibleEpochMs();
  Date.now = () => epochMs;
  try {
    try {
      file = guardH5(path, "cannot create HDF5 file", () => new h5.File(tmp, "w"));
      write(file);
      const f = file;
      file = undefined;
      guardH5(path, "closing HDF5 file", () => f.close());
    } finally {
      Date.now = realNow;
    }
    // the closed file is synced before the rename and the directory after it (a power loss keeps old or new)
    syncFile(tmp, path);
    await testStallBeforeRename(full);
    try {
      renameSync(tmp, full);
    } catch (e) {
      throw fileSystemError(e, path, "rename the temporary file into place");
    }
  } catch (error) {
    if (file !== undefined) closeQuietly(file);
    rmSync(tmp, { force: true });
    throw isSystemError(error) ? fileSystemError(error, path, "write") : error;
  }
  syncDirectory(dir, path);
}
