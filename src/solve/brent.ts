/**
 * Brent's derivative-free minimisation of a function of one variable on a bracketing interval (golden-section steps,
 * with parabolic interpolation steps where they stay inside the interval and shrink fast enough).
 *
 * @packageDocumentation
 */
/**
 * Brent's derivative-free minimisation of f on [ax, bx] (golden section with parabolic steps).
 *
 * @param f - The function to minimise.
 * @param ax - Lower end of the bracket.
 * @param bx - Upper end of the bracket.
 * @param tol - Absolute tolerance on the minimiser (added to a relative √ε tolerance).
 * @returns The abscissa of the minimum found (after at most 200 iterations).
 */
export function brentMinimise(f: (x: number) => number, ax: number, bx: number, tol: number): number {
  const golden = 0.5 * (3 - Math.sqrt(5));
  const eps = Math.sqrt(Number.EPSILON);
  let lo = ax;
  let hi = bx;
  let x = lo + golden * (hi - lo);
  let w = x;
  let v = x;
  let fx = f(x);
  let fw = fx;
  let fv = fx;
  let d = 0;
  let e = 0;
  for (let iter = 0; iter < 200; iter++) {
    const xm = 0.5 * (lo + hi);
    const tol1 = eps * Math.abs(x) + tol / 3;
    const tol2 = 2 * tol1;
    if (Math.abs(x - xm) <= tol2 - 0.5 * (hi - lo)) break;
    let useGolden = true;
    if (Math.abs(e) > tol1) {
      let r = (x - w) * (fx - fv);
      let q = (x - v) * (fx - fw);
      let p = (x - v) * q - (x - w) * r;
      q = 2 * (q - r);
      if (q > 0) p = -p;
      else q = -q;
      r = e;
      e = d;
      if (Math.abs(p) < Math.abs(0.5 * q * r) && p > q * (lo - x) && p < q * (hi - x)) {
        d = p / q;
        const u = x + d;
        if (u - lo < tol2 || hi - u < tol2) d = xm >= x ? tol1 : -tol1;
        useGolden = false;
      }
    }
    if (useGolden) {
      e = (x >= xm ? lo : hi) - x;
      d = golden * e;
    }
    const u = Math.abs(d) >= tol1 ? x + d : x + (d >= 0 ? tol1 : -tol1);
    const fu = f(u);
    if (fu <= fx) {
      if (u < x) hi = x;
      else lo = x;
      v = w;
      fv = fw;
      w = x;
      fw = fx;
      x = u;
      fx = fu;
    } else {
      if (u < x) lo = u;
      else hi = u;
      if (fu <= fw || w === x) {
        v = w;
        fv = fw;
        w = u;
        fw = fu;
      } else if (fu <= fv || v === x || v === w) {
        v = u;
        fv = fu;
      }
    }
  }
  return x;
}
