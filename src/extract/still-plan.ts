/**
 * What the extraction does, still by still, as plain structured-cloneable data (so worker threads can take it): the
 * plan of each still (its image, panels, beam, real-space vectors and Bragg boxes) built from the `.expt`/`.refl`
 * pairs, and the setup every still shares (grid, space group, corrections, masks). Still ids are the experiments'
 * positions in the `.expt` files taken in order; `.refl` rows are matched to them by experiment identifier.
 *
 * @packageDocumentation
 */
import { InputError } from "../errors.ts";
import { readExperiments } from "../io/expt.ts";
import { readExperimentImages } from "../io/expt-imagesets.ts";
import type { Crystal } from "../io/expt-models.ts";
import { readReflections } from "../io/refl-read.ts";
import type { VoxelGrid } from "../voxelize/voxel-grid.ts";
import { gridForCrystals } from "../voxelize/voxelize.ts";
import type { ResolvedExtractOptions } from "./extract-options.ts";
import type { StillImageRef } from "./image-source.ts";
import { readBackgroundImage, readUserMask } from "./pixel-masks.ts";
import { beamFrameOf, panelFrameOf, type BeamFrame, type PanelFrame } from "./pixel-geometry.ts";

/** One still's work. */
export interface StillPlan {
  readonly still: number;
  readonly identifier: string;
  readonly image: StillImageRef;
  readonly panels: PanelFrame[];
  readonly beam: BeamFrame;
  /** Real-space a, b, c (9 numbers). */
  readonly realSpace: number[];
  /** Bragg boxes: 5 integers per box (panel, x0, x1, y0, y1). */
  readonly boxes: Int32Array;
}

/** What every still shares. */
export interface ExtractSetup {
  readonly grid: VoxelGrid;
  /** Hall symbol of the common space group. */
  readonly hall: string;
  readonly dMin: number;
  readonly dMax: number | undefined;
  readonly polarization: boolean;
  readonly solidAngle: boolean;
  readonly qe: boolean;
  readonly braggMaskGrow: number;
  readonly userMask: Uint8Array[] | undefined;
  readonly background: Float32Array[] | undefined;
}

/**
 * Groups a table's `bbox` rows by still (5 integers per box), via its `id` column and identifiers. Rows whose
 * identifier names no given experiment are skipped; a table without identifiers is matched by position.
 */
function boxesByStill(
  table: Awaited<ReturnType<typeof readReflections>>,
  stillOfIdentifier: ReadonlyMap<string, number>,
  localStills: readonly number[],
  path: string,
): Map<number, number[]> {
  const out = new Map<number, number[]>();
  if (table.nrows === 0) return out;
  const bboxColumn = table.column("bbox");
  if (bboxColumn.type !== "int6")
    throw new InputError(`column 'bbox' has type ${bboxColumn.type}, expected int6`, path);
  const idColumn = table.column("id");
  if (idColumn.type !== "int") throw new InputError(`column 'id' has type ${idColumn.type}, expected int`, path);
  const panelColumn = table.has("panel") ? table.column("panel") : undefined;
  const bbox = bboxColumn.data;
  const ids = idColumn.data;
  const panelOf = (row: number): number =>
    panelColumn === undefined ? 0 : Number((panelColumn.data as ArrayLike<number | bigint>)[row]);
  for (let row = 0; row < table.nrows; row++) {
    const id = ids[row];
    const identifier = table.identifiers.get(id);
    // a row of an experiment left out of the .expt files (a subset of the stills) masks nothing
    if (identifier !== undefined && !stillOfIdentifier.has(identifier)) continue;
    const still = identifier === undefined ? localStills[id] : stillOfIdentifier.get(identifier);
    if (still === undefined) throw new InputError(`row ${row}: id ${id} matches no experiment`, path);
    let list = out.get(still);
    if (list === undefined) out.set(still, (list = []));
    list.push(panelOf(row), bbox[6 * row], bbox[6 * row + 1], bbox[6 * row + 2], bbox[6 * row + 3]);
  }
  return out;
}

/**
 * Reads the experiment lists, reflection tables, mask and background and builds every still's plan.
 *
 * @throws {@link InputError} for unreadable files, experiments without crystal/beam/detector or image, differing
 * space groups, reflections that match no experiment
 */
export async function planStills(
  options: ResolvedExtractOptions,
): Promise<{ plans: StillPlan[]; identifiers: string[]; setup: ExtractSetup }> {
  const plans: StillPlan[] = [];
  const identifiers: string[] = [];
  const crystals: Crystal[] = [];
  let hall: string | undefined;
  const stillOfIdentifier = new Map<string, number>();
  const boxes = new Map<number, number[]>();
  for (const [f, exptPath] of options.expt.entries()) {
    const experiments = await readExperiments(exptPath);
    const images = await readExperimentImages(exptPath);
    const local: number[] = [];
    for (const [i, e] of experiments.experiments.entries()) {
      const still = plans.length;
      const where = `experiment ${i}${e.identifier === "" ? "" : ` (${e.identifier})`}`;
      if (e.crystal === undefined || e.beam === undefined || e.detector === undefined) {
        throw new InputError(`${where} needs a crystal, a beam and a detector`, exptPath);
      }
      const h = e.crystal.spaceGroupHall.trim();
      if (hall === undefined) hall = h;
      else if (h !== hall) throw new InputError(`${where} has space group "${h}", not "${hall}"`, exptPath);
      if (e.identifier !== "") {
        if (stillOfIdentifier.has(e.identifier)) {
          throw new InputError(`${where}: identifier '${e.identifier}' appears twice`, exptPath);
        }
        stillOfIdentifier.set(e.identifier, still);
      }
      local.push(still);
      crystals.push(e.crystal);
      identifiers.push(e.identifier);
      const info = images[i];
      const panels = e.detector.panels.map((p, k) => panelFrameOf(p, info.panels[k]));
      const c = e.crystal;
      plans.push({
        still,
        identifier: e.identifier,
        image: { experiment: `${exptPath} ${where}`, path: info.image.path, frame: info.image.frame },
        panels,
        beam: beamFrameOf(e.beam),
        realSpace: [...c.realSpaceA, ...c.realSpaceB, ...c.realSpaceC],
        boxes: new Int32Array(0),
      });
    }
    const table = await readReflections(options.refl[f]);
    for (const [still, list] of boxesByStill(table, stillOfIdentifier, local, options.refl[f])) {
      const all = boxes.get(still);
      if (all === undefined) boxes.set(still, list);
      else all.push(...list);
    }
  }
  if (hall === undefined) throw new InputError("no experiments", options.expt[0]);
  const finalPlans = plans.map((p) => ({ ...p, boxes: Int32Array.from(boxes.get(p.still) ?? []) }));
  const firstPanels = plans[0].panels;
  const userMask = options.maskPath === undefined ? undefined : await readUserMask(options.maskPath, firstPanels);
  const background =
    options.backgroundPath === undefined ? undefined : await readBackgroundImage(options.backgroundPath, firstPanels);
  const setup: ExtractSetup = {
    grid: gridForCrystals(crystals, {
      ndiv: options.ndiv,
      dMin: options.dMin,
      ...(options.dMax === undefined ? {} : { dMax: options.dMax }),
    }),
    hall,
    dMin: options.dMin,
    dMax: options.dMax,
    polarization: options.polarization,
    solidAngle: options.solidAngle,
    qe: options.qe,
    braggMaskGrow: options.braggMaskGrow,
    userMask,
    background,
  };
  return { plans: finalPlans, identifiers, setup };
}
