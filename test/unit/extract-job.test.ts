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
import { planStills } from "../../src/extract/still-plan.ts";
import { setupSpaceGroup } from "../../src/extract/still-run.ts";
import { VoxelAccumulator } from "../../src/extract/voxel-accumulator.ts";
import { GeometryCache } from "../../src/extract/geometry-cache.ts";
import { roundHalfEven } from "../../src/voxelize/voxelize.ts";
import { voxelCentre, voxelIndexOf } from "../../src/voxelize/voxel-grid.ts";
import { fractionalizationMatrix } from "../../src/geometry/unit-cell.ts";
import { mat3Transpose } from "../../src/geometry/vector-maths.ts";
import { diffuseIntensityAt } from "../../src/simulate/diffuse-model.ts";

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
    // CPU time of reading and binning (every thread) is measured
    expect(one.cpuSeconds).toBeGreaterThan(0);
    expect(two.cpuSeconds).toBeGreaterThan(0);
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

describe("extract on images-8 against the truth", () => {
  // The images hold Poisson(0.5·b·D(voxel)·P·Ω) counts, so a row with Σc counts over pixels of Σ(P·Ω) = S has the
  // expectation λ = 0.5·b·D·S. Any systematic error (a correction applied wrongly, pixels in the wrong voxel, a biased
  // σ) shows as rows off λ, as a |q| trend, or as a merged map whose correlation with D falls below what the counting
  // noise of these very rows allows. Measured: z mean −0.003, var 1.002; shells within 0.05 %.
  it("gives rows that scatter about the true D as Poisson counts, and a map at the counting-noise bound", async () => {
    const truth = JSON.parse(readFileSync(join(fixture, "truth.json"), "utf8")) as {
      true_scales: number[];
      args: { cell: string };
    };
    const cell = truth.args.cell.split(",").map(Number) as [number, number, number, number, number, number];
    const B = mat3Transpose(fractionalizationMatrix(cell));
    const options = resolveExtractOptions({
      expt: [join(fixture, "stills.expt")],
      refl: [join(fixture, "stills.refl")],
      ndiv: 2,
      dMin: 1.8,
      outPath: join(dir, "unused.h5"),
    });
    const { plans, setup } = await planStills(options);
    const spaceGroup = setupSpaceGroup(setup);
    const [acc, cache] = [new VoxelAccumulator(16), new GeometryCache()];
    const centre = new Float64Array(3);
    const trueD = new Map<number, number>();
    // per voxel: Σ w·(I/g), Σ w with w = g²/σ² (the merge's weights), and Σ 1/v of the expected row variances v
    const voxels = new Map<number, [number, number, number]>();
    const shellEdges = [0, 0.2, 0.3, 0.4, 0.5, 1];
    const shells = shellEdges.slice(1).map(() => [0, 0]);
    let n = 0;
    let sz = 0;
    let szz = 0;
    for (const plan of plans) {
      const mask = stillMask(plan.panels, undefined, plan.boxes, 0)?.[0];
      const rows = binStill(
        {
          panels: plan.panels,
          data: [readMiniCbf(plan.image.path).data],
          ...(mask ? { mask: [mask] } : {}),
          beam: plan.beam,
          realSpace: plan.realSpace,
        },
        { ...setup, spaceGroup },
        acc,
        cache,
      );
      const g = 0.5 * truth.true_scales[plan.still];
      for (let r = 0; r < rows.voxel.length; r++) {
        const voxel = rows.voxel[r];
        const [I, s] = [rows.intensity[r], rows.sigma[r]];
        // I = Σc/S and σ = √max(Σc, 1)/S give back S and Σc (integer counts: Σc = 0 or ≥ 1)
        const S = I > 0 ? I / (s * s) : 1 / s;
        const counts = I * S;
        let D = trueD.get(voxel);
        if (D === undefined) {
          voxelCentre(setup.grid, voxel, centre, 0);
          D = diffuseIntensityAt(B, centre[0], centre[1], centre[2]);
          trueD.set(voxel, D);
        }
        const lambda = g * D * S;
        const z = (counts - lambda) / Math.sqrt(lambda);
        n++;
        sz += z;
        szz += z * z;
        const q = Math.hypot(rows.q[3 * r], rows.q[3 * r + 1], rows.q[3 * r + 2]);
        let k = 0;
        while (q >= shellEdges[k + 1]) k++;
        const shell = shells[k];
        shell[0] += counts;
        shell[1] += lambda;
        const w = (g * g) / (s * s);
        const m = voxels.get(voxel) ?? [0, 0, 0];
        m[0] += w * (I / g);
        m[1] += w;
        m[2] += (g * S) ** 2 / lambda;
        voxels.set(voxel, m);
      }
    }
    expect(n).toBe(136742);
    const zMean = sz / n;
    const zVar = szz / n - zMean * zMean;
    // standard errors: 1/√n = 0.0027 for the mean, √(2/n) = 0.0038 for the variance
    expect(Math.abs(zMean)).toBeLessThan(0.015);
    expect(Math.abs(zVar - 1)).toBeLessThan(0.02);
    // no |q| trend: counts over expectation per shell within 0.3 % (each shell's standard error ≤ 0.06 %)
    for (const [c, l] of shells) expect(Math.abs(c / l - 1)).toBeLessThan(0.003);
    // the merged map against D, and the correlation a perfect extraction of these pixels gets:
    // √(var D / (var D + mean noise variance)), the noise variance of a voxel 1/Σ(1/v)
    let [sD, sDD, sM, sMM, sDM, sV] = [0, 0, 0, 0, 0, 0];
    for (const [voxel, [swi, sw, sInvV]] of voxels) {
      const D = trueD.get(voxel) ?? NaN;
      const M = swi / sw;
      sD += D;
      sDD += D * D;
      sM += M;
      sMM += M * M;
      sDM += D * M;
      sV += 1 / sInvV;
    }
    const nv = voxels.size;
    const varD = sDD / nv - (sD / nv) ** 2;
    const correlation = (sDM / nv - (sD / nv) * (sM / nv)) / Math.sqrt(varD * (sMM / nv - (sM / nv) ** 2));
    const bound = Math.sqrt(varD / (varD + sV / nv));
    expect(nv).toBe(90603);
    // measured 0.998263 against the bound 0.998259; the bound's spread over Poisson draws is 3e-5 (20 draws), and a
    // systematic error of 1 % rms per voxel would lower the correlation by 1.3e-4
    expect(Math.abs(correlation - bound)).toBeLessThan(1e-4);
    // counting noise alone keeps this fixture's map below 0.999: it would need 1.7× the pixels
    expect(bound).toBeLessThan(0.999);
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
