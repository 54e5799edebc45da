/**
 * Grouping Bragg rows by ASU reflection: each Miller index packed into one number whose order is (h, k, l), the
 * distinct ones numbered in increasing order, and the rows of every group in still order.
 *
 * @packageDocumentation
 */
import { ConfigError } from "../errors.ts";
import { setInitialWeights } from "./initial-weight.ts";
import type { RowColumns } from "./row-columns.ts";
import { checkStills, type BraggInput } from "./scaling-input.ts";
import { sortGroupsByStill } from "./still-order.ts";

const HKL_OFFSET = 1 << 15;
const HKL_RANGE = 1 << 16;

/** Packs an hkl into one number whose order is lexicographic (h, k, l); |h|,|k|,|l| < 2^15 (the packed value stays below 2^48, exact in a double). */
export function packHkl(h: number, k: number, l: number): number {
  return ((h + HKL_OFFSET) * HKL_RANGE + (k + HKL_OFFSET)) * HKL_RANGE + (l + HKL_OFFSET);
}

/**
 * Assigns dense ids 0..nUnique-1 to integer-valued keys in increasing key order, by sorting a copy and binary search
 * (the packed hkl of Bragg rows). No per-row `Map`.
 */
export function denseIds(keys: Float64Array): { ids: Int32Array; unique: Float64Array } {
  const n = keys.length;
  const ids = new Int32Array(n);
  if (n === 0) return { ids, unique: new Float64Array(0) };
  const sorted = Float64Array.from(keys).sort();
  let nUnique = 0;
  for (let i = 0; i < n; i++) if (i === 0 || sorted[i] !== sorted[nUnique - 1]) sorted[nUnique++] = sorted[i];
  const unique = sorted.slice(0, nUnique);
  for (let i = 0; i < n; i++) {
    const k = keys[i];
    let lo = 0;
    let hi = nUnique - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (unique[mid] < k) lo = mid + 1;
      else hi = mid;
    }
    ids[i] = lo;
  }
  return { ids, unique };
}

/**
 * The packed Miller index of every Bragg row (its group key), checking the stills and the index range.
 *
 * @throws {@link ConfigError} when a still index is out of range or an hkl is too large to pack.
 */
export function braggGroupKeys(bragg: BraggInput, nStills: number): Float64Array {
  const nB = bragg.still.length;
  const braggKeys = new Float64Array(nB);
  checkStills(bragg.still, nStills, 0);
  const hkl = bragg.asuHkl;
  for (let i = 0; i < nB; i++) {
    const h = hkl[3 * i];
    const k = hkl[3 * i + 1];
    const l = hkl[3 * i + 2];
    if (Math.abs(h) >= HKL_OFFSET || Math.abs(k) >= HKL_OFFSET || Math.abs(l) >= HKL_OFFSET) {
      throw new ConfigError(`Bragg row ${bragg.sourceRow[i]}: Miller index (${h},${k},${l}) out of range`);
    }
    braggKeys[i] = packHkl(h, k, l);
  }
  return braggKeys;
}

/** The Miller indices (n × 3) of packed keys (the inverse of {@link packHkl}). */
export function unpackHkl(keys: Float64Array): Int32Array {
  const nBraggGroups = keys.length;
  const braggHkl = new Int32Array(nBraggGroups * 3);
  for (let g = 0; g < nBraggGroups; g++) {
    let key = keys[g];
    const l = (key % HKL_RANGE) - HKL_OFFSET;
    key = Math.floor(key / HKL_RANGE);
    const k = (key % HKL_RANGE) - HKL_OFFSET;
    const h = Math.floor(key / HKL_RANGE) - HKL_OFFSET;
    braggHkl[3 * g] = h;
    braggHkl[3 * g + 1] = k;
    braggHkl[3 * g + 2] = l;
  }
  return braggHkl;
}

/**
 * Groups the Bragg rows into `c` (rows [0, nB), group offsets from `groupStart`), each group in still order (stable,
 * the source rows travelling along), I and σ² divided by the Bragg unit, and sets their weights.
 */
export function groupBraggRows(
  bragg: BraggInput,
  ids: Int32Array,
  groupStart: Int32Array,
  nBraggGroups: number,
  c: RowColumns,
  sourceRow: Int32Array,
): void {
  const nB = ids.length;
  const next = groupStart.slice(0, nBraggGroups);
  // a power of two: the division is exact (and nothing changes for the unit 1 of ordinary data)
  const unit = bragg.unit ?? 1;
  const unit2 = unit * unit;
  for (let i = 0; i < nB; i++) {
    const j = next[ids[i]]++;
    c.still[j] = bragg.still[i];
    c.intensity[j] = bragg.intensity[i] / unit;
    c.variance[j] = bragg.variance[i] / unit2;
    c.qMagnitude[j] = bragg.qMagnitude[i];
    sourceRow[j] = bragg.sourceRow[i];
  }
  sortGroupsByStill(c.still, [c.intensity, c.variance, c.qMagnitude, sourceRow], groupStart, 0, nBraggGroups);
  setInitialWeights(c, nB);
}
