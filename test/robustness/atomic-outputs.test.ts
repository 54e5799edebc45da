/**
 * The output set under SIGKILL, SIGINT, SIGTERM, a concurrent run and a full disk: after any of them `--out` holds the
 * complete previous set (byte for byte, `verifyOutputSet` complete) or the complete new set, never a mix. The CLI is
 * spawned on tetragonal-40 and stopped at chosen points with the test-only hooks
 * `DIFFUSE_SCALING_TEST_STALL_BEFORE_RENAME=<file>` (a staged file complete, before its rename in the staging
 * directory) and `DIFFUSE_SCALING_TEST_STALL_IN_COMMIT=<file>|commit` (in the commit), or the moment a staged
 * temporary file appears (mid-write); `report.html` is written by the job's background report worker.
 */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import { TEST_STALL_ENV } from "../../src/io/atomic-write.ts";
import {
  COMMIT_DIR,
  MANIFEST_NAME,
  STAGING_PREFIX,
  TEST_STALL_COMMIT_ENV,
  verifyOutputSet,
} from "../../src/io/output-set.ts";
import { LOCK_NAME } from "../../src/io/output-lock.ts";
import { HAVE_TETRA, finished, runCli, startCli, tetraArgs } from "./cli-process.ts";

const TMP_RE = /^\.(.+)\.(\d+)\.[0-9a-f-]+\.tmp$/;

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "atomic-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls every 5 ms until `found()` gives a value (then returns it) or the process ends or the time is up. */
async function waitFor<T>(found: () => T | undefined, child: ChildProcess, limitMs: number): Promise<T | undefined> {
  const t0 = Date.now();
  const state = { exited: child.exitCode !== null };
  child.once("exit", () => {
    state.exited = true;
  });
  while (!state.exited && Date.now() - t0 < limitMs) {
    const hit = found();
    if (hit !== undefined) return hit;
    await sleep(5);
  }
  return undefined;
}

/** The staged temporary file of output `name` in `out`'s staging directory, as a path, if there is one. */
function stagedTemp(out: string, name: string): string | undefined {
  for (const s of readdirSync(out).filter((n) => n.startsWith(STAGING_PREFIX))) {
    try {
      const t = readdirSync(join(out, s)).find((n) => TMP_RE.exec(n)?.[1] === name);
      if (t !== undefined) return join(out, s, t);
    } catch {
      // the staging directory went meanwhile
    }
  }
  return undefined;
}

describe.skipIf(!HAVE_TETRA)(
  "the output set under SIGKILL, signals, a concurrent run, a full disk (tetragonal-40)",
  () => {
    let previous: Map<string, Buffer>;

    beforeAll(async () => {
      // The previous set: another run (one iteration, another seed) so that old and new bytes differ.
      const base = join(root, "previous");
      mkdirSync(base);
      const r = await runCli(
        ["scale", ...tetraArgs(), "--out", "out", "--quiet", "--max-iterations", "1", "--seed", "7"],
        base,
      );
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const names = readdirSync(join(base, "out"));
      expect(names).toContain(MANIFEST_NAME);
      previous = new Map(names.map((n) => [n, readFileSync(join(base, "out", n))]));
    }, 120_000);

    /** A fresh job directory holding a copy of the previous set in `out`. */
    function jobDir(tag: string): string {
      const d = join(root, tag);
      mkdirSync(d);
      cpSync(join(root, "previous", "out"), join(d, "out"), { recursive: true });
      return d;
    }

    /** `out` holds the previous set, byte for byte; hidden leftovers of a killed run are allowed when `leftovers`. */
    async function expectPrevious(out: string, leftovers = false): Promise<void> {
      const names = readdirSync(out).filter((n) => (leftovers ? !n.startsWith(".") : true));
      expect(names.sort()).toEqual([...previous.keys()].sort());
      for (const [name, bytes] of previous) expect(readFileSync(join(out, name)).equals(bytes), name).toBe(true);
      expect(await verifyOutputSet(out)).toMatchObject({ complete: true, problems: [] });
    }

    /** `out` holds a complete new set (its scales differ from the previous ones) and nothing else. */
    async function expectNew(out: string): Promise<void> {
      expect(await verifyOutputSet(out)).toMatchObject({ complete: true, problems: [] });
      expect(readFileSync(join(out, "scales.json")).equals(previous.get("scales.json") ?? Buffer.alloc(0))).toBe(false);
      expect(readdirSync(out).filter((n) => n.startsWith("."))).toEqual([]);
    }

    it("SIGKILL before the commit point (a staged file complete, mid-write, or just before the commit): the previous set whole", async () => {
      const points: [string, Record<string, string>, string][] = [
        ["staged-refl", { [TEST_STALL_ENV]: "scaled.refl" }, "scaled.refl"],
        ["mid-write", {}, "merged_diffuse.h5"],
        ["before-commit", { [TEST_STALL_COMMIT_ENV]: "commit" }, ""],
      ];
      const jobs = points.map(async ([tag, env, name]) => {
        const d = jobDir(tag);
        const out = join(d, "out");
        const child = startCli(["scale", ...tetraArgs(), "--out", "out", "--quiet"], d, env);
        const done = finished(child);
        const seen =
          name === ""
            ? await waitFor(
                () =>
                  readdirSync(out).some((n) => n.startsWith(STAGING_PREFIX)) &&
                  existsSync(join(out, readdirSync(out).find((n) => n.startsWith(STAGING_PREFIX)) ?? "", MANIFEST_NAME))
                    ? true
                    : undefined,
                child,
                90_000,
              )
            : await waitFor(() => stagedTemp(out, name), child, 90_000);
        if (seen === undefined && tag === "mid-write") {
          // the write was quicker than the polling: the run ended, with the new set
          expect((await done).code).toBe(0);
          await expectNew(out);
          return d;
        }
        expect(seen, `${tag}: stop point reached`).toBeDefined();
        if (Object.keys(env).length > 0) await sleep(300);
        child.kill("SIGKILL");
        const r = await done;
        expect(r.signal).toBe("SIGKILL");
        await expectPrevious(out, true);
        return d;
      });
      const dirs = await Promise.all(jobs);
      // the next run into a killed directory removes the leftovers (staging, lock) and writes the new set
      const again = join(dirs[0], "out");
      expect(readdirSync(again).filter((n) => n.startsWith("."))).toContain(LOCK_NAME);
      const r = await runCli(["scale", ...tetraArgs(), "--out", "out", "--quiet"], dirs[0]);
      expect(r.code).toBe(0);
      await expectNew(again);
    }, 240_000);

    it("SIGKILL after the commit point: the set reads as incomplete until the next command completes it (the new set)", async () => {
      const d = jobDir("in-commit");
      const out = join(d, "out");
      const child = startCli(["scale", ...tetraArgs(), "--out", "out", "--quiet"], d, {
        [TEST_STALL_COMMIT_ENV]: "scaled.expt",
      });
      const done = finished(child);
      expect(await waitFor(() => (existsSync(join(out, COMMIT_DIR)) ? true : undefined), child, 90_000)).toBe(true);
      await sleep(300);
      child.kill("SIGKILL");
      expect((await done).signal).toBe("SIGKILL");
      // scaled.refl is already the new one, the manifest is gone: never taken for a complete set
      expect(existsSync(join(out, MANIFEST_NAME))).toBe(false);
      const v = await verifyOutputSet(out);
      expect(v.complete).toBe(false);
      expect(v.problems[0]).toMatch(/a commit of a new output set was interrupted/);
      // `report` on the directory completes the commit first, then rebuilds the page within the set
      const t0 = Date.now();
      const r = await runCli(["report", "out", "--quiet"], d);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(Date.now() - t0).toBeLessThan(60_000);
      await expectNew(out);
    }, 180_000);

    it("SIGINT and SIGTERM: one line, exit 130/143 within seconds, the previous set whole, nothing left behind", async () => {
      const jobs = (["SIGINT", "SIGTERM"] as const).map(async (signal) => {
        const d = jobDir(signal);
        const out = join(d, "out");
        const child = startCli(["scale", ...tetraArgs(), "--out", "out", "--quiet"], d);
        const done = finished(child);
        expect(await waitFor(() => (existsSync(join(out, LOCK_NAME)) ? true : undefined), child, 90_000)).toBe(true);
        await sleep(1500); // into reading/refinement (synchronous work on the job thread)
        const t0 = Date.now();
        child.kill(signal);
        const r = await done;
        expect(Date.now() - t0).toBeLessThan(10_000);
        expect(r.code).toBe(signal === "SIGINT" ? 130 : 143);
        expect(r.stderr).toBe("diffuse-scale: interrupted; previous outputs kept\n");
        await expectPrevious(out);
      });
      await Promise.all(jobs);
    }, 180_000);

    it("SIGINT, SIGTERM and SIGKILL while the report worker holds report.html staged: the process ends at once, the previous set whole", async () => {
      const jobs = (["SIGINT", "SIGTERM", "SIGKILL"] as const).map(async (signal) => {
        const d = jobDir(`report-${signal}`);
        const out = join(d, "out");
        // the report worker stalls with report.html complete in the staging directory, before its rename (Bragg only:
        // the quickest way there, three runs at once)
        const child = startCli(["scale", ...tetraArgs().slice(0, 4), "--out", "out", "--quiet"], d, {
          [TEST_STALL_ENV]: "report.html",
        });
        const done = finished(child);
        expect(await waitFor(() => stagedTemp(out, "report.html"), child, 150_000)).toBeDefined();
        await sleep(300);
        const t0 = Date.now();
        child.kill(signal);
        const r = await done;
        expect(Date.now() - t0).toBeLessThan(10_000);
        if (signal === "SIGKILL") {
          expect(r.signal).toBe("SIGKILL");
          await expectPrevious(out, true);
        } else {
          expect(r.code).toBe(signal === "SIGINT" ? 130 : 143);
          expect(r.stderr).toBe("diffuse-scale: interrupted; previous outputs kept\n");
          // nothing left behind: no staging directory (with the worker's temporary file), no lock
          await expectPrevious(out);
        }
      });
      await Promise.all(jobs);
    }, 240_000);

    it("a second run into the same --out is refused naming the first's pid; a Bragg-only run then drops merged_diffuse.h5", async () => {
      const d = jobDir("concurrent");
      const out = join(d, "out");
      const first = startCli(["scale", ...tetraArgs(), "--out", "out", "--quiet"], d);
      const firstDone = finished(first);
      expect(await waitFor(() => (existsSync(join(out, LOCK_NAME)) ? true : undefined), first, 90_000)).toBe(true);
      const second = await runCli(["scale", ...tetraArgs(), "--out", "out", "--quiet"], d);
      expect(second.code).toBe(2);
      expect(second.stderr).toMatch(
        new RegExp(
          `^diffuse-scale: .*out: another diffuse-scale process \\(pid ${first.pid}\\) is writing into this directory; .*\\n$`,
        ),
      );
      expect((await firstDone).code).toBe(0);
      await expectNew(out);
      const bragg = await runCli(["scale", ...tetraArgs().slice(0, 4), "--out", "out", "--quiet"], d);
      expect(bragg.code).toBe(0);
      expect(readdirSync(out)).not.toContain("merged_diffuse.h5");
      expect((await verifyOutputSet(out)).manifest?.files.map((f) => f.name)).not.toContain("merged_diffuse.h5");
    }, 180_000);

    it("a disk that fills up mid-set: exit 2 naming the file and ENOSPC, the previous set whole (as root: a small tmpfs)", async () => {
      const d = join(root, "full");
      mkdirSync(d);
      const setBytes = [...previous.values()].reduce((n, b) => n + b.length, 0);
      try {
        // room for the previous set and part of a new one
        execFileSync("mount", ["-t", "tmpfs", "-o", `size=${Math.ceil((setBytes * 1.5) / 4096) * 4096}`, "tmpfs", d], {
          stdio: "ignore",
        });
      } catch {
        return; // not root: the mapping of ENOSPC is covered in output-set.test.ts
      }
      try {
        cpSync(join(root, "previous", "out"), join(d, "out"), { recursive: true });
        const r = await runCli(["scale", ...tetraArgs(), "--out", "out", "--quiet"], d);
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(
          /^diffuse-scale: \S*out\/[a-z_.]+: cannot [a-z ]+: no space left on the device; .*\(ENOSPC\)\n$/,
        );
        await expectPrevious(join(d, "out"));
        expect(statSync(join(d, "out")).isDirectory()).toBe(true);
      } finally {
        execFileSync("umount", [d]);
      }
    }, 120_000);
  },
);
