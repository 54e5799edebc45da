/**
 * The report at the edges: a refinement history of 200 000 entries renders in bounded time with a bounded history
 * plot; inputs larger than the report reads are refused (required documents) or left out with a message (map,
 * scaled reflections) from their size alone, before anything is read; a `--slice` that is not a plane exits 2 naming
 * it. Files larger than the limits are sparse, so they cost no disk or time.
 */
import { copyFile, mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InputError } from "../../src/errors.ts";
import { MAX_HISTORY_POINTS } from "../../src/report/history-steps.ts";
import { REPORT_INPUT_LIMITS } from "../../src/report/report-inputs.ts";
import { readReportData, writeReport } from "../../src/report/write-report.ts";
import { runMain } from "./cli-in-process.ts";

const fixtures = new URL("../fixtures/report/", import.meta.url);

async function sparseFile(path: string, bytes: number): Promise<void> {
  const fh = await open(path, "w");
  await fh.truncate(bytes);
  await fh.close();
}

describe("report limits", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "report-limits-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function runDir(name: string): Promise<string> {
    const d = join(dir, name);
    await rm(d, { recursive: true, force: true });
    await (await import("node:fs/promises")).mkdir(d);
    await copyFile(new URL("scales.json", fixtures), join(d, "scales.json"));
    await copyFile(new URL("refinement.json", fixtures), join(d, "refinement.json"));
    return d;
  }

  it("draws a history of 200 000 iterations as at most 2 001 points, in bounded time", async () => {
    const d = await runDir("long-history");
    const doc = JSON.parse(await readFile(join(d, "refinement.json"), "utf8")) as { history: object[] };
    const n = 200_000;
    const h = doc.history;
    doc.history = Array.from({ length: n }, (_, i) => ({ ...h[i % h.length], iteration: i }));
    await writeFile(join(d, "refinement.json"), JSON.stringify(doc));
    const start = performance.now();
    const r = await writeReport(d);
    expect((performance.now() - start) / 1000).toBeLessThan(90);
    const html = await readFile(r.path, "utf8");
    const fig = /<figure class="plot" id="fig-history">[\s\S]*?<\/figure>/.exec(html)?.[0] ?? "";
    expect(fig).toContain(
      `each of the ${n} recorded iterations (every ${n / MAX_HISTORY_POINTS}th drawn, and the last)`,
    );
    // one point symbol per drawn iteration on each line (R-factor, χ²): 2 × 2 001, not 2 × 200 000
    const symbols = (fig.match(/transform="translate\(/g) ?? []).length;
    expect(symbols).toBeGreaterThanOrEqual(2 * MAX_HISTORY_POINTS);
    expect(symbols).toBeLessThan(2 * MAX_HISTORY_POINTS + 200); // plus the axes' tick groups
    expect(fig.length).toBeLessThan(2_000_000);
  }, 120_000);

  it("refuses a refinement.json larger than the limit before reading it", async () => {
    const d = await runDir("huge-json");
    await sparseFile(join(d, "refinement.json"), REPORT_INPUT_LIMITS.jsonBytes + 1);
    const start = performance.now();
    const err = await readReportData(d).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/refinement\.json: \d+ bytes is larger than the report reads/);
    expect(performance.now() - start).toBeLessThan(5000);
  });

  it("leaves out a merged map and scaled reflections larger than the limits, saying why", async () => {
    const d = await runDir("huge-map");
    const doc = JSON.parse(await readFile(join(d, "refinement.json"), "utf8")) as { inputs: { diffuse: string } };
    expect(doc.inputs.diffuse).not.toBeNull();
    await sparseFile(join(d, "merged_diffuse.h5"), REPORT_INPUT_LIMITS.mapBytes + 1);
    await sparseFile(join(d, "scaled.refl"), REPORT_INPUT_LIMITS.reflBytes + 1);
    await writeFile(join(d, "scaled.expt"), "{}");
    const data = await readReportData(d);
    expect(data.map).toEqual({
      absent: expect.stringMatching(/merged_diffuse\.h5 has 1024 MiB, more than the report reads/) as unknown,
    });
    expect(data.merging).toEqual({
      absent: expect.stringMatching(/scaled\.refl has 1024 MiB, more than the report reads/) as unknown,
    });
  });

  it("does not show a merged map left by an earlier run in a Bragg-only run's directory", async () => {
    const d = await runDir("stale-map");
    const doc = JSON.parse(await readFile(join(d, "refinement.json"), "utf8")) as {
      inputs: { diffuse: string | null };
    };
    doc.inputs.diffuse = null;
    await writeFile(join(d, "refinement.json"), JSON.stringify(doc));
    await writeFile(join(d, "merged_diffuse.h5"), "not read");
    const data = await readReportData(d);
    expect(data.map).toEqual({ absent: "This run had no diffuse data (scale with --diffuse)." });
  });

  it("exits 2 naming a --slice that is not a plane, before reading anything", async () => {
    const d = await runDir("bad-slice");
    for (const [slice, why] of [
      ["h,k", "expected three comma-separated entries"],
      ["h,k,l", "one entry must be a number"],
      ["k,h,0", 'entry 1 must be "h" or a number'],
      ["1,2,l", "only one entry may be a number"],
    ]) {
      const r = await runMain("report", d, "--quiet", "--slice", slice);
      expect(r.code).toBe(2);
      expect(r.err).toContain(`slice "${slice}": ${why}`);
      expect(r.err.trim().split("\n")).toHaveLength(1);
    }
    const many = ["h,k,1", "h,k,2", "h,k,3", "h,k,4", "h,k,5"].flatMap((s) => ["--slice", s]);
    const r = await runMain("report", d, "--quiet", ...many);
    expect(r.code).toBe(2);
    expect(r.err).toContain("at most 4 extra slices, got 5");
  });
});
