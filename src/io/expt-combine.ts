/**
 * Several DIALS experiment lists as one, as `dials.scale a.expt b.expt …` combines them: the experiments of the first
 * file, then those of the second, and so on, every model list (`beam`, `detector`, `crystal`, `scan`, …) concatenated
 * and each experiment's model indices shifted to match. Non-empty experiment identifiers must be unique over all the
 * files: reflections are matched to experiments by them.
 *
 * @packageDocumentation
 */
import { InputError } from "../errors.ts";
import { parseExperiments, type ExperimentList } from "./expt.ts";
import { isPlainObject, type JsonObject } from "./expt-schema.ts";
import { printable } from "./printable.ts";

/** Where each file's experiments start in the combined list. */
export interface CombinedExperiments {
  /** The combined list (the one list itself when there is one file). */
  experiments: ExperimentList;
  /** Index of the first experiment of each file in the combined list, and the total at the end. */
  starts: number[];
  /** Combined index of every non-empty identifier. */
  byIdentifier: Map<string, number>;
}

/** Throws when an identifier is used twice; returns the combined index of every non-empty identifier. */
function indexIdentifiers(lists: readonly ExperimentList[], files: readonly string[]): Map<string, number> {
  const byIdentifier = new Map<string, number>();
  const fileOf: number[] = [];
  let g = 0;
  for (let f = 0; f < lists.length; f++) {
    const experiments = lists[f].experiments;
    for (let i = 0; i < experiments.length; i++, g++) {
      fileOf.push(f);
      const id = experiments[i].identifier;
      if (id === "") continue;
      const seen = byIdentifier.get(id);
      if (seen !== undefined) {
        const where = fileOf[seen] === f ? "also" : `also in ${files[fileOf[seen]]}`;
        throw new InputError(
          `experiment identifier "${printable(id)}" is used twice (${where}): identifiers must be unique`,
          files[f],
        );
      }
      byIdentifier.set(id, g);
    }
  }
  return byIdentifier;
}

/**
 * Combines experiment lists into one (see the module comment). One list is returned as it is.
 *
 * @param lists - the experiment lists, in the order given
 * @param files - the file of each list, for messages
 * @throws {@link InputError} naming the file of an identifier used twice
 */
export function combineExperimentLists(
  lists: readonly ExperimentList[],
  files: readonly string[],
): CombinedExperiments {
  const byIdentifier = indexIdentifiers(lists, files);
  const starts = [0];
  for (const l of lists) starts.push(starts[starts.length - 1] + l.length);
  if (lists.length === 1) return { experiments: lists[0], starts, byIdentifier };
  const combined: JsonObject = {};
  const experiments: unknown[] = [];
  for (const list of lists) {
    const doc = list.toJSON() as JsonObject;
    // the model lists of this document start after those of the earlier ones
    const offsets = new Map<string, number>();
    for (const [key, value] of Object.entries(doc)) {
      // keys in the first document's order; the experiments and model lists grow, other keys are the first file's
      if (key === "experiment") {
        combined.experiment = experiments;
        continue;
      }
      if (!Array.isArray(value)) {
        if (!(key in combined)) combined[key] = value;
        continue;
      }
      const into = (combined[key] ?? []) as unknown[];
      offsets.set(key, into.length);
      for (const v of value) into.push(v);
      combined[key] = into;
    }
    for (const e of doc.experiment as unknown[]) {
      if (isPlainObject(e)) {
        for (const [key, offset] of offsets) {
          const idx = e[key];
          if (typeof idx === "number") e[key] = idx + offset;
        }
      }
      experiments.push(e);
    }
  }
  return { experiments: parseExperiments(combined, files.join(" + ")), starts, byIdentifier };
}
