/**
 * Merging the scaled diffuse observations into a relative diffuse map: per voxel the inverse-variance weighted mean of
 * the scaled intensities `I/g` (weights `g²/σ²`, which equals the reference `Ih`), its σ `1/√Σw`, the number of
 * observations, and two random half-set means for CC½ (seeded, so the same seed gives the same split).
 *
 * Half sets: in each voxel with n observations the rows are shuffled with the seeded generator and the first ⌊n/2⌋
 * (plus one more with probability ½ when n is odd) go to half 1, the rest to half 2 — the rule of cctbx's
 * `split_unmerged`. Only a voxel with one observation has an empty half (half 1 or half 2, at random): an empty half's
 * mean is 0, its count 0.
 *
 * @packageDocumentation
 */
import type { Mat3 } from "../geometry/vector-maths.ts";
import { allocateMergedDiffuseMap, sliceMergedDiffuseMap, type MergedDiffuseMap } from "../io/merged-diffuse.ts";
import type { JointModelState } from "../passes/inverse-scales.ts";
import { checkSeed, Mulberry32 } from "./seeded-random.ts";
import { mergeVoxelKernel, usedMembersKernel, type VoxelMergeContext } from "./merge-voxels.ts";
import { mergeInThreads } from "./merge-threads.ts";
import { checkModelState, forEachInverseScaleBatch } from "../passes/inverse-scale-batches.ts";
import type { ScalingObservations } from "../observations/scaling-observations.ts";
import { makeVoxelGrid, type VoxelGrid } from "../voxelize/voxel-grid.ts";
import { ConfigError, requireIntegerArgument, requireOptionsArgument } from "../errors.ts";
import { MAX_THREADS } from "../refine/scaling-options.ts";

/** Throws unless the arguments of {@link mergeDiffuse} have the shapes it reads (a JavaScript caller may pass any). */
function checkMergeArguments(obs: ScalingObservations, state: JointModelState, grid: VoxelGrid, B: Mat3): void {
  const o = obs as Partial<ScalingObservations> | null;
  if (typeof o !== "object" || o === null || !(o.groupStart instanceof Int32Array) || o.rows === undefined) {
    throw new ConfigError("mergeDiffuse: obs must be the observations of a refinement (details.observations)");
  }
  const st = state as Partial<JointModelState> | null;
  if (typeof st !== "object" || st === null || !(st.scales instanceof Float64Array)) {
    throw new ConfigError("mergeDiffuse: state must be a model state (details.finalState or model.modelState())");
  }
  const g = grid as Partial<VoxelGrid> | null;
  if (typeof g !== "object" || g === null || !Array.isArray(g.dims) || !Array.isArray(g.hklMax)) {
    throw new ConfigError("mergeDiffuse: grid must be a voxel grid (makeVoxelGrid)");
  }
  // ndiv and hkl_max positive integers, and dims as they make them
  const made = makeVoxelGrid(g.ndiv ?? NaN, g.hklMax as [number, number, number]);
  if (made.dims.some((d, a) => d !== g.dims?.[a])) {
    throw new ConfigError(`mergeDiffuse: grid dims [${g.dims.join(", ")}] are not 2·hkl_max·ndiv + 1`);
  }
  const b = B as ArrayLike<number> | null;
  if (typeof b !== "object" || b === null || b.length !== 9 || !Array.from(b).every((x) => Number.isFinite(x))) {
    throw new ConfigError("mergeDiffuse: reciprocalB must be 9 finite numbers (a row-major 3×3 matrix)");
  }
}

/**
 * The merged map (one row per voxel with at least one used observation): the columns of `merged_diffuse.h5`
 * ({@link MergedDiffuseMap}: half-set means 0 when empty) plus the half-set counts.
 */
export interface MergedDiffuse extends Readonly<MergedDiffuseMap> {
  /** Observations in the first half set. */
  readonly halfSetCount1: Int32Array;
  /** Observations in the second half set. */
  readonly halfSetCount2: Int32Array;
}

/** Options of {@link mergeDiffuse}. */
export interface MergeOptions {
  /** Seed of the half-set split: an integer in 0..2^32−1 (`MAX_SEED`). @defaultValue 0 */
  seed?: number;
  /**
   * g of every row at `state`, when already computed (resident observations: the refinement's `inverseScales`).
   * @defaultValue computed from `state`, batch by batch
   */
  inverseScales?: Float32Array | undefined;
  /**
   * Threads that merge voxels (with resident observations and `inverseScales` given, in shared memory, and enough
   * rows; otherwise this thread merges). The map is the same bit for bit for any number.
   * @defaultValue 1
   */
  threads?: number;
}

function allocateMerged(v: number): MergedDiffuse {
  return { ...allocateMergedDiffuseMap(v), halfSetCount1: new Int32Array(v), halfSetCount2: new Int32Array(v) };
}

function trimMerged(m: MergedDiffuse, v: number): MergedDiffuse {
  if (v === m.voxelIndex.length) return m;
  return {
    ...sliceMergedDiffuseMap(m, v),
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
 * @throws `ConfigError` when an argument is not of its type, the grid's ndiv or hkl_max are not positive integers
 *   (or its dims disagree with them), `reciprocalB` is not 9 finite numbers, `state` has fewer still scales than `obs`
 *   has stills, or the seed is not an integer in 0..2^32−1.
 */
export function mergeDiffuse(
  obs: ScalingObservations,
  state: JointModelState,
  grid: VoxelGrid,
  reciprocalB: Mat3,
  options: MergeOptions = {},
): MergedDiffuse {
  requireOptionsArgument(options, "mergeDiffuse: options");
  const seed = checkSeed(options.seed ?? 0);
  checkMergeArguments(obs, state, grid, reciprocalB);
  checkModelState(obs, state);
  const unit = obs.units?.diffuse ?? 1;
  const ctx: VoxelMergeContext = {
    groupStart: obs.groupStart,
    firstGroup: obs.nBraggGroups,
    voxelIndex: obs.voxelIndex,
    grid,
    reciprocalB,
    unit,
  };
  const threads = options.threads ?? 1;
  requireIntegerArgument(threads, "mergeDiffuse: options.threads", 1, MAX_THREADS);
  if (threads >= 2) {
    const merged = mergeInThreads(obs, ctx, seed, threads, options.inverseScales);
    if (merged !== undefined) return merged;
  }
  const random = new Mulberry32(seed);
  const first = obs.nBraggGroups;
  const groupStart = obs.groupStart;
  // one slot per voxel group (per-group storage), trimmed to the voxels with used rows at the end
  const out = allocateMerged(obs.nGroups - first);
  let members = new Int32Array(0);
  const sums = new Float64Array(2);
  let v = 0;
  forEachInverseScaleBatch(
    obs,
    state,
    (window, groupBegin, groupEnd, g, gRow) => {
      const rows = { weight: window.rows.weight, intensity: window.rows.intensity, rowBegin: window.rowBegin };
      for (let h = groupBegin; h < groupEnd; h++) {
        const size = groupStart[h + 1] - groupStart[h];
        if (members.length < size) members = new Int32Array(size);
        const n = usedMembersKernel(groupStart, h, rows.weight, rows.rowBegin, members);
        if (n > 0) mergeVoxelKernel(ctx, out, v++, h, members, n, rows, g, gRow, random, sums);
      }
    },
    { groupBegin: first, precomputed: options.inverseScales },
  );
  return trimMerged(out, v);
}
