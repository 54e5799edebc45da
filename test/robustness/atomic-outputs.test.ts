/**
 * Atomic outputs (issue 7): every output is written under a hidden temporary name in the same directory and renamed
 * into place, so a SIGKILL at any moment leaves each output either as it was before the run (byte for byte) or as a
 * complete new file, never partial, and no temporary file under a final name. Leftover temporary files
 * (`.<name>.<pid>.<random>.tmp`) are removed by the next run.
 *
 * The CLI is killed at two kinds of points: (1) stalled just before the rename of an output (the first, the HDF5
 * one, scales.json), with the
 * test-only hook `DIFFUSE_SCALING_TEST_STALL_BEFORE_RENAME=<output name>` (see `src/io/atomic-write.ts`), and (2) with
 * no hook, the moment a given output's temporary file appears (mid-write).
 */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { cpSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import { removeStaleTemporaryFiles, writeTextAtomic, TEST_STALL_ENV } from "../../src/io/atomic-write.ts";
import { readExperiments } from "../../src/io/expt.ts";
import { readMergedDiffuse } from "../../src/io/merged-diffuse.ts";
import { readReflections } from "../../src/io/refl-read.ts";
import { HAVE_TETRA, finished, runCli, startCli, tetraArgs } from "./cli-process.ts";

/** The outputs of `scale` with --diffuse (report.html only when the build writes one). */
const OUTPUTS = ["scaled.refl", "scaled.expt", "merged_diffuse.h5", "refinement.json", "scales.json", "report.html"];
const TMP_RE = /^\.(.+)\.(\d+)\.[0-9a-f-]+\.tmp$/;

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "atomic-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Checks that a file is a complete, readable output of its kind. */
async function expectComplete(path: string, name: string): Promise<void> {
  if (name.endsWith(".json")) expect(() => JSON.parse(readFileSync(path, "utf8")) as unknown, name).not.toThrow();
  else if (name.endsWith(".refl")) expect((await readReflections(path)).nrows).toBeGreaterThan(0);
  else if (name.endsWith(".expt")) expect((await readExperiments(path)).length).toBe(40);
  else if (name.endsWith(".h5")) expect((await readMergedDiffuse(path)).intensity.length).toBeGreaterThan(0);
  else if (name.endsWith(".html")) expect(readFileSync(path, "utf8").trimEnd()).toMatch(/<\/html>$/i);
}

function tempFiles(dir: string): string[] {
  return readdirSync(dir).filter((n) => TMP_RE.test(n));
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `dir` every 2 ms until a temporary file of `name` appears (then returns it) or the process ends. */
async function waitForTemp(
  dir: string,
  name: string,
  child: ChildProcess,
  limitMs: number,
): Promise<string | undefined> {
  const t0 = Date.now();
  const state = { exited: child.exitCode !== null };
  child.once("exit", () => {
    state.exited = true;
  });
  while (!state.exited && Date.now() - t0 < limitMs) {
    const hit = tempFiles(dir).find((n) => TMP_RE.exec(n)?.[1] === name);
    if (hit !== undefined) return hit;
    await sleep(2);
  }
  return undefined;
}

describe.skipIf(!HAVE_TETRA)("atomic outputs under SIGKILL (tetragonal-40)", () => {
  let previous: Map<string, Buffer>;
  let produced: string[];

  beforeAll(async () => {
    // The "previous outputs": a different run (one iteration, another seed) so old and new bytes differ.
    const base = join(root, "previous");
    mkdirSync(base);
    const r = await runCli(
      ["scale", ...tetraArgs(), "--out", "out", "--quiet", "--max-iterations", "1", "--seed", "7"],
      base,
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    produced = OUTPUTS.filter((n) => readdirSync(join(base, "out")).includes(n));
    previous = new Map(produced.map((n) => [n, readFileSync(join(base, "out", n))]));
    expect(produced.length).toBeGreaterThanOrEqual(5);
  }, 120_000);

  /** A fresh job directory holding a copy of the previous outputs. */
  function jobDir(tag: string): string {
    const d = join(root, tag);
    mkdirSync(d);
    cpSync(join(root, "previous", "out"), join(d, "out"), { recursive: true });
    return d;
  }

  /** Every output is the previous one byte for byte, or a complete new one; returns which were replaced. */
  async function checkOutputs(out: string): Promise<string[]> {
    const replaced: string[] = [];
    for (const name of produced) {
      const now = readFileSync(join(out, name));
      if (now.equals(previous.get(name) ?? Buffer.alloc(0))) continue;
      replaced.push(name);
      await expectComplete(join(out, name), name);
    }
    return replaced;
  }

  it("killed just before each rename: that output and later ones are the previous bytes, a hidden temp remains", async () => {
    // The first output, the HDF5 one (its own atomic writer) and scales.json (written after most others); the
    // other outputs share writeFileAtomic with these, and each spawned job costs seconds on a 2-core CI machine.
    const stallTargets = produced.filter((n) => ["scaled.refl", "merged_diffuse.h5", "scales.json"].includes(n));
    const jobs = stallTargets.map(async (name) => {
      const d = jobDir(`stall-${name}`);
      const out = join(d, "out");
      const child = startCli(["scale", ...tetraArgs(), "--out", "out", "--quiet"], d, { [TEST_STALL_ENV]: name });
      const done = finished(child);
      const tmp = await waitForTemp(out, name, child, 90_000);
      expect(tmp, `temp file of ${name}`).toBeDefined();
      // The hook stalls after the temp file is complete and synced; wait until its size is stable, then kill.
      let size = -1;
      for (;;) {
        await sleep(150);
        const s = statSync(join(out, tmp ?? "")).size;
        if (s === size) break;
        size = s;
      }
      child.kill("SIGKILL");
      const r = await done;
      expect(r.signal).toBe("SIGKILL");
      // The stalled output was not replaced; the temp file lies beside it under its hidden name.
      expect(readFileSync(join(out, name)).equals(previous.get(name) ?? Buffer.alloc(0)), name).toBe(true);
      const replaced = await checkOutputs(out);
      expect(replaced).not.toContain(name);
      expect(tempFiles(out).map((n) => TMP_RE.exec(n)?.[1])).toEqual([name]);
      return { name, replaced, d };
    });
    const results = await Promise.all(jobs);
    // Outputs are written one after another: the earlier ones were replaced before the stall.
    const first = results.find((r) => r.name === "scaled.refl");
    expect(first?.replaced).toEqual([]);
    const last = results.find((r) => r.name === "scales.json");
    expect(last?.replaced.length).toBeGreaterThanOrEqual(3);

    // The next run in a killed directory removes the dead process's temp file and replaces every output.
    const again = results[0].d;
    const r = await runCli(["scale", ...tetraArgs(), "--out", "out", "--quiet"], again);
    expect(r.code).toBe(0);
    expect(tempFiles(join(again, "out"))).toEqual([]);
    expect((await checkOutputs(join(again, "out"))).sort()).toEqual([...produced].sort());
  }, 240_000);

  it("killed mid-write (the moment a temp file appears): no partial file under any final name", async () => {
    const targets = produced.filter((n) => n === "scaled.refl" || n === "merged_diffuse.h5");
    const jobs = targets.map(async (name) => {
      const d = jobDir(`mid-${name}`);
      const out = join(d, "out");
      const child = startCli(["scale", ...tetraArgs(), "--out", "out", "--quiet"], d);
      const done = finished(child);
      const tmp = await waitForTemp(out, name, child, 90_000);
      child.kill("SIGKILL");
      const r = await done;
      // Either the kill landed (the usual case) or the job had already finished.
      expect(r.signal === "SIGKILL" || r.code === 0).toBe(true);
      expect(tmp === undefined && r.signal === "SIGKILL").toBe(false);
      await checkOutputs(out);
      for (const t of tempFiles(out)) expect(produced).toContain(TMP_RE.exec(t)?.[1]);
      return r.signal;
    });
    const signals = await Promise.all(jobs);
    expect(signals.filter((s) => s === "SIGKILL").length).toBeGreaterThanOrEqual(1);
  }, 240_000);
});

describe("temporary files", () => {
  it("a failed write leaves the previous file and no temp; stale temps of dead processes are removed, live ones kept", async () => {
    const d = join(root, "unit");
    mkdirSync(d);
    const p = join(d, "a.json");
    writeFileSync(p, "old\n");
    await expect(
      (async () => {
        const { writeFileAtomic } = await import("../../src/io/atomic-write.ts");
        await writeFileAtomic(p, async (fh) => {
          await fh.writeFile("partial");
          throw new Error("disk on fire");
        });
      })(),
    ).rejects.toThrow("disk on fire");
    expect(readFileSync(p, "utf8")).toBe("old\n");
    expect(tempFiles(d)).toEqual([]);
    // a dead pid (beyond pid_max on Linux) and this live process
    writeFileSync(join(d, ".a.json.99999999.abcdef012345.tmp"), "x");
    writeFileSync(join(d, `.a.json.${process.pid}.0123456789ab.tmp`), "y");
    writeFileSync(join(d, ".other.json.99999999.abcdef012345.tmp"), "z");
    expect(await removeStaleTemporaryFiles(p)).toBe(1);
    expect(tempFiles(d).sort()).toEqual([
      `.a.json.${process.pid}.0123456789ab.tmp`,
      ".other.json.99999999.abcdef012345.tmp",
    ]);
    await writeTextAtomic(p, "new\n");
    expect(readFileSync(p, "utf8")).toBe("new\n");
  });
});
