/**
 * Which of the 230 space-group types an operator set is, and in which setting: the International Tables number and the
 * change of basis V from the reference setting (as in a Hall symbol's suffix, V takes reference coordinates to the
 * setting's; S_setting = V·S_ref·V⁻¹). Operator sets are compared exactly, as sorted lists of operator keys.
 *
 * A group is looked up, in this order: among the 230 reference settings (no change of basis); among the tabulated
 * settings of {@link SPACE_GROUP_SETTINGS} (cctbx's own V); through the symbol's own change-of-basis suffix applied to
 * a reference or tabulated base group; and last by trying the V of every tabulated setting on the operators.
 *
 * @packageDocumentation
 */
import { changeBasis, closeGroup, opKey, parseHallSymbol } from "./hall-symbol.ts";
import type { HallGroup, IntSymOp, XyzOperator } from "./hall-symbol.ts";
import type { SettingBasis } from "./reciprocal-asu.ts";
import { SPACE_GROUP_SETTINGS } from "./space-group-settings.ts";
import { SPACE_GROUP_TABLE } from "./space-group-table.ts";

/** The space-group type and setting of an operator set. */
export interface SettingMatch {
  /** International Tables number. */
  readonly number: number;
  /** V, reference coordinates to the setting's; undefined for a reference setting. */
  readonly changeOfBasis: XyzOperator | undefined;
  /** The integer form of V's rotation part for the ASU kernels; undefined when it is the identity. */
  readonly basis: SettingBasis | undefined;
}

/** A string key identifying an operator set exactly (order-independent). */
export function groupKey(ops: readonly IntSymOp[]): string {
  return ops.map(opKey).sort().join("|");
}

let tableKeys: Map<string, number> | undefined;
let tableNumberByHall: Map<string, number> | undefined;
/** Operator-set key of each reference setting, computed on demand (index = number − 1). */
const entryKeys: (string | undefined)[] = [];

/** Operator-set key of reference setting `number` (parsed once). */
function entryKey(number: number): string {
  let k = entryKeys[number - 1];
  if (k === undefined) {
    k = groupKey(parseHallSymbol(SPACE_GROUP_TABLE[number - 1].hall).operators);
    entryKeys[number - 1] = k;
  }
  return k;
}

/** Operator-set key of each of the 230 reference settings, built once (only when a symbol is not a table entry). */
function referenceKeys(): Map<string, number> {
  if (tableKeys === undefined) {
    const m = new Map<string, number>();
    for (const e of SPACE_GROUP_TABLE) m.set(entryKey(e.number), e.number);
    tableKeys = m;
  }
  return tableKeys;
}

/**
 * International Tables number of the operator set `ops` (parsed from `hall`), or undefined when it is not a reference
 * setting. A symbol spelt as in the table (up to surrounding white space) is checked against that one entry first,
 * so that the common case parses one Hall symbol rather than all 230; every other symbol is matched against the full
 * set of operator-set keys. Both paths give the same number.
 *
 * @param hall - The Hall symbol `ops` was parsed from.
 * @param ops - The operator set.
 * @returns The number, or undefined.
 */
export function referenceNumber(hall: string, ops: readonly IntSymOp[]): number | undefined {
  const key = groupKey(ops);
  if (tableNumberByHall === undefined) {
    const m = new Map<string, number>();
    for (const e of SPACE_GROUP_TABLE) m.set(e.hall.trim(), e.number);
    tableNumberByHall = m;
  }
  const candidate = tableNumberByHall.get(hall.trim());
  if (candidate !== undefined && entryKey(candidate) === key) return candidate;
  return referenceKeys().get(key);
}

interface Tabulated {
  readonly number: number;
  readonly v: XyzOperator;
}

let settingKeys: Map<string, Tabulated> | undefined;

/** Operator-set key of each tabulated setting → its number and cctbx's V, built once on the first non-reference group. */
function tabulatedSettings(): Map<string, Tabulated> {
  if (settingKeys === undefined) {
    const m = new Map<string, Tabulated>();
    for (const [, hall] of SPACE_GROUP_SETTINGS) {
      const parsed = parseHallSymbol(hall);
      const number = referenceNumber(hall, parsed.baseOperators);
      if (number === undefined || parsed.changeOfBasis === undefined) {
        throw new Error(`tabulated setting "${hall}" is not a reference Hall symbol with a change of basis`);
      }
      m.set(groupKey(parsed.operators), { number, v: parsed.changeOfBasis });
    }
    settingKeys = m;
  }
  return settingKeys;
}

/** V₁·V₂ (apply V₂ first). */
function compose(v1: XyzOperator, v2: XyzOperator): XyzOperator {
  const r = new Float64Array(9);
  const t = new Float64Array(3);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      r[3 * i + j] = v1.r[3 * i] * v2.r[j] + v1.r[3 * i + 1] * v2.r[3 + j] + v1.r[3 * i + 2] * v2.r[6 + j];
    }
    t[i] = v1.r[3 * i] * v2.t[0] + v1.r[3 * i + 1] * v2.t[1] + v1.r[3 * i + 2] * v2.t[2] + v1.t[i];
  }
  return { r, t };
}

function det3(m: ArrayLike<number>): number {
  return m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) + m[2] * (m[3] * m[7] - m[4] * m[6]);
}

/** Adjugate (transposed cofactors), row-major: m·adj = det·I. */
function adjugate(m: ArrayLike<number>): number[] {
  return [
    m[4] * m[8] - m[5] * m[7],
    m[2] * m[7] - m[1] * m[8],
    m[1] * m[5] - m[2] * m[4],
    m[5] * m[6] - m[3] * m[8],
    m[0] * m[8] - m[2] * m[6],
    m[2] * m[3] - m[0] * m[5],
    m[3] * m[7] - m[4] * m[6],
    m[1] * m[6] - m[0] * m[7],
    m[0] * m[4] - m[1] * m[3],
  ];
}

/** V⁻¹ (exact rationals as doubles; V is known to be invertible). */
function inverse(v: XyzOperator): XyzOperator {
  const d = det3(v.r);
  const r = new Float64Array(adjugate(v.r).map((x) => x / d));
  const t = new Float64Array(3);
  for (let i = 0; i < 3; i++) t[i] = -(r[3 * i] * v.t[0] + r[3 * i + 1] * v.t[1] + r[3 * i + 2] * v.t[2]);
  return { r, t };
}

/** The kernels' integer form of V's rotation part, or undefined when it is the identity (reference ASU as it is). */
function settingBasis(v: XyzOperator): SettingBasis | undefined {
  for (const den of [1, 2, 3, 4, 6, 8, 12, 24]) {
    const scaled = Array.from(v.r, (x) => x * den);
    // exact rationals stored as doubles: the tolerance only absorbs the rounding of 1/3-like entries
    if (!scaled.every((x) => Math.abs(x - Math.round(x)) < 1e-9)) continue;
    const m = scaled.map((x) => Math.round(x));
    if (den === 1 && m.every((x, i) => x === (i % 4 === 0 ? 1 : 0))) return undefined;
    return { m: Int32Array.from(m), den, adj: Int32Array.from(adjugate(m)), det: det3(m) };
  }
  throw new Error("change of basis with a denominator above 24");
}

function match(number: number, v: XyzOperator | undefined): SettingMatch {
  return { number, changeOfBasis: v, basis: v === undefined ? undefined : settingBasis(v) };
}

/** Number and V of a base group (the symbol without its suffix): a reference setting (V = I) or a tabulated one. */
function baseSetting(hall: string, ops: readonly IntSymOp[]): Tabulated | undefined {
  const number = referenceNumber(hall, ops);
  if (number !== undefined)
    return { number, v: { r: new Float64Array([1, 0, 0, 0, 1, 0, 0, 0, 1]), t: new Float64Array(3) } };
  return tabulatedSettings().get(groupKey(ops));
}

/**
 * Space-group type and setting of a parsed Hall symbol (see the module comment for the order of the look-ups).
 *
 * @param hall - The Hall symbol.
 * @param parsed - Its parse.
 * @returns The match, or undefined when the operators are no setting that can be recognised.
 */
export function findSetting(hall: string, parsed: HallGroup): SettingMatch | undefined {
  const ops = parsed.operators;
  const number = referenceNumber(hall, ops);
  if (number !== undefined) return match(number, undefined);
  const key = groupKey(ops);
  const tab = tabulatedSettings().get(key);
  if (tab !== undefined) return match(tab.number, tab.v);
  if (parsed.changeOfBasis !== undefined) {
    const base = baseSetting(hall.slice(0, hall.indexOf("(")), parsed.baseOperators);
    if (base !== undefined) return match(base.number, compose(parsed.changeOfBasis, base.v));
  }
  const refs = referenceKeys();
  for (const t of tabulatedSettings().values()) {
    let back: IntSymOp[];
    try {
      back = closeGroup(changeBasis(ops, inverse(t.v)));
    } catch {
      continue; // V⁻¹ does not map these operators to integer rotations: not this setting
    }
    const n = refs.get(groupKey(back));
    if (n !== undefined) return match(n, t.v);
  }
  return undefined;
}
