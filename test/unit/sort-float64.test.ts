import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { SortFloat64Scratch, sortFloat64 } from "../../src/runtime/sort-float64.ts";

/** The bytes of a Float64Array (so that −0 and +0, and NaN payloads, are told apart). */
function bytes(a: Float64Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function expectSameAsBuiltIn(values: Float64Array): void {
  const expected = values.slice().sort();
  const actual = sortFloat64(values.slice());
  expect(bytes(actual)).toEqual(bytes(expected));
}

describe("sortFloat64", () => {
  it("orders as Float64Array.prototype.sort, −0 before +0, infinities at the ends", () => {
    const special = [0, -0, Infinity, -Infinity, Number.MIN_VALUE, -Number.MIN_VALUE, Number.MAX_VALUE, 1, -1];
    let seed = 3;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    for (const n of [5000, 20000]) {
      const a = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const r = rnd();
        a[i] =
          r < 0.1
            ? special[Math.floor(rnd() * special.length)]
            : r < 0.4
              ? Math.round((rnd() - 0.5) * 20)
              : (rnd() - 0.5) * Math.exp((rnd() - 0.5) * 200);
      }
      expectSameAsBuiltIn(a);
    }
  });

  it("agrees with the built-in sort on arbitrary doubles, short and long (NaN included)", () => {
    fc.assert(
      fc.property(fc.array(fc.double(), { minLength: 0, maxLength: 6000 }), (xs) => {
        expectSameAsBuiltIn(Float64Array.from(xs));
      }),
      { numRuns: 60 },
    );
  });

  it("sorts arrays of one repeated value and already sorted arrays", () => {
    expectSameAsBuiltIn(new Float64Array(4096).fill(2.5));
    expectSameAsBuiltIn(Float64Array.from({ length: 4096 }, (_, i) => i - 2000));
    expectSameAsBuiltIn(Float64Array.from({ length: 4096 }, (_, i) => 2000 - i));
  });

  it("gives the same order with working arrays reused across calls of different lengths", () => {
    const scratch = new SortFloat64Scratch();
    let seed = 11;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    // longer, shorter (stale keys beyond n), longer again (the arrays grow), and a view into a larger buffer
    for (const n of [6000, 3000, 9000, 2500]) {
      const values = Float64Array.from({ length: n }, () => (rnd() - 0.5) * Math.exp((rnd() - 0.5) * 60));
      const expected = values.slice().sort();
      expect(bytes(sortFloat64(values.slice(), scratch))).toEqual(bytes(expected));
      const host = new Float64Array(n + 7);
      host.set(values, 5);
      expect(bytes(sortFloat64(host.subarray(5, 5 + n), scratch))).toEqual(bytes(expected));
    }
  });
});
