/**
 * One thread's view of the shards of a joint pass. Resident observations are the shared columns themselves; paged
 * observations (larger than memory) are read shard by shard from the scratch file into this thread's buffers, which
 * the pass then reads exactly as it reads resident columns, and what the pass changes (the weights of the outlier
 * step, the pair factors of a matrix-free pass, which live in a second scratch file) is written back.
 *
 * @packageDocumentation
 */
import { ColumnFile } from "../runtime/column-file.ts";
import { readWindowColumns } from "../observations/observation-windows.ts";
import { ROW_COLUMN_NAMES, rowColumns, sliceRows, type RowColumns } from "../observations/row-columns.ts";
import { precomputeSmootherWeights } from "./inverse-scales.ts";
import type { GroupedColumns } from "./joint-normal-equations.ts";
import type { GroupCache } from "./low-rank-operator.ts";
import type { JointPassPayload } from "./pass-payload.ts";

/** The row columns a paged shard is read with: all of them for the outlier pass, the others without variances. */
const ROWS_WITHOUT_VARIANCE = ROW_COLUMN_NAMES.filter((name) => name !== "variance");

/**
 * One thread's view of the shards: the shared columns themselves when resident; otherwise shard k's rows (and pair
 * factors) read from the scratch files into this thread's buffers, and the columns a pass changes written back.
 */
export class ShardViews {
  private readonly p: JointPassPayload;
  private rowFile: ColumnFile | undefined;
  private cacheFile: ColumnFile | undefined;
  private rowBuffers: RowColumns | undefined;
  private pairBuffers: { still: Int32Array; a: Float64Array; v: Float64Array } | undefined;

  constructor(p: JointPassPayload) {
    this.p = p;
  }

  /** The longest of a range over all shards (sizes this thread's buffers once). */
  private largest(range: (k: number) => [number, number]): number {
    let largest = 0;
    for (let k = 0; k + 1 < this.p.shards.length; k++) {
      const [a, e] = range(k);
      largest = Math.max(largest, e - a);
    }
    return largest;
  }

  /** Rows of shard k: [first, end) absolute. */
  private rowRange(k: number): [number, number] {
    const { groupStart } = this.p.columns;
    return [groupStart[this.p.shards[k]], groupStart[this.p.shards[k + 1]]];
  }

  /**
   * The columns of shard k (a view starting at the shard's first row when paged; paged variances are read only when
   * asked for: the outlier pass is the one that needs them).
   */
  columns(k: number, withVariance = false): GroupedColumns {
    const p = this.p;
    if (p.rowFile === undefined) return p.columns;
    this.rowFile ??= ColumnFile.open(p.rowFile);
    const [lo, hi] = this.rowRange(k);
    const m = hi - lo;
    let b = this.rowBuffers;
    if (b === undefined || b.still.length < m) {
      b = rowColumns(this.largest((j) => this.rowRange(j)));
      this.rowBuffers = b;
    }
    readWindowColumns(this.rowFile, lo, hi, b, withVariance ? ROW_COLUMN_NAMES : ROWS_WITHOUT_VARIANCE);
    const rows: RowColumns = { ...sliceRows(b, 0, m), variance: b.variance.subarray(0, withVariance ? m : 0) };
    const smoother = p.smoother;
    return {
      groupStart: p.columns.groupStart,
      rowOffset: lo,
      rows,
      ...(smoother === undefined || !p.precomputeSmoother
        ? {}
        : {
            smootherWeights: precomputeSmootherWeights(
              { ...smoother.kernel, qMin: smoother.qMin, qMax: smoother.qMax },
              rows.qMagnitude,
              { f64: (n) => new Float64Array(n), i32: (n) => new Int32Array(n), u8: (n) => new Uint8Array(n) },
            ),
          }),
    };
  }

  /** Writes the weights of shard k back (paged rows; `columns` is what {@link ShardViews.columns} returned). */
  storeWeights(k: number, columns: GroupedColumns): void {
    if (this.rowFile === undefined) return;
    this.rowFile.write("weight", this.rowRange(k)[0], columns.rows.weight);
  }

  /** Pair slots of shard k: [first, end). */
  private pairRange(k: number): [number, number] {
    const cache = this.p.cache;
    if (cache === undefined) return [0, 0];
    return [cache.pairStart[this.p.shards[k]], cache.pairStart[this.p.shards[k + 1]]];
  }

  /** The group cache for shard k; paged: a view over this thread's pair buffers, read from the file when `load`. */
  cache(k: number, load: boolean): GroupCache | undefined {
    const p = this.p;
    const cache = p.cache;
    if (cache === undefined || p.cacheFile === undefined) return cache;
    this.cacheFile ??= ColumnFile.open(p.cacheFile);
    const [lo, hi] = this.pairRange(k);
    const m = hi - lo;
    let b = this.pairBuffers;
    if (b === undefined || b.still.length < m) {
      const largest = this.largest((j) => this.pairRange(j));
      b = { still: new Int32Array(largest), a: new Float64Array(largest), v: new Float64Array(largest) };
      this.pairBuffers = b;
    }
    const view: GroupCache = {
      ...cache,
      pairOffset: lo,
      pairStill: b.still.subarray(0, m),
      pairA: b.a.subarray(0, m),
      pairV: b.v.subarray(0, m),
    };
    if (load) {
      this.cacheFile.read("pairStill", lo, view.pairStill);
      this.cacheFile.read("pairA", lo, view.pairA);
      this.cacheFile.read("pairV", lo, view.pairV);
    }
    return view;
  }

  /** Writes the pair factors of shard k (paged; `view` is what {@link ShardViews.cache} returned). */
  storeCache(k: number, view: GroupCache | undefined): void {
    if (this.cacheFile === undefined || view === undefined) return;
    const lo = this.pairRange(k)[0];
    this.cacheFile.write("pairStill", lo, view.pairStill);
    this.cacheFile.write("pairA", lo, view.pairA);
    this.cacheFile.write("pairV", lo, view.pairV);
  }

  /** Closes this thread's file handles. */
  close(): void {
    this.rowFile?.close();
    this.cacheFile?.close();
    this.rowFile = undefined;
    this.cacheFile = undefined;
  }
}
