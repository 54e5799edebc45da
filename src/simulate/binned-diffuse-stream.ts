/**
 * Streaming writer of the flat binned diffuse layout (`diffuse_binned.h5`, see `src/io/binned-diffuse.ts`): rows are
 * appended in blocks and flushed to the five extensible, chunked datasets whenever a fixed-size buffer is full, so a
 * file of 10^8 rows is written with a few tens of MB of memory. The file is filled under a temporary name and renamed
 * into place when closed.
 *
 * Reproducible bytes: HDF5 stamps object modification times (h5wasm 0.10 exposes no `track_times` switch), which
 * emscripten takes from `Date.now()`. Every h5wasm call is therefore made with `Date.now` pinned to 0 (synchronously,
 * restored right after), so the same rows give the same file bytes.
 *
 * @packageDocumentation
 */
import { renameSync, rmSync, existsSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import type { Dataset, File as H5File } from "h5wasm/node";
import { ConfigError, InputError } from "../errors.ts";
import { closeQuietly, guardH5, loadH5wasm, syncFile, writeAttribute, type H5Wasm } from "../io/hdf5.ts";
import { syncDirectory } from "../io/atomic-write.ts";

/** Options of {@link BinnedDiffuseStreamWriter.create}. */
export interface BinnedDiffuseStreamOptions {
  /**
   * Deflate the datasets (level 4).
   * @defaultValue true
   */
  compression?: boolean;
  /**
   * Rows buffered before a flush (rounded up to a multiple of `chunkRows`).
   * @defaultValue `1 << 20`
   */
  bufferRows?: number;
  /**
   * HDF5 chunk length in rows.
   * @defaultValue `1 << 16`
   */
  chunkRows?: number;
}

/** Runs `fn` with `Date.now` pinned to 0 (HDF5 object timestamps), restoring it afterwards. */
function atFixedTime<T>(fn: () => T): T {
  const now = Date.now;
  Date.now = () => 0;
  try {
    return fn();
  } finally {
    Date.now = now;
  }
}

const NAMES = ["intensities", "sigmas", "still_ids", "voxel_indices", "q_vectors"] as const;
const DTYPES = ["<f4", "<f4", "<i4", "<q", "<f4"] as const;
const COLUMNS = [1, 1, 1, 1, 3] as const;

/** Appends rows to a new binned diffuse file. Create with {@link BinnedDiffuseStreamWriter.create}. */
export class BinnedDiffuseStreamWriter {
  readonly #path: string;
  readonly #tmp: string;
  readonly #compression: boolean;
  readonly #chunkRows: number;
  readonly #capacity: number;
  #file: H5File | undefined;
  readonly #datasets: (Dataset | undefined)[] = [undefined, undefined, undefined, undefined, undefined];
  readonly #intensities: Float32Array;
  readonly #sigmas: Float32Array;
  readonly #stillIds: Int32Array;
  readonly #voxel: BigInt64Array;
  readonly #voxelWords: Uint32Array;
  readonly #q: Float32Array;
  #fill = 0;
  #written = 0;

  private constructor(h5: H5Wasm, path: string, options: BinnedDiffuseStreamOptions) {
    this.#path = path;
    const full = resolve(path);
    const dir = dirname(full);
    if (!existsSync(dir)) throw new InputError("output directory does not exist", path);
    this.#tmp = join(dir, `.${basename(full)}.${process.pid}.simulate.tmp`);
    this.#compression = options.compression ?? true;
    this.#chunkRows = options.chunkRows ?? 1 << 16;
    const want = options.bufferRows ?? 1 << 20;
    this.#capacity = Math.ceil(want / this.#chunkRows) * this.#chunkRows;
    const cap = this.#capacity;
    this.#intensities = new Float32Array(cap);
    this.#sigmas = new Float32Array(cap);
    this.#stillIds = new Int32Array(cap);
    this.#voxel = new BigInt64Array(cap);
    this.#voxelWords = new Uint32Array(this.#voxel.buffer);
    this.#q = new Float32Array(3 * cap);
    rmSync(this.#tmp, { force: true });
    this.#file = atFixedTime(() => guardH5(path, "cannot create HDF5 file", () => new h5.File(this.#tmp, "w")));
  }

  /**
   * Opens a writer for `path` (written as a temporary file in the same directory until {@link close}).
   *
   * @param path - destination `.h5`
   * @param options - compression, buffering, chunking
   * @returns the writer
   * @throws {@link ConfigError} for bad options; {@link InputError} when the file cannot be created
   */
  static async create(path: string, options: BinnedDiffuseStreamOptions = {}): Promise<BinnedDiffuseStreamWriter> {
    for (const key of ["bufferRows", "chunkRows"] as const) {
      const v = options[key];
      if (v !== undefined && !(Number.isSafeInteger(v) && v >= 1)) {
        throw new ConfigError(`BinnedDiffuseStreamWriter: ${key} must be a positive integer, got ${v}`);
      }
    }
    const h5 = await loadH5wasm();
    return new BinnedDiffuseStreamWriter(h5, path, options);
  }

  /** Rows appended so far. */
  get rows(): number {
    return this.#written + this.#fill;
  }

  /**
   * Appends `n` rows of one still. Voxel indices must be non-negative integers below 2^53 (not re-checked here:
   * the simulator produces them from the voxel grid).
   *
   * @param n - number of rows
   * @param stillId - the still of every row
   * @param intensities - n values
   * @param sigmas - n values
   * @param voxel - n linear voxel indices
   * @param q - 3n values (lab frame, Å⁻¹)
   */
  append(
    n: number,
    stillId: number,
    intensities: ArrayLike<number>,
    sigmas: ArrayLike<number>,
    voxel: ArrayLike<number>,
    q: ArrayLike<number>,
  ): void {
    if (this.#file === undefined) throw new InputError("binned diffuse writer already closed", this.#path);
    let i = 0;
    while (i < n) {
      const m = Math.min(n - i, this.#capacity - this.#fill);
      const at = this.#fill;
      const words = this.#voxelWords;
      for (let j = 0; j < m; j++) {
        const r = at + j;
        this.#intensities[r] = intensities[i + j];
        this.#sigmas[r] = sigmas[i + j];
        this.#stillIds[r] = stillId;
        const v = voxel[i + j];
        // little-endian int64 as two uint32 words (no BigInt per row)
        words[2 * r] = v % 4294967296;
        words[2 * r + 1] = Math.floor(v / 4294967296);
        this.#q[3 * r] = q[3 * (i + j)];
        this.#q[3 * r + 1] = q[3 * (i + j) + 1];
        this.#q[3 * r + 2] = q[3 * (i + j) + 2];
      }
      this.#fill += m;
      i += m;
      if (this.#fill === this.#capacity) this.#flush();
    }
  }

  #flush(): void {
    const file = this.#file;
    if (file === undefined || this.#fill === 0) return;
    const n = this.#fill;
    const start = this.#written;
    const data = [
      this.#intensities.subarray(0, n),
      this.#sigmas.subarray(0, n),
      this.#stillIds.subarray(0, n),
      this.#voxel.subarray(0, n),
      this.#q.subarray(0, 3 * n),
    ];
    atFixedTime(() => {
      for (let d = 0; d < NAMES.length; d++) {
        const name = NAMES[d];
        const cols = COLUMNS[d];
        const shapeOf = (rows: number): number[] => (cols === 1 ? [rows] : [rows, cols]);
        guardH5(this.#path, `writing dataset '${name}' rows ${start}..${start + n}`, () => {
          const existing = this.#datasets[d];
          if (existing === undefined) {
            this.#datasets[d] = file.create_dataset({
              name,
              data: data[d],
              shape: shapeOf(n),
              maxshape: cols === 1 ? [null] : [null, cols],
              chunks: shapeOf(this.#chunkRows),
              dtype: DTYPES[d],
              ...(this.#compression ? { compression: "gzip" as const, compression_opts: 4 } : {}),
            });
          } else {
            existing.resize(shapeOf(start + n));
            existing.write_slice(cols === 1 ? [[start, start + n]] : [[start, start + n], []], data[d]);
          }
        });
      }
    });
    this.#written += n;
    this.#fill = 0;
  }

  /**
   * Flushes the remaining rows, writes the root attributes, closes the file and renames it into place.
   *
   * @param attributes - root attributes (`ndiv`, `hkl_max`, `voxel_grid_dims`, `voxel_index_rule`, extras);
   * values are numbers, strings or number arrays
   * @returns the number of rows written
   * @throws {@link ConfigError} when no row was appended (HDF5 datasets need at least one row here)
   */
  close(attributes: Record<string, number | string | number[]>): number {
    const file = this.#file;
    if (file === undefined) throw new InputError("binned diffuse writer already closed", this.#path);
    try {
      this.#flush();
      if (this.#written === 0) throw new ConfigError("BinnedDiffuseStreamWriter: no rows were appended");
      atFixedTime(() => {
        for (const [key, value] of Object.entries(attributes)) writeAttribute(file, this.#path, key, value);
        guardH5(this.#path, "closing HDF5 file", () => file.close());
      });
      this.#file = undefined;
      // synced before the rename, the directory after it
      syncFile(this.#tmp, this.#path);
      renameSync(this.#tmp, resolve(this.#path));
      syncDirectory(dirname(resolve(this.#path)), this.#path);
    } catch (error) {
      this.abort();
      throw error;
    }
    return this.#written;
  }

  /** Discards the file (on an error path). Safe to call more than once. */
  abort(): void {
    const file = this.#file;
    this.#file = undefined;
    if (file !== undefined)
      atFixedTime(() => {
        closeQuietly(file);
      });
    rmSync(this.#tmp, { force: true });
  }
}
