/**
 * The work of one thread for one still: read its image, build its mask, bin it (`runStill`), and the space group each
 * thread builds from the setup. Kept apart from the planning (`still-plan.ts`) so that a worker thread loads only
 * what it runs, not the experiment-list and reflection readers.
 *
 * @packageDocumentation
 */
import { SpaceGroup } from "../symmetry/space-group.ts";
import type { GeometryCache } from "./geometry-cache.ts";
import type { StillImageReader } from "./image-source.ts";
import { stillMask } from "./pixel-masks.ts";
import { binStill, type StillRows } from "./still-binning.ts";
import type { ExtractSetup, StillPlan } from "./still-plan.ts";
import type { VoxelAccumulator } from "./voxel-accumulator.ts";

/** Reads one still's image and bins it (the work of one thread for one still). */
export async function runStill(
  plan: StillPlan,
  setup: ExtractSetup,
  spaceGroup: SpaceGroup,
  reader: StillImageReader,
  acc: VoxelAccumulator,
  cache: GeometryCache,
): Promise<StillRows> {
  const data = await reader.read(plan.image, plan.panels);
  const mask = stillMask(plan.panels, setup.userMask, plan.boxes, setup.braggMaskGrow);
  return binStill(
    {
      panels: plan.panels,
      data,
      ...(mask === undefined ? {} : { mask }),
      ...(setup.background === undefined ? {} : { background: setup.background }),
      beam: plan.beam,
      realSpace: plan.realSpace,
    },
    { ...setup, spaceGroup },
    acc,
    cache,
  );
}

/** The space group of a setup (each thread builds its own). */
export function setupSpaceGroup(setup: ExtractSetup): SpaceGroup {
  return SpaceGroup.fromHall(setup.hall);
}
