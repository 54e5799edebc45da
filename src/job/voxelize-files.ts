/**
 * The `diffuse-scale voxelize` job as one library call: per-still `.npz` pixel files (`q_vectors`, `intensities`,
 * `sigmas`) → the flat binned HDF5 layout (`intensities`, `sigmas`, `still_ids`, `voxel_indices`, `q_vectors` and the
 * grid attributes). The still id of a file is the number in a `still_NNNNN` name, or else its position in the sorted
 * file list.
 *
 * @packageDocumentation
 */
import { readdir } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { ConfigError, InputError, requireObjectArgument } from "../errors.ts";
import { writeBinnedDiffuse } from "../io/binned-diffuse.ts";
import { readExperiments } from "../io/expt.ts";
import { readNpz } from "../io/npz.ts";
import { prepareOutputFile } from "../io/output-directory.ts";
import type { NpyArray } from "../io/npy.ts";
import { commonSpaceGroup } from "../io/common-space-group.ts";
import { binnedGridAttributes } from "../voxelize/voxel-grid.ts";
import { gridForCrystals, voxelizeStill, type VoxelizeOptions } from "../voxelize/voxelize.ts";

/** Options of {@link voxelizeFiles}. */
export interface VoxelizeFilesOptions extends VoxelizeOptions {
  /** DIALS experiment list (one experiment per still). */
  exptPath: string;
  /** The `.npz` files, or glob patterns (`*` and `?` in the file-name part). */
  pixels: readonly string[];
  /** Output `.h5` path. */
  outPath: string;
  /** Progress callback (one call per still). @defaultValue undefined */
  onProgress?: (event: { phase: "voxelize"; done: number; total: number; label: string }) => void;
}

/** Counts of a voxelization run. */
export interface VoxelizeSummary {
  /** Files read. */
  nFiles: number;
  /** Observations read. */
  nObservations: number;
  /** Observations written. */
  nBinned: number;
  /** Observations outside the resolution limits. */
  nOutsideResolution: number;
  /** Observations whose ASU index fell outside the grid. */
  nOutsideGrid: number;
  /** Distinct voxels. */
  nVoxels: number;
}

function globToRegExp(pattern: string): RegExp {
  const escaped = pattern
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, "[^/]*")
    .replace(/\?/g, "[^/]");
  return new RegExp(`^${escaped}$`);
}

/** Expands `*`/`?` in the file-name part of each pattern; plain paths pass through. Sorted, de-duplicated. */
export async function expandPixelPaths(patterns: readonly string[]): Promise<string[]> {
  const out = new Set<string>();
  for (const p of patterns) {
    const name = basename(p);
    if (!/[*?]/.test(name)) {
      out.add(p);
      continue;
    }
    const dir = dirname(p);
    let entries: string[];
    try {
      entries = await readdir(dir);
    } catch {
      throw new InputError(`cannot list directory for pattern "${p}"`, dir);
    }
    const re = globToRegExp(name);
    for (const e of entries) if (re.test(e)) out.add(join(dir, e));
  }
  const list = [...out].sort();
  if (list.length === 0) throw new ConfigError(`no pixel files match ${patterns.join(" ")}`);
  return list;
}

function floatColumn(arrays: Map<string, NpyArray>, key: string, path: string, width: number): Float64Array {
  const a = arrays.get(key);
  if (a === undefined) throw new InputError(`missing array "${key}"`, path);
  const rows = a.shape[0] ?? 0;
  if ((width === 1 && a.shape.length !== 1) || (width > 1 && (a.shape.length !== 2 || a.shape[1] !== width))) {
    throw new InputError(
      `array "${key}" has shape (${a.shape.join(",")}), expected (N${width > 1 ? `,${width}` : ""})`,
      path,
    );
  }
  if (a.data instanceof BigInt64Array || a.data instanceof BigUint64Array) {
    throw new InputError(`array "${key}" must be floating point, got ${a.dtype}`, path);
  }
  const out = Float64Array.from(a.data as ArrayLike<number>);
  if (out.length !== rows * width)
    throw new InputError(`array "${key}" has ${out.length} values, expected ${rows * width}`, path);
  return out;
}

/**
 * Voxelizes per-still pixel files with each still's own orientation.
 *
 * @throws {@link InputError} for unreadable or inconsistent files, {@link ConfigError} for invalid options.
 */
export async function voxelizeFiles(options: VoxelizeFilesOptions): Promise<VoxelizeSummary> {
  requireObjectArgument(options, "voxelizeFiles: options");
  // the destination is checked before any input is read
  prepareOutputFile(options.outPath, "--out");
  const experiments = await readExperiments(options.exptPath);
  const spaceGroup = commonSpaceGroup(experiments, options.exptPath);
  const crystals = experiments.experiments.map((e, i) => {
    if (e.crystal === undefined) throw new InputError(`experiment ${i} has no crystal`, options.exptPath);
    return e.crystal;
  });
  const grid = gridForCrystals(crystals, options);
  const paths = await expandPixelPaths(options.pixels);
  const parts: {
    still: number;
    q: Float64Array;
    I: Float64Array;
    sigma: Float64Array;
    voxel: Float64Array;
    keep: Uint8Array;
  }[] = [];
  const summary: VoxelizeSummary = {
    nFiles: paths.length,
    nObservations: 0,
    nBinned: 0,
    nOutsideResolution: 0,
    nOutsideGrid: 0,
    nVoxels: 0,
  };
  const voxels = new Set<number>();
  for (const [i, path] of paths.entries()) {
    const m = /still_(\d+)/.exec(basename(path));
    const still = m === null ? i : Number(m[1]);
    if (still >= crystals.length) {
      throw new InputError(
        `still id ${still} has no experiment (${crystals.length} experiments in ${options.exptPath})`,
        path,
      );
    }
    const arrays = await readNpz(path);
    const q = floatColumn(arrays, "q_vectors", path, 3);
    const I = floatColumn(arrays, "intensities", path, 1);
    const sigma = floatColumn(arrays, "sigmas", path, 1);
    if (I.length * 3 !== q.length || sigma.length !== I.length) {
      throw new InputError(`q_vectors, intensities and sigmas have different lengths`, path);
    }
    const v = voxelizeStill(crystals[still], q, spaceGroup, grid, options);
    summary.nObservations += I.length;
    summary.nOutsideResolution += v.nOutsideResolution;
    summary.nOutsideGrid += v.nOutsideGrid;
    for (let k = 0; k < v.keep.length; k++) if (v.keep[k]) voxels.add(v.voxel[k]);
    parts.push({ still, q, I, sigma, voxel: v.voxel, keep: v.keep });
    options.onProgress?.({ phase: "voxelize", done: i + 1, total: paths.length, label: basename(path) });
  }
  let n = 0;
  for (const p of parts) for (const k of p.keep) n += k;
  const intensities = new Float32Array(n);
  const sigmas = new Float32Array(n);
  const stillIds = new Int32Array(n);
  const voxelIndices = new Float64Array(n);
  const qVectors = new Float32Array(3 * n);
  let t = 0;
  for (const p of parts) {
    for (let k = 0; k < p.keep.length; k++) {
      if (!p.keep[k]) continue;
      intensities[t] = p.I[k];
      sigmas[t] = p.sigma[k];
      stillIds[t] = p.still;
      voxelIndices[t] = p.voxel[k];
      qVectors[3 * t] = p.q[3 * k];
      qVectors[3 * t + 1] = p.q[3 * k + 1];
      qVectors[3 * t + 2] = p.q[3 * k + 2];
      t++;
    }
  }
  summary.nBinned = n;
  summary.nVoxels = voxels.size;
  await writeBinnedDiffuse(
    options.outPath,
    { intensities, sigmas, stillIds, voxelIndices, qVectors },
    binnedGridAttributes(grid),
    // the identifier of each still id: scale matches the rows to its experiments by them
    { experimentIdentifiers: experiments.experiments.map((e) => e.identifier) },
  );
  return summary;
}
