/**
 * The per-voxel step of merging (see `merge.ts`): one voxel group's weighted mean, σ, centre, |q| and half-set means,
 * written to its output row. The one-thread merge and the merge threads run this same step, so the map is the same
 * bit for bit however it is split.
 *
 * @packageDocumentation
 */
import type { MergedDiffuseMap } from "../io/merged-diffuse.ts";
import { voxelCentreKernel, type VoxelGrid } from "../voxelize/voxel-grid.ts";
import type { Mulberry32 } from "./seeded-random.ts";

/** The merged map's columns being filled (one row per voxel with used rows), with the half-set counts. */
export interface MergedColumns extends MergedDiffuseMap {
  /** Observations in the first half set. */
  readonly halfSetCount1: Int32Array;
  /** Observations in the second half set. */
  readonly halfSetCount2: Int32Array;
}

/** What every voxel's step reads besides its rows. */
export interface VoxelMergeContext {
  /** CSR group offsets of the observations. */
  readonly groupStart: Int32Array;
  /** First voxel group (the number of Bragg groups). */
  readonly firstGroup: number;
  /** Voxel index of each voxel group. */
  readonly voxelIndex: Float64Array;
  /** The voxel grid (centres). */
  readonly grid: VoxelGrid;
  /** B matrix, row-major (|q| of the centre). */
  readonly reciprocalB: ArrayLike<number>;
  /** The diffuse unit the rows are stored in (the map is written in the file's). */
  readonly unit: number;
}

/**
 * Puts the rows of group h with a non-zero weight into `members` (absolute row numbers, ascending) and returns how
 * many; `weight` is indexed from row `rowBegin`. `members` must hold the group's rows. Unchecked.
 */
export function usedMembersKernel(
  groupStart: Int32Array,
  h: number,
  weight: Float32Array,
  rowBegin: number,
  members: Int32Array,
): number {
  let n = 0;
  for (let o = groupStart[h]; o < groupStart[h + 1]; o++) if (weight[o - rowBegin] !== 0) members[n++] = o;
  return n;
}

/**
 * The sums of the weighted mean of the scaled intensities over the rows `members[begin..end)`, in that order:
 * `sums[0] = Σ w·g²` and `sums[1] = Σ (w·g²)·(I/g)`, so the mean is `sums[1] / sums[0]` — the reference
 * `Ih = Σ w g I / Σ w g²` of those rows, summed in this form (I/g weighted by w·g²) rather than as Σ(w·g)·I.
 * `weight` and `intensity` are indexed from row `rowBegin`, `g` from row `gRow`.
 */
function scaledMeanSums(
  sums: Float64Array,
  members: Int32Array,
  begin: number,
  end: number,
  weight: Float32Array,
  intensity: Float32Array,
  rowBegin: number,
  g: Float32Array,
  gRow: number,
): void {
  let sw = 0;
  let swi = 0;
  for (let i = begin; i < end; i++) {
    const o = members[i];
    const go = g[o - gRow];
    const wg = weight[o - rowBegin] * go * go;
    sw += wg;
    swi += wg * (intensity[o - rowBegin] / go);
  }
  sums[0] = sw;
  sums[1] = swi;
}

/** How many draws the half-set split of a voxel with n ≥ 1 used rows takes, given its first draw `first`. */
export function halfSetDraws(n: number, first: number): number {
  const odd = n % 2 === 1;
  return (odd ? 1 : 0) + Math.floor(n / 2) + (odd && first < 0.5 ? 1 : 0);
}

/**
 * Merges voxel group h, whose n ≥ 1 used rows are `members[0..n)` (reordered here by the half-set shuffle), into row r
 * of `out`, drawing from `random` (positioned at the voxel's first draw). `sums` is a scratch of two doubles. Unchecked.
 *
 * Half sets: the rows are shuffled with the generator and the first ⌊n/2⌋ (plus one more with probability ½ when n is
 * odd) go to half 1, the rest to half 2 — the rule of cctbx's `split_unmerged`; an empty half's mean is 0.
 */
export function mergeVoxelKernel(
  ctx: VoxelMergeContext,
  out: MergedColumns,
  r: number,
  h: number,
  members: Int32Array,
  n: number,
  rows: { readonly weight: Float32Array; readonly intensity: Float32Array; readonly rowBegin: number },
  g: Float32Array,
  gRow: number,
  random: Mulberry32,
  sums: Float64Array,
): void {
  const { weight, intensity, rowBegin } = rows;
  const { unit, reciprocalB: B } = ctx;
  scaledMeanSums(sums, members, 0, n, weight, intensity, rowBegin, g, gRow);
  const sw = sums[0];
  const swi = sums[1];
  out.voxelIndex[r] = ctx.voxelIndex[h - ctx.firstGroup];
  voxelCentreKernel(ctx.grid, out.voxelIndex[r], out.hkl, 3 * r);
  const x = out.hkl[3 * r];
  const y = out.hkl[3 * r + 1];
  const z = out.hkl[3 * r + 2];
  out.qMagnitude[r] = Math.hypot(
    B[0] * x + B[1] * y + B[2] * z,
    B[3] * x + B[4] * y + B[5] * z,
    B[6] * x + B[7] * y + B[8] * z,
  );
  out.intensity[r] = (swi / sw) * unit;
  out.sigma[r] = unit / Math.sqrt(sw);
  out.nObservations[r] = n;
  // Half-set split (partial Fisher–Yates shuffle of the members).
  let nsum = Math.floor(n / 2);
  if (n % 2 === 1 && random.next() < 0.5) nsum += 1;
  for (let i = 0; i < nsum; i++) {
    const j = i + Math.min(n - i - 1, Math.floor(random.next() * (n - i)));
    const t = members[i];
    members[i] = members[j];
    members[j] = t;
  }
  // each half's sums in member order, as the whole voxel's (an empty half's mean is 0)
  scaledMeanSums(sums, members, 0, nsum, weight, intensity, rowBegin, g, gRow);
  out.halfSet1[r] = sums[0] > 0 ? (sums[1] / sums[0]) * unit : 0;
  scaledMeanSums(sums, members, nsum, n, weight, intensity, rowBegin, g, gRow);
  out.halfSet2[r] = sums[0] > 0 ? (sums[1] / sums[0]) * unit : 0;
  out.halfSetCount1[r] = nsum;
  out.halfSetCount2[r] = n - nsum;
}
