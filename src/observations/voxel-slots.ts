/**
 * Pass 1 of grouping diffuse rows: counting the rows of every voxel of a source and numbering the voxels in increasing
 * order — with a table over the voxel range when it is small, else with a hash table of the distinct voxels (memory
 * per voxel, never per row, so it also serves sources larger than memory).
 *
 * @packageDocumentation
 */
import { ConfigError } from "../errors.ts";
import { sharedInt32 } from "../runtime/shared-arrays.ts";
import type { DiffuseChunkSource } from "./scaling-input.ts";

/** Above this voxel range (max − min + 1), voxels are counted in a hash table instead of a table over the range. */
const DENSE_TABLE_LIMIT = 1 << 27;

/** The voxels of a diffuse source: their indices, row counts (before selection) and how a row finds its voxel. */
export interface VoxelSlots {
  /** Rows counted (before selection when the source has `voxelChunks`). */
  readonly nRows: number;
  /** Voxel indices, ascending. */
  readonly unique: Float64Array;
  /** Rows per voxel. */
  readonly counts: Int32Array;
  /** Dense voxel id (−1: none) by `voxel − lo` (small ranges), or undefined: ids by binary search in `unique`. */
  readonly table: Int32Array | undefined;
  /** Lower voxel bound of the table. */
  readonly lo: number;
}

/** The voxel index of every row, chunk by chunk: the source's own voxel pass, or its rows. */
function* voxelsOf(source: DiffuseChunkSource): Iterable<Float64Array> {
  if (source.voxelChunks !== undefined) {
    yield* source.voxelChunks();
    return;
  }
  for (const chunk of source.chunks()) yield chunk.voxel;
}

/**
 * Whether the voxels of `source` are counted in a table over their range (`sharedInt32(range)`) rather than in a
 * hash table: the range is at most {@link DENSE_TABLE_LIMIT} and not much larger than the rows.
 */
export function denseVoxelRange(source: DiffuseChunkSource): number | undefined {
  const [lo, hi] = source.voxelBounds;
  const range = hi - lo + 1;
  return Number.isFinite(range) && range <= DENSE_TABLE_LIMIT && range <= 4 * source.maxRows + (1 << 20)
    ? range
    : undefined;
}

/**
 * Adds rows [from, to) of `v` to the counts `table[v − lo]` of a range of `range` voxels. Returns the first row
 * outside the range, or −1 (rows before it are counted).
 */
export function addVoxelCounts(v: Float64Array, from: number, to: number, table: Int32Array, lo: number): number {
  const range = table.length;
  for (let i = from; i < to; i++) {
    const j = v[i] - lo;
    if (!(j >= 0 && j < range)) return i;
    table[j]++;
  }
  return -1;
}

/**
 * Numbers the counted voxels of `table` (counts over `[lo, lo + table.length)`) in increasing order; the table then
 * holds each voxel's dense id (−1: no such voxel).
 */
export function numberVoxels(table: Int32Array, lo: number, nRows: number): VoxelSlots {
  const range = table.length;
  let nUnique = 0;
  for (let j = 0; j < range; j++) if (table[j] !== 0) nUnique++;
  const unique = new Float64Array(nUnique);
  const counts = new Int32Array(nUnique);
  for (let j = 0, u = 0; j < range; j++) {
    if (table[j] === 0) {
      table[j] = -1; // no such voxel
      continue;
    }
    unique[u] = lo + j;
    counts[u] = table[j];
    table[j] = u++; // from now on: the dense id
  }
  return { nRows, unique, counts, table, lo };
}

/** Pass 1 over a diffuse source: counts the rows of every voxel and numbers the voxels. */
export function countVoxels(source: DiffuseChunkSource): VoxelSlots {
  const [lo, hi] = source.voxelBounds;
  const outside = (row: number, v: number): ConfigError =>
    new ConfigError(`diffuse row ${row}: voxel index ${v} outside [${lo}, ${hi}]`);
  const range = denseVoxelRange(source);
  if (range !== undefined) {
    // in shared memory: placement threads look voxels up in it without a copy (it may be the largest array here)
    const table = sharedInt32(Math.max(1, range)).subarray(0, range);
    let nRows = 0;
    for (const v of voxelsOf(source)) {
      const bad = addVoxelCounts(v, 0, v.length, table, lo);
      if (bad >= 0) throw outside(nRows + bad, v[bad]);
      nRows += v.length;
    }
    return numberVoxels(table, lo, nRows);
  }
  // a huge voxel range: count the voxels in a hash table (memory per distinct voxel, not per row), then number them
  // in increasing order (rows find their id by binary search)
  const counter = new VoxelCounter();
  let nRows = 0;
  for (const v of voxelsOf(source)) {
    for (let i = 0; i < v.length; i++) {
      if (!(v[i] >= lo && v[i] <= hi)) throw outside(nRows + i, v[i]);
      counter.add(v[i]);
    }
    nRows += v.length;
  }
  const unique = counter.keys().sort();
  const counts = Int32Array.from(unique, (v) => counter.count(v));
  return { nRows, unique, counts, table: undefined, lo };
}

/** Counts of integer-valued keys in an open-addressing hash table (typed arrays; grows at half load). */
class VoxelCounter {
  private slots = new Float64Array(1 << 16).fill(NaN);
  private counts = new Int32Array(1 << 16);
  private size = 0;

  private static hash(v: number, mask: number): number {
    const low = v >>> 0;
    const high = Math.floor(v / 4294967296) | 0;
    return Math.imul(low ^ Math.imul(high, 0x9e3779b1), 0x85ebca6b) & mask;
  }

  /** Slot of key v: where it is, or the empty slot where it would go. */
  private find(v: number): number {
    const mask = this.slots.length - 1;
    let i = VoxelCounter.hash(v, mask);
    for (;;) {
      const k = this.slots[i];
      if (k === v || k !== k) return i;
      i = (i + 1) & mask;
    }
  }

  add(v: number): void {
    const i = this.find(v);
    if (this.counts[i]++ === 0) {
      this.slots[i] = v;
      if (++this.size * 2 > this.slots.length) this.grow();
    }
  }

  count(v: number): number {
    return this.counts[this.find(v)];
  }

  keys(): Float64Array {
    const out = new Float64Array(this.size);
    let n = 0;
    for (let i = 0; i < this.slots.length; i++) if (this.counts[i] !== 0) out[n++] = this.slots[i];
    return out;
  }

  private grow(): void {
    const slots = this.slots;
    const counts = this.counts;
    this.slots = new Float64Array(2 * slots.length).fill(NaN);
    this.counts = new Int32Array(2 * slots.length);
    for (let i = 0; i < slots.length; i++) {
      if (counts[i] === 0) continue;
      const j = this.find(slots[i]);
      this.slots[j] = slots[i];
      this.counts[j] = counts[i];
    }
  }
}

/**
 * Dense id of voxel `v`: ≥ 0 exactly when `v` is one of `unique` (−1, or undefined for an index outside the table or
 * not an integer, otherwise: callers test `id >= 0`).
 */
export function voxelId(slots: VoxelSlots, v: number): number {
  if (slots.table !== undefined) return slots.table[v - slots.lo];
  const unique = slots.unique;
  let lo = 0;
  let hi = unique.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (unique[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return unique[lo] === v ? lo : -1;
}
