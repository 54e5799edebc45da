/**
 * The Mersenne Twister MT19937 as scitbx wraps it (`scitbx::random::mersenne_twister`): seed `s` initialises the
 * generator with `s + 1` (Matsumoto–Nishimura `init_genrand`), and `randomDouble()` is Python's 53-bit `random()`
 * (`genrand_res53`: `(a·2^26 + b) / 2^53` with `a` the top 27 bits of one word and `b` the top 26 bits of the next).
 * cctbx's `split_unmerged` draws its half-set split from a default-constructed one (seed 0, so MT19937 seeded with 1),
 * which is why the Bragg merging statistics use this generator rather than {@link seededRandom}: the same draws give
 * the same CC½ as `dials.merge`.
 *
 * @packageDocumentation
 */

const N = 624;
const M = 397;
const MATRIX_A = 0x9908b0df;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;

/** MT19937 with scitbx's seeding and its 53-bit doubles. */
export class MersenneTwister {
  readonly #state = new Uint32Array(N);
  #index = N;

  /**
   * @param seed - scitbx seed (an integer in 0..2^32−2); the generator is initialised with `seed + 1`.
   * @defaultValue 0
   */
  constructor(seed = 0) {
    const s = this.#state;
    s[0] = (seed + 1) >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = s[i - 1] ^ (s[i - 1] >>> 30);
      // 1812433253 · prev + i (mod 2^32), the multiplication split in 16-bit halves to stay exact.
      s[i] = (((((prev & 0xffff0000) >>> 16) * 1812433253) << 16) + (prev & 0x0000ffff) * 1812433253 + i) >>> 0;
    }
  }

  #twist(): void {
    const s = this.#state;
    for (let k = 0; k < N; k++) {
      const y = (s[k] & UPPER_MASK) | (s[(k + 1) % N] & LOWER_MASK);
      s[k] = s[(k + M) % N] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    this.#index = 0;
  }

  /** The next 32-bit word. */
  nextUint32(): number {
    if (this.#index >= N) this.#twist();
    let y = this.#state[this.#index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** A uniform double in [0, 1) with 53-bit resolution (scitbx `random_double`). */
  randomDouble(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }
}
