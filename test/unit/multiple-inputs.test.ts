/**
 * Several `.expt`/`.refl` files per job, combined by experiment identifier as dials.scale combines them: the same data
 * split into two file pairs (written with the library's own writers, each table with its own ids 0..n−1) give the
 * same `scales.json` per identifier as one pair; experiments listed in another order are matched by identifier; an
 * identifier that names no experiment is refused naming it and both files; the binned diffuse file carries the
 * identifiers of its still ids (written by voxelize) and is matched by them.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openBinnedDiffuse, readBinnedDiffuse, writeBinnedDiffuse } from "../../src/io/binned-diffuse.ts";
import { parseExperiments, readExperiments, writeExperiments } from "../../src/io/expt.ts";
import { readReflections } from "../../src/io/refl-read.ts";
import { writeReflections } from "../../src/io/refl-write.ts";
import type { ScalesJson } from "../../src/io/scales-json.ts";
import { scaleDataset } from "../../src/job/scale-dataset.ts";
import { voxelizeFiles } from "../../src/job/voxelize-files.ts";
import type { ReflectionTable } from "../../src/table/reflection-table.ts";
import { runMain } from "../robustness/cli-in-process.ts";

const fixture = fileURLToPath(new URL("../fixtures/settings-i121/", import.meta.url));
const expt = join(fixture, "i121.expt");
const refl = join(fixture, "i121.refl");
const N = 12;
const SPLIT = 5;

let dir = "";
/** The two halves: experiments [0, SPLIT) and [SPLIT, N), each table with ids 0..n−1 and its own identifiers. */
const half = { expt: ["", ""], refl: ["", ""] };
let binned = "";

/** Rows of `table` whose id is in [lo, hi), with ids shifted down by lo and the identifiers to match. */
function rowsOf(table: ReflectionTable, lo: number, hi: number): ReflectionTable {
  const id = table.getInt("id");
  const rows: number[] = [];
  for (let r = 0; r < table.nrows; r++) if (id[r] >= lo && id[r] < hi) rows.push(r);
  const out = table.select(Int32Array.from(rows));
  const outId = out.getInt("id");
  for (let r = 0; r < out.nrows; r++) outId[r] -= lo;
  const identifiers = new Map<number, string>();
  for (const [k, v] of table.identifiers) if (k >= lo && k < hi) identifiers.set(k - lo, v);
  out.identifiers.clear();
  for (const [k, v] of identifiers) out.identifiers.set(k, v);
  return out;
}

/** An experiment document with only the experiments `pick` (every model list kept). */
async function exptWith(pick: number[], path: string): Promise<void> {
  const doc = (await readExperiments(expt)).toJSON() as { experiment: unknown[] };
  doc.experiment = pick.map((i) => doc.experiment[i]);
  await writeExperiments(path, parseExperiments(doc, path));
}

/** refined_parameters keyed by identifier. */
function byIdentifier(scales: ScalesJson): Map<string, { multiplicative_scale: number; esd: number }> {
  const out = new Map<string, { multiplicative_scale: number; esd: number }>();
  for (const p of Object.values(scales.refined_parameters)) {
    expect(p.identifier).toMatch(/^still-\d{5}$/);
    out.set(p.identifier ?? "", { multiplicative_scale: p.multiplicative_scale, esd: p.esd });
  }
  return out;
}

const range = (lo: number, hi: number): number[] => Array.from({ length: hi - lo }, (_, i) => lo + i);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "multiple-inputs-"));
  const table = await readReflections(refl);
  for (const [k, [a, b]] of [
    [0, SPLIT],
    [SPLIT, N],
  ].entries()) {
    half.expt[k] = join(dir, `part${k}.expt`);
    half.refl[k] = join(dir, `part${k}.refl`);
    await exptWith(range(a, b), half.expt[k]);
    await writeReflections(half.refl[k], rowsOf(table, a, b));
  }
  binned = join(dir, "binned.h5");
  await voxelizeFiles({
    exptPath: expt,
    pixels: [join(fixture, "pixels", "*.npz")],
    ndiv: 2,
    dMin: 2.6,
    outPath: binned,
  });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("several .expt/.refl files per job", () => {
  it("voxelize writes the identifier of every still id into the binned file", async () => {
    const f = await openBinnedDiffuse(binned);
    try {
      expect(f.experimentIdentifiers).toEqual(range(0, N).map((i) => `still-${String(i).padStart(5, "0")}`));
    } finally {
      f.close();
    }
  });

  it("two file pairs give the same scales.json, per identifier, as one pair (Bragg + diffuse)", async () => {
    const common = { diffusePath: binned, threads: 1 };
    const one = await scaleDataset({ ...common, exptPath: expt, reflPath: refl, outDir: join(dir, "one") });
    const two = await scaleDataset({ ...common, exptPath: half.expt, reflPath: half.refl, outDir: join(dir, "two") });
    expect(inputWarnings(two)).toEqual([]);
    expect(byIdentifier(two.scales)).toEqual(byIdentifier(one.scales));
    expect(byIdentifier(one.scales).size).toBe(N);
    expect(two.scales.refinement_statistics).toEqual(one.scales.refinement_statistics);
    expect(two.scales.data).toEqual(one.scales.data);
  });

  it("experiments listed in another order are matched by identifier", async () => {
    const reversed = join(dir, "reversed.expt");
    await exptWith(range(0, N).reverse(), reversed);
    const one = await scaleDataset({ exptPath: expt, reflPath: refl, outDir: join(dir, "fwd"), threads: 1 });
    const rev = await scaleDataset({ exptPath: reversed, reflPath: refl, outDir: join(dir, "rev"), threads: 1 });
    const a = byIdentifier(one.scales);
    const b = byIdentifier(rev.scales);
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    for (const [id, p] of a) {
      // the same problem with the stills in another order: equal up to the order of floating-point sums
      expect(Math.abs((b.get(id)?.multiplicative_scale ?? 0) / p.multiplicative_scale - 1)).toBeLessThan(1e-9);
    }
    // still 0 of the reversed list is still-00011
    expect(rev.scales.refined_parameters["0"].identifier).toBe("still-00011");
  });

  it("experiments without identifiers (old files) are matched by position, as DIALS does", async () => {
    const doc = (await readExperiments(expt)).toJSON() as { experiment: Record<string, unknown>[] };
    for (const e of doc.experiment) delete e.identifier;
    const anonymous = join(dir, "anonymous.expt");
    await writeExperiments(anonymous, parseExperiments(doc, anonymous));
    const common = { reflPath: refl, diffusePath: binned, threads: 1 };
    const named = await scaleDataset({ ...common, exptPath: expt, outDir: join(dir, "named") });
    const plain = await scaleDataset({ ...common, exptPath: anonymous, outDir: join(dir, "anonymous") });
    expect(inputWarnings(plain)).toEqual([
      `${binned}: the experiments of ${anonymous} have no identifiers to match; its still ids are taken as indices of the ${N} experiments`,
    ]);
    for (const [s, p] of Object.entries(named.scales.refined_parameters)) {
      expect(plain.scales.refined_parameters[s].multiplicative_scale).toBe(p.multiplicative_scale);
      expect(plain.scales.refined_parameters[s].identifier).toBeUndefined();
    }
  });

  it("DIALS-style positional files are sorted by content and combined", async () => {
    const out = join(dir, "positional");
    const r = await runMain(
      "scale",
      half.expt[0],
      half.refl[1],
      half.expt[1],
      half.refl[0],
      "--out",
      out,
      "--quiet",
      "--threads",
      "1",
    );
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    const single = await scaleDataset({ exptPath: expt, reflPath: refl, outDir: join(dir, "single"), threads: 1 });
    const positional = JSON.parse(await readFile(join(out, "scales.json"), "utf8")) as ScalesJson;
    expect(byIdentifier(positional)).toEqual(byIdentifier(single.scales));
  });

  it("a .refl whose identifier names no experiment exits 2 naming the identifier and both files", async () => {
    const r = await runMain("scale", "--expt", half.expt[0], "--refl", half.refl[1], "--out", join(dir, "x"));
    expect(r.code).toBe(2);
    expect(r.err).toContain(
      `${half.refl[1]}: experiment identifier "still-00005" (id 0) is in no experiment of ${half.expt[0]}`,
    );
  });

  it("a binned file without identifiers, with two .expt files: still ids index the combined list, with a warning", async () => {
    const rows = await readBinnedDiffuse(binned);
    const bare = join(dir, "bare.h5");
    await writeBinnedDiffuse(bare, rows, rows.attributes);
    const common = { threads: 1, diffusePath: bare };
    const two = await scaleDataset({ ...common, exptPath: half.expt, reflPath: half.refl, outDir: join(dir, "bare2") });
    expect(inputWarnings(two)).toEqual([
      `${bare}: has no experiment identifiers; its still ids are taken as indices of the ${N} experiments of ${half.expt.join(", ")} in the order given`,
    ]);
    const withIds = await scaleDataset({
      ...common,
      diffusePath: binned,
      exptPath: half.expt,
      reflPath: half.refl,
      outDir: join(dir, "ids2"),
    });
    expect(byIdentifier(two.scales)).toEqual(byIdentifier(withIds.scales));
  });
});

/** The warnings of a run about its inputs (the fit's own warnings left out). */
function inputWarnings(result: { warnings: readonly { code: string; message: string }[] }): string[] {
  return result.warnings.filter((w) => w.code === "input").map((w) => w.message);
}
