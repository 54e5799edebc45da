/**
 * Merging in worker threads (resident observations with the refinement's shared g of every row): the threads count
 * each voxel's used rows, this thread gives every voxel with rows its output row and its first draw of the half-set
 * generator (the draws of a voxel with n used rows: ⌊n/2⌋, one more when n is odd and its first draw is below ½), and
 * the threads merge their voxel ranges with the generator moved to each voxel's first draw. Every voxel is merged by
 * the step the one-thread merge runs, on the same rows and draws, so the map is the same bit for bit.
 *
 * @packageDocumentation
 */
import { RefinementFailure } from "../errors.ts";
import type { ScalingObservations } from "../observations/scaling-observations.ts";
import { computeShards, shardRowsFor } from "../passes/pass-payload.ts";
import { sharedCopy, sharedFloat64, sharedInt32 } from "../runtime/shared-arrays.ts";
import { siblingWorkerEntry, SyncWorkerPool } from "../runtime/worker-pool.ts";
import { halfSetDraws, type MergedColumns, type VoxelMergeContext } from "./merge-voxels.ts";
import { Mulberry32 } from "./seeded-random.ts";

/** Fewest diffuse rows merged in threads (below, starting the threads costs more than they save). */
export const MERGE_THREADS_MIN_ROWS = 1 << 20;

/** Commands of the merge threads. */
export const MERGE_COMMAND = { count: 0, merge: 1 } as const;

/** What each merge thread receives (typed arrays in shared memory). */
export interface MergeThreadsPayload {
  readonly ctx: VoxelMergeContext;
  /** Weight and intensity of every row, and g of every row. */
  readonly weight: Float32Array;
  readonly intensity: Float32Array;
  readonly g: Float32Array;
  readonly seed: number;
  /** Shard k holds voxel groups [shardGroup[k], shardGroup[k + 1]) (absolute group numbers). */
  readonly shardGroup: Int32Array;
  /** Per voxel group: used rows (written by the count command). */
  readonly counts: Int32Array;
  /** Per voxel group: output row, −1 for a voxel without used rows. */
  readonly slot: Int32Array;
  /** Per voxel group: index of its first draw of the half-set generator. */
  readonly drawStart: Float64Array;
  /** The output columns, one row per voxel group (the first rows used). */
  readonly out: MergedColumns;
}

function isShared(a: ArrayBufferView): boolean {
  return a.buffer instanceof SharedArrayBuffer;
}

/** Shard boundaries over the voxel groups [first, nGroups) (absolute group numbers): the passes' runs of whole groups. */
function voxelShards(groupStart: Int32Array, first: number, shardRows: number): Int32Array {
  const cuts = computeShards(groupStart.subarray(first), shardRows);
  for (let i = 0; i < cuts.length; i++) cuts[i] += first;
  return cuts;
}

function sharedMergedColumns(v: number): MergedColumns {
  return {
    voxelIndex: sharedFloat64(v),
    hkl: sharedFloat64(3 * v),
    qMagnitude: sharedFloat64(v),
    intensity: sharedFloat64(v),
    sigma: sharedFloat64(v),
    nObservations: sharedInt32(v),
    halfSet1: sharedFloat64(v),
    halfSet2: sharedFloat64(v),
    halfSetCount1: sharedInt32(v),
    halfSetCount2: sharedInt32(v),
  };
}

/** The first v rows of shared columns, copied into ordinary memory (`slice` allocates an ordinary buffer). */
function copyOut(out: MergedColumns, v: number): MergedColumns {
  return {
    voxelIndex: out.voxelIndex.slice(0, v),
    hkl: out.hkl.slice(0, 3 * v),
    qMagnitude: out.qMagnitude.slice(0, v),
    intensity: out.intensity.slice(0, v),
    sigma: out.sigma.slice(0, v),
    nObservations: out.nObservations.slice(0, v),
    halfSet1: out.halfSet1.slice(0, v),
    halfSet2: out.halfSet2.slice(0, v),
    halfSetCount1: out.halfSetCount1.slice(0, v),
    halfSetCount2: out.halfSetCount2.slice(0, v),
  };
}

/**
 * Gives every voxel group with used rows its output row and first draw (this thread, in voxel order); returns the
 * number of voxels with used rows.
 */
function planVoxels(p: MergeThreadsPayload): number {
  const { counts, slot, drawStart } = p;
  const probe = new Mulberry32(p.seed);
  let v = 0;
  let d = 0;
  for (let u = 0; u < counts.length; u++) {
    const n = counts[u];
    if (n === 0) {
      slot[u] = -1;
      continue;
    }
    slot[u] = v++;
    drawStart[u] = d;
    let first = 1;
    if (n % 2 === 1) {
      probe.seek(d);
      first = probe.next();
    }
    d += halfSetDraws(n, first);
  }
  return v;
}

/**
 * The merged columns computed in `threads` worker threads, or undefined when the observations do not allow it
 * (paged rows, no shared g, too few rows) or a thread failed (the caller then merges in its own thread, which raises
 * any error the data cause).
 *
 * @param sizes - `minRows`, the fewest diffuse rows merged in threads, and `shardRows`, the rows per shard (tests make
 *   them small). @defaultValue {@link MERGE_THREADS_MIN_ROWS}, the passes' shard size (`shardRowsFor`)
 */
export function mergeInThreads(
  obs: ScalingObservations,
  ctx: VoxelMergeContext,
  seed: number,
  threads: number,
  g: Float32Array | undefined,
  sizes: { minRows?: number; shardRows?: number } = {},
): MergedColumns | undefined {
  const rows = obs.rows;
  if (rows.kind !== "resident" || g === undefined || g.length !== obs.n) return undefined;
  if (obs.n - obs.nBraggRows < (sizes.minRows ?? MERGE_THREADS_MIN_ROWS)) return undefined;
  if (!isShared(g) || !isShared(rows.weight) || !isShared(rows.intensity)) return undefined;
  const first = obs.nBraggGroups;
  const nVoxelGroups = obs.nGroups - first;
  const payload: MergeThreadsPayload = {
    // copied once into shared memory if need be (else each thread would get its own copy)
    ctx: { ...ctx, groupStart: sharedCopy(ctx.groupStart), voxelIndex: sharedCopy(ctx.voxelIndex) },
    weight: rows.weight,
    intensity: rows.intensity,
    g,
    seed,
    shardGroup: sharedCopy(
      voxelShards(obs.groupStart, first, sizes.shardRows ?? shardRowsFor(0, false, obs.n - obs.nBraggRows)),
    ),
    counts: sharedInt32(nVoxelGroups),
    slot: sharedInt32(nVoxelGroups),
    drawStart: sharedFloat64(nVoxelGroups),
    out: sharedMergedColumns(nVoxelGroups),
  };
  let pool: SyncWorkerPool | undefined;
  try {
    pool = new SyncWorkerPool(siblingWorkerEntry(import.meta.url, "merge-worker"), threads, payload);
    const nShards = payload.shardGroup.length - 1;
    pool.run(MERGE_COMMAND.count, nShards);
    const v = planVoxels(payload);
    pool.run(MERGE_COMMAND.merge, nShards);
    return copyOut(payload.out, v);
  } catch (error) {
    if (error instanceof RefinementFailure) return undefined;
    throw error;
  } finally {
    pool?.close();
  }
}
