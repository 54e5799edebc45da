/**
 * The order of rows inside a group: by still, stable (rows of one still keep their source order).
 *
 * @packageDocumentation
 */

/**
 * Stable sort of each group's rows by still, for groups `[groupBegin, groupEnd)` whose rows are not already in still
 * order (rows arrive in source order; sources written still by still need nothing). The `carried` columns move with
 * the stills.
 */
export function sortGroupsByStill(
  still: Int32Array,
  carried: readonly (Float32Array | Int32Array)[],
  groupStart: Int32Array,
  groupBegin: number,
  groupEnd: number,
): void {
  for (let h = groupBegin; h < groupEnd; h++) {
    const begin = groupStart[h];
    const end = groupStart[h + 1];
    let sorted = true;
    for (let o = begin + 1; o < end && sorted; o++) if (still[o] < still[o - 1]) sorted = false;
    if (sorted) continue;
    const m = end - begin;
    // still·m + position is unique and orders by still, then by position (stable); exact below 2^53
    const packed = new Float64Array(m);
    for (let t = 0; t < m; t++) packed[t] = still[begin + t] * m + t;
    packed.sort();
    const from = new Int32Array(m);
    for (let t = 0; t < m; t++) from[t] = packed[t] % m;
    for (const column of [still, ...carried]) {
      const copy = column.slice(begin, end);
      for (let t = 0; t < m; t++) column[begin + t] = copy[from[t]];
    }
  }
}
