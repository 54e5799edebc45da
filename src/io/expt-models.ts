/**
 * The typed models of a DIALS experiment list (dxtbx `Crystal`, `Beam`, `Detector`, `Goniometer`, `Scan` and the
 * `Experiment` that ties them together), as `expt-builders.ts` resolves them from the `.expt` JSON into lab-frame
 * geometry.
 *
 * @packageDocumentation
 */
import type { Mat3, Vec3 } from "../geometry/vector-maths.ts";
import type { UnitCell } from "../geometry/unit-cell.ts";

/** Crystal model (dxtbx `Crystal`; `MosaicCrystalSauter2014` when the `ML_` fields are present). */
export interface Crystal {
  /** Real-space basis vector a (Å, lab frame at φ = 0). */
  realSpaceA: Vec3;
  /** Real-space basis vector b (Å). */
  realSpaceB: Vec3;
  /** Real-space basis vector c (Å). */
  realSpaceC: Vec3;
  /** A = [a;b;c]⁻¹ (the rows of A⁻¹ are a, b, c); the reciprocal-space vector of h is A·h. */
  A: Mat3;
  /** A⁻¹ = [a;b;c] (rows a, b, c). */
  Ainv: Mat3;
  /** B = transpose of the cctbx fractionalisation matrix of {@link Crystal.unitCell}. */
  B: Mat3;
  /** U = A·B⁻¹ (a rotation). */
  U: Mat3;
  /** (|a|, |b|, |c|, ∠(b,c), ∠(a,c), ∠(a,b)) in Å and degrees. */
  unitCell: UnitCell;
  /** Hall symbol exactly as written in the file (DIALS writes a leading space, e.g. `" P 2ac 2ab 3"`). */
  spaceGroupHall: string;
  /** Sauter 2014 mosaicity (`ML_half_mosaicity_deg`, `ML_domain_size_ang`), when both are present. */
  mosaicity?: { halfMosaicityDeg: number; domainSizeAng: number };
}

/** Beam model (dxtbx `Beam`, monochromatic). */
export interface Beam {
  /** Unit vector from the sample towards the source (normalised from the file's `direction`). */
  direction: Vec3;
  /** Wavelength in Å. */
  wavelength: number;
  /** Incident beam vector s0 = −direction / wavelength (Å⁻¹). */
  s0: Vec3;
  /** Polarisation plane normal. @defaultValue (0, 1, 0) when absent (legacy files) */
  polarizationNormal: Vec3;
  /** Polarisation fraction. @defaultValue 0.999 when absent */
  polarizationFraction: number;
  /** Beam divergence (degrees). @defaultValue 0 when absent */
  divergence: number;
  /** Standard deviation of the divergence (degrees). @defaultValue 0 when absent */
  sigmaDivergence: number;
  /** Flux. @defaultValue 0 when absent */
  flux: number;
  /** Transmission. @defaultValue 1 when absent */
  transmission: number;
  /** Probe. @defaultValue "x-ray" when absent */
  probe: string;
}

/** One detector panel, with its frame resolved to the lab frame through the detector hierarchy. */
export interface Panel {
  /** Panel name. */
  name: string;
  /** Lab-frame position of pixel (0, 0)'s corner (mm). */
  origin: Vec3;
  /** Lab-frame unit vector along the fast (x) pixel direction. */
  fastAxis: Vec3;
  /** Lab-frame unit vector along the slow (y) pixel direction. */
  slowAxis: Vec3;
  /** Pixel size (fast, slow) in mm. */
  pixelSize: [number, number];
  /** Image size (fast, slow) in pixels. */
  imageSize: [number, number];
  /**
   * Lab-frame position (mm) of a point given in pixel coordinates: origin + fastAxis·pixelSize[0]·fast +
   * slowAxis·pixelSize[1]·slow (simple pixel-to-millimetre mapping; no parallax correction).
   */
  pixelToLab(fast: number, slow: number): Vec3;
}

/** Detector model: a list of panels. */
export interface Detector {
  /** The panels, in file order (the `panel` column of a reflection table indexes this list). */
  panels: Panel[];
}

/** Goniometer model. Multi-axis goniometers are reduced to their scan axis and fixed/setting rotations. */
export interface Goniometer {
  /** Unit rotation axis (the scan axis for a multi-axis goniometer). */
  rotationAxis: Vec3;
  /** Fixed rotation F (applied before the scan rotation). @defaultValue identity when absent */
  fixedRotation: Mat3;
  /** Setting rotation S (applied after the scan rotation). @defaultValue identity when absent */
  settingRotation: Mat3;
  /** The raw axes of a multi-axis goniometer, when the file has that form. */
  multiAxis?: { axes: Vec3[]; angles: number[]; names: string[]; scanAxis: number };
}

/** Scan model. */
export interface Scan {
  /** First and last image numbers (inclusive, 1-based as in DIALS). */
  imageRange: [number, number];
  /** Start angle of the first image and the oscillation width per image, in degrees. */
  oscillation: [number, number];
  /** Batch offset. @defaultValue 0 when absent */
  batchOffset: number;
}

/** One experiment: shared models resolved from the indices in the file. Absent models are `undefined`. */
export interface Experiment {
  /** Experiment identifier (matches the reflection table's identifiers). @defaultValue "" when absent */
  identifier: string;
  /** Crystal model. */
  crystal: Crystal | undefined;
  /** Beam model. */
  beam: Beam | undefined;
  /** Detector model. */
  detector: Detector | undefined;
  /** Goniometer model (absent for stills). */
  goniometer: Goniometer | undefined;
  /** Scan model (absent for stills). */
  scan: Scan | undefined;
  /** Scaling model dictionary, kept verbatim (a deep copy). */
  scalingModel: Record<string, unknown> | undefined;
}
