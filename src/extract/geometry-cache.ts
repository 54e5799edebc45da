/**
 * Per-thread cache of what the binning needs per pixel of a panel under a beam: q, |q| and the product of the
 * corrections switched on, computed by the code of `panelPixelGeometry` (the geometry checked against dxtbx/DIALS),
 * a block of rows at a time. Stills of a serial dataset share their detector and beam, so this is computed once per
 * thread and every still only reads it. It holds the panels of the last detector, beam, corrections and resolution limits seen.
 *
 * Only the pixels inside the resolution limits are kept, as spans of consecutive pixel indices, and their five
 * numbers are interleaved (`qx, qy, qz, |q|, correction`, 40 bytes per pixel) so that the binning loop reads one
 * stream; the pixels between the spans are only counted.
 *
 * @packageDocumentation
 */
import {
  checkFrames,
  pixelGeometryRows,
  type BeamFrame,
  type PanelFrame,
  type PanelPixelGeometry,
} from "./pixel-geometry.ts";

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

/** The cache settings of a binning's corrections and resolution limits (d in Å; no `dMax`: no low limit). */
export function cachedGeometrySettings(binning: {
  readonly polarization: boolean;
  readonly solidAngle: boolean;
  readonly qe: boolean;
  readonly dMin: number;
  readonly dMax: number | undefined;
}): CachedGeometrySettings {
  return {
    polarization: binning.polarization,
    solidAngle: binning.solidAngle,
    qe: binning.qe,
    qMin: binning.dMax === undefined ? 0 : 1 / binning.dMax,
    qMax: 1 / binning.dMin,
  };
}

/** The cache of one thread: the panels of one detector under one beam. */
export class GeometryCache {
  #key = "";
  #panels: readonly CachedPanelGeometry[] = [];

  /** The arrays of every panel of a detector under `beam` with `settings` (computed on a change). */
  get(
    panels: readonly PanelFrame[],
    beam: BeamFrame,
    settings: CachedGeometrySettings,
  ): readonly CachedPanelGeometry[] {
    const key = JSON.stringify([panels, beam, settings]);
    if (key === this.#key) return this.#panels;
    this.#panels = [];
    this.#key = "";
    this.#panels = panels.map((panel) => panelArrays(panel, beam, settings));
    this.#key = key;
    return this.#panels;
  }

  /**
   * Makes `geometry` the entry for these arguments: what {@link GeometryCache.get} returned for the same arguments in
   * another thread (so that worker threads share one computation; see {@link sharedGeometry}).
   */
  seed(
    panels: readonly PanelFrame[],
    beam: BeamFrame,
    settings: CachedGeometrySettings,
    geometry: readonly CachedPanelGeometry[],
  ): void {
    this.#panels = geometry;
    this.#key = JSON.stringify([panels, beam, settings]);
  }
}

/** `geometry` copied into shared memory (a worker thread receiving it reads the same memory, not a copy). */
export function sharedGeometry(geometry: readonly CachedPanelGeometry[]): CachedPanelGeometry[] {
  return geometry.map(({ spans, pixels }) => {
    const s = new Int32Array(new SharedArrayBuffer(spans.byteLength));
    s.set(spans);
    const p = new Float64Array(new SharedArrayBuffer(pixels.byteLength));
    p.set(pixels);
    return { spans: s, pixels: p };
  });
}

/** Pixels of a panel computed at a time (whole rows; the block's arrays, 48 bytes per pixel, are reused). */
const BLOCK_PIXELS = 1 << 16;

function panelArrays(panel: PanelFrame, beam: BeamFrame, settings: CachedGeometrySettings): CachedPanelGeometry {
  checkFrames(panel, beam);
  const [w, h] = panel.imageSize;
  const rowsPerBlock = Math.max(1, Math.floor(BLOCK_PIXELS / w));
  const blockPixels = rowsPerBlock * w;
  const block: PanelPixelGeometry = {
    q: new Float64Array(3 * blockPixels),
    polarization: new Float64Array(blockPixels),
    solidAngle: new Float64Array(blockPixels),
    qe: new Float64Array(blockPixels),
  };
  // grown by doubling, cut to the kept pixels at the end
  let pixels = new Float64Array(CACHED_PIXEL_STRIDE * blockPixels);
  const spans: number[] = [];
  let kept = 0;
  for (let y0 = 0; y0 < h; y0 += rowsPerBlock) {
    const y1 = Math.min(h, y0 + rowsPerBlock);
    pixelGeometryRows(panel, beam, y0, y1, block);
    const need = CACHED_PIXEL_STRIDE * (kept + (y1 - y0) * w);
    if (need > pixels.length) {
      const grown = new Float64Array(Math.min(Math.max(need, 2 * pixels.length), CACHED_PIXEL_STRIDE * w * h));
      grown.set(pixels.subarray(0, CACHED_PIXEL_STRIDE * kept));
      pixels = grown;
    }
    kept = keepInside(block, (y1 - y0) * w, y0 * w, settings, pixels, kept, spans);
  }
  if (spans.length % 2 === 1) spans.push(w * h);
  const used = CACHED_PIXEL_STRIDE * kept;
  return { spans: Int32Array.from(spans), pixels: used < pixels.length ? pixels.slice(0, used) : pixels };
}

/**
 * Appends the pixels of `block` (`count` pixels, the first of index `first`) inside the resolution limits to
 * `pixels` (after its first `kept`), opening and closing spans in `spans` (open while its length is odd). Returns
 * the new number kept.
 */
function keepInside(
  block: PanelPixelGeometry,
  count: number,
  first: number,
  settings: CachedGeometrySettings,
  pixels: Float64Array,
  kept: number,
  spans: number[],
): number {
  const { q, polarization, solidAngle, qe } = block;
  const { qMin, qMax } = settings;
  let inside = spans.length % 2 === 1;
  let j = CACHED_PIXEL_STRIDE * kept;
  for (let i = 0; i < count; i++) {
    const qx = q[3 * i];
    const qy = q[3 * i + 1];
    const qz = q[3 * i + 2];
    const qq = Math.sqrt(qx * qx + qy * qy + qz * qz);
    const keep = qq <= qMax && qq >= qMin;
    if (keep !== inside) {
      spans.push(first + i);
      inside = keep;
    }
    if (!keep) continue;
    let c = 1;
    if (settings.polarization) c *= polarization[i];
    if (settings.solidAngle) c *= solidAngle[i];
    if (settings.qe) c *= qe[i];
    pixels[j] = qx;
    pixels[j + 1] = qy;
    pixels[j + 2] = qz;
    pixels[j + 3] = qq;
    pixels[j + 4] = c;
    j += CACHED_PIXEL_STRIDE;
  }
  return j / CACHED_PIXEL_STRIDE;
}
