import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { normalCdf, normalPdf, normalQuantile, normalSf } from "../../src/dials/normal-distribution.ts";

/** |actual/expected − 1| ≤ tol. */
function expectRelative(actual: number, expected: number, tol: number): void {
  expect(Math.abs(actual / expected - 1)).toBeLessThanOrEqual(tol);
}

describe("normalCdf", () => {
  // Reference values: mpmath.ncdf at 40 digits (the same quantity as scipy.stats.norm.cdf, which DIALS uses).
  const cases: [number, number][] = [
    [-37, 5.725571222524577e-300],
    [-20, 2.7536241186062337e-89],
    [-8, 6.220960574271784e-16],
    [-5, 2.866515718791939e-7],
    [-3, 0.0013498980316300946],
    [-1.7320508075688772, 0.04163225833177521],
    [-1.5, 0.06680720126885807],
    [-1, 0.15865525393145705],
    [-0.5, 0.3085375387259869],
    [0, 0.5],
    [0.5, 0.6914624612740131],
    [1, 0.8413447460685429],
    [1.5, 0.9331927987311419],
    [2, 0.9772498680518208],
    [3, 0.9986501019683699],
    [6, 0.9999999990134123],
  ];
  for (const [x, p] of cases) {
    it(`Φ(${x}) = ${p} to 2e-15 relative`, () => {
      expectRelative(normalCdf(x), p, 2e-15);
    });
  }

  it("handles the extremes, NaN and the upper tail", () => {
    expect(normalCdf(Number.NEGATIVE_INFINITY)).toBe(0);
    expect(normalCdf(Number.POSITIVE_INFINITY)).toBe(1);
    expect(Number.isNaN(normalCdf(Number.NaN))).toBe(true);
    expectRelative(normalSf(8), 6.220960574271784e-16, 2e-15);
    expectRelative(normalPdf(1), 0.24197072451914337, 1e-15); // e^{-1/2}/√(2π)
  });

  it("is monotone and satisfies Φ(x) + Φ(−x) = 1", () => {
    fc.assert(
      fc.property(
        fc.double({ min: -10, max: 10, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (x, dx) => {
          const sum = normalCdf(x) + normalCdf(-x);
          return Math.abs(sum - 1) <= 2e-16 * 4 && normalCdf(x + dx) >= normalCdf(x);
        },
      ),
      { seed: 42, numRuns: 500 },
    );
  });
});

describe("normalQuantile (AS 241)", () => {
  // Reference values: the root of mpmath.ncdf(x) = p at 40 digits (scipy.stats.norm.ppf).
  const cases: [number, number][] = [
    [1e-300, -37.0470962993612],
    [1e-20, -9.262340089798407],
    [1e-10, -6.361340902404057],
    [0.001, -3.0902323061678136],
    [0.0675, -1.4946722498066198],
    [0.1, -1.2815515655446004],
    [0.3, -0.5244005127080408],
    [0.7, 0.5244005127080407],
    [0.9, 1.2815515655446006],
    [0.975, 1.9599639845400538],
    [0.999, 3.090232306167813],
    [0.999999, 4.753424308817088],
  ];
  for (const [p, x] of cases) {
    it(`Φ⁻¹(${p}) = ${x} to 2e-15 relative`, () => {
      expectRelative(normalQuantile(p), x, 2e-15);
    });
  }

  it("returns 0 at 1/2, ±∞ at 0 and 1, NaN outside [0, 1]", () => {
    expect(normalQuantile(0.5)).toBe(0);
    expect(normalQuantile(0)).toBe(Number.NEGATIVE_INFINITY);
    expect(normalQuantile(1)).toBe(Number.POSITIVE_INFINITY);
    expect(Number.isNaN(normalQuantile(-0.1))).toBe(true);
    expect(Number.isNaN(normalQuantile(1.5))).toBe(true);
    expect(Number.isNaN(normalQuantile(Number.NaN))).toBe(true);
  });

  it("inverts normalCdf: Φ(Φ⁻¹(p)) = p", () => {
    fc.assert(
      fc.property(fc.double({ min: 1e-12, max: 1 - 1e-12, noNaN: true }), (p) => {
        return Math.abs(normalCdf(normalQuantile(p)) / p - 1) <= 1e-13;
      }),
      { seed: 42, numRuns: 1000 },
    );
  });
});
