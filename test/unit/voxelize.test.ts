import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { readBinnedDiffuse } from "../../src/io/binned-diffuse.ts";
import { voxelizeFiles } from "../../src/job/voxelize-files.ts";
import { roundHalfEven, roundHalfEvenSmall } from "../../src/voxelize/voxelize.ts";
import { makeVoxelGrid, voxelCentre, voxelIndexOf } from "../../src/voxelize/voxel-grid.ts";

const sim = fileURLToPath(new URL("../../../shared/fixtures/sim/tetragonal-40/", import.meta.url));

describe("voxel grid", () => {
  it("index and centre are inverse to each other, with the simulator's rule", () => {
    const grid = makeVoxelGrid(2, [41, 41, 20]);
    expect(grid.dims).toEqual([165, 165, 81]);
    const out = new Float64Array(3);
    for (const [h, k, l] of [
      [0, 0, 0],
      [3, -5, 7],
      [-82, 82, -40],
      [82, -82, 40],
    ]) {
      const idx = voxelIndexOf(grid, h, k, l);
      expect(idx).toBe(((h + 82) * 165 + (k + 82)) * 81 + (l + 40));
      voxelCentre(grid, idx, out, 0);
      expect(Array.from(out)).toEqual([h / 2, k / 2, l / 2]);
    }
    expect(voxelIndexOf(grid, 83, 0, 0)).toBe(-1);
  });

  it("rounds half to even like NumPy", () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, -2.6].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, 2, -3]);
  });

  it("rounds as roundHalfEven with the 1.5·2^52 shift below 2^51, and stays large above", () => {
    const xs: number[] = [0, -0, 0.49999999999999994, -0.49999999999999994, 0.5000000000000001, 2 ** 51 - 0.5];
    for (let i = -3000; i <= 3000; i++) xs.push(i / 4, i + 0.5, i - 0.5, i + 0.4999999999999999, i / 3, i * 1e9 + 0.5);
    let seed = 1;
    for (let i = 0; i < 20000; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      xs.push((seed / 2 ** 32 - 0.5) * 10 ** (i % 16));
    }
    const wrong = xs.filter((x) => roundHalfEvenSmall(x) !== roundHalfEven(x));
    expect(wrong).toEqual([]);
    // beyond 2^51 both results are at least 2^51 in magnitude: outside any voxel grid alike
    for (const x of [2 ** 51, -(2 ** 51), 2 ** 52 + 1, -(2 ** 52) - 0.5, 1e300, -1e300, Infinity, -Infinity]) {
      expect(Math.abs(roundHalfEvenSmall(x))).toBeGreaterThanOrEqual(2 ** 51);
      expect(Math.abs(roundHalfEven(x))).toBeGreaterThanOrEqual(2 ** 51);
    }
    expect(roundHalfEvenSmall(NaN)).toBeNaN();
  });
});

describe.skipIf(!existsSync(join(sim, "pixels")))("voxelize on sim/tetragonal-40", () => {
  it("puts exactly the same observations together as the committed diffuse_binned.h5", async () => {
    const dir = await mkdtemp(join(tmpdir(), "voxelize-"));
    try {
      const out = join(dir, "binned.h5");
      const summary = await voxelizeFiles({
        exptPath: join(sim, "stills.expt"),
        pixels: [join(sim, "pixels", "still_*.npz")],
        ndiv: 2,
        dMin: 2.0,
        outPath: out,
      });
      const ours = await readBinnedDiffuse(out);
      const ref = await readBinnedDiffuse(join(sim, "diffuse_binned.h5"));
      expect(summary.nFiles).toBe(40);
      expect(ours.intensities.length).toBe(ref.intensities.length);
      expect(ours.attributes.voxelGridDims).toEqual(ref.attributes.voxelGridDims);
      expect(ours.attributes.hklMax).toEqual(ref.attributes.hklMax);
      let mismatches = 0;
      for (let i = 0; i < ref.intensities.length; i++) {
        if (ours.voxelIndices[i] !== ref.voxelIndices[i] || ours.stillIds[i] !== ref.stillIds[i]) mismatches++;
        if (ours.intensities[i] !== ref.intensities[i]) mismatches++;
      }
      expect(mismatches).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
