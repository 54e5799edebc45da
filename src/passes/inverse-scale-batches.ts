/**
 * Passes over the rows of scaling observations together with their inverse scales g = b·a(|q|) at a model state, in
 * batches of whole groups: the values `inverseScalesInRange` gives, computed batch by batch (nothing per row is
 * allocated, so it works on paged observations) or read from an array of every row's g computed before (resident
 * observations after refinement, where the refinement computed them in parallel). Same numbers either way.
 *
 * @packageDocumentation
 */
import { ConfigError } from "../errors.ts";
import { inverseScalesInRange, type JointModelState } from "./inverse-scales.ts";
import {
  forEachWindow,
  windowEnd,
  type ObservationWindow,
  type WindowedRows,
} from "../observations/observation-windows.ts";
import type { ScalingObservations } from "../observations/scaling-observations.ts";

/** Most rows whose inverse scales {@link forEachInverseScaleBatch} computes at once (a larger group is one batch). */
const BATCH_ROWS = 1 << 16;

/**
 * Visits a batch of whole groups with the inverse scales of their rows: groups `[groupBegin, groupEnd)` of `window`;
 * row `o` (absolute) has its columns at `o − window.rowBegin` and its inverse scale at `g[o − gRowBegin]`.
 * @internal
 */
export type InverseScaleBatchVisitor = (
  window: ObservationWindow,
  groupBegin: number,
  groupEnd: number,
  g: Float32Array,
  gRowBegin: number,
) => void;

/**
 * Passes over the rows of groups `[groupBegin, groupEnd)` (ascending, window by window, see `forEachWindow`) in
 * batches of whole groups of at most 2^16 rows (or one larger group), with the inverse scale `g = b·a(|q|)` of every
 * row of the batch at `state` (float32, the values `inverseScalesInRange` gives). The only buffer is one batch long,
 * so nothing per row is allocated, whether the observations are resident or paged.
 *
 * @param obs - The observations.
 * @param state - The model (one b per still of `obs`).
 * @param visit - Called once per batch; its arrays are valid only during the call.
 * @param range - Groups visited (@defaultValue all groups), and `precomputed`: g of every row when already computed
 *   (one visit per window then; @defaultValue computed batch by batch).
 * @internal
 */
export function forEachInverseScaleBatch(
  obs: WindowedRows,
  state: JointModelState,
  visit: InverseScaleBatchVisitor,
  range: { groupBegin?: number; groupEnd?: number; precomputed?: Float32Array | undefined } = {},
): void {
  const groupStart = obs.groupStart;
  const precomputed = range.precomputed;
  let g = new Float32Array(0);
  forEachWindow(
    obs,
    (window) => {
      if (precomputed !== undefined) {
        visit(window, window.groupBegin, window.groupEnd, precomputed, 0);
        return;
      }
      for (let h = window.groupBegin; h < window.groupEnd;) {
        const e = windowEnd(groupStart, h, window.groupEnd, BATCH_ROWS);
        const begin = groupStart[h] - window.rowBegin;
        const end = groupStart[e] - window.rowBegin;
        const m = end - begin;
        if (g.length < m) g = new Float32Array(m);
        const { still, qMagnitude } = window.rows;
        inverseScalesInRange(state, still.subarray(begin, end), qMagnitude.subarray(begin, end), 0, m, g);
        visit(window, h, e, g, groupStart[h]);
        h = e;
      }
    },
    {
      ...(range.groupBegin === undefined ? {} : { groupBegin: range.groupBegin }),
      ...(range.groupEnd === undefined ? {} : { groupEnd: range.groupEnd }),
    },
  );
}

/**
 * Throws a {@link ConfigError} unless `state` has a scale for every still of `obs`.
 * @internal
 */
export function checkModelState(obs: ScalingObservations, state: JointModelState): void {
  if (state.scales.length < obs.nStills) {
    throw new ConfigError(`model state has ${state.scales.length} still scales for ${obs.nStills} stills`);
  }
}
