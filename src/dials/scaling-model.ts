/**
 * Base class of the scaling models (DIALS `ScalingModelBase`, `S/model/model.py`) and the `__id__` registry used to
 * read models back from `.expt` JSON.
 *
 * @packageDocumentation
 */
import {
  ConfigError,
  InputError,
  requireFunctionArgument,
  requireObjectArgument,
  requireStringArgument,
} from "../errors.ts";
import type { ScaleComponent } from "./components/scale-component.ts";

/** Builds a model from its `.expt` JSON form. */
export type ScalingModelReader = (d: Record<string, unknown>, file?: string) => ScalingModel;

const registry = new Map<string, ScalingModelReader>();

/**
 * A scaling model: an insertion-ordered set of named components whose inverse scales multiply,
 * `g_i = Π_c g_c,i`. The insertion order defines the parameter order everywhere.
 */
export abstract class ScalingModel {
  /** The model's `__id__` in `.expt` JSON, e.g. `"KB"`. */
  abstract readonly id: string;
  /** Components in insertion (= parameter) order. */
  readonly components = new Map<string, ScaleComponent>();
  /** Configuration written as `configuration_parameters` (`corrections`, normalisation factors, error model, …). */
  configdict: Record<string, unknown>;
  /** Whether the model's parameters come from a completed scaling run. */
  isScaled: boolean;
  /** Component groups refined one after the other in consecutive mode. */
  consecutiveRefinementOrder: string[][] = [];
  private fixed: string[] = [];

  /**
   * @param configdict - the configuration (kept by reference)
   * @param isScaled - whether the parameters are already refined
   */
  constructor(configdict: Record<string, unknown>, isScaled = false) {
    requireObjectArgument(configdict, `${new.target.name}: configdict`);
    this.configdict = configdict;
    this.isScaled = isScaled;
  }

  /** Names of the components held fixed during refinement (a copy). */
  get fixedComponents(): string[] {
    return this.fixed.slice();
  }
  set fixedComponents(names: string[]) {
    this.fixed = names.slice();
  }

  /**
   * Product of the components' inverse scales for one block (every component must have been updated with the same
   * block structure).
   *
   * @param blockId - block index, default 0
   */
  getInverseScales(blockId = 0): Float64Array {
    let out: Float64Array | undefined;
    for (const [name, c] of this.components) {
      const s = c.calculateScales(blockId);
      if (out === undefined) {
        out = Float64Array.from(s);
      } else {
        if (s.length !== out.length) {
          throw new ConfigError(
            `${this.id} model: component "${name}" has ${s.length} reflections in block ${blockId}, expected ${out.length}`,
          );
        }
        for (let i = 0; i < s.length; i++) out[i] *= s[i];
      }
    }
    if (out === undefined) throw new ConfigError(`${this.id} model has no components`);
    return out;
  }

  /**
   * Scale factors 1/g for one block.
   *
   * @param blockId - block index, default 0
   */
  getScales(blockId = 0): Float64Array {
    const g = this.getInverseScales(blockId);
    for (let i = 0; i < g.length; i++) g[i] = 1 / g[i];
    return g;
  }

  /** The `.expt` `scaling_model` JSON form: `__id__`, one entry per component, then `configuration_parameters`. */
  toDict(): Record<string, unknown> {
    const d: Record<string, unknown> = { __id__: this.id };
    for (const [name, c] of this.components) {
      const entry: Record<string, unknown> = {
        n_parameters: c.nParams,
        parameters: Array.from(c.parameters),
        null_parameter_value: c.nullParameterValue,
      };
      const esds = c.parameterEsds;
      if (esds !== undefined) entry.est_standard_devs = Array.from(esds);
      d[name] = entry;
    }
    d.configuration_parameters = structuredClone(this.configdict);
    return d;
  }

  /**
   * Register a reader for a model `__id__` (model modules register themselves when loaded).
   *
   * @param id - the `__id__`
   * @param reader - builds the model from its JSON form
   */
  static register(id: string, reader: ScalingModelReader): void {
    requireStringArgument(id, "ScalingModel.register: id");
    requireFunctionArgument(reader, "ScalingModel.register: reader");
    registry.set(id, reader);
  }

  /** The registered model ids. */
  static registeredIds(): string[] {
    return [...registry.keys()];
  }

  /**
   * Read a model from its `.expt` JSON form, dispatching on `__id__`; the result has `isScaled = true`.
   *
   * @param d - the JSON object
   * @param file - optional file name for error messages
   * @throws InputError when `__id__` is missing or not registered, or the entry is malformed
   */
  static fromDict(d: unknown, file?: string): ScalingModel {
    if (typeof d !== "object" || d === null || Array.isArray(d)) {
      throw new InputError("scaling_model entry is not a JSON object", file);
    }
    const obj = d as Record<string, unknown>;
    const id = obj.__id__;
    if (typeof id !== "string") throw new InputError("scaling_model entry has no string __id__", file);
    const reader = registry.get(id);
    if (reader === undefined) {
      throw new InputError(
        `scaling_model __id__ "${id}" is not supported (known: ${[...registry.keys()].join(", ")})`,
        file,
      );
    }
    const model = reader(obj, file);
    model.isScaled = true;
    return model;
  }
}

/** Parameters and esds of one component as read from JSON. */
export interface ComponentParameters {
  /** Parameter values. */
  parameters: Float64Array;
  /** Estimated standard deviations, when present. */
  parameterEsds?: Float64Array;
}

function numberArray(v: unknown, what: string, file?: string): Float64Array {
  if (!Array.isArray(v) || !v.every((a) => typeof a === "number")) {
    throw new InputError(`${what} must be an array of numbers`, file);
  }
  return Float64Array.from(v);
}

/**
 * Read the `parameters` / `est_standard_devs` of component `name` from a model JSON object.
 *
 * @param d - the model JSON object
 * @param name - component key
 * @param file - optional file name for error messages
 */
export function readComponentParameters(d: Record<string, unknown>, name: string, file?: string): ComponentParameters {
  const entry = d[name];
  const id = typeof d.__id__ === "string" ? d.__id__ : "?";
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
    throw new InputError(`scaling_model "${id}" has no "${name}" component entry`, file);
  }
  const e = entry as Record<string, unknown>;
  const parameters = numberArray(e.parameters, `scaling_model "${id}" ${name}.parameters`, file);
  if (e.n_parameters !== undefined && e.n_parameters !== parameters.length) {
    throw new InputError(
      `scaling_model "${id}" ${name}.n_parameters does not match ${parameters.length} parameters`,
      file,
    );
  }
  if (e.est_standard_devs === undefined) return { parameters };
  const parameterEsds = numberArray(e.est_standard_devs, `scaling_model "${id}" ${name}.est_standard_devs`, file);
  if (parameterEsds.length !== parameters.length) {
    throw new InputError(`scaling_model "${id}" ${name}.est_standard_devs has the wrong length`, file);
  }
  return { parameters, parameterEsds };
}

/**
 * Read `configuration_parameters` (with a `corrections` list of strings) from a model JSON object.
 *
 * @param d - the model JSON object
 * @param file - optional file name for error messages
 */
export function readConfigdict(d: Record<string, unknown>, file?: string): Record<string, unknown> {
  const c = d.configuration_parameters;
  const id = typeof d.__id__ === "string" ? d.__id__ : "?";
  if (typeof c !== "object" || c === null || Array.isArray(c)) {
    throw new InputError(`scaling_model "${id}" has no configuration_parameters object`, file);
  }
  const cfg = c as Record<string, unknown>;
  if (!Array.isArray(cfg.corrections) || !cfg.corrections.every((s) => typeof s === "string")) {
    throw new InputError(`scaling_model "${id}" configuration_parameters.corrections must be a list of strings`, file);
  }
  return structuredClone(cfg);
}
