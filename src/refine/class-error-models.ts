/**
 * The error model of each data class (Bragg, diffuse) of the joint refinement: DIALS's basic model
 * `σ'² = a²(σ² + (b·I)²)` refined per class by the DIALS port (`dials/error-model-refinement.ts`: DIALS's reflection
 * filter, intensity bins, the normal-probability fit of `a` and the binned-variance target of `b`) on the class's
 * used (non-outlier) rows at the current scales, with each group's reference the weighted mean at the current
 * weights, as DIALS refines it on its global Ih table. Each refinement costs one pass over the class's rows (which are
 * copied, at most `errorModelMaxRows` of them, into compact arrays: O(rows), never rows × parameters); the two
 * classes' fits are independent, and with a {@link ClassModelWorker} the diffuse class's runs in a worker thread while
 * the calling thread fits the Bragg class's (the same models as one after the other). DIALS's
 * procedure runs on the variances in the class's own counting unit (see `countingUnit`), so that σ reported × k give
 * the same σ' (a/k, b·k) and the same scales for any k.
 *
 * When a class cannot determine (a, b) — too few reflections after DIALS's filter, or too few groups with two or more
 * members — its model is fixed instead and the reason recorded: DIALS's default for stills, a = 1 and b = 0.02, for
 * Bragg; a = 1 and b = 0 (σ as given) for diffuse. These fixed models are taken in the units σ are given in, so they
 * (unlike the refined ones) do not follow σ × k.
 *
 * @packageDocumentation
 */
import { RefinementFailure } from "../errors.ts";
import { refineErrorModel, type ErrorModelRefinementOptions } from "../dials/error-model-refinement.ts";
import { medianInPlace, selectInPlace } from "../dials/outlier-rejection.ts";
import type { ScalingObservations } from "../observations/scaling-observations.ts";
import { forEachWindow } from "../observations/observation-windows.ts";
import type { RowColumns } from "../observations/row-columns.ts";
import { inverseScalesInRange, type JointModelState } from "../passes/inverse-scales.ts";
import type { RowErrorModel } from "../passes/outlier-weights.ts";
import { siblingWorkerEntry } from "../runtime/worker-pool.ts";
import { SyncTaskWorker } from "../runtime/task-worker.ts";
import { errorModelSigmaBins, type SigmaBin } from "./error-model-sigma-bins.ts";
import type { ErrorModelKind } from "./scaling-options.ts";

/** What the refinement reports of one class's error model. */
export interface ErrorModelSummary {
  /** "basic" (DIALS's basic model) or "none" (σ as given: a = 1, b = 0). */
  model: ErrorModelKind;
  /** The model's a. */
  a: number;
  /** The model's b (≥ 0). */
  b: number;
  /** Whether (a, b) were refined on the data (false: fixed, see `fixedReason`; always false for "none"). */
  refined: boolean;
  /** Why the model was fixed instead of refined (only when a "basic" model could not be refined). */
  fixedReason?: string;
  /**
   * Whether the refinement ended at a limit of DIALS's procedure: its a/b cycles did not converge, or a fell to 0.4 or
   * below, so that a was reset to 1 and b refined alone (DIALS's fallback).
   */
  atBound: boolean;
  /**
   * Standard deviation of the normalised deviations δ = √(n/(n−1))·(I/g − Ih)/σ of the class's used rows in groups of
   * two or more, with σ as given (`before`) and with the model's σ' (`after`); 0 without such rows.
   */
  normalisedResidualSd: { before: number; after: number };
  /**
   * σ' against I: the mean reported σ and the mean σ' of the class's used rows (those the model was refined on) per
   * log-spaced intensity bin ({@link errorModelSigmaBins}); only for a "basic" model.
   */
  sigmaBins?: SigmaBin[];
}

/** The error model of each class present (undefined for a class without observations). */
export interface ClassErrorModels {
  /** Bragg reflections. */
  readonly bragg: ErrorModelSummary | undefined;
  /** Diffuse voxels. */
  readonly diffuse: ErrorModelSummary | undefined;
}

/** The fixed model of the Bragg class when it cannot be refined: DIALS's default for stills. */
export const BRAGG_FIXED_ERROR_MODEL: Readonly<{ a: number; b: number }> = Object.freeze({ a: 1, b: 0.02 });

/** The fixed model of the diffuse class when it cannot be refined: σ as given. */
export const DIFFUSE_FIXED_ERROR_MODEL: Readonly<{ a: number; b: number }> = Object.freeze({ a: 1, b: 0 });

/** The per-row model the passes apply for these class models (a = 1, b = 0 for a missing class). */
export function rowErrorModelOf(obs: ScalingObservations, models: ClassErrorModels): RowErrorModel {
  return {
    nBraggGroups: obs.nBraggGroups,
    braggA: models.bragg?.a ?? 1,
    braggB: models.bragg?.b ?? 0,
    diffuseA: models.diffuse?.a ?? 1,
    diffuseB: models.diffuse?.b ?? 0,
  };
}

/** The used rows of one class, in compact arrays (group ids dense from 0). */
export interface ClassRows {
  /** Number of groups (ids 0 … nGroups − 1). */
  nGroups: number;
  /** Number of rows. */
  n: number;
  /** Group of each row. */
  groupIndex: Int32Array;
  /** Intensity I of each row (raw, unscaled). */
  intensity: Float64Array;
  /** Reported variance σ² of each row. */
  variance: Float64Array;
  /** Inverse scale g of each row. */
  inverseScale: Float64Array;
  /** Weight of each row in its group's reference (> 0). */
  weights: Float64Array;
}

function grow<T extends Int32Array | Float64Array>(a: T, n: number): T {
  if (n <= a.length) return a;
  const b = new (a.constructor as new (k: number) => T)(Math.max(n, 2 * a.length));
  b.set(a);
  return b;
}

/** The rows collected so far ([0, n), in `nGroups` groups), in arrays grown as needed. */
interface RowsBuffer {
  n: number;
  nGroups: number;
  groupIndex: Int32Array;
  intensity: Float64Array;
  variance: Float64Array;
  inverseScale: Float64Array;
  weights: Float64Array;
}

/** Room for `extra` more rows. */
function reserve(buf: RowsBuffer, extra: number): void {
  const need = buf.n + extra;
  if (need <= buf.groupIndex.length) return;
  buf.groupIndex = grow(buf.groupIndex, need);
  buf.intensity = grow(buf.intensity, need);
  buf.variance = grow(buf.variance, need);
  buf.inverseScale = grow(buf.inverseScale, need);
  buf.weights = grow(buf.weights, need);
}

/**
 * Appends the used rows (weight ≠ 0) of absolute rows [from, to) (at index o − base of `rows`; g of row o at
 * gh[o − gBase]) as the next group, when there is one (room reserved). A kernel of its own, with the arrays and the
 * count in locals: the loop runs once a row of the class every refinement cycle.
 */
function appendUsedRows(
  buf: RowsBuffer,
  rows: RowColumns,
  base: number,
  from: number,
  to: number,
  gh: Float32Array,
  gBase: number,
): void {
  const { groupIndex, intensity, variance, inverseScale, weights } = buf;
  const { weight, intensity: rowIntensity, variance: rowVariance } = rows;
  const group = buf.nGroups;
  let n = buf.n;
  for (let o = from; o < to; o++) {
    const w = weight[o - base];
    if (w === 0) continue;
    groupIndex[n] = group;
    intensity[n] = rowIntensity[o - base];
    variance[n] = rowVariance[o - base];
    inverseScale[n] = gh[o - gBase];
    weights[n] = w;
    n++;
  }
  if (n > buf.n) buf.nGroups++;
  buf.n = n;
}

/**
 * The used rows (weight > 0) of groups [groupBegin, groupEnd), every `stride`-th group, with g at `state`: one pass
 * over the windows of those groups, computing g (the values `inverseScalesInRange` gives, row by row) only for the
 * rows of the groups taken, so that a class sampled to `errorModelMaxRows` costs that many evaluations of the model,
 * not one per row of the class.
 */
function collectClassRows(
  obs: ScalingObservations,
  state: JointModelState,
  precomputed: Float32Array | undefined,
  groupBegin: number,
  groupEnd: number,
  stride: number,
): ClassRows {
  const initial = Math.min(1 << 16, Math.max(16, obs.groupStart[groupEnd] - obs.groupStart[groupBegin]));
  const buf: RowsBuffer = {
    n: 0,
    nGroups: 0,
    groupIndex: new Int32Array(initial),
    intensity: new Float64Array(initial),
    variance: new Float64Array(initial),
    inverseScale: new Float64Array(initial),
    weights: new Float64Array(initial),
  };
  const { groupStart } = obs;
  let g = new Float32Array(0);
  forEachWindow(
    obs,
    (win) => {
      const base = win.rowBegin;
      const rows = win.rows;
      // the first group of the stride at or after the window's first group
      const first = win.groupBegin + ((stride - ((win.groupBegin - groupBegin) % stride)) % stride);
      for (let h = first; h < win.groupEnd; h += stride) {
        const size = groupStart[h + 1] - groupStart[h];
        reserve(buf, size);
        if (precomputed !== undefined) {
          // every row's g, indexed by absolute row
          appendUsedRows(buf, rows, base, groupStart[h], groupStart[h + 1], precomputed, 0);
        } else {
          const lo = groupStart[h] - base;
          if (g.length < size) g = new Float32Array(Math.max(size, 2 * g.length));
          inverseScalesInRange(
            state,
            rows.still.subarray(lo, lo + size),
            rows.qMagnitude.subarray(lo, lo + size),
            0,
            size,
            g,
          );
          appendUsedRows(buf, rows, base, groupStart[h], groupStart[h + 1], g, groupStart[h]);
        }
      }
    },
    { groupBegin, groupEnd },
  );
  const { n } = buf;
  return {
    nGroups: buf.nGroups,
    n,
    groupIndex: buf.groupIndex.subarray(0, n),
    intensity: buf.intensity.subarray(0, n),
    variance: buf.variance.subarray(0, n),
    inverseScale: buf.inverseScale.subarray(0, n),
    weights: buf.weights.subarray(0, n),
  };
}

/** Each group's reference Ih and its number of rows. */
interface GroupReferences {
  Ih: Float64Array;
  count: Int32Array;
}

/** Each group's reference Ih = Σwg·I/Σwg² at the rows' weights, and its number of rows. */
function groupReferences(c: ClassRows): GroupReferences {
  const S = new Float64Array(c.nGroups);
  const Ih = new Float64Array(c.nGroups);
  const count = new Int32Array(c.nGroups);
  for (let i = 0; i < c.n; i++) {
    const h = c.groupIndex[i];
    const g = c.inverseScale[i];
    S[h] += c.weights[i] * g * g;
    Ih[h] += c.weights[i] * g * c.intensity[i];
    count[h]++;
  }
  for (let h = 0; h < c.nGroups; h++) Ih[h] /= S[h];
  return { Ih, count };
}

/**
 * Standard deviation of δ = √(n/(n−1))·(I/g − Ih)/σ' over the rows in groups of two or more (Ih the weighted mean at
 * the rows' weights), with σ'² = a²(σ² + (b·I)²).
 *
 * @param refs - the groups' references at the rows' weights, when already computed. @defaultValue computed
 */
export function normalisedResidualSd(
  c: ClassRows,
  a: number,
  b: number,
  refs: GroupReferences = groupReferences(c),
): number {
  const { Ih, count } = refs;
  let s1 = 0;
  let s2 = 0;
  let m = 0;
  for (let i = 0; i < c.n; i++) {
    const h = c.groupIndex[i];
    const nh = count[h];
    if (nh < 2) continue;
    const g = c.inverseScale[i];
    const bi = b * c.intensity[i];
    const sigma = (a * Math.sqrt(c.variance[i] + bi * bi)) / g;
    const d = (Math.sqrt(nh / (nh - 1)) * (c.intensity[i] / g - Ih[h])) / sigma;
    if (!Number.isFinite(d)) continue;
    s1 += d;
    s2 += d * d;
    m++;
  }
  if (m < 2) return 0;
  return Math.sqrt(Math.max(0, (s2 - (s1 * s1) / m) / (m - 1)));
}

/** Number of groups with two or more used rows (from the groups' row counts). */
function multiMemberGroups(count: Int32Array): number {
  let k = 0;
  for (const x of count) if (x >= 2) k++;
  return k;
}

/**
 * The share of a class's rows, the strongest by expected intensity g·Ih, whose median I/σ² sets the class's counting
 * unit ({@link countingUnit}).
 */
export const COUNTING_UNIT_STRONGEST_FRACTION = 0.1;

/**
 * The factor u that puts a class's variances in counting units, σ_c² = u·σ²: the median I/σ² of the strongest
 * {@link COUNTING_UNIT_STRONGEST_FRACTION} of its rows by expected intensity g·Ih (at least one row); σ reported × k
 * give u/k². With σ from counting statistics, σ² = I + background and I/σ² → 1 for strong reflections; the Bragg rows
 * here are divided by partiality p (σ² by p²), so their I/σ² is p times that, and u is about the partiality of the
 * strong reflections (0.62 on tetragonal-40, 0.97 on misweighted-60 whose σ are counts × 0.8). 1 when that median is
 * not a positive number (no usable rows).
 */
function countingUnit(c: ClassRows, Ih: Float64Array): number {
  const expected = new Float64Array(c.n);
  const eligible = new Uint8Array(c.n);
  const nEligible = expectedIntensities(c.groupIndex, c.intensity, c.variance, c.inverseScale, Ih, expected, eligible);
  if (nEligible === 0) return 1;
  const m = Math.max(1, Math.ceil(COUNTING_UNIT_STRONGEST_FRACTION * nEligible));
  // the m strongest (by expected intensity, ties by row): every row above the m-th largest value, then the rows equal
  // to it in row order. The m-th largest value is found by selection, not by a sort of all the values: the same number
  // (a selection may return −0 for +0 or the reverse, which compare equal here and in every test below)
  const values = new Float64Array(nEligible);
  compactEligible(expected, eligible, values);
  selectInPlace(values, nEligible, nEligible - m);
  const threshold = values[nEligible - m];
  const ratio = new Float64Array(m);
  strongestRatios(expected, eligible, c.intensity, c.variance, threshold, m - countAbove(values, threshold), ratio);
  // their median I/σ², by selection as well (the central order statistics of a sort; a zero median, of either sign,
  // gives u = 1 below)
  const u = medianInPlace(ratio, m);
  return Number.isFinite(u) && u > 0 ? u : 1;
}

// The loops of countingUnit are functions of their own (run once per refinement cycle, on cold code: one long function
// would be deoptimised at each of its later loops).

/**
 * Each row's expected intensity g·Ih into `expected`, and whether it is eligible (σ² > 0, g·Ih and I finite) into
 * `eligible`; returns the number eligible.
 */
function expectedIntensities(
  groupIndex: Int32Array,
  intensity: Float64Array,
  variance: Float64Array,
  inverseScale: Float64Array,
  Ih: Float64Array,
  expected: Float64Array,
  eligible: Uint8Array,
): number {
  let nEligible = 0;
  for (let i = 0; i < groupIndex.length; i++) {
    expected[i] = inverseScale[i] * Ih[groupIndex[i]];
    if (variance[i] > 0 && Number.isFinite(expected[i]) && Number.isFinite(intensity[i])) {
      eligible[i] = 1;
      nEligible++;
    }
  }
  return nEligible;
}

/** The eligible rows' values, in row order, into `out`. */
function compactEligible(values: Float64Array, eligible: Uint8Array, out: Float64Array): void {
  for (let i = 0, k = 0; i < values.length; i++) if (eligible[i] !== 0) out[k++] = values[i];
}

/** The number of values above `threshold`. */
function countAbove(values: Float64Array, threshold: number): number {
  let above = 0;
  for (let k = 0; k < values.length; k++) if (values[k] > threshold) above++;
  return above;
}

/**
 * I/σ² of the eligible rows whose expected intensity is above `threshold`, and of the first `ties` of those equal to
 * it, in row order, into `ratio`.
 */
function strongestRatios(
  expected: Float64Array,
  eligible: Uint8Array,
  intensity: Float64Array,
  variance: Float64Array,
  threshold: number,
  ties: number,
  ratio: Float64Array,
): void {
  let r = 0;
  for (let i = 0; i < expected.length; i++) {
    if (eligible[i] === 0) continue;
    const e = expected[i];
    if (e > threshold || (e === threshold && ties-- > 0)) ratio[r++] = intensity[i] / variance[i];
  }
}

/**
 * The error model of one class: refined, or fixed with the reason.
 *
 * DIALS's procedure is not invariant under σ → k·σ although the model is (a → a/k, b → b·k give the same σ'): its
 * filter keeps groups with mean I/σ² > 0.85 and drops groups whose internal variance is ≥ max(50, max Ih/40) times
 * σ², its fallback takes a ≤ 0.4 as failure, and its b starts at 0.02 with absolute steps — all in counting units,
 * which integration programs do not always report (on the real CuNiR stills 99 % of the reflections have I/σ² < 0.46
 * and the counting test leaves none). So the procedure runs on the variances in the class's own counting unit, u·σ²
 * ({@link countingUnit}), and its (a_c, b_c) are converted back, a = a_c·√u and b = b_c/√u: the refined σ', and so
 * the weights and the scales, are the same for σ reported in any unit. The DIALS port
 * (`dials/error-model-refinement.ts`) itself stays exactly DIALS's.
 */
export function classModel(
  c: ClassRows,
  fixed: Readonly<{ a: number; b: number }>,
  filter: ErrorModelRefinementOptions,
): ErrorModelSummary {
  // the references depend on the rows' weights and g only: one computation serves every sd and the counting unit
  const refs = groupReferences(c);
  const before = normalisedResidualSd(c, 1, 0, refs);
  const fixedModel = (reason: string): ErrorModelSummary => ({
    model: "basic",
    a: fixed.a,
    b: fixed.b,
    refined: false,
    fixedReason: reason,
    atBound: false,
    normalisedResidualSd: { before, after: normalisedResidualSd(c, fixed.a, fixed.b, refs) },
    sigmaBins: errorModelSigmaBins(c.intensity, c.variance, fixed.a, fixed.b),
  });
  const nMulti = multiMemberGroups(refs.count);
  if (nMulti < MIN_MULTI_MEMBER_GROUPS) {
    return fixedModel(
      `${nMulti} groups with two or more observations (fewer than ${MIN_MULTI_MEMBER_GROUPS}): a, b undetermined`,
    );
  }
  const u = countingUnit(c, refs.Ih);
  let fit: ReturnType<typeof refineErrorModel>;
  try {
    const variance = scaledCopy(c.variance, u);
    // the groups' Ih at the rows' weights are the references already computed (the same sums in the same order as
    // the weighted means refineErrorModel would compute)
    fit = refineErrorModel({ ...c, variance, Ih: refs.Ih }, { ...filter, deviationPrefactor: "unbiased" });
  } catch (e) {
    if (e instanceof RefinementFailure) return fixedModel(e.message);
    throw e;
  }
  const a = fit.a * Math.sqrt(u);
  const b = fit.b / Math.sqrt(u);
  if (!(Number.isFinite(a) && a > 0 && Number.isFinite(b))) {
    return fixedModel(`the refined model is not usable (a = ${a}, b = ${b})`);
  }
  return {
    model: "basic",
    a,
    b,
    refined: true,
    atBound: !fit.converged,
    normalisedResidualSd: { before, after: normalisedResidualSd(c, a, b, refs) },
    sigmaBins: errorModelSigmaBins(c.intensity, c.variance, a, b),
  };
}

/** u·x of each x. */
function scaledCopy(x: Float64Array, u: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = u * x[i];
  return out;
}

/**
 * DIALS's reflection filter as the diffuse class uses it: diffuse intensities and σ are not counts, so the counting
 * tests (group mean I/σ² > 0.85, expected intensity above 25) and DIALS's fallback for a ≤ 0.4 are off; the
 * multiplicity, positive-intensity and internal-variance tests stay.
 */
const DIFFUSE_FILTER: ErrorModelRefinementOptions = Object.freeze({
  minMeanIOverVariance: -Infinity,
  minIh: 0,
  fallbackBelowA: 0,
});

/** Fewer groups with two or more used observations than this leave (a, b) undetermined: the model is fixed. */
export const MIN_MULTI_MEMBER_GROUPS = 20;

/** One class's fit as a task of the error-model worker ({@link ClassModelWorker}): {@link classModel}'s arguments. */
export interface ClassModelTask {
  rows: ClassRows;
  fixed: Readonly<{ a: number; b: number }>;
  filter: ErrorModelRefinementOptions;
}

/**
 * A worker thread that fits the diffuse class's model while the calling thread fits the Bragg class's (the two fits
 * are independent, and each is the same function on the same numbers in either thread, so the models are the same as
 * fitted one after the other). Started once per refinement; {@link ClassModelWorker.close} stops it. Should the
 * thread fail to start or fail in a fit, that fit and every later one run in the calling thread instead, so that
 * results and errors are exactly those of {@link classModel} there.
 */
export class ClassModelWorker {
  private worker: SyncTaskWorker<ClassModelTask, ErrorModelSummary> | undefined;
  /** The task of the fit in progress (its rows stay usable here: the worker gets copies). */
  private pending: ClassModelTask | undefined;

  constructor() {
    try {
      this.worker = new SyncTaskWorker(siblingWorkerEntry(import.meta.url, "class-error-model-worker"));
    } catch {
      this.worker = undefined;
    }
  }

  /** Starts fitting one class; `task` is not changed. */
  begin(task: ClassModelTask): void {
    this.pending = task;
    if (this.worker === undefined) return;
    const r = task.rows;
    // compact copies whose buffers move to the worker (the collected arrays are views of larger, grown buffers)
    const rows: ClassRows = {
      nGroups: r.nGroups,
      n: r.n,
      groupIndex: r.groupIndex.slice(),
      intensity: r.intensity.slice(),
      variance: r.variance.slice(),
      inverseScale: r.inverseScale.slice(),
      weights: r.weights.slice(),
    };
    const transfer = [rows.groupIndex, rows.intensity, rows.variance, rows.inverseScale, rows.weights].map(
      (a) => a.buffer as ArrayBuffer,
    );
    try {
      this.worker.begin({ ...task, rows }, transfer);
    } catch {
      this.giveUp();
    }
  }

  /** The model of the class given to {@link ClassModelWorker.begin} (blocks until it is fitted). */
  end(): ErrorModelSummary {
    const task = this.pending;
    if (task === undefined) throw new RefinementFailure("ClassModelWorker.end without a fit begun");
    this.pending = undefined;
    if (this.worker !== undefined) {
      try {
        return this.worker.end();
      } catch {
        this.giveUp();
      }
    }
    return classModel(task.rows, task.fixed, task.filter);
  }

  /** Whether the fits still run in the worker thread (false once it failed, or after {@link ClassModelWorker.close}). */
  get threaded(): boolean {
    return this.worker !== undefined;
  }

  /** Stops the worker (idempotent); later fits run in the calling thread. */
  close(): void {
    this.giveUp();
  }

  private giveUp(): void {
    this.worker?.close();
    this.worker = undefined;
  }
}

/**
 * Refines (kind "basic") or summarises (kind "none": a = 1, b = 0) the error model of each class at the model state
 * `state`, on the rows' current weights (outliers, weight 0, left out).
 *
 * @param precomputed - g of every row at `state` when already computed (resident rows). @defaultValue computed
 * @param worker - fits the diffuse class's "basic" model in a worker thread while this thread fits the Bragg
 *   class's (same models). @defaultValue undefined: one after the other in this thread
 */
export function refineClassErrorModels(
  obs: ScalingObservations,
  state: JointModelState,
  kind: ErrorModelKind,
  maxRows: number,
  precomputed?: Float32Array,
  worker?: ClassModelWorker,
): ClassErrorModels {
  const rowsOf = (groupBegin: number, groupEnd: number, nRows: number): ClassRows | undefined => {
    if (groupEnd <= groupBegin || nRows === 0) return undefined;
    const stride = Math.max(1, Math.ceil(nRows / maxRows));
    return collectClassRows(obs, state, precomputed, groupBegin, groupEnd, stride);
  };
  const diffuseRows = rowsOf(obs.nBraggGroups, obs.nGroups, obs.n - obs.nBraggRows);
  if (kind === "basic") {
    const diffuseTask =
      diffuseRows === undefined
        ? undefined
        : { rows: diffuseRows, fixed: DIFFUSE_FIXED_ERROR_MODEL, filter: DIFFUSE_FILTER };
    // both classes present: the diffuse fit runs in the worker meanwhile, from before the Bragg rows are collected
    const inWorker = worker !== undefined && diffuseTask !== undefined && obs.nBraggGroups > 0 && obs.nBraggRows > 0;
    if (inWorker) worker.begin(diffuseTask);
    const braggRows = rowsOf(0, obs.nBraggGroups, obs.nBraggRows);
    const bragg = braggRows === undefined ? undefined : classModel(braggRows, BRAGG_FIXED_ERROR_MODEL, {});
    let diffuse: ErrorModelSummary | undefined;
    if (inWorker) diffuse = worker.end();
    else if (diffuseTask !== undefined) diffuse = classModel(diffuseTask.rows, diffuseTask.fixed, diffuseTask.filter);
    return { bragg, diffuse };
  }
  const none = (rows: ClassRows | undefined): ErrorModelSummary | undefined => {
    if (rows === undefined) return undefined;
    const sd = normalisedResidualSd(rows, 1, 0);
    return {
      model: "none" as const,
      a: 1,
      b: 0,
      refined: false,
      atBound: false,
      normalisedResidualSd: { before: sd, after: sd },
    };
  };
  return { bragg: none(rowsOf(0, obs.nBraggGroups, obs.nBraggRows)), diffuse: none(diffuseRows) };
}

/** Relative change of a (and absolute change of a·b) below which the models count as stable between cycles. */
export const ERROR_MODEL_STABLE_TOLERANCE = 1e-3;

/**
 * Whether every class's model moved by less than {@link ERROR_MODEL_STABLE_TOLERANCE} from `previous`: a relatively,
 * and a·b (σ'² = a²σ² + (a·b·I)², the fraction of I in σ') absolutely. a·b, not b, so that the test does not depend
 * on the unit of σ (σ × k give a/k and b·k).
 */
export function errorModelsStable(previous: ClassErrorModels, current: ClassErrorModels): boolean {
  const same = (p: ErrorModelSummary | undefined, c: ErrorModelSummary | undefined): boolean => {
    if (p === undefined || c === undefined) return p === c;
    return (
      Math.abs(c.a - p.a) <= ERROR_MODEL_STABLE_TOLERANCE * Math.abs(p.a) &&
      Math.abs(c.a * c.b - p.a * p.b) <= ERROR_MODEL_STABLE_TOLERANCE
    );
  };
  return same(previous.bragg, current.bragg) && same(previous.diffuse, current.diffuse);
}
