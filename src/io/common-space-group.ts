/**
 * The space group shared by every crystal of an experiment list (serial data from one crystal form): every
 * experiment must have a crystal and all Hall symbols must agree.
 *
 * @packageDocumentation
 */
import { ConfigError, InputError } from "../errors.ts";
import type { ExperimentList } from "./expt.ts";
import { printable } from "./printable.ts";
import { SpaceGroup } from "../symmetry/space-group.ts";

/**
 * The one space group of all crystals.
 *
 * @param experiments - The experiment list.
 * @param source - File name for messages.
 * @throws {@link InputError} when an experiment has no crystal or the space groups differ.
 */
export function commonSpaceGroup(experiments: ExperimentList, source: string): SpaceGroup {
  let hall: string | undefined;
  experiments.experiments.forEach((e, i) => {
    if (e.crystal === undefined) throw new InputError(`experiment ${i} has no crystal`, source);
    const h = e.crystal.spaceGroupHall.trim();
    if (hall === undefined) hall = h;
    else if (h !== hall) {
      throw new InputError(
        `experiment ${i} has space group "${printable(h)}" but experiment 0 has "${printable(hall)}"`,
        source,
      );
    }
  });
  if (hall === undefined) throw new InputError("no experiments", source);
  try {
    return SpaceGroup.fromHall(hall);
  } catch (e) {
    // the symbol comes from the file: say which
    if (e instanceof ConfigError) throw new InputError(`crystal space group: ${e.message}`, source);
    throw e;
  }
}
