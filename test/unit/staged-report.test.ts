/**
 * The report prepared file by file while an output directory is written (`StagedReport`): the page is the one
 * `writeReport` writes from the finished directory whatever was announced ahead of it (a preview of scales.json that
 * differs from the file, a map announced with another space group, nothing at all), and a malformed file announced
 * ahead fails the page with the error naming it.
 */
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InputError } from "../../src/errors.ts";
import { scaleDataset } from "../../src/job/scale-dataset.ts";
import { StagedReport } from "../../src/report/staged-report.ts";
import { writeReport } from "../../src/report/write-report.ts";
import { dataset, writeSmallData, writeSmallExpt } from "../robustness/small-dataset.ts";
import { stable } from "./stable-report.ts";

const FILES = ["scales.json", "refinement.json", "scaled.refl", "scaled.expt", "merged_diffuse.h5"];
let root = "";
/** A finished output directory of the small dataset (not an output set: no manifest). */
let source = "";
let expected = "";
let scales: Record<string, unknown> = {};
let hall = "";

/** A fresh copy of the finished outputs. */
async function copyOutputs(name: string): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir);
  for (const f of FILES) await copyFile(join(source, f), join(dir, f));
  return dir;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "staged-report-"));
  const expt = join(root, "small.expt");
  writeSmallExpt(expt);
  const { refl, h5 } = await writeSmallData(root, "small", dataset());
  const out = join(root, "out");
  await scaleDataset({ exptPath: expt, reflPath: refl, diffusePath: h5, outDir: out, threads: 1 });
  source = out;
  const plain = await copyOutputs("plain");
  await writeReport(plain, { outPath: join(plain, "report.html") });
  expected = stable(await readFile(join(plain, "report.html"), "utf8"));
  scales = JSON.parse(await readFile(join(source, "scales.json"), "utf8")) as Record<string, unknown>;
  const refinement = JSON.parse(await readFile(join(source, "refinement.json"), "utf8")) as {
    space_group: { hall: string };
  };
  hall = refinement.space_group.hall;
}, 120_000);
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("StagedReport", () => {
  it("announced file by file in the job's order: writeReport's page", async () => {
    const dir = await copyOutputs("staged");
    const report = new StagedReport(dir);
    report.written({ name: "scaled.expt" });
    report.written({ name: "merged_diffuse.h5", hall });
    report.written({ name: "refinement.json", scalesPreview: scales });
    await report.write(join(dir, "report.html"));
    const page = await readFile(join(dir, "report.html"), "utf8");
    expect(page).toContain("<svg");
    expect(page).toContain('id="fig-merging-cc-half"');
    expect(stable(page)).toBe(expected);
  }, 60_000);

  it("a preview that differs from scales.json, a map announced in another group, or nothing announced: the same page", async () => {
    const dir = await copyOutputs("mismatch");
    const report = new StagedReport(dir);
    const preview = structuredClone(scales) as { error_model?: Record<string, Record<string, unknown>> };
    for (const entry of Object.values(preview.error_model ?? {})) {
      entry.residual_sd_before = 7.5;
      entry.residual_sd_after = 0.5;
    }
    expect(Object.keys(preview.error_model ?? {}).length).toBeGreaterThan(0);
    report.written({ name: "merged_diffuse.h5", hall: "P 1" });
    report.written({ name: "refinement.json", scalesPreview: preview });
    await report.write(join(dir, "report.html"));
    expect(stable(await readFile(join(dir, "report.html"), "utf8"))).toBe(expected);

    const quiet = await copyOutputs("nothing-announced");
    await new StagedReport(quiet).write(join(quiet, "report.html"));
    expect(stable(await readFile(join(quiet, "report.html"), "utf8"))).toBe(expected);
  }, 60_000);

  it("a malformed file announced ahead fails the page with the error naming it", async () => {
    const dir = await copyOutputs("malformed");
    await writeFile(join(dir, "refinement.json"), "{");
    const report = new StagedReport(dir);
    report.written({ name: "refinement.json", scalesPreview: scales });
    const err = await report.write(join(dir, "report.html")).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toContain("refinement.json");
  }, 60_000);
});
