/**
 * A scratch file of fixed-width columns: each column's n values lie one after the other (column-major), so rows
 * [a, b) of a column are read or written with one positioned I/O call. It holds observation columns that do not fit
 * in memory (the paged row stores). Its name is unlinked as soon as it is open (where the system allows it): the data
 * live as long as the descriptor, so nothing is left behind however the process ends. Worker threads share the
 * process's descriptors, so they read and write the same file through the descriptor in its (plain-data) layout.
 *
 * @packageDocumentation
 */
import {
  closeSync,
  ftruncateSync,
  mkdtempSync,
  openSync,
  readSync,
  rmdirSync,
  rmSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { InputError, fileSystemError } from "../errors.ts";

/** A typed array a column is read into or written from. */
export type ColumnArray = Int32Array | Float32Array | Float64Array | Uint8Array;

/** Where every column of a {@link ColumnFile} lies (plain data: it can be posted to workers). */
export interface ColumnFileLayout {
  /** Path the file was created at (already unlinked where the system allows it). */
  readonly path: string;
  /** The directory it was created in (siblings go there too). */
  readonly directory: string;
  /** The open file descriptor (process-wide: valid in every worker thread until the creator closes it). */
  readonly fd: number;
  /** Rows per column. */
  readonly n: number;
  /** Byte offset of each column. */
  readonly offsets: Readonly<Record<string, number>>;
  /** Bytes per value of each column. */
  readonly widths: Readonly<Record<string, number>>;
}

/** Largest number of bytes moved by one read or write call (positioned I/O takes at most 2 GiB at once). */
const IO_CHUNK = 1 << 30;

/** A scratch file of fixed-width columns (see the module description). Unchecked row ranges: callers stay in [0, n). */
export class ColumnFile {
  /** The layout (post it to workers, which {@link ColumnFile.open} it). */
  readonly layout: ColumnFileLayout;
  private fd: number | undefined;
  /** Whether this object created the file (and closes its descriptor). */
  private readonly creator: boolean;
  /** The private directory still to delete (when the system did not let it go at creation), or undefined. */
  private owned: string | undefined;

  private constructor(layout: ColumnFileLayout, creator: boolean, owned: string | undefined) {
    this.layout = layout;
    this.fd = layout.fd;
    this.creator = creator;
    this.owned = owned;
  }

  /**
   * Creates a sparse file for `n` rows of the given columns (name → bytes per value) in a new private directory under
   * `dir`; {@link ColumnFile.remove} deletes both.
   *
   * @throws {@link InputError} when the directory or file cannot be created.
   */
  static create(dir: string, columns: Readonly<Record<string, 1 | 4 | 8>>, n: number): ColumnFile {
    let folder: string;
    try {
      folder = mkdtempSync(join(dir, "diffuse-scaling-"));
    } catch (e) {
      throw fileSystemError(e, dir, "create a scratch directory (--scratch-dir)");
    }
    const path = join(folder, "columns.bin");
    const offsets: Record<string, number> = {};
    const widths: Record<string, number> = {};
    let size = 0;
    for (const [name, width] of Object.entries(columns)) {
      offsets[name] = size;
      widths[name] = width;
      // keep every column 8-byte aligned
      size += Math.ceil((n * width) / 8) * 8;
    }
    let fd: number;
    try {
      fd = openSync(path, "w+");
      ftruncateSync(fd, size);
    } catch (e) {
      rmSync(folder, { recursive: true, force: true });
      throw fileSystemError(e, path, `create a ${size}-byte scratch file (--scratch-dir)`);
    }
    let owned: string | undefined;
    try {
      unlinkSync(path);
      rmdirSync(folder);
    } catch {
      // the system keeps the name of an open file (Windows): it goes in remove()
      owned = folder;
    }
    return new ColumnFile({ path, directory: dir, fd, n, offsets, widths }, true, owned);
  }

  /** The file of a layout (in a worker thread): reads and writes through the creator's descriptor. */
  static open(layout: ColumnFileLayout): ColumnFile {
    return new ColumnFile(layout, false, undefined);
  }

  /** Reads rows [begin, begin + into.length) of column `name` into `into`. */
  read(name: string, begin: number, into: ColumnArray): void {
    this.io(name, begin, into, false);
  }

  /** Writes `from` to rows [begin, begin + from.length) of column `name`. */
  write(name: string, begin: number, from: ColumnArray): void {
    this.io(name, begin, from, true);
  }

  private io(name: string, begin: number, array: ColumnArray, writing: boolean): void {
    const fd = this.fd;
    if (fd === undefined) throw new RangeError(`column file ${this.layout.path} is closed`);
    const width = this.layout.widths[name];
    if (width !== array.BYTES_PER_ELEMENT) throw new RangeError(`column ${name} holds ${width}-byte values`);
    const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
    const position = this.layout.offsets[name] + begin * width;
    for (let done = 0; done < bytes.length;) {
      const part = bytes.subarray(done, Math.min(bytes.length, done + IO_CHUNK));
      let moved: number;
      try {
        moved = writing
          ? writeSync(fd, part, 0, part.length, position + done)
          : readSync(fd, part, 0, part.length, position + done);
      } catch (e) {
        // a sparse scratch file takes its blocks when written: a full disk shows here
        throw fileSystemError(e, this.layout.path, `${writing ? "write" : "read"} the scratch file (--scratch-dir)`);
      }
      if (moved <= 0) throw new InputError(`short ${writing ? "write" : "read"} of column ${name}`, this.layout.path);
      done += moved;
    }
  }

  /** Stops using the file (idempotent); the creator's {@link ColumnFile.remove} releases it. */
  close(): void {
    this.fd = undefined;
  }

  /** Releases the file: the creator closes the descriptor (which frees the data) and deletes what is left (idempotent). */
  remove(): void {
    if (this.creator && this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    if (this.owned !== undefined) rmSync(this.owned, { recursive: true, force: true });
    this.owned = undefined;
  }
}
