/**
 * Sums over the pixels of one still, per voxel: an open-addressing hash table from a voxel key (a linear grid index,
 * exact below 2^53) to a slot holding Σ counts, Σ (counts − background), Σ correction, Σ q, Σ |q| and the pixel
 * count, interleaved ({@link SLOT_STRIDE} numbers per slot, so that adding a run of pixels touches one cache line).
 * The same table, without the sums, numbers the distinct keys of any list in order of first use.
 *
 * @packageDocumentation
 */

/** Numbers per slot in {@link VoxelAccumulator.sums}. */
export const SLOT_STRIDE = 8;
/** Offsets in a slot of {@link VoxelAccumulator.sums}. */
export const SUM_COUNTS = 0;
export const SUM_NET = 1;
export const SUM_CORRECTION = 2;
export const SUM_QX = 3;
export const SUM_QY = 4;
export const SUM_QZ = 5;
export const SUM_QLENGTH = 6;
export const SUM_PIXELS = 7;

/** A hash of a non-negative integer key below 2^53 (`>>> 0` is the key modulo 2^32, without a floating-point `%`). */
function hashKey(key: number): number {
  const lo = key >>> 0;
  const hi = key < 4294967296 ? 0 : (key / 4294967296) >>> 0;
  return Math.imul(lo ^ Math.imul(hi, 0x27d4eb2d), 0x9e3779b1) ^ (lo >>> 15);
}

/** The sums of one voxel's pixels, slot by slot. */
export class VoxelAccumulator {
  /** Number of slots in use (slots are 0..size−1 in order of first use). */
  size = 0;
  /** The key of each slot. */
  keys: Float64Array;
  /**
   * Per slot, {@link SLOT_STRIDE} numbers: Σ raw counts, Σ (counts − background), Σ of the pixels' correction factors
   * (P·Ω·QE, or 1 each when no correction is on), Σ q (3), Σ |q|, pixels summed (offsets `SUM_*`).
   */
  sums: Float64Array;
  #table: Int32Array;
  #mask: number;
  #second: VoxelAccumulator | undefined;

  constructor(capacity = 1 << 12) {
    let c = 16;
    while (c < capacity) c *= 2;
    this.keys = new Float64Array(c);
    this.sums = new Float64Array(SLOT_STRIDE * c);
    this.#table = new Int32Array(2 * c).fill(-1);
    this.#mask = 2 * c - 1;
  }

  /** A second accumulator kept with this one (scratch for combining this one's slots; created on first use). */
  second(): VoxelAccumulator {
    this.#second ??= new VoxelAccumulator(this.keys.length);
    return this.#second;
  }

  /** Empties the table, keeping its memory. */
  clear(): void {
    this.#table.fill(-1);
    this.sums.fill(0, 0, SLOT_STRIDE * this.size);
    this.size = 0;
  }

  /** The slot of `key` (a non-negative integer below 2^53), created empty when new (which may replace `sums`). */
  slot(key: number): number {
    const table = this.#table;
    const mask = this.#mask;
    const keys = this.keys;
    let h = hashKey(key) & mask;
    for (;;) {
      const s = table[h];
      if (s < 0) break;
      if (keys[s] === key) return s;
      h = (h + 1) & mask;
    }
    if (this.size === keys.length) {
      this.#grow();
      return this.slot(key);
    }
    const s = this.size++;
    keys[s] = key;
    table[h] = s;
    return s;
  }

  /** Adds the sums of `pixels` pixels of one voxel. */
  add(
    key: number,
    counts: number,
    net: number,
    correction: number,
    qx: number,
    qy: number,
    qz: number,
    qLength: number,
    pixels: number,
  ): void {
    const o = SLOT_STRIDE * this.slot(key);
    const sums = this.sums;
    sums[o + SUM_COUNTS] += counts;
    sums[o + SUM_NET] += net;
    sums[o + SUM_CORRECTION] += correction;
    sums[o + SUM_QX] += qx;
    sums[o + SUM_QY] += qy;
    sums[o + SUM_QZ] += qz;
    sums[o + SUM_QLENGTH] += qLength;
    sums[o + SUM_PIXELS] += pixels;
  }

  #grow(): void {
    const c = 2 * this.keys.length;
    const keys = new Float64Array(c);
    keys.set(this.keys);
    const sums = new Float64Array(SLOT_STRIDE * c);
    sums.set(this.sums);
    this.keys = keys;
    this.sums = sums;
    this.#table = new Int32Array(2 * c).fill(-1);
    this.#mask = 2 * c - 1;
    for (let s = 0; s < this.size; s++) {
      let h = hashKey(this.keys[s]) & this.#mask;
      while (this.#table[h] >= 0) h = (h + 1) & this.#mask;
      this.#table[h] = s;
    }
  }
}
