/**
 * `ScalingObservations`: the Bragg and diffuse observations that enter joint scaling, as one struct of arrays sorted
 * by group (Bragg ASU hkl groups first, in (h,k,l) order, then voxels in increasing voxel index) and, inside a group,
 * by still. Bragg groups and voxels are separate namespaces: a voxel never shares a reference with a Bragg reflection.
 *
 * @packageDocumentation
 */
import { ConfigError } from "../errors.ts";

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

/** Assigns dense ids 0..nUnique-1 to keys in increasing key order. */
function denseIds(keys: Float64Array): { ids: Int32Array; unique: Float64Array } {
  const map = new Map<number, number>();
  for (const key of keys) if (!map.has(key)) map.set(key, 0);
  const unique = Float64Array.from(map.keys()).sort();
  for (let i = 0; i < unique.length; i++) map.set(unique[i], i);
  const ids = new Int32Array(keys.length);
  for (let i = 0; i < keys.length; i++) ids[i] = map.get(keys[i]) ?? 0;
  return { ids, unique };
}

/** Stable counting sort of `order` by `key[order[i]]` with keys in [0, nKeys). */
function countingSort(order: Int32Array, key: Int32Array, nKeys: number): Int32Array {
  const counts = new Int32Array(nKeys + 1);
  for (const i of order) counts[key[i] + 1]++;
  for (let k = 0; k < nKeys; k++) counts[k + 1] += counts[k];
  const out = new Int32Array(order.length);
  for (const i of order) out[counts[key[i]]++] = i;
  return out;
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
  for (let i = 0; i < nB; i++) {
    group[i] = bIds.ids[i];
    stillAll[i] = bragg?.still[i] ?? 0;
  }
  for (let i = 0; i < nD; i++) {
    group[nB + i] = nBraggGroups + dIds.ids[i];
    stillAll[nB + i] = diffuse?.still[i] ?? 0;
  }
  for (let i = 0; i < n; i++) {
    const s = stillAll[i];
    if (!(s >= 0 && s < nStills)) {
      throw new ConfigError(`observation ${i}: still index ${s} outside [0, ${nStills})`);
    }
  }
  const identity = new Int32Array(n);
  for (let i = 0; i < n; i++) identity[i] = i;
  const order = countingSort(countingSort(identity, stillAll, nStills), group, nGroups);

  const groupStart = new Int32Array(nGroups + 1);
  for (let i = 0; i < n; i++) groupStart[group[i] + 1]++;
  for (let h = 0; h < nGroups; h++) groupStart[h + 1] += groupStart[h];

  const still = new Int32Array(n);
  const intensity = new Float64Array(n);
  const variance = new Float64Array(n);
  const weight = new Float64Array(n);
  const qMagnitude = new Float64Array(n);
  const sourceRow = new Int32Array(n);
  const isBragg = new Uint8Array(n);
  for (let j = 0; j < n; j++) {
    const i = order[j];
    still[j] = stillAll[i];
    if (i < nB && bragg !== undefined) {
      intensity[j] = bragg.intensity[i];
      variance[j] = bragg.variance[i];
      qMagnitude[j] = bragg.qMagnitude[i];
      sourceRow[j] = bragg.sourceRow[i];
      isBragg[j] = 1;
    } else if (diffuse !== undefined) {
      const d = i - nB;
      intensity[j] = diffuse.intensity[d];
      variance[j] = diffuse.variance[d];
      qMagnitude[j] = diffuse.qMagnitude[d];
      sourceRow[j] = diffuse.sourceRow[d];
    }
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
