/**
 * Parsers of numeric command-line values for commander: each names its flag in the `ConfigError` it throws (exit
 * code 2), so a bad value is reported as `--flag must be …, got "value"`.
 *
 * @packageDocumentation
 */
import { ConfigError } from "../errors.ts";

/**
 * The largest seed: one unsigned 32-bit word, as `MAX_SEED` of `merge/seeded-random.ts` (not imported, so that the
 * CLI starts without loading the pipeline; a test keeps the two equal).
 */
const MAX_SEED = 2 ** 32 - 1;

/** A positive integer (at most 2^53 − 1: a larger one is not exact; blank is rejected). */
export function positiveInt(name: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (v.trim() === "" || !Number.isSafeInteger(n) || n < 1) {
      throw new ConfigError(`${name} must be a positive integer, got "${v}"`);
    }
    return n;
  };
}

/** An integer in `min..max` (blank is rejected). */
export function integerInRange(name: string, min: number, max: number): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (v.trim() === "" || !Number.isInteger(n) || n < min || n > max) {
      throw new ConfigError(`${name} must be an integer in ${min}..${max}, got "${v}"`);
    }
    return n;
  };
}

/** A finite number ≥ 0. */
export function nonNegativeNumber(name: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!(Number.isFinite(n) && n >= 0)) throw new ConfigError(`${name} must be a non-negative number, got "${v}"`);
    return n;
  };
}

/** A finite number > 0. */
export function positiveNumber(name: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!(Number.isFinite(n) && n > 0)) throw new ConfigError(`${name} must be a positive number, got "${v}"`);
    return n;
  };
}

/** A safe integer (any sign; blank is rejected). */
export function integerFlag(name: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (v.trim() === "" || !Number.isSafeInteger(n)) throw new ConfigError(`${name} must be an integer, got "${v}"`);
    return n;
  };
}

/** A finite number (blank is rejected). */
export function numberFlag(name: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (v.trim() === "" || !Number.isFinite(n)) throw new ConfigError(`${name} must be a number, got "${v}"`);
    return n;
  };
}

/** A seed: an integer in 0..2^32−1 (the generators take one unsigned 32-bit word). */
export function seedFlag(name: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (v.trim() === "" || !Number.isInteger(n) || n < 0 || n > MAX_SEED) {
      throw new ConfigError(`${name} must be an integer in 0..${MAX_SEED}, got "${v}"`);
    }
    return n;
  };
}
