/**
 * Sums over the pixels of one still, per voxel: an open-addressing hash table from a voxel key (a linear grid index,
 * exact below 2^53) to a slot holding Σ counts, Σ (counts − background), Σ correction, Σ q, Σ |q| and the pixel
 * count. Consecutive pixels mostly fall in the same voxel, so the last key is remembered.
 *
 * @packageDocumentation
 */

/** The sums of one voxel's pixels, slot by slot. */
export class VoxelAccumulator {
  /** Number of slots in use (slots are 0..size−1 in order of first use). */
  size = 0;
  /** The key of each slot. */
  keys: Float64Array;
  /** Σ raw counts. */
  counts: Float64Array;
  /** Σ (counts − background). */
  net: Float64Array;
  /** Σ of the pixels' correction factors (P·Ω·QE, or 1 each when no correction is on). */
  correction: Float64Array;
  /** Σ q (3 per slot). */
  q: Float64Array;
  /** Σ |q|. */
  qLength: Float64Array;
  /** Pixels summed. */
  pixels: Int32Array;
  #table: Int32Array;
  #mask: number;
  #lastKey = -1;
  #lastSlot = -1;

  constructor(capacity = 1 << 12) {
    let c = 16;
    while (c < capacity) c *= 2;
    this.keys = new Float64Array(c);
    this.counts = new Float64Array(c);
    this.net = new Float64Array(c);
    this.correction = new Float64Array(c);
    this.q = new Float64Array(3 * c);
    this.qLength = new Float64Array(c);
    this.pixels = new Int32Array(c);
    this.#table = new Int32Array(2 * c).fill(-1);
    this.#mask = 2 * c - 1;
  }

  /** Empties the table, keeping its memory. */
  clear(): void {
    this.#table.fill(-1);
    this.counts.fill(0, 0, this.size);
    this.net.fill(0, 0, this.size);
    this.correction.fill(0, 0, this.size);
    this.q.fill(0, 0, 3 * this.size);
    this.qLength.fill(0, 0, this.size);
    this.pixels.fill(0, 0, this.size);
    this.size = 0;
    this.#lastKey = -1;
    this.#lastSlot = -1;
  }

  static #hash(key: number): number {
    const lo = (key % 4294967296) | 0;
    const hi = (key / 4294967296) | 0;
    return Math.imul(lo ^ Math.imul(hi, 0x27d4eb2d), 0x9e3779b1) ^ (lo >>> 15);
  }

  /** The slot of `key` (a non-negative integer below 2^53), created empty when new. */
  slot(key: number): number {
    if (key === this.#lastKey) return this.#lastSlot;
    let h = VoxelAccumulator.#hash(key) & this.#mask;
    for (;;) {
      const s = this.#table[h];
      if (s < 0) break;
      if (this.keys[s] === key) {
        this.#lastKey = key;
        this.#lastSlot = s;
        return s;
      }
      h = (h + 1) & this.#mask;
    }
    if (this.size === this.keys.length) {
      this.#grow();
      return this.slot(key);
    }
    const s = this.size++;
    this.keys[s] = key;
    this.#table[h] = s;
    this.#lastKey = key;
    this.#lastSlot = s;
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
    const s = this.slot(key);
    this.counts[s] += counts;
    this.net[s] += net;
    this.correction[s] += correction;
    this.q[3 * s] += qx;
    this.q[3 * s + 1] += qy;
    this.q[3 * s + 2] += qz;
    this.qLength[s] += qLength;
    this.pixels[s] += pixels;
  }

  #grow(): void {
    const c = 2 * this.keys.length;
    const grow = <T extends Float64Array | Int32Array>(a: T, n: number): T => {
      const b = new (a.constructor as new (n: number) => T)(n);
      b.set(a);
      return b;
    };
    this.keys = grow(this.keys, c);
    this.counts = grow(this.counts, c);
    this.net = grow(this.net, c);
    this.correction = grow(this.correction, c);
    this.q = grow(this.q, 3 * c);
    this.qLength = grow(this.qLength, c);
    this.pixels = grow(this.pixels, c);
    this.#table = new Int32Array(2 * c).fill(-1);
    this.#mask = 2 * c - 1;
    for (let s = 0; s < this.size; s++) {
      let h = VoxelAccumulator.#hash(this.keys[s]) & this.#mask;
      while (this.#table[h] >= 0) h = (h + 1) & this.#mask;
      this.#table[h] = s;
    }
    this.#lastKey = -1;
    this.#lastSlot = -1;
  }
}
