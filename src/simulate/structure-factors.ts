/**
 * True Bragg intensities of the simulation: one random positive intensity per asymmetric-unit Miller index, drawn from
 * an exponential distribution (Wilson's acentric intensity distribution) with mean 2000, the mean the reference
 * simulator normalises its cctbx structure factors to. The value is a hash of (seed, h, k, l) of the ASU index, so it
 * needs no table, does not depend on the order in which reflections are met, and all symmetry mates share it.
 *
 * @packageDocumentation
 */
import type { SpaceGroup } from "../symmetry/space-group.ts";

/** Mean true Bragg intensity (as the reference simulator). */
export const MEAN_BRAGG_INTENSITY = 2000;

function avalanche(x: number): number {
  let z = x >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x7feb352d) >>> 0;
  z = Math.imul(z ^ (z >>> 15), 0x846ca68b) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * A uniform number in (0, 1] determined by (seed, h, k, l): 53 bits from two chained 32-bit hashes.
 *
 * @param seed - the simulation seed
 * @param h - Miller index h (integer)
 * @param k - Miller index k
 * @param l - Miller index l
 * @returns u in (0, 1]
 */
export function hashUniform(seed: number, h: number, k: number, l: number): number {
  let x = avalanche((seed >>> 0) ^ 0x2545f491);
  x = avalanche((x + Math.imul(h | 0, 0x9e3779b1)) >>> 0);
  x = avalanche((x + Math.imul(k | 0, 0x85ebca77)) >>> 0);
  x = avalanche((x + Math.imul(l | 0, 0xc2b2ae3d)) >>> 0);
  const y = avalanche((x ^ 0x165667b1) >>> 0);
  return ((x >>> 11) * 4294967296 + y + 1) / 9007199254740992;
}

/**
 * The true intensity of an asymmetric-unit index: `mean · (−ln u)` with u = {@link hashUniform}, so exponential with
 * the given mean and always positive.
 *
 * @param seed - the simulation seed
 * @param h - ASU Miller index h
 * @param k - ASU Miller index k
 * @param l - ASU Miller index l
 * @param mean - mean intensity. @defaultValue {@link MEAN_BRAGG_INTENSITY}
 * @returns the intensity (> 0)
 */
export function trueBraggIntensity(seed: number, h: number, k: number, l: number, mean = MEAN_BRAGG_INTENSITY): number {
  return -mean * Math.log(hashUniform(seed, h, k, l)) || mean * 2 ** -53;
}

/**
 * True intensities of many reflections: each index is mapped to the asymmetric unit (non-anomalous, as cctbx) and
 * looked up with {@link trueBraggIntensity}.
 *
 * @param seed - the simulation seed
 * @param hkl - Miller indices, 3 per reflection
 * @param spaceGroup - the space group
 * @param mean - mean intensity. @defaultValue {@link MEAN_BRAGG_INTENSITY}
 * @returns the ASU indices (3 per reflection) and the intensities
 */
export function trueBraggIntensities(
  seed: number,
  hkl: Int32Array,
  spaceGroup: SpaceGroup,
  mean = MEAN_BRAGG_INTENSITY,
): { asu: Int32Array; intensity: Float64Array } {
  const asu = spaceGroup.mapToAsuBatch(hkl, false);
  const n = hkl.length / 3;
  const intensity = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    intensity[i] = trueBraggIntensity(seed, asu[3 * i], asu[3 * i + 1], asu[3 * i + 2], mean);
  }
  return { asu, intensity };
}
