/**
 * The report in a real browser: headless Debian chromium driven by playwright-core, on the outputs of a real run
 * (6 simulated stills, scaled jointly with the resolution smoother). The page must load with no console errors and no
 * page errors, every plot must render (inline SVGs with non-empty bounding boxes), the map slices must be images whose
 * pixels (read back from a canvas) are the merged map's intensities expanded from the asymmetric unit — grey exactly
 * where no voxel has data, the colour level of the voxel's intensity elsewhere — and the Bragg merging table must show
 * the shells. A full-page screenshot is written to `test-artifacts/report.png` (left in the working tree by `.ci/run`,
 * which keeps no other artifact). Skipped (with a message) when /usr/bin/chromium is absent; `.ci/run` installs it.
 */
import { existsSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type Browser, type Page } from "playwright-core";
import { readExperiments } from "../../src/io/expt.ts";
import { readMergedDiffuse } from "../../src/io/merged-diffuse.ts";
import { readReflections } from "../../src/io/refl-read.ts";
import { scaleDataset } from "../../src/job/scale-dataset.ts";
import { mergingStatisticsOfScaledTable } from "../../src/merge/merging-statistics.ts";
import { colourLevel, EMPTY_COLOUR, mapPalette, N_LEVELS } from "../../src/report/map-figure.ts";
import { writeReport, type WriteReportResult } from "../../src/report/write-report.ts";
import { simulateDataset } from "../../src/simulate/simulate-dataset.ts";
import { SpaceGroup } from "../../src/symmetry/space-group.ts";
import { makeVoxelGrid, voxelIndexOf } from "../../src/voxelize/voxel-grid.ts";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
const here = dirname(fileURLToPath(import.meta.url));
const fixtures = join(here, "..", "fixtures", "report");
const artifacts = resolve(here, "..", "..", "test-artifacts");

if (!hasChromium) {
  process.stderr.write(
    `test/e2e/report.test.ts: SKIPPED, ${CHROMIUM} not found (install it with: apt-get install -y chromium)\n`,
  );
}

/** What the page script gives back for each map image. */
interface MapImage {
  plane: string;
  vmin: number;
  vmax: number;
  filled: number;
  width: number;
  height: number;
  shown: [number, number];
  rgba: number[];
}

/** Page script: every `img.map-image` drawn on a canvas at its natural size, with its data attributes. */
const READ_MAP_IMAGES = `Array.from(document.querySelectorAll("img.map-image")).map((img) => {
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0);
  const box = img.getBoundingClientRect();
  return {
    plane: img.dataset.plane, vmin: Number(img.dataset.vmin), vmax: Number(img.dataset.vmax),
    filled: Number(img.dataset.filled), width: canvas.width, height: canvas.height,
    shown: [box.width, box.height],
    rgba: Array.from(ctx.getImageData(0, 0, canvas.width, canvas.height).data),
  };
})`;

const suiteName = `report in headless chromium${hasChromium ? "" : ` (skipped: ${CHROMIUM} absent)`}`;

describe.skipIf(!hasChromium)(suiteName, () => {
  let dir: string;
  let run: string;
  let browser: Browser;
  let written: WriteReportResult;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "report-e2e-"));
    await copyFile(join(fixtures, "scales.json"), join(dir, "scales.json"));
    await copyFile(join(fixtures, "refinement.json"), join(dir, "refinement.json"));
    const sim = await simulateDataset({
      outDir: join(dir, "sim"),
      stills: 6,
      observationsPerStill: 8000,
      seed: 4,
      smootherAmp: 0.2,
      dMin: 2.5,
    });
    run = join(dir, "scaled");
    await scaleDataset({
      exptPath: sim.outputs.expt,
      reflPath: sim.outputs.refl,
      diffusePath: sim.outputs.diffuse,
      outDir: run,
      smootherPoints: 3,
      threads: 2,
    });
    written = await writeReport(run, { now: new Date("2026-01-01T00:00:00Z"), slices: ["h,k,0.5"] });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
  });

  afterAll(async () => {
    await browser.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("loads without errors, renders every plot and writes a screenshot", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    const requests: string[] = [];
    page.on("console", (msg) => {
      if (msg.type() === "error" || msg.type() === "warning") errors.push(`console.${msg.type()}: ${msg.text()}`);
    });
    page.on("pageerror", (err) => errors.push(`pageerror: ${err.message}`));
    page.on("request", (req) => {
      if (!req.url().startsWith("file:")) requests.push(req.url());
    });
    const response = await page.goto(pathToFileURL(written.path).href, { waitUntil: "load" });
    expect(response?.ok() ?? true).toBe(true);

    // Every plot is an inline SVG with a non-empty box; the run has all 22 plots and no absent one.
    expect(written.nPlots).toBe(22);
    expect(written.nFigures).toBe(5); // 4 map slices and the merging table
    expect(written.nMissing).toBe(0);
    const svgs = page.locator("figure.plot > svg");
    expect(await svgs.count()).toBe(written.nPlots);
    for (let i = 0; i < written.nPlots; i++) {
      const svg = svgs.nth(i);
      const box = await svg.boundingBox();
      expect(box).not.toBeNull();
      expect(box?.width ?? 0).toBeGreaterThan(100);
      expect(box?.height ?? 0).toBeGreaterThan(100);
      expect(await svg.locator("path, line, rect").count()).toBeGreaterThan(5);
    }
    expect(await page.locator("figure.missing").count()).toBe(0);
    // The summary table and command line are on the page.
    const text = await page.textContent("#summary");
    expect(text).toContain("P 43 21 2");

    await checkMapSlices(page);
    await checkMergingTable(page);

    await mkdir(artifacts, { recursive: true });
    const png = join(artifacts, "report.png");
    await page.screenshot({ path: png, fullPage: true });
    expect((await stat(png)).size).toBeGreaterThan(50_000);
    await page.close();

    expect(errors).toEqual([]);
    expect(requests).toEqual([]);
  });

  it("shows absent plots as messages for a Bragg-only run without the smoother", async () => {
    const raw = JSON.parse(await readFile(join(dir, "refinement.json"), "utf8")) as {
      inputs: { diffuse: string | null };
      diagnostics: Record<string, unknown> & { residuals: object; multiplicity: object };
    };
    raw.inputs.diffuse = null;
    raw.diagnostics.smoother = null;
    raw.diagnostics.residuals = { ...raw.diagnostics.residuals, diffuse: null };
    raw.diagnostics.diffuseMeanIntensity = null;
    raw.diagnostics.diffuseCcHalf = null;
    raw.diagnostics.multiplicity = { ...raw.diagnostics.multiplicity, diffuse: null };
    const braggDir = join(dir, "bragg-only");
    await mkdir(braggDir);
    await copyFile(join(dir, "scales.json"), join(braggDir, "scales.json"));
    await writeFile(join(braggDir, "refinement.json"), JSON.stringify(raw));
    const result = await writeReport(braggDir);
    expect(result.nPlots).toBe(9);
    // 6 diffuse plots, 4 map figures, 5 merging figures (no scaled.refl here), the 2 σ′ figures (the fixture's
    // scales.json predates the error model)
    expect(result.nMissing).toBe(17);

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on("console", (msg) => {
      if (msg.type() === "error" || msg.type() === "warning") errors.push(`console.${msg.type()}: ${msg.text()}`);
    });
    page.on("pageerror", (err) => errors.push(`pageerror: ${err.message}`));
    await page.goto(pathToFileURL(result.path).href, { waitUntil: "load" });
    expect(await page.locator("figure.plot > svg").count()).toBe(9);
    const missing = page.locator("figure.missing");
    expect(await missing.count()).toBe(17);
    for (let i = 0; i < 17; i++) {
      const box = await missing.nth(i).boundingBox();
      expect(box?.height ?? 0).toBeGreaterThan(20);
    }
    expect(await page.locator("#fig-smoother").textContent()).toContain("--smoother-points");
    expect(await page.locator("#fig-map-slice-hk0").textContent()).toContain("no diffuse data");
    expect(await page.locator("#fig-merging-table").textContent()).toContain("scaled.refl");
    expect(await page.locator("#fig-sigma-prime-bragg").textContent()).toContain("records no error model");
    await page.close();
    expect(errors).toEqual([]);
  });

  /** Reads every map image back through a canvas and compares it with the merged map expanded by symmetry. */
  async function checkMapSlices(page: Page): Promise<void> {
    // Runs in the page (written as text: the test is compiled without the DOM library).
    const images = await page.evaluate<MapImage[]>(READ_MAP_IMAGES);
    expect(images.map((i) => i.plane)).toEqual(["hk0", "h0l", "0kl", "h,k,0.5"]);
    const map = await readMergedDiffuse(join(run, "merged_diffuse.h5"));
    const grid = makeVoxelGrid(map.attributes.ndiv as number, map.attributes.hkl_max as [number, number, number]);
    const group = SpaceGroup.fromHall(
      (JSON.parse(await readFile(join(run, "refinement.json"), "utf8")) as { space_group: { hall: string } })
        .space_group.hall,
    );
    const row = new Map<number, number>();
    map.voxelIndex.forEach((v, r) => row.set(v, r));
    const palette = mapPalette();
    const planes: Record<string, [number, number, number]> = {
      hk0: [0, 1, 2],
      h0l: [0, 2, 1],
      "0kl": [1, 2, 0],
      "h,k,0.5": [0, 1, 2],
    };
    for (const img of images) {
      const [u, v, fixed] = planes[img.plane];
      const fixedSub = img.plane === "h,k,0.5" ? grid.ndiv / 2 : 0;
      const uMax = grid.hklMax[u] * grid.ndiv;
      const vMax = grid.hklMax[v] * grid.ndiv;
      expect([img.width, img.height]).toEqual([2 * uMax + 1, 2 * vMax + 1]);
      expect(Math.min(...img.shown)).toBeGreaterThan(100);
      let nFilled = 0;
      let nMatch = 0;
      let sumShown = 0;
      let sumMap = 0;
      for (let y = 0; y < img.height; y++) {
        for (let x = 0; x < img.width; x++) {
          const sub = [0, 0, 0];
          sub[u] = x - uMax;
          sub[v] = vMax - y;
          sub[fixed] = fixedSub;
          const [h, k, l] = group.mapToAsu(sub[0], sub[1], sub[2]);
          const r = row.get(voxelIndexOf(grid, h, k, l));
          const p = 4 * (y * img.width + x);
          const rgb = img.rgba.slice(p, p + 3);
          if (r === undefined) {
            expect(rgb).toEqual([...EMPTY_COLOUR]);
            continue;
          }
          nFilled++;
          const want = colourLevel(map.intensity[r], img.vmin, img.vmax);
          const got = rgb.join() === palette.slice(3 * want, 3 * want + 3).join() ? want : -1;
          if (got === want) nMatch++;
          sumShown += img.vmin + (want / (N_LEVELS - 1)) * (img.vmax - img.vmin);
          sumMap += Math.min(img.vmax, Math.max(img.vmin, map.intensity[r]));
        }
      }
      expect(nFilled).toBe(img.filled);
      expect(nFilled).toBeGreaterThan(0.2 * img.width * img.height);
      expect(nMatch).toBe(nFilled);
      // the mean of the shown levels is the mean of the (clamped) map values to within one level
      expect(Math.abs(sumShown / nFilled - sumMap / nFilled)).toBeLessThan((img.vmax - img.vmin) / (N_LEVELS - 1));
    }
  }

  /** The merging table: one row per shell and the overall row, the numbers of the merging statistics. */
  async function checkMergingTable(page: Page): Promise<void> {
    const header = await page.locator("table.merging thead th").allTextContents();
    expect(header).toEqual([
      "d max (Å)",
      "d min (Å)",
      "#obs",
      "#uniq",
      "mult.",
      "%comp",
      "⟨I⟩",
      "⟨I/σ⟩",
      "R_merge",
      "R_meas",
      "R_pim",
      "CC½",
    ]);
    const rows = await page.evaluate<string[][]>(
      `Array.from(document.querySelectorAll("table.merging tbody tr")).map((tr) => Array.from(tr.querySelectorAll("td")).map((td) => td.textContent))`,
    );
    const refl = join(run, "scaled.refl");
    const stats = mergingStatisticsOfScaledTable(
      await readReflections(refl),
      await readExperiments(join(run, "scaled.expt")),
      refl,
    );
    expect(stats).not.toBeNull();
    if (stats === null) return;
    expect(rows).toHaveLength(stats.shells.length + 1);
    [...stats.shells, stats.overall].forEach((s, i) => {
      expect(rows[i][1]).toBe(s.dMin.toFixed(2));
      expect(rows[i][2]).toBe(String(s.nObs));
      expect(rows[i][3]).toBe(String(s.nUnique));
      expect(rows[i][11]).toBe(s.ccHalf.toFixed(3));
    });
    expect(await page.locator("table.merging tr.overall").count()).toBe(1);
  }
});
