/**
 * The report rendered in a worker thread started ahead of time: the same page as `writeReport` on the main thread
 * (but for its time stamp and its own render time), and the same typed error when the inputs are bad.
 */
import { copyFile, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InputError } from "../../src/errors.ts";
import { startBackgroundReport } from "../../src/job/background-report.ts";
import { writeReport } from "../../src/report/write-report.ts";

const fixtureDir = fileURLToPath(new URL("../fixtures/report/", import.meta.url));
let dir = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "background-report-"));
  await copyFile(join(fixtureDir, "scales.json"), join(dir, "scales.json"));
  await copyFile(join(fixtureDir, "refinement.json"), join(dir, "refinement.json"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The page without what differs between two renders: the time stamp and the report's own seconds. */
function stable(html: string): string {
  return html
    .replace(/generated [0-9T:-]+Z/g, "generated X")
    .replace(/<th>Report<\/th><td>[^<]*<\/td>/g, "<th>Report</th><td>X</td>");
}

describe("startBackgroundReport", () => {
  it("writes the page writeReport writes", async () => {
    const report = startBackgroundReport();
    try {
      expect(await report.write(dir, join(dir, "background.html"))).toBe("worker");
    } finally {
      report.dispose();
    }
    await writeReport(dir, { outPath: join(dir, "main.html") });
    const a = await readFile(join(dir, "background.html"), "utf8");
    const b = await readFile(join(dir, "main.html"), "utf8");
    expect(a.length).toBeGreaterThan(10_000);
    expect(stable(a)).toBe(stable(b));
  });

  it("a missing input is writeReport's own InputError", async () => {
    const empty = await mkdtemp(join(tmpdir(), "background-report-empty-"));
    const report = startBackgroundReport();
    try {
      const err = await report.write(empty, join(empty, "report.html")).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(InputError);
      expect((err as InputError).message).toContain("scales.json");
    } finally {
      report.dispose();
      await rm(empty, { recursive: true, force: true });
    }
  });
});
