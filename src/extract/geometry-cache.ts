/**
 * Per-thread cache of what the binning needs per pixel of a panel under a beam: q, |q| and the product of the
 * corrections switched on, taken from {@link panelPixelGeometry} (the geometry checked against dxtbx/DIALS). Stills
 * of a serial dataset share their detector and beam, so this is computed once per thread and every still only
 * reads it. It holds the panels of the last detector, beam, corrections and resolution limits seen.
 *
 * Only the pixels inside the resolution limits are kept, as spans of consecutive pixel indices, and their five
 * numbers are interleaved (`qx, qy, qz, |q|, correction`, 40 bytes per pixel) so that the binning loop reads one
 * stream; the pixels between the spans are only counted.
 *
 * @packageDocumentation
 */
import { panelPixelGeometry, type BeamFrame, type PanelFrame } from "./pixel-geometry.ts";

/** Numbers per in-resolution pixel in {@link CachedPanelGeometry.pixels}. */
export const CACHED_PIXEL_STRIDE = 5;

/** The cached per-pixel numbers of one panel. */
export interface CachedPanelGeometry {
  /**
   * The pixels inside the resolution limits: pairs `[start, end)` of row-major pixel indices, in increasing order,
   * maximal (no two touch).
   */
  readonly spans: Int32Array;
  /**
   * Per pixel of the spans, in span order: q (Å⁻¹, 3 numbers), |q| and P·Ω·QE (each factor only when switched on; 1
   * when none is).
   */
  readonly pixels: Float64Array;
}

/** Which corrections the product holds, and the resolution limits. */
export interface CachedGeometrySettings {
  readonly polarization: boolean;
  readonly solidAngle: boolean;
  readonly qe: boolean;
  /** A pixel is kept when `qMin ≤ |q| ≤ qMax` (Å⁻¹). */
  readonly qMin: number;
  readonly qMax: number;
}

/** The cache of one thread: the panels of one detector under one beam. */
export class GeometryCache {
  #key = "";
  #panels: CachedPanelGeometry[] = [];

  /** The arrays of every panel of a detector under `beam` with `settings` (computed on a change). */
  get(panels: readonly PanelFrame[], beam: BeamFrame, settings: CachedGeometrySettings): readonly CachedPanelGeometry[] {
    const key = JSON.stringify([panels, beam, settings]);
    if (key === this.#key) return this.#panels;
    this.#panels = [];
    this.#key = "";
    this.#panels = panels.map((panel) => panelArrays(panel, beam, settings));
    this.#key = key;
    return this.#panels;
  }
}

function panelArrays(panel: PanelFrame, beam: BeamFrame, settings: CachedGeometrySettings): CachedPanelGeometry {
  const g = panelPixelGeometry(panel, beam);
  const n = g.polarization.length;
  const { qMin, qMax } = settings;
  const qLength = new Float64Array(n);
  let kept = 0;
  let nSpans = 0;
  let inside = false;
  for (let i = 0; i < n; i++) {
    const qx = g.q[3 * i];
    const qy = g.q[3 * i + 1];
    const qz = g.q[3 * i + 2];
    const qq = Math.sqrt(qx * qx + qy * qy + qz * qz);
    qLength[i] = qq;
    const keep = qq <= qMax && qq >= qMin;
    if (keep) kept++;
    if (keep && !inside) nSpans++;
    inside = keep;
  }
  const spans = new Int32Array(2 * nSpans);
  const pixels = new Float64Array(CACHED_PIXEL_STRIDE * kept);
  let s = 0;
  let j = 0;
  inside = false;
  for (let i = 0; i < n; i++) {
    const qq = qLength[i];
    const keep = qq <= qMax && qq >= qMin;
    if (keep !== inside) {
      spans[s++] = i;
      inside = keep;
    }
    if (!keep) continue;
    let c = 1;
    if (settings.polarization) c *= g.polarization[i];
    if (settings.solidAngle) c *= g.solidAngle[i];
    if (settings.qe) c *= g.qe[i];
    pixels[j] = g.q[3 * i];
    pixels[j + 1] = g.q[3 * i + 1];
    pixels[j + 2] = g.q[3 * i + 2];
    pixels[j + 3] = qq;
    pixels[j + 4] = c;
    j += CACHED_PIXEL_STRIDE;
  }
  if (inside) spans[s] = n;
  return { spans, pixels };
}
