/** The README's library example, run on the bundled example data through the package entry. */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import {
  buildScalesJson,
  DiffuseScalingModel,
  readBinnedDiffuse,
  readExperiments,
  readReflections,
  SpaceGroup,
  writeScalesJson,
} from "../../src/index.ts";

const examples = fileURLToPath(new URL("../../examples/", import.meta.url));

it("the README library example runs and writes scales.json", async () => {
  const experiments = await readExperiments(join(examples, "stills.expt"));
  const reflections = await readReflections(join(examples, "stills.refl"));
  const binned = await readBinnedDiffuse(join(examples, "diffuse_binned.h5"));
  const hall = experiments.experiments[0].crystal?.spaceGroupHall ?? "";
  const spaceGroup = SpaceGroup.fromHall(hall);
  const model = new DiffuseScalingModel(
    { resolutionSmoother: { enabled: true, nControlPoints: 3 } },
    { nStills: experiments.length, spaceGroup },
  );
  const iterations: number[] = [];
  const result = model.refineParameters(binned, reflections, {
    maxIterations: 100,
    convergenceTolerance: 1e-4,
    minimizer: "lm",
    onProgress: (e) => iterations.push(e.iteration),
  });
  expect(iterations.length).toBeGreaterThan(1);
  expect(result.refinedParameters.get(0)?.additiveOffset).toBe(0);
  expect(result.statistics.convergenceAchieved).toBe(true);
  const [m, c] = model.getScalesForObservation(0, 0.25);
  expect(m).toBeGreaterThan(0);
  expect(c).toBe(0);
  const dir = await mkdtemp(join(tmpdir(), "readme-"));
  try {
    await writeScalesJson(
      join(dir, "scales.json"),
      buildScalesJson(model, result, "lm", { readS: 0, refineS: 0, mergeS: 0, writeS: 0 }),
    );
    const doc = JSON.parse(await readFile(join(dir, "scales.json"), "utf8")) as {
      resolution_smoother: { enabled: boolean };
    };
    expect(doc.resolution_smoother.enabled).toBe(true);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
