/**
 * Geometry of the simulated stills: the beam and the single-panel detector of the reference simulator (dxtbx
 * `BeamFactory.simple(1.0)` and `DetectorFactory.simple("PAD", 150, (211, 217), "+x", "-y", (0.172, 0.172),
 * (2463, 2527))`), and prediction of the Bragg reflections of one still the way DIALS's
 * `StillsDeltaPsiReflectionPredictor` does it: every non-absent h with |A·h| ≤ 1/d_min is rotated about
 * e1 = (A·h × ŝ0)/|…| onto the Ewald sphere; the rotation angle is Δψ; the diffracted beam s1 = (s0 + r)/|s0 + r|·|s0|
 * is intersected with the panel. Only reflections with |Δψ| below a cutoff are kept (the caller turns Δψ into a
 * partiality). With a Sauter 2014 mosaic crystal (as the simulated `.expt` declares) DIALS uses its
 * `NaveStillsReflectionPredictor`, which also requires |Δψ| < d/domain_size + half_mosaicity/2 (Sauter 2014,
 * equations 16–17); {@link predictStill} applies the same rule when given the mosaic parameters.
 *
 * @packageDocumentation
 */
import { vec3Cross, vec3Dot, type Mat3, type Vec3 } from "../geometry/vector-maths.ts";
import type { SpaceGroup } from "../symmetry/space-group.ts";

/** A flat detector panel (lab frame, mm) with the simple pixel ↔ mm mapping. */
export interface SimulatedPanel {
  /** Lab position of the corner of pixel (0, 0), mm. */
  readonly origin: Vec3;
  /** Unit fast axis. */
  readonly fastAxis: Vec3;
  /** Unit slow axis. */
  readonly slowAxis: Vec3;
  /** Pixel size (fast, slow), mm. */
  readonly pixelSize: readonly [number, number];
  /** Image size (fast, slow), pixels. */
  readonly imageSize: readonly [number, number];
}

/** Beam and detector of the simulation. */
export interface StillsGeometry {
  /** Wavelength, Å. */
  readonly wavelength: number;
  /** Unit vector from the sample towards the source (dxtbx `direction`). */
  readonly direction: Vec3;
  /** s0 = −direction/λ, Å⁻¹. */
  readonly s0: Vec3;
  /** The single panel. */
  readonly panel: SimulatedPanel;
}

/** The reference simulator's geometry: λ = 1 Å along −z, a 2463 × 2527 PAD of 0.172 mm pixels at 150 mm. */
export function referenceGeometry(): StillsGeometry {
  const wavelength = 1.0;
  return {
    wavelength,
    direction: Float64Array.of(0, 0, 1),
    s0: Float64Array.of(0, 0, -1 / wavelength),
    panel: {
      origin: Float64Array.of(-211.0, 217.0, -150.0),
      fastAxis: Float64Array.of(1, 0, 0),
      slowAxis: Float64Array.of(0, -1, 0),
      pixelSize: [0.172, 0.172],
      imageSize: [2463, 2527],
    },
  };
}

/** The beam as DIALS 3.12 writes it in an `.expt` file. */
export function beamJson(g: StillsGeometry): Record<string, unknown> {
  return {
    direction: Array.from(g.direction),
    wavelength: g.wavelength,
    divergence: 0.0,
    sigma_divergence: 0.0,
    polarization_normal: [0.0, 1.0, 0.0],
    polarization_fraction: 0.999,
    flux: 0.0,
    transmission: 1.0,
  };
}

function panelDict(
  name: string,
  type: string,
  fast: readonly number[],
  slow: readonly number[],
  origin: readonly number[],
  imageSize: readonly number[],
  pixelSize: readonly number[],
): Record<string, unknown> {
  return {
    name,
    type,
    fast_axis: [...fast],
    slow_axis: [...slow],
    origin: [...origin],
    raw_image_offset: [0, 0],
    image_size: [...imageSize],
    pixel_size: [...pixelSize],
    trusted_range: [0.0, 0.0],
    thickness: 0.0,
    material: "",
    mu: 0.0,
    identifier: "",
    mask: [],
    gain: 1.0,
    pedestal: 0.0,
    px_mm_strategy: { type: "SimplePxMmStrategy" },
  };
}

/** The detector (one panel under a root group) as DIALS 3.12 writes it in an `.expt` file. */
export function detectorJson(g: StillsGeometry): Record<string, unknown> {
  const p = g.panel;
  return {
    panels: [
      panelDict(
        "Panel",
        "SENSOR_PAD",
        Array.from(p.fastAxis),
        Array.from(p.slowAxis),
        Array.from(p.origin),
        p.imageSize,
        p.pixelSize,
      ),
    ],
    hierarchy: {
      ...panelDict("", "", [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0, 0], [0.0, 0.0]),
      children: [{ panel: 0 }],
    },
  };
}

/**
 * The candidate reflections shared by all stills of one unit cell: every h ≠ 0 that is not systematically absent with
 * |B·h| ≤ 1/d_min (B is the same for all stills; A = U·B only rotates it).
 */
export interface BraggCandidates {
  /** Number of candidates. */
  readonly n: number;
  /** Miller indices, 3 per candidate. */
  readonly hkl: Int32Array;
  /** |q| = 1/d of each candidate, Å⁻¹. */
  readonly qMagnitude: Float64Array;
}

/**
 * Enumerates the candidate reflections of a unit cell.
 *
 * @param B - the B matrix (row-major; q = B·h in the crystal frame)
 * @param Ainv - any real-space basis of the cell (rows a, b, c) bounding the index range: |h| ≤ |a|/d_min etc.
 * @param spaceGroup - for systematic absences
 * @param dMin - resolution limit, Å
 * @returns the candidates
 */
export function braggCandidates(B: Mat3, Ainv: Mat3, spaceGroup: SpaceGroup, dMin: number): BraggCandidates {
  const qMax = 1 / dMin;
  const lim = [0, 1, 2].map((i) => Math.ceil(Math.hypot(Ainv[3 * i], Ainv[3 * i + 1], Ainv[3 * i + 2]) * qMax)) as [
    number,
    number,
    number,
  ];
  const hkl: number[] = [];
  const qm: number[] = [];
  for (let h = -lim[0]; h <= lim[0]; h++) {
    for (let k = -lim[1]; k <= lim[1]; k++) {
      for (let l = -lim[2]; l <= lim[2]; l++) {
        if (h === 0 && k === 0 && l === 0) continue;
        const x = B[0] * h + B[1] * k + B[2] * l;
        const y = B[3] * h + B[4] * k + B[5] * l;
        const z = B[6] * h + B[7] * k + B[8] * l;
        const q = Math.sqrt(x * x + y * y + z * z);
        if (q > qMax) continue;
        if (spaceGroup.isSysAbsent(h, k, l)) continue;
        hkl.push(h, k, l);
        qm.push(q);
      }
    }
  }
  return { n: qm.length, hkl: Int32Array.from(hkl), qMagnitude: Float64Array.from(qm) };
}

/** The reflections predicted for one still. Arrays are compact (length `n`, or `3n` for vectors). */
export interface StillPrediction {
  /** Number of predicted reflections. */
  readonly n: number;
  /** Position of each reflection in the {@link BraggCandidates} list. */
  readonly candidate: Int32Array;
  /** Δψ (rad), DIALS's `delpsical.rad`. */
  readonly deltaPsi: Float64Array;
  /** Diffracted beam vectors s1 (|s1| = 1/λ), 3 per reflection. */
  readonly s1: Float64Array;
  /** Impact (x, y) on the panel in mm, 2 per reflection. */
  readonly xyMm: Float64Array;
  /** Impact (x, y) on the panel in pixels, 2 per reflection. */
  readonly xyPx: Float64Array;
}

/** Sauter 2014 mosaic parameters of a crystal (dxtbx `MosaicCrystalSauter2014`). */
export interface MosaicParameters {
  /** `ML_domain_size_ang`, Å. */
  readonly domainSizeAng: number;
  /** `ML_half_mosaicity_deg`, degrees. */
  readonly halfMosaicityDeg: number;
}

/**
 * The plane of a panel: its normal n = fast × slow (not normalised) and offset o·n, so that a lab point p lies on the
 * panel plane when p·n = o·n.
 */
export function panelPlane(panel: SimulatedPanel): { normal: Vec3; offset: number } {
  const normal = vec3Cross(panel.fastAxis, panel.slowAxis);
  return { normal, offset: vec3Dot(panel.origin, normal) };
}

// Kept whole: one pass over the candidates with the vector maths inlined as scalars (the simulation's hot loop).
/**
 * Predicts the reflections of one still with |Δψ| < `maxDeltaPsi` that hit the panel (DIALS's stills Δψ
 * prediction; `entering` is always false for stills). With `mosaic`, also |Δψ| < d/domain + half_mosaicity/2 (rad),
 * the rule of DIALS's `NaveStillsReflectionPredictor`.
 *
 * @param A - the still's A = U·B (row-major)
 * @param candidates - from {@link braggCandidates}
 * @param geometry - beam and panel
 * @param maxDeltaPsi - keep |Δψ| strictly below this, rad
 * @param mosaic - the crystal's mosaic parameters. @defaultValue undefined (no mosaic rule)
 * @returns the predicted reflections
 */
export function predictStill(
  A: Mat3,
  candidates: BraggCandidates,
  geometry: StillsGeometry,
  maxDeltaPsi: number,
  mosaic?: MosaicParameters,
): StillPrediction {
  const mosaicConst = mosaic === undefined ? Infinity : (mosaic.halfMosaicityDeg * Math.PI) / 180 / 2;
  const mosaicDomain = mosaic === undefined ? Infinity : mosaic.domainSizeAng;
  const s0 = geometry.s0;
  const s0len = Math.hypot(s0[0], s0[1], s0[2]);
  const ux = s0[0] / s0len;
  const uy = s0[1] / s0len;
  const uz = s0[2] / s0len;
  const lambda = 1 / s0len;
  const { hkl, qMagnitude, n } = candidates;
  const p = geometry.panel;
  const o = p.origin;
  const f = p.fastAxis;
  const s = p.slowAxis;
  const { normal, offset: on } = panelPlane(p);
  const [nx, ny, nz] = normal;
  const widthMm = p.imageSize[0] * p.pixelSize[0];
  const heightMm = p.imageSize[1] * p.pixelSize[1];
  const cand: number[] = [];
  const dpsi: number[] = [];
  const s1v: number[] = [];
  const mm: number[] = [];
  const px: number[] = [];
  for (let i = 0; i < n; i++) {
    const h = hkl[3 * i];
    const k = hkl[3 * i + 1];
    const l = hkl[3 * i + 2];
    const qx = A[0] * h + A[1] * k + A[2] * l;
    const qy = A[3] * h + A[4] * k + A[5] * l;
    const qz = A[6] * h + A[7] * k + A[8] * l;
    const qlen = qMagnitude[i];
    const limit = Math.min(maxDeltaPsi, 1 / qlen / mosaicDomain + mosaicConst);
    // |Δψ| is the angle between q and its image on the sphere in the (q, s0) plane; |Δcos| ≤ |Δψ| rejects cheaply
    const cosNow = (qx * ux + qy * uy + qz * uz) / qlen;
    if (Math.abs(cosNow + 0.5 * qlen * lambda) >= limit) continue;
    // e1 = normalize(q × û), c0 = normalize(û × e1)
    let e1x = qy * uz - qz * uy;
    let e1y = qz * ux - qx * uz;
    let e1z = qx * uy - qy * ux;
    const e1n = Math.sqrt(e1x * e1x + e1y * e1y + e1z * e1z);
    if (!(e1n > 0)) continue;
    e1x /= e1n;
    e1y /= e1n;
    e1z /= e1n;
    let c0x = uy * e1z - uz * e1y;
    let c0y = uz * e1x - ux * e1z;
    let c0z = ux * e1y - uy * e1x;
    const c0n = Math.sqrt(c0x * c0x + c0y * c0y + c0z * c0z);
    c0x /= c0n;
    c0y /= c0n;
    c0z /= c0n;
    const qq = qlen * qlen;
    const a = 0.5 * qq * lambda;
    const tmp = qq - a * a;
    if (!(tmp > 0)) continue;
    const b = Math.sqrt(tmp);
    const rx = -a * ux + b * c0x;
    const ry = -a * uy + b * c0y;
    const rz = -a * uz + b * c0z;
    const q0x = qx / qlen;
    const q0y = qy / qlen;
    const q0z = qz / qlen;
    let q1x = q0y * e1z - q0z * e1y;
    let q1y = q0z * e1x - q0x * e1z;
    let q1z = q0x * e1y - q0y * e1x;
    const q1n = Math.sqrt(q1x * q1x + q1y * q1y + q1z * q1z);
    q1x /= q1n;
    q1y /= q1n;
    q1z /= q1n;
    const delpsi = -Math.atan2(rx * q1x + ry * q1y + rz * q1z, rx * q0x + ry * q0y + rz * q0z);
    if (!(Math.abs(delpsi) < limit)) continue;
    let sx = s0[0] + rx;
    let sy = s0[1] + ry;
    let sz = s0[2] + rz;
    const sn = Math.sqrt(sx * sx + sy * sy + sz * sz) / s0len;
    sx /= sn;
    sy /= sn;
    sz /= sn;
    // ray–plane intersection: lab point t·s1 with (t·s1 − origin)·normal = 0
    const sdotn = sx * nx + sy * ny + sz * nz;
    if (on * sdotn <= 0) continue;
    const t = on / sdotn;
    const dx = t * sx - o[0];
    const dy = t * sy - o[1];
    const dz = t * sz - o[2];
    const x = dx * f[0] + dy * f[1] + dz * f[2];
    const y = dx * s[0] + dy * s[1] + dz * s[2];
    if (!(x >= 0 && x <= widthMm && y >= 0 && y <= heightMm)) continue;
    cand.push(i);
    dpsi.push(delpsi);
    s1v.push(sx, sy, sz);
    mm.push(x, y);
    px.push(x / p.pixelSize[0], y / p.pixelSize[1]);
  }
  return {
    n: cand.length,
    candidate: Int32Array.from(cand),
    deltaPsi: Float64Array.from(dpsi),
    s1: Float64Array.from(s1v),
    xyMm: Float64Array.from(mm),
    xyPx: Float64Array.from(px),
  };
}
