/**
 * `extract` error discipline: a missing image, a missing .expt, a wrong image size and bad options exit 2 with one
 * line naming what is at fault, within a bounded time.
 */
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runMain } from "./cli-in-process.ts";

const fixture = fileURLToPath(new URL("../../../shared/fixtures/sim/images-8/", import.meta.url));
const small = fileURLToPath(new URL("../fixtures/extract/small_00001.cbf", import.meta.url));
let dir = "";

async function exptWithImage(name: string, image: string): Promise<string> {
  const doc = JSON.parse(readFileSync(join(fixture, "stills.expt"), "utf8")) as { imageset: { images: string[] }[] };
  for (const s of doc.imageset) s.images = s.images.map((p) => join(fixture, p));
  doc.imageset[2].images = [image];
  const path = join(dir, name);
  await writeFile(path, JSON.stringify(doc));
  return path;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "extract-errors-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function expectOneLine(err: string, pattern: RegExp): void {
  expect(err.trimEnd().split("\n")).toHaveLength(1);
  expect(err).not.toMatch(/\n\s+at /);
  expect(err).toMatch(pattern);
}

describe("extract errors", () => {
  it("a missing image: exit 2, one line naming the experiment and the path", async () => {
    const expt = await exptWithImage("missing.expt", "images/nowhere_00002.cbf");
    const t0 = performance.now();
    const r = await runMain(
      "extract",
      "--expt",
      expt,
      "--refl",
      join(fixture, "stills.refl"),
      "--ndiv",
      "2",
      "--dmin",
      "1.8",
      "--out",
      join(dir, "x.h5"),
      "--threads",
      "1",
      "--quiet",
    );
    expect(r.code).toBe(2);
    // the relative path is resolved against the .expt's directory, as DIALS does
    expectOneLine(
      r.err,
      /experiment 2 \(still-00002\): image not found: .*extract-errors-\w+\/images\/nowhere_00002\.cbf/,
    );
    expect(performance.now() - t0).toBeLessThan(20_000);
  });

  it("an image whose size is not the panel's: exit 2 naming the file", async () => {
    const expt = await exptWithImage("small.expt", small);
    const r = await runMain(
      "extract",
      "--expt",
      expt,
      "--refl",
      join(fixture, "stills.refl"),
      "--ndiv",
      "2",
      "--dmin",
      "1.8",
      "--out",
      join(dir, "x.h5"),
      "--threads",
      "1",
      "--quiet",
    );
    expect(r.code).toBe(2);
    expectOneLine(r.err, /small_00001\.cbf: image is 64×48 pixels but the panel is 1024×1024/);
  });

  it("bad options exit 2 with one line", async () => {
    const base = ["extract", "--expt", join(fixture, "stills.expt"), "--refl", join(fixture, "stills.refl")];
    for (const [args, pattern] of [
      [["--ndiv", "0", "--dmin", "1.8", "--out", "x.h5"], /--ndiv/],
      [["--ndiv", "2", "--dmin", "2", "--dmax", "1", "--out", "x.h5"], /--dmax/],
      [["--ndiv", "2", "--dmin", "1.8", "--out", "x.h5", "--bragg-mask-grow", "-1"], /--bragg-mask-grow/],
    ] as [string[], RegExp][]) {
      const r = await runMain(...base, ...args, "--quiet");
      expect(r.code).toBe(2);
      expectOneLine(r.err, pattern);
    }
  });

  it("a missing experiment list: exit 2 naming it", async () => {
    const r = await runMain(
      "extract",
      "--expt",
      join(dir, "none.expt"),
      "--refl",
      join(fixture, "stills.refl"),
      "--ndiv",
      "2",
      "--dmin",
      "1.8",
      "--out",
      join(dir, "x.h5"),
      "--quiet",
    );
    expect(r.code).toBe(2);
    expectOneLine(r.err, /none\.expt/);
  });
});
