/**
 * Configuration of the v1 `DiffuseScalingModel`: the JSON file form (the spec's snake_case keys) validated with zod,
 * and the camelCase TypeScript form the library uses, with the v1 guards.
 *
 * @packageDocumentation
 */
import { z } from "zod";
import { openInputFile } from "../io/input-file.ts";
import { findJsonKeyProblem } from "../io/json-keys.ts";
import { printable } from "../io/printable.ts";
import {
  ConfigError,
  DisabledComponentAccess,
  InputError,
  ParameterLimitExceeded,
  requireObjectArgument,
} from "../errors.ts";

/** Number of smoother control points a DIALS `GaussianSmoother1D` can have within the v1 limit. */
export const ALLOWED_CONTROL_POINTS: readonly number[] = [2, 3, 5];

/** The largest number of smoother control points in v1. */
export const MAX_CONTROL_POINTS = 5;

/** Extra free parameters the v1 model allows beyond one per still. */
export const MAX_EXTRA_FREE_PARAMETERS = 5;

/**
 * The most stills (experiments) one model holds: 2^24 = 16 777 216. The model and its refinement keep a few arrays
 * with one value per still (scales, ESDs, gradients, step vectors: about 100 bytes a still), so this keeps them under
 * 2 GB and is far above the 10^5–10^6 stills of the largest serial datasets; a larger count is refused before anything
 * is allocated.
 */
export const MAX_STILLS = 2 ** 24;

/** Default weight λ of the smoother's second-difference restraint (see `JointScalingProblem`). */
export const DEFAULT_SMOOTHER_RESTRAINT_WEIGHT = 1e4;

/** Configuration of the v1 diffuse scaling model (camelCase). */
export interface DiffuseScalingConfig {
  /** The per-still multiplier (always on in v1). */
  perStillScale: {
    /** Must be true. @defaultValue true */
    enabled: boolean;
    /** Initial b per still id; stills not listed start at 1.0. @defaultValue {} */
    initialValues: ReadonlyMap<number, number>;
  };
  /** The shared resolution smoother a(|q|). */
  resolutionSmoother: {
    /** @defaultValue false */
    enabled: boolean;
    /** Number of smoother values: 2, 3 or 5. @defaultValue 3 */
    nControlPoints: number;
    /** [q_min, q_max] in 1/Å; undefined = the range of the data. @defaultValue undefined */
    resolutionRange: readonly [number, number] | undefined;
    /** Weight λ of the smoothness restraint. @defaultValue 1e4 */
    restraintWeight: number;
  };
  /** Components that are hard-disabled in v1; enabling any is an error. */
  experimentalComponents: {
    /** @defaultValue {enabled: false} */
    panelScale: { enabled: boolean };
    /** @defaultValue {enabled: false} */
    spatialScale: { enabled: boolean };
    /** @defaultValue {enabled: false} */
    additiveOffset: { enabled: boolean };
  };
  /** Bragg reflections with partiality below this are not used. @defaultValue 0.1 */
  partialityThreshold: number;
}

const enabledFlag = z.strictObject({ enabled: z.boolean() });

/** zod schema of the JSON configuration file (snake_case keys, every key optional). */
export const diffuseScalingConfigSchema = z.strictObject({
  per_still_scale: z
    .strictObject({
      enabled: z.boolean().optional(),
      initial_values: z
        .record(z.string().regex(/^\d+$/, "still id must be a non-negative integer"), z.number())
        .optional(),
    })
    .optional(),
  resolution_smoother: z
    .strictObject({
      enabled: z.boolean().optional(),
      n_control_points: z.number().int().optional(),
      resolution_range: z.tuple([z.number(), z.number()]).optional(),
      restraint_weight: z.number().optional(),
    })
    .optional(),
  experimental_components: z
    .strictObject({
      panel_scale: enabledFlag.optional(),
      spatial_scale: enabledFlag.optional(),
      additive_offset: enabledFlag.optional(),
    })
    .optional(),
  partiality_threshold: z.number().optional(),
  error_model: z.enum(["basic", "none"]).optional(),
});

/** The JSON (snake_case) form of the configuration. */
export type DiffuseScalingConfigJson = z.infer<typeof diffuseScalingConfigSchema>;

/** A partial camelCase configuration, as accepted by {@link resolveDiffuseScalingConfig}. */
export interface DiffuseScalingConfigInput {
  perStillScale?: { enabled?: boolean; initialValues?: ReadonlyMap<number, number> | Readonly<Record<string, number>> };
  resolutionSmoother?: {
    enabled?: boolean;
    nControlPoints?: number;
    resolutionRange?: readonly [number, number];
    restraintWeight?: number;
  };
  experimentalComponents?: {
    panelScale?: { enabled: boolean };
    spatialScale?: { enabled: boolean };
    additiveOffset?: { enabled: boolean };
  };
  partialityThreshold?: number;
  /**
   * The error model of the refinement (the `errorModel` refinement option; an explicit option of the job wins).
   * @defaultValue undefined: the refinement's default ("basic")
   */
  errorModel?: "basic" | "none";
}

/**
 * Parses a configuration file's JSON content (snake_case) into the camelCase input form.
 *
 * @param json - The parsed JSON value.
 * @param source - Name of the file, for messages.
 * @throws {@link ConfigError} naming the file and the field when the JSON does not match the schema.
 */
export function parseDiffuseScalingConfigJson(json: unknown, source: string): DiffuseScalingConfigInput {
  const parsed = diffuseScalingConfigSchema.safeParse(json);
  if (!parsed.success) {
    const issues: readonly { path: readonly PropertyKey[]; message: string }[] = parsed.error.issues;
    const first = issues.at(0);
    const where = first === undefined || first.path.length === 0 ? "(root)" : first.path.map(String).join(".");
    // Keys and values quoted from the file may hold line breaks: keep the message one printable line.
    throw new ConfigError(`${source}: ${printable(where)}: ${printable(first?.message ?? "invalid configuration")}`);
  }
  const c = parsed.data;
  const input: DiffuseScalingConfigInput = {};
  if (c.per_still_scale !== undefined) {
    input.perStillScale = {};
    if (c.per_still_scale.enabled !== undefined) input.perStillScale.enabled = c.per_still_scale.enabled;
    if (c.per_still_scale.initial_values !== undefined)
      input.perStillScale.initialValues = c.per_still_scale.initial_values;
  }
  if (c.resolution_smoother !== undefined) {
    const r = c.resolution_smoother;
    input.resolutionSmoother = {};
    if (r.enabled !== undefined) input.resolutionSmoother.enabled = r.enabled;
    if (r.n_control_points !== undefined) input.resolutionSmoother.nControlPoints = r.n_control_points;
    if (r.resolution_range !== undefined) input.resolutionSmoother.resolutionRange = r.resolution_range;
    if (r.restraint_weight !== undefined) input.resolutionSmoother.restraintWeight = r.restraint_weight;
  }
  if (c.experimental_components !== undefined) {
    const e = c.experimental_components;
    input.experimentalComponents = {};
    if (e.panel_scale !== undefined) input.experimentalComponents.panelScale = e.panel_scale;
    if (e.spatial_scale !== undefined) input.experimentalComponents.spatialScale = e.spatial_scale;
    if (e.additive_offset !== undefined) input.experimentalComponents.additiveOffset = e.additive_offset;
  }
  if (c.partiality_threshold !== undefined) input.partialityThreshold = c.partiality_threshold;
  if (c.error_model !== undefined) input.errorModel = c.error_model;
  return input;
}

/**
 * The largest configuration file read, in bytes (16 MiB: room for `initial_values` of several hundred thousand
 * stills). A larger file is refused before it is read, and so is a special file (pipe, device, directory).
 */
export const MAX_CONFIG_FILE_BYTES = 16 * 2 ** 20;

/** The file's bytes, at most {@link MAX_CONFIG_FILE_BYTES} (a regular file's size is checked before reading). */
async function readBoundedFile(path: string): Promise<Buffer> {
  const tooLarge = (): InputError =>
    new InputError(`config file is larger than the ${MAX_CONFIG_FILE_BYTES} bytes allowed`, path);
  // a regular file (a FIFO, device or directory is refused before a byte is read) of at most the limit
  const { handle, size } = await openInputFile(path, "config file", MAX_CONFIG_FILE_BYTES);
  try {
    // read until the end, never more than one byte over the limit (a file that grew is caught too); the buffer
    // starts at the file's size and doubles up to the limit
    let buffer = Buffer.alloc(Math.min(MAX_CONFIG_FILE_BYTES, size) + 1);
    let length = 0;
    for (;;) {
      if (length === buffer.length) {
        if (length > MAX_CONFIG_FILE_BYTES) throw tooLarge();
        const grown = Buffer.alloc(Math.min(2 * buffer.length, MAX_CONFIG_FILE_BYTES + 1));
        buffer.copy(grown, 0, 0, length);
        buffer = grown;
      }
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > MAX_CONFIG_FILE_BYTES) throw tooLarge();
    return buffer.subarray(0, length);
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`cannot read config: ${printable((err as Error).message)}`, path);
  } finally {
    await handle.close();
  }
}

/**
 * Reads and parses a configuration file (JSON, snake_case keys). Unreadable files, files over
 * {@link MAX_CONFIG_FILE_BYTES} and invalid JSON are {@link InputError}s naming the file; the message stays one
 * printable line even when the JSON parser quotes control characters or line breaks from the file. Duplicate keys in
 * one object (which `JSON.parse` would silently resolve to the last) and the keys `__proto__`, `constructor` and
 * `prototype` are refused, at any depth.
 *
 * @param path - The configuration file.
 * @returns The camelCase input form (see {@link parseDiffuseScalingConfigJson}).
 * @throws {@link InputError} when the file cannot be read, is too large or is not JSON; {@link ConfigError} when it
 * has a duplicate or forbidden key or does not match the schema.
 */
export async function readDiffuseScalingConfigFile(path: string): Promise<DiffuseScalingConfigInput> {
  if (typeof path !== "string" || path === "") throw new ConfigError("config path must be a non-empty string");
  const text = (await readBoundedFile(path)).toString("utf8").replace(/^\uFEFF/, "");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new InputError(`not valid JSON: ${printable((err as Error).message, 200)}`, path);
  }
  const problem = findJsonKeyProblem(text);
  if (problem !== undefined) {
    const where = problem.path === "(root)" ? "at the top level" : `in ${printable(problem.path)}`;
    throw new ConfigError(
      problem.kind === "duplicate"
        ? `${path}: duplicate key "${printable(problem.key)}" ${where} (each key may appear once per object)`
        : `${path}: key "${printable(problem.key)}" ${where} is not allowed`,
    );
  }
  return parseDiffuseScalingConfigJson(json, path);
}

function toInitialValues(
  v: ReadonlyMap<number, number> | Readonly<Record<string, number>> | undefined,
): Map<number, number> {
  const out = new Map<number, number>();
  if (v === undefined) return out;
  const entries: [number, number][] =
    v instanceof Map
      ? [...(v as ReadonlyMap<number, number>).entries()]
      : Object.entries(v as Readonly<Record<string, number>>).map(([k, x]): [number, number] => [Number(k), x]);
  for (const [id, b] of entries) {
    if (!Number.isInteger(id) || id < 0) {
      throw new ConfigError(`per_still_scale.initial_values: still id ${id} is not a non-negative integer`);
    }
    if (!(Number.isFinite(b) && b > 0)) {
      throw new ConfigError(
        `per_still_scale.initial_values.${id}: initial scale must be a positive finite number, got ${b}`,
      );
    }
    out.set(id, b);
  }
  return out;
}

/**
 * Fills defaults and applies the v1 guards.
 *
 * @throws {@link DisabledComponentAccess} when an experimental component is enabled.
 * @throws {@link ParameterLimitExceeded} when more than 5 smoother control points are requested.
 * @throws {@link ConfigError} for any other invalid value (the message names the field and the allowed values).
 */
export function resolveDiffuseScalingConfig(input: DiffuseScalingConfigInput = {}): DiffuseScalingConfig {
  requireObjectArgument(input, "configuration");
  const exp = input.experimentalComponents ?? {};
  for (const [key, name] of [
    ["panelScale", "panel_scale"],
    ["spatialScale", "spatial_scale"],
    ["additiveOffset", "additive_offset"],
  ] as const) {
    if (exp[key]?.enabled === true) throw new DisabledComponentAccess(`${name} cannot be enabled`);
  }
  const perStillEnabled = input.perStillScale?.enabled ?? true;
  if (!perStillEnabled) throw new ConfigError("per_still_scale.enabled must be true in the v1 model");
  const rs = input.resolutionSmoother ?? {};
  const enabled = rs.enabled ?? false;
  const nControlPoints = rs.nControlPoints ?? 3;
  if (enabled) {
    if (!Number.isInteger(nControlPoints) || nControlPoints < 1) {
      throw new ConfigError(`resolution_smoother.n_control_points must be one of 2, 3 or 5, got ${nControlPoints}`);
    }
    if (nControlPoints > MAX_CONTROL_POINTS) {
      throw new ParameterLimitExceeded(
        `resolution_smoother.n_control_points = ${nControlPoints}, at most ${MAX_CONTROL_POINTS} are allowed`,
      );
    }
    if (!ALLOWED_CONTROL_POINTS.includes(nControlPoints)) {
      throw new ConfigError(
        `resolution_smoother.n_control_points = ${nControlPoints} is impossible for a DIALS Gaussian smoother (2, 3 or n+2 values): use 2, 3 or 5`,
      );
    }
  }
  const range = rs.resolutionRange;
  if (range !== undefined) {
    const [qMin, qMax] = range;
    if (!(Number.isFinite(qMin) && Number.isFinite(qMax) && qMin >= 0 && qMax > qMin)) {
      throw new ConfigError(
        `resolution_smoother.resolution_range must be [q_min, q_max] with 0 ≤ q_min < q_max, got [${qMin}, ${qMax}]`,
      );
    }
  }
  const restraintWeight = rs.restraintWeight ?? DEFAULT_SMOOTHER_RESTRAINT_WEIGHT;
  if (!(Number.isFinite(restraintWeight) && restraintWeight >= 0)) {
    throw new ConfigError(`resolution_smoother.restraint_weight must be a non-negative number, got ${restraintWeight}`);
  }
  const partialityThreshold = input.partialityThreshold ?? 0.1;
  if (!(Number.isFinite(partialityThreshold) && partialityThreshold >= 0 && partialityThreshold <= 1)) {
    throw new ConfigError(`partiality_threshold must lie in [0, 1], got ${partialityThreshold}`);
  }
  return {
    perStillScale: { enabled: true, initialValues: toInitialValues(input.perStillScale?.initialValues) },
    resolutionSmoother: {
      enabled,
      nControlPoints,
      resolutionRange: range === undefined ? undefined : [range[0], range[1]],
      restraintWeight,
    },
    experimentalComponents: {
      panelScale: { enabled: false },
      spatialScale: { enabled: false },
      additiveOffset: { enabled: false },
    },
    partialityThreshold,
  };
}

/**
 * The v1 parameter limit: at most 5 + N_stills free parameters.
 *
 * @throws {@link ParameterLimitExceeded} naming the counts.
 */
export function checkParameterLimit(nStills: number, nFreeParameters: number): void {
  const limit = MAX_EXTRA_FREE_PARAMETERS + nStills;
  if (nFreeParameters > limit) {
    throw new ParameterLimitExceeded(
      `${nFreeParameters} free parameters for ${nStills} stills, at most ${limit} allowed`,
    );
  }
}
