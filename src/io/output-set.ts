/**
 * An output set written as one unit. A run writes every file of its set into a hidden staging directory inside the
 * output directory, then commits: each staged file is synced, a manifest (`manifest.json`: each file's name, size and
 * SHA-256, the command and its version) and a journal (`commit.json`: the files to move in and the previous set's
 * files to remove) are written and synced, and the staging directory is renamed to `.diffuse-scale-commit` — the
 * commit point. The files are then renamed into place: the previous manifest first out, the previous set's files
 * that the new set does not have removed, the new files in, the new manifest last; then the journal directory goes.
 *
 * So before the commit point the directory holds the complete previous set (staging is hidden and removed by the next
 * run); after it, the new set, completed from the journal by whoever next opens the directory if the process died
 * within the few renames of the commit ({@link recoverOutputSet}). A directory whose manifest is present and matches
 * its files is a complete set ({@link verifyOutputSet}); while a commit is unfinished there is no manifest. The output
 * directory stays a plain directory of plain files (no symbolic link is swapped), so its path, permissions and mount
 * stay as the user made them.
 *
 * One process at a time writes into a directory ({@link acquireOutputLock}).
 *
 * @packageDocumentation
 */
import { createHash } from "node:crypto";
import { createReadStream, existsSync, rmdirSync } from "node:fs";
import {
  closeSync,
  fsyncSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { basename, join, resolve } from "node:path";
import { z } from "zod";
import {
  FileSystemError,
  InputError,
  fileSystemError,
  isSystemError,
  requireOptionsArgument,
  requireStringArgument,
} from "../errors.ts";
import { parseJsonDocument } from "./json-document.ts";
import { LOCK_NAME, acquireOutputLock, readLockOwner, type OutputLock } from "./output-lock.ts";
import { prepareOutputDirectory } from "./output-directory.ts";

/** The manifest of a complete output set, written last. */
export const MANIFEST_NAME = "manifest.json";
/** Prefix of staging directories (followed by the pid and a random suffix). */
export const STAGING_PREFIX = ".diffuse-scale-staging.";
/** The journal directory of a commit in progress. */
export const COMMIT_DIR = ".diffuse-scale-commit";
/** The journal inside {@link COMMIT_DIR}. */
const JOURNAL_NAME = "commit.json";

/**
 * Test-only: when this environment variable names a file of the set (e.g. `scaled.expt`), the commit stops forever
 * just before renaming that file into place (after the commit point), so a test can SIGKILL the process mid-commit;
 * `manifest.json` stops before the manifest, `commit` just before the commit point. Never set it in production.
 */
export const TEST_STALL_COMMIT_ENV = "DIFFUSE_SCALING_TEST_STALL_IN_COMMIT";

/** The files each command writes (files of a previous set of the same names are removed when a run does not write them). */
export const OUTPUT_SET_FILES: Readonly<Record<string, readonly string[]>> = {
  scale: ["scaled.refl", "scaled.expt", "merged_diffuse.h5", "refinement.json", "scales.json", "report.html"],
  simulate: ["stills.expt", "stills.refl", "diffuse_binned.h5", "truth.json"],
};

const manifestSchema = z.object({
  format: z.literal("diffuse-scaling output set"),
  format_version: z.literal(1),
  generator: z.string(),
  command: z.string(),
  command_line: z.string(),
  files: z.array(
    z.object({
      name: z.string().min(1),
      size: z.number().int().nonnegative(),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
    }),
  ),
});

/** The manifest document (`manifest.json`). */
export type OutputSetManifest = z.infer<typeof manifestSchema>;
/** One file of a manifest. */
export type OutputSetEntry = OutputSetManifest["files"][number];

const journalSchema = z.object({ files: z.array(z.string()), remove: z.array(z.string()) });

function stallForever(): Promise<never> {
  return new Promise<never>(() => {
    setInterval(() => undefined, 1 << 30);
  });
}

function stallPoint(name: string): boolean {
  return process.env[TEST_STALL_COMMIT_ENV] === name;
}

/** fsync of a file or directory (directories: so that renames in them are durable). */
function syncPath(path: string, given: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    fsyncSync(fd);
  } catch (e) {
    // some file systems refuse fsync on a directory (EINVAL/EISDIR): the renames are as durable as they can be
    if (!(isSystemError(e) && (e.code === "EINVAL" || e.code === "EISDIR"))) throw fileSystemError(e, given, "sync");
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Size and SHA-256 of a file. */
export async function digestFile(path: string): Promise<{ size: number; sha256: string }> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    const b = chunk as Buffer;
    size += b.length;
    hash.update(b);
  }
  return { size, sha256: hash.digest("hex") };
}

/** "name version" of this package (the `generator` of a manifest). */
export function packageGenerator(): string {
  const require = createRequire(import.meta.url);
  const pkg = require("../../package.json") as { name?: unknown; version?: unknown };
  return `${String(pkg.name)} ${String(pkg.version)}`;
}

/** Reads and validates `dir/manifest.json` (undefined when absent). */
export function readManifest(dir: string): OutputSetManifest | undefined {
  requireStringArgument(dir, "readManifest: dir");
  const path = join(dir, MANIFEST_NAME);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if (isSystemError(e) && e.code === "ENOENT") return undefined;
    throw fileSystemError(e, path, "read");
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new InputError(`not valid JSON: ${(e as Error).message}`, path);
  }
  return parseJsonDocument(manifestSchema, json, path);
}

function removeIfPresent(path: string): void {
  try {
    unlinkSync(path);
  } catch (e) {
    if (!(isSystemError(e) && e.code === "ENOENT")) throw fileSystemError(e, path, "remove the previous output");
  }
}

/**
 * Completes the commit journalled in `dir/.diffuse-scale-commit`, if any (idempotent: a commit cut short at any
 * point is finished by running this again).
 *
 * @returns whether a commit was completed
 */
export async function rollForwardCommit(dir: string): Promise<boolean> {
  const journalDir = join(dir, COMMIT_DIR);
  let text: string;
  try {
    text = readFileSync(join(journalDir, JOURNAL_NAME), "utf8");
  } catch (e) {
    if (isSystemError(e) && e.code === "ENOENT") {
      // no journal: either no commit, or a journal directory emptied by a finished commit
      rmSync(journalDir, { recursive: true, force: true });
      return false;
    }
    throw fileSystemError(e, join(journalDir, JOURNAL_NAME), "read the commit journal");
  }
  const journal = parseJsonDocument(journalSchema, JSON.parse(text) as unknown, join(journalDir, JOURNAL_NAME));
  removeIfPresent(join(dir, MANIFEST_NAME));
  syncPath(dir, dir);
  for (const name of journal.remove) removeIfPresent(join(dir, name));
  for (const name of journal.files) {
    if (name === MANIFEST_NAME) continue;
    const from = join(journalDir, name);
    if (stallPoint(name)) await stallForever();
    try {
      renameSync(from, join(dir, name));
    } catch (e) {
      if (!(isSystemError(e) && e.code === "ENOENT")) throw fileSystemError(e, join(dir, name), "move into place");
    }
  }
  syncPath(dir, dir);
  if (stallPoint(MANIFEST_NAME)) await stallForever();
  try {
    renameSync(join(journalDir, MANIFEST_NAME), join(dir, MANIFEST_NAME));
  } catch (e) {
    if (!(isSystemError(e) && e.code === "ENOENT"))
      throw fileSystemError(e, join(dir, MANIFEST_NAME), "move into place");
  }
  syncPath(dir, dir);
  rmSync(journalDir, { recursive: true, force: true });
  return true;
}

/** Removes staging directories of `dir` (all of them, or those of `pid` only). */
function removeStaging(dir: string, pid?: number): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(STAGING_PREFIX)) continue;
    if (pid !== undefined && !name.startsWith(`${STAGING_PREFIX}${pid}.`)) continue;
    rmSync(join(dir, name), { recursive: true, force: true });
  }
}

/**
 * Brings an output directory whose lock this process holds back to a complete set: finishes an interrupted commit
 * ({@link rollForwardCommit}) and removes staging directories left by killed runs.
 *
 * @returns whether an interrupted commit was completed
 */
export async function recoverOutputSet(dir: string): Promise<boolean> {
  const completed = await rollForwardCommit(dir);
  removeStaging(dir);
  return completed;
}

/** Options of {@link openOutputSet}. */
export interface OpenOutputSetOptions {
  /** How messages name the directory (e.g. "--out"). */
  what: string;
}

/** What to record when committing. */
export interface CommitInfo {
  /** The command that wrote the set (a key of {@link OUTPUT_SET_FILES}, e.g. "scale"). */
  command: string;
  /** The command line. */
  commandLine: string;
  /** The program and version. @defaultValue this package's name and version ({@link packageGenerator}) */
  generator?: string;
  /**
   * Files of the previous set kept unchanged in the new one (their manifest entries are carried over).
   * @defaultValue none
   */
  keep?: readonly string[];
}

/** An output set being written: files go to {@link OutputSetWriter.path}, then {@link OutputSetWriter.commit}. */
export interface OutputSetWriter {
  /** The output directory (absolute). */
  readonly dir: string;
  /** The staging directory (absolute). */
  readonly stagingDir: string;
  /** Where to write the file `name` of the new set. */
  path(name: string): string;
  /** Makes the staged files the output set (see the module description); releases the lock. */
  commit(info: CommitInfo): Promise<OutputSetManifest>;
  /** Discards the staged files and releases the lock (idempotent; a no-op after a commit). */
  abandon(): void;
  /**
   * The error to report for `error`, met while writing a staged file: an {@link InputError} about a staged path is
   * re-issued naming the file's final path in the output directory; anything else is returned unchanged.
   */
  finalPathError(error: unknown): unknown;
}

/**
 * Prepares output directory `dir` for a new set: checks it ({@link prepareOutputDirectory}), takes its lock,
 * completes or cleans up what an earlier killed run left, and creates the staging directory. Call before reading
 * any input, so that a bad `--out` or a concurrent run is refused at once.
 *
 * @throws {@link FileSystemError} (an {@link InputError}) naming the directory and what to do
 */
export async function openOutputSet(dir: string, options: OpenOutputSetOptions): Promise<OutputSetWriter> {
  const existed = existsSync(resolve(dir));
  const full = prepareOutputDirectory(dir, options.what);
  const lock: OutputLock = acquireOutputLock(full, dir);
  let stagingDir: string;
  try {
    await recoverOutputSet(full);
    stagingDir = mkdtempSync(join(full, `${STAGING_PREFIX}${process.pid}.`));
  } catch (e) {
    lock.release();
    throw fileSystemError(e, dir, "prepare the output directory");
  }
  let state: "open" | "committed" | "abandoned" = "open";
  return {
    dir: full,
    stagingDir,
    path: (name) => join(stagingDir, name),
    async commit(info) {
      if (state !== "open") throw new InputError(`output set already ${state}`, dir);
      const manifest = await commitStaged(full, stagingDir, info);
      state = "committed";
      lock.release();
      return manifest;
    },
    finalPathError(error) {
      if (!(error instanceof InputError) || error.file === undefined) return error;
      const file = error.file.startsWith(stagingDir) ? join(dir, error.file.slice(stagingDir.length + 1)) : undefined;
      if (file === undefined) return error;
      const detail = error.message.slice(error.file.length + 2);
      return new FileSystemError(detail, file, error instanceof FileSystemError ? error.code : undefined);
    },
    abandon() {
      if (state !== "open") return;
      state = "abandoned";
      rmSync(stagingDir, { recursive: true, force: true });
      lock.release();
      // a directory this run created and left empty goes too
      if (!existed) {
        try {
          rmdirSync(full);
        } catch {
          // not empty, or gone: left as it is
        }
      }
    },
  };
}

/** The commit of {@link OutputSetWriter.commit}. */
async function commitStaged(dir: string, stagingDir: string, info: CommitInfo): Promise<OutputSetManifest> {
  const previous = (() => {
    try {
      return readManifest(dir);
    } catch {
      return undefined;
    }
  })();
  const staged = readdirSync(stagingDir)
    .filter((n) => !n.startsWith("."))
    .sort();
  const files: OutputSetEntry[] = [];
  for (const name of staged) {
    const path = join(stagingDir, name);
    syncPath(path, join(dir, name));
    const { size, sha256 } = await digestFile(path);
    files.push({ name, size, sha256 });
  }
  for (const name of info.keep ?? []) {
    const entry = previous?.files.find((f) => f.name === name);
    if (entry === undefined || staged.includes(name)) continue;
    files.push(entry);
  }
  const order = OUTPUT_SET_FILES[info.command] ?? [];
  const rank = (n: string): number => (order.includes(n) ? order.indexOf(n) : order.length);
  files.sort((a, b) => rank(a.name) - rank(b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const manifest: OutputSetManifest = {
    format: "diffuse-scaling output set",
    format_version: 1,
    generator: info.generator ?? packageGenerator(),
    command: info.command,
    command_line: info.commandLine,
    files,
  };
  const names = new Set(files.map((f) => f.name));
  const candidates = new Set([...(previous?.files.map((f) => f.name) ?? []), ...order]);
  const remove = [...candidates].filter((n) => !names.has(n) && n !== MANIFEST_NAME && basename(n) === n);
  try {
    writeFileSync(join(stagingDir, MANIFEST_NAME), `${JSON.stringify(manifest, null, 2)}\n`);
    syncPath(join(stagingDir, MANIFEST_NAME), join(dir, MANIFEST_NAME));
    const journal = { files: [...staged, MANIFEST_NAME], remove };
    writeFileSync(join(stagingDir, JOURNAL_NAME), `${JSON.stringify(journal)}\n`);
    syncPath(join(stagingDir, JOURNAL_NAME), join(dir, COMMIT_DIR, JOURNAL_NAME));
    syncPath(stagingDir, dir);
  } catch (e) {
    throw fileSystemError(e, join(dir, MANIFEST_NAME), "write the manifest");
  }
  if (stallPoint("commit")) await stallForever();
  try {
    renameSync(stagingDir, join(dir, COMMIT_DIR));
  } catch (e) {
    throw fileSystemError(e, join(dir, COMMIT_DIR), "commit the output set");
  }
  syncPath(dir, dir);
  await rollForwardCommit(dir);
  return manifest;
}

/**
 * After an interrupted run of this process (its job thread stopped by SIGINT/SIGTERM): completes a commit that had
 * passed its commit point, removes this process's staging directories and releases the lock if this process holds it.
 * Safe to call when the run had not opened the directory.
 *
 * @param dir - the output directory
 * @returns "committed" when the new set had been committed (and is now complete), "kept" otherwise
 */
export async function finishInterruptedOutputSet(dir: string): Promise<"committed" | "kept"> {
  const owner = readLockOwner(dir);
  if (owner?.pid !== process.pid) return "kept";
  let result: "committed" | "kept" = "kept";
  const journalPresent = (() => {
    try {
      return statSync(join(dir, COMMIT_DIR, JOURNAL_NAME)).isFile();
    } catch {
      return false;
    }
  })();
  if (journalPresent) {
    await rollForwardCommit(dir);
    result = "committed";
  }
  removeStaging(dir, process.pid);
  removeIfPresent(join(dir, LOCK_NAME));
  return result;
}

/** Whether `dir` holds an output set (a manifest, or an unfinished commit). */
export function isOutputSet(dir: string): boolean {
  for (const name of [MANIFEST_NAME, COMMIT_DIR]) {
    try {
      statSync(join(dir, name));
      return true;
    } catch {
      // absent
    }
  }
  return false;
}

/** What {@link verifyOutputSet} found. */
export interface OutputSetStatus {
  /** Whether the directory holds a complete output set (manifest present, every file of it as recorded). */
  complete: boolean;
  /** One line per problem found (empty when complete). */
  problems: string[];
  /** The manifest, when present and valid. */
  manifest: OutputSetManifest | undefined;
}

/**
 * Checks that `dir` holds a complete output set: its manifest is present and valid, no commit is unfinished, every
 * file it lists has the recorded size (and, unless `digests: false`, SHA-256), and no file of the command's outputs
 * lies in the directory without being listed.
 *
 * @param dir - an output directory
 * @param options - `digests: false` compares sizes only (fast on huge files)
 * @returns the status; never throws for a missing or damaged set (that is what it reports)
 */
export async function verifyOutputSet(dir: string, options: { digests?: boolean } = {}): Promise<OutputSetStatus> {
  requireStringArgument(dir, "verifyOutputSet: dir");
  requireOptionsArgument(options, "verifyOutputSet: options");
  const problems: string[] = [];
  try {
    if (!statSync(dir).isDirectory())
      return { complete: false, problems: [`${dir}: not a directory`], manifest: undefined };
  } catch (e) {
    return { complete: false, problems: [fileSystemError(e, dir, "read the directory").message], manifest: undefined };
  }
  if (
    (() => {
      try {
        return statSync(join(dir, COMMIT_DIR)).isDirectory();
      } catch {
        return false;
      }
    })()
  ) {
    problems.push(
      `${dir}: a commit of a new output set was interrupted; the next diffuse-scale run (or 'diffuse-scale report') on this directory completes it`,
    );
  }
  let manifest: OutputSetManifest | undefined;
  try {
    manifest = readManifest(dir);
  } catch (e) {
    problems.push((e as Error).message);
  }
  if (manifest === undefined) {
    if (problems.length === 0) {
      problems.push(
        `${join(dir, MANIFEST_NAME)}: missing; the directory is not a complete output set (an interrupted run, or written by an older version)`,
      );
    }
    return { complete: false, problems, manifest: undefined };
  }
  const listed = new Set(manifest.files.map((f) => f.name));
  for (const f of manifest.files) {
    const path = join(dir, f.name);
    let size: number;
    try {
      size = statSync(path).size;
    } catch (e) {
      problems.push(fileSystemError(e, path, "read this file of the set").message);
      continue;
    }
    if (size !== f.size) {
      problems.push(
        `${path}: ${size} bytes, the manifest records ${f.size}; the set is not the one the manifest describes`,
      );
      continue;
    }
    if (options.digests !== false) {
      const d = await digestFile(path);
      if (d.sha256 !== f.sha256) problems.push(`${path}: content differs from the manifest (SHA-256)`);
    }
  }
  for (const name of OUTPUT_SET_FILES[manifest.command] ?? []) {
    if (listed.has(name)) continue;
    try {
      statSync(join(dir, name));
      problems.push(`${join(dir, name)}: not part of the output set (the manifest does not list it)`);
    } catch {
      // absent, as it should be
    }
  }
  return { complete: problems.length === 0, problems, manifest };
}
