/**
 * Every input file is checked before a byte of it is read: it is opened without blocking (`O_NONBLOCK`, so opening a
 * FIFO with no writer returns at once instead of waiting for one), then `fstat` on the open descriptor says what it
 * is. Only regular files are read: a directory, FIFO, socket, character or block device is refused at once, and so is
 * a file larger than the reader allows or a sparse file (mostly holes, as a truncated or preallocated file is).
 * Checking the open descriptor, not the path, leaves no window between the check and the read.
 *
 * @packageDocumentation
 */
import { constants, type Stats } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { InputError } from "../errors.ts";
import { oneLine } from "./printable.ts";

/** Largest `.expt` file read: the text is decoded into one string, and V8 strings hold at most 2^29 − 24 characters. */
export const MAX_EXPT_FILE_BYTES = 2 ** 29 - 24;

/** Largest `.npz` file read (it is read whole; one still's pixels are far smaller). */
export const MAX_NPZ_FILE_BYTES = 2 ** 31 - 1;

/**
 * A file at least this large must have at least 1/{@link SPARSE_ALLOCATED_FRACTION} of its bytes allocated on disk;
 * below that it is mostly holes (a sparse file) and refused before it is read.
 */
export const SPARSE_MIN_BYTES = 2 ** 30;

/** See {@link SPARSE_MIN_BYTES}. */
export const SPARSE_ALLOCATED_FRACTION = 64;

/** An input file opened for reading, after its checks. */
export interface OpenInputFile {
  /** The open handle; the caller closes it. */
  handle: FileHandle;
  /** Its size in bytes. */
  size: number;
}

/** What a non-regular file is, for messages. */
function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return "a directory";
  if (stats.isFIFO()) return "a FIFO (named pipe)";
  if (stats.isSocket()) return "a socket";
  if (stats.isCharacterDevice()) return "a character device";
  if (stats.isBlockDevice()) return "a block device";
  return "not a regular file";
}

/** The reason an `open` failed, in words. */
export function describeOpenError(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  if (code === "ENOENT") return "file not found";
  if (code === "EISDIR") return "is a directory, not a file";
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  if (code === "ENOTDIR") return "a component of the path is not a directory";
  if (code === "ENAMETOOLONG") return "file name too long";
  if (code === "ELOOP") return "too many symbolic links";
  return oneLine(err instanceof Error ? err.message : String(err));
}

/**
 * Throws unless `stats` describe a regular file of at most `maxBytes` bytes that is not mostly holes.
 *
 * @param stats - `fstat` of the open file
 * @param path - the file, for messages
 * @param what - what the file should be, e.g. `experiment list`
 * @param maxBytes - the reader's size limit. @defaultValue Infinity
 */
export function checkInputStats(stats: Stats, path: string, what: string, maxBytes = Infinity): void {
  if (!stats.isFile()) throw new InputError(`cannot read ${what}: is ${kindOf(stats)}, not a regular file`, path);
  if (stats.size > maxBytes) {
    throw new InputError(`${what} is ${stats.size} bytes, more than the ${maxBytes} allowed`, path);
  }
  const allocated = stats.blocks * 512;
  if (stats.size >= SPARSE_MIN_BYTES && allocated * SPARSE_ALLOCATED_FRACTION < stats.size) {
    throw new InputError(
      `is a sparse file (${stats.size} bytes, ${allocated} allocated on disk): not a ${what} a program wrote`,
      path,
    );
  }
}

/**
 * Opens an input file for reading and checks it (type, size, holes) before anything is read; see the module comment.
 *
 * @param path - the file
 * @param what - what it should be (`experiment list`, `reflection table`, …), for messages
 * @param maxBytes - the reader's size limit. @defaultValue Infinity
 * @returns the open handle and the size; the caller closes the handle
 * @throws {@link InputError} naming `path`: missing, unreadable, not a regular file, too large or sparse
 */
export async function openInputFile(path: string, what: string, maxBytes = Infinity): Promise<OpenInputFile> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw new InputError(`cannot read ${what}: ${describeOpenError(err)}`, path);
  }
  try {
    const stats = await handle.stat();
    checkInputStats(stats, path, what, maxBytes);
    return { handle, size: stats.size };
  } catch (err) {
    await handle.close();
    if (err instanceof InputError) throw err;
    throw new InputError(`cannot read ${what}: ${describeOpenError(err)}`, path);
  }
}

/**
 * Reads a whole input file after {@link openInputFile}'s checks (a file that grows while it is read is refused, so
 * never more than `maxBytes` are read).
 *
 * @param path - the file
 * @param what - what it should be, for messages
 * @param maxBytes - the reader's size limit
 * @returns its bytes
 */
export async function readInputFile(path: string, what: string, maxBytes: number): Promise<Buffer> {
  const { handle, size } = await openInputFile(path, what, maxBytes);
  try {
    const buffer = Buffer.allocUnsafe(Math.min(size, maxBytes) + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > size) throw new InputError(`${what} grew while it was read`, path);
    return buffer.subarray(0, length);
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`cannot read ${what}: ${describeOpenError(err)}`, path);
  } finally {
    await handle.close();
  }
}
