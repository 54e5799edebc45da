import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { choleskyFactor, choleskyInverse, choleskySolve } from "../../src/solve/cholesky.ts";
import { conjugateGradient } from "../../src/solve/conjugate-gradient.ts";
import { arrowInverse, arrowSolve, arrowToDense } from "../../src/solve/schur-complement.ts";
import type { ArrowMatrix } from "../../src/solve/schur-complement.ts";
import { seededRandom } from "../../src/merge/seeded-random.ts";

/** A = MᵀM + δ·I with M (n+2)×n uniform in [−1, 1]: symmetric positive definite. */
function randomSpd(n: number, seed: number, delta = 0.1): Float64Array {
  const r = seededRandom(seed);
  const rows = n + 2;
  const m = Float64Array.from({ length: rows * n }, () => 2 * r() - 1);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < rows; k++) s += m[k * n + i] * m[k * n + j];
      a[i * n + j] = s + (i === j ? delta : 0);
    }
  }
  return a;
}

function matVec(a: Float64Array, n: number, x: ArrayLike<number>): Float64Array {
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += a[i * n + j] * x[j];
    y[i] = s;
  }
  return y;
}

function maxAbs(v: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < v.length; i++) m = Math.max(m, Math.abs(v[i]));
  return m;
}

function denseSolve(a: Float64Array, n: number, b: Float64Array): Float64Array {
  const l = Float64Array.from(a);
  if (!choleskyFactor(l, n)) throw new Error("reference matrix not SPD");
  return choleskySolve(l, n, b);
}

/** A random arrow system built as JᵀJ + δI, J with rows touching one block of D plus the shared parameters. */
function randomArrow(nBlocks: number, s: number, k: number, seed: number): ArrowMatrix {
  const r = seededRandom(seed);
  const m = nBlocks * s;
  const n = m + k;
  const a = new Float64Array(n * n);
  const row = new Float64Array(n);
  for (let j = 0; j < nBlocks; j++) {
    for (let q = 0; q < s + 2; q++) {
      row.fill(0);
      for (let p = 0; p < s; p++) row[j * s + p] = 2 * r() - 1;
      for (let c = 0; c < k; c++) row[m + c] = 2 * r() - 1;
      for (let u = 0; u < n; u++) {
        if (row[u] === 0) continue;
        for (let v = 0; v < n; v++) a[u * n + v] += row[u] * row[v];
      }
    }
  }
  for (let i = 0; i < n; i++) a[i * n + i] += 0.1;
  const d = new Float64Array(nBlocks * s * s);
  for (let j = 0; j < nBlocks; j++) {
    for (let p = 0; p < s; p++) for (let q = 0; q < s; q++) d[j * s * s + p * s + q] = a[(j * s + p) * n + j * s + q];
  }
  const b = new Float64Array(m * k);
  for (let i = 0; i < m; i++) for (let c = 0; c < k; c++) b[i * k + c] = a[i * n + m + c];
  const cc = new Float64Array(k * k);
  for (let p = 0; p < k; p++) for (let q = 0; q < k; q++) cc[p * k + q] = a[(m + p) * n + m + q];
  return { nBlocks, blockSize: s, d, k, b, c: cc };
}

const spdArb = fc.record({ n: fc.integer({ min: 1, max: 40 }), seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }) });

describe("Cholesky properties", () => {
  it("L·Lᵀ reconstructs A and the solve has a small residual", () => {
    fc.assert(
      fc.property(spdArb, ({ n, seed }) => {
        const a = randomSpd(n, seed);
        const l = Float64Array.from(a);
        expect(choleskyFactor(l, n)).toBe(true);
        const scale = maxAbs(a);
        let upper = 0;
        let err = 0;
        for (let i = 0; i < n; i++) {
          for (let j = 0; j < n; j++) {
            if (j > i) upper = Math.max(upper, Math.abs(l[i * n + j]));
            let s = 0;
            for (let k = 0; k <= Math.min(i, j); k++) s += l[i * n + k] * l[j * n + k];
            err = Math.max(err, Math.abs(s - a[i * n + j]));
          }
        }
        expect(upper).toBe(0);
        expect(err).toBeLessThanOrEqual(1e-10 * scale);
        const r = seededRandom(seed + 1);
        const b = Float64Array.from({ length: n }, () => 2 * r() - 1);
        const x = choleskySolve(l, n, b);
        const ax = matVec(a, n, x);
        for (let i = 0; i < n; i++)
          expect(Math.abs(ax[i] - b[i])).toBeLessThanOrEqual(1e-10 * Math.max(1, scale * maxAbs(x)));
      }),
      { seed: 42, numRuns: 150 },
    );
  });

  it("A·A⁻¹ = I", () => {
    fc.assert(
      fc.property(spdArb, ({ n, seed }) => {
        const a = randomSpd(n, seed, 0.5);
        const l = Float64Array.from(a);
        choleskyFactor(l, n);
        const inv = choleskyInverse(l, n);
        const bound = 1e-9 * maxAbs(a) * maxAbs(inv);
        let err = 0;
        for (let j = 0; j < n; j++) {
          const col = matVec(
            a,
            n,
            Array.from({ length: n }, (_, i) => inv[i * n + j]),
          );
          for (let i = 0; i < n; i++) err = Math.max(err, Math.abs(col[i] - (i === j ? 1 : 0)));
        }
        expect(err).toBeLessThanOrEqual(bound);
      }),
      { seed: 42, numRuns: 100 },
    );
  });

  it("detects indefinite matrices", () => {
    fc.assert(
      fc.property(spdArb, ({ n, seed }) => {
        // A − t·vvᵀ with t = 2·vᵀAv/(vᵀv)² has vᵀ(A − t vvᵀ)v = −vᵀAv < 0
        const a = randomSpd(n, seed);
        const r = seededRandom(seed + 7);
        const v = Float64Array.from({ length: n }, () => 2 * r() - 1);
        const av = matVec(a, n, v);
        let vav = 0;
        let vv = 0;
        for (let i = 0; i < n; i++) {
          vav += v[i] * av[i];
          vv += v[i] * v[i];
        }
        const t = (2 * vav) / (vv * vv);
        for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] -= t * v[i] * v[j];
        expect(choleskyFactor(a, n)).toBe(false);
      }),
      { seed: 42, numRuns: 150 },
    );
  });
});

const arrowArb = fc.record({
  nBlocks: fc.integer({ min: 0, max: 25 }),
  s: fc.integer({ min: 1, max: 3 }),
  k: fc.integer({ min: 0, max: 6 }),
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  shift: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 10, noNaN: true })),
});

describe("Schur complement properties", () => {
  it("arrowSolve equals the dense Cholesky solve", () => {
    fc.assert(
      fc.property(arrowArb, ({ nBlocks, s, k, seed, shift }) => {
        const n = nBlocks * s + k;
        fc.pre(n > 0);
        const sys = randomArrow(nBlocks, s, k, seed);
        const a = arrowToDense(sys);
        for (let i = 0; i < n; i++) a[i * n + i] += shift;
        const r = seededRandom(seed + 3);
        const rhs = Float64Array.from({ length: n }, () => 2 * r() - 1);
        const expected = denseSolve(a, n, rhs);
        const x = arrowSolve(sys, rhs, { shift });
        expect(x).toBeDefined();
        const scale = Math.max(1, maxAbs(expected));
        for (let i = 0; i < n; i++)
          expect(Math.abs((x?.[i] ?? Number.NaN) - expected[i])).toBeLessThanOrEqual(1e-10 * scale);
      }),
      { seed: 42, numRuns: 150 },
    );
  });

  it("arrowInverse equals the dense inverse on the arrow positions", () => {
    fc.assert(
      fc.property(arrowArb, ({ nBlocks, s, k, seed, shift }) => {
        const n = nBlocks * s + k;
        fc.pre(n > 0);
        const sys = randomArrow(nBlocks, s, k, seed);
        const a = arrowToDense(sys);
        for (let i = 0; i < n; i++) a[i * n + i] += shift;
        choleskyFactor(a, n);
        const dense = choleskyInverse(a, n);
        const inv = arrowInverse(sys, { shift });
        expect(inv).toBeDefined();
        const got = arrowToDense(inv ?? sys);
        const m = nBlocks * s;
        const scale = Math.max(1, maxAbs(dense));
        for (let i = 0; i < n; i++) {
          for (let j = 0; j < n; j++) {
            const inArrow = i >= m || j >= m || Math.floor(i / s) === Math.floor(j / s);
            if (inArrow) expect(Math.abs(got[i * n + j] - dense[i * n + j])).toBeLessThanOrEqual(1e-10 * scale);
          }
        }
      }),
      { seed: 42, numRuns: 100 },
    );
  });
});

describe("preconditioned conjugate gradient properties", () => {
  it("equals the dense solve to 1e-8 with no, diagonal and block preconditioners", () => {
    fc.assert(
      fc.property(
        fc.record({
          nb: fc.integer({ min: 1, max: 15 }),
          s: fc.integer({ min: 1, max: 3 }),
          seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
          which: fc.integer({ min: 0, max: 2 }),
        }),
        ({ nb, s, seed, which }) => {
          const n = nb * s;
          const a = randomSpd(n, seed, 0.5);
          const r = seededRandom(seed + 5);
          const b = Float64Array.from({ length: n }, () => 2 * r() - 1);
          const expected = denseSolve(a, n, b);
          const diagonal = Float64Array.from({ length: n }, (_, i) => a[i * n + i]);
          const blocks = new Float64Array(nb * s * s);
          for (let j = 0; j < nb; j++) {
            for (let p = 0; p < s; p++)
              for (let q = 0; q < s; q++) blocks[j * s * s + p * s + q] = a[(j * s + p) * n + j * s + q];
          }
          const options =
            which === 0
              ? { tolerance: 1e-13 }
              : which === 1
                ? { tolerance: 1e-13, preconditioner: { kind: "diagonal" as const, diagonal } }
                : { tolerance: 1e-13, preconditioner: { kind: "block" as const, blockSize: s, blocks } };
          const res = conjugateGradient(
            (x, out) => {
              out.set(matVec(a, n, x));
            },
            b,
            options,
          );
          expect(res.converged).toBe(true);
          const scale = Math.max(1, maxAbs(expected));
          for (let i = 0; i < n; i++) expect(Math.abs(res.x[i] - expected[i])).toBeLessThanOrEqual(1e-8 * scale);
        },
      ),
      { seed: 42, numRuns: 150 },
    );
  });
});
