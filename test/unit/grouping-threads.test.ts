import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openBinnedDiffuse, writeBinnedDiffuse, type BinnedDiffuseAttributes } from "../../src/io/binned-diffuse.ts";
import { diffuseChunkSource, type BinnedPixelData } from "../../src/observations/diffuse-input.ts";
import { PLACEMENT_BLOCK_ROWS } from "../../src/observations/diffuse-placement-threads.ts";
import {
  buildScalingObservations,
  type BuildScalingObservationsOptions,
  type ScalingObservations,
} from "../../src/observations/scaling-observations.ts";
import { binnedRows, expectSameResident } from "./grouped-rows.ts";

const ATTRS: BinnedDiffuseAttributes = {
  ndiv: 1,
  hklMax: [20, 20, 20],
  voxelGridDims: [41, 41, 41],
  voxelIndexRule: "test",
};
const N_VOXELS = 41 ** 3;

let dir = "";
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "grouping-threads-test-"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const THREADED: BuildScalingObservationsOptions = { paged: false, threads: 2, threadedMinRows: 1 };

/** Groups `path` serially and in threads: the error each raises, or their results and selection counts. */
async function groupBoth(
  path: string,
  nStills: number,
): Promise<{ serial: ScalingObservations | Error; threaded: ScalingObservations | Error; counts: unknown[] }> {
  const counts: unknown[] = [];
  const build = async (options: BuildScalingObservationsOptions): Promise<ScalingObservations | Error> => {
    const file = await openBinnedDiffuse(path);
    try {
      const { source, counts: c } = diffuseChunkSource(file, nStills);
      const obs = buildScalingObservations(nStills, undefined, source, options);
      counts.push({ ...c });
      return obs;
    } catch (error) {
      return error as Error;
    } finally {
      file.close();
    }
  };
  return { serial: await build({ paged: false }), threaded: await build(THREADED), counts };
}

describe("diffuse grouping threads over a binned file (rows read by ranges, selected in the threads)", () => {
  const nStills = 30;
  const nRows = 2 * PLACEMENT_BLOCK_ROWS + 12_345;

  it("counts, selects and places the rows of several blocks exactly as the serial passes", async () => {
    const data = binnedRows(nStills, nRows, 4000, 5, { first: 0, step: 7, unusable: true });
    for (const compression of [false, true]) {
      const path = join(dir, `rows-${compression}.h5`);
      await writeBinnedDiffuse(path, data, ATTRS, { compression, chunkRows: 10_000 });
      const { serial, threaded, counts } = await groupBoth(path, nStills - 3); // the last 3 stills: unknown
      if (serial instanceof Error) throw serial;
      if (threaded instanceof Error) throw threaded;
      expect(serial.n).toBeGreaterThan(0.8 * nRows);
      expect(serial.n).toBeLessThan(nRows);
      expectSameResident(threaded, serial);
      expect(counts[1]).toEqual(counts[0]);
    }
  });

  it("raises the serial pass's error for a row it cannot select, read or count", async () => {
    const faults: [string, (d: BinnedPixelData) => void][] = [
      ["non-finite q", (d) => (d.qVectors[3 * (PLACEMENT_BLOCK_ROWS + 77) + 1] = Infinity)],
      ["negative still", (d) => (d.stillIds[nRows - 10] = -2)],
      ["voxel outside the grid", (d) => (d.voxelIndices[PLACEMENT_BLOCK_ROWS + 5] = N_VOXELS + 3)],
    ];
    for (const [name, fault] of faults) {
      const data = binnedRows(nStills, nRows, 4000, 9, { first: 0, step: 7, unusable: true });
      fault(data);
      const path = join(dir, `fault-${name.replaceAll(" ", "-")}.h5`);
      await writeBinnedDiffuse(path, data, ATTRS, { compression: false });
      const { serial, threaded } = await groupBoth(path, nStills);
      expect(serial, name).toBeInstanceOf(Error);
      expect(threaded, name).toBeInstanceOf(Error);
      expect((threaded as Error).constructor, name).toBe((serial as Error).constructor);
      expect((threaded as Error).message, name).toBe((serial as Error).message);
    }
  });
});
