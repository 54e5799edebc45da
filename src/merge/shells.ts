/**
 * The diagnostics' tables in |q| shells: Bragg ⟨I/σ⟩ over the merged Bragg groups, and the merged diffuse map's mean
 * intensity and CC½. Shells are equal-volume in |q|³ (as cctbx's merging statistics) over the |q| range of the data;
 * each table gives per shell the mean |q| of its members (the shell's middle when it is empty), the statistic and the
 * number of members.
 *
 * @packageDocumentation
 */
import type { ShellTable } from "../io/diagnostics-json.ts";
import type { JointRefinementResult } from "../refine/joint-refinement.ts";
import {
  addHalfSetPair,
  emptyHalfSetSums,
  halfSetCorrelation,
  hasBothHalves,
  SHELL_CC_HALF_MIN_PAIRS,
} from "./cc-half.ts";
import type { MergedDiffuse } from "./merge.ts";
import type { RowCounts } from "./residual-summary.ts";

/** Equal-volume |q|³ shell edges over [qMin, qMax]. */
export function shellEdges(qMin: number, qMax: number, nShells: number): number[] {
  const a = qMin ** 3;
  const b = qMax ** 3;
  return Array.from({ length: nShells + 1 }, (_, i) => Math.cbrt(a + ((b - a) * i) / nShells));
}

function shellOf(edges: number[], q: number): number {
  const n = edges.length - 1;
  for (let s = 0; s < n; s++) if (q < edges[s + 1]) return s;
  return n - 1;
}

/** Per-shell means of a value: `add` each member in order, then `table`. */
class ShellMeans {
  private readonly edges: number[];
  private readonly sum: number[];
  private readonly sumQ: number[];
  private readonly count: number[];

  constructor(edges: number[]) {
    this.edges = edges;
    const nShells = edges.length - 1;
    this.sum = new Array<number>(nShells).fill(0);
    this.sumQ = new Array<number>(nShells).fill(0);
    this.count = new Array<number>(nShells).fill(0);
  }

  add(q: number, value: number): void {
    const s = shellOf(this.edges, q);
    this.sum[s] += value;
    this.sumQ[s] += q;
    this.count[s]++;
  }

  /** The table: mean value per shell (0 in an empty shell). */
  table(): ShellTable {
    const { edges, sum, count } = this;
    return {
      qEdges: edges,
      // the mean |q| of the shell's members, or its middle when it has none
      qCentre: this.sumQ.map((v, i) => (count[i] > 0 ? v / count[i] : 0.5 * (edges[i] + edges[i + 1]))),
      value: sum.map((v, i) => (count[i] > 0 ? v / count[i] : 0)),
      n: count,
    };
  }
}

/**
 * Mean Ih/σ(Ih) of the merged Bragg groups (with used rows and σ > 0) per shell of the Bragg |q| range; null without
 * Bragg groups or when that range is empty.
 *
 * @param result - The refinement result (its final references).
 * @param counts - The row counts (|q| of each Bragg group, the |q| range of the used Bragg rows).
 */
export function braggIOverSigmaShells(
  result: JointRefinementResult,
  counts: RowCounts,
  nShells: number,
): ShellTable | null {
  const nBraggGroups = result.observations.nBraggGroups;
  if (!(nBraggGroups > 0 && counts.qMax > counts.qMin)) return null;
  const refs = result.references;
  const means = new ShellMeans(shellEdges(counts.qMin, counts.qMax, nShells));
  for (let h = 0; h < nBraggGroups; h++) {
    if (refs.nObservations[h] === 0 || !(refs.sigma[h] > 0)) continue;
    means.add(counts.braggGroupQ[h], refs.intensity[h] / refs.sigma[h]);
  }
  return means.table();
}

/** The shell edges over the |q| range of the merged voxels; null for fewer than 2 voxels or an empty range. */
export function diffuseShellEdges(merged: MergedDiffuse | undefined, nShells: number): number[] | null {
  if (merged === undefined || merged.voxelIndex.length <= 1) return null;
  let lo = Infinity;
  let hi = -Infinity;
  for (const q of merged.qMagnitude) {
    lo = Math.min(lo, q);
    hi = Math.max(hi, q);
  }
  return hi > lo ? shellEdges(lo, hi, nShells) : null;
}

/** Mean merged intensity per shell (every voxel). */
export function diffuseMeanIntensityShells(merged: MergedDiffuse, edges: number[]): ShellTable {
  const means = new ShellMeans(edges);
  for (let r = 0; r < merged.voxelIndex.length; r++) means.add(merged.qMagnitude[r], merged.intensity[r]);
  return means.table();
}

/**
 * CC½ per shell over the voxels with both halves non-empty (0 in a shell with fewer than
 * {@link SHELL_CC_HALF_MIN_PAIRS} of them), on the shells of the mean-intensity table (its edges and centres: the
 * mean |q| of every voxel of the shell).
 */
export function diffuseCcHalfShells(merged: MergedDiffuse, intensityShells: ShellTable): ShellTable {
  const edges = intensityShells.qEdges;
  const cc = Array.from({ length: edges.length - 1 }, emptyHalfSetSums);
  for (let r = 0; r < merged.voxelIndex.length; r++) {
    if (hasBothHalves(merged, r)) addHalfSetPair(cc[shellOf(edges, merged.qMagnitude[r])], merged, r);
  }
  return {
    qEdges: edges,
    qCentre: intensityShells.qCentre,
    value: cc.map((c) => halfSetCorrelation(c, SHELL_CC_HALF_MIN_PAIRS)),
    n: cc.map((c) => c.n),
  };
}
