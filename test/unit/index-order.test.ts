/**
 * `millerIndexOrder`: the rows sorted by (h, k, l), ties in row order, exactly as a stable comparison sort orders
 * them, for small boxes (the radix path), huge ones (the comparison path), ties, negative indices and empty input.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { millerIndexOrder } from "../../src/merge/index-order.ts";

/** The order of a stable comparison sort by (h, k, l, row). */
function comparisonOrder(hkl: Int32Array): Int32Array {
  return Int32Array.from({ length: hkl.length / 3 }, (_, i) => i).sort((a, b) => {
    for (let c = 0; c < 3; c++) {
      const d = hkl[3 * a + c] - hkl[3 * b + c];
      if (d !== 0) return d;
    }
    return a - b;
  });
}

describe("millerIndexOrder", () => {
  it("equals a stable comparison sort by (h, k, l, row), for any box and number of rows", () => {
    const arb = fc.record({
      n: fc.integer({ min: 0, max: 6000 }),
      // 3: many ties; 60: a usual box; 2^21: a box too large for one exact integer per row (the comparison path)
      range: fc.constantFrom(3, 60, 2 ** 21),
      seed: fc.integer({ min: 1, max: 2 ** 30 }),
    });
    fc.assert(
      fc.property(arb, ({ n, range, seed }) => {
        let x = seed >>> 0;
        const next = (): number => {
          x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
          return x / 2 ** 32;
        };
        const hkl = new Int32Array(3 * n);
        for (let i = 0; i < hkl.length; i++) hkl[i] = Math.floor((next() - 0.5) * 2 * range);
        expect(Array.from(millerIndexOrder(hkl))).toEqual(Array.from(comparisonOrder(hkl)));
      }),
      { seed: 11, numRuns: 60 },
    );
  });

  it("sorts by h first, then k, then l (not by the box rank of another axis order)", () => {
    const hkl = Int32Array.from([1, 0, 0, 0, 5, 0, 0, 0, 9, 0, 0, -9, -1, 7, 7, 0, 5, 0]);
    expect(Array.from(millerIndexOrder(hkl))).toEqual([4, 3, 2, 1, 5, 0]);
  });
});
