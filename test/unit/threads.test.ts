import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { computeReferences, passSourceOf, rejectOutliersAt } from "../../src/refine/joint-refinement.ts";
import { residentRows } from "../../src/observations/observation-windows.ts";
import { rejectOutliersStandardGrouped } from "../../src/dials/outlier-rejection.ts";
import { JointScalingProblem, type JointSmootherSetup } from "../../src/refine/joint-scaling-problem.ts";
import { resolveScalingOptions } from "../../src/refine/scaling-options.ts";
import { scaleDataset } from "../../src/job/scale-dataset.ts";
import { buildScalingObservations } from "../../src/observations/scaling-observations.ts";
import type { DiffuseInput } from "../../src/observations/scaling-input.ts";
import { computeShards, PassMode } from "../../src/passes/pass-payload.ts";
import { JointPassRunner } from "../../src/passes/joint-pass.ts";
import { addLowRankBlocksToDenseUpper, addLowRankToDense } from "../../src/passes/low-rank-operator.ts";
import { symmetrizeUpper } from "../../src/passes/joint-accumulation.ts";
import { shardPartialsExpansion } from "./shard-partials.ts";
import { inverseScalesInRange } from "../../src/passes/inverse-scales.ts";
import type { GroupedColumns } from "../../src/passes/joint-normal-equations.ts";
import { seededRandom } from "../../src/merge/seeded-random.ts";
import { choleskyFactorKernel, choleskyInverseKernel } from "../../src/solve/cholesky.ts";
import { FIVE_POINT_KERNEL } from "../fixtures/kernels/five-point-smoother.ts";

const sim = fileURLToPath(new URL("../../../shared/fixtures/sim/tetragonal-40/", import.meta.url));

/** Random grouped observations: nGroups groups, each seen by up to 8 distinct stills (sorted by still). */
function randomColumns(nStills: number, nGroups: number, seed: number): GroupedColumns {
  const rand = seededRandom(seed);
  const groupStart = [0];
  const still: number[] = [];
  const intensity: number[] = [];
  const weight: number[] = [];
  const q: number[] = [];
  for (let h = 0; h < nGroups; h++) {
    const members = new Set<number>();
    const m = 1 + Math.floor(rand() * 8);
    for (let i = 0; i < m; i++) members.add(Math.floor(rand() * nStills));
    for (const s of [...members].sort((a, b) => a - b)) {
      still.push(s);
      intensity.push(50 + 100 * rand());
      weight.push(rand() < 0.05 ? 0 : 0.1 + rand());
      q.push(0.05 + 0.4 * rand());
    }
    groupStart.push(still.length);
  }
  return {
    groupStart: Int32Array.from(groupStart),
    rows: {
      still: Int32Array.from(still),
      intensity: Float32Array.from(intensity),
      variance: new Float32Array(0),
      weight: Float32Array.from(weight),
      qMagnitude: Float32Array.from(q),
    },
  };
}

const kernel = FIVE_POINT_KERNEL;

function sameBits(a: Float64Array | undefined, b: Float64Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

describe("the dense inverse on the workers", () => {
  it("is bit-identical to the one-thread Cholesky factor and inverse, and rejects a matrix that is not PD", () => {
    // P = 150 stills + 4 free smoother values: five blocks of 32 rows, the last not a multiple of 4
    const nStills = 150;
    const P = nStills + 4;
    const rand = seededRandom(21);
    const b = Float64Array.from({ length: P * P }, () => 2 * rand() - 1);
    const a = new Float64Array(P * P);
    for (let i = 0; i < P; i++) {
      for (let j = 0; j <= i; j++) {
        let s = 0;
        for (let k = 0; k < P; k++) s += b[k * P + i] * b[k * P + j];
        a[i * P + j] = a[j * P + i] = s / P + (i === j ? 1 : 0);
      }
    }
    const l = Float64Array.from(a);
    expect(choleskyFactorKernel(l, P)).toBe(true);
    const expected = choleskyInverseKernel(l, P);
    for (const threads of [1, 2, 3]) {
      const runner = new JointPassRunner(
        randomColumns(nStills, 600, 5),
        nStills,
        { kernel, qMin: 0, qMax: 0.5, nValues: 5 },
        {
          threads,
          dense: true,
          shardRows: 300,
        },
      );
      try {
        expect(runner.threads).toBe(threads);
        expect(sameBits(runner.inversePositiveDefinite(Float64Array.from(a)), expected)).toBe(true);
        const notPd = Float64Array.from(a);
        notPd[100 * P + 100] = -1;
        expect(runner.inversePositiveDefinite(notPd)).toBeUndefined();
        // the shared matrix is free again for passes afterwards
        expect(sameBits(runner.inversePositiveDefinite(Float64Array.from(a)), expected)).toBe(true);
      } finally {
        runner.close();
      }
    }
  });
});

describe("fixed shards", () => {
  it("cut only at group boundaries, cover every group once and depend on the data only", () => {
    const cols = randomColumns(50, 2000, 7);
    const shards = computeShards(cols.groupStart, 500);
    expect(shards[0]).toBe(0);
    expect(shards[shards.length - 1]).toBe(2000);
    for (let k = 0; k + 1 < shards.length; k++) {
      expect(shards[k + 1]).toBeGreaterThan(shards[k]);
      const rows = cols.groupStart[shards[k + 1]] - cols.groupStart[shards[k]];
      // every shard but the last reaches the target, and dropping its last group would fall short
      if (k + 2 < shards.length) {
        expect(rows).toBeGreaterThanOrEqual(500);
        expect(cols.groupStart[shards[k + 1] - 1] - cols.groupStart[shards[k]]).toBeLessThan(500);
      }
    }
    expect(Array.from(computeShards(cols.groupStart, 500))).toEqual(Array.from(shards));
  });
});

describe("grouping (sorted by group, then still, then input row)", () => {
  it("is the same whether the input is already ordered by still (fast path) or shuffled, with large groups", () => {
    const rand = seededRandom(21);
    const n = 5000;
    const rows = Array.from({ length: n }, (_, i) => ({
      still: Math.floor(rand() * 30),
      voxel: 3 * Math.floor(rand() * 40), // ~125 rows per voxel: the large-group path
      I: rand(),
      i,
    }));
    const input = (order: typeof rows): DiffuseInput => ({
      still: Int32Array.from(order, (r) => r.still),
      voxel: Float64Array.from(order, (r) => r.voxel),
      // the intensity carries the input row (exact in float32) so that the order inside a group can be checked
      intensity: Float64Array.from(order, (r) => r.i),
      variance: Float64Array.from(order, () => 1),
      qMagnitude: Float64Array.from(order, () => 0.1),
      sourceRow: Int32Array.from(order, (r) => r.i),
    });
    const byStill = [...rows].sort((a, b) => a.still - b.still || a.i - b.i);
    const sortedObs = buildScalingObservations(30, undefined, input(byStill));
    const shuffledObs = buildScalingObservations(30, undefined, input(rows));
    const sorted = { ...sortedObs, ...residentRows(sortedObs) };
    const shuffled = { ...shuffledObs, ...residentRows(shuffledObs) };
    expect(Array.from(sorted.groupStart)).toEqual(Array.from(shuffled.groupStart));
    expect(Array.from(sorted.still)).toEqual(Array.from(shuffled.still));
    // inside a (group, still) run the rows keep their input order (row index), so the row order is identical
    expect(Array.from(sorted.intensity)).toEqual(Array.from(shuffled.intensity));
    for (let h = 0; h < sorted.nGroups; h++) {
      for (let o = sorted.groupStart[h] + 1; o < sorted.groupStart[h + 1]; o++) {
        expect(sorted.still[o]).toBeGreaterThanOrEqual(sorted.still[o - 1]);
        if (shuffled.still[o] === shuffled.still[o - 1]) {
          expect(shuffled.intensity[o]).toBeGreaterThan(shuffled.intensity[o - 1]);
        }
      }
    }
  });
});

describe("threads 1 and 2 give bit-identical passes", () => {
  const nStills = 40;
  const cols = randomColumns(nStills, 3000, 11);
  const rand = seededRandom(3);
  const scales = Float64Array.from({ length: nStills }, () => 0.6 + 0.8 * rand());
  const values = Float64Array.from([1, 0.9, 1.1, 1.05, 0.95]);
  const smoother = { kernel, qMin: 0, qMax: 0.5, nValues: 5 };

  for (const mode of [PassMode.objective, PassMode.dense, PassMode.lowRank]) {
    it(`mode ${mode}, with the smoother, 11 shards`, () => {
      const results = [1, 2].map((threads) => {
        const runner = new JointPassRunner(cols, nStills, smoother, {
          threads,
          // the lowRank runner may also densify (rows cut into items, each in bands of 5 rows)
          dense: mode !== PassMode.objective,
          lowRank: mode === PassMode.lowRank,
          shardRows: 1200,
          bandRows: 5,
        });
        try {
          expect(runner.threads).toBe(threads);
          expect(runner.nShards).toBeGreaterThan(5);
          const acc = runner.run(mode, scales, values);
          const cache = runner.payload.cache;
          let product: Float64Array | undefined;
          let expanded: Float64Array | undefined;
          let expandedInThread: Float64Array | undefined;
          if (mode === PassMode.lowRank && acc.lowRank !== undefined) {
            expanded = runner.densify(acc.lowRank);
            if (cache !== undefined) {
              // bit for bit the per-shard dense partials added in shard order
              const byShards = shardPartialsExpansion(cache, nStills, 4, runner.payload.shards);
              addLowRankBlocksToDenseUpper(acc.lowRank, nStills, 4, byShards);
              symmetrizeUpper(byShards, nStills + 4);
              expect(sameBits(expanded, byShards)).toBe(true);
            }
            // the reference: the whole expansion in one sequential sweep (equal to rounding, not bit for bit)
            expandedInThread = new Float64Array((nStills + 4) ** 2);
            if (cache !== undefined) addLowRankToDense(acc.lowRank, cache, nStills, 4, expandedInThread);
          }
          if (mode === PassMode.lowRank) {
            // the operator's group terms, also sharded and reduced in order
            const x = Float64Array.from({ length: nStills + 4 }, (_, i) => Math.sin(i + 1));
            product = new Float64Array(nStills + 4);
            runner.addGroupProduct(x, product);
          }
          return { acc, pairA: cache?.pairA.slice(), pairV: cache?.pairV.slice(), product, expanded, expandedInThread };
        } finally {
          runner.close();
        }
      });
      const [one, two] = results;
      expect(Object.is(one.acc.objective, two.acc.objective)).toBe(true);
      expect(one.acc.nObservations).toBe(two.acc.nObservations);
      expect(Object.is(one.acc.rNumerator, two.acc.rNumerator)).toBe(true);
      expect(sameBits(one.acc.gradient, two.acc.gradient)).toBe(true);
      expect(sameBits(one.acc.matrix, two.acc.matrix)).toBe(true);
      expect(sameBits(one.acc.lowRank?.diagonal, two.acc.lowRank?.diagonal)).toBe(true);
      expect(sameBits(one.acc.lowRank?.thetaSmoother, two.acc.lowRank?.thetaSmoother)).toBe(true);
      expect(sameBits(one.pairA, two.pairA)).toBe(true);
      expect(sameBits(one.pairV, two.pairV)).toBe(true);
      expect(sameBits(one.product, two.product)).toBe(true);
      expect(sameBits(one.expanded, two.expanded)).toBe(true);
      if (mode === PassMode.lowRank) {
        expect(one.product?.some((v) => v !== 0)).toBe(true);
        const e = one.expanded ?? new Float64Array(0);
        const ref = one.expandedInThread ?? new Float64Array(1);
        expect(e.length).toBe(ref.length);
        const scale = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        for (let i = 0; i < e.length; i++) expect(Math.abs(e[i] - ref[i])).toBeLessThanOrEqual(1e-12 * scale);
      }
      expect(one.acc.objective).toBeGreaterThan(0);
    });
  }

  it("a runner without the shared dense matrix expands the same matrix in this thread", () => {
    const expanded = [true, false].map((dense) => {
      const runner = new JointPassRunner(cols, nStills, smoother, {
        threads: 2,
        dense,
        lowRank: true,
        shardRows: 1200,
        bandRows: 5,
      });
      try {
        const sums = runner.run(PassMode.lowRank, scales, values).lowRank;
        if (sums === undefined) throw new Error("no low-rank sums");
        return runner.densify(sums);
      } finally {
        runner.close();
      }
    });
    expect(expanded[1].some((v) => v !== 0)).toBe(true);
    expect(sameBits(expanded[1], expanded[0])).toBe(true);
  });
});

describe.skipIf(!existsSync(sim))("scaleDataset with threads 1 and 2", () => {
  it("writes identical scales.json (minus timings) and bit-identical refined values (tetragonal-40, small shards)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "threads-"));
    try {
      const runs = [];
      for (const threads of [1, 2]) {
        const outDir = join(dir, `t${threads}`);
        const result = await scaleDataset({
          exptPath: join(sim, "stills.expt"),
          reflPath: join(sim, "stills.refl"),
          diffusePath: join(sim, "diffuse_binned.h5"),
          smootherPoints: 3,
          outDir,
          threads,
          shardRows: 2000,
        });
        const json = JSON.parse(await readFile(join(outDir, "scales.json"), "utf8")) as Record<string, unknown>;
        runs.push({ result, json });
      }
      const [one, two] = runs;
      expect((one.json.timings as { threads: number }).threads).toBe(1);
      expect((two.json.timings as { threads: number }).threads).toBe(2);
      delete one.json.timings;
      delete two.json.timings;
      expect(JSON.stringify(two.json)).toBe(JSON.stringify(one.json));
      const a = one.result.refinement.details;
      const b = two.result.refinement.details;
      expect(sameBits(a.scales, b.scales)).toBe(true);
      expect(sameBits(a.scaleEsds, b.scaleEsds)).toBe(true);
      expect(sameBits(a.smootherValues, b.smootherValues)).toBe(true);
      expect(a.statistics.nIterations).toBe(b.statistics.nIterations);
      expect(a.statistics.nIterations).toBeGreaterThan(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("the outlier step over the shards", () => {
  it("equals the serial window pass and the DIALS grouped search, bit for bit, with 1 and 2 threads", () => {
    const nStills = 30;
    const rand = seededRandom(21);
    const n = 40000;
    const truth = Float64Array.from({ length: nStills }, () => 0.5 + rand());
    const still = Int32Array.from({ length: n }, (_, i) => Math.floor((i * nStills) / n));
    const voxel = Float64Array.from({ length: n }, () => Math.floor(rand() * 900));
    const intensity = Float64Array.from(still, (s, i) => {
      const value = truth[s] * (50 + (voxel[i] % 37)) + 3 * (rand() - 0.5);
      return i % 501 === 7 ? value * 4 : value; // a few gross outliers
    });
    const input: DiffuseInput = {
      still,
      voxel,
      intensity,
      variance: Float64Array.from({ length: n }, () => 1 + rand()),
      qMagnitude: Float64Array.from({ length: n }, () => 0.05 + 0.4 * rand()),
      sourceRow: Int32Array.from({ length: n }, (_, i) => i),
    };
    const smoother: JointSmootherSetup = {
      kernel,
      qMin: 0,
      qMax: 0.5,
      initialValues: Float64Array.from([1, 0.9, 1.1, 1.05, 0.95]),
      restraintWeight: 0,
    };
    const results = [1, 2].map((threads) => {
      const obs = buildScalingObservations(nStills, undefined, input);
      const problem = new JointScalingProblem(
        passSourceOf(obs),
        truth,
        smoother,
        resolveScalingOptions({ threads, shardRows: 3000 }),
      );
      try {
        const counts = problem.rejectOutliers(6);
        const state = problem.modelState();
        const rows = residentRows(obs);
        // the serial window pass on a fresh grouping, and the framework's grouped DIALS standard search
        const serial = buildScalingObservations(nStills, undefined, input);
        const serialCounts = rejectOutliersAt(serial, state, 6);
        expect(sameBits(Float64Array.from(residentRows(serial).weight), Float64Array.from(rows.weight))).toBe(true);
        expect(serialCounts).toEqual(counts);
        const g = new Float32Array(obs.n);
        inverseScalesInRange(state, rows.still, rows.qMagnitude, 0, obs.n, g);
        const usable = Uint8Array.from(rows.variance, (v) => (v > 0 ? 1 : 0));
        const expected = rejectOutliersStandardGrouped({ groupStart: obs.groupStart, ...rows }, usable, g, { zmax: 6 });
        const outliers = Int32Array.from(Array.from(rows.weight.keys()).filter((o) => rows.weight[o] === 0));
        expect(Array.from(outliers)).toEqual(Array.from(expected));
        expect(counts.nOutliers).toBe(expected.length);
        expect(counts.nChanged).toBe(expected.length);
        // a second step at the same scales finds the same set: nothing changes
        expect(problem.rejectOutliers(6)).toEqual({ nOutliers: expected.length, nChanged: 0, nFlipped: 0 });
        // g of every row and the groups' references from the same pass: those of the serial window pass
        const at = problem.inverseScalesAndReferences();
        const refs = computeReferences(serial, state);
        expect(sameBits(Float64Array.from(at?.inverseScales ?? []), Float64Array.from(g))).toBe(true);
        expect(sameBits(at?.references.intensity, refs.intensity)).toBe(true);
        expect(sameBits(at?.references.sigma, refs.sigma)).toBe(true);
        expect(Array.from(at?.references.nObservations ?? [])).toEqual(Array.from(refs.nObservations));
        expect(refs.nObservations.some((n) => n > 1)).toBe(true);
        return { weight: Float64Array.from(rows.weight), outliers };
      } finally {
        problem.close();
      }
    });
    expect(results[0].outliers.length).toBeGreaterThan(40);
    expect(Array.from(results[1].outliers)).toEqual(Array.from(results[0].outliers));
    expect(sameBits(results[1].weight, results[0].weight)).toBe(true);
  });
});
