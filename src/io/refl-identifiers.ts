/**
 * Reflections matched to experiments by identifier, as DIALS matches them: a table's `experiment_identifiers` map
 * (`id` → identifier) names the experiment of each `id`, whatever the order of the experiments in the `.expt` files.
 * The tables of a job become one table whose `id` column is the index of each row's experiment in the combined
 * experiment list (see `expt-combine.ts`). An identifier that no experiment has is refused; a table without
 * identifiers, or experiments without any (old files), are matched by position: the table's ids index the experiments
 * of the `.expt` file given in the same place.
 *
 * @packageDocumentation
 */
import { InputError } from "../errors.ts";
import { concatTables } from "../table/concat-tables.ts";
import type { ReflectionTable } from "../table/reflection-table.ts";
import type { CombinedExperiments } from "./expt-combine.ts";
import { printable } from "./printable.ts";

/** Experiment index of each id of one table: id → combined index (ids absent from the map stay unmatched). */
function idMapOf(
  table: ReflectionTable,
  t: number,
  reflFiles: readonly string[],
  exptFiles: readonly string[],
  combined: CombinedExperiments,
  claimedBy: Map<number, number>,
): Map<number, number> {
  const map = new Map<number, number>();
  const file = reflFiles[t];
  if (table.identifiers.size === 0 || combined.byIdentifier.size === 0) {
    // no identifiers on either side (DIALS skips the check for experiments without one): ids index the experiments
    // of the .expt file in the same place
    if (exptFiles.length !== 1 && exptFiles.length !== reflFiles.length) {
      throw new InputError(
        `cannot be matched by experiment identifier to the experiments of ${exptFiles.length} .expt files (identifiers missing); give the .expt and .refl files in pairs (or files with identifiers)`,
        file,
      );
    }
    const f = exptFiles.length === 1 ? 0 : t;
    const start = combined.starts[f];
    const count = combined.starts[f + 1] - start;
    for (let id = 0; id < count; id++) map.set(id, start + id);
    return map;
  }
  for (const [id, identifier] of table.identifiers) {
    const g = combined.byIdentifier.get(identifier);
    if (g === undefined) {
      throw new InputError(
        `experiment identifier "${printable(identifier)}" (id ${id}) is in no experiment of ${exptFiles.join(", ")}: reflections and experiments of different datasets?`,
        file,
      );
    }
    const other = claimedBy.get(g);
    if (other !== undefined) {
      throw new InputError(
        `experiment identifier "${printable(identifier)}" (id ${id}) also names reflections of ${reflFiles[other]}${other === t ? " (another id)" : ""}`,
        file,
      );
    }
    claimedBy.set(g, t);
    map.set(id, g);
  }
  return map;
}

/**
 * Whether a table's ids already are the combined indices of `nExperiments` experiments (its rows and identifiers then
 * need no change): the map is the identity, and every row id that names an experiment is in the map.
 */
function isIdentity(map: Map<number, number>, table: ReflectionTable, nExperiments: number): boolean {
  for (const [id, g] of map) if (id !== g) return false;
  if (!table.has("id")) return true; // refused later, with the other required columns
  const id = table.getInt("id");
  for (let r = 0; r < id.length; r++) if (id[r] >= 0 && id[r] < nExperiments && !map.has(id[r])) return false;
  return true;
}

/**
 * Matches every table's reflections to the combined experiments by identifier and returns one table whose `id` is
 * the combined experiment index (rows whose id names no experiment get id −1 and are counted as of an unknown
 * experiment). A single table whose ids already match is returned unchanged.
 *
 * @param tables - the reflection tables, in the order given
 * @param reflFiles - their files, for messages
 * @param combined - the combined experiments
 * @param exptFiles - the `.expt` files, for messages
 * @throws {@link InputError} naming the `.refl` file, the identifier and the `.expt` files when an identifier names
 * no experiment, or names one that another table (or id) already names
 */
export function matchReflectionsToExperiments(
  tables: readonly ReflectionTable[],
  reflFiles: readonly string[],
  combined: CombinedExperiments,
  exptFiles: readonly string[],
): ReflectionTable {
  const claimedBy = new Map<number, number>();
  const maps = tables.map((table, t) => idMapOf(table, t, reflFiles, exptFiles, combined, claimedBy));
  if (tables.length === 1 && isIdentity(maps[0], tables[0], combined.experiments.length)) return tables[0];
  tables.forEach((table, t) => {
    if (!table.has("id")) throw new InputError(`missing column "id" needed for scaling`, reflFiles[t]);
  });
  const experiments = combined.experiments.experiments;
  const identifiers = new Map<number, string>();
  for (const map of maps) {
    for (const g of map.values()) if (experiments[g].identifier !== "") identifiers.set(g, experiments[g].identifier);
  }
  const out = concatTables(tables, reflFiles, new Map([...identifiers].sort((a, b) => a[0] - b[0])));
  const id = out.getInt("id");
  let row = 0;
  for (let t = 0; t < tables.length; t++) {
    const map = maps[t];
    for (let end = row + tables[t].nrows; row < end; row++) id[row] = map.get(id[row]) ?? -1;
  }
  return out;
}
