/**
 * The standard normal distribution: density, cumulative distribution Φ and its inverse Φ⁻¹, to about 1e-15 relative
 * accuracy. DIALS uses `scipy.stats.norm.cdf` and `norm.ppf` for the error model's normal probability plot; these are
 * the TypeScript counterparts.
 *
 * @packageDocumentation
 */

/** 1/√(2π). */
const INV_SQRT_2PI = 0.3989422804014327;
/** Smallest magnitude used by the modified Lentz algorithm. */
const TINY = 1e-300;

/**
 * exp(−t²/2) without the rounding error of forming t² (Cody's splitting: t = ts + (t − ts) with ts a multiple of 1/16,
 * whose square is exact).
 */
function expMinusHalfSquare(t: number): number {
  const ts = Math.trunc(t * 16) / 16;
  const d = (t - ts) * (t + ts);
  return Math.exp(-0.5 * ts * ts) * Math.exp(-0.5 * d);
}

/**
 * The standard normal density φ(x) = exp(−x²/2)/√(2π).
 *
 * @param x - The argument.
 * @returns φ(x).
 */
export function normalPdf(x: number): number {
  return INV_SQRT_2PI * expMinusHalfSquare(Math.abs(x));
}

/**
 * Upper tail Q(t) = 1 − Φ(t) for t ≥ √3 (x = t²/2 ≥ 1.5), from the Legendre continued fraction of the upper
 * incomplete gamma function Γ(1/2, x) = √π·erfc(√x), evaluated with the modified Lentz algorithm.
 */
function upperTailContinuedFraction(t: number): number {
  const x = 0.5 * t * t;
  const a = 0.5;
  let b = x + 1 - a;
  let c = 1 / TINY;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 10000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < TINY) d = TINY;
    c = b + an / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-17) break;
  }
  // Γ(1/2,x) = e^{−x}·√x·h and Q(t) = Γ(1/2, t²/2)/(2√π) = t·h·φ(t)/2.
  return 0.5 * t * h * INV_SQRT_2PI * expMinusHalfSquare(t);
}

/**
 * Φ(t) − 1/2 for small t ≥ 0 from the all-positive series φ(t)·Σ t^(2n+1)/(1·3·5···(2n+1)) (no cancellation).
 */
function centralSeries(t: number): number {
  const t2 = t * t;
  let term = t;
  let sum = t;
  for (let k = 3; k < 1000; k += 2) {
    term *= t2 / k;
    sum += term;
    if (term <= 1e-17 * sum) break;
  }
  return INV_SQRT_2PI * expMinusHalfSquare(t) * sum;
}

/** Switch between the series and the continued fraction at t²/2 = 1.5. */
const SWITCH_T = Math.sqrt(3);

/**
 * The standard normal cumulative distribution function Φ(x) (`scipy.stats.norm.cdf`).
 *
 * Relative accuracy is about 1e-15 over the whole range, including the lower tail (Φ(−37) ≈ 5.7e−300).
 *
 * @param x - The argument; NaN gives NaN.
 * @returns Φ(x) in [0, 1].
 */
export function normalCdf(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  const t = Math.abs(x);
  if (t < SWITCH_T) {
    const s = centralSeries(t);
    return x >= 0 ? 0.5 + s : 0.5 - s;
  }
  if (t > 40) return x > 0 ? 1 : 0;
  const q = upperTailContinuedFraction(t);
  return x > 0 ? 1 - q : q;
}

/**
 * The upper tail 1 − Φ(x) (`scipy.stats.norm.sf`), accurate also where it is tiny.
 *
 * @param x - The argument; NaN gives NaN.
 * @returns 1 − Φ(x).
 */
export function normalSf(x: number): number {
  return Number.isNaN(x) ? Number.NaN : normalCdf(-x);
}

// Wichura (1988), Algorithm AS 241 (PPND16): rational approximations in three regions.
const A = [
  3.3871328727963665, 133.14166789178438, 1971.5909503065513, 13731.69376550946, 45921.95393154987, 67265.7709270087,
  33430.57558358813, 2509.0809287301227,
];
const B = [
  1, 42.31333070160091, 687.1870074920579, 5394.196021424751, 21213.794301586597, 39307.89580009271, 28729.085735721943,
  5226.495278852854,
];
const C = [
  1.4234371107496835, 4.630337846156546, 5.769497221460691, 3.6478483247632045, 1.2704582524523684, 0.2417807251774506,
  0.022723844989269184, 0.0007745450142783414,
];
const D = [
  1, 2.053191626637759, 1.6763848301838038, 0.6897673349851, 0.14810397642748008, 0.015198666563616457,
  0.0005475938084995345, 1.0507500716444169e-9,
];
const E = [
  6.657904643501103, 5.463784911164114, 1.7848265399172913, 0.29656057182850487, 0.026532189526576124,
  0.0012426609473880784, 2.7115555687434876e-5, 2.0103343992922881e-7,
];
const F = [
  1, 0.599832206555888, 0.1369298809227358, 0.014875361290850615, 0.0007868691311456133, 1.8463183175100548e-5,
  1.421511758316446e-7, 2.0442631033899397e-15,
];

function poly(c: readonly number[], r: number): number {
  let v = c[7];
  for (let i = 6; i >= 0; i--) v = v * r + c[i];
  return v;
}

/**
 * The inverse Φ⁻¹(p) of the standard normal cumulative distribution (`scipy.stats.norm.ppf`), by Wichura's algorithm
 * AS 241 (about 1e-16 relative accuracy).
 *
 * @param p - A probability; 0 gives −∞, 1 gives +∞, NaN or values outside [0, 1] give NaN (as scipy does).
 * @returns x with Φ(x) = p.
 */
export function normalQuantile(p: number): number {
  if (!(p >= 0 && p <= 1)) return Number.NaN;
  if (p === 0) return Number.NEGATIVE_INFINITY;
  if (p === 1) return Number.POSITIVE_INFINITY;
  const q = p - 0.5;
  if (Math.abs(q) <= 0.425) {
    const r = 0.180625 - q * q;
    return (q * poly(A, r)) / poly(B, r);
  }
  let r = Math.sqrt(-Math.log(q < 0 ? p : 1 - p));
  let x: number;
  if (r <= 5) {
    r -= 1.6;
    x = poly(C, r) / poly(D, r);
  } else {
    r -= 5;
    x = poly(E, r) / poly(F, r);
  }
  return q < 0 ? -x : x;
}
