/**
 * The model the passes evaluate: per-still scales b_s and the optional resolution smoother a(|q|), so that a row's
 * inverse scale is `g = b_still · a(|q|)`. The smoother factor is computed per row, or read from normalised weights
 * precomputed once per row (they depend on |q| only).
 *
 * @packageDocumentation
 */
import { smootherWeightsAt, type SmootherKernelState } from "../dials/smoother-weights.ts";

/** The current model: per-still scales and the optional smoother. */
export interface JointModelState {
  /** b_s = exp(θ_s), one per still. */
  readonly scales: Float64Array;
  /** Smoother constants and values (values[0] is the fixed first value), or undefined when the smoother is off. */
  readonly smoother:
    (SmootherKernelState & { readonly values: Float64Array; readonly qMin: number; readonly qMax: number }) | undefined;
}

/** Normalised smoother weights of every row: row o uses values `first[o] … first[o] + count[o] − 1`. */
export interface PrecomputedSmootherWeights {
  /** Weights per row slot. */
  readonly stride: number;
  /** Index of the first value used by each row. */
  readonly first: Int32Array;
  /** Number of values used by each row (≤ stride). */
  readonly count: Uint8Array;
  /** ŵ_j = w_j / Σw, row o at `o·stride`. */
  readonly weights: Float64Array;
}

/**
 * Normalised smoother weights of every row (clamped |q|), computed once: the passes then need no `exp`.
 *
 * @param smoother - Smoother constants and clamp range.
 * @param qMagnitude - |q| per row.
 * @param allocate - Allocator for the arrays (e.g. shared memory).
 */
export function precomputeSmootherWeights(
  smoother: SmootherKernelState & { readonly qMin: number; readonly qMax: number },
  qMagnitude: Float32Array,
  allocate: { f64: (n: number) => Float64Array; i32: (n: number) => Int32Array; u8: (n: number) => Uint8Array },
): PrecomputedSmootherWeights {
  const n = qMagnitude.length;
  const stride = Math.min(8, smoother.nValues);
  const first = allocate.i32(n);
  const count = allocate.u8(n);
  const weights = allocate.f64(n * stride);
  const w = new Float64Array(8);
  const c = new Int32Array(2);
  for (let o = 0; o < n; o++) {
    const q = qMagnitude[o];
    const x = q < smoother.qMin ? smoother.qMin : q > smoother.qMax ? smoother.qMax : q;
    const f = smootherWeightsAt(smoother, x, w, c);
    const m = Math.min(c[0], stride);
    let sumW = 0;
    for (let j = 0; j < m; j++) sumW += w[j];
    first[o] = f;
    count[o] = m;
    for (let j = 0; j < m; j++) weights[o * stride + j] = sumW > 0 ? w[j] / sumW : 0;
  }
  return { stride, first, count, weights };
}

/** a(|q|) of row o from precomputed weights, and (when `dOut` is given) its normalised weights for the free values. */
export function precomputedFactor(
  pre: PrecomputedSmootherWeights,
  values: Float64Array,
  o: number,
  dOut: Float64Array | undefined,
): number {
  const base = o * pre.stride;
  const first = pre.first[o];
  const m = pre.count[o];
  const weights = pre.weights;
  let a = 0;
  for (let j = 0; j < m; j++) a += weights[base + j] * values[first + j];
  if (dOut !== undefined) {
    dOut.fill(0);
    for (let j = 0; j < m; j++) {
      const idx = first + j;
      if (idx > 0) dOut[idx - 1] = weights[base + j];
    }
  }
  return a;
}

/**
 * Smoother factor a(|q|) at one point and, when `dOut` is given, its normalised weights ŵ_j for the free values
 * (index j − 1; the fixed first value has no column). Returns a(|q|).
 */
export function smootherFactor(
  smoother: NonNullable<JointModelState["smoother"]>,
  q: number,
  w3: Float64Array,
  count: Int32Array,
  dOut: Float64Array | undefined,
): number {
  const x = q < smoother.qMin ? smoother.qMin : q > smoother.qMax ? smoother.qMax : q;
  const first = smootherWeightsAt(smoother, x, w3, count);
  const n = count[0];
  let sumW = 0;
  let sumWV = 0;
  const values = smoother.values;
  for (let j = 0; j < n; j++) {
    sumW += w3[j];
    sumWV += w3[j] * values[first + j];
  }
  if (dOut !== undefined) {
    dOut.fill(0);
    for (let j = 0; j < n; j++) {
      const idx = first + j;
      if (idx > 0) dOut[idx - 1] = sumW > 0 ? w3[j] / sumW : 0;
    }
  }
  return sumW > 0 ? sumWV / sumW : 0;
}

/**
 * The model's inverse scale `g = b_still · a(|q|)` of rows `[begin, end)`, into `out` (float32, like the columns).
 * Unchecked.
 */
export function inverseScalesInRange(
  state: JointModelState,
  still: Int32Array,
  qMagnitude: Float32Array,
  begin: number,
  end: number,
  out: Float32Array,
): void {
  const { scales, smoother } = state;
  if (smoother === undefined) {
    for (let o = begin; o < end; o++) out[o] = scales[still[o]];
    return;
  }
  const w3 = new Float64Array(8);
  const count = new Int32Array(2);
  for (let o = begin; o < end; o++) {
    out[o] = scales[still[o]] * smootherFactor(smoother, qMagnitude[o], w3, count, undefined);
  }
}
