/**
 * The unit of a class of observations (Bragg or diffuse): the grouped rows keep I, σ² and 1/σ² in float32, whose
 * normal range (2^−126 … 2^128) is far narrower than the float64 range of the inputs. Scaling is unit-invariant (I and
 * σ of one class times c give the same scales), so each class is divided by a power of two chosen from its data before
 * it is stored: dividing by a power of two is exact in floating point, and the unit is 1 whenever the data already sit
 * well inside the float32 range (every fixture), so such inputs are stored bit for bit as before. Rows that stay out
 * of range relative to the unit (σ more than 2^60 from it, |I| more than 2^120 above it) cannot be represented and are
 * dropped, counted as `nValueOutOfRange`.
 *
 * @packageDocumentation
 */

/** The unit is 1 while the median exponent of σ lies in ±{@link UNIT_FREE_EXPONENT} (σ in about 1e−6 … 1e6). */
export const UNIT_FREE_EXPONENT = 20;

/** Most binary orders of magnitude σ/unit may lie from 1: σ², 1/σ² stay float32-normal (2^±120). */
export const MAX_SIGMA_EXPONENT = 60;

/** Largest |I|/unit kept (2^120, about 1e36, below float32's 2^128 with room for sums; I/σ beyond that is no measurement). */
export const MAX_INTENSITY_OVER_UNIT = 2 ** 120;

/** The bounds of {@link inValueRange} as constants: `2 ** -MAX_SIGMA_EXPONENT` written inside the function was
 * evaluated on every call (≈ 130 ns a row in V8, a third of reading and grouping a diffuse file). */
const MIN_SIGMA_OVER_UNIT = 2 ** -MAX_SIGMA_EXPONENT;
const MAX_SIGMA_OVER_UNIT = 2 ** MAX_SIGMA_EXPONENT;

/** Smallest and largest binary exponent a float64 σ can have (subnormals included). */
const MIN_EXPONENT = -1075;
const MAX_EXPONENT = 1024;

/**
 * Counts floor(log2 σ) of the finite positive σ given to {@link add}; {@link unit} is the power of two at the median
 * exponent (1 while that lies in ±{@link UNIT_FREE_EXPONENT}, and 1 without any σ).
 */
export class SigmaExponents {
  readonly #counts = new Float64Array(MAX_EXPONENT - MIN_EXPONENT + 1);
  #n = 0;

  /** Counts one σ (ignored unless finite and > 0). */
  add(sigma: number): void {
    if (!(sigma > 0 && sigma < Infinity)) return;
    const e = Math.max(MIN_EXPONENT, Math.min(MAX_EXPONENT, Math.floor(Math.log2(sigma))));
    this.#counts[e - MIN_EXPONENT]++;
    this.#n++;
  }

  /** The unit: 2^(median exponent), or 1 when that exponent lies in ±{@link UNIT_FREE_EXPONENT}. */
  unit(): number {
    if (this.#n === 0) return 1;
    const half = this.#n / 2;
    let seen = 0;
    let e = MIN_EXPONENT;
    for (let i = 0; i < this.#counts.length; i++) {
      seen += this.#counts[i];
      if (seen >= half) {
        e = i + MIN_EXPONENT;
        break;
      }
    }
    return Math.abs(e) <= UNIT_FREE_EXPONENT ? 1 : 2 ** e;
  }
}

/**
 * Whether a row with finite intensity and finite positive σ can be stored relative to `unit`: σ/unit within
 * 2^±{@link MAX_SIGMA_EXPONENT} and |I|/unit at most {@link MAX_INTENSITY_OVER_UNIT}.
 */
export function inValueRange(intensity: number, sigma: number, unit: number): boolean {
  const s = sigma / unit;
  return s >= MIN_SIGMA_OVER_UNIT && s <= MAX_SIGMA_OVER_UNIT && Math.abs(intensity / unit) <= MAX_INTENSITY_OVER_UNIT;
}
