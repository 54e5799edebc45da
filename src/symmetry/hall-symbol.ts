/**
 * Hall (1981) space-group symbols, parsed with the rules of cctbx's sgtbx, and the group closure.
 *
 * Operators are exact: integer rotation matrices and translations stored as integer numerators over
 * {@link T_DEN}. An operator acts on fractional coordinates as x' = r·x + t/T_DEN (r row-major).
 *
 * @packageDocumentation
 */
import { ConfigError } from "../errors.ts";

/** Denominator of every translation component (multiples of 1/24 cover 1/2, 1/3, 1/4, 1/6, 1/8, 1/12). */
export const T_DEN = 24;

/** A symmetry operator with exact arithmetic: `r` row-major 3×3 integers, `t` numerators over {@link T_DEN}. */
export interface IntSymOp {
  /** Rotation part, row-major, 9 integers. */
  readonly r: Int32Array;
  /** Translation numerators over {@link T_DEN}, reduced to 0 ≤ t < T_DEN. */
  readonly t: Int32Array;
}

/** The result of parsing a Hall symbol: the whole group, closed under multiplication, translations modulo 1. */
export interface HallGroup {
  /** Every operator of the group (centring translations and inversion images included), identity first. */
  readonly operators: readonly IntSymOp[];
  /** Lattice symbol of the Hall symbol: `P A B C I R S T F`. */
  readonly latticeSymbol: string;
  /** The group of the symbol without its change-of-basis suffix (the same array as `operators` when there is none). */
  readonly baseOperators: readonly IntSymOp[];
  /**
   * The change-of-basis suffix V, or undefined when there is none: `operators` = V·S·V⁻¹ for each S of
   * `baseOperators`, so V takes coordinates in the base setting to coordinates in the setting of the symbol.
   */
  readonly changeOfBasis: XyzOperator | undefined;
}

const CENTRING: Readonly<Record<string, readonly (readonly [number, number, number])[]>> = {
  P: [],
  A: [[0, 12, 12]],
  B: [[12, 0, 12]],
  C: [[12, 12, 0]],
  I: [[12, 12, 12]],
  R: [
    [16, 8, 8],
    [8, 16, 16],
  ],
  S: [
    [8, 8, 16],
    [16, 16, 8],
  ],
  T: [
    [8, 16, 8],
    [16, 8, 16],
  ],
  F: [
    [0, 12, 12],
    [12, 0, 12],
    [12, 12, 0],
  ],
};

const TRANSLATION: Readonly<Record<string, readonly [number, number, number]>> = {
  a: [12, 0, 0],
  b: [0, 12, 0],
  c: [0, 0, 12],
  n: [12, 12, 12],
  u: [6, 0, 0],
  v: [0, 6, 0],
  w: [0, 0, 6],
  d: [6, 6, 6],
};

/** Rotation matrices for the z reference axis (Hall's table), keyed by order and direction code. */
const ROT_Z: Readonly<Record<string, readonly number[]>> = {
  "1": [1, 0, 0, 0, 1, 0, 0, 0, 1],
  "2": [-1, 0, 0, 0, -1, 0, 0, 0, 1],
  "2'": [0, -1, 0, -1, 0, 0, 0, 0, -1],
  '2"': [0, 1, 0, 1, 0, 0, 0, 0, -1],
  "3": [0, -1, 0, 1, -1, 0, 0, 0, 1],
  "3*": [0, 0, 1, 1, 0, 0, 0, 1, 0],
  "4": [0, -1, 0, 1, 0, 0, 0, 0, 1],
  "6": [1, -1, 0, 1, 0, 0, 0, 0, 1],
};

const R3_111 = [0, 0, 1, 1, 0, 0, 0, 1, 0];
const R3I_111 = [0, 1, 0, 0, 0, 1, 1, 0, 0];

function matMul(a: ArrayLike<number>, b: ArrayLike<number>): number[] {
  const c = new Array<number>(9);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      c[i * 3 + j] = a[i * 3] * b[j] + a[i * 3 + 1] * b[3 + j] + a[i * 3 + 2] * b[6 + j];
    }
  }
  return c;
}

function mod(a: number, n: number): number {
  const m = a % n;
  return m < 0 ? m + n : m;
}

/** Product of two operators, a·b (apply b first), translations reduced modulo 1. */
export function multiplyOps(a: IntSymOp, b: IntSymOp): IntSymOp {
  const r = new Int32Array(matMul(a.r, b.r));
  const t = new Int32Array(3);
  for (let i = 0; i < 3; i++) {
    t[i] = mod(a.r[i * 3] * b.t[0] + a.r[i * 3 + 1] * b.t[1] + a.r[i * 3 + 2] * b.t[2] + a.t[i], T_DEN);
  }
  return { r, t };
}

/** A string key identifying an operator exactly (translation modulo 1). */
export function opKey(op: IntSymOp): string {
  return `${op.r.join(",")};${mod(op.t[0], T_DEN)},${mod(op.t[1], T_DEN)},${mod(op.t[2], T_DEN)}`;
}

function makeOp(r: ArrayLike<number>, t: ArrayLike<number>): IntSymOp {
  const tt = new Int32Array(3);
  for (let i = 0; i < 3; i++) tt[i] = mod(t[i], T_DEN);
  return { r: Int32Array.from(r), t: tt };
}

/**
 * Closes a set of generators into a group (breadth-first: every element times every generator).
 *
 * @param generators - Operators generating the group; identity need not be included.
 * @param maxOrder - Safety limit on the group order.
 * @returns Every element once, identity first, in breadth-first order.
 */
export function closeGroup(generators: readonly IntSymOp[], maxOrder = 192): IntSymOp[] {
  const identity = makeOp([1, 0, 0, 0, 1, 0, 0, 0, 1], [0, 0, 0]);
  const elements: IntSymOp[] = [identity];
  const seen = new Set<string>([opKey(identity)]);
  for (let i = 0; i < elements.length; i++) {
    for (const g of generators) {
      const p = multiplyOps(elements[i], g);
      const k = opKey(p);
      if (!seen.has(k)) {
        seen.add(k);
        elements.push(p);
        if (elements.length > maxOrder) {
          throw new ConfigError(`space group generated from the Hall symbol has more than ${maxOrder} operators`);
        }
      }
    }
  }
  return elements;
}

/** Parsed rational affine map from an xyz string: `r` (row-major, 9 numbers) and `t` (3 numbers), both exact rationals as doubles. */
export interface XyzOperator {
  /** Linear part, row-major. */
  readonly r: Float64Array;
  /** Translation part. */
  readonly t: Float64Array;
}

function parseNumber(s: string): number | undefined {
  const m = /^(\d+(?:\.\d*)?|\.\d+)(?:\/(\d+))?$/.exec(s);
  if (m === null) return undefined;
  const num = Number(m[1]);
  const denText = m[2] as string | undefined;
  const den = denText === undefined ? 1 : Number(denText);
  if (den === 0) return undefined;
  return num / den;
}

/**
 * Parses an operator in xyz form, e.g. `"-y,x-y,z+1/3"`, `"x+1/2,-z,1/4+y"`, `"-1/2*x+1/2*y,z,x"`.
 *
 * @param text - Three comma-separated affine expressions in x, y, z.
 * @returns The rational operator.
 * @throws ConfigError if the text is not a valid xyz operator.
 */
export function parseXyzOperator(text: string): XyzOperator {
  const parts = text.replace(/\s+/g, "").toLowerCase().split(",");
  if (parts.length !== 3) throw new ConfigError(`xyz operator ${quoteHall(text)} must have three comma-separated rows`);
  const r = new Float64Array(9);
  const t = new Float64Array(3);
  for (let row = 0; row < 3; row++) {
    const expr = parts[row];
    if (expr.length === 0) throw new ConfigError(`xyz operator ${quoteHall(text)} has an empty row`);
    const terms = expr.match(/[+-]?[^+-]+/g);
    if (terms === null || terms.join("") !== expr)
      throw new ConfigError(`xyz operator ${quoteHall(text)} is malformed`);
    for (const term of terms) {
      let sign = 1;
      let body = term;
      if (body.startsWith("+")) body = body.slice(1);
      else if (body.startsWith("-")) {
        sign = -1;
        body = body.slice(1);
      }
      const last = body.charAt(body.length - 1);
      if (last === "x" || last === "y" || last === "z") {
        let coefText = body.slice(0, -1);
        if (coefText.endsWith("*")) coefText = coefText.slice(0, -1);
        const coef = coefText === "" ? 1 : parseNumber(coefText);
        if (coef === undefined)
          throw new ConfigError(`xyz operator ${quoteHall(text)} has a bad coefficient ${quoteHall(term)}`);
        r[row * 3 + (last === "x" ? 0 : last === "y" ? 1 : 2)] += sign * coef;
      } else {
        const v = parseNumber(body);
        if (v === undefined) throw new ConfigError(`xyz operator ${quoteHall(text)} has a bad term ${quoteHall(term)}`);
        t[row] += sign * v;
      }
    }
  }
  return { r, t };
}

function invert3(m: ArrayLike<number>): number[] {
  const [a, b, c, d, e, f, g, h, i] = [m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8]];
  const det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
  if (Math.abs(det) < 1e-9) throw new ConfigError("change-of-basis operator in Hall symbol is not invertible");
  return [
    (e * i - f * h) / det,
    (c * h - b * i) / det,
    (b * f - c * e) / det,
    (f * g - d * i) / det,
    (a * i - c * g) / det,
    (c * d - a * f) / det,
    (d * h - e * g) / det,
    (b * g - a * h) / det,
    (a * e - b * d) / det,
  ];
}

function roundExact(v: number, den: number, what: string): number {
  const x = v * den;
  const n = Math.round(x); // exact-value check below, not a DIALS rounding rule
  if (Math.abs(x - n) > 1e-6) throw new ConfigError(`change of basis gives a non-representable ${what} (${v})`);
  return n;
}

/**
 * Applies the change of basis V: S' = V·S·V⁻¹ (cctbx `change_of_basis_op(V).apply`).
 *
 * @param ops - Operators in the old setting.
 * @param v - The change of basis.
 * @returns The operators in the new setting, then the centring translations V·eᵢ that a larger new cell gains
 *   (close the result to get the group).
 * @throws ConfigError if V is singular or a result is not representable with integer rotations over {@link T_DEN}.
 */
export function changeBasis(ops: readonly IntSymOp[], v: XyzOperator): IntSymOp[] {
  const vi = invert3(v.r);
  // V⁻¹ translation: -vi·t
  const viT = [0, 1, 2].map((i) => -(vi[i * 3] * v.t[0] + vi[i * 3 + 1] * v.t[1] + vi[i * 3 + 2] * v.t[2]));
  const images = ops.map((s) => {
    // S·V⁻¹ : r = s.r·vi, t = s.r·viT + s.t
    const sr = Array.from(s.r);
    const r1 = matMul(sr, vi);
    const t1 = [0, 1, 2].map(
      (i) => sr[i * 3] * viT[0] + sr[i * 3 + 1] * viT[1] + sr[i * 3 + 2] * viT[2] + s.t[i] / T_DEN,
    );
    const r2 = matMul(v.r, r1);
    const t2 = [0, 1, 2].map((i) => v.r[i * 3] * t1[0] + v.r[i * 3 + 1] * t1[1] + v.r[i * 3 + 2] * t1[2] + v.t[i]);
    return makeOp(
      r2.map((x) => roundExact(x, 1, "rotation")),
      t2.map((x) => roundExact(x, T_DEN, "translation")),
    );
  });
  // the old lattice's unit translations, V·eᵢ: fractional (new centring vectors) when the new cell is larger
  for (let j = 0; j < 3; j++) {
    const col = [v.r[j], v.r[3 + j], v.r[6 + j]].map((x) => roundExact(x, T_DEN, "translation"));
    if (col.some((x) => x % T_DEN !== 0)) images.push(makeOp([1, 0, 0, 0, 1, 0, 0, 0, 1], col));
  }
  return images;
}

const isSpace = (c: string): boolean => c === "_" || c === " " || c === "\t" || c === "\n" || c === "\r";

/**
 * The symbol in double quotes for a message: at most 120 characters of it (then `…`, as the README promises for text
 * quoted from a file), control characters as `\uXXXX`, so that a message stays one short printable line.
 */
export function quoteHall(hall: string): string {
  const cut = hall.length <= 120 ? hall : `${hall.slice(0, 120)}…`;
  let out = "";
  for (const ch of cut) {
    const c = ch.charCodeAt(0);
    const control = c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x2028 || c === 0x2029;
    out += control ? `\\u${c.toString(16).padStart(4, "0")}` : ch;
  }
  return `"${out}"`;
}

function fail(hall: string, why: string): never {
  throw new ConfigError(`bad Hall symbol ${quoteHall(hall)}: ${why}`);
}

/**
 * Parses a Hall symbol with sgtbx's rules and returns the whole group.
 *
 * Supported: lattice symbol with optional leading `-` (centre of inversion at the origin); up to four matrix symbols,
 * each `[-]N[screw][axis][translations]` with axis `x y z ' " *` (also `, .` for `'` and `; :` for `"`), default axes
 * (first: z; second 2-fold: x after a 2 or 4, `'` after a 3 or 6; 3-fold after a 2 or 4, and third 3-fold: `*`),
 * screw subscripts 1–5, translation letters `a b c n u v w d`; a change-of-basis suffix in short form `(0 0 4)`
 * (twelfths) or xyz form `(x,y,z+1/3)`. Spaces or `_` separate tokens.
 *
 * @param hall - The Hall symbol, e.g. `" P 4nw 2abw"`, `"-P 2ac 2ab"`, `" P 31 2 (x,y,z+1/3)"`.
 * @returns The closed group.
 * @throws ConfigError on a malformed symbol.
 */
export function parseHallSymbol(hall: string): HallGroup {
  try {
    return parseHallUnchecked(hall);
  } catch (e) {
    // errors from the xyz parser, the change of basis or the closure do not name the symbol yet
    if (e instanceof ConfigError && !e.message.startsWith("bad Hall symbol ")) fail(hall, e.message);
    throw e;
  }
}

function parseHallUnchecked(hall: string): HallGroup {
  const cur = new HallCursor(hall);
  const generators: IntSymOp[] = [];
  cur.skipSpaces();
  if (cur.ch() === "-") {
    generators.push(makeOp([-1, 0, 0, 0, -1, 0, 0, 0, -1], [0, 0, 0]));
    cur.p++;
  }
  const lattice = cur.ch().toUpperCase();
  const centring = CENTRING[lattice];
  if (lattice === "" || !(lattice in CENTRING)) fail(hall, "lattice type must be one of P A B C I R S T F");
  for (const c of centring) generators.push(makeOp([1, 0, 0, 0, 1, 0, 0, 0, 1], c));
  cur.p++;
  cur.skipSpaces();
  let iMx = 0;
  let first: { order: number; axis: string } = { order: 0, axis: "" };
  while (cur.ch() !== "" && cur.ch() !== "(") {
    const m = readMatrixSymbol(cur);
    applyDefaultAxis(m, iMx, first);
    generators.push(matrixSymbolOp(m, hall));
    if (iMx === 0) first = { order: m.order, axis: m.axis };
    iMx++;
    if (iMx > 4) fail(hall, "more than four matrix symbols");
    cur.skipSpaces();
  }
  const baseOperators = closeGroup(generators);
  if (cur.ch() !== "(")
    return { operators: baseOperators, latticeSymbol: lattice, baseOperators, changeOfBasis: undefined };
  const changeOfBasis = readChangeOfBasis(cur);
  checkNewLattice(hall, baseOperators, changeOfBasis);
  const operators = closeGroup(changeBasis(baseOperators, changeOfBasis));
  return { operators, latticeSymbol: lattice, baseOperators, changeOfBasis };
}

/**
 * Refuses a change of basis to a smaller cell than the group's lattice allows: each new unit translation eⱼ, seen in
 * the old setting (V⁻¹·eⱼ), must be a lattice translation of the old group (integral or one of its centring vectors).
 */
function checkNewLattice(hall: string, ops: readonly IntSymOp[], v: XyzOperator): void {
  const vi = invert3(v.r);
  const keys = new Set(ops.map(opKey));
  for (let j = 0; j < 3; j++) {
    const col = [vi[j], vi[3 + j], vi[6 + j]];
    if (!col.every((x) => Math.abs(x * T_DEN - Math.round(x * T_DEN)) < 1e-6)) {
      fail(hall, "the change of basis gives a cell smaller than the lattice of the group");
    }
    const op = makeOp(
      [1, 0, 0, 0, 1, 0, 0, 0, 1],
      col.map((x) => Math.round(x * T_DEN)),
    );
    if (!keys.has(opKey(op))) fail(hall, "the change of basis gives a cell smaller than the lattice of the group");
  }
}

/** A position in a Hall symbol being parsed. */
class HallCursor {
  /** The symbol. */
  readonly s: string;
  /** Index of the current character. */
  p = 0;

  constructor(s: string) {
    this.s = s;
  }

  /** The current character, or "" at the end. */
  ch(): string {
    return this.p < this.s.length ? this.s.charAt(this.p) : "";
  }

  /** Move past spaces and `_`. */
  skipSpaces(): void {
    while (this.p < this.s.length && isSpace(this.ch())) this.p++;
  }
}

/** The tokens of one matrix symbol `[-]N[screw][axis][translations]`, before the default axes are applied. */
interface MatrixSymbol {
  improper: boolean;
  order: number;
  screw: number;
  /** `x`, `y`, `z` or "" (not given). */
  axis: string;
  /** `'`, `"`, `*` or "" (not given). */
  dir: string;
  /** Translation in twelfths. */
  t: number[];
}

/** Reads one matrix symbol at the cursor, up to the next space, `(` or the end. */
function readMatrixSymbol(cur: HallCursor): MatrixSymbol {
  const hall = cur.s;
  let improper = false;
  if (cur.ch() === "-") {
    improper = true;
    cur.p++;
    if (cur.ch() === "" || isSpace(cur.ch())) fail(hall, "incomplete matrix symbol");
  }
  const order = "12346".includes(cur.ch()) && cur.ch() !== "" ? Number(cur.ch()) : 0;
  if (order === 0) fail(hall, `bad rotation order ${quoteHall(cur.ch())}`);
  cur.p++;
  let screw = 0;
  if ("12345".includes(cur.ch()) && cur.ch() !== "") {
    screw = Number(cur.ch());
    if (screw >= order) fail(hall, "screw subscript must be below the rotation order");
    cur.p++;
  }
  let axis = "";
  let dir = "";
  const t = [0, 0, 0];
  while (cur.ch() !== "" && !isSpace(cur.ch())) {
    const c = cur.ch();
    const lc = c.toLowerCase();
    if (lc === "x" || lc === "y" || lc === "z") {
      if (axis !== "") fail(hall, "multiple axis symbols");
      if (order === 1 || (order === 3 && dir === "*")) fail(hall, "inconsistent matrix symbol");
      axis = lc;
      cur.p++;
      continue;
    }
    const d =
      c === "'" || c === "," || c === "." ? "'" : c === '"' || c === ";" || c === ":" ? '"' : c === "*" ? "*" : "";
    if (d !== "") {
      if (dir !== "") fail(hall, "multiple axis symbols");
      if (!(order === 2 && (d === "'" || d === '"')) && !(order === 3 && d === "*")) {
        fail(hall, "inconsistent matrix symbol");
      }
      if (screw !== 0) fail(hall, "screw translation for a non-principal direction");
      dir = d;
      cur.p++;
      continue;
    }
    const tr = TRANSLATION[lc] as readonly [number, number, number] | undefined;
    if (tr !== undefined) {
      for (let i = 0; i < 3; i++) t[i] = mod(t[i] + tr[i], T_DEN);
      cur.p++;
      continue;
    }
    if (c === "(") break;
    fail(hall, `unexpected character ${quoteHall(c)}`);
  }
  return { improper, order, screw, axis, dir, t };
}

/**
 * sgtbx's default axes of the matrix symbol number `iMx` (0-based) when it gives none: z for the first; for the second
 * 2-fold x after a 2 or 4, `'` about the first axis after a 3 or 6; `*` for a 3-fold after a 2 or 4 and for the third.
 */
function applyDefaultAxis(m: MatrixSymbol, iMx: number, first: { order: number; axis: string }): void {
  const { order } = m;
  if (m.axis === "") {
    if (iMx === 0) {
      if (order !== 1 && !(order === 3 && m.dir === "*")) m.axis = "z";
    } else if (iMx === 1) {
      if (order === 2) {
        if (first.order === 2 || first.order === 4) {
          if (m.dir === "") m.axis = "x";
        } else if (first.order === 3 || first.order === 6) {
          if (m.dir === "") m.dir = "'";
          m.axis = first.axis;
        }
      } else if (order === 3 && (first.order === 2 || first.order === 4) && m.dir === "") {
        m.dir = "*";
      }
    } else if (iMx === 2) {
      if (order === 3 && m.dir === "") m.dir = "*";
    }
  }
  if (m.axis === "" && (m.dir === '"' || m.dir === "'")) m.axis = "z";
}

/** The operator of a matrix symbol whose axes are resolved: the rotation about its axis plus screw and translations. */
function matrixSymbolOp(m: MatrixSymbol, hall: string): IntSymOp {
  const { order, axis, dir, screw, t } = m;
  if (axis === "" && order !== 1 && dir !== "*") fail(hall, "need an explicit axis symbol");
  const base = ROT_Z[`${order}${dir}`] as readonly number[] | undefined;
  if (base === undefined) fail(hall, "illegal matrix symbol");
  let r = m.improper ? base.map((x) => -x) : base.slice();
  if (axis === "x") r = matMul(matMul(R3_111, r), R3I_111);
  else if (axis === "y") r = matMul(matMul(R3I_111, r), R3_111);
  if (screw !== 0) {
    const i = axis === "x" ? 0 : axis === "y" ? 1 : 2;
    t[i] += (T_DEN * screw) / order;
  }
  return makeOp(r, t);
}

/** Reads the change-of-basis suffix at the cursor (on its `(`): short form `(0 0 4)` in twelfths, or xyz form. */
function readChangeOfBasis(cur: HallCursor): XyzOperator {
  const { s, p } = cur;
  const hall = s;
  const close = s.indexOf(")", p);
  if (close < 0) fail(hall, "closing parenthesis expected after the change-of-basis operator");
  const inner = s.slice(p + 1, close).trim();
  if (
    s
      .slice(close + 1)
      .trim()
      .replace(/_/g, "") !== ""
  )
    fail(hall, "unexpected characters after ')'");
  const short = /^(-?\d+)[\s,]+(-?\d+)[\s,]+(-?\d+)$/.exec(inner);
  if (short !== null) {
    const tv = new Float64Array([Number(short[1]) / 12, Number(short[2]) / 12, Number(short[3]) / 12]);
    return { r: new Float64Array([1, 0, 0, 0, 1, 0, 0, 0, 1]), t: tv };
  }
  if (/[abchkl]/i.test(inner)) return abcChangeOfBasis(inner, hall);
  return parseXyzOperator(inner);
}

/**
 * A change of basis in abc form, e.g. `a,b,-a+c` (`h,k,l` read as `a,b,c`), as sgtbx reads it: the rows give the
 * new basis vectors in terms of the old ones, so the matrix A of the rows is the transpose of the inverse of the
 * coordinate transform, V = (Aᵀ)⁻¹. Like sgtbx, the abc form takes no origin shift.
 */
function abcChangeOfBasis(inner: string, hall: string): XyzOperator {
  if (/[xyz]/i.test(inner)) fail(hall, "change-of-basis operator mixes xyz and abc letters");
  const a = parseXyzOperator(inner.toLowerCase().replace(/[ah]/g, "x").replace(/[bk]/g, "y").replace(/[cl]/g, "z"));
  if (a.t[0] !== 0 || a.t[1] !== 0 || a.t[2] !== 0) fail(hall, "a change of basis in abc form takes no translation");
  const at = [a.r[0], a.r[3], a.r[6], a.r[1], a.r[4], a.r[7], a.r[2], a.r[5], a.r[8]];
  return { r: new Float64Array(invert3(at)), t: new Float64Array(3) };
}
