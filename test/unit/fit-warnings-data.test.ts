import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { scaleDataset } from "../../src/job/scale-dataset.ts";
import { parseScalesJson } from "../../src/io/scales-json.ts";
import { computeDiagnostics } from "../../src/merge/diagnostics.ts";
import { fitWarningInputOf, sharedGroupsPerStill } from "../../src/merge/fit-warning-input.ts";
import { residentRows } from "../../src/observations/observation-windows.ts";
import { computeReferences, type JointRefinementResult } from "../../src/refine/joint-refinement.ts";
import { modelState, pagedCopy, randomObservations, removePaged } from "../fixtures/windowed/observations.ts";

const shared = fileURLToPath(new URL("../../../shared/fixtures/", import.meta.url));
const cunir = join(shared, "real/ssx_CuNiR_test_data");
const tetragonal = join(shared, "sim/tetragonal-40");

function randomResult(): JointRefinementResult {
  const nStills = 6;
  const { obs, outlierRows } = randomObservations(5, {
    nStills,
    nBraggGroups: 400,
    nVoxels: 700,
    maxGroupRows: 4,
    unusable: 0.05,
    outliers: 0.03,
  });
  const state = modelState(Float64Array.from({ length: nStills }, (_, s) => 0.7 + 0.1 * s));
  return {
    includedStills: Int32Array.from({ length: nStills }, (_, s) => s),
    scales: state.scales,
    scaleEsds: state.scales.map((b) => 0.01 * b),
    outlierRows,
    references: computeReferences(obs, state),
    finalState: state,
    observations: obs,
    scalesBeforeRejection: Float64Array.from(state.scales),
  } as unknown as JointRefinementResult;
}

describe("sharedGroupsPerStill", () => {
  it("counts, per still, the groups with ≥ 2 used rows holding a used row of it (once per group), paged alike", async () => {
    const result = randomResult();
    const obs = result.observations;
    const { still, weight } = residentRows(obs);
    const expected = new Array<number>(6).fill(0);
    for (let h = 0; h < obs.nGroups; h++) {
      const members = new Set<number>();
      let n = 0;
      for (let o = obs.groupStart[h]; o < obs.groupStart[h + 1]; o++) {
        if (weight[o] === 0) continue;
        n++;
        members.add(still[o]);
      }
      if (n >= 2) for (const s of members) expected[s]++;
    }
    expect(expected.every((c) => c > 0)).toBe(true);
    expect(sharedGroupsPerStill(result)).toEqual(expected);
    const dir = await mkdtemp(join(tmpdir(), "shared-groups-"));
    const paged = pagedCopy(obs, dir, 37);
    try {
      expect(sharedGroupsPerStill({ ...result, observations: paged })).toEqual(expected);
    } finally {
      removePaged(paged);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("fitWarningInputOf: per-still and per-class numbers from the diagnostics, the error model passed through", () => {
    const result = randomResult();
    const d = computeDiagnostics(result, undefined, undefined);
    const em = {
      bragg: {
        model: "basic" as const,
        a: 1,
        b: 0.02,
        refined: false,
        atBound: false,
        normalisedResidualSd: { before: 1, after: 1 },
      },
    };
    const input = fitWarningInputOf(result, d, em);
    expect(input.stills).toEqual([0, 1, 2, 3, 4, 5]);
    expect(input.nObservations).toEqual(d.perStill.nBragg.map((n, i) => n + d.perStill.nDiffuse[i]));
    expect(input.classes.bragg?.nOutliers).toBe(d.nOutliers.bragg);
    expect(input.classes.diffuse?.nUsed).toBe(d.perStill.nDiffuse.reduce((a, b) => a + b, 0));
    expect(input.classes.diffuse?.residuals?.sd).toBe(d.residuals.diffuse?.sd);
    expect(input.scalesBeforeRejection).toEqual(Array.from(result.scales));
    expect(input.errorModel).toBe(em);
    // counts given (as the diagnostics' pass gathers them) are taken as they are; a list of the wrong length is refused
    const given = sharedGroupsPerStill(result).map((n) => n + 1);
    expect(fitWarningInputOf(result, d, em, given).nSharedGroups).toEqual(given);
    expect(() => fitWarningInputOf(result, d, em, [1, 2])).toThrow(/nSharedGroups has 2 entries for 6 included stills/);
  });
});

describe.skipIf(!existsSync(cunir) || !existsSync(tetragonal))("fit warnings on real and simulated data", () => {
  it("CuNiR (real stills): warns of the Bragg residual sd ≈ 5.5 and of scales that move far when 2 outliers go", async () => {
    const out = await mkdtemp(join(tmpdir(), "warn-cunir-"));
    try {
      const r = await scaleDataset({
        exptPath: join(cunir, "integrated.expt"),
        reflPath: join(cunir, "integrated.refl"),
        outDir: out,
        threads: 1,
      });
      const codes = r.warnings.map((w) => w.code);
      expect(codes).toContain("residual_sd");
      expect(codes).toContain("scales_moved_by_rejection");
      expect(codes).toContain("scales_poorly_determined");
      const sd = r.warnings.find((w) => w.code === "residual_sd")?.message ?? "";
      // the sd with the σ as given: the message's only sd, or its "before" value when an error model ran
      const m = /^Bragg normalised residual sd ([\d.]+)(?: after the error model \(([\d.]+) before\))?/.exec(sd);
      expect(m).not.toBeNull();
      const asGiven = Number(m?.[2] ?? m?.[1]);
      expect(asGiven).toBeGreaterThan(5);
      expect(asGiven).toBeLessThan(6);
      expect(r.warnings.find((w) => w.code === "scales_moved_by_rejection")?.message).toMatch(
        /^rejecting 2 outliers moved/,
      );
      // scales.json holds the same list
      const doc = parseScalesJson(JSON.parse(readFileSync(join(out, "scales.json"), "utf8")), "scales.json");
      expect(doc.warnings).toEqual(r.warnings);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }, 60_000);

  it("tetragonal-40 (σ right): no warning, joint and Bragg-only", async () => {
    const out = await mkdtemp(join(tmpdir(), "warn-tetragonal-"));
    try {
      const paths = { exptPath: join(tetragonal, "stills.expt"), reflPath: join(tetragonal, "stills.refl") };
      const bragg = await scaleDataset({ ...paths, outDir: join(out, "bragg"), threads: 2 });
      expect(bragg.warnings).toEqual([]);
      const joint = await scaleDataset({
        ...paths,
        diffusePath: join(tetragonal, "diffuse_binned.h5"),
        outDir: join(out, "joint"),
        threads: 2,
      });
      expect(joint.warnings).toEqual([]);
      expect(joint.scales.warnings).toEqual([]);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }, 120_000);
});
