/**
 * The output directory and the output set, in-process: the checks of `--out` before any input is read (exit 2 within
 * a second, one line naming the path), the one mapping of OS errors, the directory lock (refused while its process
 * runs, taken over when it has ended), and the set itself (manifest written last, files of the previous set that the
 * new one lacks removed, an abandoned set leaving the previous one, `verifyOutputSet` finding every damage).
 */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileSystemError, InputError, fileSystemError } from "../../src/errors.ts";
import { ColumnFile } from "../../src/runtime/column-file.ts";
import { errorLine, exitCodeFor } from "../../src/cli/errors.ts";
import { prepareOutputDirectory, prepareOutputFile } from "../../src/io/output-directory.ts";
import { LOCK_NAME, acquireOutputLock, currentOwner } from "../../src/io/output-lock.ts";
import { MANIFEST_NAME, openOutputSet, readManifest, verifyOutputSet } from "../../src/io/output-set.ts";
import { runMain } from "./cli-in-process.ts";
import { HAVE_TETRA, tetraArgs } from "./cli-process.ts";

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "output-set-"));
  writeFileSync(join(root, "a-file"), "x");
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A read-only file system (a tmpfs mounted read-only: needs root), or undefined. */
function readOnlyMount(): string | undefined {
  const dir = join(root, "ro");
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", dir], { stdio: "ignore" });
    return dir;
  } catch {
    return undefined;
  }
}

describe("output directory checks", () => {
  const long = "n".repeat(300);
  const cases: [string, () => string, RegExp][] = [
    ["/proc/x (cannot be created)", () => "/proc/x", /^\/proc\/x: cannot create the directory: .*\(ENOENT\)$/],
    ["an existing file", () => join(root, "a-file"), /a-file: exists and is not a directory; choose another path/],
    ["a path under a file", () => join(root, "a-file", "sub"), /a-file\/sub: .*a-file is not a directory/],
    ["a name too long", () => join(root, long), /a name in the path is 300 bytes long, the limit is 255/],
    ["a path too long", () => join(root, ...Array<string>(40).fill("d".repeat(120))), /the path is \d+ bytes long/],
    ["/dev/null", () => "/dev/null", /^\/dev\/null: exists and is not a directory/],
  ];
  for (const [what, dir, message] of cases) {
    it(`refuses ${what} at once`, () => {
      const t0 = performance.now();
      let error: unknown;
      try {
        prepareOutputDirectory(dir(), "--out");
      } catch (e) {
        error = e;
      }
      expect(performance.now() - t0).toBeLessThan(1000);
      expect(error).toBeInstanceOf(FileSystemError);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toContain("\n");
    });
  }

  it("refuses an empty path, and a read-only file system (as root)", () => {
    expect(() => prepareOutputDirectory("", "--out")).toThrow("--out must be a non-empty path");
    const ro = readOnlyMount();
    if (ro === undefined) return;
    try {
      expect(() => prepareOutputDirectory(ro, "--out")).toThrow(
        `${ro}: cannot create a file in the directory: read-only file system; choose a directory on a writable file system (EROFS)`,
      );
      expect(() => prepareOutputDirectory(join(ro, "out"), "--out")).toThrow(
        /out: cannot create the directory: .*EROFS/,
      );
    } finally {
      execFileSync("umount", [ro]);
    }
  });

  it("creates missing levels, checks a single output file, and a scratch directory must exist", () => {
    const d = join(root, "x", "y", "z");
    expect(prepareOutputDirectory(d, "--out")).toBe(d);
    expect(readdirSync(d)).toEqual([]);
    expect(() => prepareOutputFile(d, "--out")).toThrow(`${d}: is a directory; give the path of a file (EISDIR)`);
    expect(prepareOutputFile(join(d, "b.h5"), "--out")).toBe(join(d, "b.h5"));
    expect(() => prepareOutputDirectory(join(root, "nope"), "--scratch-dir", { create: false })).toThrow(
      /nope: does not exist/,
    );
  });

  it("maps every OS error to one line naming the path and what to do", () => {
    const sys = (code: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: raw`), { code });
    expect(fileSystemError(sys("ENOSPC"), "/o/a.h5", "write").message).toBe(
      "/o/a.h5: cannot write: no space left on the device; free some space or choose a directory on another disk (ENOSPC)",
    );
    for (const code of ["EACCES", "EROFS", "ENAMETOOLONG", "EISDIR", "ENOTDIR", "EEXIST", "EDQUOT", "EIO", "EXYZ"]) {
      const e = fileSystemError(sys(code), "/o/x", "write");
      expect(e).toBeInstanceOf(FileSystemError);
      expect(e.message).toMatch(new RegExp(`^/o/x: cannot write: .*${code === "EXYZ" ? "" : `\\(${code}\\)`}$`));
    }
    // one that reached the CLI unmapped: exit 2 and the same line, never "internal error"
    const raw = Object.assign(new Error("EACCES: permission denied, open '/o/y'"), {
      code: "EACCES",
      syscall: "open",
      path: "/o/y",
    });
    expect(exitCodeFor(raw)).toBe(2);
    expect(errorLine(raw)).toBe(
      "diffuse-scale: /o/y: cannot open: permission denied; choose a directory you may write to, or change its permissions (EACCES)",
    );
    const already = new InputError("bad", "/f");
    expect(fileSystemError(already, "/o", "write")).toBe(already);
  });
});

describe.skipIf(!HAVE_TETRA)("scale: a bad --out is refused before any input is read", () => {
  it("exit 2 within a second, one line naming the path", async () => {
    // the first call loads the job's modules (vitest transforms them): not part of the check's time
    await runMain("scale", ...tetraArgs(), "--out", "/dev/null", "--quiet");
    for (const out of [join(root, "a-file"), join(root, "a-file", "sub"), join(root, "n".repeat(256)), "/proc/x"]) {
      const t0 = performance.now();
      const r = await runMain("scale", ...tetraArgs(), "--out", out, "--quiet");
      expect(performance.now() - t0).toBeLessThan(1000);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/^diffuse-scale: .+: (cannot|exists|a name|.+ is not a directory).*\n$/);
      expect(r.err).not.toContain("internal error");
    }
    const r = await runMain("scale", ...tetraArgs(), "--out", join(root, "ok"), "--scratch-dir", join(root, "a-file"));
    expect(r.code).toBe(2);
    expect(r.err).toContain("a-file: exists and is not a directory");
  });
});

describe("voxelize and simulate outputs", () => {
  it("voxelize --out DIR and simulate --out FILE: exit 2 at once naming the path, never an internal error", async () => {
    const dir = join(root, "vox-dir");
    mkdirSync(dir, { recursive: true });
    const v = await runMain(
      "voxelize",
      "--expt",
      "no.expt",
      "--pixels",
      "x.npz",
      "--ndiv",
      "2",
      "--dmin",
      "2",
      "--out",
      dir,
    );
    expect(v.code).toBe(2);
    expect(v.err).toBe(`diffuse-scale: ${dir}: is a directory; give the path of a file (EISDIR)\n`);
    const s = await runMain(
      "simulate",
      "--stills",
      "2",
      "--observations-per-still",
      "10",
      "--quiet",
      "--out",
      join(root, "a-file"),
    );
    expect(s.code).toBe(2);
    expect(s.err).toBe(
      `diffuse-scale: ${join(root, "a-file")}: exists and is not a directory; choose another path (ENOTDIR)\n`,
    );
  });

  it("simulate writes its four files as one set with a manifest", async () => {
    const out = join(root, "sim");
    const r = await runMain("simulate", "--stills", "2", "--observations-per-still", "50", "--quiet", "--out", out);
    expect(r.code).toBe(0);
    const v = await verifyOutputSet(out);
    expect(v.complete).toBe(true);
    expect(v.manifest?.command).toBe("simulate");
    expect(v.manifest?.files.map((f) => f.name)).toEqual([
      "stills.expt",
      "stills.refl",
      "diffuse_binned.h5",
      "truth.json",
    ]);
    expect(readdirSync(out).sort()).toEqual([
      "diffuse_binned.h5",
      MANIFEST_NAME,
      "stills.expt",
      "stills.refl",
      "truth.json",
    ]);
  });
});

describe("scratch files", () => {
  it("a full --scratch-dir is one line naming the scratch file and ENOSPC (as root: a small tmpfs)", () => {
    const dir = join(root, "scratch-full");
    mkdirSync(dir);
    try {
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir], { stdio: "ignore" });
    } catch {
      return; // not root
    }
    try {
      // the sparse file is created at any size; writing its blocks fills the disk
      const file = ColumnFile.create(dir, { a: 8 }, 100_000);
      try {
        expect(() => {
          file.write("a", 0, new Float64Array(100_000));
        }).toThrow(
          /columns\.bin: cannot write the scratch file \(--scratch-dir\): no space left on the device; .*\(ENOSPC\)$/,
        );
      } finally {
        file.remove();
      }
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      execFileSync("umount", [dir]);
    }
    expect(() => ColumnFile.create(join(root, "a-file"), { a: 8 }, 10)).toThrow(
      /a-file: cannot create a scratch directory \(--scratch-dir\): a part of the path is not a directory; .*\(ENOTDIR\)$/,
    );
  });
});

describe("directory lock", () => {
  it("refuses a second holder naming the pid, takes over the lock of an ended process", () => {
    const d = join(root, "lock");
    mkdirSync(d);
    const lock = acquireOutputLock(d);
    expect(() => acquireOutputLock(d)).toThrow(`another diffuse-scale process (pid ${process.pid})`);
    lock.release();
    // an ended process (a pid beyond pid_max), and this pid with another start time (a reused pid)
    for (const stale of [
      { ...currentOwner(), pid: 99999999 },
      { ...currentOwner(), start: currentOwner().start + 1 },
    ]) {
      writeFileSync(join(d, LOCK_NAME), JSON.stringify(stale));
      const taken = acquireOutputLock(d);
      expect(JSON.parse(readFileSync(join(d, LOCK_NAME), "utf8"))).toEqual(currentOwner());
      taken.release();
    }
    expect(readdirSync(d)).toEqual([]);
  });
});

describe("output set", () => {
  async function writeSet(dir: string, files: Record<string, string>): Promise<void> {
    const set = await openOutputSet(dir, { what: "--out" });
    try {
      for (const [name, text] of Object.entries(files)) writeFileSync(set.path(name), text);
      await set.commit({ command: "scale", commandLine: "test" });
    } finally {
      set.abandon();
    }
  }

  it("commits with the manifest last, removes the previous set's files the new one lacks, verifies", async () => {
    const d = join(root, "set");
    await writeSet(d, { "scaled.refl": "r1", "merged_diffuse.h5": "m1", "scales.json": "s1" });
    expect((await verifyOutputSet(d)).complete).toBe(true);
    expect(readManifest(d)?.files.map((f) => f.name)).toEqual(["scaled.refl", "merged_diffuse.h5", "scales.json"]);
    // a Bragg-only set into a joint run's directory: merged_diffuse.h5 goes in the same commit
    await writeSet(d, { "scaled.refl": "r2", "scales.json": "s2" });
    expect(readdirSync(d).sort()).toEqual([MANIFEST_NAME, "scaled.refl", "scales.json"]);
    expect(readFileSync(join(d, "scaled.refl"), "utf8")).toBe("r2");
    const ok = await verifyOutputSet(d);
    expect(ok).toMatchObject({ complete: true, problems: [] });
    expect(ok.manifest?.files[0]).toMatchObject({ name: "scaled.refl", size: 2 });

    // a failure before the commit leaves the previous set and nothing else
    const set = await openOutputSet(d, { what: "--out" });
    writeFileSync(set.path("scaled.refl"), "r3");
    set.abandon();
    expect(readdirSync(d).sort()).toEqual([MANIFEST_NAME, "scaled.refl", "scales.json"]);
    expect((await verifyOutputSet(d)).complete).toBe(true);

    // damage is found: content, size, a stray output, a missing file, no manifest
    writeFileSync(join(d, "scaled.refl"), "R2");
    writeFileSync(join(d, "merged_diffuse.h5"), "old");
    let v = await verifyOutputSet(d);
    expect(v.complete).toBe(false);
    expect(v.problems.join("\n")).toMatch(/scaled\.refl: content differs from the manifest/);
    expect(v.problems.join("\n")).toMatch(/merged_diffuse\.h5: not part of the output set/);
    writeFileSync(join(d, "scales.json"), "longer");
    await rm(join(d, "merged_diffuse.h5"));
    v = await verifyOutputSet(d);
    expect(v.problems.join("\n")).toMatch(/scales\.json: 6 bytes, the manifest records 2/);
    await rm(join(d, MANIFEST_NAME));
    v = await verifyOutputSet(d);
    expect(v.problems).toEqual([
      `${join(d, MANIFEST_NAME)}: missing; the directory is not a complete output set (an interrupted run, or written by an older version)`,
    ]);
  });

  it("a second writer of the same directory is refused while the first holds it", async () => {
    const d = join(root, "busy");
    const first = await openOutputSet(d, { what: "--out" });
    await expect(openOutputSet(d, { what: "--out" })).rejects.toThrow(`(pid ${process.pid})`);
    first.abandon();
    const second = await openOutputSet(d, { what: "--out" });
    second.abandon();
    // a directory the run created and left empty goes with it
    expect(existsSync(d)).toBe(false);
  });
});
