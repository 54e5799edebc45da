/**
 * Inputs that are not for us, refused at once with exit 2 and one line naming the file: files that are not files
 * (devices, FIFOs, directories, huge or sparse files; checked by fstat before a byte is read, for every input), rotation
 * scans, a binned grid inconsistent with its own indices or with the crystals' cells, a diffuse file of another dataset,
 * all-negative intensities,
 * a missing column. Each case: exit code, message, bounded time, and the output directory left untouched.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readBinnedDiffuse, writeBinnedDiffuse } from "../../src/io/binned-diffuse.ts";
import { MAX_EXPT_FILE_BYTES } from "../../src/io/input-file.ts";
import { readReflections } from "../../src/io/refl-read.ts";
import { writeReflections } from "../../src/io/refl-write.ts";
import { MAX_UNKNOWN_STILL_FRACTION } from "../../src/job/diffuse-stills.ts";
import { voxelizeFiles } from "../../src/job/voxelize-files.ts";
import { runMain } from "./cli-in-process.ts";

const fixture = fileURLToPath(new URL("../fixtures/settings-i121/", import.meta.url));
const EXPT = join(fixture, "i121.expt");
const REFL = join(fixture, "i121.refl");
/** Every refusal comes before any refinement: well under this. */
const BOUND_MS = 5000;

let dir = "";
let fifo = "";
let binned = "";

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "input-refusals-"));
  fifo = join(dir, "pipe");
  execFileSync("mkfifo", [fifo]);
  binned = join(dir, "binned.h5");
  await voxelizeFiles({
    exptPath: EXPT,
    pixels: [join(fixture, "pixels", "*.npz")],
    ndiv: 2,
    dMin: 2.6,
    outPath: binned,
  });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs `scale` with `args` into a fresh output directory; checks exit 2, one line matching `message`, time, no outputs. */
async function refused(args: string[], message: string | RegExp): Promise<void> {
  const out = join(dir, `out-${Math.random().toString(36).slice(2)}`);
  const t0 = performance.now();
  const r = await runMain("scale", ...args, "--out", out, "--quiet");
  const ms = performance.now() - t0;
  expect(r.err.trimEnd().split("\n")).toHaveLength(1);
  if (typeof message === "string") expect(r.err).toContain(message);
  else expect(r.err).toMatch(message);
  expect(r.code).toBe(2);
  expect(ms).toBeLessThan(BOUND_MS);
  expect(existsSync(join(out, "scales.json"))).toBe(false);
}

const pair = (expt = EXPT, refl = REFL): string[] => ["--expt", expt, "--refl", refl];

describe("files that are not files are refused before they are read", () => {
  it("a character device as .expt", async () => {
    await refused(
      pair("/dev/zero"),
      "/dev/zero: cannot read experiment list: is a character device, not a regular file",
    );
  });
  it("a FIFO with no writer, as every input: no hang", async () => {
    await refused(pair(fifo), `${fifo}: cannot read experiment list: is a FIFO (named pipe), not a regular file`);
    await refused(
      pair(EXPT, fifo),
      `${fifo}: cannot read reflection table: is a FIFO (named pipe), not a regular file`,
    );
    await refused([...pair(), "--diffuse", fifo], `${fifo}: cannot read HDF5 file: is a FIFO (named pipe)`);
    await refused([...pair(), "--config", fifo], `${fifo}: cannot read config file: is a FIFO (named pipe)`);
    await refused(["--expt", EXPT, fifo], `${fifo}: cannot read file: is a FIFO (named pipe)`);
  });
  it("a directory as .refl", async () => {
    await refused(pair(EXPT, dir), `${dir}: cannot read reflection table: is a directory, not a regular file`);
  });
  it("a 1.5 GiB .expt is refused by its size, before it is read", async () => {
    const huge = join(dir, "huge.expt");
    writeFileSync(huge, "");
    truncateSync(huge, 1.5 * 2 ** 30);
    await refused(
      pair(huge),
      `${huge}: experiment list is ${1.5 * 2 ** 30} bytes, more than the ${MAX_EXPT_FILE_BYTES} allowed`,
    );
  });
  it("a sparse 4 GiB .refl (all holes) is refused before it is read", async () => {
    const sparse = join(dir, "sparse.refl");
    writeFileSync(sparse, "");
    truncateSync(sparse, 4 * 2 ** 30);
    await refused(pair(EXPT, sparse), /sparse\.refl: is a sparse file \(4294967296 bytes, \d+ allocated on disk\)/);
  });
  it("voxelize: a FIFO among the pixel files", async () => {
    const pix = join(dir, "pix");
    mkdirSync(pix, { recursive: true });
    execFileSync("mkfifo", [join(pix, "still_00000.npz")]);
    const t0 = performance.now();
    const r = await runMain(
      "voxelize",
      "--expt",
      EXPT,
      "--pixels",
      join(pix, "*.npz"),
      "--ndiv",
      "2",
      "--dmin",
      "2.6",
      "--out",
      join(dir, "v.h5"),
    );
    expect(r.code).toBe(2);
    expect(r.err).toContain("still_00000.npz: cannot read npz archive: is a FIFO (named pipe), not a regular file");
    expect(performance.now() - t0).toBeLessThan(BOUND_MS);
  });
});

describe("data that are not for us are refused clearly", () => {
  it("a rotation scan", async () => {
    const doc = JSON.parse(readFileSync(EXPT, "utf8")) as Record<string, unknown> & { experiment: object[] };
    doc.scan = [{ image_range: [1, 900], oscillation: [0, 0.1], batch_offset: 0 }];
    doc.experiment = doc.experiment.map((e) => ({ ...e, scan: 0 }));
    const rotation = join(dir, "rotation.expt");
    writeFileSync(rotation, JSON.stringify(doc));
    await refused(
      pair(rotation),
      `${rotation}: experiment 0 is a rotation scan of 900 images; diffuse-scale scales stills`,
    );
  });

  it("a binned grid inconsistent with its own index rule is refused when opened, before any refinement", async () => {
    const rows = await readBinnedDiffuse(binned);
    const bad = join(dir, "grid.h5");
    const dims = rows.attributes.voxelGridDims;
    await writeBinnedDiffuse(bad, rows, {
      ...rows.attributes,
      hklMax: [1, 1, 1],
      voxelGridDims: [dims[0], dims[1], dims[2]],
    });
    await refused(
      [...pair(), "--diffuse", bad],
      new RegExp(
        `grid\\.h5: attribute 'voxel_grid_dims' \\[${dims.join(", ")}\\] does not match hkl_max \\[1, 1, 1\\]`,
      ),
    );
  });

  it("a binned file whose voxels disagree with the crystals' cells (binned in I 1 2 1, crystals in C 1 2 1)", async () => {
    await refused(
      [...pair(join(fixture, "c121.expt"), join(fixture, "c121.refl")), "--diffuse", binned],
      /binned\.h5: voxel indices disagree with the crystals of .*c121\.expt: for \d+ of the first \d+ rows \|q\| is not that of their voxel/,
    );
  });

  it("a diffuse file whose rows mostly belong to no experiment (another dataset) is refused; a few are counted", async () => {
    const rows = await readBinnedDiffuse(binned);
    const n = rows.stillIds.length;
    // ids beyond the 12 experiments: more than the allowed fraction, then a few
    const other = join(dir, "other.h5");
    const many = Math.ceil(n * MAX_UNKNOWN_STILL_FRACTION) + 1;
    await writeBinnedDiffuse(
      other,
      { ...rows, stillIds: rows.stillIds.map((s, i) => (i < many ? s + 100 : s)) },
      rows.attributes,
    );
    await refused(
      [...pair(), "--diffuse", other],
      new RegExp(`other\\.h5: ${many} of ${n} diffuse rows .* belong to no experiment`),
    );
    const few = join(dir, "few.h5");
    await writeBinnedDiffuse(
      few,
      { ...rows, stillIds: rows.stillIds.map((s, i) => (i < 7 ? 40 : s)) },
      rows.attributes,
    );
    const r = await runMain(
      "scale",
      ...pair(),
      "--diffuse",
      few,
      "--out",
      join(dir, "few"),
      "--json",
      "--threads",
      "1",
    );
    expect(r.code).toBe(0);
    // with --json the warnings are on stderr (one line each) and in the document
    expect(r.err).toContain(
      `warning: ${few}: 7 of ${n} diffuse rows belong to no experiment of ${EXPT}; they are not used [input]\n`,
    );
  });

  it("all intensities negative", async () => {
    const table = await readReflections(REFL);
    const I = table.getDouble("intensity.sum.value");
    for (let r = 0; r < I.length; r++) I[r] = -Math.abs(I[r]) - 1;
    const negative = join(dir, "negative.refl");
    await writeReflections(negative, table);
    await refused(
      pair(EXPT, negative),
      `${negative}: every one of the ${table.nrows} intensities (intensity.sum.value) is negative or zero`,
    );
  });

  it("a missing column, naming the file", async () => {
    const table = await readReflections(REFL);
    table.deleteColumn("d");
    const noD = join(dir, "no-d.refl");
    await writeReflections(noD, table);
    await refused(pair(EXPT, noD), `${noD}: missing column "d" needed for scaling`);
  });

  it("no .expt at all", async () => {
    await refused(["--refl", REFL], "required option '--expt <file>' not specified");
  });
});
