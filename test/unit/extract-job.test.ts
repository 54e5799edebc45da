import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openBinnedDiffuse, readBinnedDiffuse } from "../../src/io/binned-diffuse.ts";
import { readMiniCbf } from "../../src/io/cbf-read.ts";
import { extractDiffuse } from "../../src/extract/extract-diffuse.ts";
import { resolveExtractOptions } from "../../src/extract/extract-options.ts";
import { panelPixelGeometry } from "../../src/extract/pixel-geometry.ts";
import { stillMask } from "../../src/extract/pixel-masks.ts";
import { binStill } from "../../src/extract/still-binning.ts";
import { planStills, setupSpaceGroup } from "../../src/extract/still-plan.ts";
import { VoxelAccumulator } from "../../src/extract/voxel-accumulator.ts";
import { roundHalfEven } from "../../src/voxelize/voxelize.ts";
import { voxelIndexOf } from "../../src/voxelize/voxel-grid.ts";

const fixture = fileURLToPath(new URL("../../../shared/fixtures/sim/images-8/", import.meta.url));
let dir = "";

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "extract-job-"));
  // the first two stills of images-8, image paths made absolute (DIALS resolves relative ones against the .expt)
  const doc = JSON.parse(readFileSync(join(fixture, "stills.expt"), "utf8")) as {
    experiment: unknown[];
    imageset: { images: string[] }[];
  };
  doc.experiment = doc.experiment.slice(0, 2);
  for (const s of doc.imageset) s.images = s.images.map((p) => join(fixture, p));
  await writeFile(join(dir, "two.expt"), JSON.stringify(doc));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The `experiment_identifiers` of a binned file, as `scale` reads them. */
async function identifiersOf(path: string): Promise<readonly string[] | undefined> {
  const file = await openBinnedDiffuse(path);
  try {
    return file.experimentIdentifiers;
  } finally {
    file.close();
  }
}

describe("extract", () => {
  it("bins a still as a pixel-by-pixel reference does (geometry of panelPixelGeometry, voxel rule of voxelize)", async () => {
    const options = resolveExtractOptions({
      expt: [join(fixture, "stills.expt")],
      refl: [join(fixture, "stills.refl")],
      ndiv: 2,
      dMin: 1.8,
      outPath: join(dir, "unused.h5"),
    });
    const { plans, setup } = await planStills(options);
    const plan = plans[3];
    const spaceGroup = setupSpaceGroup(setup);
    const image = readMiniCbf(plan.image.path).data;
    const mask = stillMask(plan.panels, undefined, plan.boxes, 0)?.[0];
    const rows = binStill(
      {
        panels: plan.panels,
        data: [image],
        ...(mask ? { mask: [mask] } : {}),
        beam: plan.beam,
        realSpace: plan.realSpace,
      },
      { ...setup, spaceGroup },
      new VoxelAccumulator(16),
    );
    // reference: every pixel on its own
    const g = panelPixelGeometry(plan.panels[0], plan.beam);
    const n = image.length;
    const sub = new Int32Array(3 * n);
    const keep = new Uint8Array(n);
    const [a0, a1, a2, b0, b1, b2, c0, c1, c2] = plan.realSpace;
    for (let i = 0; i < n; i++) {
      const v = image[i];
      if (!(v > -1 && v < 1e6) || (mask !== undefined && mask[i] === 0)) continue;
      const [qx, qy, qz] = [g.q[3 * i], g.q[3 * i + 1], g.q[3 * i + 2]];
      if (Math.sqrt(qx * qx + qy * qy + qz * qz) > 1 / 1.8) continue;
      keep[i] = 1;
      sub[3 * i] = roundHalfEven((a0 * qx + a1 * qy + a2 * qz) * 2);
      sub[3 * i + 1] = roundHalfEven((b0 * qx + b1 * qy + b2 * qz) * 2);
      sub[3 * i + 2] = roundHalfEven((c0 * qx + c1 * qy + c2 * qz) * 2);
    }
    spaceGroup.mapToAsuBatch(sub, false, sub);
    const sums = new Map<number, [number, number, number]>();
    for (let i = 0; i < n; i++) {
      if (!keep[i]) continue;
      const voxel = voxelIndexOf(setup.grid, sub[3 * i], sub[3 * i + 1], sub[3 * i + 2]);
      const s = sums.get(voxel) ?? [0, 0, 0];
      s[0] += image[i];
      s[1] += g.polarization[i] * g.solidAngle[i];
      s[2]++;
      sums.set(voxel, s);
    }
    expect(rows.voxel.length).toBe(sums.size);
    let worst = 0;
    for (let r = 0; r < rows.voxel.length; r++) {
      const s = sums.get(rows.voxel[r]);
      if (s === undefined) throw new Error(`voxel ${rows.voxel[r]} not in the reference`);
      expect(rows.pixels[r]).toBe(s[2]);
      worst = Math.max(worst, Math.abs(rows.intensity[r] / (s[0] / s[1]) - 1));
      worst = Math.max(worst, Math.abs(rows.sigma[r] / (Math.sqrt(Math.max(s[0], 1)) / s[1]) - 1));
    }
    expect(worst).toBeLessThan(1e-12);
    expect(rows.counts.used + rows.counts.untrusted + rows.counts.masked + rows.counts.outsideResolution).toBe(n);
    expect(rows.counts.masked).toBeGreaterThan(0);
  });

  it("writes the binned layout with identifiers and attributes, the same for 1 and 2 threads", async () => {
    const run = (threads: number, out: string) =>
      extractDiffuse({
        expt: [join(dir, "two.expt")],
        refl: [join(fixture, "stills.refl")],
        ndiv: 2,
        dMin: 1.8,
        outPath: join(dir, out),
        threads,
      });
    const events: number[] = [];
    const one = await extractDiffuse({
      expt: [join(dir, "two.expt")],
      refl: [join(fixture, "stills.refl")],
      ndiv: 2,
      dMin: 1.8,
      outPath: join(dir, "one.h5"),
      onProgress: (e) => events.push(e.done),
    });
    const two = await run(2, "two.h5");
    expect(events).toEqual([1, 2]);
    expect(one.stills).toBe(2);
    expect(two.rows).toBe(one.rows);
    expect(readFileSync(join(dir, "one.h5")).equals(readFileSync(join(dir, "two.h5")))).toBe(true);
    const data = await readBinnedDiffuse(join(dir, "one.h5"));
    expect(data.intensities.length).toBe(one.rows);
    expect(new Set(data.stillIds)).toEqual(new Set([0, 1]));
    expect(data.attributes.extract_polarization).toBe(1);
    expect(data.attributes.extract_dmin).toBe(1.8);
    expect(await identifiersOf(join(dir, "one.h5"))).toEqual(["still-00000", "still-00001"]);
    // every sigma positive; I/σ is the counting precision of its pixels
    expect(data.sigmas.every((s) => s > 0)).toBe(true);
  });
});

describe("extract from a NeXus still", () => {
  it("reads the frame named by single_file_indices through the master's external links", async () => {
    const nexus = fileURLToPath(new URL("../fixtures/extract/nexus_master.h5", import.meta.url));
    const doc = JSON.parse(readFileSync(join(fixture, "stills.expt"), "utf8")) as {
      experiment: { identifier: string }[];
      imageset: Record<string, unknown>[];
      detector: { panels: Record<string, unknown>[] }[];
    };
    doc.experiment = doc.experiment.slice(0, 1);
    doc.experiment[0].identifier = "nexus-0";
    doc.imageset[0] = { __id__: "ImageSet", images: [nexus], single_file_indices: [1] };
    Object.assign(doc.detector[0].panels[0], {
      image_size: [64, 48],
      trusted_range: [-1, 65535],
      origin: [-30, 20, -100],
    });
    await writeFile(join(dir, "nexus.expt"), JSON.stringify(doc));
    const summary = await extractDiffuse({
      expt: [join(dir, "nexus.expt")],
      refl: [join(fixture, "stills.refl")],
      ndiv: 2,
      dMin: 1.8,
      outPath: join(dir, "nexus.h5"),
    });
    // frame 1 alone has one pixel at 0xFFFFFFFF (outside the trusted range); every other pixel is binned
    expect(summary.pixels).toBe(64 * 48);
    expect(summary.untrusted).toBe(1);
    expect(summary.used).toBe(64 * 48 - 1);
    expect(await identifiersOf(join(dir, "nexus.h5"))).toEqual(["nexus-0"]);
  });

  it("extracts the stills of a bitshuffle-LZ4 NXmx image set as dxtbx modelled it (relative image path)", async () => {
    // make_nxmx_bslz4.py: 3 stills, images = the master relative to the .expt, single_file_indices 0, 1, 2
    const expt = fileURLToPath(new URL("../fixtures/extract/nxmx_bslz4.expt", import.meta.url));
    const summary = await extractDiffuse({
      expt: [expt],
      refl: [join(fixture, "stills.refl")],
      ndiv: 2,
      dMin: 1.8,
      outPath: join(dir, "nxmx.h5"),
    });
    // frame 1 has one pixel at 0xFFFFFFFF, above the trusted range; every other pixel of the 3 frames is binned
    expect(summary.pixels).toBe(3 * 64 * 48);
    expect(summary.untrusted).toBe(1);
    expect(summary.used).toBe(3 * 64 * 48 - 1);
    expect(await identifiersOf(join(dir, "nxmx.h5"))).toEqual(["nxmx-0", "nxmx-1", "nxmx-2"]);
  });
});
