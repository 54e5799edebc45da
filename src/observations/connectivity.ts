/**
 * Which stills can be scaled: a still's scale is determined only relative to stills it shares a reference with
 * (an ASU hkl or a voxel observed by both). Stills with no usable observation, or in a connected component other than
 * the largest one, have an undetermined scale and are excluded (and reported) rather than guessed.
 *
 * @packageDocumentation
 */
import { forEachWindow } from "./observation-windows.ts";
import type { ScalingObservations } from "./scaling-observations.ts";

/** Stills kept for refinement and those excluded, with the reason. */
export interface StillConnectivity {
  /** Stills in the largest connected component, ascending. */
  readonly included: Int32Array;
  /** Stills with no usable observation (or only observations in single-member groups). */
  readonly withoutData: Int32Array;
  /** Stills with data that share no reference with the largest component. */
  readonly disconnected: Int32Array;
}

function find(parent: Int32Array, i: number): number {
  let root = i;
  while (parent[root] !== root) root = parent[root];
  let j = i;
  while (parent[j] !== root) {
    const next = parent[j];
    parent[j] = root;
    j = next;
  }
  return root;
}

/**
 * Union–find over stills: two stills are connected when a group holds usable (weight > 0) observations of both.
 * Ties between equally large components go to the one containing the smallest still index. Resident or paged
 * observations alike (one pass over the rows, window by window).
 *
 * @param pairCounts - When given (nGroups + 1 elements), also receives at h + 1 the number of distinct stills among
 *   all the rows of group h (weight 0 included): what `groupPairStart` counts before its prefix sum, from this sweep.
 */
export function analyseStillConnectivity(obs: ScalingObservations, pairCounts?: Int32Array): StillConnectivity {
  const nStills = obs.nStills;
  const parent = new Int32Array(nStills);
  for (let s = 0; s < nStills; s++) parent[s] = s;
  const linked = new Uint8Array(nStills);
  const groupStart = obs.groupStart;
  // one pass over the rows, window by window (resident rows are one window); nothing per row is allocated
  forEachWindow(obs, (window) => {
    const { still, weight } = window.rows;
    const rowBegin = window.rowBegin;
    for (let h = window.groupBegin; h < window.groupEnd; h++) {
      const begin = groupStart[h] - rowBegin;
      const end = groupStart[h + 1] - rowBegin;
      // the root of the group's stills so far (one find per new still; unions keep the smaller root)
      let root = -1;
      let first = -1;
      let last = -1;
      let nUsed = 0;
      let distinct = 0;
      let previous = -1;
      for (let o = begin; o < end; o++) {
        const s = still[o];
        if (s !== previous) {
          distinct++;
          previous = s;
        }
        if (weight[o] === 0) continue;
        // every usable row's still is linked once the group has two usable rows
        if (++nUsed >= 2) {
          if (nUsed === 2) linked[first] = 1;
          linked[s] = 1;
        }
        // rows are sorted by still inside a group: a run of one still needs one union
        if (s === last) continue;
        last = s;
        if (first < 0) {
          first = s;
          root = find(parent, s);
          continue;
        }
        // most stills already hang directly under the group's root
        if (parent[s] === root) continue;
        const b = find(parent, s);
        if (b === root) continue;
        parent[Math.max(root, b)] = Math.min(root, b);
        root = Math.min(root, b);
      }
      if (pairCounts !== undefined) pairCounts[h + 1] = distinct;
    }
  });
  const size = new Int32Array(nStills);
  for (let s = 0; s < nStills; s++) if (linked[s]) size[find(parent, s)]++;
  let best = -1;
  for (let s = 0; s < nStills; s++) if (size[s] > 0 && (best < 0 || size[s] > size[best])) best = s;
  const included: number[] = [];
  const withoutData: number[] = [];
  const disconnected: number[] = [];
  for (let s = 0; s < nStills; s++) {
    if (!linked[s]) withoutData.push(s);
    else if (find(parent, s) === best) included.push(s);
    else disconnected.push(s);
  }
  return {
    included: Int32Array.from(included),
    withoutData: Int32Array.from(withoutData),
    disconnected: Int32Array.from(disconnected),
  };
}
