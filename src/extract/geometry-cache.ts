/**
 * Per-thread cache of what the binning needs per pixel of a panel under a beam: q, |q| and the product of the
 * corrections switched on, taken from {@link panelPixelGeometry} (the geometry checked against dxtbx/DIALS). Stills
 * of a serial dataset share their detector and beam, so this is computed once per thread and every still only
 * reads it. It holds the panels of the
 * last detector and beam seen (40 bytes per pixel).
 *
 * @packageDocumentation
 */
import { panelPixelGeometry, type BeamFrame, type PanelFrame } from "./pixel-geometry.ts";

/** The cached per-pixel arrays of one panel. */
export interface CachedPanelGeometry {
  /** q (Å⁻¹), 3 per pixel. */
  readonly q: Float64Array;
  /** |q|. */
  readonly qLength: Float64Array;
  /** P·Ω·QE, each factor only when switched on (1 when none is). */
  readonly correction: Float64Array;
}

/** Which corrections the product holds. */
export interface CorrectionSwitches {
  readonly polarization: boolean;
  readonly solidAngle: boolean;
  readonly qe: boolean;
}

/** The cache of one thread: the panels of one detector under one beam. */
export class GeometryCache {
  #key = "";
  #panels: CachedPanelGeometry[] = [];

  /** The arrays of every panel of a detector under `beam` with the corrections `switches` (computed on a change). */
  get(panels: readonly PanelFrame[], beam: BeamFrame, switches: CorrectionSwitches): readonly CachedPanelGeometry[] {
    const key = JSON.stringify([panels, beam, switches]);
    if (key === this.#key) return this.#panels;
    this.#panels = [];
    this.#key = "";
    this.#panels = panels.map((panel) => panelArrays(panel, beam, switches));
    this.#key = key;
    return this.#panels;
  }
}

function panelArrays(panel: PanelFrame, beam: BeamFrame, switches: CorrectionSwitches): CachedPanelGeometry {
  const g = panelPixelGeometry(panel, beam);
  const n = g.polarization.length;
  const qLength = new Float64Array(n);
  const correction = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const qx = g.q[3 * i];
    const qy = g.q[3 * i + 1];
    const qz = g.q[3 * i + 2];
    qLength[i] = Math.sqrt(qx * qx + qy * qy + qz * qz);
    let c = 1;
    if (switches.polarization) c *= g.polarization[i];
    if (switches.solidAngle) c *= g.solidAngle[i];
    if (switches.qe) c *= g.qe[i];
    correction[i] = c;
  }
  return { q: g.q, qLength, correction };
}
