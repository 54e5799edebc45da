/**
 * The report in a real browser: headless Debian chromium driven by playwright-core. The page must load with no
 * console errors and no page errors, every plot must render (inline SVGs with non-empty bounding boxes), and a
 * full-page screenshot is written to `test-artifacts/report.png`. Skipped (with a message) when /usr/bin/chromium is
 * absent; `.ci/run` installs it.
 */
import { existsSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type Browser } from "playwright-core";
import { writeReport, type WriteReportResult } from "../../src/report/write-report.ts";

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

const suiteName = `report in headless chromium${hasChromium ? "" : ` (skipped: ${CHROMIUM} absent)`}`;

describe.skipIf(!hasChromium)(suiteName, () => {
  let dir: string;
  let browser: Browser;
  let written: WriteReportResult;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "report-e2e-"));
    await copyFile(join(fixtures, "scales.json"), join(dir, "scales.json"));
    await copyFile(join(fixtures, "refinement.json"), join(dir, "refinement.json"));
    written = await writeReport(dir, { now: new Date("2026-01-01T00:00:00Z") });
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

    // Every plot is an inline SVG with a non-empty box; the fixture run has all 15 plots and no absent one.
    expect(written.nPlots).toBe(15);
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
    expect(text).toContain("diffuse-scale scale");

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
    expect(result.nMissing).toBe(6);

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on("console", (msg) => {
      if (msg.type() === "error" || msg.type() === "warning") errors.push(`console.${msg.type()}: ${msg.text()}`);
    });
    page.on("pageerror", (err) => errors.push(`pageerror: ${err.message}`));
    await page.goto(pathToFileURL(result.path).href, { waitUntil: "load" });
    expect(await page.locator("figure.plot > svg").count()).toBe(9);
    const missing = page.locator("figure.missing");
    expect(await missing.count()).toBe(6);
    for (let i = 0; i < 6; i++) {
      const box = await missing.nth(i).boundingBox();
      expect(box?.height ?? 0).toBeGreaterThan(20);
    }
    expect(await page.locator("#fig-smoother").textContent()).toContain("--smoother-points");
    await page.close();
    expect(errors).toEqual([]);
  });
});
