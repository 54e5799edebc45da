/**
 * Contracts at the edges: each case is refused with a typed error (exit 2 through the CLI) whose one-line message
 * names the file or the argument at fault, before any refinement and within a bounded time; JavaScript callers that
 * pass arguments of the wrong type get a `ConfigError`, never a plain `TypeError`.
 */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError, InputError } from "../../src/errors.ts";
import { openBinnedDiffuse } from "../../src/io/binned-diffuse.ts";
import { scaleDataset } from "../../src/job/scale-dataset.ts";
import { voxelizeFiles } from "../../src/job/voxelize-files.ts";
import { mergeDiffuse } from "../../src/merge/merge.ts";
import { resolveDiffuseScalingConfig } from "../../src/refine/config.ts";
import { DiffuseScalingModel } from "../../src/refine/diffuse-scaling-model.ts";
import { resolveScalingOptions } from "../../src/refine/scaling-options.ts";
import { simulateDataset } from "../../src/simulate/simulate-dataset.ts";
import { resolveSimulateOptions } from "../../src/simulate/simulation-options.ts";
import { SpaceGroup } from "../../src/symmetry/space-group.ts";
import { makeVoxelGrid } from "../../src/voxelize/voxel-grid.ts";
import { runMain } from "./cli-in-process.ts";
import { GRID, HALL, N_STILLS, braggTable, dataset, writeSmallData, writeSmallExpt } from "./small-dataset.ts";

const LZF = fileURLToPath(new URL("../fixtures/hdf5-filters/lzf-binned.h5", import.meta.url));

let dir: string;
let expt: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "edge-contracts-"));
  expt = join(dir, "stills.expt");
  writeSmallExpt(expt);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Exit 2, nothing on stdout, one line on stderr matching `pattern`, within `ms`. */
async function expectRefused(args: string[], pattern: RegExp, ms = 10_000): Promise<string> {
  const t0 = performance.now();
  const r = await runMain(...args);
  expect(performance.now() - t0).toBeLessThan(ms);
  expect(r.code, r.err).toBe(2);
  expect(r.out).toBe("");
  expect(r.err.trimEnd().split("\n")).toHaveLength(1);
  expect(r.err).not.toMatch(/\n\s+at /);
  expect(r.err).toMatch(pattern);
  return r.err;
}

/** The error `f` throws (or rejects with). */
async function thrown(f: () => unknown): Promise<unknown> {
  try {
    await f();
  } catch (error) {
    return error;
  }
  return undefined;
}

/** `f` throws a `ConfigError` whose message matches `pattern` (never a TypeError). */
async function expectConfigError(f: () => unknown, pattern: RegExp): Promise<void> {
  const e = await thrown(f);
  expect(e, String(e)).toBeInstanceOf(ConfigError);
  expect((e as Error).message).toMatch(pattern);
}

describe("unit cells that disagree are refused, naming the file and the experiment", () => {
  it("one crystal with a doubled axis: exit 2 before the reflections are read", async () => {
    const doubled = join(dir, "doubled.expt");
    writeSmallExpt(doubled, (doc) => {
      const a = doc.crystal[3].real_space_a as number[];
      doc.crystal[3].real_space_a = a.map((x) => 2 * x);
    });
    const err = await expectRefused(
      ["scale", "--expt", doubled, "--refl", join(dir, "absent.refl"), "--out", join(dir, "o1")],
      /experiment 3: unit cell \(158\.2, 79\.1, 37\.9, 90, 90, 90\) differs from the median cell .* in a by 100\.0 %, more than the 5 % allowed/,
    );
    expect(err).toContain(`${doubled}: `);
  });

  it("a binned file whose recorded unit_cell disagrees with the crystals: exit 2 naming the .h5", async () => {
    const { refl, h5 } = await writeSmallData(dir, "cell-attr", dataset(), {
      unit_cell: [79.1, 79.1, 75.8, 90, 90, 90],
    });
    await expectRefused(
      ["scale", "--expt", expt, "--refl", refl, "--diffuse", h5, "--out", join(dir, "o2")],
      new RegExp(`${h5.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: attribute 'unit_cell': unit cell .* in c by 100\\.0 %`),
    );
  });

  it("cells within the tolerance (1 % apart) are accepted", async () => {
    const near = join(dir, "near.expt");
    writeSmallExpt(near, (doc) => {
      doc.crystal[2].real_space_c = (doc.crystal[2].real_space_c as number[]).map((x) => 1.01 * x);
    });
    const { refl } = await writeSmallData(dir, "near", dataset());
    const r = await runMain("scale", "--expt", near, "--refl", refl, "--out", join(dir, "o3"), "--quiet");
    expect(r.code, r.err).toBe(0);
  });
});

describe("messages stay one short line and name what is at fault", () => {
  it("a 1 MB Hall symbol is quoted cut to 120 characters, naming the .expt", async () => {
    const big = join(dir, "big-hall.expt");
    writeSmallExpt(big, (doc) => {
      for (const c of doc.crystal) c.space_group_hall_symbol = ` P 1 (${"x,".repeat(500_000)}z)`;
    });
    const err = await expectRefused(
      ["scale", "--expt", big, "--refl", join(dir, "absent.refl"), "--out", join(dir, "o4")],
      /: crystal space group: bad Hall symbol "P 1 \(x,x,.*…": xyz operator "x,x,.*…" must have three/,
    );
    expect(err).toContain(`${big}: `);
    expect(err.length).toBeLessThan(600);
  });

  it("an HDF5 dataset with the LZF filter: 'unsupported filter LZF', naming the file and the dataset", async () => {
    const e = await thrown(() => openBinnedDiffuse(LZF));
    expect(e).toBeInstanceOf(InputError);
    expect((e as Error).message).toBe(
      `${LZF}: dataset 'intensities' uses unsupported filter LZF (HDF5 filter 32000); supported: deflate, shuffle, fletcher32, nbit, scaleoffset`,
    );
    expect((e as Error).message).not.toMatch(/plugin|__w/);
  });

  it("a non-finite q vector: exit 2 naming the file and the row, not 'not positive definite'", async () => {
    const data = dataset();
    data.diffuse.qVectors[3 * 5] = NaN;
    const { refl, h5 } = await writeSmallData(dir, "nan-q", data);
    await expectRefused(
      ["scale", "--expt", expt, "--refl", refl, "--diffuse", h5, "--smoother-points", "3", "--out", join(dir, "o5")],
      new RegExp(`: dataset 'q_vectors' row 5: q = \\(NaN, 0, 0\\) is not finite`),
    );
  });

  it("hkl_max [0,0,0] is refused when the binned file is opened, before refinement", async () => {
    const data = dataset();
    data.diffuse.voxelIndices.fill(0);
    const { refl, h5 } = await writeSmallData(dir, "hkl0", data, { hklMax: [0, 0, 0], voxelGridDims: [1, 1, 1] });
    const phases: string[] = [];
    const e = await thrown(() =>
      scaleDataset({
        exptPath: expt,
        reflPath: refl,
        diffusePath: h5,
        outDir: join(dir, "o6"),
        onProgress: (p) => phases.push(p.phase),
      }),
    );
    expect(e).toBeInstanceOf(InputError);
    expect((e as Error).message).toBe(`${h5}: attribute 'hkl_max' must be 3 integers >= 1, got [0,0,0]`);
    expect(phases).not.toContain("refine");
    // the library's merge checks its grid (and its other arguments) before anything else
    const B = new Float64Array(9);
    const state = { scales: new Float64Array(1) } as never;
    await expectConfigError(
      () => mergeDiffuse({} as never, state, makeVoxelGrid(2, [3, 3, 3]), B),
      /^mergeDiffuse: obs must be the observations of a refinement/,
    );
    const obs = { groupStart: new Int32Array(1), rows: {} } as never;
    await expectConfigError(
      () => mergeDiffuse(obs, state, { ndiv: 2, hklMax: [0, 0, 0], dims: [1, 1, 1] }, B),
      /^hkl_max must be positive integers, got \[0, 0, 0\]$/,
    );
    await expectConfigError(
      () => mergeDiffuse(obs, state, makeVoxelGrid(2, [3, 3, 3]), new Float64Array(9).fill(NaN)),
      /^mergeDiffuse: reciprocalB must be 9 finite numbers/,
    );
  });
});

describe("simulate refuses what it cannot do in bounded time and memory", () => {
  it("--cell 1e6,... is refused at once (the Miller-index box), and lengths outside 1..10000 Å", async () => {
    const base = ["simulate", "--stills", "2", "--observations-per-still", "10", "--out", join(dir, "sim")];
    await expectRefused(
      [...base, "--cell", "1e6,1e6,1e6,90,90,90", "--space-group", "P 1"],
      /--cell lengths must be in \[1, 10000\] Å, got 1000000,1000000,1000000/,
      2000,
    );
    await expectRefused(
      [...base, "--cell", "9000,9000,9000,90,90,90", "--space-group", "P 1"],
      /--cell 9000,9000,9000,90,90,90 with --dmin 2 asks for 729\d+ Miller indices to search, more than the 67108864 allowed/,
      2000,
    );
    await expectRefused(
      [...base.slice(0, 3), "--observations-per-still", "3000000000", "--out", join(dir, "sim")],
      /--observations-per-still must be an integer in 1\.\.2147483647, got 3000000000/,
      2000,
    );
  });

  it("voxelize --ndiv must be an integer", async () => {
    await expectRefused(
      ["voxelize", "--expt", expt, "--pixels", "none.npz", "--ndiv", "2.5", "--dmin", "2", "--out", join(dir, "v.h5")],
      /--ndiv must be a positive integer, got "2\.5"/,
    );
  });
});

describe("library arguments of the wrong type give typed errors, never a TypeError", () => {
  it("options objects", async () => {
    await expectConfigError(() => scaleDataset(null as never), /^scaleDataset: options must be an object, got null$/);
    await expectConfigError(() => simulateDataset(undefined as never), /^simulate options must be an object/);
    await expectConfigError(
      () => voxelizeFiles("x" as never),
      /^voxelizeFiles: options must be an object, got string$/,
    );
    await expectConfigError(() => resolveScalingOptions(null as never), /^scaling options must be an object/);
    await expectConfigError(() => resolveSimulateOptions(null as never), /^simulate options must be an object/);
    await expectConfigError(() => resolveDiffuseScalingConfig(null as never), /^configuration must be an object/);
    await expectConfigError(
      () => new DiffuseScalingModel({}, undefined as never),
      /^DiffuseScalingModel: options \(\{ nStills, spaceGroup\? \}\) must be an object, got undefined$/,
    );
  });

  it("model options: nStills a number, spaceGroup a SpaceGroup", async () => {
    await expectConfigError(
      () => new DiffuseScalingModel({}, { nStills: "2" as never }),
      /^nStills \(experiments\) must be an integer in 1\.\.16777216, got the string "2"$/,
    );
    await expectConfigError(
      () => new DiffuseScalingModel({}, { nStills: 2, spaceGroup: " P 1" as never }),
      /^spaceGroup must be a SpaceGroup \(SpaceGroup\.fromHall\), got the string " P 1"$/,
    );
  });

  it("an unknown minimiser name is refused", async () => {
    await expectConfigError(
      () => resolveScalingOptions({ minimizer: "bfgs" as never }),
      /^minimizer must be "lm" or "gauss_newton", got "bfgs"$/,
    );
  });

  it('getScalesForObservation("0", …) says the still id is a string', async () => {
    const model = new DiffuseScalingModel({}, { nStills: 2 });
    await expectConfigError(
      () => model.getScalesForObservation("0" as never, 0.1),
      /^getScalesForObservation: stillId must be an integer in 0\.\.1, got the string "0"$/,
    );
    await expectConfigError(
      () => model.getScalesForObservation(0, NaN),
      /^getScalesForObservation: qMagnitude \(\|q\|\) must be a finite number ≥ 0, got NaN$/,
    );
    expect(model.getScalesForObservation(1, 0.1)).toEqual([1, 0]);
  });

  it("refineParameters with data of the wrong type", async () => {
    const model = new DiffuseScalingModel({}, { nStills: N_STILLS, spaceGroup: SpaceGroup.fromHall(HALL) });
    await expectConfigError(
      () => model.refineParameters("diffuse.h5" as never, undefined),
      /^binnedPixelData must be an open binned file .* got the string "diffuse\.h5"$/,
    );
    await expectConfigError(
      () => model.refineParameters(undefined, { nrows: 3 } as never),
      /^braggReflections must be a ReflectionTable, got an object$/,
    );
    // the right types still work
    const data = dataset();
    const r = model.refineParameters(data.diffuse, braggTable(data.bragg), { threads: 1 });
    expect(r.refinedParameters.size).toBe(N_STILLS);
    expect(GRID.ndiv).toBe(2);
  });
});
