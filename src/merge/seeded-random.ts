/**
 * A small seeded pseudo-random generator (mulberry32) for the few places where the library draws random numbers
 * (the half-set split of the merged map, the simulator). Same seed → same sequence on every platform.
 *
 * @packageDocumentation
 */

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
