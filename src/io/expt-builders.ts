/**
 * The builders of the typed experiment models from validated `.expt` entries: the crystal's A, B and U matrices from
 * its real-space vectors, the beam's s0, detector panels resolved to the lab frame through the dxtbx hierarchy
 * (`VirtualPanelFrame`), multi-axis goniometers reduced to their scan axis, and scans. Every error names the file and
 * the JSON path of the entry.
 *
 * @packageDocumentation
 */
import { z } from "zod";
import { InputError } from "../errors.ts";
import {
  axisAngleMatrix,
  mat3,
  mat3Determinant,
  mat3FromRows,
  mat3Identity,
  mat3Inverse,
  mat3Multiply,
  mat3Transpose,
  vec3,
  vec3Add,
  vec3Length,
  vec3Normalize,
  vec3Scale,
  mat3Vec3,
  vec3Cross,
  type Vec3,
} from "../geometry/vector-maths.ts";
import { fractionalizationMatrix, unitCellFromRealSpaceVectors } from "../geometry/unit-cell.ts";
import type { Beam, Crystal, Detector, Goniometer, Panel, Scan } from "./expt-models.ts";
import {
  beamSchema,
  check,
  crystalSchema,
  detectorSchema,
  frameSchema,
  isPlainObject,
  multiAxisGoniometerSchema,
  panelSchema,
  scanSchema,
  singleAxisGoniometerSchema,
  v3,
} from "./expt-schema.ts";

/** Validate a `crystal` entry and derive A, A⁻¹, B, U and the unit cell from its real-space vectors. */
export function buildCrystal(raw: unknown, where: string, file: string): Crystal {
  const c = check(crystalSchema, raw, where, file);
  const a = v3(c.real_space_a);
  const b = v3(c.real_space_b);
  const cc = v3(c.real_space_c);
  const Ainv = mat3FromRows(a, b, cc);
  const det = mat3Determinant(Ainv);
  const scale = vec3Length(a) * vec3Length(b) * vec3Length(cc);
  if (!(Math.abs(det) > 1e-9 * scale)) {
    throw new InputError(`${where}: real_space_a, real_space_b, real_space_c are singular (zero cell volume)`, file);
  }
  const A = mat3Inverse(Ainv);
  const unitCell = unitCellFromRealSpaceVectors(a, b, cc);
  const B = mat3Transpose(fractionalizationMatrix(unitCell));
  const U = mat3Multiply(A, mat3Inverse(B));
  const crystal: Crystal = {
    realSpaceA: a,
    realSpaceB: b,
    realSpaceC: cc,
    A,
    Ainv,
    B,
    U,
    unitCell,
    spaceGroupHall: c.space_group_hall_symbol,
  };
  if (c.ML_half_mosaicity_deg !== undefined && c.ML_domain_size_ang !== undefined) {
    crystal.mosaicity = { halfMosaicityDeg: c.ML_half_mosaicity_deg, domainSizeAng: c.ML_domain_size_ang };
  }
  return crystal;
}

function normalized(v: Vec3, what: string, file: string): Vec3 {
  if (!(vec3Length(v) > 0)) throw new InputError(`${what}: expected a non-zero vector`, file);
  return vec3Normalize(v);
}

/** Validate a `beam` entry; the direction is normalised and s0 = −direction/wavelength. */
export function buildBeam(raw: unknown, where: string, file: string): Beam {
  const b = check(beamSchema, raw, where, file);
  const direction = normalized(v3(b.direction), `${where}.direction`, file);
  return {
    direction,
    wavelength: b.wavelength,
    s0: vec3Scale(direction, -1 / b.wavelength),
    polarizationNormal: b.polarization_normal === undefined ? vec3(0, 1, 0) : v3(b.polarization_normal),
    polarizationFraction: b.polarization_fraction ?? 0.999,
    divergence: b.divergence ?? 0,
    sigmaDivergence: b.sigma_divergence ?? 0,
    flux: b.flux ?? 0,
    transmission: b.transmission ?? 1,
    probe: b.probe ?? "x-ray",
  };
}

/** A lab-frame coordinate frame: unit fast and slow axes, their normal, and an origin. */
interface Frame {
  fast: Vec3;
  slow: Vec3;
  normal: Vec3;
  origin: Vec3;
}

const LAB_FRAME: Frame = { fast: vec3(1, 0, 0), slow: vec3(0, 1, 0), normal: vec3(0, 0, 1), origin: vec3(0, 0, 0) };

/** Compose a local frame (as stored in the file) with its parent's lab frame, as dxtbx `VirtualPanelFrame` does. */
function composeFrame(
  parent: Frame,
  raw: { fast_axis: number[]; slow_axis: number[]; origin: number[] },
  where: string,
  file: string,
): Frame {
  const lf = normalized(v3(raw.fast_axis), `${where}.fast_axis`, file);
  const ls = normalized(v3(raw.slow_axis), `${where}.slow_axis`, file);
  const P = mat3Transpose(mat3FromRows(parent.fast, parent.slow, parent.normal));
  const fast = mat3Vec3(P, lf);
  const slow = mat3Vec3(P, ls);
  const origin = vec3Add(mat3Vec3(P, v3(raw.origin)), parent.origin);
  return { fast, slow, normal: vec3Cross(fast, slow), origin };
}

function makePanel(name: string, frame: Frame, pixelSize: [number, number], imageSize: [number, number]): Panel {
  const { origin, fast, slow } = frame;
  return {
    name,
    origin,
    fastAxis: fast,
    slowAxis: slow,
    pixelSize,
    imageSize,
    pixelToLab(x: number, y: number): Vec3 {
      const fx = pixelSize[0] * x;
      const sy = pixelSize[1] * y;
      return vec3(
        origin[0] + fast[0] * fx + slow[0] * sy,
        origin[1] + fast[1] * fx + slow[1] * sy,
        origin[2] + fast[2] * fx + slow[2] * sy,
      );
    },
  };
}

/** Validate a `detector` entry and resolve each panel's frame to the lab frame through the hierarchy. */
export function buildDetector(raw: unknown, where: string, file: string): Detector {
  const d = check(detectorSchema, raw, where, file);
  const panelsRaw = d.panels.map((p, i) => check(panelSchema, p, `${where}.panels[${i}]`, file));
  const frames: (Frame | undefined)[] = panelsRaw.map(() => undefined);
  if (d.hierarchy === undefined) {
    panelsRaw.forEach((p, i) => (frames[i] = composeFrame(LAB_FRAME, p, `${where}.panels[${i}]`, file)));
  } else {
    const walk = (node: unknown, parent: Frame, path: string): void => {
      if (isPlainObject(node) && "panel" in node) {
        const idx = check(z.int().nonnegative(), node.panel, `${path}.panel`, file);
        if (idx >= panelsRaw.length) {
          throw new InputError(`${path}.panel: index ${idx} out of range (${panelsRaw.length} panels)`, file);
        }
        if (frames[idx] !== undefined) throw new InputError(`${path}.panel: panel ${idx} appears twice`, file);
        frames[idx] = composeFrame(parent, panelsRaw[idx], `${where}.panels[${idx}]`, file);
        return;
      }
      const g = check(
        frameSchema.extend({ children: z.array(z.unknown(), { error: "expected a list" }) }),
        node,
        path,
        file,
      );
      const frame = composeFrame(parent, g, path, file);
      g.children.forEach((child, i) => {
        walk(child, frame, `${path}.children[${i}]`);
      });
    };
    walk(d.hierarchy, LAB_FRAME, `${where}.hierarchy`);
  }
  const panels = panelsRaw.map((p, i) => {
    const frame = frames[i];
    if (frame === undefined) throw new InputError(`${where}.hierarchy: panel ${i} is not in the hierarchy`, file);
    return makePanel(p.name ?? "", frame, [p.pixel_size[0], p.pixel_size[1]], [p.image_size[0], p.image_size[1]]);
  });
  return { panels };
}

/** Validate a single- or multi-axis `goniometer` entry (a multi-axis one reduces to fixed · scan · setting). */
export function buildGoniometer(raw: unknown, where: string, file: string): Goniometer {
  if (isPlainObject(raw) && "axes" in raw) {
    const g = check(multiAxisGoniometerSchema, raw, where, file);
    const n = g.axes.length;
    if (g.angles.length !== n) throw new InputError(`${where}.angles: expected ${n} angles (one per axis)`, file);
    if (g.scan_axis >= n)
      throw new InputError(`${where}.scan_axis: index ${g.scan_axis} out of range (${n} axes)`, file);
    const axes = g.axes.map((a, i) => normalized(v3(a), `${where}.axes[${i}]`, file));
    let fixedRotation = mat3Identity();
    let settingRotation = mat3Identity();
    for (let i = 0; i < n; i++) {
      if (i === g.scan_axis) continue;
      const R = axisAngleMatrix(axes[i], g.angles[i]);
      if (i < g.scan_axis) fixedRotation = mat3Multiply(R, fixedRotation);
      else settingRotation = mat3Multiply(R, settingRotation);
    }
    return {
      rotationAxis: axes[g.scan_axis],
      fixedRotation,
      settingRotation,
      multiAxis: { axes, angles: g.angles, names: g.names ?? [], scanAxis: g.scan_axis },
    };
  }
  const g = check(singleAxisGoniometerSchema, raw, where, file);
  return {
    rotationAxis: normalized(v3(g.rotation_axis), `${where}.rotation_axis`, file),
    fixedRotation: g.fixed_rotation === undefined ? mat3Identity() : mat3(g.fixed_rotation),
    settingRotation: g.setting_rotation === undefined ? mat3Identity() : mat3(g.setting_rotation),
  };
}

/** Validate a `scan` entry; the oscillation comes from `oscillation` or from `properties.oscillation`. */
export function buildScan(raw: unknown, where: string, file: string): Scan {
  const s = check(scanSchema, raw, where, file);
  let oscillation: [number, number];
  if (s.oscillation !== undefined) {
    oscillation = [s.oscillation[0], s.oscillation[1]];
  } else if (s.properties !== undefined) {
    const starts = s.properties.oscillation;
    const w = s.properties.oscillation_width;
    let width: number;
    if (w !== undefined) width = typeof w === "number" ? w : w[0];
    else if (starts.length >= 2) width = starts[1] - starts[0];
    else throw new InputError(`${where}.properties.oscillation_width: needed for a single-image scan`, file);
    oscillation = [starts[0], width];
  } else {
    throw new InputError(`${where}: expected "oscillation" or "properties.oscillation"`, file);
  }
  return {
    imageRange: [s.image_range[0], s.image_range[1]],
    oscillation,
    batchOffset: s.batch_offset ?? 0,
  };
}
