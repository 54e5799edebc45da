import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/errors.ts";
import { choleskyFactor, choleskyInverse, choleskySolve } from "../../src/solve/cholesky.ts";
import { conjugateGradient } from "../../src/solve/conjugate-gradient.ts";
import { arrowInverse, arrowSolve, arrowToDense } from "../../src/solve/schur-complement.ts";
import type { ArrowMatrix } from "../../src/solve/schur-complement.ts";

// Textbook example (e.g. Wikipedia "Cholesky decomposition"): A = L·Lᵀ with L = [[2,0,0],[6,1,0],[−8,5,3]].
const A3 = [4, 12, -16, 12, 37, -43, -16, -43, 98];
const L3 = [2, 0, 0, 6, 1, 0, -8, 5, 3];

function matVec(a: ArrayLike<number>, n: number, x: ArrayLike<number>): Float64Array {
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) y[i] += a[i * n + j] * x[j];
  return y;
}

describe("choleskyFactor", () => {
  it("factorises the textbook 3×3 example exactly", () => {
    const a = Float64Array.from(A3);
    expect(choleskyFactor(a, 3)).toBe(true);
    for (let i = 0; i < 9; i++) expect(a[i]).toBeCloseTo(L3[i], 14);
  });

  it("reads only the lower triangle", () => {
    const a = Float64Array.from(A3);
    a[1] = 999;
    a[2] = -5;
    a[5] = 0;
    expect(choleskyFactor(a, 3)).toBe(true);
    for (let i = 0; i < 9; i++) expect(a[i]).toBeCloseTo(L3[i], 14);
  });

  it("detects matrices that are not positive definite", () => {
    expect(choleskyFactor(Float64Array.of(1, 2, 2, 1), 2)).toBe(false);
    expect(choleskyFactor(Float64Array.of(0, 0, 0, 0), 2)).toBe(false);
    expect(choleskyFactor(Float64Array.of(-1), 1)).toBe(false);
    expect(choleskyFactor(Float64Array.of(1, Number.NaN, Number.NaN, 1), 2)).toBe(false);
    // singular positive semi-definite: [[1,1],[1,1]]
    expect(choleskyFactor(Float64Array.of(1, 1, 1, 1), 2)).toBe(false);
  });

  it("accepts the empty matrix and validates sizes", () => {
    expect(choleskyFactor(new Float64Array(0), 0)).toBe(true);
    expect(() => choleskyFactor(new Float64Array(3), 2)).toThrow(ConfigError);
    expect(() => choleskyFactor(new Float64Array(4), -2)).toThrow(ConfigError);
    expect(() => choleskyFactor(new Float64Array(4), 1.5)).toThrow(ConfigError);
  });
});

describe("choleskySolve / choleskyInverse", () => {
  it("solves A x = b for the textbook example", () => {
    const l = Float64Array.from(A3);
    choleskyFactor(l, 3);
    const b = matVec(A3, 3, [1, -2, 3]);
    const bCopy = Float64Array.from(b);
    const x = choleskySolve(l, 3, b);
    expect(Array.from(b)).toEqual(Array.from(bCopy));
    expect(x[0]).toBeCloseTo(1, 11);
    expect(x[1]).toBeCloseTo(-2, 11);
    expect(x[2]).toBeCloseTo(3, 11);
    expect(() => choleskySolve(l, 3, new Float64Array(2))).toThrow(ConfigError);
  });

  it("inverts a 2×2 matrix as the closed form does", () => {
    // [[4,6],[6,14]]⁻¹ = [[14,−6],[−6,4]] / 20
    const l = Float64Array.of(4, 6, 6, 14);
    choleskyFactor(l, 2);
    const inv = choleskyInverse(l, 2);
    const expected = [0.7, -0.3, -0.3, 0.2];
    for (let i = 0; i < 4; i++) expect(inv[i]).toBeCloseTo(expected[i], 14);
  });

  it("gives an exactly symmetric inverse with A·A⁻¹ = I", () => {
    const l = Float64Array.from(A3);
    choleskyFactor(l, 3);
    const inv = choleskyInverse(l, 3);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) expect(inv[i * 3 + j]).toBe(inv[j * 3 + i]);
    for (let j = 0; j < 3; j++) {
      const col = matVec(A3, 3, [inv[j], inv[3 + j], inv[6 + j]]);
      for (let i = 0; i < 3; i++) expect(col[i]).toBeCloseTo(i === j ? 1 : 0, 10);
    }
  });
});

describe("arrowSolve / arrowInverse", () => {
  // two 2×2 blocks bordered by one shared parameter; SPD by diagonal dominance
  const sys: ArrowMatrix = {
    nBlocks: 2,
    blockSize: 2,
    d: Float64Array.of(5, 1, 1, 4, 6, -2, -2, 5),
    k: 1,
    b: Float64Array.of(1, -1, 0.5, 2),
    c: Float64Array.of(9),
  };

  it("expands to the expected dense matrix", () => {
    const a = arrowToDense(sys);
    expect(Array.from(a)).toEqual([5, 1, 0, 0, 1, 1, 4, 0, 0, -1, 0, 0, 6, -2, 0.5, 0, 0, -2, 5, 2, 1, -1, 0.5, 2, 9]);
  });

  it("solves the system so that A x = r", () => {
    const r = Float64Array.of(1, 2, 3, 4, 5);
    const x = arrowSolve(sys, r);
    expect(x).toBeDefined();
    const ax = matVec(arrowToDense(sys), 5, x ?? []);
    for (let i = 0; i < 5; i++) expect(ax[i]).toBeCloseTo(r[i], 12);
  });

  it("applies the shift to every diagonal element", () => {
    const r = Float64Array.of(1, 0, -1, 2, 1);
    const x = arrowSolve(sys, r, { shift: 0.7 }) ?? new Float64Array(5);
    const a = arrowToDense(sys);
    for (let i = 0; i < 5; i++) a[i * 5 + i] += 0.7;
    const ax = matVec(a, 5, x);
    for (let i = 0; i < 5; i++) expect(ax[i]).toBeCloseTo(r[i], 12);
  });

  it("returns undefined when a block or the Schur complement is not positive definite", () => {
    expect(arrowSolve({ ...sys, d: Float64Array.of(1, 2, 2, 1, 6, -2, -2, 5) }, new Float64Array(5))).toBeUndefined();
    expect(arrowSolve({ ...sys, c: Float64Array.of(0.1) }, new Float64Array(5))).toBeUndefined();
    expect(arrowInverse({ ...sys, c: Float64Array.of(-1) })).toBeUndefined();
  });

  it("arrowInverse matches the dense inverse on the arrow positions", () => {
    const l = arrowToDense(sys);
    choleskyFactor(l, 5);
    const dense = choleskyInverse(l, 5);
    const inv = arrowInverse(sys);
    expect(inv).toBeDefined();
    const full = arrowToDense(inv ?? sys);
    for (let i = 0; i < 5; i++) {
      for (let j = 0; j < 5; j++) {
        const sameBlock = i < 4 && j < 4 && Math.floor(i / 2) === Math.floor(j / 2);
        if (sameBlock || i === 4 || j === 4) expect(full[i * 5 + j]).toBeCloseTo(dense[i * 5 + j], 13);
        else expect(full[i * 5 + j]).toBe(0);
      }
    }
  });

  it("validates sizes and options", () => {
    expect(() => arrowSolve({ ...sys, b: new Float64Array(3) }, new Float64Array(5))).toThrow(RangeError);
    expect(() => arrowSolve(sys, new Float64Array(4))).toThrow(RangeError);
    expect(() => arrowSolve(sys, new Float64Array(5), { shift: -1 })).toThrow(RangeError);
  });

  it("handles a pure block-diagonal system (k = 0) and a pure dense one (no blocks)", () => {
    const x = arrowSolve(
      { nBlocks: 2, blockSize: 1, d: Float64Array.of(2, 4), k: 0, b: new Float64Array(0), c: new Float64Array(0) },
      Float64Array.of(1, 1),
    );
    expect(x?.[0]).toBeCloseTo(0.5, 15);
    expect(x?.[1]).toBeCloseTo(0.25, 15);
    const y = arrowSolve(
      {
        nBlocks: 0,
        blockSize: 1,
        d: new Float64Array(0),
        k: 2,
        b: new Float64Array(0),
        c: Float64Array.of(4, 6, 6, 14),
      },
      Float64Array.of(1, 0),
    );
    expect(y?.[0]).toBeCloseTo(0.7, 14);
    expect(y?.[1]).toBeCloseTo(-0.3, 14);
  });
});

describe("conjugateGradient", () => {
  const matvec3 = (x: Float64Array, out: Float64Array): void => {
    out.set(matVec(A3, 3, x));
  };

  it("solves the textbook system with and without preconditioners", () => {
    const b = matVec(A3, 3, [1, -2, 3]);
    for (const preconditioner of [
      undefined,
      { kind: "diagonal" as const, diagonal: Float64Array.of(4, 37, 98) },
      { kind: "block" as const, blockSize: 3, blocks: Float64Array.from(A3) },
    ]) {
      const r = conjugateGradient(
        matvec3,
        b,
        preconditioner === undefined ? { tolerance: 1e-14 } : { tolerance: 1e-14, preconditioner },
      );
      expect(r.converged).toBe(true);
      expect(r.x[0]).toBeCloseTo(1, 9);
      expect(r.x[1]).toBeCloseTo(-2, 9);
      expect(r.x[2]).toBeCloseTo(3, 9);
      expect(r.relativeResidual).toBeLessThanOrEqual(1e-14);
    }
    // the exact block preconditioner M = A solves in one iteration
    const exact = conjugateGradient(matvec3, b, {
      preconditioner: { kind: "block", blockSize: 3, blocks: Float64Array.from(A3) },
    });
    expect(exact.iterations).toBe(1);
  });

  it("reports non-convergence when the iteration limit is hit", () => {
    const b = Float64Array.of(1, 1, 1);
    const r = conjugateGradient(matvec3, b, { maxIterations: 1, tolerance: 1e-14 });
    expect(r.iterations).toBe(1);
    expect(r.converged).toBe(false);
    expect(r.relativeResidual).toBeGreaterThan(1e-14);
  });

  it("returns x = 0 for b = 0 and validates options", () => {
    const r = conjugateGradient(matvec3, new Float64Array(3));
    expect(r.converged).toBe(true);
    expect(Array.from(r.x)).toEqual([0, 0, 0]);
    expect(() =>
      conjugateGradient(matvec3, Float64Array.of(1, 1, 1), {
        preconditioner: { kind: "diagonal", diagonal: Float64Array.of(1, 0, 1) },
      }),
    ).toThrow(ConfigError);
    expect(() =>
      conjugateGradient(matvec3, Float64Array.of(1, 1, 1), {
        preconditioner: { kind: "block", blockSize: 2, blocks: new Float64Array(8) },
      }),
    ).toThrow(ConfigError);
    expect(() => conjugateGradient(matvec3, Float64Array.of(1, 1, 1), { x0: new Float64Array(2) })).toThrow(
      ConfigError,
    );
  });

  it("starts from x0", () => {
    const b = matVec(A3, 3, [1, -2, 3]);
    const r = conjugateGradient(matvec3, b, { x0: Float64Array.of(1, -2, 3) });
    expect(r.iterations).toBe(0);
    expect(r.converged).toBe(true);
  });
});

describe("blocked Cholesky kernels across block boundaries", () => {
  /** The textbook row-oriented Cholesky–Banachiewicz factor and L⁻ᵀ·L⁻¹ inverse, every sum k-ascending. */
  function textbook(a: Float64Array, n: number): { l: Float64Array; inv: Float64Array } {
    const l = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j <= i; j++) {
        let s = a[i * n + j];
        for (let k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
        l[i * n + j] = i === j ? Math.sqrt(s) : s / l[j * n + j];
      }
    }
    const u = new Float64Array(n * n);
    for (let j = 0; j < n; j++) {
      u[j * n + j] = 1 / l[j * n + j];
      for (let i = j + 1; i < n; i++) {
        let s = 0;
        for (let k = j; k < i; k++) s -= l[i * n + k] * u[j * n + k];
        u[j * n + i] = s / l[i * n + i];
      }
    }
    const inv = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j <= i; j++) {
        let s = 0;
        for (let k = i; k < n; k++) s += u[i * n + k] * u[j * n + k];
        inv[i * n + j] = s;
        inv[j * n + i] = s;
      }
    }
    return { l, inv };
  }

  for (const n of [31, 33, 64, 67, 97, 130]) {
    it(`factor and inverse equal the unblocked k-ascending sums exactly (n = ${n})`, () => {
      let x = n;
      const next = (): number => {
        x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
        return x / 2 ** 32 - 0.5;
      };
      const b = Float64Array.from({ length: n * n }, next);
      const a = new Float64Array(n * n);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j <= i; j++) {
          let s = i === j ? 0.5 * n : 0;
          for (let k = 0; k < n; k++) s += b[i * n + k] * b[j * n + k];
          a[i * n + j] = a[j * n + i] = s;
        }
      }
      const ref = textbook(a, n);
      const l = a.slice();
      expect(choleskyFactor(l, n)).toBe(true);
      let factorMismatch = 0;
      for (let i = 0; i < n * n; i++) if (l[i] !== ref.l[i]) factorMismatch++;
      expect(factorMismatch).toBe(0);
      const inv = choleskyInverse(l, n);
      let inverseMismatch = 0;
      for (let i = 0; i < n * n; i++) if (inv[i] !== ref.inv[i]) inverseMismatch++;
      expect(inverseMismatch).toBe(0);
      // and it is the inverse: A·A⁻¹ = I
      let worst = 0;
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let k = 0; k < n; k++) s += a[i * n + k] * inv[k * n + j];
          worst = Math.max(worst, Math.abs(s - (i === j ? 1 : 0)));
        }
      }
      expect(worst).toBeLessThan(1e-10);
    });
  }
});
