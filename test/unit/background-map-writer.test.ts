import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError } from "../../src/errors.ts";
import { writeMergedDiffuse, type MergedDiffuseMap } from "../../src/io/merged-diffuse.ts";
import { writeMergedDiffuseInBackground } from "../../src/job/background-map-writer.ts";

const tmp = mkdtempSync(join(tmpdir(), "map-writer-test-"));
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

function sampleMap(v: number): MergedDiffuseMap {
  let s = 12345;
  const r = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  return {
    voxelIndex: Float64Array.from({ length: v }, (_, i) => 5 * i + 1),
    hkl: Float64Array.from({ length: 3 * v }, () => Math.round((r() - 0.5) * 60) / 2),
    qMagnitude: Float64Array.from({ length: v }, () => r() * 0.5),
    intensity: Float64Array.from({ length: v }, () => (r() - 0.1) * 1e4),
    sigma: Float64Array.from({ length: v }, () => 1 / Math.sqrt(1 + r() * 100)),
    nObservations: Int32Array.from({ length: v }, () => Math.floor(r() * 50)),
    halfSet1: Float64Array.from({ length: v }, (_, i) => (i % 5 === 0 ? Number.NaN : r() * 1e4)),
    halfSet2: Float64Array.from({ length: v }, () => -r() * 1e4),
  };
}

describe("writeMergedDiffuseInBackground", () => {
  it("writes the bytes writeMergedDiffuse writes (in a worker thread), and leaves the map unchanged", async () => {
    const map = sampleMap(70_000);
    const before = map.intensity.slice();
    const attributes = { ndiv: 2, hkl_max: [30, 30, 15], source: "binned.h5", half_set_seed: 7 };
    const here = join(tmp, "here.h5");
    const there = join(tmp, "there.h5");
    await writeMergedDiffuse(here, map, attributes);
    const written = writeMergedDiffuseInBackground(there, map, attributes);
    // the caller goes on meanwhile; the map is a copy on the worker's side
    expect(map.intensity).toEqual(before);
    await written;
    expect(readFileSync(there).equals(readFileSync(here))).toBe(true);
  });

  it("fails with writeMergedDiffuse's own typed error (written again on the calling thread)", async () => {
    const bad = { ...sampleMap(4), sigma: new Float64Array(3) };
    await expect(writeMergedDiffuseInBackground(join(tmp, "bad.h5"), bad, {})).rejects.toThrow(ConfigError);
    await expect(writeMergedDiffuseInBackground(join(tmp, "bad.h5"), bad, {})).rejects.toThrow(
      /sigma has length 3, expected 4/,
    );
  });
});
