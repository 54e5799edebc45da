/**
 * A map slice as a figure of the page: the slice as an indexed PNG in a `data:` URI (one pixel per grid point or
 * block, drawn with square pixels and no smoothing), an inline SVG over it with the frame, the h/k/l axes with their
 * ticks, and a colour bar with its scale. Colours are viridis in {@link N_LEVELS} levels between the slice's colour
 * range; empty voxels (no observation merged) are {@link EMPTY_COLOUR} grey, which viridis never takes, and the
 * legend says so.
 *
 * The `<img>` carries what a reader (or a test) needs to read the pixels back: `data-vmin`/`data-vmax` (the colour
 * range), `data-levels` (colour levels), `data-plane` and `data-filled` (pixels with data).
 *
 * @packageDocumentation
 */
import { escapeHtml } from "./html.ts";
import type { MapSlice } from "./map-slices.ts";
import { encodeIndexedPng, pngDataUri } from "./png.ts";

/** Colour levels of the map (palette entries 0..N_LEVELS−1); entry N_LEVELS is the empty colour. */
export const N_LEVELS = 255;
/** Colour of an empty voxel. */
export const EMPTY_COLOUR: readonly [number, number, number] = [208, 208, 208];

/** viridis (matplotlib) at 0, 0.1, …, 1. */
const VIRIDIS = [
  0x440154, 0x482475, 0x414487, 0x355f8d, 0x2a788e, 0x21918c, 0x22a884, 0x44bf70, 0x7ad151, 0xbddf26, 0xfde725,
];

/** The palette: {@link N_LEVELS} viridis levels, then the empty colour (256 RGB entries). */
export function mapPalette(): Uint8Array {
  const out = new Uint8Array(3 * (N_LEVELS + 1));
  for (let i = 0; i < N_LEVELS; i++) {
    const t = (i / (N_LEVELS - 1)) * (VIRIDIS.length - 1);
    const a = Math.min(VIRIDIS.length - 2, Math.floor(t));
    const f = t - a;
    for (let c = 0; c < 3; c++) {
      const shift = 16 - 8 * c;
      const x = (VIRIDIS[a] >> shift) & 255;
      const y = (VIRIDIS[a + 1] >> shift) & 255;
      out[3 * i + c] = Math.round(x + (y - x) * f);
    }
  }
  out.set(EMPTY_COLOUR, 3 * N_LEVELS);
  return out;
}

/** The colour level of a value in `[lo, hi]` (clamped), or {@link N_LEVELS} for NaN (empty). */
export function colourLevel(x: number, lo: number, hi: number): number {
  if (Number.isNaN(x)) return N_LEVELS;
  const t = (x - lo) / (hi - lo);
  return Math.max(0, Math.min(N_LEVELS - 1, Math.round(t * (N_LEVELS - 1))));
}

/** Round tick values over [lo, hi]: steps 1, 2, 5 × 10^k, at least `minStep`, about `target` ticks. */
export function niceTicks(lo: number, hi: number, target: number, minStep = 0): number[] {
  if (!(hi > lo)) return [lo];
  const raw = Math.max((hi - lo) / target, minStep);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw - 1e-12) ?? 10 * mag;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + 1e-9 * step; t += step) {
    out.push(Math.abs(t) < step * 1e-9 ? 0 : Number(t.toPrecision(12)));
  }
  return out;
}

/** Formats a colour-bar value: 3 significant digits, exponent form outside 10⁻²..10⁵. */
function formatValue(x: number): string {
  if (x === 0) return "0";
  const a = Math.abs(x);
  return a >= 1e-2 && a < 1e5 ? Number(x.toPrecision(3)).toString() : x.toExponential(2);
}

const AXIS = ["h", "k", "l"];
const PLOT = 360;
const LEFT = 44;
const TOP = 10;
const BOTTOM = 40;
const BAR_GAP = 18;
const BAR_WIDTH = 14;
const RIGHT = BAR_GAP + BAR_WIDTH + 64;

/**
 * The figure markup of a slice: a positioned `<img>` (the PNG) under an SVG with axes and colour bar.
 *
 * @param slice - the sampled plane
 * @param range - the colour range `[low, high]` (low < high)
 * @param label - accessible description of the image
 * @returns the HTML markup (a `<div class="map-view">`)
 */
export function mapSliceMarkup(slice: MapSlice, range: readonly [number, number], label: string): string {
  const [lo, hi] = range;
  const palette = mapPalette();
  const indices = new Uint8Array(slice.values.length);
  for (let p = 0; p < indices.length; p++) indices[p] = colourLevel(slice.values[p], lo, hi);
  const uri = pngDataUri(encodeIndexedPng(slice.width, slice.height, indices, palette));
  const scale = Math.min(PLOT / slice.width, PLOT / slice.height);
  const w = slice.width * scale;
  const h = slice.height * scale;
  const width = Math.ceil(LEFT + w + RIGHT);
  const height = Math.ceil(TOP + h + BOTTOM);
  const f = (x: number): string => x.toFixed(1);
  // pixel k's centre is at value range[0] + k·pitch
  const xOf = (u: number): number => LEFT + ((u - slice.uRange[0]) / slice.pitch + 0.5) * scale;
  const yOf = (v: number): number => TOP + h - ((v - slice.vRange[0]) / slice.pitch + 0.5) * scale;
  const parts: string[] = [];
  const uLo = slice.uRange[0] - slice.pitch / 2;
  const uHi = slice.uRange[1] + slice.pitch / 2;
  const vLo = slice.vRange[0] - slice.pitch / 2;
  const vHi = slice.vRange[1] + slice.pitch / 2;
  for (const t of niceTicks(slice.uRange[0], slice.uRange[1], 8, 1)) {
    if (t < uLo || t > uHi) continue;
    const x = f(xOf(t));
    parts.push(`<line x1="${x}" x2="${x}" y1="${f(TOP + h)}" y2="${f(TOP + h + 5)}"/>`);
    parts.push(`<text x="${x}" y="${f(TOP + h + 17)}" text-anchor="middle">${t}</text>`);
  }
  for (const t of niceTicks(slice.vRange[0], slice.vRange[1], 8, 1)) {
    if (t < vLo || t > vHi) continue;
    const y = f(yOf(t));
    parts.push(`<line x1="${LEFT - 5}" x2="${LEFT}" y1="${y}" y2="${y}"/>`);
    parts.push(`<text x="${LEFT - 8}" y="${y}" dy="0.35em" text-anchor="end">${t}</text>`);
  }
  parts.push(`<rect class="frame" x="${LEFT}" y="${TOP}" width="${f(w)}" height="${f(h)}"/>`);
  parts.push(
    `<text class="title" x="${f(LEFT + w / 2)}" y="${f(TOP + h + 34)}" text-anchor="middle">${AXIS[slice.plane.u]}</text>`,
  );
  parts.push(
    `<text class="title" x="12" y="${f(TOP + h / 2)}" text-anchor="middle" transform="rotate(-90 12 ${f(TOP + h / 2)})">${AXIS[slice.plane.v]}</text>`,
  );
  // colour bar: 64 strips of the palette, low at the bottom
  const bx = LEFT + w + BAR_GAP;
  const barH = Math.min(h, PLOT) - 30;
  const strips = 64;
  for (let s = 0; s < strips; s++) {
    const level = Math.round(((s + 0.5) / strips) * (N_LEVELS - 1));
    const colour = `rgb(${palette[3 * level]},${palette[3 * level + 1]},${palette[3 * level + 2]})`;
    const y0 = TOP + barH - ((s + 1) * barH) / strips;
    parts.push(
      `<rect x="${f(bx)}" y="${f(y0)}" width="${BAR_WIDTH}" height="${f(barH / strips + 0.5)}" fill="${colour}" stroke="none"/>`,
    );
  }
  parts.push(`<rect class="frame" x="${f(bx)}" y="${TOP}" width="${BAR_WIDTH}" height="${f(barH)}"/>`);
  for (const t of niceTicks(lo, hi, 5)) {
    const y = f(TOP + barH - ((t - lo) / (hi - lo)) * barH);
    parts.push(`<line x1="${f(bx + BAR_WIDTH)}" x2="${f(bx + BAR_WIDTH + 4)}" y1="${y}" y2="${y}"/>`);
    parts.push(`<text x="${f(bx + BAR_WIDTH + 7)}" y="${y}" dy="0.35em">${formatValue(t)}</text>`);
  }
  const ey = TOP + barH + 10;
  const empty = `rgb(${EMPTY_COLOUR.join(",")})`;
  parts.push(`<rect x="${f(bx)}" y="${f(ey)}" width="${BAR_WIDTH}" height="12" fill="${empty}" class="frame-fill"/>`);
  parts.push(`<text x="${f(bx + BAR_WIDTH + 7)}" y="${f(ey + 6)}" dy="0.35em">no data</text>`);
  const img =
    `<img class="map-image" src="${uri}" alt="${escapeHtml(label)}" width="${slice.width}" height="${slice.height}" ` +
    `style="left:${LEFT}px;top:${TOP}px;width:${f(w)}px;height:${f(h)}px" data-plane="${escapeHtml(slice.plane.name)}" ` +
    `data-vmin="${lo}" data-vmax="${hi}" data-levels="${N_LEVELS}" data-filled="${slice.nFilled}">`;
  const svg = `<svg class="map-axes" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(label)}: axes and colour bar">${parts.join("")}</svg>`;
  return `<div class="map-view" style="width:${width}px;height:${height}px">${img}${svg}</div>`;
}
