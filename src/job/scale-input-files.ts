/**
 * The DIALS files of a `scale` job, one or several of each kind, as dials.scale takes them: every `.expt` read and
 * checked (stills only: a rotation scan is refused), the experiments combined in the order given, every `.refl`
 * matched to them by experiment identifier and combined into one table, and rows that cannot be used for want of an
 * experiment counted in a warning. Intensities that are all negative or zero are refused: there is nothing to scale.
 *
 * @packageDocumentation
 */
import { ConfigError, InputError } from "../errors.ts";
import { commonSpaceGroup } from "../io/common-space-group.ts";
import { combineExperimentLists, type CombinedExperiments } from "../io/expt-combine.ts";
import { readExperiments, type ExperimentList } from "../io/expt.ts";
import { printable } from "../io/printable.ts";
import { matchReflectionsToExperiments } from "../io/refl-identifiers.ts";
import { readReflections } from "../io/refl-read.ts";
import type { SpaceGroup } from "../symmetry/space-group.ts";
import type { ReflectionTable } from "../table/reflection-table.ts";

/** One path or several, as the job's options take them. */
export type InputFiles = string | readonly string[];

/** The paths of one kind of input as a list (at least one, each a non-empty string). */
export function inputFileList(files: InputFiles, option: string): readonly string[] {
  const list: unknown = typeof files === "string" ? [files] : files;
  if (!Array.isArray(list) || list.length === 0) throw new ConfigError(`${option}: at least one file is needed`);
  const out: string[] = [];
  for (const f of list as unknown[]) {
    if (typeof f !== "string" || f === "") throw new ConfigError(`${option}: every path must be a non-empty string`);
    out.push(f);
  }
  return out;
}

/** How one or several files are named in messages and recorded in `refinement.json`. */
export function describeFiles(files: readonly string[]): string {
  return files.join(", ");
}

/** Refuses an experiment list holding rotation scans (more than one image per experiment). */
function requireStills(list: ExperimentList, file: string): void {
  list.experiments.forEach((e, i) => {
    if (e.scan === undefined) return;
    const nImages = e.scan.imageRange[1] - e.scan.imageRange[0] + 1;
    if (nImages > 1) {
      throw new InputError(
        `experiment ${i} is a rotation scan of ${nImages} images; diffuse-scale scales stills (one experiment per image, as dials.stills_process writes them)`,
        file,
      );
    }
  });
}

/** The experiments of every `.expt` file, combined, and their one space group. */
export async function readExperimentFiles(
  files: readonly string[],
): Promise<{ combined: CombinedExperiments; spaceGroup: SpaceGroup }> {
  const lists: ExperimentList[] = [];
  let spaceGroup: SpaceGroup | undefined;
  for (const file of files) {
    const list = await readExperiments(file);
    requireStills(list, file);
    const group = commonSpaceGroup(list, file);
    if (spaceGroup !== undefined && group.hall !== spaceGroup.hall) {
      throw new InputError(
        `space group "${printable(group.hall)}" differs from "${printable(spaceGroup.hall)}" of ${files[0]}`,
        file,
      );
    }
    spaceGroup ??= group;
    lists.push(list);
  }
  if (spaceGroup === undefined) throw new ConfigError("--expt: at least one file is needed");
  return { combined: combineExperimentLists(lists, files), spaceGroup };
}

/** The columns scaling reads from every `.refl` (the others are optional or carried through). */
const REQUIRED_COLUMNS = ["id", "miller_index", "flags", "intensity.sum.value", "intensity.sum.variance", "d"];

/** Refuses a table without a column scaling needs, naming its file. */
function requireColumns(table: ReflectionTable, file: string): void {
  for (const name of REQUIRED_COLUMNS) {
    if (!table.has(name)) throw new InputError(`missing column "${name}" needed for scaling`, file);
  }
}

/** Refuses a table whose every intensity is negative or zero (no relative scale can be refined from it). */
function requirePositiveIntensities(table: ReflectionTable, files: readonly string[]): void {
  if (table.nrows === 0) return; // no rows: refused later ("no observations")
  const intensity = table.getDouble("intensity.sum.value");
  for (let r = 0; r < intensity.length; r++) if (intensity[r] > 0) return;
  throw new InputError(
    `every one of the ${table.nrows} intensities (intensity.sum.value) is negative or zero: there is nothing to scale`,
    describeFiles(files),
  );
}

/** Rows of `table` whose id names none of `nExperiments` experiments. */
function countUnknownExperiment(table: ReflectionTable, nExperiments: number): number {
  if (!table.has("id")) return 0;
  const id = table.getInt("id");
  let n = 0;
  for (let r = 0; r < id.length; r++) if (!(id[r] >= 0 && id[r] < nExperiments)) n++;
  return n;
}

/**
 * Every `.refl` file read and matched to the combined experiments by identifier (one table), with a warning when rows
 * name no experiment.
 */
export async function readReflectionFiles(
  files: readonly string[],
  combined: CombinedExperiments,
  exptFiles: readonly string[],
  warnings: string[],
): Promise<ReflectionTable> {
  const tables: ReflectionTable[] = [];
  for (const file of files) {
    const table = await readReflections(file);
    requireColumns(table, file);
    tables.push(table);
  }
  const table = matchReflectionsToExperiments(tables, files, combined, exptFiles);
  requirePositiveIntensities(table, files);
  const unknown = countUnknownExperiment(table, combined.experiments.length);
  if (unknown > 0) {
    warnings.push(
      `${describeFiles(files)}: ${unknown} of ${table.nrows} reflections belong to no experiment of ${describeFiles(exptFiles)}; they are not used`,
    );
  }
  return table;
}
