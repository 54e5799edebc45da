/**
 * The report's optional inputs beyond `scales.json` and `refinement.json`: the merged diffuse map
 * (`merged_diffuse.h5`, for the map slices and the radial profile) and the scaled Bragg reflections
 * (`scaled.refl` with `scaled.expt`, for the merging statistics). Each is read only when present and not larger than
 * its limit ({@link REPORT_INPUT_LIMITS}, checked from the file size before anything is read); otherwise the
 * section shows why it is absent. A file that is present but malformed is an {@link InputError} naming it, as for the
 * required documents.
 *
 * @packageDocumentation
 */
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { InputError } from "../errors.ts";
import { readExperiments } from "../io/expt.ts";
import { mergedDiffuseAttributesSchema, readMergedDiffuse, type MergedDiffuseMap } from "../io/merged-diffuse.ts";
import { readReflections } from "../io/refl-read.ts";
import { mergingStatisticsOfScaledTable, type MergingStatistics } from "../merge/merging-statistics.ts";
import { SpaceGroup } from "../symmetry/space-group.ts";
import { makeVoxelGrid, type VoxelGrid } from "../voxelize/voxel-grid.ts";

/** Largest input files the report reads, in bytes (larger ones are left out with a message). */
export const REPORT_INPUT_LIMITS = {
  /** `scales.json` and `refinement.json` (each). */
  jsonBytes: 512 * 2 ** 20,
  /** `merged_diffuse.h5` (about 10⁷ voxels). */
  mapBytes: 1024 * 2 ** 20,
  /** `scaled.refl` (about 5·10⁶ reflections). */
  reflBytes: 1024 * 2 ** 20,
  /** `scaled.expt`. */
  exptBytes: 256 * 2 ** 20,
} as const;

/** The merged diffuse map with what is needed to expand it from the asymmetric unit. */
export interface ReportMap {
  /** The map's file. */
  path: string;
  /** The map. */
  map: MergedDiffuseMap;
  /** Its voxel grid (from the `ndiv` and `hkl_max` attributes). */
  grid: VoxelGrid;
  /** The space group it was merged in. */
  group: SpaceGroup;
}

/** An optional input: the value, or why it is absent. */
export type Optional<T> = { value: T } | { absent: string };

/** The size of a file, or undefined when it does not exist. */
async function sizeOf(path: string): Promise<number | undefined> {
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new InputError("not a regular file", path);
    return s.size;
  } catch (err) {
    if ((err as { code?: unknown }).code === "ENOENT") return undefined;
    if (err instanceof InputError) throw err;
    throw new InputError(`cannot read: ${(err as Error).message}`, path);
  }
}

/**
 * Checks that a required input exists and is not larger than `limit` bytes, before it is read.
 *
 * @throws {@link InputError} naming the file otherwise
 */
export async function checkInputSize(path: string, limit: number): Promise<void> {
  const size = await sizeOf(path);
  if (size === undefined) throw new InputError("cannot read: file not found", path);
  if (size > limit) throw new InputError(`${size} bytes is larger than the report reads (${limit} bytes)`, path);
}

function tooLarge(name: string, size: number, limit: number): string {
  return `${name} has ${(size / 2 ** 20).toFixed(0)} MiB, more than the report reads (${limit / 2 ** 20} MiB).`;
}

/**
 * Reads `merged_diffuse.h5` of an output directory, when present.
 *
 * @param dir - the output directory
 * @param hall - Hall symbol of the space group of the run (from `refinement.json`)
 * @throws {@link InputError} naming the file when it is present but malformed
 */
export async function readReportMap(dir: string, hall: string): Promise<Optional<ReportMap>> {
  const path = join(dir, "merged_diffuse.h5");
  const size = await sizeOf(path);
  if (size === undefined) return { absent: "This run wrote no merged diffuse map (scale with --diffuse)." };
  if (size > REPORT_INPUT_LIMITS.mapBytes) return { absent: tooLarge(path, size, REPORT_INPUT_LIMITS.mapBytes) };
  const read = await readMergedDiffuse(path);
  const attrs = mergedDiffuseAttributesSchema.pick({ ndiv: true, hkl_max: true }).safeParse(read.attributes);
  if (!attrs.success) throw new InputError("attributes 'ndiv' and 'hkl_max' are missing or malformed", path);
  let grid: VoxelGrid;
  try {
    grid = makeVoxelGrid(attrs.data.ndiv, attrs.data.hkl_max);
  } catch (err) {
    throw new InputError((err as Error).message, path);
  }
  return { value: { path, map: read, grid, group: SpaceGroup.fromHall(hall) } };
}

/**
 * Computes the Bragg merging statistics from `scaled.refl` and `scaled.expt` of an output directory, when present.
 *
 * @param dir - the output directory
 * @throws {@link InputError} naming the file when one is present but malformed
 */
export async function readReportMerging(dir: string): Promise<Optional<MergingStatistics>> {
  const refl = join(dir, "scaled.refl");
  const expt = join(dir, "scaled.expt");
  const reflSize = await sizeOf(refl);
  const exptSize = await sizeOf(expt);
  if (reflSize === undefined || exptSize === undefined) {
    return { absent: "scaled.refl and scaled.expt are not both in the output directory." };
  }
  if (reflSize > REPORT_INPUT_LIMITS.reflBytes)
    return { absent: tooLarge(refl, reflSize, REPORT_INPUT_LIMITS.reflBytes) };
  if (exptSize > REPORT_INPUT_LIMITS.exptBytes)
    return { absent: tooLarge(expt, exptSize, REPORT_INPUT_LIMITS.exptBytes) };
  const stats = mergingStatisticsOfScaledTable(await readReflections(refl), await readExperiments(expt), refl);
  return stats === null
    ? { absent: "No Bragg reflection was observed twice: there are no merging statistics." }
    : { value: stats };
}
