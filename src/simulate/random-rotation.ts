/**
 * Uniformly distributed random rotations (Haar measure on SO(3)) from a normalised 4-vector of standard normal
 * variates read as a unit quaternion (a, b, c, d), the construction of the reference simulator.
 *
 * @packageDocumentation
 */
import type { Mat3 } from "../geometry/vector-maths.ts";
import type { RandomStream } from "./random-stream.ts";

/**
 * The rotation matrix (row-major) of the unit quaternion (a, b, c, d), a the scalar part.
 *
 * @param a - scalar part
 * @param b - x part
 * @param c - y part
 * @param d - z part
 * @returns the 3×3 rotation, row-major
 */
export function quaternionToMatrix(a: number, b: number, c: number, d: number): Mat3 {
  return Float64Array.of(
    a * a + b * b - c * c - d * d,
    2 * (b * c - a * d),
    2 * (b * d + a * c),
    2 * (b * c + a * d),
    a * a - b * b + c * c - d * d,
    2 * (c * d - a * b),
    2 * (b * d - a * c),
    2 * (c * d + a * b),
    a * a - b * b - c * c + d * d,
  );
}

/**
 * A random rotation: four normal draws from `rng`, normalised to a unit quaternion (uniform on S³, hence a uniform
 * rotation).
 *
 * @param rng - the random stream (four normal variates are drawn)
 * @returns the rotation matrix U, row-major
 */
export function randomRotation(rng: RandomStream): Mat3 {
  let a = 0;
  let b = 0;
  let c = 0;
  let d = 0;
  let n = 0;
  while (!(n > 1e-12)) {
    a = rng.normal();
    b = rng.normal();
    c = rng.normal();
    d = rng.normal();
    n = Math.sqrt(a * a + b * b + c * c + d * d);
  }
  return quaternionToMatrix(a / n, b / n, c / n, d / n);
}
