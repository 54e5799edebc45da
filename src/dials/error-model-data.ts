/**
 * The reflections the DIALS error model is refined on (`dials/algorithms/scaling/error_model/engine.py`,
 * `filter_unsuitable_reflections` and `filter_unsuitable_reflections_stills`): Ih of each group is computed once on the
 * whole input, then rows and groups are dropped by partiality, mean I/σ², expected intensity, multiplicity and
 * internal variance ratio (or, for stills, by I/σ, expected intensity, |δ| and multiplicity).
 *
 * DIALS builds the input Ih table with anomalous = true and the outliers removed; that is the caller's job here.
 *
 * @packageDocumentation
 */
import { ConfigError, RefinementFailure, requireInstanceArgument, requireOptionsArgument } from "../errors.ts";
import { validateGroupedObservations, type GroupedObservations } from "./grouped-observations.ts";

/** The reflections selected for error-model refinement, in row order of the input. */
export interface ErrorModelData {
  /** Row index in the input of each selected reflection. */
  rows: Int32Array;
  /** Group id (of the input) of each selected reflection. */
  groupIndex: Int32Array;
  /** Raw intensity. */
  intensity: Float64Array;
  /** Variance σ². */
  variance: Float64Array;
  /** Inverse scale factor g. */
  inverseScale: Float64Array;
  /** Ih of the reflection's group, computed on the whole input (DIALS keeps the Ih of the unfiltered table). */
  Ih: Float64Array;
  /** Number of selected reflections in the reflection's group. */
  nh: Float64Array;
  /** Partiality, when the input has it. */
  partiality: Float64Array | undefined;
}

/** Options of {@link prepareErrorModelData}. */
export interface ErrorModelFilterOptions {
  /**
   * Minimum expected intensity g·Ih (times partiality for stills) of a reflection used in refinement.
   *
   * @defaultValue 25
   */
  minIh?: number;
  /**
   * Reflections with partiality ≤ this are dropped (when partiality is given).
   *
   * @defaultValue 0.4
   */
  minPartiality?: number;
  /**
   * Fewer reflections than this after filtering is an error (DIALS `BasicErrorModel.min_reflections_required`).
   *
   * @defaultValue 250
   */
  minReflectionsRequired?: number;
  /**
   * Groups whose mean I/σ² is not above this are dropped (DIALS's test that σ are counting errors; −Infinity turns it
   * off, e.g. for data whose σ are in other units).
   *
   * @defaultValue 0.85
   */
  minMeanIOverVariance?: number;
  /**
   * Use the stills filter (I/σ ≥ stillsMinIsigma, g·Ih·p > minIh, |δ| < 6, multiplicity ≥ stillsMinMultiplicity).
   *
   * @defaultValue false
   */
  stills?: boolean;
  /**
   * Stills filter: minimum I/σ of a reflection.
   *
   * @defaultValue 2.0
   */
  stillsMinIsigma?: number;
  /**
   * Stills filter: minimum multiplicity after the other stills filters.
   *
   * @defaultValue 4
   */
  stillsMinMultiplicity?: number;
}

/** Observations for the error model: {@link GroupedObservations} plus optional partiality and per-group Ih. */
export type ErrorModelObservations = GroupedObservations & {
  /** Partiality of each row (optional). */
  partiality?: Float64Array;
  /**
   * Merged intensity of each group (length nGroups).
   *
   * @defaultValue the weighted mean ΣwgI/Σwg² over all rows of the group, with the weights of the observations
   */
  Ih?: Float64Array;
};

/** A working selection of rows with the per-row columns the filters need. */
interface Table {
  rows: Int32Array;
  group: Int32Array;
  I: Float64Array;
  v: Float64Array;
  g: Float64Array;
  Ih: Float64Array;
  p: Float64Array | undefined;
}

function selectTable(t: Table, keep: Uint8Array): Table {
  let m = 0;
  for (const k of keep) m += k;
  const out: Table = {
    rows: new Int32Array(m),
    group: new Int32Array(m),
    I: new Float64Array(m),
    v: new Float64Array(m),
    g: new Float64Array(m),
    Ih: new Float64Array(m),
    p: t.p === undefined ? undefined : new Float64Array(m),
  };
  let j = 0;
  for (let i = 0; i < keep.length; i++) {
    if (keep[i] === 0) continue;
    out.rows[j] = t.rows[i];
    out.group[j] = t.group[i];
    out.I[j] = t.I[i];
    out.v[j] = t.v[i];
    out.g[j] = t.g[i];
    out.Ih[j] = t.Ih[i];
    if (out.p !== undefined && t.p !== undefined) out.p[j] = t.p[i];
    j++;
  }
  return out;
}

function groupCounts(t: Table, nGroups: number): Float64Array {
  const s = new Float64Array(nGroups);
  const group = t.group;
  for (let i = 0; i < group.length; i++) s[group[i]] += 1;
  return s;
}

function perRow(t: Table, perGroup: Float64Array): Float64Array {
  const out = new Float64Array(t.group.length);
  for (let i = 0; i < out.length; i++) out[i] = perGroup[t.group[i]];
  return out;
}

function requireCount(n: number, min: number): void {
  if (n < min) {
    throw new RefinementFailure(`error model: insufficient reflections (${n} < ${min}) to perform error modelling`);
  }
}

/**
 * Select the reflections used for error-model refinement, exactly as DIALS `filter_unsuitable_reflections` (or
 * `filter_unsuitable_reflections_stills` with `stills`):
 *
 * 1. partiality > minPartiality (when partiality is given);
 * 2. keep groups with mean(I/σ²) > 0.85;
 * 3. keep reflections with g·Ih > minIh, n_h > 1 and I > 0.001; at least minReflectionsRequired must remain;
 * 4. keep reflections whose group still has n_h > 1;
 * 5. drop groups whose internal variance ratio Σ(I/g − Ih)²/(n−1) / mean(σ²/g²) is ≥ max(50, max(Ih)/40);
 *    at least minReflectionsRequired must remain.
 *
 * Ih is computed once on the whole input and kept through the filters, as DIALS's `select` keeps `Ih_values`.
 *
 * @param obs - The observations (see {@link ErrorModelObservations}).
 * @param options - See {@link ErrorModelFilterOptions}.
 * @returns The selected reflections.
 * @throws {@link ConfigError} on malformed input; {@link RefinementFailure} when too few reflections remain.
 */
export function prepareErrorModelData(obs: ErrorModelObservations, options?: ErrorModelFilterOptions): ErrorModelData {
  const where = "prepareErrorModelData";
  validateGroupedObservations(obs, where);
  requireOptionsArgument(options, `${where}: options`);
  for (const key of ["partiality", "Ih"] as const)
    if (obs[key] !== undefined) requireInstanceArgument(obs[key], Float64Array, `${where}: ${key}`);
  const n = obs.groupIndex.length;
  if (obs.partiality !== undefined && obs.partiality.length !== n) {
    throw new ConfigError(`${where}: partiality has length ${obs.partiality.length}, expected ${n}`);
  }
  if (obs.Ih !== undefined && obs.Ih.length !== obs.nGroups) {
    throw new ConfigError(
      `${where}: Ih has length ${obs.Ih.length}, expected nGroups = ${obs.nGroups} (one per group)`,
    );
  }
  const minIh = options?.minIh ?? 25;
  const minPartiality = options?.minPartiality ?? 0.4;
  const minRefl = options?.minReflectionsRequired ?? 250;
  const nGroups = obs.nGroups;

  const IhGroup = obs.Ih ?? weightedGroupIh(obs);
  const rows = new Int32Array(n);
  const Ih = new Float64Array(n);
  rowsAndGroupValues(obs.groupIndex, IhGroup, rows, Ih);
  // the input's columns are only read: every filter selects its rows into new arrays
  let t: Table = {
    rows,
    group: obs.groupIndex,
    I: obs.intensity,
    v: obs.variance,
    g: obs.inverseScale,
    Ih,
    p: obs.partiality,
  };

  if (t.p !== undefined) {
    const p = t.p;
    const keep = new Uint8Array(n);
    for (let i = 0; i < n; i++) keep[i] = p[i] > minPartiality ? 1 : 0;
    t = selectTable(t, keep);
  }
  t =
    options?.stills === true
      ? stillsFilter(t, nGroups, minIh, options.stillsMinIsigma ?? 2.0, options.stillsMinMultiplicity ?? 4)
      : standardFilter(t, nGroups, minIh, minRefl, options?.minMeanIOverVariance ?? 0.85);
  requireCount(t.rows.length, minRefl);
  return finishData(t, nGroups);
}

/** Each row's index, and its group's value (one loop of its own: it runs once per refinement cycle, on cold code). */
function rowsAndGroupValues(groupIndex: Int32Array, perGroup: Float64Array, rows: Int32Array, out: Float64Array): void {
  for (let i = 0; i < groupIndex.length; i++) {
    rows[i] = i;
    out[i] = perGroup[groupIndex[i]];
  }
}

/** Ih of each group on the whole input: ΣwgI/Σwg² with the observations' weights (1/σ² when absent). */
function weightedGroupIh(obs: ErrorModelObservations): Float64Array {
  const n = obs.groupIndex.length;
  const nGroups = obs.nGroups;
  const num = new Float64Array(nGroups);
  const den = new Float64Array(nGroups);
  for (let i = 0; i < n; i++) {
    const w = obs.weights === undefined ? 1 / obs.variance[i] : obs.weights[i];
    const g = obs.inverseScale[i];
    num[obs.groupIndex[i]] += w * g * obs.intensity[i];
    den[obs.groupIndex[i]] += w * g * g;
  }
  const IhGroup = new Float64Array(nGroups);
  for (let j = 0; j < nGroups; j++) IhGroup[j] = num[j] / den[j];
  return IhGroup;
}

/**
 * Steps 2–5 of {@link prepareErrorModelData} (DIALS `filter_unsuitable_reflections` after the partiality cut) on a
 * mask of the rows, which are selected once at the end: every count and sum is taken over the rows still kept, in row
 * order, as DIALS's flex sums over its selected tables are (the same numbers as selecting the table after each step).
 * Each loop is a function of its own (the filter runs once per refinement cycle, on cold code: one long function
 * would be deoptimised at each of its later loops).
 */
function standardFilter(t: Table, nGroups: number, minIh: number, minRefl: number, minMean: number): Table {
  const n = t.group.length;
  const { group, I, v, g, Ih } = t;
  const keep = new Uint8Array(n).fill(1);
  const cnt = new Float64Array(nGroups);
  const keepGroup = new Uint8Array(nGroups);
  // 2. groups with mean I/σ² > 0.85
  if (minMean > Number.NEGATIVE_INFINITY) {
    keepGroupsByMeanIOverVariance(group, I, v, minMean, cnt, keepGroup);
    dropRowsOfGroups(group, keepGroup, keep);
  }
  // 3. g·Ih > minIh, n_h > 1, I > 0.001
  countKeptRows(group, keep, cnt);
  requireCount(keepStrongMultiple(group, I, g, Ih, minIh, cnt, keep), minRefl);
  // 4. n_h > 1 again
  countKeptRows(group, keep, cnt);
  for (let j = 0; j < nGroups; j++) keepGroup[j] = cnt[j] > 1 ? 1 : 0;
  dropRowsOfGroups(group, keepGroup, keep);
  // 5. internal variance ratio
  countKeptRows(group, keep, cnt);
  keepGroupsByVarianceRatio(group, I, v, g, Ih, keep, cnt, keepGroup);
  dropRowsOfGroups(group, keepGroup, keep);
  return selectTable(t, keep);
}

/** The number of kept rows of each group, into `cnt`. */
function countKeptRows(group: Int32Array, keep: Uint8Array, cnt: Float64Array): void {
  cnt.fill(0);
  for (let i = 0; i < group.length; i++) if (keep[i] !== 0) cnt[group[i]] += 1;
}

/** Drops the rows of the groups not kept. */
function dropRowsOfGroups(group: Int32Array, keepGroup: Uint8Array, keep: Uint8Array): void {
  for (let i = 0; i < group.length; i++) if (keepGroup[group[i]] === 0) keep[i] = 0;
}

/** Step 2: keeps the groups whose mean I/σ² over all their rows is above `minMean` (`cnt` gets the row counts). */
function keepGroupsByMeanIOverVariance(
  group: Int32Array,
  I: Float64Array,
  v: Float64Array,
  minMean: number,
  cnt: Float64Array,
  keepGroup: Uint8Array,
): void {
  const sum = new Float64Array(cnt.length);
  for (let i = 0; i < group.length; i++) {
    sum[group[i]] += I[i] / v[i];
    cnt[group[i]] += 1;
  }
  for (let j = 0; j < cnt.length; j++) keepGroup[j] = sum[j] / cnt[j] > minMean ? 1 : 0;
}

/** Step 3: keeps the kept rows with g·Ih > minIh, n_h > 1 (`cnt`) and I > 0.001; returns how many are kept. */
function keepStrongMultiple(
  group: Int32Array,
  I: Float64Array,
  g: Float64Array,
  Ih: Float64Array,
  minIh: number,
  cnt: Float64Array,
  keep: Uint8Array,
): number {
  let m = 0;
  for (let i = 0; i < group.length; i++) {
    if (keep[i] === 0) continue;
    if (Ih[i] * g[i] > minIh && cnt[group[i]] > 1 && I[i] > 0.001) m++;
    else keep[i] = 0;
  }
  return m;
}

/**
 * Step 5: keeps the groups whose internal variance ratio Σ(I/g − Ih)²/(n−1) / mean(σ²/g²) over their kept rows
 * (`cnt` of them) is below max(50, max Ih/40).
 */
function keepGroupsByVarianceRatio(
  group: Int32Array,
  I: Float64Array,
  v: Float64Array,
  g: Float64Array,
  Ih: Float64Array,
  keep: Uint8Array,
  cnt: Float64Array,
  keepGroup: Uint8Array,
): void {
  const nGroups = cnt.length;
  const sumDev2 = new Float64Array(nGroups);
  const sumVg = new Float64Array(nGroups);
  let maxIh = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < group.length; i++) {
    if (keep[i] === 0) continue;
    const gi = group[i];
    sumDev2[gi] += (I[i] / g[i] - Ih[i]) ** 2;
    sumVg[gi] += v[i] / g[i] ** 2;
    if (Ih[i] > maxIh) maxIh = Ih[i];
  }
  const limit = Math.max(50, maxIh / 40);
  for (let j = 0; j < nGroups; j++) {
    const ratio = sumDev2[j] / (cnt[j] - 1) / (sumVg[j] / cnt[j]);
    keepGroup[j] = ratio < limit ? 1 : 0;
  }
}

function stillsFilter(t: Table, nGroups: number, minIh: number, minIsigma: number, minMultiplicity: number): Table {
  let s = selectTable(
    t,
    Uint8Array.from(t.I, (x, i) => (x / Math.sqrt(t.v[i]) >= minIsigma ? 1 : 0)),
  );
  s = selectTable(
    s,
    Uint8Array.from(s.Ih, (x, i) => (x * s.g[i] * (s.p === undefined ? 1 : s.p[i]) > minIh ? 1 : 0)),
  );
  {
    const cnt = groupCounts(s, nGroups);
    const keep = new Uint8Array(s.rows.length);
    for (let i = 0; i < keep.length; i++) {
      const nh = cnt[s.group[i]];
      const delta = (Math.sqrt((nh - 1) / nh) * (s.I[i] / s.g[i] - s.Ih[i])) / (Math.sqrt(s.v[i]) / s.g[i]);
      keep[i] = Math.abs(delta) < 6.0 ? 1 : 0;
    }
    s = selectTable(s, keep);
  }
  const cnt = groupCounts(s, nGroups);
  return selectTable(
    s,
    Uint8Array.from(s.group, (gi) => (cnt[gi] >= minMultiplicity ? 1 : 0)),
  );
}

function finishData(t: Table, nGroups: number): ErrorModelData {
  return {
    rows: t.rows,
    groupIndex: t.group,
    intensity: t.I,
    variance: t.v,
    inverseScale: t.g,
    Ih: t.Ih,
    nh: perRow(t, groupCounts(t, nGroups)),
    partiality: t.p,
  };
}
