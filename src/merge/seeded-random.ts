/**
 * A small seeded pseudo-random generator (mulberry32) for the few places where the library draws random numbers
 * (the half-set split of the merged map, the simulator). Same seed → same sequence on every platform.
 *
 * Seeds are integers in 0..2^32−1 ({@link MAX_SEED}): the generators here and the simulator's streams take the seed
 * as one 32-bit word, so anything else (a fraction, a negative or larger number, NaN) would silently run as another
 * seed while being recorded as given; {@link checkSeed} refuses it.
 *
 * @packageDocumentation
 */
import { ConfigError } from "../errors.ts";

/** The largest seed: the generators take the seed as one unsigned 32-bit word. */
export const MAX_SEED = 2 ** 32 - 1;

/**
 * Checks a seed: an integer in 0..{@link MAX_SEED}.
 *
 * @param seed - the seed
 * @param name - the option or flag to name in the message (e.g. `seed`, `--seed`)
 * @returns the seed
 * @throws {@link ConfigError} naming `name` otherwise
 */
export function checkSeed(seed: unknown, name = "seed"): number {
  if (typeof seed !== "number" || !Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
    throw new ConfigError(`${name} must be an integer in 0..${MAX_SEED}, got ${String(seed)}`);
  }
  return seed;
}

/** The increment of mulberry32's 32-bit state per draw. */
const MULBERRY_STEP = 0x6d2b79f5;

/**
 * The mulberry32 generator as an object: {@link Mulberry32.next} gives the draws of {@link seededRandom} with the same
 * seed, and {@link Mulberry32.seek} moves to any draw at once (the state after k draws is `seed + k·step` mod 2^32), so
 * that threads can each take their part of one sequence.
 */
export class Mulberry32 {
  private readonly seed: number;
  private a: number;

  /** @param seed - the seed (its low 32 bits are used) */
  constructor(seed: number) {
    this.seed = seed >>> 0;
    this.a = this.seed;
  }

  /** Moves to draw `k` (0-based, an integer below 2^53): the next {@link Mulberry32.next} gives the sequence's k-th draw. */
  seek(k: number): void {
    // Math.imul takes k modulo 2^32, which is all the 32-bit state keeps of k·step
    this.a = (this.seed + Math.imul(k, MULBERRY_STEP)) >>> 0;
  }

  /** The next uniform double in [0, 1). */
  next(): number {
    this.a = (this.a + MULBERRY_STEP) >>> 0;
    let t = this.a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

/** Returns a function giving uniform doubles in [0, 1) from a 32-bit seed (mulberry32). */
export function seededRandom(seed: number): () => number {
  const generator = new Mulberry32(seed);
  return () => generator.next();
}
