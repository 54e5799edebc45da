/**
 * The `scale` job renders `report.html` in the background report worker it starts with the job (the page is
 * `writeReport`'s), into the staging directory before the set is committed; the worker is disposed of on every way
 * out of the job (success, unreadable input, failed refinement, a failure after the report was written), and a
 * failed job leaves the previous output set whole with nothing else in the directory.
 */
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { DiffuseScalingError, InputError, RefinementFailure } from "../../src/errors.ts";
import { verifyOutputSet } from "../../src/io/output-set.ts";
import type { BackgroundReport } from "../../src/job/background-report.ts";
import { scaleDataset } from "../../src/job/scale-dataset.ts";
import { writeReport } from "../../src/report/write-report.ts";
import { dataset, writeDisconnectedReflections, writeSmallData, writeSmallExpt } from "../robustness/small-dataset.ts";
import { stable } from "./stable-report.ts";

/** What the job did with its background report. */
const calls = vi.hoisted(() => ({
  started: 0,
  disposed: 0,
  rendered: [] as string[],
  stagedIn: [] as string[],
  announced: [] as string[],
  failAfterWrite: false,
}));
vi.mock("../../src/job/background-report.ts", async (importOriginal) => {
  const real = await importOriginal<typeof import("../../src/job/background-report.ts")>();
  return {
    ...real,
    startBackgroundReport: (): BackgroundReport => {
      calls.started++;
      const inner = real.startBackgroundReport();
      return {
        mapFollows() {
          calls.announced.push("map follows");
          inner.mapFollows();
        },
        written(dir, file) {
          calls.announced.push(file.name);
          inner.written(dir, file);
        },
        async write(dir, outPath) {
          calls.stagedIn.push(dir);
          const where = await inner.write(dir, outPath);
          calls.rendered.push(where);
          if (calls.failAfterWrite) throw new DiffuseScalingError("test: a failure after the report was written");
          return where;
        },
        dispose() {
          calls.disposed++;
          inner.dispose();
        },
      };
    },
  };
});

let dir = "";
let inputs = { expt: "", refl: "", h5: "" };
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "scale-report-worker-"));
  const expt = join(dir, "small.expt");
  writeSmallExpt(expt);
  const { refl, h5 } = await writeSmallData(dir, "small", dataset());
  inputs = { expt, refl, h5 };
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  Object.assign(calls, { started: 0, disposed: 0, rendered: [], stagedIn: [], announced: [], failAfterWrite: false });
});

/** The job on the small dataset into `out`. */
function scaleSmall(out: string, extra: Partial<Parameters<typeof scaleDataset>[0]> = {}) {
  return scaleDataset({
    exptPath: inputs.expt,
    reflPath: inputs.refl,
    diffusePath: inputs.h5,
    outDir: out,
    threads: 1,
    ...extra,
  });
}

/** The error a promise rejects with (undefined when it resolves). */
function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe("scale job and its background report", () => {
  it("report.html is rendered by the worker, into the staging directory: the page writeReport writes", async () => {
    const out = join(dir, "ok");
    const result = await scaleSmall(out);
    expect(calls).toMatchObject({ started: 1, disposed: 1, rendered: ["worker"] });
    // the worker was told of each output as it was written, in the order they are written
    expect(calls.announced).toEqual(["map follows", "scaled.expt", "merged_diffuse.h5", "refinement.json"]);
    expect(calls.stagedIn).toHaveLength(1);
    expect(calls.stagedIn[0]).not.toBe(out);
    expect(calls.stagedIn[0].startsWith(join(out, "."))).toBe(true);
    expect(result.outputs.report).toBe(join(out, "report.html"));
    expect(await verifyOutputSet(out)).toMatchObject({ complete: true, problems: [] });
    const again = join(dir, "main-thread.html");
    await writeReport(out, { outPath: again });
    const a = await readFile(join(out, "report.html"), "utf8");
    expect(a.length).toBeGreaterThan(10_000);
    expect(stable(a)).toBe(stable(await readFile(again, "utf8")));
  }, 120_000);

  it("every failure disposes of the worker and leaves the previous set whole, nothing else", async () => {
    const out = join(dir, "failures");
    await scaleSmall(out);
    const before = new Map<string, string>();
    for (const name of await readdir(out)) before.set(name, await readFile(join(out, name), "utf8"));
    const expectPrevious = async (): Promise<void> => {
      expect((await readdir(out)).sort()).toEqual([...before.keys()].sort());
      for (const [name, text] of before) expect(await readFile(join(out, name), "utf8"), name).toBe(text);
    };

    // options refused before the job starts: no worker at all
    Object.assign(calls, { started: 0, disposed: 0, rendered: [] });
    expect(await failure(scaleSmall(out, { seed: -1 }))).toBeInstanceOf(Error);
    expect(calls).toMatchObject({ started: 0, disposed: 0 });

    // an unreadable input (read phase)
    expect(await failure(scaleSmall(out, { reflPath: join(dir, "absent.refl") }))).toBeInstanceOf(InputError);
    expect(calls).toMatchObject({ started: 1, disposed: 1, rendered: [] });
    await expectPrevious();

    // refinement fails: two stills that share no observation
    const split = join(dir, "split.refl");
    await writeDisconnectedReflections(split);
    const two = join(dir, "two.expt");
    writeSmallExpt(two, undefined, 2);
    Object.assign(calls, { started: 0, disposed: 0, rendered: [] });
    const refine = await failure(scaleSmall(out, { exptPath: two, reflPath: split, diffusePath: undefined }));
    expect(refine).toBeInstanceOf(RefinementFailure);
    expect(calls).toMatchObject({ started: 1, disposed: 1, rendered: [] });
    await expectPrevious();

    // a failure in the write phase, after the worker rendered the page into the staging directory
    Object.assign(calls, { started: 0, disposed: 0, rendered: [], failAfterWrite: true });
    const write = await failure(scaleSmall(out));
    expect((write as Error).message).toMatch(/after the report was written/);
    expect(calls).toMatchObject({ started: 1, disposed: 1, rendered: ["worker"] });
    await expectPrevious();
  }, 180_000);
});
