import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { readExperiments } from "../../src/io/expt.ts";
import { parsePanelFields } from "../../src/io/expt-imagesets.ts";
import { readNpz } from "../../src/io/npz.ts";
import { CACHED_PIXEL_STRIDE, GeometryCache } from "../../src/extract/geometry-cache.ts";
import { beamFrameOf, panelFrameOf, panelPixelGeometry, type PanelFrame } from "../../src/extract/pixel-geometry.ts";

// make_pixel_reference.py computed these with dxtbx (pixel_to_millimeter, get_lab_coord) and DIALS
// (Corrections.lp, Corrections.qe): every 509th pixel, and per-panel sums over every pixel
const dir = fileURLToPath(new URL("../fixtures/extract/", import.meta.url));
const TOL = 1e-9;

async function check(exptName: string, prefix: string): Promise<void> {
  const experiments = await readExperiments(dir + exptName);
  const doc = JSON.parse(readFileSync(dir + exptName, "utf8")) as { detector: { panels: Record<string, unknown>[] }[] };
  const e = experiments.experiments[0];
  if (e.detector === undefined || e.beam === undefined) throw new Error("fixture lacks a detector or beam");
  const ref = await readNpz(dir + "pixel_reference.npz");
  const arr = (key: string): ArrayLike<number> => {
    const a = ref.get(`${prefix}_${key}`);
    if (a === undefined) throw new Error(`missing ${prefix}_${key}`);
    return a.data as ArrayLike<number>;
  };
  const beam = beamFrameOf(e.beam);
  for (const [k, p] of e.detector.panels.entries()) {
    const panel = panelFrameOf(p, parsePanelFields(doc.detector[0].panels[k], `panel ${k}`, exptName));
    const g = panelPixelGeometry(panel, beam);
    const hasSensor = panel.mu > 0 && panel.thickness > 0;
    // int64 on disk (a BigInt64Array)
    const index = Array.from(arr(`p${k}_index`) as unknown as ArrayLike<bigint>, Number);
    const q = arr(`p${k}_q`);
    let worst = 0;
    for (let t = 0; t < index.length; t++) {
      const i = index[t];
      for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(g.q[3 * i + c] - q[3 * t + c]));
      worst = Math.max(worst, Math.abs(g.polarization[i] - arr(`p${k}_P`)[t]));
      worst = Math.max(worst, Math.abs(g.solidAngle[i] - arr(`p${k}_Omega`)[t]));
      // DIALS's qe is 1 − exp(0) = 0 for a panel without μ and thickness; extraction then applies no QE (factor 1)
      if (hasSensor) worst = Math.max(worst, Math.abs(g.qe[i] - arr(`p${k}_QE`)[t]));
      else expect([g.qe[i], arr(`p${k}_QE`)[t]]).toEqual([1, 0]);
    }
    expect(worst).toBeLessThan(TOL);
    // checksums of every pixel (sums in a different order: relative tolerance)
    const sum = (a: Float64Array, stride = 1, c = 0): number => {
      let s = 0;
      for (let i = c; i < a.length; i += stride) s += a[i];
      return s;
    };
    const rel = (a: number, b: number): number => Math.abs(a - b) / Math.max(1, Math.abs(b));
    expect(rel(sum(g.polarization), arr(`p${k}_sum_P`)[0])).toBeLessThan(1e-12);
    expect(rel(sum(g.solidAngle), arr(`p${k}_sum_Omega`)[0])).toBeLessThan(1e-12);
    if (hasSensor) expect(rel(sum(g.qe), arr(`p${k}_sum_QE`)[0])).toBeLessThan(1e-12);
    for (let c = 0; c < 3; c++) expect(rel(sum(g.q, 3, c), arr(`p${k}_sum_q`)[c])).toBeLessThan(1e-12);
  }
}

/** Every pixel of the NXmx still (make_nxmx_bslz4.py: dxtbx's FormatNXmx model of a bitshuffle-LZ4 NeXus image). */
async function checkEveryPixel(exptName: string, npzName: string): Promise<void> {
  const experiments = await readExperiments(dir + exptName);
  const doc = JSON.parse(readFileSync(dir + exptName, "utf8")) as { detector: { panels: Record<string, unknown>[] }[] };
  const ref = await readNpz(dir + npzName);
  const arr = (key: string): Float64Array => {
    const a = ref.get(key);
    if (a === undefined) throw new Error(`missing ${key}`);
    return a.data as Float64Array;
  };
  for (const e of experiments.experiments) {
    if (e.detector === undefined || e.beam === undefined) throw new Error("fixture lacks a detector or beam");
    expect(e.detector.panels.length).toBe(1);
    const panel = panelFrameOf(e.detector.panels[0], parsePanelFields(doc.detector[0].panels[0], "panel 0", exptName));
    expect(panel.mu > 0 && panel.thickness > 0).toBe(true);
    const g = panelPixelGeometry(panel, beamFrameOf(e.beam));
    const [q, P, Omega, QE] = [arr("q"), arr("P"), arr("Omega"), arr("QE")];
    expect(g.polarization.length).toBe(P.length);
    expect(q.length).toBe(3 * P.length);
    let worst = 0;
    for (let i = 0; i < P.length; i++) {
      for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(g.q[3 * i + c] - q[3 * i + c]));
      worst = Math.max(worst, Math.abs(g.polarization[i] - P[i]));
      worst = Math.max(worst, Math.abs(g.solidAngle[i] - Omega[i]));
      worst = Math.max(worst, Math.abs(g.qe[i] - QE[i]));
    }
    expect(worst).toBeLessThan(TOL);
  }
}

describe("per-pixel geometry and corrections against dxtbx/DIALS", () => {
  it("NeXus still (NXmx, bitshuffle-LZ4, tilted Si detector with parallax and QE): every pixel", async () => {
    await checkEveryPixel("nxmx_bslz4.expt", "nxmx_pixel_reference.npz");
  });

  it("CBF still (images-8 experiment 0, no sensor model): q, polarization, solid angle", async () => {
    await check("images8-stills.expt", "cbf");
  });

  it("tilted 2-panel detector, parallax-corrected silicon sensor with QE, other beam polarization", async () => {
    await check("tilted.expt", "tilted");
  });
});

describe("the binning's per-thread geometry cache", () => {
  it("holds panelPixelGeometry's pixels inside the resolution limits, bit for bit, as spans", async () => {
    const experiments = await readExperiments(dir + "tilted.expt");
    const doc = JSON.parse(readFileSync(dir + "tilted.expt", "utf8")) as {
      detector: { panels: Record<string, unknown>[] }[];
    };
    const e = experiments.experiments[0];
    if (e.detector === undefined || e.beam === undefined) throw new Error("fixture lacks a detector or beam");
    const beam = beamFrameOf(e.beam);
    // the two parallax-corrected Si panels, the second made 500 rows high (computed in three blocks of rows)
    const panels: PanelFrame[] = e.detector.panels.map((p, k) =>
      panelFrameOf(p, parsePanelFields(doc.detector[0].panels[k], `panel ${k}`, "tilted.expt")),
    );
    panels[1] = { ...panels[1], imageSize: [300, 500] };
    const whole = panels.map((p) => panelPixelGeometry(p, beam));
    const lengths = whole.flatMap((g) =>
      Array.from({ length: g.polarization.length }, (_, i) => Math.hypot(g.q[3 * i], g.q[3 * i + 1], g.q[3 * i + 2])),
    );
    lengths.sort((a, b) => a - b);
    const qMin = lengths[Math.floor(0.3 * lengths.length)];
    const qMax = lengths[Math.floor(0.8 * lengths.length)];
    for (const switches of [
      { polarization: true, solidAngle: true, qe: true },
      { polarization: false, solidAngle: true, qe: false },
    ]) {
      const cached = new GeometryCache().get(panels, beam, { ...switches, qMin, qMax });
      let kept = 0;
      for (const [k, g] of whole.entries()) {
        const { spans, pixels } = cached[k];
        const inSpan = new Uint8Array(g.polarization.length);
        for (let s = 0; s < spans.length; s += 2) {
          expect(spans[s]).toBeLessThan(spans[s + 1]);
          if (s > 0) expect(spans[s]).toBeGreaterThan(spans[s - 1]);
          inSpan.fill(1, spans[s], spans[s + 1]);
        }
        let j = 0;
        let mismatches = 0;
        for (let i = 0; i < inSpan.length; i++) {
          const [qx, qy, qz] = [g.q[3 * i], g.q[3 * i + 1], g.q[3 * i + 2]];
          const qq = Math.sqrt(qx * qx + qy * qy + qz * qz);
          const inside = qq <= qMax && qq >= qMin;
          if (inside !== (inSpan[i] === 1)) mismatches++;
          if (!inside) continue;
          let c = 1;
          if (switches.polarization) c *= g.polarization[i];
          if (switches.solidAngle) c *= g.solidAngle[i];
          if (switches.qe) c *= g.qe[i];
          const want = [qx, qy, qz, qq, c];
          for (let t = 0; t < CACHED_PIXEL_STRIDE; t++) if (pixels[j + t] !== want[t]) mismatches++;
          j += CACHED_PIXEL_STRIDE;
        }
        expect(mismatches).toBe(0);
        expect(pixels.length).toBe(j);
        kept += j / CACHED_PIXEL_STRIDE;
      }
      // about half of all pixels (30 % to 80 % of the |q| range by count)
      expect(kept / lengths.length).toBeGreaterThan(0.49);
      expect(kept / lengths.length).toBeLessThan(0.51);
    }
  });
});
