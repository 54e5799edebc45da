/**
 * Checks of an output (or scratch) directory before any input is read: the path is a non-empty string whose names
 * fit the file system's limits, every existing part of it is a directory, the directory exists or can be created, and
 * a file can be created and written in it. Each failure is a {@link FileSystemError} naming the path and what to do,
 * within milliseconds (no call here can block on a device or a FIFO: only stat, mkdir, open of a new regular file).
 *
 * @packageDocumentation
 */
import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, mkdirSync, openSync, statSync, unlinkSync, writeSync } from "node:fs";
import { dirname, join, parse, resolve, sep } from "node:path";
import { ConfigError, FileSystemError, fileSystemError, isSystemError } from "../errors.ts";

/** Longest name of one path component in bytes (NAME_MAX of Linux, macOS and Windows file systems). */
export const MAX_NAME_BYTES = 255;
/** Longest path in bytes (PATH_MAX of Linux). */
export const MAX_PATH_BYTES = 4095;

/**
 * Checks the names of `path`: non-empty, no NUL byte, each component at most {@link MAX_NAME_BYTES} bytes and the
 * whole resolved path at most {@link MAX_PATH_BYTES} bytes.
 *
 * @param path - the path as given
 * @param what - how to name it in messages (e.g. "--out")
 * @returns the resolved absolute path
 * @throws {@link ConfigError} for an empty or non-string path, {@link FileSystemError} for names too long
 */
export function checkPathNames(path: string, what: string): string {
  if (typeof path !== "string" || path.trim().length === 0) {
    throw new ConfigError(`${what} must be a non-empty path`);
  }
  if (path.includes("\0")) throw new ConfigError(`${what} must not contain a NUL character`);
  const full = resolve(path);
  for (const part of full.split(sep)) {
    if (Buffer.byteLength(part) > MAX_NAME_BYTES) {
      throw new FileSystemError(
        `a name in the path is ${Buffer.byteLength(part)} bytes long, the limit is ${MAX_NAME_BYTES}; choose a shorter path (ENAMETOOLONG)`,
        path.length > 120 ? `${path.slice(0, 117)}...` : path,
        "ENAMETOOLONG",
      );
    }
  }
  if (Buffer.byteLength(full) > MAX_PATH_BYTES) {
    throw new FileSystemError(
      `the path is ${Buffer.byteLength(full)} bytes long, the limit is ${MAX_PATH_BYTES}; choose a shorter path (ENAMETOOLONG)`,
      `${path.slice(0, 117)}...`,
      "ENAMETOOLONG",
    );
  }
  return full;
}

/** The deepest existing ancestor of `full` (itself when it exists), checked to be a directory. */
function existingAncestor(full: string, given: string): string {
  let p = full;
  for (;;) {
    try {
      const st = statSync(p);
      if (!st.isDirectory()) {
        throw new FileSystemError(
          p === full
            ? "exists and is not a directory; choose another path (ENOTDIR)"
            : `${p} is not a directory, so nothing can be created under it; choose another path (ENOTDIR)`,
          given,
          "ENOTDIR",
        );
      }
      return p;
    } catch (e) {
      if (e instanceof FileSystemError) throw e;
      if (!isSystemError(e) || (e.code !== "ENOENT" && e.code !== "ENOTDIR")) {
        throw fileSystemError(e, given, "look up the directory");
      }
      const up = dirname(p);
      if (up === p || p === parse(p).root) throw fileSystemError(e, given, "look up the directory");
      p = up;
    }
  }
}

/** Creates, writes a few bytes to, syncs and removes a probe file in `dir` (the directory is writable and not full). */
function probeWritable(dir: string, given: string): void {
  const probe = join(dir, `.diffuse-scale-probe.${process.pid}.${randomBytes(4).toString("hex")}`);
  let fd: number;
  try {
    fd = openSync(probe, "wx");
  } catch (e) {
    throw fileSystemError(e, given, "create a file in the directory");
  }
  try {
    writeSync(fd, Buffer.alloc(512));
    fsyncSync(fd);
  } catch (e) {
    throw fileSystemError(e, given, "write in the directory");
  } finally {
    closeSync(fd);
    try {
      unlinkSync(probe);
    } catch {
      // removed by someone else: nothing left behind
    }
  }
}

/**
 * Checks (and creates when missing) an output directory before any input is read: names within limits, every
 * existing part a directory, the directory creatable and a file in it creatable and writable.
 *
 * @param dir - the directory (e.g. `--out`)
 * @param what - how messages name it (e.g. "--out")
 * @param options - `create: false` only checks an existing directory (e.g. `--scratch-dir`)
 * @returns the resolved absolute path
 * @throws {@link ConfigError} for an empty path, {@link FileSystemError} naming the path and what to do otherwise
 */
export function prepareOutputDirectory(dir: string, what: string, options: { create?: boolean } = {}): string {
  const full = checkPathNames(dir, what);
  const existing = existingAncestor(full, dir);
  if (existing !== full) {
    if (options.create === false) {
      throw new FileSystemError("does not exist; create it or choose another directory (ENOENT)", dir, "ENOENT");
    }
    // one level at a time from the deepest existing directory (Node's recursive mkdir loops for ever under /proc)
    const missing: string[] = [];
    for (let p = full; p !== existing; p = dirname(p)) missing.unshift(p);
    for (const p of missing) {
      try {
        mkdirSync(p);
      } catch (e) {
        if (isSystemError(e) && e.code === "EEXIST" && statSync(p).isDirectory()) continue;
        throw fileSystemError(e, dir, "create the directory");
      }
    }
  }
  probeWritable(full, dir);
  return full;
}

/**
 * Checks the destination of a single output file (e.g. `voxelize --out FILE`): its directory is prepared as
 * {@link prepareOutputDirectory} does, and the path itself is not an existing directory.
 *
 * @param path - the file to be written
 * @param what - how messages name it
 * @returns the resolved absolute path
 */
export function prepareOutputFile(path: string, what: string): string {
  const full = checkPathNames(path, what);
  if (full.endsWith(sep) || path.endsWith("/")) {
    throw new FileSystemError("is a directory path; give the path of a file (EISDIR)", path, "EISDIR");
  }
  prepareOutputDirectory(dirname(full), what);
  try {
    const st = statSync(full);
    if (st.isDirectory()) {
      throw new FileSystemError("is a directory; give the path of a file (EISDIR)", path, "EISDIR");
    }
    if (!st.isFile()) {
      throw new FileSystemError("exists and is not a regular file; choose another path", path);
    }
  } catch (e) {
    if (e instanceof FileSystemError) throw e;
    if (!isSystemError(e) || e.code !== "ENOENT") throw fileSystemError(e, path, "look up the file");
  }
  return full;
}
