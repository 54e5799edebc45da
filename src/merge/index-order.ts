/**
 * The order of reflections by their Miller index: the rows sorted by (h, k, l), ties in row order (a stable sort), as
 * merging groups the observations of each unique reflection.
 *
 * @packageDocumentation
 */
import { sortFloat64 } from "../runtime/sort-float64.ts";

/**
 * The rows `0 … n−1` of `hkl` (3 integers a row) sorted by h, then k, then l, then row. Each row becomes one exact
 * integer, `(rank of its index in the box of the data's indices) · n + row`, and these are sorted by the linear-time
 * radix sort ({@link sortFloat64}); when that integer could exceed 2^53 (a huge index box), a comparison sort gives
 * the same order.
 *
 * @param hkl - Miller indices, 3 a row
 * @returns the sorted row numbers
 */
export function millerIndexOrder(hkl: Int32Array): Int32Array {
  const n = Math.floor(hkl.length / 3);
  const min = [Infinity, Infinity, Infinity];
  const max = [-Infinity, -Infinity, -Infinity];
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      const x = hkl[3 * i + c];
      if (x < min[c]) min[c] = x;
      if (x > max[c]) max[c] = x;
    }
  }
  const span1 = max[1] - min[1] + 1;
  const span2 = max[2] - min[2] + 1;
  const nKeys = (max[0] - min[0] + 1) * span1 * span2;
  if (n === 0 || !(nKeys * n <= 2 ** 53)) {
    return Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => {
      for (let c = 0; c < 3; c++) {
        const d = hkl[3 * a + c] - hkl[3 * b + c];
        if (d !== 0) return d;
      }
      return a - b;
    });
  }
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const box = ((hkl[3 * i] - min[0]) * span1 + (hkl[3 * i + 1] - min[1])) * span2 + (hkl[3 * i + 2] - min[2]);
    keys[i] = box * n + i;
  }
  sortFloat64(keys);
  const order = new Int32Array(n);
  for (let j = 0; j < n; j++) order[j] = keys[j] % n;
  return order;
}
