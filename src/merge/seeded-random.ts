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

/** Returns a function giving uniform doubles in [0, 1) from a 32-bit seed (mulberry32). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
