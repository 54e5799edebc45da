/**
 * Helper of the dense-expansion tests (`low-rank-dense.test.ts`, `threads.test.ts`; not a test file): the group terms
 * of matrix-free factors expanded the plain way, as one dense partial per shard (each group's terms added from zero,
 * in group order) added to the result in shard order. The parallel expansion must give these numbers bit for bit.
 */
import type { GroupCache } from "../../src/passes/low-rank-operator.ts";

/**
 * The upper triangle (lower one zero) of Σ_shards (Σ_groups of the shard, in order, of the group terms), every
 * element of a shard's partial summed from zero. A group's term for coordinates x ≤ y (its stills, then the smoother
 * values) is `c_x v_y + d_x a_y` with `c_x = Ih a_x + S v_x` and `d_x = Ih v_x`.
 */
export function shardPartialsExpansion(
  cache: GroupCache,
  nStills: number,
  kf: number,
  shards: Int32Array,
): Float64Array {
  const P = nStills + kf;
  const out = new Float64Array(P * P);
  const { pairStart, pairCount, pairStill, pairA, pairV, groupIh, groupS, groupSmootherA, groupSmootherV } = cache;
  for (let k = 0; k + 1 < shards.length; k++) {
    const partial = new Float64Array(P * P);
    for (let h = shards[k]; h < shards[k + 1]; h++) {
      const index: number[] = [];
      const a: number[] = [];
      const v: number[] = [];
      for (let i = pairStart[h]; i < pairStart[h] + pairCount[h]; i++) {
        index.push(pairStill[i]);
        a.push(pairA[i]);
        v.push(pairV[i]);
      }
      // a group without used pairs contributes nothing (its smoother factors are stale)
      if (index.length === 0) continue;
      for (let l = 0; l < kf; l++) {
        index.push(nStills + l);
        a.push(groupSmootherA[h * kf + l]);
        v.push(groupSmootherV[h * kf + l]);
      }
      const Ih = groupIh[h];
      const S = groupS[h];
      for (let x = 0; x < index.length; x++) {
        const c = Ih * a[x] + S * v[x];
        const d = Ih * v[x];
        for (let y = x; y < index.length; y++) partial[index[x] * P + index[y]] += c * v[y] + d * a[y];
      }
    }
    for (let r = 0; r < P; r++) for (let c = r; c < P; c++) out[r * P + c] += partial[r * P + c];
  }
  return out;
}
