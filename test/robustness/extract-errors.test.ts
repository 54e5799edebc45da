/**
 * `extract` error discipline: a missing image, a missing .expt, a wrong image size and bad options exit 2 with one
 * line naming what is at fault, within a bounded time.
 */
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runMain } from "./cli-in-process.ts";
import { InputError } from "../../src/errors.ts";
import { openNativeH5 } from "../../src/io/hdf5-native-reader.ts";
import { openNexusImages } from "../../src/io/nexus-read.ts";

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

describe("NeXus images with filters", () => {
  const extractDir = fileURLToPath(new URL("../fixtures/extract/", import.meta.url));
  const filtersDir = fileURLToPath(new URL("../fixtures/hdf5-filters/", import.meta.url));

  it("a filter neither reader decodes (bzip2, 307): one line naming the file and the filter", async () => {
    const t0 = performance.now();
    const err = await openNexusImages(join(filtersDir, "bzip2_nexus.h5")).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InputError);
    expectOneLine(
      (err as Error).message,
      /bzip2_nexus\.h5: dataset 'data' uses unsupported filter BZIP2 \(HDF5 filter 307\); supported: .*bitshuffle, lz4$/,
    );
    expect(performance.now() - t0).toBeLessThan(10_000);
  });

  it("a corrupt bitshuffle-LZ4 chunk: an InputError naming the data file, the dataset and the fault", async () => {
    const data = join(dir, "nxmx_bslz4_data_000001.h5");
    copyFileSync(join(extractDir, "nxmx_bslz4_master.h5"), join(dir, "nxmx_bslz4_master.h5"));
    copyFileSync(join(extractDir, "nxmx_bslz4_data_000001.h5"), data);
    const native = openNativeH5(data, ["entry/data/data"], { rootAttributes: false });
    const chunks = native?.datasets.get("entry/data/data")?.chunks;
    native?.close();
    if (chunks === undefined) throw new Error("fixture not read natively");
    const bytes = readFileSync(data);
    // frame 1: its first block's compressed size made larger than the chunk
    bytes.writeUInt32BE(0x7fffffff, chunks.address[1] + 12);
    // frame 2: its header's total size made 2^40
    bytes.writeUInt32BE(0x100, chunks.address[2]);
    writeFileSync(data, bytes);
    const nexus = await openNexusImages(join(dir, "nxmx_bslz4_master.h5"));
    try {
      expect(nexus.readFrame(0)).toHaveLength(64 * 48);
      const fault = (f: number): string => {
        try {
          nexus.readFrame(f);
        } catch (e) {
          expect(e).toBeInstanceOf(InputError);
          return (e as Error).message;
        }
        return "no error";
      };
      expectOneLine(
        fault(1),
        /nxmx_bslz4_data_000001\.h5: reading dataset 'entry\/data\/data' rows 1\.\.2: corrupt bitshuffle chunk: block 0 of 2147483647 bytes past the end of the chunk/,
      );
      expectOneLine(fault(2), /corrupt bitshuffle chunk: header says 1099511640064 bytes, the chunk holds 12288/);
    } finally {
      nexus.close();
    }
  });
});
