import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { SparseMatrix } from "../../src/dials/sparse-matrix.ts";
import { ConfigError } from "../../src/errors.ts";

/** Dense reference products, written independently of the CSC code. */
function denseMatVec(a: Float64Array, r: number, c: number, x: ArrayLike<number>): Float64Array {
  const out = new Float64Array(r);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[i] += a[i * c + j] * x[j];
  return out;
}
function denseAtWA(a: Float64Array, r: number, c: number, w: ArrayLike<number>): Float64Array {
  const out = new Float64Array(c * c);
  for (let p = 0; p < c; p++)
    for (let q = 0; q < c; q++) for (let i = 0; i < r; i++) out[p * c + q] += a[i * c + p] * w[i] * a[i * c + q];
  return out;
}

const denseArb = fc
  .tuple(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 6 }))
  .chain(([r, c]) =>
    fc.tuple(
      fc.constant(r),
      fc.constant(c),
      fc.array(fc.oneof(fc.constant(0), fc.integer({ min: -9, max: 9 })), { minLength: r * c, maxLength: r * c }),
    ),
  );

describe("SparseMatrix", () => {
  it("fromTriplets sums duplicates and sorts rows", () => {
    const m = SparseMatrix.fromTriplets(3, 2, [2, 0, 2, 1], [0, 0, 0, 1], [1, 2, 3, 4]);
    expect(Array.from(m.colPtr)).toEqual([0, 2, 3]);
    expect(Array.from(m.rowIdx)).toEqual([0, 2, 1]);
    expect(Array.from(m.values)).toEqual([2, 4, 4]);
    expect(m.get(2, 0)).toBe(4);
    expect(m.get(1, 0)).toBe(0);
    expect(m.nonZeros()).toBe(3);
    expect(Array.from(m.toDense())).toEqual([2, 0, 0, 4, 4, 0]);
  });
  it("validates its arrays", () => {
    expect(() => new SparseMatrix(2, 1, Int32Array.from([0, 2]), Int32Array.from([1, 0]), new Float64Array(2))).toThrow(
      ConfigError,
    );
    expect(() => new SparseMatrix(2, 1, Int32Array.from([0, 1]), Int32Array.from([2]), new Float64Array(1))).toThrow(
      ConfigError,
    );
    expect(() => new SparseMatrix(2, 1, Int32Array.from([0, 1]), Int32Array.from([0]), new Float64Array(2))).toThrow(
      ConfigError,
    );
    expect(() => SparseMatrix.fromTriplets(2, 2, [2], [0], [1])).toThrow(ConfigError);
    expect(() => SparseMatrix.zeros(2, 2).get(2, 0)).toThrow(ConfigError);
    expect(() => SparseMatrix.hstack([SparseMatrix.zeros(2, 1), SparseMatrix.zeros(3, 1)])).toThrow(ConfigError);
  });
  it("hstack / vstack / zeros", () => {
    const a = SparseMatrix.fromDense(2, 2, [1, 0, 0, 2]);
    const b = SparseMatrix.fromDense(2, 1, [3, 4]);
    expect(Array.from(SparseMatrix.hstack([a, b]).toDense())).toEqual([1, 0, 3, 0, 2, 4]);
    const c = SparseMatrix.fromDense(1, 2, [5, 6]);
    expect(Array.from(SparseMatrix.vstack([a, c]).toDense())).toEqual([1, 0, 0, 2, 5, 6]);
    const z = SparseMatrix.zeros(3, 2);
    expect(z.nonZeros()).toBe(0);
    expect(Array.from(z.toDense())).toEqual([0, 0, 0, 0, 0, 0]);
  });
  it("operations agree with dense algebra (property)", () => {
    fc.assert(
      fc.property(denseArb, ([r, c, data]) => {
        const d = Float64Array.from(data);
        const m = SparseMatrix.fromDense(r, c, d);
        expect(Array.from(m.toDense())).toEqual(Array.from(d));
        const x = Float64Array.from({ length: c }, (_, j) => j - 1.5);
        expect(Array.from(m.multiplyVector(x))).toEqual(Array.from(denseMatVec(d, r, c, x)));
        const y = Float64Array.from({ length: r }, (_, i) => 0.5 * i + 1);
        const t = m.transpose();
        expect(Array.from(m.transposeMultiplyVector(y))).toEqual(Array.from(denseMatVec(t.toDense(), c, r, y)));
        const w = Float64Array.from({ length: r }, (_, i) => i + 0.25);
        expect(Array.from(m.transposeWeightedProduct(w))).toEqual(Array.from(denseAtWA(d, r, c, w)));
        const scaled = m.rowMultiply(y).toDense();
        for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) expect(scaled[i * c + j]).toBe(d[i * c + j] * y[i]);
        const rows = [r - 1, 0, r - 1];
        const sr = m.selectRows(rows).toDense();
        rows.forEach((ri, k) => {
          for (let j = 0; j < c; j++) expect(sr[k * c + j]).toBe(d[ri * c + j]);
        });
        const cols = [c - 1, 0];
        const sc = m.selectColumns(cols).toDense();
        for (let i = 0; i < r; i++)
          cols.forEach((cj, k) => {
            expect(sc[i * 2 + k]).toBe(d[i * c + cj]);
          });
        const rowsT: number[] = [];
        const colsT: number[] = [];
        const valsT: number[] = [];
        for (let i = 0; i < r; i++)
          for (let j = 0; j < c; j++) {
            rowsT.push(i, i);
            colsT.push(j, j);
            valsT.push(d[i * c + j] / 2, d[i * c + j] / 2);
          }
        expect(Array.from(SparseMatrix.fromTriplets(r, c, rowsT, colsT, valsT).toDense())).toEqual(Array.from(d));
      }),
      { seed: 42, numRuns: 100 },
    );
  });
});
