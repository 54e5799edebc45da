/**
 * Binned diffuse observations in HDF5: one row per diffuse pixel observation, as flat datasets at the file's root
 * (the layout of `diffuse_binned.h5`):
 *
 * | dataset | dtype | shape |
 * | --- | --- | --- |
 * | `intensities` | float32 | (N,) |
 * | `sigmas` | float32 | (N,) |
 * | `still_ids` | int32 | (N,) |
 * | `voxel_indices` | int64 | (N,) |
 * | `q_vectors` | float32 | (N, 3), lab frame, Å⁻¹ |
 *
 * with root attributes `ndiv`, `hkl_max`, `voxel_grid_dims` and `voxel_index_rule`. Reads go through hyperslab
 * slices so files of 10^8 rows stream with bounded memory.
 *
 * @packageDocumentation
 */

import { statSync } from "node:fs";
import type { Dataset, File as H5File } from "h5wasm/node";
import {
  ConfigError,
  InputError,
  requireNumbersArgument,
  requireObjectArgument,
  requireOptionsArgument,
  requireStringArgument,
} from "../errors.ts";
import {
  closeQuietly,
  guardH5,
  openH5Read,
  readAttributes,
  readRows,
  requireDataset,
  writeAttribute,
  writeH5Atomic,
  writeRowsChunked,
} from "./hdf5.ts";
import type { DatasetSpec, H5Numeric } from "./hdf5.ts";
import { openNativeH5, type NativeH5, type NativeH5Options } from "./hdf5-native-reader.ts";

/** Root attributes of a binned diffuse file. Attributes other than the four named ones are carried through as-is. */
export interface BinnedDiffuseAttributes {
  /** Voxel subdivisions per reciprocal-lattice unit (`sub = round(hkl·ndiv)`). */
  ndiv: number;
  /** Largest |h|, |k|, |l| covered by the voxel grid. */
  hklMax: [number, number, number];
  /** Voxel grid dimensions (`2·hklMax·ndiv + 1` per axis for the simulator's rule). */
  voxelGridDims: [number, number, number];
  /** Human-readable rule that maps a pixel to its linear voxel index. */
  voxelIndexRule: string;
  /** Any further attribute (read as number, string, number[] or string[]). */
  [other: string]: unknown;
}

/** A block of consecutive rows. `start` is the index of its first row in the file. */
export interface BinnedDiffuseChunk {
  /** Index of the first row of this chunk in the file. */
  start: number;
  /** Observed intensities. */
  intensities: Float32Array;
  /** Their standard deviations. */
  sigmas: Float32Array;
  /** Still (experiment) index of each row. */
  stillIds: Int32Array;
  /** Linear voxel index (int64 on disk; checked exact, i.e. below 2^53, and inside the voxel grid). */
  voxelIndices: Float64Array;
  /** Scattering vectors, `n × 3` row-major, lab frame, Å⁻¹. */
  qVectors: Float32Array;
}

/**
 * Column buffers a slice can be read into (each at least as long as the slice, `qVectors` three times): reading slice
 * after slice into one set allocates nothing per slice.
 */
export type BinnedDiffuseBuffers = Omit<BinnedDiffuseChunk, "start">;

/** An open binned diffuse file, read in slices. */
export interface BinnedDiffuseFile {
  /** The path it was opened with. */
  path: string;
  /** Number of rows. */
  nObservations: number;
  /** Root attributes. */
  attributes: BinnedDiffuseAttributes;
  /**
   * The experiment identifier of each still id (dataset `experiment_identifiers`, index = still id), or undefined when
   * the file has none: still ids then index the job's experiments in order.
   */
  experimentIdentifiers: readonly string[] | undefined;
  /**
   * Reads rows `[start, end)`. With `into`, the chunk's arrays may be views of its buffers (valid until they are read
   * into again); without, they are fresh.
   *
   * @throws {@link ConfigError} for a range outside `[0, nObservations]` or buffers too short; {@link InputError} for
   * unreadable data or values out of range (negative still id, voxel index outside the grid)
   */
  readSlice(start: number, end: number, into?: BinnedDiffuseBuffers): BinnedDiffuseChunk;
  /**
   * Reads only the voxel indices of rows `[start, end)` (a quarter of a row's bytes: grouping counts voxels first);
   * into rows `[0, end − start)` of `into` when given (the result is then a view of it).
   *
   * @throws as {@link BinnedDiffuseFile.readSlice}
   */
  readVoxelIndices(start: number, end: number, into?: Float64Array): Float64Array;
  /**
   * Reads only the still ids of rows `[start, end)` (an eighth of a row's bytes: the job matches them to its
   * experiments before grouping).
   *
   * @throws as {@link BinnedDiffuseFile.readSlice}
   */
  readStillIds(start: number, end: number): Int32Array;
  /**
   * Iterates over consecutive chunks covering every row exactly once.
   *
   * @param rows - rows per chunk. @defaultValue `1 << 20`
   */
  chunks(rows?: number): Iterable<BinnedDiffuseChunk>;
  /** Releases the file. Further reads throw. */
  close(): void;
}

/** Options of {@link writeBinnedDiffuse}. */
export interface WriteBinnedDiffuseOptions {
  /**
   * Deflate-compress the datasets (level 4). h5wasm applies one filter per dataset, so no shuffle filter is added;
   * files written by h5py with gzip + shuffle read the same.
   * @defaultValue true
   */
  compression?: boolean;
  /**
   * HDF5 chunk length in rows.
   * @defaultValue `1 << 16`
   */
  chunkRows?: number;
  /**
   * The experiment identifier of each still id, written as the string dataset `experiment_identifiers`; none when
   * undefined or when every identifier is empty.
   * @defaultValue undefined
   */
  experimentIdentifiers?: readonly string[] | undefined;
}

/** The dataset of experiment identifiers (one variable-length string per still id). */
export const EXPERIMENT_IDENTIFIERS_DATASET = "experiment_identifiers";

/** Reads the optional `experiment_identifiers` dataset: strings, one dimension, no more than the file can hold. */
function readExperimentIdentifiers(file: H5File, path: string): string[] | undefined {
  const name = EXPERIMENT_IDENTIFIERS_DATASET;
  const entity = guardH5(path, `looking up dataset '${name}'`, () => file.get(name));
  if (entity === null) return undefined;
  const dataset = entity as Dataset;
  const meta = guardH5(path, `reading dataset '${name}'`, () => dataset.metadata);
  if (meta.type !== 3 || meta.shape?.length !== 1) {
    throw new InputError(`dataset '${name}' must be one dimension of strings`, path);
  }
  const count = meta.shape[0];
  if (count > statSync(path).size) {
    throw new InputError(`dataset '${name}' declares ${count} strings, more than the file can hold`, path);
  }
  const value = guardH5(path, `reading dataset '${name}'`, () => dataset.value);
  if (!Array.isArray(value) || !value.every((v): v is string => typeof v === "string")) {
    throw new InputError(`dataset '${name}' must hold strings`, path);
  }
  return value;
}

const SPECS = {
  intensities: { name: "intensities", kind: "float", size: 4, rank: 1 },
  sigmas: { name: "sigmas", kind: "float", size: 4, rank: 1 },
  stillIds: { name: "still_ids", kind: "int", size: 4, rank: 1 },
  voxelIndices: { name: "voxel_indices", kind: "int", size: 8, rank: 1 },
  qVectors: { name: "q_vectors", kind: "float", size: 4, rank: 2, columns: 3 },
} as const satisfies Record<string, DatasetSpec>;

const DEFAULT_CHUNK_ROWS = 1 << 20;

function requireIntTriple(value: unknown, name: string, path: string, min: number): [number, number, number] {
  if (
    !Array.isArray(value) ||
    value.length !== 3 ||
    !value.every((v): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= min)
  ) {
    throw new InputError(`attribute '${name}' must be 3 integers >= ${min}, got ${JSON.stringify(value)}`, path);
  }
  return [value[0], value[1], value[2]];
}

/** Validates the raw root attributes into {@link BinnedDiffuseAttributes}. */
function parseAttributes(raw: Record<string, unknown>, path: string): BinnedDiffuseAttributes {
  const { ndiv: ndivRaw, hkl_max, voxel_grid_dims, voxel_index_rule, ...rest } = raw;
  const ndiv = Array.isArray(ndivRaw) && ndivRaw.length === 1 ? (ndivRaw[0] as unknown) : ndivRaw;
  if (ndiv === undefined) throw new InputError("missing attribute 'ndiv'", path);
  if (typeof ndiv !== "number" || !Number.isSafeInteger(ndiv) || ndiv < 1) {
    throw new InputError(`attribute 'ndiv' must be a positive integer, got ${JSON.stringify(ndiv)}`, path);
  }
  if (hkl_max === undefined) throw new InputError("missing attribute 'hkl_max'", path);
  if (voxel_grid_dims === undefined) throw new InputError("missing attribute 'voxel_grid_dims'", path);
  if (voxel_index_rule === undefined) throw new InputError("missing attribute 'voxel_index_rule'", path);
  if (typeof voxel_index_rule !== "string") throw new InputError("attribute 'voxel_index_rule' must be a string", path);
  const dims = requireIntTriple(voxel_grid_dims, "voxel_grid_dims", path, 1);
  if (dims[0] * dims[1] * dims[2] > Number.MAX_SAFE_INTEGER) {
    throw new InputError("attribute 'voxel_grid_dims' describes more than 2^53 voxels", path);
  }
  const hklMax = requireIntTriple(hkl_max, "hkl_max", path, 1);
  // the grid the voxel indices are decoded on (merging, voxel centres): D_i = 2·hkl_max_i·ndiv + 1, checked here so a
  // file inconsistent with its own indices is refused before anything is grouped or refined
  const expected = hklMax.map((h) => 2 * h * ndiv + 1);
  if (expected.some((d, i) => d !== dims[i])) {
    throw new InputError(
      `attribute 'voxel_grid_dims' [${dims.join(", ")}] does not match hkl_max [${hklMax.join(", ")}] and ndiv ${ndiv} ` +
        `(the voxel index rule needs 2·hkl_max·ndiv + 1 = [${expected.join(", ")}])`,
      path,
    );
  }
  return {
    ...rest,
    ndiv,
    hklMax,
    voxelGridDims: dims,
    voxelIndexRule: voxel_index_rule,
  };
}

/** Bytes one row occupies uncompressed: intensity f4, sigma f4, still id i4, voxel index i8, q f4×3. */
const ROW_BYTES = 4 + 4 + 4 + 8 + 12;
/** Deflate cannot shrink data by more than about 1032:1, so no real file holds more rows than this ratio allows. */
const MAX_DEFLATE_RATIO = 1032;

/**
 * Rejects a declared row count that the file cannot hold (a corrupt or hostile dataspace must not turn into a huge
 * allocation). Even fully deflated, `n` rows need `n × 32 / 1032` bytes on disk.
 */
function checkRowsAgainstFileSize(n: number, path: string): void {
  const size = statSync(path).size;
  if (n * ROW_BYTES > size * MAX_DEFLATE_RATIO) {
    throw new InputError(
      `datasets declare ${n} rows (${n * ROW_BYTES} bytes uncompressed), more than a file of ${size} bytes can hold`,
      path,
    );
  }
}

/** Options of {@link openBinnedDiffuse}. */
export interface OpenBinnedDiffuseOptions extends NativeH5Options {
  /**
   * `"auto"` reads natively (Node's own file reads and zlib, chunk indexes read once, filtered chunks decoded in worker
   * threads) whenever the file's layout is covered, else with h5wasm; `"h5wasm"` always uses h5wasm; `"native"` fails
   * with an {@link InputError} when the layout is not covered. Both readers return identical rows.
   * @defaultValue "auto"
   */
  reader?: "auto" | "native" | "h5wasm";
}

/**
 * Reads rows `[start, end)` of one of the five datasets: into the first elements of `into` when given (a reader may
 * ignore it), the result then a view of them.
 */
type ColumnReader = <T extends H5Numeric>(
  key: keyof typeof SPECS,
  start: number,
  end: number,
  ctor: abstract new (...args: never[]) => T,
  into?: T,
) => T;

/**
 * Opens a binned diffuse HDF5 file and validates it: all five datasets present with the right dtypes and ranks,
 * `q_vectors` of shape (N, 3), equal row counts, and the four root attributes. No row data is read yet.
 *
 * @param path - the `.h5` file
 * @param options - which reader, and its decoding threads
 * @returns the open file; call `close()` when done
 * @throws {@link InputError} naming the file and the dataset or attribute at fault
 */
export async function openBinnedDiffuse(
  path: string,
  options: OpenBinnedDiffuseOptions = {},
): Promise<BinnedDiffuseFile> {
  if (typeof path !== "string" || path === "")
    throw new ConfigError("openBinnedDiffuse: path must be a non-empty string");
  requireOptionsArgument(options, "openBinnedDiffuse: options");
  const mode = options.reader ?? "auto";
  if (!["auto", "native", "h5wasm"].includes(mode)) {
    throw new ConfigError(
      `openBinnedDiffuse: reader must be "auto", "native" or "h5wasm", got ${JSON.stringify(mode)}`,
    );
  }
  if (mode !== "h5wasm") {
    const native = openNativeMatching(path, options);
    if (native !== undefined) {
      try {
        return makeNativeReader(native, path);
      } catch (error) {
        native.close();
        throw error;
      }
    }
    if (mode === "native") throw new InputError("layout not covered by the native HDF5 reader", path);
  }
  const file = await openH5Read(path);
  try {
    return makeReader(file, path);
  } catch (error) {
    closeQuietly(file);
    throw error;
  }
}

/** Opens `path` natively when it is covered and its five datasets are exactly what {@link SPECS} asks for. */
function openNativeMatching(path: string, options: NativeH5Options): NativeH5 | undefined {
  const specs = Object.values(SPECS) as DatasetSpec[];
  // the identifiers are variable-length strings: a file that has them is read through h5wasm
  const native = openNativeH5(
    path,
    specs.map((s) => s.name),
    { ...options, h5wasmIfPresent: [EXPERIMENT_IDENTIFIERS_DATASET] },
  );
  if (native === undefined) return undefined;
  const ok = specs.every((spec) => {
    const ds = native.datasets.get(spec.name);
    if (ds === undefined) return false;
    const kindOk = spec.kind === "float" ? ds.type.kind === "float" : ds.type.kind === "int";
    const shapeOk = ds.dims.length === spec.rank && (spec.rank === 1 || ds.dims[1] === spec.columns);
    return kindOk && ds.type.size === spec.size && shapeOk;
  });
  if (!ok) native.close();
  return ok ? native : undefined;
}

function makeNativeReader(native: NativeH5, path: string): BinnedDiffuseFile {
  const read: ColumnReader = (key, start, end, ctor, into) => {
    const spec: DatasetSpec = SPECS[key];
    const columns = spec.columns ?? 1;
    if (into !== undefined) {
      const count = (end - start) * columns;
      native.readRowsInto(
        spec.name,
        start,
        end,
        columns,
        new Uint8Array(into.buffer, into.byteOffset, count * into.BYTES_PER_ELEMENT),
      );
      return into.subarray(0, count) as typeof into;
    }
    const bytes = native.readRows(spec.name, start, end, columns);
    const Ctor = ctor as unknown as new (buffer: ArrayBuffer) => never;
    return new Ctor(bytes);
  };
  const rows = (key: keyof typeof SPECS): number => native.datasets.get(SPECS[key].name)?.dims[0] ?? -1;
  return makeRowReader(path, rows, read, native.attributes, undefined, () => {
    native.close();
  });
}

function makeReader(file: H5File, path: string): BinnedDiffuseFile {
  const ds = {} as Record<keyof typeof SPECS, Dataset>;
  const counts = {} as Record<keyof typeof SPECS, number>;
  for (const [key, spec] of Object.entries(SPECS) as [keyof typeof SPECS, DatasetSpec][]) {
    const { dataset, rows } = requireDataset(file, path, spec);
    ds[key] = dataset;
    counts[key] = rows;
  }
  const read: ColumnReader = (key, start, end, ctor) =>
    readRows(ds[key], path, SPECS[key].name, start, end, (SPECS[key] as DatasetSpec).columns ?? 1, ctor);
  return makeRowReader(
    path,
    (key) => counts[key],
    read,
    readAttributes(file, path),
    readExperimentIdentifiers(file, path),
    () => {
      closeQuietly(file);
    },
  );
}

/** The reader over either backend: row counts checked equal, attributes parsed, rows read and checked. */
function makeRowReader(
  path: string,
  rowsOf: (key: keyof typeof SPECS) => number,
  read: ColumnReader,
  rawAttributes: Record<string, unknown>,
  experimentIdentifiers: string[] | undefined,
  release: () => void,
): BinnedDiffuseFile {
  let n = -1;
  let first = "";
  for (const [key, spec] of Object.entries(SPECS) as [keyof typeof SPECS, DatasetSpec][]) {
    const rows = rowsOf(key);
    if (n < 0) {
      n = rows;
      first = spec.name;
    } else if (rows !== n) {
      throw new InputError(`dataset '${spec.name}' has ${rows} rows but '${first}' has ${n}`, path);
    }
  }
  checkRowsAgainstFileSize(n, path);
  const attributes = parseAttributes(rawAttributes, path);
  const [d0, d1, d2] = attributes.voxelGridDims;
  const nVoxels = d0 * d1 * d2;
  let open = true;

  const checkRange = (what: string, start: number, end: number): void => {
    if (!open) throw new InputError("binned diffuse file already closed", path);
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start || end > n) {
      throw new ConfigError(`${what}(${start}, ${end}): need integers 0 <= start <= end <= ${n}`);
    }
  };
  // the int64 voxel indices of slices read into caller buffers (grown as needed; never larger than those buffers)
  let rawVoxels = new BigInt64Array(0);
  const checkBuffer = (what: string, name: string, buffer: { length: number } | undefined, need: number): void => {
    if (buffer !== undefined && !(buffer.length >= need)) {
      throw new ConfigError(`${what}: buffer '${name}' holds ${buffer.length} elements, the slice needs ${need}`);
    }
  };
  const readVoxelIndices = (start: number, end: number, into?: Float64Array): Float64Array => {
    checkRange("readVoxelIndices", start, end);
    const m = end - start;
    checkBuffer("readVoxelIndices", "voxelIndices", into, m);
    const voxelIndices = into === undefined ? new Float64Array(m) : into.subarray(0, m);
    if (m === 0) return voxelIndices;
    if (into !== undefined && rawVoxels.length < m) rawVoxels = new BigInt64Array(into.length);
    const raw = read("voxelIndices", start, end, BigInt64Array, into === undefined ? undefined : rawVoxels);
    // int64 → double through the two 32-bit halves (little-endian, as wasm is): exact below 2^53 and ~10× faster than
    // Number(bigint); anything larger or negative fails the grid check below
    const words = new Int32Array(raw.buffer, raw.byteOffset, 2 * m);
    for (let i = 0; i < m; i++) {
      const v = words[2 * i + 1] * 4294967296 + (words[2 * i] >>> 0);
      if (!(v >= 0 && v < nVoxels)) {
        throw new InputError(
          `dataset 'voxel_indices' row ${start + i}: ${raw[i]} outside the voxel grid [0, ${nVoxels})`,
          path,
        );
      }
      voxelIndices[i] = v;
    }
    return voxelIndices;
  };

  const readStillIds = (start: number, end: number): Int32Array => {
    checkRange("readStillIds", start, end);
    if (end === start) return new Int32Array(0);
    const stillIds = read("stillIds", start, end, Int32Array);
    for (let i = 0; i < stillIds.length; i++) {
      if (stillIds[i] < 0) {
        throw new InputError(`dataset 'still_ids' row ${start + i}: negative still id ${stillIds[i]}`, path);
      }
    }
    return stillIds;
  };

  const readSlice = (start: number, end: number, into?: BinnedDiffuseBuffers): BinnedDiffuseChunk => {
    checkRange("readSlice", start, end);
    const m = end - start;
    if (into !== undefined) {
      for (const key of ["intensities", "sigmas", "stillIds", "voxelIndices"] as const)
        checkBuffer("readSlice", key, into[key], m);
      checkBuffer("readSlice", "qVectors", into.qVectors, 3 * m);
    }
    if (m === 0) {
      return {
        start,
        intensities: new Float32Array(0),
        sigmas: new Float32Array(0),
        stillIds: new Int32Array(0),
        voxelIndices: new Float64Array(0),
        qVectors: new Float32Array(0),
      };
    }
    const intensities = read("intensities", start, end, Float32Array, into?.intensities);
    const sigmas = read("sigmas", start, end, Float32Array, into?.sigmas);
    const stillIds = read("stillIds", start, end, Int32Array, into?.stillIds);
    const voxelIndices = readVoxelIndices(start, end, into?.voxelIndices);
    const qVectors = read("qVectors", start, end, Float32Array, into?.qVectors);
    for (let i = 0; i < m; i++) {
      if (stillIds[i] < 0) {
        throw new InputError(`dataset 'still_ids' row ${start + i}: negative still id ${stillIds[i]}`, path);
      }
    }
    return { start, intensities, sigmas, stillIds, voxelIndices, qVectors };
  };

  return {
    path,
    nObservations: n,
    attributes,
    experimentIdentifiers,
    readSlice,
    readVoxelIndices,
    readStillIds,
    chunks(rows = DEFAULT_CHUNK_ROWS): Iterable<BinnedDiffuseChunk> {
      if (!Number.isSafeInteger(rows) || rows < 1)
        throw new ConfigError(`chunks(${rows}): rows must be a positive integer`);
      return {
        *[Symbol.iterator]() {
          for (let s = 0; s < n; s += rows) yield readSlice(s, Math.min(n, s + rows));
        },
      };
    },
    close(): void {
      if (open) {
        open = false;
        release();
      }
    },
  };
}

/**
 * Reads every row of a binned diffuse file (convenience; streams internally in slices of 2^20 rows, so only the
 * JavaScript-side result must fit in memory).
 *
 * @param path - the `.h5` file
 * @param options - which reader (see {@link openBinnedDiffuse})
 * @returns all rows (`start` = 0) and the attributes
 */
export async function readBinnedDiffuse(
  path: string,
  options: OpenBinnedDiffuseOptions = {},
): Promise<BinnedDiffuseChunk & { attributes: BinnedDiffuseAttributes }> {
  const f = await openBinnedDiffuse(path, options);
  try {
    const n = f.nObservations;
    const out = {
      start: 0,
      intensities: new Float32Array(n),
      sigmas: new Float32Array(n),
      stillIds: new Int32Array(n),
      voxelIndices: new Float64Array(n),
      qVectors: new Float32Array(3 * n),
      attributes: f.attributes,
    };
    for (const c of f.chunks()) {
      out.intensities.set(c.intensities, c.start);
      out.sigmas.set(c.sigmas, c.start);
      out.stillIds.set(c.stillIds, c.start);
      out.voxelIndices.set(c.voxelIndices, c.start);
      out.qVectors.set(c.qVectors, 3 * c.start);
    }
    return out;
  } finally {
    f.close();
  }
}

/** Root attribute names on disk for the typed attribute fields. */
const ATTRIBUTE_NAMES = {
  ndiv: "ndiv",
  hklMax: "hkl_max",
  voxelGridDims: "voxel_grid_dims",
  voxelIndexRule: "voxel_index_rule",
};

/**
 * Writes a binned diffuse file in the layout read by {@link openBinnedDiffuse}, atomically (a temporary file in the
 * same directory, renamed on success).
 *
 * @param path - destination `.h5`
 * @param data - the rows; all arrays of one length `n` (`qVectors` of `3n`)
 * @param attributes - root attributes; extra keys are written too (number, string or number[])
 * @param options - compression and chunking
 * @throws {@link ConfigError} for inconsistent arguments; {@link InputError} when the file cannot be written
 */
export async function writeBinnedDiffuse(
  path: string,
  data: Omit<BinnedDiffuseChunk, "start">,
  attributes: BinnedDiffuseAttributes,
  options: WriteBinnedDiffuseOptions = {},
): Promise<void> {
  requireStringArgument(path, "writeBinnedDiffuse: path");
  requireObjectArgument(data, "writeBinnedDiffuse: data");
  for (const key of ["intensities", "sigmas", "stillIds", "voxelIndices", "qVectors"] as const)
    requireNumbersArgument(data[key], `writeBinnedDiffuse: data.${key}`);
  requireObjectArgument(attributes, "writeBinnedDiffuse: attributes");
  requireOptionsArgument(options, "writeBinnedDiffuse: options");
  const compression = options.compression ?? true;
  const chunkRows = options.chunkRows ?? 1 << 16;
  if (!Number.isSafeInteger(chunkRows) || chunkRows < 1)
    throw new ConfigError(`chunkRows must be a positive integer, got ${chunkRows}`);
  const n = data.intensities.length;
  const checks: [string, number, number][] = [
    ["sigmas", data.sigmas.length, n],
    ["stillIds", data.stillIds.length, n],
    ["voxelIndices", data.voxelIndices.length, n],
    ["qVectors", data.qVectors.length, 3 * n],
  ];
  for (const [name, got, want] of checks) {
    if (got !== want) throw new ConfigError(`writeBinnedDiffuse: ${name} has length ${got}, expected ${want}`);
  }
  const voxel = new BigInt64Array(n);
  for (let i = 0; i < n; i++) {
    const v = data.voxelIndices[i];
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new ConfigError(`writeBinnedDiffuse: voxelIndices[${i}] = ${v} is not a non-negative integer below 2^53`);
    }
    voxel[i] = BigInt(v);
  }
  const { ndiv, hklMax, voxelGridDims, voxelIndexRule, ...rest } = attributes;
  if (!Number.isSafeInteger(ndiv) || ndiv < 1)
    throw new ConfigError(`writeBinnedDiffuse: ndiv must be a positive integer`);
  for (const [name, t] of [
    ["hklMax", hklMax],
    ["voxelGridDims", voxelGridDims],
  ] as const) {
    const triple: readonly number[] = t;
    if (triple.length !== 3 || !triple.every((v) => Number.isSafeInteger(v) && v >= 0)) {
      throw new ConfigError(`writeBinnedDiffuse: ${name} must be 3 non-negative integers`);
    }
  }
  for (const key of Object.keys(rest)) {
    if (Object.values(ATTRIBUTE_NAMES).includes(key)) {
      throw new ConfigError(`writeBinnedDiffuse: attribute '${key}' clashes with a typed attribute field`);
    }
  }
  await writeH5Atomic(path, (file) => {
    writeRowsChunked(file, path, SPECS.intensities.name, data.intensities, 1, "<f4", chunkRows, compression);
    writeRowsChunked(file, path, SPECS.sigmas.name, data.sigmas, 1, "<f4", chunkRows, compression);
    writeRowsChunked(file, path, SPECS.stillIds.name, data.stillIds, 1, "<i4", chunkRows, compression);
    writeRowsChunked(file, path, SPECS.voxelIndices.name, voxel, 1, "<q", chunkRows, compression);
    writeRowsChunked(file, path, SPECS.qVectors.name, data.qVectors, 3, "<f4", chunkRows, compression);
    writeAttribute(file, path, ATTRIBUTE_NAMES.ndiv, ndiv);
    writeAttribute(file, path, ATTRIBUTE_NAMES.hklMax, [...hklMax]);
    writeAttribute(file, path, ATTRIBUTE_NAMES.voxelGridDims, [...voxelGridDims]);
    writeAttribute(file, path, ATTRIBUTE_NAMES.voxelIndexRule, voxelIndexRule);
    for (const [key, value] of Object.entries(rest)) writeAttribute(file, path, key, value);
    const identifiers = options.experimentIdentifiers;
    if (identifiers !== undefined && identifiers.some((id) => id !== "")) {
      guardH5(path, `writing dataset '${EXPERIMENT_IDENTIFIERS_DATASET}'`, () =>
        file.create_dataset({ name: EXPERIMENT_IDENTIFIERS_DATASET, data: [...identifiers] }),
      );
    }
  });
}
