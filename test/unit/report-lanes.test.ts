/**
 * The report's two lanes (`ReportLanes`): plots rendered by the helper thread and by this thread are `renderSvg`'s own
 * whichever lane takes them (and both lanes take some); plots the helper holds when it is stopped are rendered here;
 * the merging statistics computed in the helper are `readReportMerging`'s, and a malformed scaled.refl is this
 * thread's own `InputError`; without a helper everything is done here; and a `StagedReport` on two lanes writes the
 * page `writeReport` writes.
 */
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InputError } from "../../src/errors.ts";
import { scaleDataset } from "../../src/job/scale-dataset.ts";
import { renderSvg } from "../../src/report/render-svg.ts";
import { readReportMerging } from "../../src/report/report-inputs.ts";
import { ReportLanes } from "../../src/report/report-lanes.ts";
import { buildReportSections, isFigureSpec, type FigureSpec } from "../../src/report/specs.ts";
import { StagedReport } from "../../src/report/staged-report.ts";
import { readRefinementFile, readScalesFile, writeReport } from "../../src/report/write-report.ts";
import { dataset, writeSmallData, writeSmallExpt } from "../robustness/small-dataset.ts";
import { stable } from "./stable-report.ts";

const fixtureDir = fileURLToPath(new URL("../fixtures/report/", import.meta.url));
const FILES = ["scales.json", "refinement.json", "scaled.refl", "scaled.expt", "merged_diffuse.h5"];
let root = "";
/** A finished output directory of the small dataset (not an output set: no manifest). */
let source = "";
/** The plots of the report fixture. */
let figures: FigureSpec[] = [];

/** A fresh copy of the finished outputs. */
async function copyOutputs(name: string): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir);
  for (const f of FILES) await copyFile(join(source, f), join(dir, f));
  return dir;
}

/** Renders every figure through `lanes` at once, and on this thread one by one; returns both lists of SVGs. */
async function renderBoth(lanes: ReportLanes): Promise<{ lanes: string[]; here: string[] }> {
  const pending = figures.map((f) => lanes.render(f.spec, f.title));
  const here: string[] = [];
  for (const f of figures) here.push(await renderSvg(f.spec, { ariaLabel: f.title }));
  return { lanes: await Promise.all(pending), here };
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "report-lanes-"));
  const scales = await readScalesFile(fixtureDir);
  const refinement = await readRefinementFile(fixtureDir);
  figures = buildReportSections({ scales, refinement }).flatMap((s) => s.figures.filter(isFigureSpec));
  const expt = join(root, "small.expt");
  writeSmallExpt(expt);
  const { refl, h5 } = await writeSmallData(root, "small", dataset());
  source = join(root, "out");
  await scaleDataset({ exptPath: expt, reflPath: refl, diffusePath: h5, outDir: source, threads: 1 });
}, 120_000);
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("ReportLanes", () => {
  it("plots on both lanes are renderSvg's, and both lanes render some", async () => {
    expect(figures.length).toBeGreaterThanOrEqual(8);
    const lanes = new ReportLanes();
    lanes.startHelper();
    try {
      expect(await lanes.helperReady()).toBe(true);
      const { lanes: svgs, here } = await renderBoth(lanes);
      expect(svgs).toEqual(here);
      const { here: nHere, helper: nHelper } = lanes.rendered;
      expect(nHere + nHelper).toBe(figures.length);
      expect(nHere).toBeGreaterThan(0);
      expect(nHelper).toBeGreaterThan(0);
    } finally {
      lanes.dispose();
    }
  }, 60_000);

  it("plots the helper holds when it is stopped are rendered on this thread", async () => {
    const lanes = new ReportLanes();
    lanes.startHelper();
    expect(await lanes.helperReady()).toBe(true);
    const pending = figures.slice(0, 4).map((f) => lanes.render(f.spec, f.title));
    lanes.dispose();
    const svgs = await Promise.all(pending);
    for (const [i, f] of figures.slice(0, 4).entries()) {
      expect(svgs[i]).toBe(await renderSvg(f.spec, { ariaLabel: f.title }));
    }
    expect(lanes.rendered).toEqual({ here: 4, helper: 0 });
    expect(await lanes.helperReady()).toBe(false);
  }, 60_000);

  it("without a helper everything is done on this thread", async () => {
    const lanes = new ReportLanes();
    expect(await lanes.helperReady()).toBe(false);
    const { lanes: svgs, here } = await renderBoth(lanes);
    expect(svgs).toEqual(here);
    expect(lanes.rendered).toEqual({ here: figures.length, helper: 0 });
    expect(await lanes.mergingStatistics(source)).toStrictEqual(await readReportMerging(source));
  }, 60_000);

  it("merging statistics from the helper are readReportMerging's; a malformed scaled.refl is this thread's InputError", async () => {
    const lanes = new ReportLanes();
    lanes.startHelper();
    try {
      expect(await lanes.helperReady()).toBe(true);
      const merging = await lanes.mergingStatistics(source);
      expect("value" in merging).toBe(true);
      expect(merging).toStrictEqual(await readReportMerging(source));
      const bad = await copyOutputs("bad-refl");
      await writeFile(join(bad, "scaled.refl"), "not msgpack");
      const err = await lanes.mergingStatistics(bad).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(InputError);
      expect((err as Error).message).toContain("scaled.refl");
    } finally {
      lanes.dispose();
    }
  }, 60_000);

  it("a StagedReport on two lanes writes writeReport's page", async () => {
    const plain = await copyOutputs("plain");
    await writeReport(plain, { outPath: join(plain, "report.html") });
    const dir = await copyOutputs("two-lanes");
    const scales = JSON.parse(await readFile(join(source, "scales.json"), "utf8")) as unknown;
    const { space_group } = await readRefinementFile(source);
    const lanes = new ReportLanes();
    lanes.startHelper();
    try {
      expect(await lanes.helperReady()).toBe(true);
      const report = new StagedReport(dir, { render: lanes.render, mergingStatistics: lanes.mergingStatistics });
      report.written({ name: "scaled.expt" });
      report.written({ name: "merged_diffuse.h5", hall: space_group.hall });
      report.written({ name: "refinement.json", scalesPreview: scales });
      await report.write(join(dir, "report.html"));
      expect(lanes.rendered.helper).toBeGreaterThan(0);
    } finally {
      lanes.dispose();
    }
    const page = await readFile(join(dir, "report.html"), "utf8");
    expect(page).toContain('id="fig-merging-cc-half"');
    expect(stable(page)).toBe(stable(await readFile(join(plain, "report.html"), "utf8")));
  }, 60_000);
});
