/**
 * Valid inputs at the edges of the scale job's cost, each in bounded time with its expected exit code: many
 * observations in one voxel, all-zero Miller indices, many experiments of which few have data, many stills with one
 * observation each (underdetermined: refused by the refinement, exit 1, quickly). The bench runs the same cases at
 * 10^5 (`bench/input-edges.ts`). Setting the scaling model of every experiment (`scaled.expt`) is linear: it once
 * copied the experiment array per call.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseExperiments } from "../../src/io/expt.ts";
import { runMain } from "./cli-in-process.ts";
import { HAVE_TETRA } from "./cli-process.ts";
import { makeEdgeCases, type EdgeCase } from "./input-edge-cases.ts";

let dir = "";
let cases: EdgeCase[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "input-edges-"));
  if (HAVE_TETRA)
    cases = await makeEdgeCases(dir, {
      voxelRows: 3000,
      zeroRows: 3000,
      experiments: 20000,
      stills: 20000,
    });
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Wall-clock bound of one case on a loaded 2-core machine (each takes a few seconds of CPU). */
const BOUND_MS = 90_000;

describe.skipIf(!HAVE_TETRA)("inputs at the edges of the cost, in bounded time", () => {
  const expected: Record<string, { code: number; err: RegExp }> = {
    "one-voxel": { code: 0, err: /^$/ },
    // (0,0,0) rows are excluded (counted): nothing is left to scale
    "zero-hkl": { code: 1, err: /fewer than two stills share observations/ },
    "many-experiments": { code: 0, err: /^$/ },
    "one-observation-per-still": { code: 1, err: /not enough degrees of freedom/ },
  };
  for (const name of Object.keys(expected)) {
    it(
      name,
      async () => {
        const c = cases.find((x) => x.name === name);
        expect(c).toBeDefined();
        const t0 = performance.now();
        const r = await runMain("scale", ...(c?.args ?? []), "--out", join(dir, `out-${name}`), "--quiet");
        expect(performance.now() - t0).toBeLessThan(BOUND_MS);
        expect(r.err).toMatch(expected[name].err);
        expect(r.code).toBe(expected[name].code);
      },
      BOUND_MS + 30_000,
    );
  }
});

describe("the scaling models of 10^5 experiments are set in linear time", () => {
  it("setScalingModel on every one of 100 000 experiments", () => {
    const n = 100_000;
    const list = parseExperiments(
      { __id__: "ExperimentList", experiment: Array.from({ length: n }, (_, i) => ({ identifier: `e${i}` })) },
      "many.expt",
    );
    const t0 = performance.now();
    for (let i = 0; i < n; i++) list.setScalingModel(i, { __id__: "KB", scale: { parameters: [1] } });
    const doc = list.toJSON() as { scaling_model: unknown[] };
    expect(doc.scaling_model).toHaveLength(n);
    // the quadratic version copied 5·10^9 array slots here (minutes)
    expect(performance.now() - t0).toBeLessThan(10_000);
  });
});
