/**
 * The still ids of a binned diffuse file matched to the job's experiments. When the file carries the experiment
 * identifier of each still id (`experiment_identifiers`, written by `voxelize`) they are matched by identifier;
 * otherwise still ids index the combined experiment list, and a job of several `.expt` files says so in a warning.
 * Before anything is grouped, one pass over the still ids (4 of a row's 32 bytes) counts the rows whose still names no
 * experiment: more than {@link MAX_UNKNOWN_STILL_FRACTION} of the rows is refused (the file is of another dataset),
 * fewer are dropped with a warning that counts them.
 *
 * @packageDocumentation
 */
import { InputError } from "../errors.ts";
import type { BinnedDiffuseBuffers, BinnedDiffuseChunk, BinnedDiffuseFile } from "../io/binned-diffuse.ts";
import type { CombinedExperiments } from "../io/expt-combine.ts";
import { describeFiles } from "./scale-input-files.ts";

/**
 * The largest fraction of a binned diffuse file's rows whose still id may name no experiment of the job (stills
 * excluded after indexing, say); above it the file is refused as belonging to another dataset.
 */
export const MAX_UNKNOWN_STILL_FRACTION = 0.5;

/** Rows per slice of the still-id pass. */
const SLICE_ROWS = 1 << 20;

/** Combined experiment index of each still id of the file, or undefined when the still ids are the indices. */
function stillMapOf(binned: BinnedDiffuseFile, combined: CombinedExperiments): Int32Array | undefined {
  const identifiers = binned.experimentIdentifiers;
  // experiments without identifiers (old files) cannot be matched by them: still ids are indices then
  if (identifiers === undefined || combined.byIdentifier.size === 0) return undefined;
  const map = new Int32Array(identifiers.length);
  let identity = identifiers.length <= combined.experiments.length;
  for (let s = 0; s < identifiers.length; s++) {
    map[s] = combined.byIdentifier.get(identifiers[s]) ?? -1;
    if (map[s] !== s) identity = false;
  }
  return identity ? undefined : map;
}

/** The file with its still ids replaced by combined experiment indices (−1: no experiment). */
function remapped(binned: BinnedDiffuseFile, map: Int32Array): BinnedDiffuseFile {
  const readSlice = (start: number, end: number, into?: BinnedDiffuseBuffers): BinnedDiffuseChunk => {
    const chunk = binned.readSlice(start, end, into);
    const ids = chunk.stillIds;
    for (let i = 0; i < ids.length; i++) ids[i] = ids[i] < map.length ? map[ids[i]] : -1;
    return chunk;
  };
  return {
    ...binned,
    readSlice,
    chunks(rows = SLICE_ROWS): Iterable<BinnedDiffuseChunk> {
      const n = binned.nObservations;
      binned.chunks(rows); // validates rows
      return {
        *[Symbol.iterator]() {
          for (let s = 0; s < n; s += rows) yield readSlice(s, Math.min(n, s + rows));
        },
      };
    },
  };
}

/**
 * Matches the diffuse file's still ids to the combined experiments (see the module comment).
 *
 * @param binned - the open binned diffuse file
 * @param combined - the job's experiments
 * @param exptFiles - the `.expt` files, for messages
 * @param warnings - where warnings are added
 * @returns the file to read the rows from (still ids already matched)
 * @throws {@link InputError} naming the diffuse file when more than {@link MAX_UNKNOWN_STILL_FRACTION} of its rows
 * name no experiment
 */
export function matchDiffuseStills(
  binned: BinnedDiffuseFile,
  combined: CombinedExperiments,
  exptFiles: readonly string[],
  warnings: string[],
): BinnedDiffuseFile {
  const map = stillMapOf(binned, combined);
  const nExperiments = combined.experiments.length;
  if (binned.experimentIdentifiers === undefined && exptFiles.length > 1) {
    warnings.push(
      `${binned.path}: has no experiment identifiers; its still ids are taken as indices of the ${nExperiments} experiments of ${describeFiles(exptFiles)} in the order given`,
    );
  } else if (binned.experimentIdentifiers !== undefined && combined.byIdentifier.size === 0) {
    warnings.push(
      `${binned.path}: the experiments of ${describeFiles(exptFiles)} have no identifiers to match; its still ids are taken as indices of the ${nExperiments} experiments`,
    );
  }
  const n = binned.nObservations;
  let unknown = 0;
  for (let start = 0; start < n; start += SLICE_ROWS) {
    const ids = binned.readStillIds(start, Math.min(n, start + SLICE_ROWS));
    for (let i = 0; i < ids.length; i++) {
      const s = map === undefined ? ids[i] : ids[i] < map.length ? map[ids[i]] : -1;
      if (!(s >= 0 && s < nExperiments)) unknown++;
    }
  }
  if (unknown > MAX_UNKNOWN_STILL_FRACTION * n) {
    throw new InputError(
      `${unknown} of ${n} diffuse rows (${((100 * unknown) / n).toFixed(1)} %) belong to no experiment of ${describeFiles(exptFiles)} ` +
        `(at most ${100 * MAX_UNKNOWN_STILL_FRACTION} % may): is it of another dataset?`,
      binned.path,
    );
  }
  if (unknown > 0) {
    warnings.push(
      `${binned.path}: ${unknown} of ${n} diffuse rows belong to no experiment of ${describeFiles(exptFiles)}; they are not used`,
    );
  }
  return map === undefined ? binned : remapped(binned, map);
}
