/**
 * Restricting grouped observations to some stills, in place: the rows of the other stills go, the kept stills are
 * renumbered, and groups left empty are dropped (paged rows window by window inside their scratch file).
 *
 * @packageDocumentation
 */
import { largestWindow, readWindowColumns, windowEnd } from "./observation-windows.ts";
import { ROW_COLUMN_NAMES, rowColumns, sliceRows, type RowColumns } from "./row-columns.ts";
import type { ScalingObservations } from "./scaling-observations.ts";

/** Counters of {@link compactGroups} carried from window to window. */
interface CompactState {
  /** Next output row (absolute). */
  t: number;
  /** Groups kept. */
  kept: number;
  /** Bragg groups kept. */
  nBraggGroups: number;
  /** Bragg rows kept. */
  nBraggRows: number;
}

/**
 * Keeps the rows of kept stills of groups [h0, h1), renumbered, in the window columns `w` (row o at o − rowBegin),
 * writing output row t at t − outBase (≤ the read position), and compacts the per-group arrays of `obs` in place.
 */
function compactGroups(
  obs: ScalingObservations,
  w: RowColumns,
  rowBegin: number,
  outBase: number,
  h0: number,
  h1: number,
  remap: Int32Array,
  state: CompactState,
): void {
  const { groupStart, sourceRow, braggHkl, voxelIndex } = obs;
  const { still, intensity, variance, weight, qMagnitude } = w;
  let { t, kept } = state;
  for (let h = h0; h < h1; h++) {
    const begin = t;
    for (let o = groupStart[h]; o < groupStart[h + 1]; o++) {
      const i = o - rowBegin;
      const s = remap[still[i]];
      if (s < 0) continue;
      const u = t - outBase;
      still[u] = s;
      intensity[u] = intensity[i];
      variance[u] = variance[i];
      weight[u] = weight[i];
      qMagnitude[u] = qMagnitude[i];
      if (o < obs.nBraggRows) sourceRow[t] = sourceRow[o];
      t++;
    }
    if (t === begin) continue;
    if (h < obs.nBraggGroups) {
      for (let c = 0; c < 3; c++) braggHkl[3 * kept + c] = braggHkl[3 * h + c];
      state.nBraggGroups++;
      state.nBraggRows = t;
    } else {
      voxelIndex[kept - state.nBraggGroups] = voxelIndex[h - obs.nBraggGroups];
    }
    groupStart[kept] = begin;
    kept++;
  }
  state.t = t;
  state.kept = kept;
}

/**
 * Keeps only the rows of stills with `remap[s] ≥ 0`, renumbered to `remap[s]`, and drops groups left empty. Works in
 * place (paged rows: window by window inside the same scratch file), so `obs` must not be used afterwards; paged and
 * resident observations give bit-identical results.
 *
 * @param remap - New still index per old still, −1 to drop (length obs.nStills).
 * @param nStills - Number of stills kept.
 * @throws {@link InputError} when the scratch file of paged rows cannot be read or written.
 */
export function restrictToStills(obs: ScalingObservations, remap: Int32Array, nStills: number): ScalingObservations {
  const { groupStart, sourceRow, braggHkl, voxelIndex, rows } = obs;
  const state: CompactState = { t: 0, kept: 0, nBraggGroups: 0, nBraggRows: 0 };
  if (rows.kind === "resident") {
    compactGroups(obs, rows, 0, 0, 0, obs.nGroups, remap, state);
  } else {
    const buffers = rowColumns(largestWindow(groupStart, 0, obs.nGroups, rows.windowRows));
    // windows are read ahead of the output cursor and groupStart is rewritten only below the current group
    for (let h = 0; h < obs.nGroups;) {
      const e = windowEnd(groupStart, h, obs.nGroups, rows.windowRows);
      const rowBegin = groupStart[h];
      readWindowColumns(rows.file, rowBegin, groupStart[e], buffers);
      const outBase = state.t;
      compactGroups(obs, buffers, rowBegin, outBase, h, e, remap, state);
      for (const name of ROW_COLUMN_NAMES) rows.file.write(name, outBase, buffers[name].subarray(0, state.t - outBase));
      h = e;
    }
  }
  const { t, kept, nBraggGroups, nBraggRows } = state;
  groupStart[kept] = t;
  return {
    n: t,
    nStills,
    nGroups: kept,
    nBraggGroups,
    nBraggRows,
    groupStart: groupStart.subarray(0, kept + 1),
    rows: rows.kind === "resident" ? { kind: "resident", ...sliceRows(rows, 0, t) } : rows,
    sourceRow: sourceRow.subarray(0, nBraggRows),
    braggHkl: braggHkl.subarray(0, 3 * nBraggGroups),
    voxelIndex: voxelIndex.subarray(0, kept - nBraggGroups),
    ...(obs.units === undefined ? {} : { units: obs.units }),
  };
}
