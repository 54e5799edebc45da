/**
 * The read phase of the `scale` job: the configuration (file and command-line overrides), the DIALS experiments and
 * reflections, and the binned diffuse file, which is only opened here (it is streamed in slices while the
 * observations are grouped, never loaded whole).
 *
 * @packageDocumentation
 */
import { ConfigError, InputError } from "../errors.ts";
import { openBinnedDiffuse, type BinnedDiffuseFile } from "../io/binned-diffuse.ts";
import { commonSpaceGroup } from "../io/common-space-group.ts";
import { checkCellAgainst, checkCommonUnitCell } from "../io/common-unit-cell.ts";
import { readExperiments, type ExperimentList } from "../io/expt.ts";
import { readReflections } from "../io/refl-read.ts";
import { readDiffuseScalingConfigFile, type DiffuseScalingConfigInput } from "../refine/config.ts";
import type { SpaceGroup } from "../symmetry/space-group.ts";
import type { ReflectionTable } from "../table/reflection-table.ts";
import { makeVoxelGrid } from "../voxelize/voxel-grid.ts";

/** A progress event of the read phase. */
export interface ReadProgress {
  phase: "read";
  done: number;
  total: number;
  label: string;
}

/** Where the inputs are, and the configuration overrides of the command line. */
export interface ScaleInputPaths {
  /** DIALS experiment list (one experiment per still). */
  exptPath: string;
  /** DIALS reflection table (integrated, with `partiality`). */
  reflPath: string;
  /** Binned diffuse observations. @defaultValue undefined (Bragg only) */
  diffusePath?: string | undefined;
  /** JSON configuration file (snake_case keys). @defaultValue undefined */
  configPath?: string | undefined;
  /** Number of smoother control points; enables the smoother (overrides the config). @defaultValue undefined */
  smootherPoints?: number | undefined;
}

/** What the read phase produced. */
export interface ScaleInputs {
  /** The model configuration (file, then command-line overrides). */
  config: DiffuseScalingConfigInput;
  /** The experiments (one per still). */
  experiments: ExperimentList;
  /** The space group all experiments share. */
  spaceGroup: SpaceGroup;
  /** The integrated reflections. */
  table: ReflectionTable;
  /** The open binned diffuse file (closed by the refine phase), or undefined for Bragg only. */
  binned: BinnedDiffuseFile | undefined;
  /** Seconds spent reading and opening. */
  openS: number;
}

/** The configuration file (when given) with the command line's smoother override applied. */
async function readConfig(paths: ScaleInputPaths): Promise<DiffuseScalingConfigInput> {
  let config: DiffuseScalingConfigInput = {};
  // reading + JSON parsing live in config.ts, which keeps the error messages one printable line
  if (paths.configPath !== undefined) config = await readDiffuseScalingConfigFile(paths.configPath);
  if (paths.smootherPoints !== undefined) {
    config = {
      ...config,
      resolutionSmoother: { ...config.resolutionSmoother, enabled: true, nControlPoints: paths.smootherPoints },
    };
  }
  return config;
}

/**
 * Checks, before any row is read, what the merge phase needs of a binned file: a voxel grid it can build (`ndiv`,
 * `hkl_max` positive integers) and, when the file records the cell its voxels were indexed with (`unit_cell`), that
 * cell against the crystals' median cell.
 */
function checkBinnedGrid(binned: BinnedDiffuseFile, medianCell: ReturnType<typeof checkCommonUnitCell>): void {
  try {
    makeVoxelGrid(binned.attributes.ndiv, binned.attributes.hklMax);
  } catch (e) {
    if (e instanceof ConfigError) throw new InputError(`attributes: ${e.message}`, binned.path);
    throw e;
  }
  const recorded = binned.attributes.unit_cell;
  if (recorded !== undefined && medianCell !== undefined) {
    const cell = Array.isArray(recorded) ? recorded.map(Number) : [Number(recorded)];
    checkCellAgainst(cell, medianCell, "attribute 'unit_cell'", binned.path);
  }
}

/**
 * Reads the job's inputs, reporting `read` progress (0 to 3 of 3).
 *
 * @throws `InputError` for unreadable or malformed inputs, `ConfigError` for an invalid configuration file.
 */
export async function readScaleInputs(
  paths: ScaleInputPaths,
  progress: ((event: ReadProgress) => void) | undefined,
): Promise<ScaleInputs> {
  const tRead = performance.now();
  progress?.({ phase: "read", done: 0, total: 3, label: "experiments" });
  const config = await readConfig(paths);
  const experiments = await readExperiments(paths.exptPath);
  const spaceGroup = commonSpaceGroup(experiments, paths.exptPath);
  const medianCell = checkCommonUnitCell(experiments, paths.exptPath);
  progress?.({ phase: "read", done: 1, total: 3, label: "reflections" });
  const table = await readReflections(paths.reflPath);
  progress?.({ phase: "read", done: 2, total: 3, label: "diffuse" });
  let binned: BinnedDiffuseFile | undefined;
  if (paths.diffusePath !== undefined) {
    binned = await openBinnedDiffuse(paths.diffusePath);
    try {
      checkBinnedGrid(binned, medianCell);
    } catch (e) {
      binned.close();
      throw e;
    }
  }
  progress?.({ phase: "read", done: 3, total: 3, label: "done" });
  return { config, experiments, spaceGroup, table, binned, openS: (performance.now() - tRead) / 1000 };
}
