/**
 * The KB scaling model (DIALS `KBScalingModel`): an overall scale K and an overall relative B factor.
 *
 * @packageDocumentation
 */
import {
  ConfigError,
  InputError,
  requireArrayArgument,
  requireInstanceArgument,
  requireObjectArgument,
  requireOptionsArgument,
} from "../errors.ts";
import { SingleBScaleFactor } from "./components/single-b-scale-factor.ts";
import { SingleScaleFactor } from "./components/single-scale-factor.ts";
import { ScalingModel, readComponentParameters, readConfigdict } from "./scaling-model.ts";
import type { ComponentParameters } from "./scaling-model.ts";

/** Options of {@link KBScalingModel.fromData}. */
export interface KBModelOptions {
  /**
   * Include the relative B-factor ("decay") component.
   * @defaultValue true
   */
  decayCorrection?: boolean;
  /**
   * Components held fixed during refinement ("scale" and/or "decay").
   * @defaultValue []
   */
  fix?: readonly string[];
}

/** Initial parameters per component for the {@link KBScalingModel} constructor. */
export interface KBParameters {
  /** Parameters of the "scale" component (K). */
  scale?: ComponentParameters;
  /** Parameters of the "decay" component (B). */
  decay?: ComponentParameters;
}

/**
 * KB model: g_i = K·exp(B/(2 d_i²)). Components are inserted as "scale" (a {@link SingleScaleFactor}), then
 * "decay" (a {@link SingleBScaleFactor}) when listed in `configdict.corrections`, so parameters are ordered [K, B]
 * whatever the order of `corrections` (DIALS writes `["decay", "scale"]`).
 */
export class KBScalingModel extends ScalingModel {
  /** `__id__` of this model. */
  static readonly modelId = "KB";
  readonly id: string = KBScalingModel.modelId;

  /**
   * @param parameters - initial parameters of the components named in `configdict.corrections`
   * @param configdict - configuration with `corrections` (a list containing "scale" and/or "decay")
   * @param isScaled - whether the parameters are refined
   */
  constructor(parameters: KBParameters, configdict: Record<string, unknown>, isScaled = false) {
    super(configdict, isScaled);
    requireObjectArgument(parameters, "KBScalingModel: parameters");
    const corrections = configdict.corrections;
    if (!Array.isArray(corrections)) throw new ConfigError("KB model: configdict.corrections must be a list");
    for (const c of corrections) {
      if (c !== "scale" && c !== "decay") throw new ConfigError(`KB model: unknown correction "${String(c)}"`);
    }
    if (corrections.includes("scale")) {
      const p = parameters.scale ?? { parameters: new Float64Array([1]) };
      this.components.set("scale", new SingleScaleFactor(p.parameters, p.parameterEsds));
    }
    if (corrections.includes("decay")) {
      const p = parameters.decay ?? { parameters: new Float64Array([0]) };
      this.components.set("decay", new SingleBScaleFactor(p.parameters, p.parameterEsds));
    }
    this.consecutiveRefinementOrder = [["scale", "decay"]];
  }

  /**
   * A fresh model (K = 1, B = 0), as DIALS `KBScalingModel.from_data`: `corrections` is `["decay", "scale"]` with
   * decay, `["scale"]` without.
   *
   * @param options - see {@link KBModelOptions}
   */
  static fromData(options: KBModelOptions = {}): KBScalingModel {
    requireOptionsArgument(options, "KBScalingModel.fromData: options");
    if (options.fix !== undefined) requireArrayArgument(options.fix, "KBScalingModel.fromData: options.fix");
    const decay = options.decayCorrection ?? true;
    const corrections = decay ? ["decay", "scale"] : ["scale"];
    const fix = options.fix ?? [];
    for (const f of fix) {
      if (!corrections.includes(f))
        throw new ConfigError(`KB model: cannot fix "${f}" (components: ${corrections.join(", ")})`);
    }
    const model = new KBScalingModel({}, { corrections }, false);
    model.fixedComponents = [...fix];
    return model;
  }

  /**
   * Read a KB model from its `.expt` JSON form (`isScaled` is set to true).
   *
   * @param d - the JSON object (`__id__` must be "KB")
   * @param file - optional file name for error messages
   * @throws InputError when the object is not a well-formed KB model entry
   */
  static override fromDict(d: unknown, file?: string): KBScalingModel {
    if (typeof d !== "object" || d === null || Array.isArray(d)) {
      throw new InputError("scaling_model entry is not a JSON object", file);
    }
    const obj = d as Record<string, unknown>;
    if (obj.__id__ !== KBScalingModel.modelId) {
      throw new InputError(`scaling_model __id__ is ${JSON.stringify(obj.__id__)}, expected "KB"`, file);
    }
    const configdict = readConfigdict(obj, file);
    const corrections = configdict.corrections as string[];
    for (const c of corrections) {
      if (c !== "scale" && c !== "decay") {
        throw new InputError(`scaling_model "KB" has unknown correction "${c}"`, file);
      }
    }
    const params: KBParameters = {};
    if (corrections.includes("scale")) params.scale = readComponentParameters(obj, "scale", file);
    if (corrections.includes("decay")) params.decay = readComponentParameters(obj, "decay", file);
    for (const [name, p] of Object.entries(params) as [string, ComponentParameters][]) {
      if (p.parameters.length !== 1) {
        throw new InputError(`scaling_model "KB" ${name} must have 1 parameter, has ${p.parameters.length}`, file);
      }
    }
    return new KBScalingModel(params, configdict, true);
  }

  /**
   * Give the components their per-reflection data (all suitable reflections of the dataset).
   *
   * @param data - `id` (experiment id column; only its length matters) and `d` (resolution, Å), equal lengths
   */
  configureComponents(data: { id: Float64Array; d: Float64Array }): void {
    requireObjectArgument(data, "KBScalingModel.configureComponents: data ({ id, d })");
    requireInstanceArgument(data.id, Float64Array, "KBScalingModel.configureComponents: data.id");
    requireInstanceArgument(data.d, Float64Array, "KBScalingModel.configureComponents: data.d");
    if (data.id.length !== data.d.length) {
      throw new ConfigError(`KB model: id has ${data.id.length} rows but d has ${data.d.length}`);
    }
    const scale = this.components.get("scale");
    if (scale instanceof SingleScaleFactor) scale.data = { id: data.id };
    const decay = this.components.get("decay");
    if (decay instanceof SingleBScaleFactor) decay.data = { d: data.d };
  }
}

ScalingModel.register(KBScalingModel.modelId, (d, file) => KBScalingModel.fromDict(d, file));
