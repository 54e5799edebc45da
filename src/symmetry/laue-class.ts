/**
 * Point group and Laue class from the rotation parts of a space group (reference-setting orientation assumed for the
 * choice between the two -3m orientations).
 *
 * @packageDocumentation
 */
import { ConfigError } from "../errors.ts";
import type { ReferenceAsuName } from "./reciprocal-asu.ts";

/** The 11 Laue classes. */
export type LaueClass = "-1" | "2/m" | "mmm" | "4/m" | "4/mmm" | "-3" | "-3m" | "6/m" | "6/mmm" | "m-3" | "m-3m";

/** Laue class and the reference ASU that goes with it. */
export interface LaueInfo {
  /** The Laue class. */
  readonly laueClass: LaueClass;
  /** The reference ASU: the Laue class, with -3m resolved to "-31m" or "-3m1" from the 2-fold axis directions. */
  readonly asu: ReferenceAsuName;
}

function det3(r: Int32Array, o: number): number {
  return (
    r[o] * (r[o + 4] * r[o + 8] - r[o + 5] * r[o + 7]) -
    r[o + 1] * (r[o + 3] * r[o + 8] - r[o + 5] * r[o + 6]) +
    r[o + 2] * (r[o + 3] * r[o + 7] - r[o + 4] * r[o + 6])
  );
}

/**
 * Finds the Laue class of a set of rotation matrices (the point group; inversion images may or may not be present).
 *
 * @param rotations - Distinct rotation matrices, 9 row-major integers each.
 * @returns The Laue class and reference ASU name.
 * @throws ConfigError if the matrices do not form a crystallographic point group.
 */
export function laueClassOf(rotations: Int32Array): LaueInfo {
  const keys = new Set<string>();
  let has6 = false;
  let has4 = false;
  let has3 = false;
  const n = rotations.length / 9;
  for (let i = 0; i < n; i++) {
    const o = i * 9;
    const m = rotations.subarray(o, o + 9);
    keys.add(Array.from(m).join(","));
    keys.add(Array.from(m, (x) => -x).join(","));
    // proper part: multiply by det so that trace identifies the rotation order
    const d = det3(rotations, o);
    const tr = d * (m[0] + m[4] + m[8]);
    if (tr === 2) has6 = true;
    else if (tr === 1) has4 = true;
    else if (tr === 0) has3 = true;
  }
  const order = keys.size;
  const simple = (c: LaueClass): LaueInfo => ({ laueClass: c, asu: c as ReferenceAsuName });
  switch (order) {
    case 2:
      return simple("-1");
    case 4:
      return simple("2/m");
    case 8:
      return simple(has4 ? "4/m" : "mmm");
    case 16:
      return simple("4/mmm");
    case 6:
      return simple("-3");
    case 12:
      if (has6) return simple("6/m");
      return { laueClass: "-3m", asu: keys.has("0,1,0,1,0,0,0,0,-1") ? "-3m1" : "-31m" };
    case 24:
      return simple(has6 ? "6/mmm" : "m-3");
    case 48:
      if (has3) return simple("m-3m");
      break;
    default:
      break;
  }
  throw new ConfigError(`rotation matrices do not form a crystallographic point group (Laue order ${order})`);
}
