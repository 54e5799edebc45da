/**
 * Merging the scaled diffuse observations into a relative diffuse map: per voxel the inverse-variance weighted mean of
 * the scaled intensities `I/g` (weights `g²/σ²`, which equals the reference `Ih`), its σ `1/√Σw`, the number of
 * observations, and two random half-set means for CC½ (seeded, so the same seed gives the same split).
 *
 * Half sets: in each voxel with n observations the rows are shuffled with the seeded generator and the first ⌊n/2⌋
 * (plus one more with probability ½ when n is odd) go to half 1, the rest to half 2 — the rule of cctbx's
 * `split_unmerged`. A voxel with one observation has an empty second half: its mean is written as 0 with a count of 0.
 *
 * @packageDocumentation
 */
import type { Mat3 } from "../geometry/vector-maths.ts";
import type { JointModelState } from "../passes/inverse-scales.ts";
import { seededRandom } from "./seeded-random.ts";
import { checkModelState, forEachInverseScaleBatch } from "../passes/inverse-scale-batches.ts";
import type { ScalingObservations } from "../observations/scaling-observations.ts";
import { voxelCentre, type VoxelGrid } from "../voxelize/voxel-grid.ts";

/** The merged map (one row per voxel with at least one used observation). */
export interface MergedDiffuse {
  /** Linear voxel index. */
  readonly voxelIndex: Float64Array;
  /** Voxel centre (h, k, l), n×3. */
  readonly hkl: Float64Array;
  /** |q| of the voxel centre (1/Å), |B·hkl|. */
  readonly qMagnitude: Float64Array;
  /** Weighted mean of I/g. */
  readonly intensity: Float64Array;
  /** 1/√Σ(g²/σ²). */
  readonly sigma: Float64Array;
  /** Observations merged. */
  readonly nObservations: Int32Array;
  /** Weighted mean of the first half set (0 when empty). */
  readonly halfSet1: Float64Array;
  /** Weighted mean of the second half set (0 when empty). */
  readonly halfSet2: Float64Array;
  /** Observations in the first half set. */
  readonly halfSetCount1: Int32Array;
  /** Observations in the second half set. */
  readonly halfSetCount2: Int32Array;
}

/** Options of {@link mergeDiffuse}. */
export interface MergeOptions {
  /** Seed of the half-set split. @defaultValue 0 */
  seed?: number;
  /**
   * g of every row at `state`, when already computed (resident observations: the refinement's `inverseScales`).
   * @defaultValue computed from `state`, batch by batch
   */
  inverseScales?: Float32Array | undefined;
}

function allocateMerged(v: number): MergedDiffuse {
  return {
    voxelIndex: new Float64Array(v),
    hkl: new Float64Array(3 * v),
    qMagnitude: new Float64Array(v),
    intensity: new Float64Array(v),
    sigma: new Float64Array(v),
    nObservations: new Int32Array(v),
    halfSet1: new Float64Array(v),
    halfSet2: new Float64Array(v),
    halfSetCount1: new Int32Array(v),
    halfSetCount2: new Int32Array(v),
  };
}

function trimMerged(m: MergedDiffuse, v: number): MergedDiffuse {
  if (v === m.voxelIndex.length) return m;
  return {
    voxelIndex: m.voxelIndex.slice(0, v),
    hkl: m.hkl.slice(0, 3 * v),
    qMagnitude: m.qMagnitude.slice(0, v),
    intensity: m.intensity.slice(0, v),
    sigma: m.sigma.slice(0, v),
    nObservations: m.nObservations.slice(0, v),
    halfSet1: m.halfSet1.slice(0, v),
    halfSet2: m.halfSet2.slice(0, v),
    halfSetCount1: m.halfSetCount1.slice(0, v),
    halfSetCount2: m.halfSetCount2.slice(0, v),
  };
}

/**
 * Merges the diffuse groups of `obs` at the inverse scales of the model `state` (rows with weight 0 are left out).
 * One pass over the diffuse rows, window by window (resident or paged observations give the same map bit for bit);
 * the half-set generator is drawn from voxel by voxel in ascending voxel order.
 *
 * @param obs - Final observations (groups ≥ `nBraggGroups` are voxels).
 * @param state - The refined model (one b per still of `obs`, and the smoother), e.g. the refinement's `finalState`.
 * @param grid - The voxel grid (to compute centres).
 * @param reciprocalB - B matrix (row-major; reciprocal vector = B·hkl) used for |q| of the centre.
 * @param options - The half-set seed.
 * @throws `ConfigError` when `state` has fewer still scales than `obs` has stills.
 */
export function mergeDiffuse(
  obs: ScalingObservations,
  state: JointModelState,
  grid: VoxelGrid,
  reciprocalB: Mat3,
  options: MergeOptions = {},
): MergedDiffuse {
  checkModelState(obs, state);
  const random = seededRandom(options.seed ?? 0);
  const first = obs.nBraggGroups;
  const groupStart = obs.groupStart;
  // one slot per voxel group (per-group storage), trimmed to the voxels with used rows at the end
  const out = allocateMerged(obs.nGroups - first);
  let members = new Int32Array(0);
  let v = 0;
  const B = reciprocalB;
  forEachInverseScaleBatch(
    obs,
    state,
    (window, groupBegin, groupEnd, g, gRow) => {
      const { weight, intensity } = window.rows;
      const { rowBegin } = window;
      for (let h = groupBegin; h < groupEnd; h++) {
        const rowsBegin = groupStart[h];
        const rowsEnd = groupStart[h + 1];
        if (members.length < rowsEnd - rowsBegin) members = new Int32Array(rowsEnd - rowsBegin);
        let n = 0;
        let sw = 0;
        let swi = 0;
        for (let o = rowsBegin; o < rowsEnd; o++) {
          const w = weight[o - rowBegin];
          if (w === 0) continue;
          members[n++] = o;
          const go = g[o - gRow];
          const wg = w * go * go;
          sw += wg;
          swi += wg * (intensity[o - rowBegin] / go);
        }
        if (n === 0) continue;
        const r = v++;
        out.voxelIndex[r] = obs.voxelIndex[h - first];
        voxelCentre(grid, out.voxelIndex[r], out.hkl, 3 * r);
        const x = out.hkl[3 * r];
        const y = out.hkl[3 * r + 1];
        const z = out.hkl[3 * r + 2];
        out.qMagnitude[r] = Math.hypot(
          B[0] * x + B[1] * y + B[2] * z,
          B[3] * x + B[4] * y + B[5] * z,
          B[6] * x + B[7] * y + B[8] * z,
        );
        out.intensity[r] = swi / sw;
        out.sigma[r] = 1 / Math.sqrt(sw);
        out.nObservations[r] = n;
        // Half-set split (partial Fisher–Yates shuffle of the members).
        let nsum = Math.floor(n / 2);
        if (n % 2 === 1 && random() < 0.5) nsum += 1;
        for (let i = 0; i < nsum; i++) {
          const j = i + Math.min(n - i - 1, Math.floor(random() * (n - i)));
          const t = members[i];
          members[i] = members[j];
          members[j] = t;
        }
        let w1 = 0;
        let s1 = 0;
        let w2 = 0;
        let s2 = 0;
        for (let i = 0; i < n; i++) {
          const o = members[i];
          const go = g[o - gRow];
          const wg = weight[o - rowBegin] * go * go;
          const scaled = intensity[o - rowBegin] / go;
          if (i < nsum) {
            w1 += wg;
            s1 += wg * scaled;
          } else {
            w2 += wg;
            s2 += wg * scaled;
          }
        }
        out.halfSet1[r] = w1 > 0 ? s1 / w1 : 0;
        out.halfSet2[r] = w2 > 0 ? s2 / w2 : 0;
        out.halfSetCount1[r] = nsum;
        out.halfSetCount2[r] = n - nsum;
      }
    },
    { groupBegin: first, precomputed: options.inverseScales },
  );
  return trimMerged(out, v);
}

/** Pearson correlation of the half-set means over voxels where both halves are non-empty (CC½); 0 if undefined. */
export function ccHalf(map: MergedDiffuse, select?: (row: number) => boolean): { cc: number; n: number } {
  let n = 0;
  let sx = 0;
  let sy = 0;
  let sxx = 0;
  let syy = 0;
  let sxy = 0;
  for (let r = 0; r < map.voxelIndex.length; r++) {
    if (map.halfSetCount1[r] === 0 || map.halfSetCount2[r] === 0) continue;
    if (select !== undefined && !select(r)) continue;
    const x = map.halfSet1[r];
    const y = map.halfSet2[r];
    n++;
    sx += x;
    sy += y;
    sxx += x * x;
    syy += y * y;
    sxy += x * y;
  }
  if (n < 2) return { cc: 0, n };
  const cov = sxy - (sx * sy) / n;
  const vx = sxx - (sx * sx) / n;
  const vy = syy - (sy * sy) / n;
  return { cc: vx > 0 && vy > 0 ? cov / Math.sqrt(vx * vy) : 0, n };
}
