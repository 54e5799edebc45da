/**
 * The lock of an output directory: one run at a time writes into a directory. The lock is a file
 * `.diffuse-scale.lock` created exclusively (`O_EXCL`) that names its process (pid, start time, host). A second run
 * is refused with a message naming that process; a lock whose process has ended (killed, crashed) is taken over.
 * A process is identified by its pid and, where `/proc` exists, its start time, so a pid reused by another program
 * (e.g. pid 1 in each new container) does not keep a stale lock alive.
 *
 * @packageDocumentation
 */
import {
  readFileSync,
  statSync,
  linkSync,
  openSync,
  closeSync,
  renameSync,
  unlinkSync,
  writeSync,
  fsyncSync,
} from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { FileSystemError, fileSystemError, isSystemError } from "../errors.ts";

/** Name of the lock file in an output directory. */
export const LOCK_NAME = ".diffuse-scale.lock";

/** What the lock file holds. */
export interface LockOwner {
  pid: number;
  /** Start time of the process (clock ticks since boot, from `/proc/<pid>/stat`), or -1 where unknown. */
  start: number;
  host: string;
}

/** The start time of process `pid` from `/proc/<pid>/stat` (field 22), or undefined without `/proc`/that process. */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const start = Number(fields[19]);
    return Number.isFinite(start) ? start : undefined;
  } catch {
    return undefined;
  }
}

/** This process as a lock owner. */
export function currentOwner(): LockOwner {
  return { pid: process.pid, start: processStartTime(process.pid) ?? -1, host: hostname() };
}

/**
 * Whether the process of a lock is running: on another host it is assumed to be (it cannot be checked); here, its
 * pid must exist and, where `/proc` tells, have the recorded start time.
 */
export function ownerIsAlive(owner: LockOwner): boolean {
  if (owner.host !== hostname()) return true;
  if (owner.pid === process.pid) return owner.start === (processStartTime(process.pid) ?? -1);
  try {
    process.kill(owner.pid, 0);
  } catch (e) {
    // EPERM: the process exists but belongs to someone else
    if ((e as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const start = processStartTime(owner.pid);
  return start === undefined || owner.start < 0 || start === owner.start;
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const o = JSON.parse(text) as Partial<LockOwner>;
    if (typeof o.pid === "number" && typeof o.start === "number" && typeof o.host === "string") {
      return { pid: o.pid, start: o.start, host: o.host };
    }
  } catch {
    // a lock file cut short by a crash between create and write: treated as stale below
  }
  return undefined;
}

/** The owner recorded in `dir`'s lock, or undefined when there is no (readable) lock. */
export function readLockOwner(dir: string): LockOwner | undefined {
  try {
    return parseOwner(readFileSync(join(dir, LOCK_NAME), "utf8"));
  } catch {
    return undefined;
  }
}

/** A held lock. */
export interface OutputLock {
  /** The directory it locks. */
  readonly dir: string;
  /** Removes the lock file (idempotent; only while it is still this process's). */
  release(): void;
}

function tryCreate(path: string, owner: LockOwner, given: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, "wx");
  } catch (e) {
    if (isSystemError(e) && e.code === "EEXIST") return false;
    throw fileSystemError(e, given, "create the lock file");
  }
  try {
    writeSync(fd, `${JSON.stringify(owner)}\n`);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(path);
    throw fileSystemError(e, given, "write the lock file");
  }
  closeSync(fd);
  return true;
}

/** Whether the file at `path` was modified less than a second ago (a lock whose owner is still writing it). */
function justCreated(path: string): boolean {
  try {
    return Date.now() - statSync(path).mtimeMs < 1000;
  } catch {
    return false;
  }
}

/**
 * Takes the lock of output directory `dir` (which exists). A lock of a running process → refused; a stale lock (its
 * process has ended, or the file is unreadable) is moved aside and taken over.
 *
 * @param dir - the output directory
 * @param given - how messages name the directory (the path as the user gave it)
 * @returns the held lock
 * @throws {@link FileSystemError} naming the running process, or the OS error met
 */
export function acquireOutputLock(dir: string, given: string = dir): OutputLock {
  const path = join(dir, LOCK_NAME);
  const owner = currentOwner();
  for (let attempt = 0; attempt < 20; attempt++) {
    if (tryCreate(path, owner, given)) {
      return {
        dir,
        release() {
          const now = readLockOwner(dir);
          if (now?.pid === owner.pid && now.start === owner.start && now.host === owner.host) {
            try {
              unlinkSync(path);
            } catch {
              // already gone
            }
          }
        },
      };
    }
    const other = readLockOwner(dir);
    if (other === undefined && justCreated(path)) {
      // being written by the process that just created it: wait for its content
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
      continue;
    }
    if (other !== undefined && ownerIsAlive(other)) {
      throw new FileSystemError(
        `another diffuse-scale process (pid ${other.pid}${other.host === owner.host ? "" : ` on ${other.host}`}) is writing into this directory; wait for it to end or choose another output directory`,
        given,
        "EBUSY",
      );
    }
    // Stale: move it aside under a name of our own, then check what was moved (another process may have taken the
    // lock over in between, in which case its lock is put back and we start again).
    const aside = join(dir, `${LOCK_NAME}.stale.${process.pid}.${randomBytes(4).toString("hex")}`);
    try {
      renameSync(path, aside);
    } catch (e) {
      if (isSystemError(e) && e.code === "ENOENT") continue;
      throw fileSystemError(e, given, "take over the stale lock file");
    }
    let moved: LockOwner | undefined;
    try {
      moved = parseOwner(readFileSync(aside, "utf8"));
    } catch {
      moved = undefined;
    }
    if (moved !== undefined && ownerIsAlive(moved)) {
      try {
        linkSync(aside, path);
      } catch {
        // a third process took the lock meanwhile: it holds it
      }
    }
    try {
      unlinkSync(aside);
    } catch {
      // already gone
    }
  }
  throw new FileSystemError("could not take the lock of the directory; try again", given, "EBUSY");
}
