/**
 * `ScalingObservations`: the Bragg and diffuse observations that enter joint scaling, as one struct of arrays sorted
 * by group (Bragg ASU hkl groups first, in (h,k,l) order, then voxels in increasing voxel index) and, inside a group,
 * by still. Bragg groups and voxels are separate namespaces: a voxel never shares a reference with a Bragg reflection.
 * The columns the passes read (`groupStart`, `still`, `intensity`, `weight`, `qMagnitude`) live in
 * `SharedArrayBuffer`s so worker threads read them without a copy.
 *
 * @packageDocumentation
 */
import { ConfigError } from "../errors.ts";
import { sharedFloat64, sharedInt32 } from "../kernels/joint-pass.ts";

/** Bragg observations before grouping (already filtered and partiality-corrected). */
export interface BraggInput {
  /** Still (experiment) index of each row. */
  readonly still: Int32Array;
  /** ASU-mapped Miller indices, n×3. */
  readonly asuHkl: Int32Array;
  /** Intensity (divided by partiality). */
  readonly intensity: Float64Array;
  /** Variance (divided by partiality²). */
  readonly variance: Float64Array;
  /** |q| = 1/d (1/Å). */
  readonly qMagnitude: Float64Array;
  /** Row of the source reflection table. */
  readonly sourceRow: Int32Array;
}

/** Diffuse observations before grouping. */
export interface DiffuseInput {
  /** Still index of each row. */
  readonly still: Int32Array;
  /** Linear voxel index of each row (integer-valued). */
  readonly voxel: Float64Array;
  /** Intensity. */
  readonly intensity: Float64Array;
  /** Variance σ². */
  readonly variance: Float64Array;
  /** |q| (1/Å). */
  readonly qMagnitude: Float64Array;
  /** Row of the source binned file. */
  readonly sourceRow: Int32Array;
}

/** Observations sorted by group then still, with CSR group offsets. */
export interface ScalingObservations {
  /** Number of rows. */
  readonly n: number;
  /** Number of stills (parameters b). */
  readonly nStills: number;
  /** Number of groups; groups `[0, nBraggGroups)` are Bragg, the rest voxels. */
  readonly nGroups: number;
  /** Number of Bragg groups. */
  readonly nBraggGroups: number;
  /** CSR offsets, length nGroups + 1. */
  readonly groupStart: Int32Array;
  /** Still of each row. */
  readonly still: Int32Array;
  /** Intensity of each row. */
  readonly intensity: Float64Array;
  /** Variance of each row. */
  readonly variance: Float64Array;
  /** Weight of each row (1/σ², 0 when excluded). */
  readonly weight: Float64Array;
  /** |q| of each row. */
  readonly qMagnitude: Float64Array;
  /** Source row (Bragg table row or diffuse file row). */
  readonly sourceRow: Int32Array;
  /** Whether each row is a Bragg observation (1) or diffuse (0). */
  readonly isBragg: Uint8Array;
  /** ASU hkl of each Bragg group (nBraggGroups × 3). */
  readonly braggHkl: Int32Array;
  /** Voxel index of each diffuse group (nGroups − nBraggGroups). */
  readonly voxelIndex: Float64Array;
}

const HKL_OFFSET = 1 << 15;
const HKL_RANGE = 1 << 16;

/** Packs an hkl into one number whose order is lexicographic (h, k, l); |h|,|k|,|l| < 2^15 (the packed value stays below 2^48, exact in a double). */
export function packHkl(h: number, k: number, l: number): number {
  return ((h + HKL_OFFSET) * HKL_RANGE + (k + HKL_OFFSET)) * HKL_RANGE + (l + HKL_OFFSET);
}

/** Above this key range (max − min + 1), dense ids come from sorting instead of a lookup table. */
const DENSE_TABLE_LIMIT = 1 << 27;

/**
 * Assigns dense ids 0..nUnique-1 to integer-valued keys in increasing key order: through a lookup table over the key
 * range when it is small (voxel indices), else by sorting a copy and binary search (packed hkl). No per-row `Map`.
 */
function denseIds(keys: Float64Array): { ids: Int32Array; unique: Float64Array } {
  const n = keys.length;
  const ids = new Int32Array(n);
  if (n === 0) return { ids, unique: new Float64Array(0) };
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const k = keys[i];
    if (k < min) min = k;
    if (k > max) max = k;
  }
  const range = max - min + 1;
  if (Number.isFinite(range) && range <= DENSE_TABLE_LIMIT && range <= 4 * n + 1024) {
    const table = new Int32Array(range);
    for (let i = 0; i < n; i++) table[keys[i] - min] = 1;
    let nUnique = 0;
    for (let j = 0; j < range; j++) if (table[j] !== 0) table[j] = ++nUnique;
    const unique = new Float64Array(nUnique);
    for (let j = 0; j < range; j++) if (table[j] !== 0) unique[table[j] - 1] = min + j;
    for (let i = 0; i < n; i++) ids[i] = table[keys[i] - min] - 1;
    return { ids, unique };
  }
  const sorted = Float64Array.from(keys).sort();
  let nUnique = 0;
  for (let i = 0; i < n; i++) if (i === 0 || sorted[i] !== sorted[nUnique - 1]) sorted[nUnique++] = sorted[i];
  const unique = sorted.slice(0, nUnique);
  for (let i = 0; i < n; i++) {
    const k = keys[i];
    let lo = 0;
    let hi = nUnique - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (unique[mid] < k) lo = mid + 1;
      else hi = mid;
    }
    ids[i] = lo;
  }
  return { ids, unique };
}

/** Writes group ids (offset) and stills of one input into the combined arrays, checking the still range. */
function fillGroupAndStill(
  group: Int32Array,
  stillAll: Int32Array,
  rowOffset: number,
  ids: Int32Array,
  groupOffset: number,
  still: Int32Array,
  nStills: number,
): void {
  const n = ids.length;
  for (let i = 0; i < n; i++) {
    const s = still[i];
    if (!(s >= 0 && s < nStills)) {
      throw new ConfigError(`observation ${rowOffset + i}: still index ${s} outside [0, ${nStills})`);
    }
    group[rowOffset + i] = groupOffset + ids[i];
    stillAll[rowOffset + i] = s;
  }
}

/**
 * Row order sorted by group, then still, then row (stable): a counting sort by group, then an insertion sort by
 * still inside each group (groups are small; the rows stay in cache).
 */
function sortByGroupThenStill(group: Int32Array, still: Int32Array, nGroups: number, nFirst: number): Int32Array {
  const n = group.length;
  const start = new Int32Array(nGroups + 1);
  for (let i = 0; i < n; i++) start[group[i] + 1]++;
  for (let h = 0; h < nGroups; h++) start[h + 1] += start[h];
  const next = start.slice(0, nGroups);
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[next[group[i]]++] = i;
  // rows already ordered by still (files written still by still): the stable counting sort is enough
  // each group comes from one input (Bragg rows [0, nFirst), diffuse rows after): inputs that are each ordered by
  // still give still-ordered groups after the stable sort
  let inputsSorted = true;
  for (let i = 1; i < n && inputsSorted; i++) if (i !== nFirst && still[i] < still[i - 1]) inputsSorted = false;
  if (inputsSorted) return order;
  let sortedByStill = true;
  for (let h = 0; h < nGroups && sortedByStill; h++) {
    for (let j = start[h] + 1; j < start[h + 1]; j++) {
      if (still[order[j]] < still[order[j - 1]]) {
        sortedByStill = false;
        break;
      }
    }
  }
  if (sortedByStill) return order;
  const key = new Int32Array(n);
  for (let j = 0; j < n; j++) key[j] = still[order[j]];
  for (let h = 0; h < nGroups; h++) {
    const end = start[h + 1];
    if (end - start[h] > 64) {
      // a large group: counting sort of its slice by still (stable)
      sortSliceByStill(order, key, start[h], end);
      continue;
    }
    for (let j = start[h] + 1; j < end; j++) {
      const k = key[j];
      const o = order[j];
      let t = j - 1;
      while (t >= start[h] && key[t] > k) {
        key[t + 1] = key[t];
        order[t + 1] = order[t];
        t--;
      }
      key[t + 1] = k;
      order[t + 1] = o;
    }
  }
  return order;
}

/** Stable sort of `order[begin, end)` by `key` (non-negative stills), via a sort of (key, position) pairs. */
function sortSliceByStill(order: Int32Array, key: Int32Array, begin: number, end: number): void {
  const m = end - begin;
  // key·m + position is unique and orders by key then by original position; exact below 2^53
  const packed = new Float64Array(m);
  for (let t = 0; t < m; t++) packed[t] = key[begin + t] * m + t;
  packed.sort();
  const o = order.slice(begin, end);
  for (let t = 0; t < m; t++) {
    const pos = packed[t] % m;
    order[begin + t] = o[pos];
    key[begin + t] = (packed[t] - pos) / m;
  }
}

/**
 * Copies one input's rows into the sorted columns: input row d goes to position `position[rowOffset + d]`
 * (sequential reads, scattered writes: cheaper than a gather through the permutation).
 */
function scatterRows(
  position: Int32Array,
  rowOffset: number,
  input: BraggInput | DiffuseInput,
  out: {
    intensity: Float64Array;
    variance: Float64Array;
    qMagnitude: Float64Array;
    sourceRow: Int32Array;
  },
  isBragg: Uint8Array,
  flag: number,
): void {
  const { intensity, variance, qMagnitude, sourceRow } = input;
  const oI = out.intensity;
  const oV = out.variance;
  const oQ = out.qMagnitude;
  const oS = out.sourceRow;
  const n = input.still.length;
  for (let d = 0; d < n; d++) {
    const j = position[rowOffset + d];
    oI[j] = intensity[d];
    oV[j] = variance[d];
    oQ[j] = qMagnitude[d];
    oS[j] = sourceRow[d];
    isBragg[j] = flag;
  }
}

/**
 * Groups Bragg and diffuse observations for joint scaling.
 *
 * @param nStills - Number of stills; every `still` value must lie in [0, nStills).
 * @throws {@link ConfigError} when a still index is out of range or an hkl is too large to pack.
 */
export function buildScalingObservations(
  nStills: number,
  bragg: BraggInput | undefined,
  diffuse: DiffuseInput | undefined,
): ScalingObservations {
  const nB = bragg?.still.length ?? 0;
  const nD = diffuse?.still.length ?? 0;
  const n = nB + nD;
  const braggKeys = new Float64Array(nB);
  if (bragg !== undefined) {
    const hkl = bragg.asuHkl;
    for (let i = 0; i < nB; i++) {
      const h = hkl[3 * i];
      const k = hkl[3 * i + 1];
      const l = hkl[3 * i + 2];
      if (Math.abs(h) >= HKL_OFFSET || Math.abs(k) >= HKL_OFFSET || Math.abs(l) >= HKL_OFFSET) {
        throw new ConfigError(`Bragg row ${bragg.sourceRow[i]}: Miller index (${h},${k},${l}) out of range`);
      }
      braggKeys[i] = packHkl(h, k, l);
    }
  }
  const bIds = denseIds(braggKeys);
  const dIds = denseIds(diffuse?.voxel ?? new Float64Array(0));
  const nBraggGroups = bIds.unique.length;
  const nGroups = nBraggGroups + dIds.unique.length;

  const group = new Int32Array(n);
  const stillAll = new Int32Array(n);
  if (bragg !== undefined) fillGroupAndStill(group, stillAll, 0, bIds.ids, 0, bragg.still, nStills);
  if (diffuse !== undefined) fillGroupAndStill(group, stillAll, nB, dIds.ids, nBraggGroups, diffuse.still, nStills);
  const order = sortByGroupThenStill(group, stillAll, nGroups, nB);

  const groupStart = sharedInt32(nGroups + 1);
  for (let i = 0; i < n; i++) groupStart[group[i] + 1]++;
  for (let h = 0; h < nGroups; h++) groupStart[h + 1] += groupStart[h];

  const still = sharedInt32(n);
  const intensity = sharedFloat64(n);
  const variance = new Float64Array(n);
  const weight = sharedFloat64(n);
  const qMagnitude = sharedFloat64(n);
  const sourceRow = new Int32Array(n);
  const isBragg = new Uint8Array(n);
  const out = { intensity, variance, qMagnitude, sourceRow };
  const position = new Int32Array(n);
  for (let j = 0; j < n; j++) position[order[j]] = j;
  for (let i = 0; i < n; i++) still[position[i]] = stillAll[i];
  if (bragg !== undefined) scatterRows(position, 0, bragg, out, isBragg, 1);
  if (diffuse !== undefined) scatterRows(position, nB, diffuse, out, isBragg, 0);
  for (let j = 0; j < n; j++) {
    const v = variance[j];
    weight[j] = v > 0 && Number.isFinite(v) && Number.isFinite(intensity[j]) ? 1 / v : 0;
  }
  const braggHkl = new Int32Array(nBraggGroups * 3);
  for (let g = 0; g < nBraggGroups; g++) {
    let key = bIds.unique[g];
    const l = (key % HKL_RANGE) - HKL_OFFSET;
    key = Math.floor(key / HKL_RANGE);
    const k = (key % HKL_RANGE) - HKL_OFFSET;
    const h = Math.floor(key / HKL_RANGE) - HKL_OFFSET;
    braggHkl[3 * g] = h;
    braggHkl[3 * g + 1] = k;
    braggHkl[3 * g + 2] = l;
  }
  return {
    n,
    nStills,
    nGroups,
    nBraggGroups,
    groupStart,
    still,
    intensity,
    variance,
    weight,
    qMagnitude,
    sourceRow,
    isBragg,
    braggHkl,
    voxelIndex: dIds.unique,
  };
}
