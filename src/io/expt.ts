/**
 * DIALS experiment lists (`.expt` JSON, dxtbx `ExperimentList.to_dict`): read, validate, expose the crystal, beam,
 * detector, goniometer and scan models as typed geometry, and write the document back with any replaced scaling
 * models. Unknown keys survive a read/write round trip unchanged.
 *
 * @packageDocumentation
 */
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { InputError } from "../errors.ts";
import { oneLine as printableLine } from "./printable.ts";
import { writeTextAtomic } from "./atomic-write.ts";
import {
  axisAngleMatrix,
  fractionalizationMatrix,
  mat3,
  mat3Determinant,
  mat3FromRows,
  mat3Identity,
  mat3Inverse,
  mat3Multiply,
  mat3Transpose,
  unitCellFromRealSpaceVectors,
  vec3,
  vec3Add,
  vec3Length,
  vec3Normalize,
  vec3Scale,
  mat3Vec3,
  vec3Cross,
} from "../geometry/vectors.ts";
import type { Mat3, UnitCell, Vec3 } from "../geometry/vectors.ts";

export type { Mat3, Vec3, UnitCell } from "../geometry/vectors.ts";

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

type JsonObject = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------------------------
// Schemas (zod 4). Loose objects keep unknown keys; the raw document is stored separately for writing back.

function finiteNumbers(n: number) {
  return z.custom<number[]>(
    (v) => Array.isArray(v) && v.length === n && v.every((x) => typeof x === "number" && Number.isFinite(x)),
    { error: `expected ${n} numbers` },
  );
}

const vec3Schema = finiteNumbers(3);
const mat3Schema = finiteNumbers(9);
const finite = z.number({ error: "expected a finite number" });
const indexSchema = z.int({ error: "expected a non-negative integer index or null" }).nonnegative().nullable();

type ModelKey = "beam" | "detector" | "goniometer" | "scan" | "crystal" | "scaling_model";

const documentSchema = z.looseObject({
  __id__: z.literal("ExperimentList", { error: 'expected "ExperimentList" (not a DIALS experiment list)' }),
  experiment: z.array(z.unknown(), { error: "expected a list of experiments" }),
  beam: z.array(z.unknown(), { error: "expected a list" }).optional(),
  detector: z.array(z.unknown(), { error: "expected a list" }).optional(),
  goniometer: z.array(z.unknown(), { error: "expected a list" }).optional(),
  scan: z.array(z.unknown(), { error: "expected a list" }).optional(),
  crystal: z.array(z.unknown(), { error: "expected a list" }).optional(),
  scaling_model: z.array(z.unknown(), { error: "expected a list" }).optional(),
});

const experimentSchema = z.looseObject({
  identifier: z.string({ error: "expected a string" }).optional(),
  beam: indexSchema.optional(),
  detector: indexSchema.optional(),
  goniometer: indexSchema.optional(),
  scan: indexSchema.optional(),
  crystal: indexSchema.optional(),
  scaling_model: indexSchema.optional(),
});

const crystalSchema = z.looseObject({
  real_space_a: vec3Schema,
  real_space_b: vec3Schema,
  real_space_c: vec3Schema,
  space_group_hall_symbol: z.string({ error: "expected a Hall symbol string" }),
  ML_half_mosaicity_deg: finite.optional(),
  ML_domain_size_ang: finite.optional(),
});

const beamSchema = z.looseObject({
  direction: vec3Schema,
  wavelength: z
    .number({ error: "expected a positive wavelength (Å)" })
    .positive({ error: "expected a positive wavelength (Å)" }),
  divergence: finite.optional(),
  sigma_divergence: finite.optional(),
  polarization_normal: vec3Schema.optional(),
  polarization_fraction: finite.optional(),
  flux: finite.optional(),
  transmission: finite.optional(),
  probe: z.string({ error: "expected a string" }).optional(),
});

const frameSchema = z.looseObject({
  fast_axis: vec3Schema,
  slow_axis: vec3Schema,
  origin: vec3Schema,
});

const panelSchema = z.looseObject({
  name: z.string({ error: "expected a string" }).optional(),
  fast_axis: vec3Schema,
  slow_axis: vec3Schema,
  origin: vec3Schema,
  pixel_size: z.tuple([finite.positive(), finite.positive()], { error: "expected 2 positive numbers" }),
  image_size: z.tuple([z.int().nonnegative(), z.int().nonnegative()], { error: "expected 2 non-negative integers" }),
});

const detectorSchema = z.looseObject({
  panels: z.array(z.unknown(), { error: "expected a list of panels" }),
  hierarchy: z.unknown().optional(),
});

const singleAxisGoniometerSchema = z.looseObject({
  rotation_axis: vec3Schema,
  fixed_rotation: mat3Schema.optional(),
  setting_rotation: mat3Schema.optional(),
});

const multiAxisGoniometerSchema = z.looseObject({
  axes: z.array(vec3Schema, { error: "expected a list of 3-vectors" }).min(1, { error: "expected at least one axis" }),
  angles: z.array(finite, { error: "expected a list of angles" }),
  names: z.array(z.string(), { error: "expected a list of names" }).optional(),
  scan_axis: z.int({ error: "expected an axis index" }).nonnegative(),
});

const scanSchema = z.looseObject({
  image_range: z.tuple([z.int(), z.int()], { error: "expected 2 integers" }),
  batch_offset: z.int({ error: "expected an integer" }).optional(),
  oscillation: z.tuple([finite, finite], { error: "expected [start, width] in degrees" }).optional(),
  properties: z
    .looseObject({
      oscillation: z.array(finite, { error: "expected a list of start angles" }).min(1),
      oscillation_width: z.union([finite, z.array(finite).min(1)], { error: "expected a width" }).optional(),
    })
    .optional(),
});

// ---------------------------------------------------------------------------------------------------------------
// Helpers

function formatPath(prefix: string, path: readonly PropertyKey[]): string {
  let s = prefix;
  for (const p of path) s += typeof p === "number" ? `[${p}]` : s === "" ? String(p) : `.${String(p)}`;
  return s;
}

function oneLine(s: string): string {
  // JSON.parse messages quote the offending text, which may hold CR, NUL or other control characters (found by the
  // issue-7 fuzz tests): flatten line breaks and make other control characters visible, so the message stays one line.
  return printableLine(s);
}

function check<T>(schema: z.ZodType<T>, value: unknown, where: string, file: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = oneLine(formatPath(where, issue.path)); // keys come from the file
  const message = oneLine(issue.message.replace(/^Invalid input: /, ""));
  throw new InputError(`${path === "" ? "" : `${path}: `}${message}`, file);
}

function v3(a: readonly number[]): Vec3 {
  return vec3(a[0], a[1], a[2]);
}

function isPlainObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

// ---------------------------------------------------------------------------------------------------------------
// Model builders

function buildCrystal(raw: unknown, where: string, file: string): Crystal {
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

function buildBeam(raw: unknown, where: string, file: string): Beam {
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

function buildDetector(raw: unknown, where: string, file: string): Detector {
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

function buildGoniometer(raw: unknown, where: string, file: string): Goniometer {
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

function buildScan(raw: unknown, where: string, file: string): Scan {
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

// ---------------------------------------------------------------------------------------------------------------
// Experiment list

/**
 * A DIALS experiment list: typed experiments plus the full JSON document, so that writing it back preserves every
 * field (including ones this library does not model). Create one with {@link readExperiments} or
 * {@link parseExperiments}.
 */
export class ExperimentList {
  readonly #document: JsonObject;
  #experiments: Experiment[];
  readonly #replaced = new Map<number, JsonObject>();

  /**
   * Wrap an already validated document and its experiments. Use {@link parseExperiments} instead.
   *
   * @param document - the full `.expt` document (not copied; the list takes ownership)
   * @param experiments - the typed experiments, one per entry of `document.experiment`
   */
  constructor(document: JsonObject, experiments: Experiment[]) {
    this.#document = document;
    this.#experiments = experiments;
  }

  /** The experiments, in file order. */
  get experiments(): readonly Experiment[] {
    return this.#experiments;
  }

  /** Number of experiments. */
  get length(): number {
    return this.#experiments.length;
  }

  /**
   * Replace the scaling model of one experiment (used when writing `scaled.expt`). The dictionary is deep-copied and
   * written verbatim. If the experiment shares its scaling-model entry with other experiments, a new entry is added.
   *
   * @param index - experiment index (0-based)
   * @param model - the scaling model dictionary (JSON-compatible, e.g. `{ "__id__": "KB", ... }`)
   * @throws RangeError when `index` is out of range or `model` is not an object
   */
  setScalingModel(index: number, model: Record<string, unknown>): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.#experiments.length) {
      throw new RangeError(
        `setScalingModel: experiment index ${index} out of range (${this.#experiments.length} experiments)`,
      );
    }
    if (!isPlainObject(model)) throw new RangeError("setScalingModel: model must be a plain object");
    const copy = structuredClone(model);
    this.#replaced.set(index, copy);
    const next = this.#experiments.slice();
    next[index] = { ...next[index], scalingModel: structuredClone(copy) };
    this.#experiments = next;
  }

  /**
   * The full document as plain JSON data: the original with any replaced scaling models. Unknown keys are preserved.
   *
   * @returns a fresh deep copy of the document
   */
  toJSON(): unknown {
    const doc = structuredClone(this.#document);
    if (this.#replaced.size === 0) return doc;
    const expts = doc.experiment as JsonObject[];
    let models = doc.scaling_model as unknown[] | undefined;
    if (!Array.isArray(models)) {
      models = [];
      doc.scaling_model = models;
    }
    const users = new Map<number, number>();
    for (const e of expts) {
      const idx = e.scaling_model;
      if (typeof idx === "number") users.set(idx, (users.get(idx) ?? 0) + 1);
    }
    for (const [i, model] of [...this.#replaced].sort((x, y) => x[0] - y[0])) {
      const e = expts[i];
      const idx = e.scaling_model;
      if (typeof idx === "number" && users.get(idx) === 1) {
        models[idx] = structuredClone(model);
      } else {
        if (typeof idx === "number") users.set(idx, (users.get(idx) ?? 1) - 1);
        e.scaling_model = models.length;
        users.set(models.length, 1);
        models.push(structuredClone(model));
      }
    }
    return doc;
  }
}

function buildExperimentList(doc: JsonObject, file: string): ExperimentList {
  const d = check(documentSchema, doc, "", file);
  const cache = new Map<string, unknown>();
  const builders: Record<Exclude<ModelKey, "scaling_model">, (raw: unknown, where: string, file: string) => unknown> = {
    beam: buildBeam,
    detector: buildDetector,
    goniometer: buildGoniometer,
    scan: buildScan,
    crystal: buildCrystal,
  };
  // Validate every model entry, referenced or not, so that a bad file fails early and names the entry.
  for (const key of ["beam", "detector", "goniometer", "scan", "crystal"] as const) {
    const list = d[key] ?? [];
    list.forEach((raw, i) => cache.set(`${key}:${i}`, builders[key](raw, `${key}[${i}]`, file)));
  }
  const resolve = (e: z.infer<typeof experimentSchema>, key: ModelKey, where: string): unknown => {
    const idx = e[key];
    if (idx === undefined || idx === null) return undefined;
    const list = d[key] ?? [];
    if (idx >= list.length) {
      throw new InputError(`${where}.${key}: index ${idx} out of range (${list.length} ${key} entries)`, file);
    }
    if (key === "scaling_model") {
      const m = list[idx];
      if (!isPlainObject(m)) throw new InputError(`scaling_model[${idx}]: expected an object`, file);
      return structuredClone(m);
    }
    return cache.get(`${key}:${idx}`);
  };
  const experiments = d.experiment.map((raw, i): Experiment => {
    const where = `experiment[${i}]`;
    const e = check(experimentSchema, raw, where, file);
    return {
      identifier: e.identifier ?? "",
      crystal: resolve(e, "crystal", where) as Crystal | undefined,
      beam: resolve(e, "beam", where) as Beam | undefined,
      detector: resolve(e, "detector", where) as Detector | undefined,
      goniometer: resolve(e, "goniometer", where) as Goniometer | undefined,
      scan: resolve(e, "scan", where) as Scan | undefined,
      scalingModel: resolve(e, "scaling_model", where) as Record<string, unknown> | undefined,
    };
  });
  return new ExperimentList(doc, experiments);
}

/**
 * Validate a parsed `.expt` document and build the typed experiment list. The input is deep-copied.
 *
 * @param json - the parsed JSON document
 * @param sourceName - file name used in error messages
 * @returns the experiment list
 * @throws InputError naming `sourceName` and the JSON path of the first bad field
 */
export function parseExperiments(json: unknown, sourceName: string): ExperimentList {
  if (!isPlainObject(json)) throw new InputError("expected a JSON object (a DIALS experiment list)", sourceName);
  return buildExperimentList(structuredClone(json), sourceName);
}

// ---------------------------------------------------------------------------------------------------------------
// JSON text (Python's json module writes NaN and ±Infinity as bare tokens; accept and write them the same way)

const NONFINITE = "\u0000nonfinite:";

function parseJsonText(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    if (/NaN|Infinity/.test(text)) {
      const replaced = text.replace(/"(?:[^"\\]|\\.)*"|(-?Infinity|NaN)/g, (m, tok: string | undefined) =>
        tok === undefined ? m : `"\\u0000nonfinite:${tok}"`,
      );
      try {
        return JSON.parse(replaced, (_k, v: unknown) =>
          typeof v === "string" && v.startsWith(NONFINITE) ? Number(v.slice(NONFINITE.length)) : v,
        );
      } catch {
        // fall through to the original error
      }
    }
    const msg = err instanceof Error ? err.message : String(err);
    throw new InputError(`invalid JSON: ${oneLine(msg)}`, file);
  }
}

function formatNumber(x: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (x === Infinity) return "Infinity";
  if (x === -Infinity) return "-Infinity";
  if (Object.is(x, -0)) return "-0.0";
  return String(x);
}

/**
 * Serialise JSON data as DIALS does (`json.dump(..., indent=2)`): two-space indentation, one element per line,
 * non-finite numbers as `NaN` / `Infinity`, negative zero as `-0.0`. Typed arrays are written as lists.
 *
 * @param value - JSON-compatible data
 * @returns the JSON text
 */
export function formatExperimentJson(value: unknown): string {
  return formatJsonValue(value, "");
}

/** One value of {@link formatExperimentJson} at nesting `indent` (built by string concatenation, no closures). */
function formatJsonValue(v: unknown, indent: string): string {
  if (v === null || v === undefined || typeof v === "function" || typeof v === "symbol") return "null";
  if (typeof v === "number") return formatNumber(v);
  if (typeof v === "string" || typeof v === "boolean") return JSON.stringify(v);
  if (typeof v === "bigint") return v.toString();
  if (Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView))) {
    const items = v as ArrayLike<unknown>;
    const n = items.length;
    if (n === 0) return "[]";
    const inner = `${indent}  `;
    const sep = `,\n${inner}`;
    let s = `[\n${inner}${formatJsonValue(items[0], inner)}`;
    for (let i = 1; i < n; i++) s += sep + formatJsonValue(items[i], inner);
    return `${s}\n${indent}]`;
  }
  if (typeof v === "object") {
    const o = v as JsonObject & { toJSON?: unknown };
    if (typeof o.toJSON === "function") return formatJsonValue((o.toJSON as () => unknown).call(o), indent);
    const inner = `${indent}  `;
    let s = "";
    for (const k of Object.keys(o)) {
      const x = o[k];
      if (x === undefined || typeof x === "function") continue;
      s += `${s === "" ? "{" : ","}\n${inner}${JSON.stringify(k)}: ${formatJsonValue(x, inner)}`;
    }
    return s === "" ? "{}" : `${s}\n${indent}}`;
  }
  return "";
}

function describeFsError(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  if (code === "ENOENT") return "file not found";
  if (code === "EISDIR") return "is a directory, not a file";
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  return oneLine(err instanceof Error ? err.message : String(err));
}

/**
 * Read and validate a DIALS `.expt` experiment list.
 *
 * @param path - the file to read
 * @returns the experiment list
 * @throws InputError when the file is missing, is not JSON (for example a msgpack `.refl`), or has a bad field
 */
export async function readExperiments(path: string): Promise<ExperimentList> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    throw new InputError(`cannot read experiment list: ${describeFsError(err)}`, path);
  }
  if (buf.length === 0) throw new InputError("file is empty (expected a DIALS experiment list)", path);
  if (buf[0] === 0x93 || buf[0] === 0x92 || buf[0] === 0x91) {
    throw new InputError("is a msgpack file (a DIALS reflection table?), not a JSON experiment list", path);
  }
  const text = buf.toString("utf8").replace(/^\uFEFF/, "");
  const json = parseJsonText(text, path);
  if (!isPlainObject(json)) throw new InputError("expected a JSON object (a DIALS experiment list)", path);
  return buildExperimentList(json, path);
}

/**
 * Write an experiment list as DIALS-style JSON (see {@link formatExperimentJson}), atomically: the text goes to a
 * temporary file in the same directory, which is synced and then renamed over `path` (see `writeTextAtomic`).
 *
 * @param path - destination file
 * @param list - the experiment list (its {@link ExperimentList.toJSON} document is written)
 * @throws InputError when the file cannot be written
 */
export async function writeExperiments(path: string, list: ExperimentList): Promise<void> {
  await writeTextAtomic(path, formatExperimentJson(list.toJSON()));
}
