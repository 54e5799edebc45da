import { describe, it, expect } from "vitest";
import fc from "fast-check";
import {
  axisAngleMatrix,
  mat3,
  mat3Determinant,
  mat3FromRows,
  mat3Identity,
  mat3Inverse,
  mat3Multiply,
  mat3Transpose,
  mat3Vec3,
  vec3,
  vec3Cross,
  vec3Dot,
  vec3Length,
  vec3Normalize,
} from "../../src/geometry/vector-maths.ts";
import {
  fractionalizationMatrix,
  orthogonalizationMatrix,
  unitCellFromRealSpaceVectors,
} from "../../src/geometry/unit-cell.ts";

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) expect(Math.abs(actual[i] - expected[i])).toBeLessThanOrEqual(tol);
}

const I = [1, 0, 0, 0, 1, 0, 0, 0, 1];

describe("vectors", () => {
  it("dot, cross, length, normalise", () => {
    expect(vec3Dot(vec3(1, 2, 3), vec3(4, -5, 6))).toBe(12);
    expectClose(vec3Cross(vec3(1, 0, 0), vec3(0, 1, 0)), [0, 0, 1], 0);
    expectClose(vec3Cross(vec3(1, 2, 3), vec3(4, 5, 6)), [-3, 6, -3], 0);
    expect(vec3Length(vec3(3, 4, 12))).toBe(13);
    expectClose(vec3Normalize(vec3(0, 3, 4)), [0, 0.6, 0.8], 1e-16);
    expect(() => vec3Normalize(vec3(0, 0, 0))).toThrow(RangeError);
  });
});

describe("matrices", () => {
  const m = mat3([2, 0, 1, 1, 3, 2, 1, 1, 1]);

  it("multiply, transpose, matrix·vector are row-major", () => {
    const n = mat3([1, 2, 0, 0, 1, 0, 3, 0, 1]);
    // hand-computed: rows of m times columns of n
    expectClose(mat3Multiply(m, n), [5, 4, 1, 7, 5, 2, 4, 3, 1], 0);
    expectClose(mat3Transpose(m), [2, 1, 1, 0, 3, 1, 1, 2, 1], 0);
    expectClose(mat3Vec3(m, vec3(1, 2, 3)), [5, 13, 6], 0);
    expectClose(mat3FromRows(vec3(1, 2, 3), vec3(4, 5, 6), vec3(7, 8, 9)), [1, 2, 3, 4, 5, 6, 7, 8, 9], 0);
  });

  it("determinant and inverse", () => {
    // det = 2(3-2) - 0 + 1(1-3) = 0 → use a non-singular one
    expect(mat3Determinant(m)).toBe(0);
    expect(() => mat3Inverse(m)).toThrow(RangeError);
    const a = mat3([4, 7, 2, 3, 6, 1, 2, 5, 3]);
    expect(mat3Determinant(a)).toBe(9);
    // adjugate / det, computed by hand
    expectClose(mat3Inverse(a), [13 / 9, -11 / 9, -5 / 9, -7 / 9, 8 / 9, 2 / 9, 3 / 9, -6 / 9, 3 / 9], 1e-15);
    expectClose(mat3Multiply(a, mat3Inverse(a)), I, 1e-14);
    expect(() => mat3(new Float64Array(8))).toThrow(RangeError);
    expect(() => mat3Transpose(new Float64Array(3))).toThrow(RangeError);
  });

  it("inverse(m)·m = I for random well-conditioned matrices (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -10, max: 10, noNaN: true }), { minLength: 9, maxLength: 9 }), (values) => {
        const a = mat3(values);
        // keep the condition number moderate: add a dominant diagonal
        for (const k of [0, 4, 8]) a[k] += 40;
        expectClose(mat3Multiply(mat3Inverse(a), a), I, 1e-12);
        expectClose(mat3Transpose(mat3Transpose(a)), a, 0);
      }),
      { seed: 42, numRuns: 200 },
    );
  });

  it("axisAngleMatrix: right-handed rotation, axis normalised", () => {
    expectClose(mat3Vec3(axisAngleMatrix(vec3(0, 0, 5), 90), vec3(1, 0, 0)), [0, 1, 0], 1e-15);
    expectClose(mat3Vec3(axisAngleMatrix(vec3(1, 0, 0), 90), vec3(0, 1, 0)), [0, 0, 1], 1e-15);
    expectClose(axisAngleMatrix(vec3(1, 1, 1), 0), I, 0);
    // 120° about (1,1,1) permutes the axes x → y → z
    expectClose(mat3Vec3(axisAngleMatrix(vec3(1, 1, 1), 120), vec3(1, 0, 0)), [0, 1, 0], 1e-15);
    const r = axisAngleMatrix(vec3(0.3, -0.4, 0.2), 37);
    expectClose(mat3Multiply(r, mat3Transpose(r)), I, 1e-15);
    expect(Math.abs(mat3Determinant(r) - 1)).toBeLessThan(1e-15);
  });
});

describe("unit cells", () => {
  it("cell from real-space vectors: orthorhombic and hexagonal", () => {
    expectClose(
      unitCellFromRealSpaceVectors(vec3(10, 0, 0), vec3(0, 20, 0), vec3(0, 0, 30)),
      [10, 20, 30, 90, 90, 90],
      1e-12,
    );
    const s = Math.sqrt(3) / 2;
    expectClose(
      unitCellFromRealSpaceVectors(vec3(5, 0, 0), vec3(-2.5, 5 * s, 0), vec3(0, 0, 7)),
      [5, 5, 7, 90, 90, 120],
      1e-12,
    );
    // alpha = angle(b, c), beta = angle(a, c), gamma = angle(a, b)
    const cell = unitCellFromRealSpaceVectors(vec3(1, 0, 0), vec3(0, 1, 0), vec3(0, 1, 1));
    expectClose(cell, [1, 1, Math.SQRT2, 45, 90, 90], 1e-12);
  });

  it("cctbx orthogonalisation matrix: a along x, b in the x-y plane", () => {
    const s = Math.sqrt(3) / 2;
    // hexagonal 5 5 7 90 90 120: O = [[a, b cosγ, 0], [0, b sinγ, 0], [0, 0, c]]
    expectClose(orthogonalizationMatrix([5, 5, 7, 90, 90, 120]), [5, -2.5, 0, 0, 5 * s, 0, 0, 0, 7], 1e-12);
    const f = fractionalizationMatrix([5, 5, 7, 90, 90, 120]);
    expectClose(f, [0.2, 0.2 / Math.sqrt(3), 0, 0, 1 / (5 * s), 0, 0, 0, 1 / 7], 1e-15);
    expect(() => orthogonalizationMatrix([5, 5, 7, 0, 0, 0])).toThrow(RangeError);
  });

  it("the columns of O reproduce the cell; the cell is invariant under rotation (property)", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 2, max: 200, noNaN: true }),
        fc.double({ min: 2, max: 200, noNaN: true }),
        fc.double({ min: 2, max: 200, noNaN: true }),
        fc.double({ min: 60, max: 120, noNaN: true }),
        fc.double({ min: 60, max: 120, noNaN: true }),
        fc.double({ min: 60, max: 120, noNaN: true }),
        fc.double({ min: -180, max: 180, noNaN: true }),
        (a, b, c, al, be, ga, angle) => {
          const cell: [number, number, number, number, number, number] = [a, b, c, al, be, ga];
          const [ca, cb, cg] = [al, be, ga].map((x) => Math.cos((x * Math.PI) / 180));
          // skip (nearly) flat cells: (V / abc)² = 1 − cos²α − cos²β − cos²γ + 2 cosα cosβ cosγ
          if (1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg < 0.05) return;
          const o = orthogonalizationMatrix(cell);
          const ot = mat3Transpose(o);
          const r = axisAngleMatrix(vec3(0.2, 0.9, -0.4), angle);
          const rows = mat3Multiply(ot, mat3Transpose(r)); // rows: R·a, R·b, R·c
          const got = unitCellFromRealSpaceVectors(rows.subarray(0, 3), rows.subarray(3, 6), rows.subarray(6, 9));
          for (let k = 0; k < 3; k++) expect(Math.abs(got[k] - cell[k])).toBeLessThan(1e-9 * cell[k]);
          for (let k = 3; k < 6; k++) expect(Math.abs(got[k] - cell[k])).toBeLessThan(1e-7);
          expectClose(mat3Multiply(o, fractionalizationMatrix(cell)), I, 1e-10);
        },
      ),
      { seed: 42, numRuns: 300 },
    );
  });

  it("identity helper", () => {
    expectClose(mat3Identity(), I, 0);
  });
});
