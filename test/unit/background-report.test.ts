/**
 * The report rendered in a worker thread started ahead of time: the same page as `writeReport` on the main thread
 * (but for its time stamp and its own render time), and the same typed error when the inputs are bad; also from a
 * worker thread started from the TypeScript sources (as the CLI's job thread), and never waited for once its worker
 * has ended.
 */
import { copyFile, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { InputError } from "../../src/errors.ts";
import { startBackgroundReport } from "../../src/job/background-report.ts";
import { writeReport } from "../../src/report/write-report.ts";
import { siblingWorkerEntry } from "../../src/runtime/worker-pool.ts";
import { stable } from "./stable-report.ts";

/** When set, the report worker's entry is a thread that ends at once (a worker that failed to start). */
const entry = vi.hoisted(() => ({ endAtOnce: false }));
vi.mock("../../src/runtime/worker-pool.ts", async (importOriginal) => {
  const real = await importOriginal<typeof import("../../src/runtime/worker-pool.ts")>();
  return {
    ...real,
    siblingWorkerEntry: (baseUrl: string, name: string) =>
      entry.endAtOnce && name === "report-worker"
        ? { kind: "eval" as const, code: "process.exit(0)" }
        : real.siblingWorkerEntry(baseUrl, name),
  };
});

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

  it("renders in its worker when started inside a worker thread from the TypeScript sources (the CLI's job thread)", async () => {
    const outPath = join(dir, "nested.html");
    const probe = siblingWorkerEntry(import.meta.url, "background-report-probe");
    expect(probe.kind).toBe("eval");
    if (probe.kind !== "eval") return;
    const worker = new Worker(probe.code, { eval: true, workerData: { dir, outPath } });
    try {
      const reply = await new Promise<Record<string, unknown>>((resolve) => {
        worker.once("message", resolve);
        worker.once("error", (e) => {
          resolve({ error: String(e) });
        });
        worker.once("exit", (code) => {
          resolve({ error: `the probe thread ended with code ${code} without its answer` });
        });
      });
      // the modules of such a thread are loaded by tsx's tsImport, with a query after `.ts`
      expect(reply).toMatchObject({ where: "worker", url: expect.stringMatching(/\.ts\?tsx-namespace=/) as unknown });
    } finally {
      await worker.terminate();
    }
    await writeReport(dir, { outPath: join(dir, "main-2.html") });
    const a = await readFile(outPath, "utf8");
    expect(stable(a)).toBe(stable(await readFile(join(dir, "main-2.html"), "utf8")));
  });

  it("a worker that ended before write() is not waited for: the page is rendered on this thread", async () => {
    entry.endAtOnce = true;
    const report = startBackgroundReport();
    entry.endAtOnce = false;
    try {
      // time for the ended worker's exit to reach this thread (write() must not wait for an answer that never comes)
      await new Promise((r) => setTimeout(r, 1000));
      expect(await report.write(dir, join(dir, "fallback.html"))).toBe("main thread");
    } finally {
      report.dispose();
    }
    expect((await readFile(join(dir, "fallback.html"), "utf8")).length).toBeGreaterThan(10_000);
  });
});

describe("siblingWorkerEntry", () => {
  it("finds the .ts sibling of a module loaded by tsx's tsImport (a query after .ts), without the query", () => {
    const base = new URL("../../src/job/background-report.ts?tsx-namespace=1234", import.meta.url).href;
    const e = siblingWorkerEntry(base, "report-worker");
    expect(e.kind).toBe("eval");
    if (e.kind !== "eval") return;
    const target = new URL("../../src/job/report-worker.ts", import.meta.url).href;
    expect(e.code).toContain(JSON.stringify(target));
    expect(e.code).not.toContain("tsx-namespace");
    // built modules run their sibling's .js directly
    const built = siblingWorkerEntry("file:///opt/pkg/dist/job/background-report.js", "report-worker");
    expect(built).toEqual({ kind: "module", url: new URL("file:///opt/pkg/dist/job/report-worker.js") });
  });
});
