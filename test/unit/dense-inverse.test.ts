import { describe, expect, it } from "vitest";
import { seededRandom } from "../../src/merge/seeded-random.ts";
import { equalWorkCuts, invertInPayload } from "../../src/passes/dense-inverse.ts";
import { ShardWorkspace } from "../../src/passes/pass-handlers.ts";
import { MAX_MATRIX_ITEMS, type JointPassPayload } from "../../src/passes/pass-payload.ts";
import { choleskyFactorKernel, choleskyInverseKernel } from "../../src/solve/cholesky.ts";

/** A random symmetric positive-definite n×n matrix (BᵀB/n + I with B uniform in [−1, 1)), row-major. */
function randomSpd(n: number, seed: number): Float64Array {
  const rand = seededRandom(seed);
  const b = Float64Array.from({ length: n * n }, () => 2 * rand() - 1);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += b[k * n + i] * b[k * n + j];
      a[i * n + j] = s / n + (i === j ? 1 : 0);
      a[j * n + i] = a[i * n + j];
    }
  }
  return a;
}

/** The part of a pass payload the dense-inverse modes use, for an n×n matrix. */
function matrixPayload(a: Float64Array, n: number): JointPassPayload {
  const fields = {
    matrix: Float64Array.from(a),
    inverseFactor: new Float64Array(n * n).fill(Number.NaN),
    matrixTask: new Int32Array(3 + MAX_MATRIX_ITEMS),
  };
  // only these three fields are read by the modes under test
  return fields as unknown as JointPassPayload;
}

/** Runs the items in this thread, in reverse order (the items of a step must not depend on one another). */
function reverseItems(p: JointPassPayload, log: number[][]) {
  const workspace = new ShardWorkspace(p);
  return (mode: Parameters<typeof workspace.compute>[0], nItems: number) => {
    log.push([mode, nItems]);
    for (let k = nItems - 1; k >= 0; k--) workspace.compute(mode, k);
  };
}

function sameBits(a: Float64Array, b: Float64Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

describe("invertInPayload", () => {
  for (const n of [1, 2, 5, 31, 32, 33, 64, 70, 97, 130]) {
    it(`n = ${n}: bit-identical to the one-thread factor and inverse for 1 to 5 threads`, () => {
      const a = randomSpd(n, n);
      const l = Float64Array.from(a);
      expect(choleskyFactorKernel(l, n)).toBe(true);
      const expected = choleskyInverseKernel(l, n);
      for (const threads of [1, 2, 3, 5]) {
        const p = matrixPayload(a, n);
        const log: number[][] = [];
        expect(invertInPayload(p, n, threads, reverseItems(p, log))).toBe(true);
        expect(sameBits(p.matrix, expected)).toBe(true);
        // the two inverse steps always run on the threads; the factor's from its second step on
        expect(log.length).toBe(2 + Math.max(0, Math.ceil(n / (32 * threads)) - 1));
      }
    });
  }

  it("returns false for a matrix that is not positive definite", () => {
    const n = 70;
    const a = randomSpd(n, 7);
    a[65 * n + 65] = -1;
    const p = matrixPayload(a, n);
    expect(invertInPayload(p, n, 2, reverseItems(p, []))).toBe(false);
  });

  it("the inverse times A is the identity to rounding", () => {
    const n = 45;
    const a = randomSpd(n, 3);
    const p = matrixPayload(a, n);
    expect(invertInPayload(p, n, 2, reverseItems(p, []))).toBe(true);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let k = 0; k < n; k++) s += p.matrix[i * n + k] * a[k * n + j];
        expect(Math.abs(s - (i === j ? 1 : 0))).toBeLessThan(1e-12);
      }
    }
  });
});

describe("equalWorkCuts", () => {
  it("cuts every unit once into at most the asked number of non-empty ranges of about equal work", () => {
    const work = (u: number) => (100 - u) ** 2;
    const cuts = equalWorkCuts(100, work, 4);
    expect(cuts[0]).toBe(0);
    expect(cuts[cuts.length - 1]).toBe(100);
    expect(cuts.length).toBe(5);
    const sums = cuts.slice(1).map((c, k) => {
      let s = 0;
      for (let u = cuts[k]; u < c; u++) s += work(u);
      return s;
    });
    const total = sums.reduce((x, y) => x + y, 0);
    for (const s of sums) expect(Math.abs(s - total / 4)).toBeLessThanOrEqual(work(0));
  });

  it("gives fewer ranges than asked when there are fewer units", () => {
    expect(equalWorkCuts(2, () => 1, 8)).toEqual([0, 1, 2]);
    expect(equalWorkCuts(1, () => 1, 8)).toEqual([0, 1]);
  });
});
