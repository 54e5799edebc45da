/**
 * The reference of each group at given inverse scales: Ih = Σ w g I / Σ w g² over its usable rows (w > 0), with
 * σ(Ih) = 1/√(Σ w g²) and the number of those rows. One kernel for the refinement's result (computed in the pass that
 * writes every row's g, shard by shard) and for callers that pass over the rows themselves.
 *
 * @packageDocumentation
 */

/** Per-group references (arrays over the groups). */
export interface GroupReferenceArrays {
  /** Ih per group (0 when Σ w g² is 0). */
  readonly intensity: Float64Array;
  /** 1/√(Σ w g²) per group (0 when it is 0). */
  readonly sigma: Float64Array;
  /** Number of usable rows per group. */
  readonly nObservations: Int32Array;
}

/**
 * The references of groups `[groupBegin, groupEnd)`: row `o` (absolute, from `groupStart`) has its weight and
 * intensity at `o − rowBase` and its inverse scale at `g[o − gRowBase]`; sums in row order. Unchecked.
 */
export function groupReferencesInRange(
  groupStart: Int32Array,
  weight: Float32Array,
  intensity: Float32Array,
  rowBase: number,
  g: Float32Array,
  gRowBase: number,
  groupBegin: number,
  groupEnd: number,
  out: GroupReferenceArrays,
): void {
  for (let h = groupBegin; h < groupEnd; h++) {
    let S = 0;
    let T = 0;
    let n = 0;
    for (let o = groupStart[h]; o < groupStart[h + 1]; o++) {
      const w = weight[o - rowBase];
      if (w === 0) continue;
      const go = g[o - gRowBase];
      S += w * go * go;
      T += w * go * intensity[o - rowBase];
      n++;
    }
    out.intensity[h] = S > 0 ? T / S : 0;
    out.sigma[h] = S > 0 ? 1 / Math.sqrt(S) : 0;
    out.nObservations[h] = n;
  }
}
