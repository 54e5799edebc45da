/**
 * Independent, reproducible random streams for the simulator: xoshiro128** (128-bit state, period 2^128 − 1),
 * seeded through splitmix32 from a user seed and a stream key (the still index and what the stream is for). Unlike a
 * single mulberry32 sequence (period 2^32), streams for thousands of stills × 10^5 draws cannot overlap in practice,
 * and each still's numbers do not depend on how many were drawn for another still.
 *
 * Everything is 32-bit integer arithmetic (`Math.imul`, `>>>`), so the sequence is identical on every platform.
 *
 * @packageDocumentation
 */

/** One splitmix32 step: returns the mixed output for the state `x` (already advanced by the caller). */
function mix32(x: number): number {
  let z = x >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/** Stream purposes: each still draws from one stream per purpose, the global stream has key (0, 0). */
export const STREAM = { global: 0, bragg: 1, diffuse: 2 } as const;

/**
 * A xoshiro128** generator. Create it with {@link RandomStream.forKey}; draws are uniform doubles in [0, 1)
 * ({@link RandomStream.uniform}) or in (0, 1] ({@link RandomStream.uniformOpenLow}), and standard normal variates
 * ({@link RandomStream.normal}, Box–Muller, the second variate of each pair cached).
 */
export class RandomStream {
  #s0: number;
  #s1: number;
  #s2: number;
  #s3: number;
  #spare = 0;
  #hasSpare = false;

  /**
   * A stream seeded from four 32-bit words (not all zero). Prefer {@link RandomStream.forKey}.
   *
   * @param s - four 32-bit state words
   */
  constructor(s: readonly [number, number, number, number]) {
    this.#s0 = s[0] >>> 0;
    this.#s1 = s[1] >>> 0;
    this.#s2 = s[2] >>> 0;
    this.#s3 = s[3] >>> 0;
    if ((this.#s0 | this.#s1 | this.#s2 | this.#s3) === 0) this.#s0 = 1;
  }

  /**
   * The stream of a (seed, still, purpose) key: the 128-bit state is four splitmix32 outputs of a state that mixes
   * all three, so different keys give unrelated streams.
   *
   * @param seed - the user seed (any integer; taken modulo 2^32)
   * @param index - the still index (0 for the global stream)
   * @param purpose - one of {@link STREAM}
   * @returns the stream
   */
  static forKey(seed: number, index: number, purpose: number): RandomStream {
    let x = mix32((seed >>> 0) ^ 0x9e3779b9);
    x = mix32((x + Math.imul(index >>> 0, 0x632be5ab)) >>> 0);
    x = mix32((x + Math.imul((purpose + 1) >>> 0, 0x85157af5)) >>> 0);
    const words: [number, number, number, number] = [0, 0, 0, 0];
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      words[i] = mix32(x);
    }
    return new RandomStream(words);
  }

  /** The next 32-bit unsigned integer. */
  nextU32(): number {
    const s0 = this.#s0;
    const s1 = this.#s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = (s1 << 9) >>> 0;
    let s2 = (this.#s2 ^ s0) >>> 0;
    let s3 = (this.#s3 ^ s1) >>> 0;
    this.#s1 = (s1 ^ s2) >>> 0;
    this.#s0 = (s0 ^ s3) >>> 0;
    s2 = (s2 ^ t) >>> 0;
    s3 = rotl(s3, 11);
    this.#s2 = s2;
    this.#s3 = s3;
    return result;
  }

  /** A uniform double in [0, 1) with 32 random bits. */
  uniform(): number {
    return this.nextU32() / 4294967296;
  }

  /** A uniform double in (0, 1] (safe for `Math.log`). */
  uniformOpenLow(): number {
    return (this.nextU32() + 1) / 4294967296;
  }

  /** A standard normal variate (Box–Muller; each pair of uniforms gives two variates, the second is cached). */
  normal(): number {
    if (this.#hasSpare) {
      this.#hasSpare = false;
      return this.#spare;
    }
    const r = Math.sqrt(-2 * Math.log(this.uniformOpenLow()));
    const phi = 2 * Math.PI * this.uniform();
    this.#spare = r * Math.sin(phi);
    this.#hasSpare = true;
    return r * Math.cos(phi);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
