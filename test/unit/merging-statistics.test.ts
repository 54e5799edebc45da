/**
 * Bragg merging statistics (src/merge/merging-statistics.ts): the scitbx Mersenne Twister, cctbx's equal-volume
 * binning, the merging arithmetic on a hand-checked data set, and — on the simulated tetragonal-40 fixture after our
 * own Bragg scaling (skipped when ../shared/fixtures is absent) — equality with the table `dials.merge` printed
 * (test/fixtures/merging/dials-merge-tetragonal-40.json, made by make_dials_merge_table.py beside it) to its printed
 * precision, and CC½ per shell to 1e-12.
 */
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { readExperiments } from "../../src/io/expt.ts";
import { readReflections } from "../../src/io/refl-read.ts";
import { scaleDataset } from "../../src/job/scale-dataset.ts";
import { MersenneTwister } from "../../src/merge/mersenne-twister.ts";
import {
  binLimits,
  computeMergingStatistics,
  medianUnitCell,
  mergingStatisticsOfScaledTable,
  type MergingShell,
} from "../../src/merge/merging-statistics.ts";
import type { ScaledIntensities } from "../../src/merge/scaled-intensities.ts";
import { SpaceGroup } from "../../src/symmetry/space-group.ts";

describe("MersenneTwister (scitbx)", () => {
  it("seed s runs MT19937 initialised with s + 1", () => {
    // init_genrand(5489): the reference first outputs of MT19937.
    const g = new MersenneTwister(5488);
    expect([g.nextUint32(), g.nextUint32(), g.nextUint32()]).toEqual([3499211612, 581869302, 3890346734]);
  });
  it("randomDouble is genrand_res53 (numpy RandomState(1).random_sample() for seed 0)", () => {
    const g = new MersenneTwister(0);
    expect(g.randomDouble()).toBe(0.417022004702574);
    expect(g.randomDouble()).toBe(0.7203244934421581);
    expect(g.randomDouble()).toBe(0.00011437481734488664);
  });
});

describe("binLimits", () => {
  it("gives equal reciprocal-space volumes over the widened d*² range", () => {
    const lim = binLimits(10, 20, 2);
    const vol = (x: number) => x ** 1.5;
    const span = 1 / 4 - 1 / 400;
    expect(lim[0]).toBeCloseTo(1 / 400 - span * 1e-6, 15);
    expect(lim[10]).toBeCloseTo(1 / 4 + span * 1e-6, 15);
    const v = (vol(lim[10]) - vol(lim[0])) / 10;
    for (let i = 1; i <= 10; i++) expect(vol(lim[i]) - vol(lim[i - 1])).toBeCloseTo(v, 12);
  });
});

/** A data set in P 1 with a 10 Å cubic cell: observations of (1,0,0), (0,1,0), (0,0,1) and their Friedel mates. */
function tiny(): ScaledIntensities {
  const hkl = [1, 0, 0, -1, 0, 0, 1, 0, 0, 0, 1, 0, 0, -1, 0, 0, 0, 1];
  return {
    hkl: Int32Array.from(hkl),
    intensity: Float64Array.of(100, 110, 90, 50, 70, 30),
    sigma: Float64Array.of(10, 10, 5, 5, 10, 3),
    nRows: 6,
    nScaled: 6,
    nBelowPartiality: 0,
  };
}

describe("computeMergingStatistics", () => {
  it("merges symmetry mates with 1/σ² weights and sums R-factors over groups of two or more", () => {
    const s = computeMergingStatistics(tiny(), [10, 10, 10, 90, 90, 90], SpaceGroup.fromNumber(1), { nBins: 1 });
    expect(s).not.toBeNull();
    const o = (s as { overall: MergingShell }).overall;
    expect(o.nObs).toBe(6);
    expect(o.nUnique).toBe(3);
    expect(o.multiplicity).toBe(2);
    // (1,0,0): 100 (w .01), 110 (w .01), 90 (w .04) → 560/6 = 93.333…, σ = 1/√0.06
    const m1 = (100 * 0.01 + 110 * 0.01 + 90 * 0.04) / 0.06;
    const m2 = (50 * 0.04 + 70 * 0.01) / 0.05;
    const m3 = 30;
    expect(o.meanI).toBeCloseTo((m1 + m2 + m3) / 3, 12);
    expect(o.meanIOverSigma).toBeCloseTo((m1 * Math.sqrt(0.06) + m2 * Math.sqrt(0.05) + 10) / 3, 12);
    const n1 = Math.abs(100 - m1) + Math.abs(110 - m1) + Math.abs(90 - m1);
    const n2 = Math.abs(50 - m2) + Math.abs(70 - m2);
    expect(o.rMerge).toBeCloseTo((n1 + n2) / 420, 12);
    expect(o.rMeas).toBeCloseTo((Math.sqrt(3 / 2) * n1 + Math.sqrt(2) * n2) / 420, 12);
    expect(o.rPim).toBeCloseTo((Math.sqrt(1 / 2) * n1 + n2) / 420, 12);
    // P 1, d ≥ 10 Å: the complete set is (1,0,0), (0,1,0), (0,0,1) (Friedel mates merged).
    expect(o.completeness).toBe(1);
    expect(o.ccHalfN).toBe(2);
  });

  it("returns null when no reflection has two observations", () => {
    const d = tiny();
    const one: ScaledIntensities = {
      ...d,
      hkl: Int32Array.of(1, 0, 0, 0, 1, 0),
      intensity: d.intensity.slice(0, 2),
      sigma: d.sigma.slice(0, 2),
    };
    expect(computeMergingStatistics(one, [10, 10, 10, 90, 90, 90], SpaceGroup.fromNumber(1))).toBeNull();
  });

  it("refuses a bad number of shells", () => {
    expect(() =>
      computeMergingStatistics(tiny(), [10, 10, 10, 90, 90, 90], SpaceGroup.fromNumber(1), { nBins: 0 }),
    ).toThrow(/nBins/);
  });

  it("takes the median cell parameter by parameter", () => {
    expect(
      medianUnitCell([
        [1, 2, 3, 90, 90, 90],
        [3, 2, 1, 90, 91, 90],
        [2, 4, 2, 90, 90, 92],
        [5, 4, 2, 90, 90, 92],
      ]),
    ).toEqual([2.5, 3, 2, 90, 90, 91]);
  });
});

const fixture = fileURLToPath(new URL("../../../shared/fixtures/sim/tetragonal-40/", import.meta.url));
const dialsTable = JSON.parse(
  readFileSync(new URL("../fixtures/merging/dials-merge-tetragonal-40.json", import.meta.url), "utf8"),
) as { table: string[]; cc_half: number[]; cc_half_n: number[]; cc_half_overall_row: number };

/** One shell as dials.merge prints it (iotbx `merging_stats.format`), without the anomalous columns and the `*`. */
function printed(r: MergingShell): string[] {
  return [
    r.dMax.toFixed(2),
    r.dMin.toFixed(2),
    String(r.nObs),
    String(r.nUnique),
    r.multiplicity.toFixed(2),
    (r.completeness * 100).toFixed(2),
    r.meanI.toFixed(1),
    r.meanIOverSigma.toFixed(1),
    r.rMerge.toFixed(3),
    r.rMeas.toFixed(3),
    r.rPim.toFixed(3),
    r.ccHalf.toFixed(3),
  ];
}

describe.skipIf(!existsSync(join(fixture, "stills.refl")))("against dials.merge on tetragonal-40", () => {
  it("equals dials.merge's table to its printed precision after our Bragg scaling", async () => {
    const out = await mkdtemp(join(tmpdir(), "merging-stats-"));
    try {
      await scaleDataset({
        exptPath: join(fixture, "stills.expt"),
        reflPath: join(fixture, "stills.refl"),
        outDir: out,
        threads: 2,
        // the table was made from a run with σ as given (before the error model existed)
        errorModel: "none",
      });
      const refl = join(out, "scaled.refl");
      const stats = mergingStatisticsOfScaledTable(
        await readReflections(refl),
        await readExperiments(join(out, "scaled.expt")),
        refl,
      );
      expect(stats).not.toBeNull();
      if (stats === null) return;
      const rows = dialsTable.table.slice(1).map((line) => line.trim().split(/\s+/));
      expect(rows.length).toBe(stats.shells.length + 1);
      [...stats.shells, stats.overall].forEach((shell, i) => {
        const dials = rows[i].slice(0, 11).concat(rows[i][12].replace("*", ""));
        expect(printed(shell)).toEqual(dials);
      });
      stats.shells.forEach((shell, i) => {
        expect(Math.abs(shell.ccHalf - dialsTable.cc_half[i])).toBeLessThan(1e-12);
        expect(shell.ccHalfN).toBe(dialsTable.cc_half_n[i]);
      });
      expect(Math.abs(stats.overall.ccHalf - dialsTable.cc_half_overall_row)).toBeLessThan(1e-12);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }, 60_000);
});
