import { existsSync, fstatSync } from "node:fs";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ColumnFile } from "../../src/runtime/column-file.ts";
import { InputError } from "../../src/errors.ts";
import {
  forEachWindow,
  residentRows,
  type PagedRows,
  type ResidentRows,
} from "../../src/observations/observation-windows.ts";
import { pagedCopy, randomObservations } from "../fixtures/windowed/observations.ts";
import { JointPassRunner, type PassSource } from "../../src/passes/joint-pass.ts";
import { PassMode } from "../../src/passes/pass-payload.ts";
import type { JointAccumulation } from "../../src/passes/joint-accumulation.ts";
import { seededRandom } from "../../src/merge/seeded-random.ts";
import { FIVE_POINT_KERNEL } from "../fixtures/kernels/five-point-smoother.ts";

const scratch = mkdtempSync(join(tmpdir(), "paged-passes-"));
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

/** Random grouped rows (up to 9 per group, several per still, some unusable) and the same rows in a scratch file. */
function randomRows(
  nStills: number,
  nGroups: number,
  seed: number,
  windowRows: number,
): { groupStart: Int32Array; rows: ResidentRows; pagedRows: PagedRows } {
  const { obs } = randomObservations(seed, {
    nStills,
    nBraggGroups: 0,
    nVoxels: nGroups,
    maxGroupRows: 9,
    unusable: 0.03,
    outliers: 0,
  });
  const copy = pagedCopy(obs, scratch, windowRows);
  if (copy.rows.kind !== "paged") throw new Error("not paged");
  return { groupStart: obs.groupStart, rows: residentRows(obs), pagedRows: copy.rows };
}

function readWeights(rows: PagedRows): Float32Array {
  const out = new Float32Array(rows.file.layout.n);
  rows.file.read("weight", 0, out);
  return out;
}

const kernel = FIVE_POINT_KERNEL;

function bits(a: Float64Array | Float32Array | undefined): number[] {
  return a === undefined ? [] : Array.from(new Uint32Array(Float64Array.from(a).buffer));
}

function summary(acc: JointAccumulation): number[][] {
  const lr = acc.lowRank;
  return [
    bits(Float64Array.of(acc.objective, acc.nObservations, acc.rNumerator, acc.rDenominator)),
    bits(acc.gradient),
    bits(acc.matrix),
    bits(lr?.thetaDiagonal),
    bits(lr?.thetaSmoother),
    bits(lr?.smootherBlock),
    bits(lr?.diagonal),
  ];
}

describe("ColumnFile", () => {
  it("reads back what was written at any row offset, leaves no name behind and frees the data on remove", () => {
    const file = ColumnFile.create(scratch, { a: 4, b: 8, c: 1 }, 1001);
    const a = Float32Array.from({ length: 1001 }, (_, i) => i / 7);
    const b = Float64Array.from({ length: 500 }, (_, i) => Math.sqrt(i));
    file.write("a", 0, a);
    file.write("b", 501, b);
    file.write("c", 3, Uint8Array.of(9, 8, 7));
    const a2 = new Float32Array(10);
    file.read("a", 990, a2);
    expect(Array.from(a2)).toEqual(Array.from(a.subarray(990, 1000)));
    const b2 = new Float64Array(500);
    file.read("b", 501, b2);
    expect(Array.from(b2)).toEqual(Array.from(b));
    const c2 = new Uint8Array(5);
    file.read("c", 2, c2);
    expect(Array.from(c2)).toEqual([0, 9, 8, 7, 0]);
    expect(() => {
      file.read("a", 0, new Float64Array(1));
    }).toThrow(/4-byte/);
    // the name is gone at once: the descriptor holds the data until remove()
    expect(existsSync(file.layout.path)).toBe(false);
    expect(existsSync(dirname(file.layout.path))).toBe(false);
    expect(fstatSync(file.layout.fd).size).toBeGreaterThanOrEqual(1001 * 13);
    // a second handle on the layout (what a worker thread makes) shares the descriptor
    const other = ColumnFile.open(file.layout);
    const b3 = new Float64Array(2);
    other.read("b", 501, b3);
    expect(Array.from(b3)).toEqual([0, 1]);
    other.close();
    file.read("b", 502, b3.subarray(0, 1));
    expect(b3[0]).toBe(1);
    file.remove();
    expect(() => fstatSync(file.layout.fd)).toThrow();
    expect(() => {
      file.read("a", 0, a2);
    }).toThrow(/closed/);
  });

  it("names the directory it cannot create a scratch file in", () => {
    expect(() => ColumnFile.create(join(scratch, "missing", "deeper"), { a: 4 }, 10)).toThrow(InputError);
    expect(() => ColumnFile.create(join(scratch, "missing", "deeper"), { a: 4 }, 10)).toThrow(/missing/);
  });
});

describe("forEachWindow over paged rows", () => {
  it("visits every group once, in order, in windows of whole groups, and writes back only what it is told", () => {
    const { groupStart, rows, pagedRows } = randomRows(20, 700, 5, 100);
    const obs = { groupStart, nGroups: 700, rows: pagedRows };
    let next = 0;
    forEachWindow(
      obs,
      (w) => {
        expect(w.groupBegin).toBe(next);
        expect(w.rowBegin).toBe(groupStart[w.groupBegin]);
        expect(w.rowEnd).toBe(groupStart[w.groupEnd]);
        expect(w.rowEnd - w.rowBegin <= 100 || w.groupEnd === w.groupBegin + 1).toBe(true);
        for (let o = w.rowBegin; o < w.rowEnd; o++) {
          expect(w.rows.still[o - w.rowBegin]).toBe(rows.still[o]);
          expect(w.rows.qMagnitude[o - w.rowBegin]).toBe(rows.qMagnitude[o]);
        }
        w.rows.weight.fill(2);
        w.rows.intensity.fill(-1);
        next = w.groupEnd;
      },
      { write: ["weight"] },
    );
    expect(next).toBe(700);
    expect(readWeights(pagedRows).every((v) => v === 2)).toBe(true);
    const intensity = new Float32Array(rows.intensity.length);
    pagedRows.file.read("intensity", 0, intensity);
    expect(Array.from(intensity)).toEqual(Array.from(rows.intensity));
    pagedRows.file.remove();
  });
});

describe("joint passes over paged rows", () => {
  const nStills = 30;
  const rand = seededRandom(17);
  const scales = Float64Array.from({ length: nStills }, () => 0.6 + 0.8 * rand());
  const values = Float64Array.from([1, 0.9, 1.1, 1.05, 0.95]);
  const smoother = { kernel, qMin: 0, qMax: 0.5, nValues: 5 };

  for (const threads of [1, 2]) {
    for (const precomputeSmoother of [true, false]) {
      it(`give the resident numbers bit for bit (${threads} thread(s), precomputed smoother ${precomputeSmoother})`, () => {
        const { groupStart, rows, pagedRows } = randomRows(nStills, 3000, 23, 500);
        const options = { threads, dense: true, lowRank: true, shardRows: 1500, precomputeSmoother, bandRows: 7 };
        const resident: PassSource = { groupStart, rows };
        const a = new JointPassRunner(resident, nStills, smoother, options);
        const b = new JointPassRunner({ groupStart, paged: pagedRows }, nStills, smoother, options);
        try {
          expect(b.nShards).toBe(a.nShards);
          expect(a.nShards).toBeGreaterThan(3);
          for (const mode of [PassMode.objective, PassMode.dense, PassMode.lowRank]) {
            expect(summary(b.run(mode, scales, values))).toEqual(summary(a.run(mode, scales, values)));
          }
          // the matrix-free factors of the last lowRank pass: products and the expanded matrix
          const x = Float64Array.from({ length: nStills + 4 }, (_, i) => Math.sin(i + 1));
          const ya = new Float64Array(nStills + 4);
          const yb = new Float64Array(nStills + 4);
          a.addGroupProduct(x, ya);
          b.addGroupProduct(x, yb);
          expect(bits(yb)).toEqual(bits(ya));
          const sums = a.run(PassMode.lowRank, scales, values).lowRank;
          b.run(PassMode.lowRank, scales, values);
          if (sums === undefined) throw new Error("no low-rank sums");
          expect(bits(b.densify(sums))).toEqual(bits(a.densify(sums)));
          // the outlier step rewrites the same weights
          const ca = a.outlierWeights(scales, values, 6);
          const cb = b.outlierWeights(scales, values, 6);
          expect(cb).toEqual(ca);
          expect(ca.nOutliers).toBeGreaterThan(5);
          expect(bits(readWeights(pagedRows))).toEqual(bits(a.payload.columns.rows.weight));
          expect(bits(a.payload.columns.rows.weight)).not.toEqual(bits(rows.weight));
          expect(summary(b.run(PassMode.dense, scales, values))).toEqual(
            summary(a.run(PassMode.dense, scales, values)),
          );
        } finally {
          a.close();
          b.close();
          pagedRows.file.remove();
        }
      });
    }
  }
});
