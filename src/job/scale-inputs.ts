/**
 * The read phase of the `scale` job: the configuration (file and command-line overrides), the DIALS experiments and
 * reflections (one or several files of each, matched by experiment identifier), and the binned diffuse file, which is
 * only opened here, its still ids matched and its grid checked against the crystals (it is streamed in slices while the
 * observations are grouped, never loaded whole).
 *
 * @packageDocumentation
 */
import { ConfigError, InputError } from "../errors.ts";
import { openBinnedDiffuse, type BinnedDiffuseFile } from "../io/binned-diffuse.ts";
import type { ExperimentList } from "../io/expt.ts";
import {
  readDiffuseScalingConfigFile,
  resolveDiffuseScalingConfig,
  type DiffuseScalingConfigInput,
} from "../refine/config.ts";
import type { SpaceGroup } from "../symmetry/space-group.ts";
import type { ReflectionTable } from "../table/reflection-table.ts";
import { checkCellAgainst, checkCommonUnitCell } from "../io/common-unit-cell.ts";
import { makeVoxelGrid } from "../voxelize/voxel-grid.ts";
import { checkGridAgainstCrystals } from "./diffuse-grid-check.ts";
import { matchDiffuseStills } from "./diffuse-stills.ts";
import { inputFileList, readExperimentFiles, readReflectionFiles, type InputFiles } from "./scale-input-files.ts";

/** A progress event of the read phase. */
export interface ReadProgress {
  phase: "read";
  done: number;
  total: number;
  label: string;
}

/** Where the inputs are, and the configuration overrides of the command line. */
export interface ScaleInputPaths {
  /**
   * DIALS experiment list (one experiment per still), or several: their experiments are combined in the order given.
   */
  exptPath: InputFiles;
  /**
   * DIALS reflection table (integrated, with `partiality`), or several: every table is matched to the experiments by
   * its experiment identifiers (as dials.scale matches them) and the tables are combined.
   */
  reflPath: InputFiles;
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
  /** The experiments (one per still; of every `.expt` file, in the order given). */
  experiments: ExperimentList;
  /** The space group all experiments share. */
  spaceGroup: SpaceGroup;
  /** The integrated reflections (of every `.refl` file; `id` indexes `experiments`). */
  table: ReflectionTable;
  /** The open binned diffuse file (closed by the refine phase), or undefined for Bragg only. */
  binned: BinnedDiffuseFile | undefined;
  /** Seconds spent reading and opening. */
  openS: number;
  /** What the user should know about the inputs (rows that belong to no experiment, still ids taken as indices). */
  warnings: string[];
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
  // checked whole before any data file is read (the model checks it again when it is built)
  resolveDiffuseScalingConfig(config);
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
  const exptFiles = inputFileList(paths.exptPath, "--expt");
  const reflFiles = inputFileList(paths.reflPath, "--refl");
  const config = await readConfig(paths);
  const warnings: string[] = [];
  const { combined, spaceGroup } = await readExperimentFiles(exptFiles);
  const medianCell = checkCommonUnitCell(combined.experiments, exptFiles.join(", "));
  progress?.({ phase: "read", done: 1, total: 3, label: "reflections" });
  const table = await readReflectionFiles(reflFiles, combined, exptFiles, warnings);
  progress?.({ phase: "read", done: 2, total: 3, label: "diffuse" });
  let binned: BinnedDiffuseFile | undefined;
  if (paths.diffusePath !== undefined) {
    const file = await openBinnedDiffuse(paths.diffusePath);
    try {
      checkBinnedGrid(file, medianCell);
      binned = matchDiffuseStills(file, combined, exptFiles, warnings);
      checkGridAgainstCrystals(binned, combined.experiments, exptFiles);
    } catch (error) {
      file.close();
      throw error;
    }
  }
  progress?.({ phase: "read", done: 3, total: 3, label: "done" });
  const experiments = combined.experiments;
  return { config, experiments, spaceGroup, table, binned, openS: (performance.now() - tRead) / 1000, warnings };
}
