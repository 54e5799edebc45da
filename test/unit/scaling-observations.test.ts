import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { diffuseChunkSource, type BinnedPixelData } from "../../src/observations/diffuse-input.ts";
import { residentRows } from "../../src/observations/observation-windows.ts";
import {
  buildScalingObservations,
  MAX_OBSERVATIONS,
  type ScalingObservations,
} from "../../src/observations/scaling-observations.ts";
import { restrictToStills } from "../../src/observations/restrict-stills.ts";
import {
  singleChunkSource,
  type BraggInput,
  type DiffuseChunkSource,
  type DiffuseInput,
} from "../../src/observations/scaling-input.ts";
import { openBinnedDiffuse, writeBinnedDiffuse } from "../../src/io/binned-diffuse.ts";
import { usableMemory } from "../../src/runtime/usable-memory.ts";
import { seededRandom } from "../../src/merge/seeded-random.ts";
import { ConfigError } from "../../src/errors.ts";

const nStills = 25;
const nRows = 5000;

/** Rows written still by still (as files are), voxels spread over [100, 100 + 3·400). */
function pixelData(seed: number): BinnedPixelData {
  const rand = seededRandom(seed);
  const still = Int32Array.from({ length: nRows }, (_, i) => Math.floor((i * nStills) / nRows));
  return {
    stillIds: still,
    voxelIndices: Float64Array.from({ length: nRows }, () => 100 + 3 * Math.floor(rand() * 400)),
    intensities: Float32Array.from({ length: nRows }, (_, i) => (i % 97 === 5 ? NaN : 10 + 90 * rand())),
    sigmas: Float32Array.from({ length: nRows }, (_, i) => (i % 89 === 3 ? 0 : 1 + rand())),
    qVectors: Float32Array.from({ length: 3 * nRows }, () => rand() - 0.5),
  };
}

/** The same rows as in-memory input, one row at a time (reference: every row checked individually). */
function expectedRows(data: BinnedPixelData): Map<number, [number, number, number, number][]> {
  const byVoxel = new Map<number, [number, number, number, number][]>();
  for (let i = 0; i < nRows; i++) {
    const I = data.intensities[i];
    const s = data.sigmas[i];
    if (!Number.isFinite(I) || !(s > 0)) continue;
    const q = data.qVectors.subarray(3 * i, 3 * i + 3);
    const row: [number, number, number, number] = [
      data.stillIds[i],
      I,
      Math.fround(s * s),
      Math.fround(Math.sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2])),
    ];
    const v = data.voxelIndices[i];
    byVoxel.set(v, [...(byVoxel.get(v) ?? []), row]);
  }
  return byVoxel;
}

function rowsOf(obs: ScalingObservations, h: number): [number, number, number, number][] {
  const out: [number, number, number, number][] = [];
  const { still, intensity, variance, qMagnitude } = residentRows(obs);
  for (let o = obs.groupStart[h]; o < obs.groupStart[h + 1]; o++) {
    out.push([still[o], intensity[o], variance[o], qMagnitude[o]]);
  }
  return out;
}

function sameObservations(a: ScalingObservations, b: ScalingObservations): void {
  expect(a.n).toBe(b.n);
  expect(Array.from(a.groupStart)).toEqual(Array.from(b.groupStart));
  expect(Array.from(a.voxelIndex)).toEqual(Array.from(b.voxelIndex));
  expect(a.nBraggRows).toBe(b.nBraggRows);
  for (const key of ["still", "intensity", "variance", "weight", "qMagnitude"] as const) {
    expect(Array.from(residentRows(a)[key])).toEqual(Array.from(residentRows(b)[key]));
  }
}

describe("grouping diffuse rows from a chunked source", () => {
  const data = pixelData(3);
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "scaling-obs-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("puts every usable row in its voxel, in still order, float32 columns, and counts the unusable ones", () => {
    const { source, counts } = diffuseChunkSource(data, nStills);
    const obs = buildScalingObservations(nStills, undefined, source);
    const expected = expectedRows(data);
    expect(counts.nRows).toBe(nRows);
    expect(counts.nUsed).toBe(obs.n);
    expect(counts.nNonFiniteIntensity + counts.nBadSigma).toBe(nRows - obs.n);
    expect(counts.nNonFiniteIntensity).toBeGreaterThan(0);
    expect(counts.nBadSigma).toBeGreaterThan(0);
    const rows = residentRows(obs);
    expect(rows.intensity).toBeInstanceOf(Float32Array);
    expect(obs.nBraggRows).toBe(0);
    expect(obs.nGroups).toBe(expected.size);
    const voxels = [...expected.keys()].sort((x, y) => x - y);
    expect(Array.from(obs.voxelIndex)).toEqual(voxels);
    voxels.forEach((v, h) => {
      expect(rowsOf(obs, h)).toEqual(expected.get(v));
    });
    for (let o = 0; o < obs.n; o++) expect(rows.weight[o]).toBe(Math.fround(1 / rows.variance[o]));
  });

  it("gives the same columns from a streamed HDF5 file (slices) as from memory", async () => {
    const path = join(dir, "binned.h5");
    await writeBinnedDiffuse(path, data, {
      ndiv: 1,
      hklMax: [10, 10, 10],
      voxelGridDims: [21, 21, 21],
      voxelIndexRule: "test",
    });
    const file = await openBinnedDiffuse(path);
    try {
      const fromFile = diffuseChunkSource(file, nStills);
      const a = buildScalingObservations(nStills, undefined, fromFile.source);
      const b = buildScalingObservations(nStills, undefined, diffuseChunkSource(data, nStills).source);
      sameObservations(a, b);
      expect(fromFile.counts.nUsed).toBe(a.n);
    } finally {
      file.close();
    }
  });

  it("is independent of the chunking and of the voxel numbering path (table or sort)", () => {
    const whole = buildScalingObservations(nStills, undefined, diffuseChunkSource(data, nStills).source);
    const input = (lo: number, hi: number, offset: number): DiffuseInput => ({
      still: data.stillIds.slice(lo, hi),
      voxel: Float64Array.from(data.voxelIndices.subarray(lo, hi), (v) => v + offset),
      intensity: data.intensities.slice(lo, hi),
      variance: Float64Array.from(data.sigmas.subarray(lo, hi), (s) => s * s),
      qMagnitude: Float32Array.from({ length: hi - lo }, (_, i) => {
        const q = data.qVectors.subarray(3 * (lo + i), 3 * (lo + i) + 3);
        return Math.sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2]);
      }),
      sourceRow: Int32Array.from({ length: hi - lo }, (_, i) => lo + i),
    });
    const usable = (d: DiffuseInput): DiffuseInput => {
      const keep: number[] = [];
      for (let i = 0; i < d.still.length; i++) if (Number.isFinite(d.intensity[i]) && d.variance[i] > 0) keep.push(i);
      return {
        still: Int32Array.from(keep, (i) => d.still[i]),
        voxel: Float64Array.from(keep, (i) => d.voxel[i]),
        intensity: Float64Array.from(keep, (i) => d.intensity[i]),
        variance: Float64Array.from(keep, (i) => d.variance[i]),
        qMagnitude: Float64Array.from(keep, (i) => d.qMagnitude[i]),
        sourceRow: Int32Array.from(keep, (i) => d.sourceRow[i]),
      };
    };
    const chunked = (offset: number, bounds: [number, number]): DiffuseChunkSource => ({
      maxRows: nRows,
      voxelBounds: bounds,
      chunks: () => [0, 777, 3000, nRows].slice(0, -1).map((lo, k, a) => usable(input(lo, a[k + 1] ?? nRows, offset))),
    });
    sameObservations(buildScalingObservations(nStills, undefined, chunked(0, [100, 1300])), whole);
    // voxel indices spread over 2^40: counted in a hash table instead of a table over the range
    const big = buildScalingObservations(nStills, undefined, chunked(2 ** 40, [0, 2 ** 41]));
    expect(Array.from(big.voxelIndex)).toEqual(Array.from(whole.voxelIndex, (v) => v + 2 ** 40));
    expect(Array.from(residentRows(big).intensity)).toEqual(Array.from(residentRows(whole).intensity));
    expect(Array.from(big.groupStart)).toEqual(Array.from(whole.groupStart));
  });

  it("counts many distinct voxels spread over a huge range (hash path) exactly as the table path", () => {
    // 150 000 voxels (the hash table grows several times), 1–3 rows each, in a scattered order
    const rand = seededRandom(77);
    const nVoxels = 150_000;
    const voxel: number[] = [];
    for (let v = 0; v < nVoxels; v++)
      for (let m = 1 + Math.floor(rand() * 3); m > 0; m--) voxel.push((v * 7919) % nVoxels);
    const n = voxel.length;
    const rows = (offset: number): DiffuseInput => ({
      still: Int32Array.from({ length: n }, (_, i) => i % 5),
      voxel: Float64Array.from(voxel, (v) => v * 3 + offset),
      intensity: Float64Array.from({ length: n }, (_, i) => i),
      variance: new Float64Array(n).fill(1),
      qMagnitude: new Float64Array(n).fill(0.2),
      sourceRow: Int32Array.from({ length: n }, (_, i) => i),
    });
    const table = buildScalingObservations(5, undefined, rows(0));
    const hashed = buildScalingObservations(5, undefined, {
      ...singleChunkSource(rows(2 ** 45)),
      voxelBounds: [0, 2 ** 46],
    });
    expect(hashed.nGroups).toBe(nVoxels);
    expect(Array.from(hashed.voxelIndex)).toEqual(Array.from(table.voxelIndex, (v) => v + 2 ** 45));
    expect(Array.from(hashed.groupStart)).toEqual(Array.from(table.groupStart));
    expect(Array.from(residentRows(hashed).intensity)).toEqual(Array.from(residentRows(table).intensity));
  });

  it("takes the memory it may use from the machine, or from a lower control-group limit", () => {
    const usable = usableMemory();
    expect(usable).toBeGreaterThan(0);
    expect(usable).toBeLessThanOrEqual(totalmem());
    const constrained: unknown = process.constrainedMemory();
    if (typeof constrained === "number" && constrained > 0 && constrained < totalmem()) {
      expect(usable).toBe(constrained);
    } else {
      expect(usable).toBe(totalmem());
    }
  });

  it("refuses a voxel outside the announced bounds and a still out of range", () => {
    const bad = (voxel: number, still: number): DiffuseChunkSource => ({
      maxRows: 1,
      voxelBounds: [0, 10],
      chunks: () => [
        {
          still: Int32Array.of(still),
          voxel: Float64Array.of(voxel),
          intensity: Float64Array.of(1),
          variance: Float64Array.of(1),
          qMagnitude: Float64Array.of(0.1),
          sourceRow: Int32Array.of(41),
        },
      ],
    });
    expect(() => buildScalingObservations(2, undefined, bad(11, 0))).toThrow(
      /diffuse row 0: voxel index 11 outside \[0, 10\]/,
    );
    expect(() => buildScalingObservations(2, undefined, bad(3, 2))).toThrow(ConfigError);
  });
});

describe("restrictToStills", () => {
  it("drops the rows of removed stills and empty groups, renumbers stills, in place", () => {
    const data = pixelData(8);
    const full = buildScalingObservations(nStills, undefined, diffuseChunkSource(data, nStills).source);
    const expectedGroups = new Map<number, [number, number, number, number][]>();
    for (let h = 0; h < full.nGroups; h++) {
      const kept = rowsOf(full, h)
        .filter((r) => r[0] % 3 !== 0)
        .map((r): [number, number, number, number] => [r[0] - Math.floor(r[0] / 3) - 1, r[1], r[2], r[3]]);
      if (kept.length > 0) expectedGroups.set(full.voxelIndex[h], kept);
    }
    const remap = Int32Array.from({ length: nStills }, (_, s) => (s % 3 === 0 ? -1 : s - Math.floor(s / 3) - 1));
    const nKept = remap.filter((s) => s >= 0).length;
    const restricted = restrictToStills(full, remap, nKept);
    expect(restricted.nStills).toBe(nKept);
    expect(restricted.nGroups).toBe(expectedGroups.size);
    expect(Array.from(restricted.voxelIndex)).toEqual([...expectedGroups.keys()]);
    for (let h = 0; h < restricted.nGroups; h++) {
      expect(rowsOf(restricted, h)).toEqual(expectedGroups.get(restricted.voxelIndex[h]));
    }
    expect(restricted.n).toBe(restricted.groupStart[restricted.nGroups]);
  });
});

describe("capacity", () => {
  const never = (maxRows: number): DiffuseChunkSource => ({
    maxRows,
    voxelBounds: [0, 10],
    chunks: () => {
      throw new Error("must not be read");
    },
    voxelChunks: () => {
      throw new Error("must not be read");
    },
  });

  it("refuses, before reading a row, more observations than 32-bit offsets address", () => {
    expect(() => buildScalingObservations(2, undefined, never(MAX_OBSERVATIONS + 1))).toThrow(
      /2147483648 observations are more than one scaling job holds \(2147483647\); scale the stills in parts/,
    );
  });
});

describe("Bragg grouping", () => {
  it("orders each hkl group by still, stably, with the source rows travelling along (any input order)", () => {
    const rand = seededRandom(5);
    const rows = Array.from({ length: 600 }, (_, i) => ({
      still: Math.floor(rand() * 12),
      h: Math.floor(rand() * 4),
      I: i, // the intensity carries the input row (exact in float32)
      row: 1000 + i,
    }));
    const input = (order: typeof rows): BraggInput => ({
      still: Int32Array.from(order, (r) => r.still),
      asuHkl: Int32Array.from(order.flatMap((r) => [r.h, 0, 1])),
      intensity: Float64Array.from(order, (r) => r.I),
      variance: Float64Array.from(order, () => 1),
      qMagnitude: Float64Array.from(order, () => 0.2),
      sourceRow: Int32Array.from(order, (r) => r.row),
    });
    const shuffled = buildScalingObservations(12, input(rows), undefined);
    const byStill = buildScalingObservations(12, input([...rows].sort((a, b) => a.still - b.still)), undefined);
    expect(shuffled.nBraggGroups).toBe(4);
    expect(shuffled.nBraggRows).toBe(600);
    const { still, intensity } = residentRows(shuffled);
    expect(Array.from(still)).toEqual(Array.from(residentRows(byStill).still));
    expect(Array.from(intensity)).toEqual(Array.from(residentRows(byStill).intensity));
    expect(Array.from(shuffled.sourceRow)).toEqual(Array.from(byStill.sourceRow));
    for (let h = 0; h < shuffled.nGroups; h++) {
      for (let o = shuffled.groupStart[h] + 1; o < shuffled.groupStart[h + 1]; o++) {
        const a = still[o - 1];
        const b = still[o];
        expect(b).toBeGreaterThanOrEqual(a);
        if (a === b) expect(intensity[o]).toBeGreaterThan(intensity[o - 1]);
        expect(shuffled.sourceRow[o]).toBe(1000 + intensity[o]);
      }
    }
  });
});
