import fc from "fast-check";
import { existsSync, fstatSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { diffuseChunkSource } from "../../src/observations/diffuse-input.ts";
import { forEachWindow } from "../../src/observations/observation-windows.ts";
import { BYTES_PER_OBSERVATION } from "../../src/observations/row-columns.ts";
import {
  buildScalingObservations,
  MAX_OBSERVATIONS,
  releaseObservations,
  type BuildScalingObservationsOptions,
  type ScalingObservations,
} from "../../src/observations/scaling-observations.ts";
import { restrictToStills } from "../../src/observations/restrict-stills.ts";
import type { BraggInput, DiffuseChunkSource, DiffuseInput } from "../../src/observations/scaling-input.ts";
import { ConfigError, InputError } from "../../src/errors.ts";
import { seededRandom } from "../../src/merge/seeded-random.ts";
import { binnedRows, COLUMNS, columnBytes, expectSameResident } from "./grouped-rows.ts";

let scratch = "";
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "paged-grouping-test-"));
});
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

/** Paged and resident observations are the same bit for bit. */
function expectIdentical(paged: ScalingObservations, resident: ScalingObservations): void {
  expect(paged.rows.kind).toBe("paged");
  expect(resident.rows.kind).toBe("resident");
  for (const key of ["n", "nStills", "nGroups", "nBraggGroups", "nBraggRows"] as const) {
    expect(paged[key], key).toBe(resident[key]);
  }
  for (const key of ["groupStart", "voxelIndex", "braggHkl", "sourceRow"] as const) {
    expect(Array.from(paged[key]), key).toEqual(Array.from(resident[key]));
  }
  const a = columnBytes(paged);
  const b = columnBytes(resident);
  for (const name of COLUMNS) expect(a[name], name).toEqual(b[name]);
}

interface Case {
  nStills: number;
  bragg: BraggInput | undefined;
  /** Every diffuse row, unusable ones included. */
  diffuse: DiffuseInput;
  /** Whether a chunked source yields the row (the others are skipped, as unusable rows are). */
  keep: Uint8Array;
  /** Chunk boundaries of the chunked source. */
  cuts: number[];
}

/** Random Bragg and diffuse rows in any still order, with non-finite intensities and σ² ≤ 0 among them. */
function makeCase(
  seed: number,
  nStills: number,
  nBragg: number,
  nDiffuse: number,
  nVoxels: number,
  base: number,
): Case {
  const rand = seededRandom(seed);
  const pick = (m: number): number => Math.floor(rand() * m);
  const value = (): number => (rand() < 0.05 ? NaN : 100 * rand() - 5);
  const variance = (): number => (rand() < 0.05 ? 0 : rand() < 0.03 ? -1 : 0.1 + 3 * rand());
  const bragg: BraggInput | undefined =
    nBragg === 0
      ? undefined
      : {
          still: Int32Array.from({ length: nBragg }, () => pick(nStills)),
          asuHkl: Int32Array.from({ length: 3 * nBragg }, () => pick(3) - 1),
          intensity: Float64Array.from({ length: nBragg }, value),
          variance: Float64Array.from({ length: nBragg }, variance),
          qMagnitude: Float64Array.from({ length: nBragg }, () => rand()),
          sourceRow: Int32Array.from({ length: nBragg }, (_, i) => 7 * i + 3),
        };
  const diffuse: DiffuseInput = {
    still: Int32Array.from({ length: nDiffuse }, () => pick(nStills)),
    // a few voxels much fuller than the others, so that some buckets hold one large voxel
    voxel: Float64Array.from(
      { length: nDiffuse },
      () => base + 2 * pick(rand() < 0.3 ? Math.min(3, nVoxels) : nVoxels),
    ),
    intensity: Float64Array.from({ length: nDiffuse }, value),
    variance: Float64Array.from({ length: nDiffuse }, variance),
    qMagnitude: Float64Array.from({ length: nDiffuse }, () => rand()),
    sourceRow: Int32Array.from({ length: nDiffuse }, (_, i) => i),
  };
  const keep = Uint8Array.from({ length: nDiffuse }, () => (rand() < 0.3 ? 0 : 1));
  const cuts = [0];
  while (cuts[cuts.length - 1] < nDiffuse) cuts.push(Math.min(nDiffuse, cuts[cuts.length - 1] + 1 + pick(40)));
  return { nStills, bragg, diffuse, keep, cuts };
}

/** Rows [lo, hi) of `d` that `keep` marks. */
function selectRows(d: DiffuseInput, keep: Uint8Array, lo: number, hi: number): DiffuseInput {
  const rows: number[] = [];
  for (let i = lo; i < hi; i++) if (keep[i]) rows.push(i);
  return {
    still: Int32Array.from(rows, (i) => d.still[i]),
    voxel: Float64Array.from(rows, (i) => d.voxel[i]),
    intensity: Float64Array.from(rows, (i) => d.intensity[i]),
    variance: Float64Array.from(rows, (i) => d.variance[i]),
    qMagnitude: Float64Array.from(rows, (i) => d.qMagnitude[i]),
    sourceRow: Int32Array.from(rows, (i) => d.sourceRow[i]),
  };
}

/** A chunked source that counts voxels from every row and skips the rows `keep` does not mark. */
function skippingSource(c: Case, bounds: readonly [number, number]): DiffuseChunkSource {
  const pieces = c.cuts.slice(0, -1).map((lo, k) => [lo, c.cuts[k + 1]] as const);
  return {
    maxRows: c.diffuse.voxel.length,
    voxelBounds: bounds,
    voxelChunks: () => pieces.map(([lo, hi]) => c.diffuse.voxel.slice(lo, hi)),
    chunks: () => pieces.map(([lo, hi]) => selectRows(c.diffuse, c.keep, lo, hi)),
  };
}

/** Options that force paging with tiny windows, buckets and staging buffers. */
function tiny(windowRows: number, bucketRows: number, stagingRows: number): BuildScalingObservationsOptions {
  return { paged: true, scratchDirectory: scratch, windowRows, bucketRows, stagingRows };
}

const caseArbitrary = fc.record({
  seed: fc.integer({ min: 1, max: 2 ** 30 }),
  nStills: fc.integer({ min: 1, max: 6 }),
  nBragg: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 80 })),
  nDiffuse: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 300 })),
  nVoxels: fc.integer({ min: 1, max: 60 }),
  windowRows: fc.integer({ min: 1, max: 40 }),
  bucketRows: fc.integer({ min: 1, max: 30 }),
  stagingRows: fc.integer({ min: 1, max: 5 }),
  sourceKind: fc.constantFrom("memory", "skipping", "skipping-huge-range"),
});

type CaseParameters = typeof caseArbitrary extends fc.Arbitrary<infer T> ? T : never;

/** Builds the case's observations, paged (tiny buffers) and resident. */
function buildBoth(p: CaseParameters): { paged: ScalingObservations; resident: ScalingObservations; c: Case } {
  const huge = p.sourceKind === "skipping-huge-range";
  const base = huge ? 2 ** 40 : 11;
  const c = makeCase(p.seed, p.nStills, p.nBragg, p.nDiffuse, p.nVoxels, base);
  const diffuse = (): DiffuseInput | DiffuseChunkSource | undefined => {
    if (p.nDiffuse === 0 && p.seed % 2 === 0) return undefined;
    if (p.sourceKind === "memory") return c.diffuse;
    return skippingSource(c, huge ? [0, 2 ** 41] : [base, base + 2 * p.nVoxels]);
  };
  const paged = buildScalingObservations(
    c.nStills,
    c.bragg,
    diffuse(),
    tiny(p.windowRows, p.bucketRows, p.stagingRows),
  );
  const resident = buildScalingObservations(c.nStills, c.bragg, diffuse(), { paged: false });
  return { paged, resident, c };
}

/** One row per voxel given, all of still 0 with unit intensity and variance. */
function rows(voxels: number[]): DiffuseInput {
  return {
    still: Int32Array.from(voxels, () => 0),
    voxel: Float64Array.from(voxels),
    intensity: Float64Array.from(voxels, () => 1),
    variance: Float64Array.from(voxels, () => 1),
    qMagnitude: Float64Array.from(voxels, () => 0.1),
    sourceRow: Int32Array.from(voxels, (_, i) => i),
  };
}

describe("paged grouping (rows in a scratch file)", () => {
  it("gives the resident groups, row order, column bytes and weights, for any input, chunking and buffer sizes", () => {
    fc.assert(
      fc.property(caseArbitrary, (p) => {
        const { paged, resident } = buildBoth(p);
        try {
          expectIdentical(paged, resident);
          if (paged.rows.kind === "paged") expect(paged.rows.windowRows).toBe(p.windowRows);
        } finally {
          releaseObservations(paged);
        }
      }),
      { seed: 42, numRuns: 150 },
    );
  });

  it("restricts to stills inside its file exactly as resident observations are restricted", () => {
    fc.assert(
      fc.property(caseArbitrary, fc.integer({ min: 0, max: 2 ** 30 }), (p, remapSeed) => {
        const { paged, resident, c } = buildBoth(p);
        try {
          const rand = seededRandom(remapSeed);
          const remap = new Int32Array(c.nStills);
          let nKept = 0;
          for (let s = 0; s < c.nStills; s++) remap[s] = rand() < 0.6 ? nKept++ : -1;
          expectIdentical(restrictToStills(paged, remap, nKept), restrictToStills(resident, remap, nKept));
        } finally {
          releaseObservations(paged);
        }
      }),
      { seed: 42, numRuns: 120 },
    );
  });

  it("groups a binned source (unusable rows skipped) through many buckets, staging flushes and windows", () => {
    const nStills = 25;
    const nRows = 6000;
    const data = binnedRows(nStills, nRows, 700, 17, { first: 100, step: 3, unusable: true });
    const paged = buildScalingObservations(
      nStills,
      undefined,
      diffuseChunkSource(data, nStills).source,
      tiny(64, 50, 3),
    );
    const resident = buildScalingObservations(nStills, undefined, diffuseChunkSource(data, nStills).source);
    try {
      expect(resident.n).toBeLessThan(nRows);
      expectIdentical(paged, resident);
      // windows of a paged pass see the rows the resident columns hold
      const seen = new Float32Array(paged.n);
      let windows = 0;
      forEachWindow(paged, (w) => {
        windows++;
        expect(w.rowEnd - w.rowBegin).toBeLessThanOrEqual(64);
        seen.set(w.rows.intensity, w.rowBegin);
      });
      expect(windows).toBeGreaterThan(paged.n / 64);
      expect(new Uint8Array(seen.buffer)).toEqual(columnBytes(resident).intensity);
    } finally {
      releaseObservations(paged);
    }
  });

  it("pages when the columns exceed the memory limit, and holds them in memory otherwise", () => {
    const c = makeCase(5, 3, 20, 200, 30, 0);
    const limit = (c.bragg?.still.length ?? 0) + c.diffuse.voxel.length;
    const build = (options: BuildScalingObservationsOptions): ScalingObservations =>
      buildScalingObservations(3, c.bragg, c.diffuse, { scratchDirectory: scratch, ...options });
    const small = build({ memoryLimitBytes: limit * BYTES_PER_OBSERVATION - 1 });
    const fits = build({ memoryLimitBytes: limit * BYTES_PER_OBSERVATION });
    const forced = build({ memoryLimitBytes: 1, paged: false });
    try {
      expect(small.rows.kind).toBe("paged");
      expect(fits.rows.kind).toBe("resident");
      expect(forced.rows.kind).toBe("resident");
      // the default window: at least 2^16 rows
      if (small.rows.kind === "paged") expect(small.rows.windowRows).toBe(2 ** 16);
      expectIdentical(small, fits);
    } finally {
      releaseObservations(small);
    }
    expect(() => {
      releaseObservations(fits);
    }).not.toThrow();
  });

  it("keeps the scratch file unnamed (nothing to leave behind) and frees it on release", () => {
    const c = makeCase(6, 2, 10, 50, 10, 0);
    const dir = mkdtempSync(join(scratch, "release-"));
    const obs = buildScalingObservations(2, c.bragg, c.diffuse, { ...tiny(8, 8, 2), scratchDirectory: dir });
    if (obs.rows.kind !== "paged") throw new Error("expected paged rows");
    const { path, fd, directory } = obs.rows.file.layout;
    expect(directory).toBe(dir);
    expect(dirname(dirname(path))).toBe(dir);
    // unlinked at creation: the open descriptor holds the data, the directory shows nothing
    expect(readdirSync(dir)).toEqual([]);
    expect(fstatSync(fd).size).toBeGreaterThan(0);
    releaseObservations(obs);
    expect(() => fstatSync(fd)).toThrow();
    expect(existsSync(path)).toBe(false);
  });

  it("leaves no scratch file behind when grouping fails", () => {
    const dir = mkdtempSync(join(scratch, "failing-"));
    const c = makeCase(7, 3, 10, 50, 10, 0);
    const bad: DiffuseInput = { ...c.diffuse, still: c.diffuse.still.map((s, i) => (i === 40 ? 3 : s)) };
    expect(() => buildScalingObservations(3, c.bragg, bad, { ...tiny(8, 8, 2), scratchDirectory: dir })).toThrow(
      /observation \d+: still index 3 outside \[0, 3\)/,
    );
    expect(readdirSync(dir)).toEqual([]);
  });

  it("refuses a scratch directory it cannot write to with an InputError naming it", () => {
    const notADirectory = join(scratch, "plain-file");
    writeFileSync(notADirectory, "x");
    const dir = join(notADirectory, "scratch");
    const c = makeCase(8, 2, 5, 20, 5, 0);
    let error: unknown;
    try {
      buildScalingObservations(2, c.bragg, c.diffuse, { paged: true, scratchDirectory: dir });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).file).toBe(dir);
    expect((error as InputError).message).toContain(dir);
    // resident grouping does not touch the scratch directory
    expect(buildScalingObservations(2, c.bragg, c.diffuse, { paged: false, scratchDirectory: dir }).n).toBe(25);
  });

  it("still refuses, before reading a row, more observations than 32-bit offsets address", () => {
    const never: DiffuseChunkSource = {
      maxRows: MAX_OBSERVATIONS + 1,
      voxelBounds: [0, 10],
      chunks: () => {
        throw new Error("must not be read");
      },
      voxelChunks: () => {
        throw new Error("must not be read");
      },
    };
    for (const paged of [true, false, undefined]) {
      expect(() =>
        buildScalingObservations(2, undefined, never, {
          scratchDirectory: scratch,
          ...(paged === undefined ? {} : { paged }),
        }),
      ).toThrow(
        /2147483648 observations are more than one scaling job holds \(2147483647\); scale the stills in parts/,
      );
    }
  });

  it("refuses, paged or not, rows its voxel pass did not count", () => {
    // counted: voxels 0..1023 once each (buckets of two or more voxels); yielded: voxel 0 in place of voxel 1 (same
    // bucket, which keeps its row count), a voxel never counted, or one row too many
    const counted = Array.from({ length: 1024 }, (_, v) => v);
    const source = (yielded: number[], bounds: readonly [number, number]): DiffuseChunkSource => ({
      maxRows: 1024,
      voxelBounds: bounds,
      voxelChunks: () => [Float64Array.from(counted)],
      chunks: () => [rows(yielded)],
    });
    const variants = [
      counted.map((v) => (v === 1 ? 0 : v)),
      counted.map((v) => (v === 1 ? 2000 : v)),
      [...counted, 1023],
    ];
    for (const paged of [true, false]) {
      for (const bounds of [[0, 4000] as const, [0, 2 ** 41] as const]) {
        const options = { paged, scratchDirectory: scratch };
        const fine = buildScalingObservations(1, undefined, source(counted, bounds), options);
        expect(fine.n).toBe(1024);
        releaseObservations(fine);
        for (const yielded of variants) {
          expect(() => buildScalingObservations(1, undefined, source(yielded, bounds), options)).toThrow(
            "diffuse source yielded rows its voxel pass did not count",
          );
        }
      }
    }
    expect(readdirSync(scratch).filter((name) => name.startsWith("diffuse-scaling-"))).toEqual([]);
  });

  it("refuses invalid paging options", () => {
    for (const options of [{ windowRows: 0 }, { bucketRows: 1.5 }, { stagingRows: -1 }, { memoryLimitBytes: 0 }]) {
      expect(() => buildScalingObservations(1, undefined, undefined, options)).toThrow(ConfigError);
    }
  });
});

describe("diffuse placement in worker threads", () => {
  it("gives the serial groups, row order and column bytes, for any input and chunking, with or without skipped rows", () => {
    fc.assert(
      fc.property(caseArbitrary, fc.integer({ min: 2, max: 3 }), (p, threads) => {
        const huge = p.sourceKind === "skipping-huge-range";
        const base = huge ? 2 ** 40 : 11;
        const c = makeCase(p.seed, p.nStills, p.nBragg, p.nDiffuse, p.nVoxels, base);
        const diffuse = (): DiffuseInput | DiffuseChunkSource =>
          p.sourceKind === "memory" ? c.diffuse : skippingSource(c, huge ? [0, 2 ** 41] : [base, base + 2 * p.nVoxels]);
        const serial = buildScalingObservations(c.nStills, c.bragg, diffuse(), { paged: false });
        const threaded = buildScalingObservations(c.nStills, c.bragg, diffuse(), {
          paged: false,
          threads,
          threadedMinRows: 1,
        });
        expectSameResident(threaded, serial);
      }),
      { seed: 7, numRuns: 12 },
    );
  });

  it("groups a binned source in blocks of rows larger than one placement block exactly as the serial pass", () => {
    const nStills = 40;
    const nRows = 150_000;
    const data = binnedRows(nStills, nRows, 5000, 23, { first: 100, step: 3, unusable: false });
    const build = (options: BuildScalingObservationsOptions): ScalingObservations =>
      buildScalingObservations(nStills, undefined, diffuseChunkSource(data, nStills).source, options);
    const serial = build({});
    expect(serial.n).toBe(nRows);
    expectSameResident(build({ threads: 2, threadedMinRows: 1 }), serial);
    // with unusable rows, ordering (closing the holes) falls back to this thread
    data.sigmas[77] = 0;
    data.intensities[nRows - 3] = NaN;
    const skipped = build({});
    expect(skipped.n).toBe(nRows - 2);
    expectSameResident(build({ threads: 2, threadedMinRows: 1 }), skipped);
  });

  it("refuses rows its voxel pass did not count with the serial pass's error", () => {
    const counted = Array.from({ length: 1024 }, (_, v) => v);
    const source = (yielded: number[]): DiffuseChunkSource => ({
      maxRows: 1024,
      voxelBounds: [0, 4000],
      voxelChunks: () => [Float64Array.from(counted)],
      chunks: () => [rows(yielded)],
    });
    for (const yielded of [counted.map((v) => (v === 1 ? 0 : v)), counted.map((v) => (v === 1 ? 2000 : v))]) {
      expect(() =>
        buildScalingObservations(1, undefined, source(yielded), { paged: false, threads: 2, threadedMinRows: 1 }),
      ).toThrow("diffuse source yielded rows its voxel pass did not count");
    }
  });

  it("refuses invalid thread options", () => {
    for (const options of [{ threads: 0 }, { threadedMinRows: 1.5 }]) {
      expect(() => buildScalingObservations(1, undefined, undefined, options)).toThrow(ConfigError);
    }
  });
});
