/**
 * Ascending sort of a `Float64Array` in place by a least-significant-digit radix sort on the IEEE-754 bits: the
 * order `Float64Array.prototype.sort()` gives (−0 before +0, −∞ first, +∞ last), in linear time, for the large
 * arrays the error model sorts many times. Arrays holding a NaN, short arrays and big-endian machines use the built-in
 * sort.
 *
 * @packageDocumentation
 */

/** Shorter arrays are sorted by the built-in sort (the radix passes cost more than they save). */
const RADIX_MIN_LENGTH = 2048;

/** The radix passes read the words of each value in little-endian order. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * Sorts `a` in place into ascending order, exactly as `a.sort()` does; returns `a`.
 *
 * Each value's bits are mapped to an unsigned key that orders as the value does (sign bit flipped for positive
 * values, all bits flipped for negative ones), and the keys (two 32-bit words) are sorted by four stable passes of 16
 * bits, least significant first. Each loop is a function of its own, called with the same argument types every time:
 * the few calls a process makes (the error model sorts a handful of times per refinement cycle) run optimised code
 * from the first pass on, instead of one long function whose every later loop is first interpreted and then
 * deoptimised (a cold first sort took 3–4 times as long).
 *
 * @param scratch - working arrays kept between calls. @defaultValue allocated for this call
 */
export function sortFloat64(a: Float64Array, scratch?: SortFloat64Scratch): Float64Array {
  const n = a.length;
  if (n < RADIX_MIN_LENGTH || !LITTLE_ENDIAN || hasNaN(a)) return a.sort();
  // little-endian words of each value: lo at 2i, hi at 2i + 1
  const words = new Uint32Array(a.buffer, a.byteOffset, 2 * n);
  const work = scratch ?? new SortFloat64Scratch();
  const keys = work.keys(n);
  let lo = keys.subarray(0, n);
  let hi = keys.subarray(n, 2 * n);
  toKeys(words, lo, hi);
  let lo2 = keys.subarray(2 * n, 3 * n);
  let hi2 = keys.subarray(3 * n, 4 * n);
  const count = work.count;
  for (let pass = 0; pass < 4; pass++) {
    const key = pass >= 2 ? hi : lo;
    const shift = (pass & 1) * 16;
    if (digitCounts(key, shift, count)) continue;
    exclusivePrefixSums(count);
    scatterByDigit(key, shift, count, lo, hi, lo2, hi2);
    [lo, lo2] = [lo2, lo];
    [hi, hi2] = [hi2, hi];
  }
  fromKeys(lo, hi, words);
  return a;
}

/**
 * The working arrays of {@link sortFloat64} (the keys of the radix passes and the digit counts), kept between calls:
 * sorts of arrays up to the longest so far allocate nothing (the error model sorts arrays of one length several times
 * per refinement cycle).
 */
export class SortFloat64Scratch {
  private words = new Uint32Array(0);
  /** Counts of one 16-bit digit. */
  readonly count = new Int32Array(65536);

  /** Room for the four key arrays of n values (contents unspecified). */
  keys(n: number): Uint32Array {
    if (this.words.length < 4 * n) this.words = new Uint32Array(4 * n);
    return this.words;
  }
}

/** Whether `a` holds a NaN. */
function hasNaN(a: Float64Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== a[i]) return true;
  return false;
}

/** The unsigned keys (hi, lo words) of the values whose little-endian words are `words`. */
function toKeys(words: Uint32Array, lo: Uint32Array, hi: Uint32Array): void {
  for (let i = 0; i < lo.length; i++) {
    const h = words[2 * i + 1];
    const l = words[2 * i];
    if (h & 0x80000000) {
      hi[i] = ~h >>> 0;
      lo[i] = ~l >>> 0;
    } else {
      hi[i] = (h | 0x80000000) >>> 0;
      lo[i] = l;
    }
  }
}

/** The values' words back from their keys (the inverse of {@link toKeys}). */
function fromKeys(lo: Uint32Array, hi: Uint32Array, words: Uint32Array): void {
  for (let i = 0; i < lo.length; i++) {
    const h = hi[i];
    if (h & 0x80000000) {
      words[2 * i + 1] = (h & 0x7fffffff) >>> 0;
      words[2 * i] = lo[i];
    } else {
      words[2 * i + 1] = ~h >>> 0;
      words[2 * i] = ~lo[i] >>> 0;
    }
  }
}

/** The number of keys with each 16-bit digit at `shift`, into `count`; true when every key has the same digit. */
function digitCounts(key: Uint32Array, shift: number, count: Int32Array): boolean {
  count.fill(0);
  const first = (key[0] >>> shift) & 0xffff;
  let allSame = true;
  for (let i = 0; i < key.length; i++) {
    const d = (key[i] >>> shift) & 0xffff;
    if (d !== first) allSame = false;
    count[d]++;
  }
  return allSame;
}

/** Replaces each count by the sum of the counts before it (the first slot of each digit). */
function exclusivePrefixSums(count: Int32Array): void {
  let sum = 0;
  for (let d = 0; d < count.length; d++) {
    const c = count[d];
    count[d] = sum;
    sum += c;
  }
}

/** One stable pass: the keys (lo, hi) moved to (lo2, hi2) in the order of their digit at `shift`. */
function scatterByDigit(
  key: Uint32Array,
  shift: number,
  count: Int32Array,
  lo: Uint32Array,
  hi: Uint32Array,
  lo2: Uint32Array,
  hi2: Uint32Array,
): void {
  for (let i = 0; i < key.length; i++) {
    const d = (key[i] >>> shift) & 0xffff;
    const j = count[d]++;
    lo2[j] = lo[i];
    hi2[j] = hi[i];
  }
}
