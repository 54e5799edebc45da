import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { refineJointScaling, type JointRefinementResult } from "../../src/refine/joint-refinement.ts";
import type { JointSmootherSetup } from "../../src/refine/joint-scaling-problem.ts";
import { releaseObservations } from "../../src/observations/scaling-observations.ts";
import type { BraggInput, DiffuseInput } from "../../src/observations/scaling-input.ts";
import { seededRandom } from "../../src/merge/seeded-random.ts";
import { scaleDataset } from "../../src/job/scale-dataset.ts";
import { simulateDataset } from "../../src/simulate/simulate-dataset.ts";

const scratch = mkdtempSync(join(tmpdir(), "paged-refinement-"));
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

function smootherSetup(): JointSmootherSetup {
  return {
    kernel: {
      nValues: 3,
      x0: 0,
      spacing: 0.25,
      sigma: 0.5,
      nAverage: 3,
      positions: Float64Array.from([0, 1, 2]),
    },
    qMin: 0,
    qMax: 0.5,
    initialValues: Float64Array.from([1, 1, 1]),
    restraintWeight: 1,
  };
}

/** Bragg + diffuse data with true scales, a resolution trend, unusable rows and gross outliers. */
function jointCase(nStills: number, seed: number): { bragg: BraggInput; diffuse: DiffuseInput } {
  const rand = seededRandom(seed);
  const truth = Float64Array.from({ length: nStills }, () => 0.5 + rand());
  const bStill: number[] = [];
  const hkl: number[] = [];
  const bI: number[] = [];
  const bV: number[] = [];
  const bQ: number[] = [];
  for (let r = 0; r < 400; r++) {
    const ref = 1000 + 5000 * rand();
    const q = 0.05 + 0.4 * rand();
    for (let j = 0; j < 2 + Math.floor(rand() * 5); j++) {
      const s = Math.floor(rand() * nStills);
      const mean = truth[s] * (1 - 0.5 * q) * ref;
      bStill.push(s);
      hkl.push(r % 17, Math.floor(r / 17), 1);
      bI.push(mean + Math.sqrt(mean) * (rand() - 0.5));
      bV.push(mean);
      bQ.push(q);
    }
  }
  const dStill: number[] = [];
  const voxel: number[] = [];
  const dI: number[] = [];
  const dV: number[] = [];
  const dQ: number[] = [];
  for (let v = 0; v < 3000; v++) {
    const ref = 50 + 200 * rand();
    const qv = 0.05 + 0.4 * rand();
    for (let j = 0; j < 2 + Math.floor(rand() * 8); j++) {
      const s = Math.floor(rand() * nStills);
      const q = qv * (0.8 + 0.4 * rand());
      const mean = truth[s] * (1 - 0.5 * q) * ref;
      const sigma = Math.sqrt(mean) + 1;
      dStill.push(s);
      // rows in a shuffled voxel order (grouping sorts them), some unusable, some gross outliers
      voxel.push((v * 7919) % 3000);
      dI.push((mean + sigma * (rand() - 0.5)) * (dStill.length % 211 === 3 ? 6 : 1));
      dV.push(dStill.length % 157 === 9 ? 0 : sigma * sigma);
      dQ.push(q);
    }
  }
  return {
    bragg: {
      still: Int32Array.from(bStill),
      asuHkl: Int32Array.from(hkl),
      intensity: Float64Array.from(bI),
      variance: Float64Array.from(bV),
      qMagnitude: Float64Array.from(bQ),
      sourceRow: Int32Array.from(bStill, (_, i) => i),
    },
    diffuse: {
      still: Int32Array.from(dStill),
      voxel: Float64Array.from(voxel),
      intensity: Float64Array.from(dI),
      variance: Float64Array.from(dV),
      qMagnitude: Float64Array.from(dQ),
      sourceRow: Int32Array.from(dStill, (_, i) => i),
    },
  };
}

function bits(a: Float64Array | Float32Array | Int32Array | undefined): string {
  if (a === undefined) return "";
  return Buffer.from(Float64Array.from(a).buffer).toString("hex");
}

/** Everything the refinement reports, as exact bit patterns. */
function fingerprint(r: JointRefinementResult): Record<string, string> {
  return {
    included: bits(r.includedStills),
    scales: bits(r.scales),
    esds: bits(r.scaleEsds),
    covariance: bits(r.covariance),
    smoother: bits(r.smootherValues),
    smootherEsds: bits(r.smootherEsds),
    outliers: bits(r.outlierRows),
    refI: bits(r.references.intensity),
    refSigma: bits(r.references.sigma),
    refN: bits(r.references.nObservations),
    groupStart: bits(r.observations.groupStart),
    statistics: JSON.stringify(r.statistics),
    history: JSON.stringify(r.history.map((h) => ({ ...h, seconds: 0 }))),
  };
}

describe("refinement of paged observations", () => {
  const nStills = 60;
  const { bragg, diffuse } = jointCase(nStills, 31);
  // two stills without rows: the observations are restricted to the connected stills (in place, also when paged)
  const setup = { nStills: nStills + 2, initialScales: new Map<number, number>(), smoother: smootherSetup() };
  const base = { outlierZmax: 6, maxCycles: 3, shardRows: 2000 };
  const cases: [string, Record<string, unknown>][] = [
    ["dense", {}],
    ["matrix-free (PCG)", { iterativeAbove: 10 }],
  ];
  for (const [name, extra] of cases) {
    for (const threads of [1, 2]) {
      it(`gives the resident result bit for bit: ${name}, ${threads} thread(s)`, () => {
        const resident = refineJointScaling(setup, bragg, diffuse, { ...base, ...extra, threads });
        const paged = refineJointScaling(setup, bragg, diffuse, {
          ...base,
          ...extra,
          threads,
          grouping: { paged: true, scratchDirectory: scratch, windowRows: 700 },
        });
        try {
          expect(resident.observations.rows.kind).toBe("resident");
          expect(paged.observations.rows.kind).toBe("paged");
          expect(paged.inverseScales).toBeUndefined();
          expect(resident.outlierRows.length).toBeGreaterThan(10);
          expect(resident.statistics.nCycles).toBeGreaterThan(1);
          expect(resident.includedStills.length).toBe(nStills);
          expect(fingerprint(paged)).toEqual(fingerprint(resident));
        } finally {
          releaseObservations(paged.observations);
        }
      });
    }
  }

  it("leaves no scratch files behind once released", () => {
    expect(existsSync(scratch)).toBe(true);
    expect(readdirSync(scratch)).toEqual([]);
  });
});

describe("scaleDataset with observations larger than the memory limit", () => {
  it("pages them and writes byte-identical outputs (but for timings), leaving no scratch file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "paged-job-"));
    try {
      const sim = await simulateDataset({
        outDir: join(dir, "sim"),
        stills: 12,
        observationsPerStill: 8000,
        seed: 7,
        smootherAmp: 0.1,
      });
      const common = {
        exptPath: sim.outputs.expt,
        reflPath: sim.outputs.refl,
        diffusePath: sim.outputs.diffuse,
        smootherPoints: 3,
        threads: 2,
        shardRows: 20000,
      };
      const resident = await scaleDataset({ ...common, outDir: join(dir, "resident") });
      const scratchDirectory = join(dir, "scratch");
      mkdirSync(scratchDirectory);
      // ~100 000 observations need ~2 MB grouped: a 1 MB limit pages them
      const paged = await scaleDataset({
        ...common,
        outDir: join(dir, "paged"),
        memoryLimitBytes: 2 ** 20,
        scratchDirectory,
      });
      expect(resident.refinement.details.observations.rows.kind).toBe("resident");
      expect(paged.refinement.details.observations.rows.kind).toBe("paged");
      expect(readdirSync(scratchDirectory)).toEqual([]);
      const withoutTimings = (doc: object): string => JSON.stringify({ ...doc, timings: undefined });
      expect(withoutTimings(paged.scales)).toBe(withoutTimings(resident.scales));
      expect(paged.scales.refinement_statistics.n_iterations).toBeGreaterThan(0);
      for (const file of ["scaled.refl", "merged_diffuse.h5"]) {
        expect(readFileSync(join(dir, "paged", file)).equals(readFileSync(join(dir, "resident", file)))).toBe(true);
      }
      const refinementDoc = (out: string): string =>
        readFileSync(join(dir, out, "refinement.json"), "utf8").replace(/"seconds": [0-9.e+-]+/g, '"seconds": 0');
      expect(refinementDoc("paged")).toBe(refinementDoc("resident"));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120000);
});
