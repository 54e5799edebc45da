/**
 * The 12 reference reciprocal-space asymmetric units of cctbx (`sgtbx/reciprocal_space_ref_asu.cpp`), one per Laue
 * class, with the trigonal class -3m split by orientation into -31m and -3m1. Each is a unique representative set for
 * the Laue group's action on Miller indices (boundaries included exactly as cctbx does).
 *
 * @packageDocumentation
 */

/** Codes of the 12 reference ASUs, used by the batch kernels. */
export const ASU_CODE = {
  "-1": 0,
  "2/m": 1,
  mmm: 2,
  "4/m": 3,
  "4/mmm": 4,
  "-3": 5,
  "-31m": 6,
  "-3m1": 7,
  "6/m": 8,
  "6/mmm": 9,
  "m-3": 10,
  "m-3m": 11,
} as const;

/** Name of a reference ASU (Laue class, with -3m split into "-31m" and "-3m1"). */
export type ReferenceAsuName = keyof typeof ASU_CODE;

/** Numeric code of a reference ASU, 0..11. */
export type ReferenceAsuCode = (typeof ASU_CODE)[ReferenceAsuName];

/**
 * Tests whether (h, k, l) lies inside the reference ASU with the given code (no argument checks: hot path).
 *
 * @param code - {@link ReferenceAsuCode}.
 * @param h - Miller index h.
 * @param k - Miller index k.
 * @param l - Miller index l.
 * @returns True when inside.
 */
export function isInsideReferenceAsu(code: number, h: number, k: number, l: number): boolean {
  switch (code) {
    case 0:
      return l > 0 || (l === 0 && (h > 0 || (h === 0 && k >= 0)));
    case 1:
      return k >= 0 && (l > 0 || (l === 0 && h >= 0));
    case 2:
      return h >= 0 && k >= 0 && l >= 0;
    case 3:
    case 8:
      return l >= 0 && ((h >= 0 && k > 0) || (h === 0 && k === 0));
    case 4:
    case 9:
      return h >= k && k >= 0 && l >= 0;
    case 5:
      return (h >= 0 && k > 0) || (h === 0 && k === 0 && l >= 0);
    case 6:
      return h >= k && k >= 0 && (k > 0 || l >= 0);
    case 7:
      return h >= k && k >= 0 && (h > k || l >= 0);
    case 10:
      return h >= 0 && ((l >= h && k > h) || (l === h && k === h));
    case 11:
      return k >= l && l >= h && h >= 0;
    default:
      return false;
  }
}

// Kept whole: one case per Laue class, on the per-reflection hot path of the ASU mapping.
/**
 * Writes into `dst[p..p+2]` the member of the Laue orbit of (h, k, l) that lies in the reference ASU `code`, computed
 * in closed form (absolute values, sorting, sector rotations). Uses only elements of the Laue group of that ASU, so
 * any result inside the ASU is the unique representative, i.e. exactly cctbx's non-anomalous `map_to_asu` result.
 * Returns false (and leaves `dst` untouched) for the rare boundary cases the closed form does not settle; callers
 * then fall back to the operator loop. No argument checks (hot path).
 *
 * @param code - {@link ReferenceAsuCode}.
 * @param h - Miller index h.
 * @param k - Miller index k.
 * @param l - Miller index l.
 * @param dst - Output array.
 * @param p - Output offset.
 * @returns True when a result was written.
 */
export function laueRepresentative(code: number, h: number, k: number, l: number, dst: Int32Array, p: number): boolean {
  let a = h;
  let b = k;
  let c = l;
  switch (code) {
    case 0:
      if (!(c > 0 || (c === 0 && (a > 0 || (a === 0 && b >= 0))))) {
        a = -a;
        b = -b;
        c = -c;
      }
      break;
    case 1:
      if (b < 0) b = -b;
      if (!(c > 0 || (c === 0 && a >= 0))) {
        a = -a;
        c = -c;
      }
      break;
    case 2:
      if (a < 0) a = -a;
      if (b < 0) b = -b;
      if (c < 0) c = -c;
      break;
    case 3:
      if (c < 0) c = -c;
      for (let i = 0; i < 4 && !((a >= 0 && b > 0) || (a === 0 && b === 0)); i++) {
        const t = a;
        a = b;
        b = -t;
      }
      break;
    case 4:
      if (a < 0) a = -a;
      if (b < 0) b = -b;
      if (c < 0) c = -c;
      if (a < b) {
        const t = a;
        a = b;
        b = t;
      }
      break;
    case 8:
    case 9:
      if (c < 0) c = -c;
      for (let i = 0; i < 6 && !((a >= 0 && b > 0) || (a === 0 && b === 0)); i++) {
        const t = a;
        a = a + b;
        b = -t;
      }
      if (code === 9 && a < b) {
        const t = a;
        a = b;
        b = t;
      }
      break;
    case 5:
    case 6:
    case 7:
      // S = −R3²: (h, k, l) → (h + k, −h, −l), order 6, in every trigonal Laue group
      for (let i = 0; i < 6 && !((a >= 0 && b > 0) || (a === 0 && b === 0)); i++) {
        const t = a;
        a = a + b;
        b = -t;
        c = -c;
      }
      if (code === 5) {
        if (a === 0 && b === 0 && c < 0) c = -c;
      } else if (code === 7) {
        // 2-fold along a+b: (h, k, l) → (k, h, −l)
        if (a < b || (a === b && c < 0)) {
          const t = a;
          a = b;
          b = t;
          c = -c;
        }
      } else if (a < b) {
        // mirror of -31m: (h, k, l) → (k, h, l)
        const t = a;
        a = b;
        b = t;
      }
      break;
    case 10: {
      if (a < 0) a = -a;
      if (b < 0) b = -b;
      if (c < 0) c = -c;
      // cyclic permutations (h, k, l) → (k, l, h)
      for (let i = 0; i < 3 && !((c >= a && b > a) || (c === a && b === a)); i++) {
        const t = a;
        a = b;
        b = c;
        c = t;
      }
      break;
    }
    case 11: {
      if (a < 0) a = -a;
      if (b < 0) b = -b;
      if (c < 0) c = -c;
      // sort so that h <= l <= k
      let lo = a < b ? a : b;
      let hi = a < b ? b : a;
      let mid = c;
      if (mid < lo) {
        const t = lo;
        lo = mid;
        mid = t;
      } else if (mid > hi) {
        const t = hi;
        hi = mid;
        mid = t;
      }
      a = lo;
      b = hi;
      c = mid;
      break;
    }
    default:
      return false;
  }
  if (!isInsideReferenceAsu(code, a, b, c)) return false;
  dst[p] = a;
  dst[p + 1] = b;
  dst[p + 2] = c;
  return true;
}

/**
 * The cctbx ASU operator loop (`cctbx/miller/asu.cpp`) over n indices: first over all rotations R (inversion images
 * included when centrosymmetric), h' = h·R, the first h' inside wins; for acentric groups a second loop tests −h·R and
 * sets the Friedel flag. Non-anomalous results flip back (−h·R); anomalous results keep h·R. Non-anomalous mapping
 * first tries {@link laueRepresentative}, which gives the same index faster. No argument checks (hot path);
 * `dst` may be `src`.
 *
 * @param rt - Transposed rotation matrices, 9 per operator: h'_j = rt[9m+3j]·h + rt[9m+3j+1]·k + rt[9m+3j+2]·l.
 * @param nRot - Number of matrices in `rt`.
 * @param code - {@link ReferenceAsuCode}.
 * @param acentric - True when the group has no inversion.
 * @param anomalous - Keep Friedel mates apart.
 * @param src - Input indices, 3 per row.
 * @param dst - Output indices, 3 per row.
 * @param n - Number of rows.
 */
export function mapToAsuKernel(
  rt: Int32Array,
  nRot: number,
  code: number,
  acentric: boolean,
  anomalous: boolean,
  src: Int32Array,
  dst: Int32Array,
  n: number,
): void {
  const end = 9 * nRot;
  for (let idx = 0, p = 0; idx < n; idx++, p += 3) {
    const h = src[p];
    const k = src[p + 1];
    const l = src[p + 2];
    if (!anomalous && laueRepresentative(code, h, k, l, dst, p)) continue;
    let done = false;
    for (let o = 0; o < end; o += 9) {
      const a = rt[o] * h + rt[o + 1] * k + rt[o + 2] * l;
      const b = rt[o + 3] * h + rt[o + 4] * k + rt[o + 5] * l;
      const c = rt[o + 6] * h + rt[o + 7] * k + rt[o + 8] * l;
      if (isInsideReferenceAsu(code, a, b, c)) {
        dst[p] = a;
        dst[p + 1] = b;
        dst[p + 2] = c;
        done = true;
        break;
      }
    }
    if (done || !acentric) continue;
    for (let o = 0; o < end; o += 9) {
      const a = rt[o] * h + rt[o + 1] * k + rt[o + 2] * l;
      const b = rt[o + 3] * h + rt[o + 4] * k + rt[o + 5] * l;
      const c = rt[o + 6] * h + rt[o + 7] * k + rt[o + 8] * l;
      if (isInsideReferenceAsu(code, -a, -b, -c)) {
        if (anomalous) {
          dst[p] = a;
          dst[p + 1] = b;
          dst[p + 2] = c;
        } else {
          dst[p] = -a;
          dst[p + 1] = -b;
          dst[p + 2] = -c;
        }
        break;
      }
    }
  }
}

/**
 * The change of basis of a non-reference setting as the ASU kernels use it, in integers. A Miller index h of the
 * setting is h·M/den in the reference setting (M the rotation part of cctbx's `cb_op().c_inv()`, i.e. of the Hall
 * suffix V that takes reference coordinates to the setting's); `adj`/`det` undo it: h = (h·M/den)·adj·den/det.
 */
export interface SettingBasis {
  /** M·den, row-major integers: h_ref_j = Σ_i h_i·m[3i+j] / den. */
  readonly m: Int32Array;
  /** Common denominator of M (1 for an integer M). */
  readonly den: number;
  /** Adjugate of m, row-major: m·adj = det·I. */
  readonly adj: Int32Array;
  /** Determinant of m. */
  readonly det: number;
}

/** Whether (h, k, l) of the setting lies inside the setting's ASU: h·M inside the reference ASU (cctbx `asu::is_inside`). */
function isInsideSettingAsu(code: number, b: SettingBasis, h: number, k: number, l: number): boolean {
  const m = b.m;
  const d = b.den;
  // cctbx's miller index times rational rotation: integer division of the numerators (truncation, as in C++)
  const x = m[0] * h + m[3] * k + m[6] * l;
  const y = m[1] * h + m[4] * k + m[7] * l;
  const z = m[2] * h + m[5] * k + m[8] * l;
  if (d === 1) return isInsideReferenceAsu(code, x, y, z);
  return isInsideReferenceAsu(code, Math.trunc(x / d), Math.trunc(y / d), Math.trunc(z / d));
}

/**
 * {@link mapToAsuKernel} for a group in a non-reference setting (cctbx `miller::map_to_asu` with a
 * `reciprocal_space::asu` whose change of basis is not the identity): the same two operator loops over the setting's
 * rotations, with the inside test made in the reference setting through `basis`. Non-anomalous mapping with an integer
 * M first takes the Laue representative of h·M in the reference ASU and carries it back (exact division by det): the
 * ASU is a fundamental domain, so that is the index the loops would find. No argument checks (hot path); `dst` may
 * be `src`.
 *
 * @param rt - Transposed rotation matrices of the setting, as in {@link mapToAsuKernel}.
 * @param nRot - Number of matrices in `rt`.
 * @param code - {@link ReferenceAsuCode} of the reference setting.
 * @param basis - The change of basis to the reference setting.
 * @param acentric - True when the group has no inversion.
 * @param anomalous - Keep Friedel mates apart.
 * @param src - Input indices, 3 per row.
 * @param dst - Output indices, 3 per row.
 * @param n - Number of rows.
 */
export function mapToAsuKernelInSetting(
  rt: Int32Array,
  nRot: number,
  code: number,
  basis: SettingBasis,
  acentric: boolean,
  anomalous: boolean,
  src: Int32Array,
  dst: Int32Array,
  n: number,
): void {
  const end = 9 * nRot;
  const { m, adj, det } = basis;
  const fast = !anomalous && basis.den === 1;
  const unimodular = det === 1 || det === -1;
  const rep = new Int32Array(3);
  for (let idx = 0, p = 0; idx < n; idx++, p += 3) {
    const h = src[p];
    const k = src[p + 1];
    const l = src[p + 2];
    if (fast) {
      const x = m[0] * h + m[3] * k + m[6] * l;
      const y = m[1] * h + m[4] * k + m[7] * l;
      const z = m[2] * h + m[5] * k + m[8] * l;
      if (laueRepresentative(code, x, y, z, rep, 0)) {
        const a = rep[0] * adj[0] + rep[1] * adj[3] + rep[2] * adj[6];
        const b = rep[0] * adj[1] + rep[1] * adj[4] + rep[2] * adj[7];
        const c = rep[0] * adj[2] + rep[1] * adj[5] + rep[2] * adj[8];
        if (unimodular) {
          // det = ±1: dividing by det is multiplying by it
          dst[p] = a * det;
          dst[p + 1] = b * det;
          dst[p + 2] = c * det;
          continue;
        }
        if (a % det === 0 && b % det === 0 && c % det === 0) {
          dst[p] = a / det;
          dst[p + 1] = b / det;
          dst[p + 2] = c / det;
          continue;
        }
      }
    }
    let done = false;
    for (let o = 0; o < end; o += 9) {
      const a = rt[o] * h + rt[o + 1] * k + rt[o + 2] * l;
      const b = rt[o + 3] * h + rt[o + 4] * k + rt[o + 5] * l;
      const c = rt[o + 6] * h + rt[o + 7] * k + rt[o + 8] * l;
      if (isInsideSettingAsu(code, basis, a, b, c)) {
        dst[p] = a;
        dst[p + 1] = b;
        dst[p + 2] = c;
        done = true;
        break;
      }
    }
    if (done || !acentric) continue;
    for (let o = 0; o < end; o += 9) {
      const a = rt[o] * h + rt[o + 1] * k + rt[o + 2] * l;
      const b = rt[o + 3] * h + rt[o + 4] * k + rt[o + 5] * l;
      const c = rt[o + 6] * h + rt[o + 7] * k + rt[o + 8] * l;
      if (isInsideSettingAsu(code, basis, -a, -b, -c)) {
        if (anomalous) {
          dst[p] = a;
          dst[p + 1] = b;
          dst[p + 2] = c;
        } else {
          dst[p] = -a;
          dst[p + 1] = -b;
          dst[p + 2] = -c;
        }
        break;
      }
    }
  }
}
