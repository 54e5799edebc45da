/**
 * Per-pixel geometry and corrections of a still, as dxtbx and DIALS compute them:
 *
 * - lab position of pixel (x, y)'s centre (x + ½, y + ½): `origin + mm_x·fast + mm_y·slow` with
 *   `mm = (x·px, y·py)`, through dxtbx's `parallax_correction_inv` when the panel uses
 *   `ParallaxCorrectedPxMmStrategy` (`Panel.get_pixel_lab_coord`);
 * - `s1 = lab/|lab|/λ`, `q = s1 − s0` (Å⁻¹);
 * - polarization `P = (1 − 2f)(1 − (n·ŝ1)²) + f(1 + (ŝ1·ŝ0)²)`, the inverse of DIALS's
 *   `Corrections(beam, detector).lp(s1)` for stills (`stills_lp_correction`; f = polarization fraction, XDS
 *   convention, n = polarization normal);
 * - solid angle relative to a pixel at normal incidence at the panel's distance: `Ω = d²·|N·ŝ1|/|lab|²` with N the
 *   panel normal (fast × slow) and d = |origin·N|;
 * - detector quantum efficiency as DIALS's `Corrections.qe`: `1 − exp(−μ·t/|cos∠(N, s1)|)`.
 *
 * @packageDocumentation
 */
import {
  ConfigError,
  requireFiniteArgument,
  requireIntegerArgument,
  requireNumbersArgument,
  requireObjectArgument,
} from "../errors.ts";
import type { PanelDetectorFields } from "../io/expt-imagesets.ts";
import type { Beam, Panel } from "../io/expt-models.ts";

/** One panel's geometry and detector fields, as plain numbers (structured-cloneable for worker threads). */
export interface PanelFrame {
  /** Lab position of the corner of pixel (0, 0) (mm). */
  readonly origin: readonly [number, number, number];
  /** Unit fast axis. */
  readonly fast: readonly [number, number, number];
  /** Unit slow axis. */
  readonly slow: readonly [number, number, number];
  /** Pixel size (fast, slow) in mm. */
  readonly pixelSize: readonly [number, number];
  /** Pixels (fast, slow). */
  readonly imageSize: readonly [number, number];
  /** Valid values lie strictly inside (low, high). */
  readonly trustedRange: readonly [number, number];
  /** Sensor thickness (mm). */
  readonly thickness: number;
  /** Sensor attenuation coefficient (mm⁻¹). */
  readonly mu: number;
  /** dxtbx `ParallaxCorrectedPxMmStrategy`. */
  readonly parallaxCorrected: boolean;
}

/** The beam quantities the corrections use. */
export interface BeamFrame {
  /** s0 (Å⁻¹), pointing from the source to the sample: −direction/λ. */
  readonly s0: readonly [number, number, number];
  /** Wavelength (Å). */
  readonly wavelength: number;
  /** Polarization plane normal. */
  readonly polarizationNormal: readonly [number, number, number];
  /** Polarization fraction (XDS convention: 0.5 unpolarized). */
  readonly polarizationFraction: number;
}

/** Panel normal fast × slow and the distance |origin·normal|. */
export function panelNormal(panel: PanelFrame): { normal: [number, number, number]; distance: number } {
  const [fx, fy, fz] = panel.fast;
  const [sx, sy, sz] = panel.slow;
  const normal: [number, number, number] = [fy * sz - fz * sy, fz * sx - fx * sz, fx * sy - fy * sx];
  const [ox, oy, oz] = panel.origin;
  return { normal, distance: Math.abs(ox * normal[0] + oy * normal[1] + oz * normal[2]) };
}

/**
 * Lab position (mm) of a point in pixel coordinates (dxtbx `get_pixel_lab_coord`), written into `out`.
 */
export function pixelToLab(panel: PanelFrame, x: number, y: number, out: Float64Array): void {
  const [ox, oy, oz] = panel.origin;
  const [fx, fy, fz] = panel.fast;
  const [sx, sy, sz] = panel.slow;
  let mx = x * panel.pixelSize[0];
  let my = y * panel.pixelSize[1];
  if (panel.parallaxCorrected) {
    // parallax_correction_inv(mu, t0, xy, fast, slow, origin)
    let lx = ox + mx * fx + my * sx;
    let ly = oy + mx * fy + my * sy;
    let lz = oz + mx * fz + my * sz;
    const len = Math.sqrt(lx * lx + ly * ly + lz * lz);
    lx /= len;
    ly /= len;
    lz /= len;
    let nx = fy * sz - fz * sy;
    let ny = fz * sx - fx * sz;
    let nz = fx * sy - fy * sx;
    if (ox * nx + oy * ny + oz * nz < 0) {
      nx = -nx;
      ny = -ny;
      nz = -nz;
    }
    const cosT = lx * nx + ly * ny + lz * nz;
    const mu = panel.mu;
    const t0 = panel.thickness;
    const o = 1 / mu - (t0 / cosT + 1 / mu) * Math.exp((-mu * t0) / cosT);
    mx = mx - (lx * fx + ly * fy + lz * fz) * o;
    my = my - (lx * sx + ly * sy + lz * sz) * o;
  }
  out[0] = ox + mx * fx + my * sx;
  out[1] = oy + mx * fy + my * sy;
  out[2] = oz + mx * fz + my * sz;
}

/** The per-pixel quantities of one panel, row-major (slow, fast). */
export interface PanelPixelGeometry {
  /** q = s1 − s0 (Å⁻¹), 3 per pixel. */
  readonly q: Float64Array;
  /** Polarization factor P (DIALS's 1/lp for stills). */
  readonly polarization: Float64Array;
  /** Solid angle relative to normal incidence at the panel distance. */
  readonly solidAngle: Float64Array;
  /** Detector quantum efficiency (1 when the panel has no μ or thickness). */
  readonly qe: Float64Array;
}

/**
 * The polarization factor for a unit ŝ1 (DIALS `stills_lp_correction` inverted). `s0hat` is the unit incident beam
 * direction.
 */
export function polarizationFactor(
  beam: BeamFrame,
  s0hat: readonly [number, number, number],
  ux: number,
  uy: number,
  uz: number,
): number {
  const pn = beam.polarizationNormal;
  const pf = beam.polarizationFraction;
  const p1 = pn[0] * ux + pn[1] * uy + pn[2] * uz;
  const p2 = (1 - 2 * pf) * (1 - p1 * p1);
  const p3 = ux * s0hat[0] + uy * s0hat[1] + uz * s0hat[2];
  const p4 = pf * (1 + p3 * p3);
  return p2 + p4;
}

/** Unit vector of s0. */
export function unitS0(beam: BeamFrame): [number, number, number] {
  const [x, y, z] = beam.s0;
  const l = Math.sqrt(x * x + y * y + z * z);
  return [x / l, y / l, z / l];
}

/** The most pixels {@link panelPixelGeometry} computes for one panel (2^26, over four times a 16M-pixel detector). */
const MAX_PANEL_PIXELS = 2 ** 26;

/** Throws a ConfigError unless `panel` and `beam` hold the fields {@link panelPixelGeometry} reads. */
export function checkFrames(panel: unknown, beam: unknown): void {
  const fn = "panelPixelGeometry";
  requireObjectArgument(panel, `${fn}: panel`);
  requireObjectArgument(beam, `${fn}: beam`);
  const p = panel as PanelFrame;
  const b = beam as BeamFrame;
  for (const key of ["origin", "fast", "slow"] as const) requireNumbersArgument(p[key], `${fn}: panel.${key}`, 3);
  for (const key of ["pixelSize", "imageSize", "trustedRange"] as const)
    requireNumbersArgument(p[key], `${fn}: panel.${key}`, 2);
  for (const [i, n] of p.imageSize.entries()) requireIntegerArgument(n, `${fn}: panel.imageSize[${i}]`, 1);
  if (p.imageSize[0] * p.imageSize[1] > MAX_PANEL_PIXELS)
    throw new ConfigError(`${fn}: panel.imageSize ${p.imageSize.join("×")} exceeds ${MAX_PANEL_PIXELS} pixels`);
  requireFiniteArgument(p.thickness, `${fn}: panel.thickness`);
  requireFiniteArgument(p.mu, `${fn}: panel.mu`);
  for (const key of ["s0", "polarizationNormal"] as const) requireNumbersArgument(b[key], `${fn}: beam.${key}`, 3);
  requireFiniteArgument(b.wavelength, `${fn}: beam.wavelength`);
  requireFiniteArgument(b.polarizationFraction, `${fn}: beam.polarizationFraction`);
}

/**
 * Every pixel's q, polarization, solid angle and QE for one panel (the geometry the extraction bins with; checked
 * against dxtbx/DIALS pixel by pixel).
 */
export function panelPixelGeometry(panel: PanelFrame, beam: BeamFrame): PanelPixelGeometry {
  checkFrames(panel, beam);
  const n = panel.imageSize[0] * panel.imageSize[1];
  const out: PanelPixelGeometry = {
    q: new Float64Array(3 * n),
    polarization: new Float64Array(n),
    solidAngle: new Float64Array(n),
    qe: new Float64Array(n),
  };
  pixelGeometryRows(panel, beam, 0, panel.imageSize[1], out);
  return out;
}

/**
 * The quantities of {@link panelPixelGeometry} for the rows `[y0, y1)` of a panel, written from the start of `out`'s
 * arrays (which hold at least `(y1 − y0)·width` pixels). The frames are not checked.
 *
 * @internal
 */
export function pixelGeometryRows(
  panel: PanelFrame,
  beam: BeamFrame,
  y0: number,
  y1: number,
  out: PanelPixelGeometry,
): void {
  const w = panel.imageSize[0];
  const { q, polarization, solidAngle, qe } = out;
  const { normal, distance } = panelNormal(panel);
  const [nx, ny, nz] = normal;
  const d2 = distance * distance;
  const [s0x, s0y, s0z] = beam.s0;
  const s0hat = unitS0(beam);
  const invLambda = 1 / beam.wavelength;
  const muT = panel.mu * panel.thickness;
  const useQe = panel.mu > 0 && panel.thickness > 0;
  const [ox, oy, oz] = panel.origin;
  const [fx, fy, fz] = panel.fast;
  const [sx, sy, sz] = panel.slow;
  const [px, py] = panel.pixelSize;
  const lab = new Float64Array(3);
  for (let y = y0; y < y1; y++) {
    const my = (y + 0.5) * py;
    for (let x = 0; x < w; x++) {
      const i = (y - y0) * w + x;
      let lx: number, ly: number, lz: number;
      if (panel.parallaxCorrected) {
        pixelToLab(panel, x + 0.5, y + 0.5, lab);
        lx = lab[0];
        ly = lab[1];
        lz = lab[2];
      } else {
        // pixelToLab without parallax, inline
        const mx = (x + 0.5) * px;
        lx = ox + mx * fx + my * sx;
        ly = oy + mx * fy + my * sy;
        lz = oz + mx * fz + my * sz;
      }
      const r2 = lx * lx + ly * ly + lz * lz;
      const r = Math.sqrt(r2);
      const ux = lx / r;
      const uy = ly / r;
      const uz = lz / r;
      q[3 * i] = ux * invLambda - s0x;
      q[3 * i + 1] = uy * invLambda - s0y;
      q[3 * i + 2] = uz * invLambda - s0z;
      polarization[i] = polarizationFactor(beam, s0hat, ux, uy, uz);
      const cosN = Math.abs(nx * ux + ny * uy + nz * uz);
      solidAngle[i] = (d2 * cosN) / r2;
      qe[i] = useQe ? 1 - Math.exp(-muT / cosN) : 1;
    }
  }
}

/** A {@link PanelFrame} from a typed panel and its detector fields. */
export function panelFrameOf(panel: Panel, fields: PanelDetectorFields): PanelFrame {
  const t = (v: ArrayLike<number>): [number, number, number] => [v[0], v[1], v[2]];
  return {
    origin: t(panel.origin),
    fast: t(panel.fastAxis),
    slow: t(panel.slowAxis),
    pixelSize: [panel.pixelSize[0], panel.pixelSize[1]],
    imageSize: [panel.imageSize[0], panel.imageSize[1]],
    trustedRange: fields.trustedRange,
    thickness: fields.thickness,
    mu: fields.mu,
    parallaxCorrected: fields.parallaxCorrected,
  };
}

/** A {@link BeamFrame} from a typed beam. */
export function beamFrameOf(beam: Beam): BeamFrame {
  const t = (v: ArrayLike<number>): [number, number, number] => [v[0], v[1], v[2]];
  return {
    s0: t(beam.s0),
    wavelength: beam.wavelength,
    polarizationNormal: t(beam.polarizationNormal),
    polarizationFraction: beam.polarizationFraction,
  };
}
