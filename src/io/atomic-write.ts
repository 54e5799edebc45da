/**
 * Atomic file output: every file is written to a temporary name in the destination directory, flushed to disk, and
 * renamed into place, so a reader never sees a half-written file and a failed write leaves the old file intact.
 *
 * @packageDocumentation
 */
import { open, readdir, rename, unlink, type FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, openSync } from "node:fs";
import { InputError, fileSystemError, isSystemError } from "../errors.ts";

/**
 * Syncs directory `dir` so that a rename in it survives a power loss (where the file system allows a directory to be
 * synced; some refuse with EINVAL/EISDIR, which is ignored).
 *
 * @param dir - the directory
 * @param given - the path named in the error message
 */
export function syncDirectory(dir: string, given: string = dir): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch (e) {
    if (!(isSystemError(e) && (e.code === "EINVAL" || e.code === "EISDIR"))) throw fileSystemError(e, given, "sync");
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Name of the temporary file for `path`: hidden, in the same directory, never the final name:
 * `.<final name>.<pid>.<random hex>.tmp`. A SIGKILL between creating it and the rename can leave it behind; the next
 * atomic write of the same `path` removes such files whose process is gone ({@link removeStaleTemporaryFiles}).
 *
 * @param path - the destination
 * @returns the temporary path
 */
export function temporaryPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
}

function processIsAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes temporary files of `path` (named as {@link temporaryPathFor} names them, with a hex or UUID suffix) whose
 * writing process no longer exists: leftovers of a killed run. Files of live processes are left alone, so two jobs
 * writing into one directory do not break each other. Errors are ignored (cleanup is best effort).
 *
 * @param path - the destination whose leftovers to remove
 * @returns the number of files removed
 */
export async function removeStaleTemporaryFiles(path: string): Promise<number> {
  return removeTemporaryFiles(path, `.${basename(path)}.`, (suffix) => {
    const m = /^(\d+)\.[0-9a-f-]+\.tmp$/.exec(suffix);
    return m !== null && !processIsAlive(Number(m[1]));
  });
}

/**
 * Environment variable of the kill tests (which check that an interrupted write leaves the old file whole), for tests
 * only: when it equals the final file name of an atomic write (e.g. `scaled.expt`), the process stops forever after
 * the temporary file is complete and synced, just before the rename, so a test can SIGKILL it at that point. Never set
 * it in production.
 */
export const TEST_STALL_ENV = "DIFFUSE_SCALING_TEST_STALL_BEFORE_RENAME";

/** The test-only stall of {@link TEST_STALL_ENV} (a no-op unless the variable names this file). */
export async function testStallBeforeRename(path: string): Promise<void> {
  if (process.env[TEST_STALL_ENV] !== basename(path)) return;
  await new Promise<never>(() => {
    setInterval(() => undefined, 1 << 30);
  });
}

/**
 * Write `path` atomically: `write` receives a handle to a fresh temporary file in the same directory (positioned at
 * offset 0); when it resolves the file is synced, closed and renamed over `path`, and the directory is synced. If `write` or any step fails, the
 * temporary file is removed and the error is rethrown (operating-system errors, of `write` too, become
 * `FileSystemError`s naming `path` and what to do). The temporary name is {@link temporaryPathFor}'s; leftovers of killed
 * processes for the same `path` are removed first.
 */
export async function writeFileAtomic(path: string, write: (fd: FileHandle) => Promise<void>): Promise<void> {
  if (typeof path !== "string" || path.length === 0)
    throw new InputError("writeFileAtomic: path must be a non-empty string");
  await removeStaleTemporaryFiles(path);
  const tmp = temporaryPathFor(path);
  let fh: FileHandle;
  try {
    fh = await open(tmp, "wx");
  } catch (e) {
    throw fileSystemError(e, path, "create the output file");
  }
  let ok = false;
  try {
    await write(fh);
    await fh.sync();
    await fh.close();
    ok = true;
    await testStallBeforeRename(path);
    await rename(tmp, path);
  } catch (e) {
    if (!ok) await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    if (ok) throw fileSystemError(e, path, "rename the temporary file into place");
    // a failure of the file system while writing (a full disk, ...) names the file; the writer's own errors pass
    throw isSystemError(e) ? fileSystemError(e, path, "write") : e;
  }
  syncDirectory(dirname(path), path);
}

/** Write a UTF-8 text file atomically (see {@link writeFileAtomic}). */
export async function writeTextAtomic(path: string, text: string): Promise<void> {
  await writeFileAtomic(path, async (fh) => {
    await fh.writeFile(text, "utf8");
  });
}

/**
 * Removes this process's temporary files of `path` (after its writer was stopped, e.g. by an interrupt).
 *
 * @param path - the destination whose temporary files to remove
 * @returns the number of files removed
 */
export async function removeOwnTemporaryFiles(path: string): Promise<number> {
  return removeTemporaryFiles(path, `.${basename(path)}.${String(process.pid)}.`, () => true);
}

/**
 * Removes the temporary files (`<prefix>….tmp` beside `path`) whose name after `prefix` passes `remove`; errors are
 * ignored (cleanup is best effort: a file already gone or not ours to remove is skipped).
 */
async function removeTemporaryFiles(
  path: string,
  prefix: string,
  remove: (suffix: string) => boolean,
): Promise<number> {
  const dir = dirname(path);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith(".tmp") || !remove(name.slice(prefix.length))) continue;
    await unlink(join(dir, name)).then(
      () => removed++,
      () => undefined,
    );
  }
  return removed;
}
