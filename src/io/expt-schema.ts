/**
 * The zod schemas of a DIALS experiment list document and its model entries (zod 4), and the validation helper that
 * turns the first schema failure into an {@link InputError} naming the file and the JSON path. Loose objects keep
 * unknown keys; the raw document is stored separately for writing back.
 *
 * @packageDocumentation
 */
import { z } from "zod";
import { InputError } from "../errors.ts";
import { vec3, type Vec3 } from "../geometry/vector-maths.ts";
import { oneLine } from "./printable.ts";

/** A JSON object of the document. */
export type JsonObject = Record<string, unknown>;

function finiteNumbers(n: number) {
  return z.custom<number[]>(
    (v) => Array.isArray(v) && v.length === n && v.every((x) => typeof x === "number" && Number.isFinite(x)),
    { error: `expected ${n} numbers` },
  );
}

export const vec3Schema = finiteNumbers(3);
export const mat3Schema = finiteNumbers(9);
export const finite = z.number({ error: "expected a finite number" });
export const indexSchema = z.int({ error: "expected a non-negative integer index or null" }).nonnegative().nullable();

/** The keys of the document's model lists, which experiments index into. */
export type ModelKey = "beam" | "detector" | "goniometer" | "scan" | "crystal" | "scaling_model";

export const documentSchema = z.looseObject({
  __id__: z.literal("ExperimentList", { error: 'expected "ExperimentList" (not a DIALS experiment list)' }),
  experiment: z.array(z.unknown(), { error: "expected a list of experiments" }),
  beam: z.array(z.unknown(), { error: "expected a list" }).optional(),
  detector: z.array(z.unknown(), { error: "expected a list" }).optional(),
  goniometer: z.array(z.unknown(), { error: "expected a list" }).optional(),
  scan: z.array(z.unknown(), { error: "expected a list" }).optional(),
  crystal: z.array(z.unknown(), { error: "expected a list" }).optional(),
  scaling_model: z.array(z.unknown(), { error: "expected a list" }).optional(),
});

export const experimentSchema = z.looseObject({
  identifier: z.string({ error: "expected a string" }).optional(),
  beam: indexSchema.optional(),
  detector: indexSchema.optional(),
  goniometer: indexSchema.optional(),
  scan: indexSchema.optional(),
  crystal: indexSchema.optional(),
  scaling_model: indexSchema.optional(),
});

export const crystalSchema = z.looseObject({
  real_space_a: vec3Schema,
  real_space_b: vec3Schema,
  real_space_c: vec3Schema,
  space_group_hall_symbol: z.string({ error: "expected a Hall symbol string" }),
  ML_half_mosaicity_deg: finite.optional(),
  ML_domain_size_ang: finite.optional(),
});

export const beamSchema = z.looseObject({
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

export const frameSchema = z.looseObject({
  fast_axis: vec3Schema,
  slow_axis: vec3Schema,
  origin: vec3Schema,
});

export const panelSchema = z.looseObject({
  name: z.string({ error: "expected a string" }).optional(),
  fast_axis: vec3Schema,
  slow_axis: vec3Schema,
  origin: vec3Schema,
  pixel_size: z.tuple([finite.positive(), finite.positive()], { error: "expected 2 positive numbers" }),
  image_size: z.tuple([z.int().nonnegative(), z.int().nonnegative()], { error: "expected 2 non-negative integers" }),
});

export const detectorSchema = z.looseObject({
  panels: z.array(z.unknown(), { error: "expected a list of panels" }),
  hierarchy: z.unknown().optional(),
});

export const singleAxisGoniometerSchema = z.looseObject({
  rotation_axis: vec3Schema,
  fixed_rotation: mat3Schema.optional(),
  setting_rotation: mat3Schema.optional(),
});

export const multiAxisGoniometerSchema = z.looseObject({
  axes: z.array(vec3Schema, { error: "expected a list of 3-vectors" }).min(1, { error: "expected at least one axis" }),
  angles: z.array(finite, { error: "expected a list of angles" }),
  names: z.array(z.string(), { error: "expected a list of names" }).optional(),
  scan_axis: z.int({ error: "expected an axis index" }).nonnegative(),
});

export const scanSchema = z.looseObject({
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

function formatPath(prefix: string, path: readonly PropertyKey[]): string {
  let s = prefix;
  for (const p of path) s += typeof p === "number" ? `[${p}]` : s === "" ? String(p) : `.${String(p)}`;
  return s;
}

/**
 * Validate `value` against `schema`, or throw an {@link InputError} naming `file` and the JSON path of the first bad
 * field (`where` is the path of `value` in the document). Keys and messages are flattened to one printable line.
 */
export function check<T>(schema: z.ZodType<T>, value: unknown, where: string, file: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = oneLine(formatPath(where, issue.path)); // keys come from the file
  const message = oneLine(issue.message.replace(/^Invalid input: /, ""));
  throw new InputError(`${path === "" ? "" : `${path}: `}${message}`, file);
}

/** A {@link Vec3} from the first three numbers of a validated list. */
export function v3(a: readonly number[]): Vec3 {
  return vec3(a[0], a[1], a[2]);
}

/** Whether `v` is a JSON object (not null, not an array). */
export function isPlainObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
