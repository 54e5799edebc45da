/**
 * Atomic file output: every file is written to a temporary name in the destination directory, flushed to disk, and
 * renamed into place, so a reader never sees a half-written file and a failed write leaves the old file intact.
 *
 * @packageDocumentation
 */
import { open, rename, unlink, type FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { randomBytes } from "node:crypto";
import { InputError } from "../errors.ts";

function reason(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === undefined ? e.message : `${code}: ${e.message}`;
  }
  return String(e);
}

/**
 * Write `path` atomically: `write` receives a handle to a fresh temporary file in the same directory (positioned at
 * offset 0); when it resolves the file is synced, closed and renamed over `path`. If `write` or any step fails, the
 * temporary file is removed and the error is rethrown (file-system failures of this function itself become
 * {@link InputError}s naming `path`).
 */
export async function writeFileAtomic(path: string, write: (fd: FileHandle) => Promise<void>): Promise<void> {
  if (typeof path !== "string" || path.length === 0)
    throw new InputError("writeFileAtomic: path must be a non-empty string");
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  let fh: FileHandle;
  try {
    fh = await open(tmp, "wx");
  } catch (e) {
    throw new InputError(`cannot create output file: ${reason(e)}`, path);
  }
  let ok = false;
  try {
    await write(fh);
    await fh.sync();
    await fh.close();
    ok = true;
    await rename(tmp, path);
  } catch (e) {
    if (!ok) await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    if (ok) throw new InputError(`cannot rename the temporary file into place: ${reason(e)}`, path);
    throw e;
  }
}

/** Write a UTF-8 text file atomically (see {@link writeFileAtomic}). */
export async function writeTextAtomic(path: string, text: string): Promise<void> {
  await writeFileAtomic(path, async (fh) => {
    await fh.writeFile(text, "utf8");
  });
}
