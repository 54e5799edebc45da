/**
 * Determinism (issue 7): the same inputs and options give byte-identical outputs across runs (and thread counts,
 * once `--threads` exists). Two CLI processes scale tetragonal-40 in separate working directories with the same
 * relative `--out`, and every output is compared byte for byte, except the wall-clock fields, which are removed
 * first: `timings` in scales.json, `history[].seconds` in refinement.json, and in report.html the generation time
 * and the timing cells (with the thread count); and `--threads N` in the recorded command lines (and in manifest.json,
 * the sizes and digests of those three files). The HDF5 output is compared whole: its object-header timestamps are fixed
 * (`SOURCE_DATE_EPOCH` or 0, see `writeH5Atomic`).
 */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdirSync, readFileSync, readdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HAVE_TETRA, runCli, tetraArgs } from "./cli-process.ts";

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "determinism-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** The bytes compared for one output: the file, minus its documented wall-clock fields. */
function comparable(name: string, bytes: Buffer): string | Buffer {
  if (name === "scales.json") {
    const doc = JSON.parse(bytes.toString("utf8")) as Record<string, unknown>;
    expect(doc.timings).toBeTypeOf("object");
    delete doc.timings;
    return JSON.stringify(doc);
  }
  if (name === "refinement.json") {
    const doc = JSON.parse(bytes.toString("utf8")) as { history: { seconds?: number }[]; command_line?: string };
    for (const h of doc.history) delete h.seconds;
    // `--threads N` differs between the runs by design when that option exists
    if (typeof doc.command_line === "string") doc.command_line = doc.command_line.replace(/ --threads \d+/, "");
    return JSON.stringify(doc);
  }
  if (name === "report.html") {
    return (
      bytes
        .toString("utf8")
        .replace(/generated \d{4}-\d\d-\d\dT[\d:.]+Z/g, "generated <time>")
        .replace(/>\s*\d+(?:\.\d+)?\s*s\s*</g, "><seconds><")
        // the thread count is part of the timings block (scales.json timings.threads), not of the results
        .replace(/(Threads\s*<\/th>\s*<td>)\s*\d+/g, "$1<threads>")
        .replace(/ --threads \d+/g, "")
    );
  }
  if (name === "manifest.json") {
    // sizes and digests of the files holding wall-clock fields differ with them; the rest must be equal
    const doc = JSON.parse(bytes.toString("utf8")) as {
      command_line: string;
      files: { name: string; size?: number; sha256?: string }[];
    };
    doc.command_line = doc.command_line.replace(/ --threads \d+/, "");
    for (const f of doc.files) {
      if (["scales.json", "refinement.json", "report.html"].includes(f.name)) {
        delete f.size;
        delete f.sha256;
      }
    }
    return JSON.stringify(doc);
  }
  return bytes;
}

describe.skipIf(!HAVE_TETRA)("determinism (tetragonal-40, Bragg + diffuse)", () => {
  it("two runs give byte-identical outputs (wall-clock fields excluded)", async () => {
    const help = await runCli(["scale", "--help"], root);
    expect(help.code).toBe(0);
    const threads = help.stdout.includes("--threads");
    const dirs = ["run1", "run2"].map((d) => join(root, d));
    for (const d of dirs) mkdirSync(d);
    const runs = await Promise.all(
      dirs.map((d, i) =>
        runCli(
          ["scale", ...tetraArgs(), "--out", "scaled", "--quiet", ...(threads ? ["--threads", String(i + 1)] : [])],
          d,
        ),
      ),
    );
    for (const r of runs) {
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
    }
    const names = readdirSync(join(dirs[0], "scaled")).sort();
    expect(readdirSync(join(dirs[1], "scaled")).sort()).toEqual(names);
    for (const n of ["scales.json", "scaled.refl", "scaled.expt", "refinement.json", "merged_diffuse.h5"]) {
      expect(names).toContain(n);
    }
    for (const name of names) {
      const a = comparable(name, readFileSync(join(dirs[0], "scaled", name)));
      const b = comparable(name, readFileSync(join(dirs[1], "scaled", name)));
      expect(a.length, name).toBe(b.length);
      expect(a.toString() === b.toString() && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0, name).toBe(true);
    }
  }, 180_000);
});
