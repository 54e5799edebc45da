/**
 * The Moré–Thuente line search (MINPACK-2 `dcsrch`/`dcstep`, as `mcsrch`/`mcstep` in Nocedal's `lbfgs.f` and
 * `scitbx/lbfgs.h`): finds a step satisfying the strong Wolfe conditions
 * f(x + stp·s) ≤ f(x) + ftol·stp·gᵀs and |g(x + stp·s)ᵀs| ≤ gtol·|gᵀs|.
 *
 * @packageDocumentation
 */

/** Tolerances of {@link moreThuenteLineSearch}; the defaults are scitbx's. */
export interface LineSearchOptions {
  /**
   * Sufficient-decrease tolerance.
   * @defaultValue 1e-4
   */
  ftol?: number;
  /**
   * Curvature tolerance.
   * @defaultValue 0.9
   */
  gtol?: number;
  /**
   * Relative width of the interval of uncertainty at which the search gives up.
   * @defaultValue 1e-16
   */
  xtol?: number;
  /**
   * Smallest step.
   * @defaultValue 1e-20
   */
  stpmin?: number;
  /**
   * Largest step.
   * @defaultValue 1e20
   */
  stpmax?: number;
  /**
   * Maximum number of function evaluations.
   * @defaultValue 20
   */
  maxfev?: number;
}

/**
 * How a line search ended. Only "converged" means the Wolfe conditions hold; the others are the failures of
 * `scitbx::lbfgs` ("rounding_errors": rounding errors prevent further progress).
 */
export type LineSearchStatus =
  "converged" | "not_descent" | "rounding_errors" | "step_at_upper_bound" | "step_at_lower_bound" | "maxfev" | "xtol";

/** Outcome of {@link moreThuenteLineSearch}: the last point evaluated. */
export interface LineSearchResult {
  /** Why the search stopped. */
  status: LineSearchStatus;
  /** Last step length tried. */
  stp: number;
  /** x0 + stp·s (equal to x0 for "not_descent"). */
  x: Float64Array;
  /** f at `x`. */
  f: number;
  /** Gradient at `x`. */
  g: Float64Array;
  /** Number of function evaluations. */
  nfev: number;
}

/** The interval of uncertainty and the trial step, updated by {@link mcstep}. */
interface StepState {
  stx: number;
  fx: number;
  dx: number;
  sty: number;
  fy: number;
  dy: number;
  stp: number;
  brackt: boolean;
}

function max3(a: number, b: number, c: number): number {
  return Math.max(a, b, c);
}

// Kept whole: a line-by-line port of MINPACK's mcstep, whose four cases share the interval update that follows them.
/**
 * One safeguarded step of the Moré–Thuente interval update (`mcstep`). Returns 0 on improper input, else the case
 * number 1–4.
 */
function mcstep(st: StepState, fp: number, dp: number, stpmin: number, stpmax: number): number {
  const { stx, fx, dx, sty, fy, dy, stp } = st;
  if (
    (st.brackt && (stp <= Math.min(stx, sty) || stp >= Math.max(stx, sty))) ||
    dx * (stp - stx) >= 0 ||
    stpmax < stpmin
  ) {
    return 0;
  }
  const sgnd = dp * (dx / Math.abs(dx));
  let info: number;
  let bound: boolean;
  let stpf: number;
  if (fp > fx) {
    // higher function value: minimum bracketed; cubic if closer to stx, else average of cubic and quadratic
    info = 1;
    bound = true;
    const theta = (3 * (fx - fp)) / (stp - stx) + dx + dp;
    const s = max3(Math.abs(theta), Math.abs(dx), Math.abs(dp));
    let gamma = s * Math.sqrt((theta / s) ** 2 - (dx / s) * (dp / s));
    if (stp < stx) gamma = -gamma;
    const p = gamma - dx + theta;
    const q = gamma - dx + gamma + dp;
    const stpc = stx + (p / q) * (stp - stx);
    const stpq = stx + (dx / ((fx - fp) / (stp - stx) + dx) / 2) * (stp - stx);
    stpf = Math.abs(stpc - stx) < Math.abs(stpq - stx) ? stpc : stpc + (stpq - stpc) / 2;
    st.brackt = true;
  } else if (sgnd < 0) {
    // lower value, derivatives of opposite sign: bracketed; cubic if farther from stp than the secant step
    info = 2;
    bound = false;
    const theta = (3 * (fx - fp)) / (stp - stx) + dx + dp;
    const s = max3(Math.abs(theta), Math.abs(dx), Math.abs(dp));
    let gamma = s * Math.sqrt((theta / s) ** 2 - (dx / s) * (dp / s));
    if (stp > stx) gamma = -gamma;
    const p = gamma - dp + theta;
    const q = gamma - dp + gamma + dx;
    const stpc = stp + (p / q) * (stx - stp);
    const stpq = stp + (dp / (dp - dx)) * (stx - stp);
    stpf = Math.abs(stpc - stp) > Math.abs(stpq - stp) ? stpc : stpq;
    st.brackt = true;
  } else if (Math.abs(dp) < Math.abs(dx)) {
    // lower value, same sign, derivative magnitude decreasing
    info = 3;
    bound = true;
    const theta = (3 * (fx - fp)) / (stp - stx) + dx + dp;
    const s = max3(Math.abs(theta), Math.abs(dx), Math.abs(dp));
    let gamma = s * Math.sqrt(Math.max(0, (theta / s) ** 2 - (dx / s) * (dp / s)));
    if (stp > stx) gamma = -gamma;
    const p = gamma - dp + theta;
    const q = gamma + (dx - dp) + gamma;
    const r = p / q;
    let stpc: number;
    if (r < 0 && gamma !== 0) stpc = stp + r * (stx - stp);
    else if (stp > stx) stpc = stpmax;
    else stpc = stpmin;
    const stpq = stp + (dp / (dp - dx)) * (stx - stp);
    if (st.brackt) stpf = Math.abs(stp - stpc) < Math.abs(stp - stpq) ? stpc : stpq;
    else stpf = Math.abs(stp - stpc) > Math.abs(stp - stpq) ? stpc : stpq;
  } else {
    // lower value, same sign, derivative magnitude not decreasing
    info = 4;
    bound = false;
    if (st.brackt) {
      const theta = (3 * (fp - fy)) / (sty - stp) + dy + dp;
      const s = max3(Math.abs(theta), Math.abs(dy), Math.abs(dp));
      let gamma = s * Math.sqrt((theta / s) ** 2 - (dy / s) * (dp / s));
      if (stp > sty) gamma = -gamma;
      const p = gamma - dp + theta;
      const q = gamma - dp + gamma + dy;
      stpf = stp + (p / q) * (sty - stp);
    } else {
      stpf = stp > stx ? stpmax : stpmin;
    }
  }
  // update the interval of uncertainty
  if (fp > fx) {
    st.sty = stp;
    st.fy = fp;
    st.dy = dp;
  } else {
    if (sgnd < 0) {
      st.sty = stx;
      st.fy = fx;
      st.dy = dx;
    }
    st.stx = stp;
    st.fx = fp;
    st.dx = dp;
  }
  // safeguard the new step
  stpf = Math.max(stpmin, Math.min(stpmax, stpf));
  let next = stpf;
  if (st.brackt && bound) {
    const lim = st.stx + 0.66 * (st.sty - st.stx);
    next = st.sty > st.stx ? Math.min(lim, next) : Math.max(lim, next);
  }
  st.stp = next;
  return info;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** The options with their defaults, validated together with the initial step. @throws RangeError on a bad value */
function resolveLineSearchOptions(options: LineSearchOptions, stp: number): Required<LineSearchOptions> {
  const ftol = options.ftol ?? 1e-4;
  const gtol = options.gtol ?? 0.9;
  const xtol = options.xtol ?? 1e-16;
  const stpmin = options.stpmin ?? 1e-20;
  const stpmax = options.stpmax ?? 1e20;
  const maxfev = options.maxfev ?? 20;
  if (!(stp > 0) || !(ftol >= 0) || !(gtol >= 0) || !(xtol >= 0) || !(stpmin >= 0) || !(stpmax >= stpmin)) {
    throw new RangeError(
      `invalid line-search parameters: stp=${stp} ftol=${ftol} gtol=${gtol} xtol=${xtol} stpmin=${stpmin} stpmax=${stpmax}`,
    );
  }
  if (!Number.isInteger(maxfev) || maxfev < 1)
    throw new RangeError(`invalid option: maxfev must be a positive integer, got ${maxfev}`);
  return { ftol, gtol, xtol, stpmin, stpmax, maxfev };
}

/**
 * {@link mcstep} on the modified function ψ(stp) = f(stp) − f0 − stp·dgtest, used to predict the step in the first
 * stage; `st` is updated in the terms of f. Returns mcstep's case number.
 */
function mcstepModified(
  st: StepState,
  f: number,
  dg: number,
  t: number,
  dgtest: number,
  stmin: number,
  stmax: number,
): number {
  const mod: StepState = {
    stx: st.stx,
    fx: st.fx - st.stx * dgtest,
    dx: st.dx - dgtest,
    sty: st.sty,
    fy: st.fy - st.sty * dgtest,
    dy: st.dy - dgtest,
    stp: t,
    brackt: st.brackt,
  };
  const infoc = mcstep(mod, f - t * dgtest, dg - dgtest, stmin, stmax);
  st.stx = mod.stx;
  st.sty = mod.sty;
  st.stp = mod.stp;
  st.brackt = mod.brackt;
  st.fx = mod.fx + mod.stx * dgtest;
  st.fy = mod.fy + mod.sty * dgtest;
  st.dx = mod.dx + dgtest;
  st.dy = mod.dy + dgtest;
  return infoc;
}

/**
 * Searches along `s` from `x0` for a step satisfying the strong Wolfe conditions.
 *
 * @param evaluate - returns f and its gradient at the given point (it must not keep the array it is given).
 * @param x0 - starting point.
 * @param f0 - f(x0).
 * @param g0 - ∇f(x0).
 * @param s - search direction; must satisfy g0ᵀs < 0.
 * @param stp - initial step length (> 0).
 * @param options - see {@link LineSearchOptions}.
 * @returns the status and the last point evaluated.
 * @throws RangeError on invalid arguments.
 */
export function moreThuenteLineSearch(
  evaluate: (x: Float64Array) => { f: number; gradient: Float64Array },
  x0: Float64Array,
  f0: number,
  g0: Float64Array,
  s: Float64Array,
  stp: number,
  options: LineSearchOptions = {},
): LineSearchResult {
  const n = x0.length;
  if (g0.length !== n || s.length !== n)
    throw new RangeError(`invalid argument: x0, g0 and s must have equal lengths (${n}, ${g0.length}, ${s.length})`);
  const { ftol, gtol, xtol, stpmin, stpmax, maxfev } = resolveLineSearchOptions(options, stp);

  const dginit = dot(g0, s);
  if (dginit >= 0)
    return { status: "not_descent", stp: 0, x: Float64Array.from(x0), f: f0, g: Float64Array.from(g0), nfev: 0 };

  const st: StepState = { stx: 0, fx: f0, dx: dginit, sty: 0, fy: f0, dy: dginit, stp, brackt: false };
  let stage1 = true;
  let nfev = 0;
  let infoc = 1;
  const dgtest = ftol * dginit;
  let width = stpmax - stpmin;
  let width1 = 2 * width;
  const x = new Float64Array(n);
  for (;;) {
    let stmin: number;
    let stmax: number;
    if (st.brackt) {
      stmin = Math.min(st.stx, st.sty);
      stmax = Math.max(st.stx, st.sty);
    } else {
      stmin = st.stx;
      stmax = st.stp + 4 * (st.stp - st.stx);
    }
    st.stp = Math.min(Math.max(st.stp, stpmin), stpmax);
    // on an unusual termination, let stp be the best point so far
    if (
      (st.brackt && (st.stp <= stmin || st.stp >= stmax)) ||
      nfev >= maxfev - 1 ||
      infoc === 0 ||
      (st.brackt && stmax - stmin <= xtol * stmax)
    ) {
      st.stp = st.stx;
    }
    const t = st.stp;
    for (let j = 0; j < n; j++) x[j] = x0[j] + t * s[j];
    const { f, gradient: g } = evaluate(x);
    nfev++;
    const dg = dot(g, s);
    const ftest1 = f0 + t * dgtest;
    const done = (status: LineSearchStatus): LineSearchResult => ({
      status,
      stp: t,
      x: Float64Array.from(x),
      f,
      g: Float64Array.from(g),
      nfev,
    });
    if ((st.brackt && (t <= stmin || t >= stmax)) || infoc === 0) return done("rounding_errors");
    if (t === stpmax && f <= ftest1 && dg <= dgtest) return done("step_at_upper_bound");
    if (t === stpmin && (f > ftest1 || dg >= dgtest)) return done("step_at_lower_bound");
    if (nfev >= maxfev) return done("maxfev");
    if (st.brackt && stmax - stmin <= xtol * stmax) return done("xtol");
    if (f <= ftest1 && Math.abs(dg) <= gtol * -dginit) return done("converged");

    if (stage1 && f <= ftest1 && dg >= Math.min(ftol, gtol) * dginit) stage1 = false;
    if (stage1 && f <= st.fx && f > ftest1) {
      infoc = mcstepModified(st, f, dg, t, dgtest, stmin, stmax);
    } else {
      infoc = mcstep(st, f, dg, stmin, stmax);
    }
    // force a sufficient decrease of the interval of uncertainty
    if (st.brackt) {
      if (Math.abs(st.sty - st.stx) >= 0.66 * width1) st.stp = st.stx + 0.5 * (st.sty - st.stx);
      width1 = width;
      width = Math.abs(st.sty - st.stx);
    }
  }
}
