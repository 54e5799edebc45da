/**
 * Placing diffuse rows in their group slots, in two stable steps: each row goes to the slot range of its bucket of
 * consecutive voxels (source order inside a bucket), then each bucket is ordered by voxel and, inside a voxel, by
 * still. Every row lands in exactly the slot a direct scatter would give it, with few pages (or few, large writes to a
 * scratch file) active at a time.
 *
 * @packageDocumentation
 */
import { ConfigError } from "../errors.ts";
import { initialWeight } from "./initial-weight.ts";
import { BYTES_PER_OBSERVATION, type RowColumns } from "./row-columns.ts";
import { groupDiffuseRowsInThreads, type GroupingThreads } from "./diffuse-placement-threads.ts";
import { placedRows, ResidentStore, type PlacedRows, type RowStore } from "./row-stores.ts";
import { checkStills, type DiffuseChunkSource } from "./scaling-input.ts";
import { sortGroupsByStill } from "./still-order.ts";
import { voxelId, type VoxelSlots } from "./voxel-slots.ts";

/** Number of voxel buckets of resident placement (keeps the pages written to at once few: see below). */
const PLACEMENT_BUCKETS = 512;

/** Rows staged per bucket during resident placement (512 buckets × 256 rows × 20 bytes stay in cache). */
const RESIDENT_STAGING_ROWS = 256;

/** Runs of consecutive voxels placed together: bucket b holds voxels [firstVoxel[b], firstVoxel[b + 1]). */
export interface Buckets {
  /** First voxel of each bucket, and the number of voxels last (length buckets + 1; no bucket is empty). */
  readonly firstVoxel: Int32Array;
  /** Whether voxel v lies in bucket ⌊v·buckets / voxels⌋ (found by arithmetic, not by a search in `firstVoxel`). */
  readonly uniform: boolean;
}

/** {@link PLACEMENT_BUCKETS} buckets (fewer when voxels are fewer) of equally many voxels: v in ⌊v·buckets / voxels⌋. */
function bucketsByVoxels(nVoxels: number): Buckets {
  const nBuckets = Math.max(1, Math.min(PLACEMENT_BUCKETS, nVoxels));
  const firstVoxel = new Int32Array(nBuckets + 1);
  for (let b = 0, v = 0; b <= nBuckets; b++) {
    while (v < nVoxels && Math.floor((v * nBuckets) / nVoxels) < b) v++;
    firstVoxel[b] = v;
  }
  return { firstVoxel, uniform: true };
}

/** Buckets of consecutive voxels holding at most `cap` rows each (a larger voxel is a bucket of its own). */
function bucketsByRows(counts: Int32Array, cap: number): Buckets {
  const first: number[] = [0];
  let rows = 0;
  for (let v = 0; v < counts.length; v++) {
    if (rows > 0 && rows + counts[v] > cap) {
      first.push(v);
      rows = 0;
    }
    rows += counts[v];
  }
  first.push(counts.length);
  return { firstVoxel: Int32Array.from(first), uniform: false };
}

/** The bucket of voxel `id` in non-uniform buckets: the last b with firstVoxel[b] ≤ id (a search in a small array). */
function bucketOf(firstVoxel: Int32Array, id: number): number {
  let lo = 0;
  let hi = firstVoxel.length - 2;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (firstVoxel[mid] <= id) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** The bucket of every voxel id (a table: the placement pass looks it up once per row). */
function bucketOfVoxel(buckets: Buckets, nVoxels: number): Int32Array {
  const { firstVoxel, uniform } = buckets;
  const nBuckets = firstVoxel.length - 1;
  const out = new Int32Array(nVoxels);
  for (let id = 0; id < nVoxels; id++) {
    out[id] = uniform ? Math.floor((id * nBuckets) / nVoxels) : bucketOf(firstVoxel, id);
  }
  return out;
}

/** The error for rows a source yields beyond those its voxel pass counted. */
function notCounted(): ConfigError {
  return new ConfigError("diffuse source yielded rows its voxel pass did not count");
}

/**
 * Where placement stands: the voxel lookup, each bucket's slot range and write cursor, and the per-bucket staging
 * buffers. The serial pass holds it in ordinary memory; the threaded one (`diffuse-placement-threads.ts`) in
 * `SharedArrayBuffer`s, each thread writing only the buckets of its own voxel range.
 */
export interface PlacementState {
  /** The voxels (their dense ids are looked up in `slots.table`, or by a search in `slots.unique`). */
  readonly slots: VoxelSlots;
  /** Bucket of every dense voxel id. */
  readonly bucketOfId: Int32Array;
  /** First slot of each bucket, and the end of the last (length buckets + 1). */
  readonly bucketBegin: Int32Array;
  /** Next slot each bucket's staged rows are written to. */
  readonly cursor: Int32Array;
  /** Rows staged per bucket. */
  readonly staged: Int32Array;
  /** The staging buffers: bucket b's rows at [b · stagingRows, (b + 1) · stagingRows). */
  readonly stage: PlacedRows;
  /** Rows staged per bucket before they are written to the store. */
  readonly stagingRows: number;
}

/** The diffuse rows of one block (the columns placement reads). */
export interface PlacementBlock {
  readonly still: Int32Array;
  readonly voxel: Float64Array;
  readonly intensity: Float64Array | Float32Array;
  readonly variance: Float64Array | Float32Array;
  readonly qMagnitude: Float64Array | Float32Array;
}

/** A fresh placement state in ordinary memory (cursors at each bucket's first slot, nothing staged). */
export function placementState(
  slots: VoxelSlots,
  buckets: Buckets,
  bucketBegin: Int32Array,
  stagingRows: number,
): PlacementState {
  const nBuckets = bucketBegin.length - 1;
  return {
    slots,
    bucketOfId: bucketOfVoxel(buckets, slots.unique.length),
    bucketBegin,
    cursor: bucketBegin.slice(0, nBuckets),
    staged: new Int32Array(nBuckets),
    stage: placedRows(nBuckets * stagingRows),
    stagingRows,
  };
}

/**
 * Stages rows [0, m) of `block` whose bucket lies in [bucketFrom, bucketTo) (source order inside a bucket), writing a
 * bucket's staging buffer to the store whenever it is full.
 *
 * @throws {@link ConfigError} for a row whose voxel was not counted, or beyond its voxel's count.
 */
export function placeBlock(
  state: PlacementState,
  block: PlacementBlock,
  m: number,
  bucketFrom: number,
  bucketTo: number,
  store: RowStore,
): void {
  const { slots, bucketOfId, bucketBegin, cursor, staged, stage, stagingRows } = state;
  const table = slots.table;
  const lo = slots.lo;
  const { still, intensity, variance, qMagnitude } = stage.rows;
  const voxel = stage.voxel;
  const blockVoxel = block.voxel;
  for (let i = 0; i < m; i++) {
    const id = table !== undefined ? table[blockVoxel[i] - lo] : voxelId(slots, blockVoxel[i]);
    if (!(id >= 0)) throw notCounted();
    const b = bucketOfId[id];
    if (b < bucketFrom || b >= bucketTo) continue;
    const s = staged[b]++;
    if (cursor[b] + s >= bucketBegin[b + 1]) throw notCounted();
    const k = b * stagingRows + s;
    still[k] = block.still[i];
    intensity[k] = block.intensity[i];
    variance[k] = block.variance[i];
    qMagnitude[k] = block.qMagnitude[i];
    voxel[k] = id;
    if (s + 1 === stagingRows) {
      store.put(cursor[b], stage, b * stagingRows, stagingRows);
      cursor[b] += stagingRows;
      staged[b] = 0;
    }
  }
}

/** Prepared rows with their dense voxel ids and buckets already looked up (what grouping threads place). */
export interface LookedUpRows {
  readonly still: Int32Array;
  readonly intensity: Float32Array;
  readonly variance: Float32Array;
  readonly qMagnitude: Float32Array;
  /** Dense voxel id of each row. */
  readonly id: Int32Array;
  /** Bucket of each row. */
  readonly bucket: Int32Array;
}

/**
 * Looks up the dense voxel id and the bucket of rows [from, to) of `rows` (voxel indices `voxel`), and adds each row
 * to its bucket's count in `perBucket`. Returns false when a row's voxel was not counted (the rows after it are not
 * looked up).
 */
export function lookUpRows(
  lookup: Pick<PlacementState, "slots" | "bucketOfId">,
  voxel: Float64Array,
  rows: LookedUpRows,
  from: number,
  to: number,
  perBucket: Int32Array,
): boolean {
  const { slots, bucketOfId } = lookup;
  const { id, bucket } = rows;
  const table = slots.table;
  const lo = slots.lo;
  for (let i = from; i < to; i++) {
    const v = table !== undefined ? table[voxel[i] - lo] : voxelId(slots, voxel[i]);
    if (!(v >= 0)) return false;
    id[i] = v;
    const b = bucketOfId[v];
    bucket[i] = b;
    perBucket[b]++;
  }
  return true;
}

/**
 * Writes rows [from, to) of looked-up rows to the slots `next[bucket]++` of `dst` (source order inside a bucket), each
 * row's voxel id in the bytes of its weight column (`dstVoxel`), as placement's staging does.
 */
export function scatterToBuckets(
  rows: LookedUpRows,
  from: number,
  to: number,
  next: Int32Array,
  dst: RowColumns,
  dstVoxel: Int32Array,
): void {
  const { still, intensity, variance, qMagnitude, id, bucket } = rows;
  const outStill = dst.still;
  const outIntensity = dst.intensity;
  const outVariance = dst.variance;
  const outQ = dst.qMagnitude;
  for (let i = from; i < to; i++) {
    const j = next[bucket[i]]++;
    outStill[j] = still[i];
    outIntensity[j] = intensity[i];
    outVariance[j] = variance[i];
    outQ[j] = qMagnitude[i];
    dstVoxel[j] = id[i];
  }
}

/** Writes the staged rows of buckets [bucketFrom, bucketTo) to the store and sets their rows placed in `fill`. */
export function flushBuckets(
  state: PlacementState,
  bucketFrom: number,
  bucketTo: number,
  store: RowStore,
  fill: Int32Array,
): void {
  const { bucketBegin, cursor, staged, stage, stagingRows } = state;
  for (let b = bucketFrom; b < bucketTo; b++) {
    store.put(cursor[b], stage, b * stagingRows, staged[b]);
    fill[b] = cursor[b] + staged[b] - bucketBegin[b];
    cursor[b] += staged[b];
    staged[b] = 0;
  }
}

/** Throws unless a source without its own voxel pass yielded exactly the rows counted. */
export function checkSecondPass(source: DiffuseChunkSource, rows: number, slots: VoxelSlots): void {
  if (source.voxelChunks === undefined && rows !== slots.nRows) {
    throw new ConfigError("diffuse source yielded different rows on its second pass");
  }
}

/**
 * Pass 2 over a diffuse source: puts every row in the slot range of its bucket (source order inside a bucket), through
 * per-bucket staging buffers of `stagingRows` rows written to the store when full. Returns the rows placed per bucket
 * (fewer than counted when the source skipped unusable rows).
 *
 * Writing each row straight to its voxel's slot touches one page per voxel per column at a time (tens of thousands):
 * TLB and cache misses made that ~250 ns per row. Instead rows go first to buckets of consecutive voxels — each
 * bucket's rows occupy a contiguous range of the final columns, so this is a scatter with few active pages (or few,
 * large writes to a scratch file) — and then each bucket (small) is ordered by voxel ({@link orderBuckets}). Both
 * steps are stable, so every row lands in exactly the slot the direct scatter would give it. Per row, only the voxel
 * id lookup touches a voxel-sized array.
 */
function placeDiffuseRows(
  source: DiffuseChunkSource,
  slots: VoxelSlots,
  nStills: number,
  buckets: Buckets,
  bucketBegin: Int32Array,
  stagingRows: number,
  store: RowStore,
): Int32Array {
  const nBuckets = bucketBegin.length - 1;
  const state = placementState(slots, buckets, bucketBegin, stagingRows);
  const rowOffset = bucketBegin[0];
  let row = 0;
  for (const chunk of source.chunks()) {
    const m = chunk.voxel.length;
    checkStills(chunk.still, nStills, rowOffset + row);
    placeBlock(state, chunk, m, 0, nBuckets, store);
    row += m;
  }
  checkSecondPass(source, row, slots);
  const fill = new Int32Array(nBuckets);
  flushBuckets(state, 0, nBuckets, store, fill);
  return fill;
}

/** Scratch arrays of {@link orderBucket}, each at least as long as the widest bucket (voxels) plus one. */
export interface BucketScratch {
  /** Rows per voxel, then each voxel's next output row. */
  readonly next: Int32Array;
  /** Local offsets of the bucket's non-empty voxels, and the bucket's rows after them. */
  readonly localStart: Int32Array;
  /** The non-empty voxels. */
  readonly keptVoxel: Int32Array;
}

/**
 * Orders the `m` placed rows `src` of voxels [voxelBegin, voxelEnd) by voxel (a stable counting sort: source order
 * inside a voxel) into rows [0, m) of `dst` without holes, sorts each voxel's rows by still and sets the weights. The
 * non-empty voxels and their local offsets go to `scratch`; returns how many there are.
 *
 * @throws {@link ConfigError} when a voxel has more rows than were counted for it.
 */
export function orderBucket(
  src: PlacedRows,
  m: number,
  voxelBegin: number,
  voxelEnd: number,
  counts: Int32Array,
  dst: RowColumns,
  scratch: BucketScratch,
): number {
  const { next, localStart, keptVoxel } = scratch;
  const width = voxelEnd - voxelBegin;
  next.fill(0, 0, width);
  for (let t = 0; t < m; t++) next[src.voxel[t] - voxelBegin]++;
  let k = 0;
  let offset = 0;
  for (let u = 0; u < width; u++) {
    const c = next[u];
    if (c > counts[voxelBegin + u]) throw notCounted();
    next[u] = offset;
    if (c === 0) continue;
    localStart[k] = offset;
    keptVoxel[k++] = voxelBegin + u;
    offset += c;
  }
  localStart[k] = offset;
  const from = src.rows;
  const voxel = src.voxel;
  const { still, intensity, variance, weight, qMagnitude } = dst;
  for (let t = 0; t < m; t++) {
    const j = next[voxel[t] - voxelBegin]++;
    still[j] = from.still[t];
    const it = from.intensity[t];
    const vt = from.variance[t];
    intensity[j] = it;
    variance[j] = vt;
    qMagnitude[j] = from.qMagnitude[t];
    // the weight follows from the row's own (float32) I and σ², so it is set here and moves with them below
    weight[j] = initialWeight(vt, it);
  }
  sortGroupsByStill(still, [intensity, variance, qMagnitude, weight], localStart, 0, k);
  return k;
}

/**
 * Step 2 of diffuse grouping, bucket by bucket: reads the bucket's placed rows, orders them ({@link orderBucket}) and
 * writes them at a running cursor (never past the bucket's first slot, so no unread row is overwritten), which closes
 * the holes left by skipped rows. Voxels left empty are dropped: `groupStart` (from group `nBraggGroups` on) and
 * `unique` are rewritten in place. Returns the number of diffuse groups kept.
 */
export function orderBuckets(
  buckets: Buckets,
  bucketBegin: Int32Array,
  fill: Int32Array,
  counts: Int32Array,
  unique: Float64Array,
  groupStart: Int32Array,
  nBraggGroups: number,
  store: RowStore,
): number {
  const { firstVoxel } = buckets;
  const nBuckets = fill.length;
  let largest = 0;
  let widest = 0;
  for (let b = 0; b < nBuckets; b++) {
    largest = Math.max(largest, fill[b]);
    widest = Math.max(widest, firstVoxel[b + 1] - firstVoxel[b]);
  }
  const src = placedRows(largest);
  const scratch: BucketScratch = {
    next: new Int32Array(widest + 1),
    localStart: new Int32Array(widest + 1),
    keptVoxel: new Int32Array(widest + 1),
  };
  let t = bucketBegin[0];
  let kept = 0;
  for (let b = 0; b < nBuckets; b++) {
    const m = fill[b];
    store.get(bucketBegin[b], m, src);
    const dst = store.target(t, m);
    const k = orderBucket(src, m, firstVoxel[b], firstVoxel[b + 1], counts, dst, scratch);
    for (let g = 0; g < k; g++) {
      groupStart[nBraggGroups + kept + g] = t + scratch.localStart[g];
      unique[kept + g] = unique[scratch.keptVoxel[g]]; // keptVoxel[g] ≥ kept + g: read before overwritten
    }
    kept += k;
    store.commit(t, m);
    t += m;
  }
  groupStart[nBraggGroups + kept] = t;
  return kept;
}

/** How {@link groupDiffuseRows} sizes its buckets and staging buffers. */
export interface PlacementSizes {
  /** Whether the rows go to a scratch file. */
  readonly paged: boolean;
  /** Memory the grouped row columns may take (bytes). */
  readonly memoryLimit: number;
  /** Most rows per window of paged observations. */
  readonly windowRows: number;
  /** Most rows per placement bucket of a paged build. @defaultValue `windowRows` */
  readonly bucketRows: number | undefined;
  /** Rows staged per bucket of a paged build. @defaultValue from `memoryLimit` and the number of buckets */
  readonly stagingRows: number | undefined;
  /** Threads that place and order resident rows (none: this thread). */
  readonly threads: GroupingThreads | undefined;
}

/**
 * Groups the rows of a diffuse source into the slots after the Bragg rows ({@link placeDiffuseRows}, then
 * {@link orderBuckets}): voxels left empty are dropped, and `groupStart` (from group `nBraggGroups` on) and
 * `slots.unique` are rewritten in place. Returns the number of diffuse groups kept.
 */
export function groupDiffuseRows(
  source: DiffuseChunkSource,
  slots: VoxelSlots,
  nStills: number,
  groupStart: Int32Array,
  nBraggGroups: number,
  store: RowStore,
  sizes: PlacementSizes,
): number {
  const nDiffuse = slots.nRows;
  const buckets = sizes.paged
    ? bucketsByRows(
        slots.counts,
        Math.max(1, Math.min(sizes.bucketRows ?? sizes.windowRows, Math.ceil(nDiffuse / 512))),
      )
    : bucketsByVoxels(slots.unique.length);
  const nBuckets = buckets.firstVoxel.length - 1;
  const stagingRows = sizes.paged
    ? (sizes.stagingRows ??
      Math.min(
        2 ** 16,
        Math.max(16, Math.floor(Math.min(2 ** 26, sizes.memoryLimit / 16) / (nBuckets * BYTES_PER_OBSERVATION))),
      ))
    : RESIDENT_STAGING_ROWS;
  const bucketBegin = new Int32Array(nBuckets + 1);
  for (let b = 0; b <= nBuckets; b++) bucketBegin[b] = groupStart[nBraggGroups + buckets.firstVoxel[b]];
  if (!sizes.paged && sizes.threads !== undefined && store instanceof ResidentStore) {
    const kept = groupDiffuseRowsInThreads(
      sizes.threads,
      source,
      slots,
      nStills,
      buckets,
      bucketBegin,
      store,
      groupStart,
      nBraggGroups,
    );
    if (kept !== undefined) return kept;
  }
  const fill = placeDiffuseRows(source, slots, nStills, buckets, bucketBegin, stagingRows, store);
  return orderBuckets(buckets, bucketBegin, fill, slots.counts, slots.unique, groupStart, nBraggGroups, store);
}
