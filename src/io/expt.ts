/**
 * DIALS experiment lists (`.expt` JSON, dxtbx `ExperimentList.to_dict`): read, validate, expose the crystal, beam,
 * detector, goniometer and scan models as typed geometry, and write the document back with any replaced scaling
 * models. Unknown keys survive a read/write round trip unchanged. The models are in `expt-models.ts`, their schemas in
 * `expt-schema.ts`, their builders in `expt-builders.ts` and the JSON text format in `expt-json.ts`; this module
 * resolves the experiments' model indices and reads and writes the file.
 *
 * @packageDocumentation
 */
import type { z } from "zod";
import {
  ConfigError,
  InputError,
  describeValue,
  requireArrayArgument,
  requireInstanceArgument,
  requireObjectArgument,
  requireStringArgument,
} from "../errors.ts";
import { MAX_EXPT_FILE_BYTES, readInputFile } from "./input-file.ts";
import { writeTextAtomic } from "./atomic-write.ts";
import { buildBeam, buildCrystal, buildDetector, buildGoniometer, buildScan } from "./expt-builders.ts";
import { formatExperimentJson, parseJsonText } from "./expt-json.ts";
import type { Beam, Crystal, Detector, Experiment, Goniometer, Scan } from "./expt-models.ts";
import {
  check,
  documentSchema,
  experimentSchema,
  isPlainObject,
  type JsonObject,
  type ModelKey,
} from "./expt-schema.ts";

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
    requireObjectArgument(document, "ExperimentList: document");
    requireArrayArgument(experiments, "ExperimentList: experiments");
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
   * @throws ConfigError when `index` is out of range or `model` is not an object
   */
  setScalingModel(index: number, model: Record<string, unknown>): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.#experiments.length) {
      throw new ConfigError(
        `setScalingModel: experiment index must be an integer in 0..${this.#experiments.length - 1}, got ${describeValue(index)}`,
      );
    }
    if (!isPlainObject(model))
      throw new ConfigError(`setScalingModel: model must be a plain object, got ${describeValue(model)}`);
    const copy = structuredClone(model);
    this.#replaced.set(index, copy);
    // in place: copying the array on every call made setting every experiment's model quadratic
    this.#experiments[index] = { ...this.#experiments[index], scalingModel: structuredClone(copy) };
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

/**
 * Read and validate a DIALS `.expt` experiment list.
 *
 * @param path - the file to read
 * @returns the experiment list
 * @throws InputError when the file is missing, is not JSON (for example a msgpack `.refl`), or has a bad field
 */
export async function readExperiments(path: string): Promise<ExperimentList> {
  // a regular file of at most MAX_EXPT_FILE_BYTES (checked before reading: a device or a 1.5 GiB file is refused)
  const buf = await readInputFile(path, "experiment list", MAX_EXPT_FILE_BYTES);
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
  requireStringArgument(path, "writeExperiments: path");
  requireInstanceArgument(list, ExperimentList, "writeExperiments: list");
  await writeTextAtomic(path, formatExperimentJson(list.toJSON()));
}
