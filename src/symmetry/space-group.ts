/**
 * Space groups (from Hall symbols in any setting, or numbers) with cctbx-exact mapping of Miller indices to the
 * reciprocal-space asymmetric unit (`cctbx/miller/asu.cpp`, `sgtbx/reciprocal_space_asu.h`), systematic absences and
 * centricity.
 *
 * @packageDocumentation
 */
import {
  ConfigError,
  requireArrayArgument,
  requireInstanceArgument,
  requireObjectArgument,
  requireStringArgument,
} from "../errors.ts";
import { parseHallSymbol, quoteHall, T_DEN } from "./hall-symbol.ts";
import type { HallGroup, IntSymOp, XyzOperator } from "./hall-symbol.ts";
import { laueClassOf } from "./laue-class.ts";
import type { LaueClass, LaueInfo } from "./laue-class.ts";
import { ASU_CODE, mapToAsuKernel, mapToAsuKernelInSetting } from "./reciprocal-asu.ts";
import type { ReferenceAsuName, SettingBasis } from "./reciprocal-asu.ts";
import { SPACE_GROUP_TABLE } from "./space-group-table.ts";
import { findSetting } from "./space-group-type.ts";

export type { LaueClass } from "./laue-class.ts";

/** Lattice centring type. */
export type LatticeType = "P" | "A" | "B" | "C" | "I" | "R" | "F";

/** A symmetry operator in xyz semantics, x' = r·x + t (fractional coordinates, `r` row-major). */
export interface SymmetryOperator {
  /** Rotation part, 9 integers, row-major. */
  readonly r: Int32Array;
  /** Translation part, fractions in [0, 1). */
  readonly t: Float64Array;
}

function checkIndex(h: number, k: number, l: number): void {
  if ((h | 0) !== h || (k | 0) !== k || (l | 0) !== l) {
    throw new ConfigError(`Miller index (${h}, ${k}, ${l}) must be 32-bit integers`);
  }
}

const groupCache = new Map<string, SpaceGroup>();

function fraction(n: number): string {
  // n over T_DEN, reduced
  let a = n;
  let b = T_DEN;
  const gcd = (x: number, y: number): number => (y === 0 ? x : gcd(y, x % y));
  const g = gcd(Math.abs(a), b);
  a /= g;
  b /= g;
  return b === 1 ? `${a}` : `${a}/${b}`;
}

function latticeTypeOf(ops: readonly IntSymOp[], symbol: string): LatticeType {
  const ltr = new Set<string>();
  for (const op of ops) {
    const r = op.r;
    if (r[0] === 1 && r[4] === 1 && r[8] === 1 && r[1] === 0 && r[2] === 0 && r[3] === 0 && r[5] === 0) {
      if (r[6] === 0 && r[7] === 0) ltr.add(Array.from(op.t).join(","));
    }
  }
  const h = T_DEN / 2;
  if (ltr.size === 1) return "P";
  if (ltr.size === 4) return "F";
  if (ltr.size === 3) return "R";
  if (ltr.has(`0,${h},${h}`)) return "A";
  if (ltr.has(`${h},0,${h}`)) return "B";
  if (ltr.has(`${h},${h},0`)) return "C";
  if (ltr.has(`${h},${h},${h}`)) return "I";
  const s = symbol.toUpperCase();
  return s === "A" || s === "B" || s === "C" || s === "I" || s === "R" || s === "F" ? s : "P";
}

/**
 * A crystallographic space group in any setting: one of the 230 reference settings of sgtbx, or another setting of one
 * of them (the Hall symbol of a tabulated setting, or any Hall symbol with a change-of-basis suffix). Any Hall symbol
 * that yields the same operator set gives the same group. In a non-reference setting the reciprocal-space ASU is, as
 * in cctbx, the reference ASU seen through the change of basis: h is inside when h·V is inside the reference ASU.
 */
export class SpaceGroup {
  /** International Tables number, found by matching the operator set against the 230 reference settings. */
  readonly number: number;
  /** True when the operators are those of the reference setting of {@link SpaceGroup.number}. */
  readonly isReferenceSetting: boolean;
  /** The Hall symbol this group was built from (as given, or the table's for {@link SpaceGroup.fromNumber}). */
  readonly hall: string;
  /** Hermann–Mauguin symbol of the reference setting, e.g. `"P 43 21 2"` (also for a group in another setting). */
  readonly symbol: string;
  /**
   * Number of representative symmetry matrices, as cctbx's `n_smx()`: the group order divided by the number of
   * centring translations and by 2 if centrosymmetric. `rotations` holds `nSmx` matrices, or `2·nSmx` when
   * centrosymmetric (the representatives, then their negatives).
   */
  readonly nSmx: number;
  /** Distinct rotation parts, 9 row-major integers each: the `nSmx` representatives, then (centrosymmetric) −R of each. */
  readonly rotations: Int32Array;
  /** Every operator of the group, centring translations and inversion images included; identity first. */
  readonly operators: readonly SymmetryOperator[];
  /** True when the group contains the inversion (as −I with some translation). */
  readonly isCentrosymmetric: boolean;
  /** Laue class. */
  readonly laueClass: LaueClass;
  /** Lattice centring type. */
  readonly latticeType: LatticeType;
  /** The reference ASU (Laue class, -3m split by orientation), of the reference setting for a group in another one. */
  readonly referenceAsu: ReferenceAsuName;
  /**
   * The change of basis V from the reference setting to this one (reference coordinates to this setting's, as in a
   * Hall symbol's suffix), as cctbx chooses it for a tabulated setting; undefined for a reference setting.
   */
  readonly changeOfBasis: XyzOperator | undefined;

  /** Reference ASU code (see {@link ASU_CODE}). */
  readonly #asuCode: number;
  /** Rotations transposed for h·R: for each op, 9 values (Rᵀ row-major), so h'_j = Σ_i h_i·R_ij. */
  readonly #rt: Int32Array;
  /** Number of matrices in `#rt`. */
  readonly #nRot: number;
  /** Every operator, flat: 9 rotation + 3 translation numerators (over T_DEN) each. */
  readonly #allOps: Int32Array;
  /** The change of basis for the ASU tests when its rotation part is not the identity. */
  readonly #basis: SettingBasis | undefined;

  private constructor(hall: string, parsed: HallGroup) {
    requireStringArgument(hall, "SpaceGroup: hall");
    requireObjectArgument(parsed, "SpaceGroup: parsed (use SpaceGroup.fromHall)");
    requireArrayArgument(parsed.operators, "SpaceGroup: parsed.operators (use SpaceGroup.fromHall)");
    const ops: readonly IntSymOp[] = parsed.operators;
    const setting = findSetting(hall, parsed);
    if (setting === undefined) {
      throw new ConfigError(
        `Hall symbol ${quoteHall(hall)} is no setting of the 230 space-group types that can be recognised; give it with the change of basis from the reference setting, e.g. " C 2y (x,y,-x+z)"`,
      );
    }
    const num = setting.number;
    this.number = num;
    this.isReferenceSetting = setting.changeOfBasis === undefined;
    this.changeOfBasis = setting.changeOfBasis;
    this.#basis = setting.basis;
    this.hall = hall;
    this.symbol = SPACE_GROUP_TABLE[num - 1].symbol;
    const isI = (r: Int32Array, s: number): boolean =>
      r[0] === s &&
      r[4] === s &&
      r[8] === s &&
      r[1] === 0 &&
      r[2] === 0 &&
      r[3] === 0 &&
      r[5] === 0 &&
      r[6] === 0 &&
      r[7] === 0;
    this.isCentrosymmetric = ops.some((o) => isI(o.r, -1));
    // distinct rotations in generation order; representatives exclude −R of an earlier one when centrosymmetric
    const seen = new Set<string>();
    const reps: Int32Array[] = [];
    for (const o of ops) {
      const k = o.r.join(",");
      if (seen.has(k)) continue;
      seen.add(k);
      if (this.isCentrosymmetric) {
        const nk = Array.from(o.r, (x) => -x).join(",");
        if (seen.has(nk)) continue;
        seen.add(nk);
      }
      reps.push(o.r);
    }
    this.nSmx = reps.length;
    const fInv = this.isCentrosymmetric ? 2 : 1;
    const rot = new Int32Array(9 * this.nSmx * fInv);
    reps.forEach((r, i) => {
      rot.set(r, 9 * i);
      if (this.isCentrosymmetric)
        rot.set(
          r.map((x) => -x),
          9 * (this.nSmx + i),
        );
    });
    this.rotations = rot;
    // in another setting the -3m orientation test needs the reference operators: take the reference group's class
    const laue = this.isReferenceSetting ? laueClassOf(rot) : SpaceGroup.fromNumber(num).#laueInfo();
    this.laueClass = laue.laueClass;
    this.referenceAsu = laue.asu;
    this.#asuCode = ASU_CODE[laue.asu];
    this.latticeType = latticeTypeOf(ops, parsed.latticeSymbol);
    this.operators = ops.map((o) => ({ r: Int32Array.from(o.r), t: Float64Array.from(o.t, (x) => x / T_DEN) }));
    this.#nRot = this.nSmx * fInv;
    const rt = new Int32Array(9 * this.#nRot);
    for (let m = 0; m < this.#nRot; m++) {
      for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) rt[9 * m + 3 * j + i] = rot[9 * m + 3 * i + j];
    }
    this.#rt = rt;
    const all = new Int32Array(12 * ops.length);
    ops.forEach((o, i) => {
      all.set(o.r, 12 * i);
      all.set(o.t, 12 * i + 9);
    });
    this.#allOps = all;
  }

  /**
   * Builds a space group from a Hall symbol as DIALS writes it (leading space allowed), e.g. `" P 4nw 2abw"`,
   * `"-P 2ac 2ab"`, `" P 31 2 (x,y,z+1/3)"`, `" P 31 2\""`, in any setting: a tabulated one such as `" I 2y"`, or
   * with a change-of-basis suffix in xyz form (`" C 2y (x,y,-x+z)"`, V taking reference coordinates to the setting's)
   * or abc form (`" C 2y (a+c,b,c)"`, the new basis vectors). Results are cached by symbol.
   *
   * @param hall - Hall symbol.
   * @returns The space group.
   * @throws ConfigError naming the symbol when it is malformed, or its group is no setting that can be recognised
   *   (an untabulated setting without a change-of-basis suffix whose V is not one of a tabulated setting).
   */
  static fromHall(hall: string): SpaceGroup {
    if (typeof hall !== "string" || hall.trim() === "") throw new ConfigError("Hall symbol must be a non-empty string");
    const cached = groupCache.get(hall);
    if (cached !== undefined) return cached;
    const parsed = parseHallSymbol(hall);
    const g = new SpaceGroup(hall, parsed);
    groupCache.set(hall, g);
    return g;
  }

  /**
   * The reference setting of space group `n`.
   *
   * @param n - International Tables number, integer 1..230.
   * @returns The space group.
   * @throws ConfigError if `n` is not an integer in 1..230.
   */
  static fromNumber(n: number): SpaceGroup {
    if (!Number.isInteger(n) || n < 1 || n > 230) {
      throw new ConfigError(`space group number must be an integer in 1..230, got ${String(n)}`);
    }
    return SpaceGroup.fromHall(SPACE_GROUP_TABLE[n - 1].hall);
  }

  /**
   * True when the reflection is centric: some operator's rotation R has h·R = −h (always for centrosymmetric groups).
   *
   * @param h - Miller index h (integer).
   * @param k - Miller index k (integer).
   * @param l - Miller index l (integer).
   * @returns Whether (h, k, l) is centric.
   */
  isCentric(h: number, k: number, l: number): boolean {
    checkIndex(h, k, l);
    const rt = this.#rt;
    for (let m = 0; m < this.#nRot; m++) {
      const o = 9 * m;
      if (
        rt[o] * h + rt[o + 1] * k + rt[o + 2] * l === -h &&
        rt[o + 3] * h + rt[o + 4] * k + rt[o + 5] * l === -k &&
        rt[o + 6] * h + rt[o + 7] * k + rt[o + 8] * l === -l
      ) {
        return true;
      }
    }
    return false;
  }

  /**
   * True when the reflection is systematically absent: some operator (R, t) has h·R = h and h·t not an integer.
   *
   * @param h - Miller index h (integer).
   * @param k - Miller index k (integer).
   * @param l - Miller index l (integer).
   * @returns Whether (h, k, l) is systematically absent.
   */
  isSysAbsent(h: number, k: number, l: number): boolean {
    checkIndex(h, k, l);
    const a = this.#allOps;
    const n = a.length / 12;
    for (let m = 0; m < n; m++) {
      const o = 12 * m;
      if (
        a[o] * h + a[o + 3] * k + a[o + 6] * l === h &&
        a[o + 1] * h + a[o + 4] * k + a[o + 7] * l === k &&
        a[o + 2] * h + a[o + 5] * k + a[o + 8] * l === l &&
        (h * a[o + 9] + k * a[o + 10] + l * a[o + 11]) % T_DEN !== 0
      ) {
        return true;
      }
    }
    return false;
  }

  /**
   * Maps one Miller index to the asymmetric unit exactly as cctbx's `miller.set(...).map_to_asu()`.
   *
   * @param h - Miller index h (integer).
   * @param k - Miller index k (integer).
   * @param l - Miller index l (integer).
   * @param anomalous - Keep Friedel mates apart: an index whose Friedel mate maps into the ASU keeps h·R (not −h·R).
   *   @defaultValue false
   * @returns The mapped index.
   */
  mapToAsu(h: number, k: number, l: number, anomalous = false): [number, number, number] {
    checkIndex(h, k, l);
    const buf = Int32Array.of(h, k, l);
    this.#map(anomalous, buf, buf, 1);
    return [buf[0], buf[1], buf[2]];
  }

  /**
   * Maps many Miller indices to the asymmetric unit (same result as {@link SpaceGroup.mapToAsu} for each), without
   * allocation per index.
   *
   * @param hkl - Indices, n×3 (h, k, l per row).
   * @param anomalous - As in {@link SpaceGroup.mapToAsu}. @defaultValue false
   * @param out - Output array of the same length; may be `hkl` itself. @defaultValue a new Int32Array
   * @returns `out`.
   * @throws ConfigError if `hkl.length` is not a multiple of 3 or `out` has a different length.
   */
  mapToAsuBatch(hkl: Int32Array, anomalous = false, out?: Int32Array): Int32Array {
    requireInstanceArgument(hkl, Int32Array, "SpaceGroup.mapToAsuBatch: hkl");
    if (out !== undefined) requireInstanceArgument(out, Int32Array, "SpaceGroup.mapToAsuBatch: out");
    if (hkl.length % 3 !== 0)
      throw new ConfigError(`SpaceGroup.mapToAsuBatch: hkl length ${hkl.length} is not a multiple of 3`);
    const dst = out ?? new Int32Array(hkl.length);
    if (dst.length !== hkl.length) {
      throw new ConfigError(`SpaceGroup.mapToAsuBatch: out length ${dst.length} differs from hkl length ${hkl.length}`);
    }
    this.#map(anomalous, hkl, dst, hkl.length / 3);
    return dst;
  }

  /** Laue class and reference ASU. */
  #laueInfo(): LaueInfo {
    return { laueClass: this.laueClass, asu: this.referenceAsu };
  }

  /** The ASU kernel of this group's setting over n rows (no checks). */
  #map(anomalous: boolean, src: Int32Array, dst: Int32Array, n: number): void {
    const basis = this.#basis;
    if (basis === undefined) {
      mapToAsuKernel(this.#rt, this.#nRot, this.#asuCode, !this.isCentrosymmetric, anomalous, src, dst, n);
    } else {
      const acentric = !this.isCentrosymmetric;
      mapToAsuKernelInSetting(this.#rt, this.#nRot, this.#asuCode, basis, acentric, anomalous, src, dst, n);
    }
  }

  /**
   * The operators in xyz form, translations in [0, 1) as reduced fractions, e.g. `"-y,x-y,z+1/3"`.
   *
   * @returns One string per operator, in the order of {@link SpaceGroup.operators}.
   */
  operatorsXyz(): string[] {
    const a = this.#allOps;
    const out: string[] = [];
    for (let m = 0; m < a.length / 12; m++) {
      const rows: string[] = [];
      for (let i = 0; i < 3; i++) {
        let s = "";
        for (let j = 0; j < 3; j++) {
          const c = a[12 * m + 3 * i + j];
          if (c === 0) continue;
          const v = "xyz".charAt(j);
          const mag = Math.abs(c) === 1 ? v : `${Math.abs(c)}*${v}`;
          s += c < 0 ? `-${mag}` : s === "" ? mag : `+${mag}`;
        }
        const t = a[12 * m + 9 + i];
        if (t !== 0) s += `${s === "" ? "" : "+"}${fraction(t)}`;
        rows.push(s === "" ? "0" : s);
      }
      out.push(rows.join(","));
    }
    return out;
  }
}
