/**
 * Valid arguments for the sweep of `library-contracts.test.ts` (not a test file itself): one small, seeded instance of
 * every kind of value the public functions take (tables, experiment lists, observations, a refined model, the output
 * documents, the DIALS-port objects), built once. The sweep replaces one argument at a time by a hostile value, so
 * every other argument must be valid for the call to reach the check of the one under test.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as api from "../../src/index.ts";
import { buildRefinementDocument } from "../../src/job/scale-documents.ts";
import { EXPT40, HALL, N_STILLS, braggTable, dataset, writeSmallData } from "./small-dataset.ts";

/** Everything the specs of the sweep build their valid arguments from. */
export interface ContractFixtures {
  dir: string;
  expt: string;
  refl: string;
  h5: string;
  sg: api.SpaceGroup;
  experiments: api.ExperimentList;
  exptJson: unknown;
  table: api.ReflectionTable;
  /** The Bragg table with the columns of a scaled table (`dials.scale` output). */
  scaledTable: api.ReflectionTable;
  model: api.DiffuseScalingModel;
  refined: api.RefineParametersResult;
  grid: api.VoxelGrid;
  merged: api.MergedDiffuse;
  scalesJson: api.ScalesJson;
  refinementJson: api.RefinementJson;
  binned: Awaited<ReturnType<typeof api.readBinnedDiffuse>>;
  /** A merged map written by `writeMergedDiffuse`. */
  mergedPath: string;
  /** A configuration file (`{}`: every default). */
  configPath: string;
  cleanup: () => Promise<void>;
}

/** Builds the fixtures: writes the small dataset into a temporary directory and refines the model on it once. */
export async function buildContractFixtures(): Promise<ContractFixtures> {
  const dir = await mkdtemp(join(tmpdir(), "library-contracts-"));
  const data = dataset();
  const { refl, h5 } = await writeSmallData(dir, "small", data);
  const sg = api.SpaceGroup.fromHall(HALL);
  const experiments = await api.readExperiments(EXPT40);
  const table = braggTable(data.bragg);
  const model = new api.DiffuseScalingModel({}, { nStills: N_STILLS, spaceGroup: sg });
  const refined = model.refineParameters(data.diffuse, table, { threads: 1 });
  const grid = api.makeVoxelGrid(2, [3, 3, 3]);
  const B = experiments.experiments[0].crystal?.B;
  if (B === undefined) throw new Error(`${EXPT40}: no crystal`);
  const merged = api.mergeDiffuse(refined.details.observations, refined.details.finalState, grid, B);
  const scalesJson = api.buildScalesJson(model, refined, "lm", { readS: 0, refineS: 0, mergeS: 0, writeS: 0 });
  const refinementJson = buildRefinementDocument(
    { commandLine: "diffuse-scale scale", exptPath: EXPT40, reflPath: refl, diffusePath: h5, configPath: undefined },
    sg,
    model,
    refined,
    merged,
  );
  const binned = await api.readBinnedDiffuse(h5);
  const mergedPath = join(dir, "merged.h5");
  await api.writeMergedDiffuse(mergedPath, merged, {
    ndiv: 2,
    hkl_max: [3, 3, 3],
    voxel_grid_dims: [13, 13, 13],
    voxel_index_rule: api.VOXEL_INDEX_RULE,
    half_set_seed: 0,
  });
  const configPath = join(dir, "config.json");
  writeFileSync(configPath, "{}");
  const scaledTable = table.copy();
  scaledTable.setColumn("intensity.scale.value", { type: "double", data: Float64Array.from(data.bragg.I) });
  scaledTable.setColumn("intensity.scale.variance", { type: "double", data: Float64Array.from(data.bragg.V) });
  scaledTable.setColumn("inverse_scale_factor", { type: "double", data: new Float64Array(table.nrows).fill(1) });
  api.setFlags(scaledTable, new Uint8Array(table.nrows).fill(1), api.ReflectionFlags.scaled);
  return {
    dir,
    expt: EXPT40,
    refl,
    h5,
    sg,
    experiments,
    exptJson: JSON.parse(readFileSync(EXPT40, "utf8")),
    table,
    scaledTable,
    model,
    refined,
    grid,
    merged,
    scalesJson,
    refinementJson,
    binned,
    mergedPath,
    configPath,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
