/**
 * `DiffuseScalingModel` (v1): one multiplicative scale per still and an optional shared resolution smoother a(|q|),
 * refined jointly on Bragg reflections (grouped by ASU hkl) and binned diffuse observations (grouped by voxel).
 * Panel, spatial and additive components are hard-disabled. See `joint-refinement.ts` for the refinement and
 * `JointScalingProblem` for the objective, the gauge and the restraint.
 *
 * Two evaluations of one model. The model is a DIALS `ScalingModel` whose two components (`PerStillMultiplierComponent`,
 * `ResolutionSmootherComponent`) implement DIALS's `calculateScalesAndDerivatives` (scales and a sparse Jacobian over
 * a block of rows), so DIALS-style code (the parameter manager, the sparse-Jacobian targets) can use it. The refinement
 * does not call them: it runs the joint engine (`JointScalingProblem` over the `passes/` kernels), which evaluates
 * g = b·a(|q|) and ∂g/∂p row by row inside fused, sharded, threaded passes that also eliminate the references, never
 * materialise a Jacobian (rows × parameters; paged rows live in a scratch file) and work in θ = ln b. Decision: keep
 * both, with one source of truth for the numbers. Every constant the engine uses comes from the components — the
 * initial b from `perStillComponent.parameters`, the smoother's positions, σ, spacing and averaging width from
 * `ResolutionSmootherComponent.kernelState()` (its `GaussianSmoother1D`), its range, values and restraint weight
 * (see {@link DiffuseScalingModel.modelState} and `smootherSetup`) — and the refined values go back into the
 * components. `test/unit/component-kernel-agreement.test.ts` checks that both paths give the same g and ∂g/∂p on the
 * same rows to 1e-12 relative (∂g/∂θ_s = b_s·∂g/∂b_s). Routing the engine through the components' sparse matrices
 * instead would cost a Jacobian's memory and a method dispatch per row in the hottest loops.
 *
 * @packageDocumentation
 */
import {
  ConfigError,
  DisabledComponentAccess,
  describeValue,
  requireObjectArgument,
  requireOptionsArgument,
} from "../errors.ts";
import { ScalingModel } from "../dials/scaling-model.ts";
import { readComponentParameters } from "../dials/scaling-model.ts";
import { SpaceGroup } from "../symmetry/space-group.ts";
import { ReflectionTable } from "../table/reflection-table.ts";
import { prepareBraggInput, type BraggSelectionCounts } from "../observations/bragg-input.ts";
import { PerStillMultiplierComponent } from "./components/per-still-multiplier-component.ts";
import { ResolutionSmootherComponent } from "./components/resolution-smoother-component.ts";
import {
  checkParameterLimit,
  MAX_STILLS,
  resolveDiffuseScalingConfig,
  type DiffuseScalingConfig,
  type DiffuseScalingConfigInput,
} from "./config.ts";
import type { BinnedDiffuseFile } from "../io/binned-diffuse.ts";
import {
  diffuseChunkSource,
  type BinnedPixelData,
  type DiffuseSelectionCounts,
} from "../observations/diffuse-input.ts";
import {
  computeReferences,
  refineResolved,
  rejectOutliersAt,
  type GroupReferences,
  type JointRefinementOptions,
  type JointRefinementResult,
} from "./joint-refinement.ts";
import type { JointSmootherSetup } from "./joint-scaling-problem.ts";
import { resolveScalingOptions, SCALING_DEFAULTS } from "./scaling-options.ts";
import type { JointModelState } from "../passes/inverse-scales.ts";
import { forEachWindow } from "../observations/observation-windows.ts";
import {
  buildScalingObservations,
  releaseObservations,
  type BuildScalingObservationsOptions,
  type ScalingObservations,
} from "../observations/scaling-observations.ts";
import type { BraggInput } from "../observations/scaling-input.ts";

/** Options of {@link DiffuseScalingModel.refineParameters}. */
export type RefineParametersOptions = JointRefinementOptions;

/** Refined parameters of one still, in the spec's form. */
export interface RefinedStillParameters {
  /** b (geometric mean over refined stills = 1). */
  multiplicativeScale: number;
  /** Always 0 in v1. */
  additiveOffset: 0;
  /** Estimated standard deviation of b. */
  esd: number;
}

/** Refinement statistics in the spec's form. */
export interface RefinementStatistics {
  /** Minimiser iterations over all cycles. */
  nIterations: number;
  /** R-factor at the initial parameters. */
  initialRFactor: number;
  /** R-factor at the final parameters and final references. */
  finalRFactor: number;
  /** True when the RMSD convergence criterion was met (or the gradient vanished exactly); false on an iteration limit. */
  convergenceAchieved: boolean;
  /** Largest absolute change of any per-still scale and of any smoother value between initial and refined model. */
  parameterShifts: { per_still_scale: number; resolution_smoother: number };
}

/** What {@link DiffuseScalingModel.refineParameters} returns. */
export interface RefineParametersResult {
  /** Per refined still id. Stills that could not be refined are absent (see `details`). */
  refinedParameters: Map<number, RefinedStillParameters>;
  /** Statistics. */
  statistics: RefinementStatistics;
  /** Everything else: observations, references, outliers, history, excluded stills, input counts. */
  details: JointRefinementResult & {
    braggCounts: BraggSelectionCounts | undefined;
    diffuseCounts: DiffuseSelectionCounts | undefined;
    braggInput: BraggInput | undefined;
    /** Seconds spent selecting and grouping the observations (streaming the diffuse rows), before refinement. */
    groupingSeconds: number;
  };
}

/** A reference intensity (weighted mean of the unscaled intensity) with its σ and multiplicity. */
export interface ReferenceValue {
  /** Ih. */
  intensity: number;
  /** 1/√Σwg². */
  sigma: number;
  /** Observations used. */
  nObservations: number;
}

/** Options of the model constructor. */
export interface DiffuseScalingModelOptions {
  /** Number of stills (experiments), 1..2^24 (`MAX_STILLS`); still ids are 0..nStills−1. */
  nStills: number;
  /** Space group for the Bragg ASU mapping (required to use Bragg reflections). @defaultValue undefined */
  spaceGroup?: SpaceGroup;
}

const DISABLED = new Set(["panel_scale", "spatial_scale", "additive_offset"]);

/** The v1 diffuse scaling model. */
export class DiffuseScalingModel extends ScalingModel {
  readonly id = "diffuse_v1";
  /** The resolved configuration. */
  readonly config: DiffuseScalingConfig;
  /** Number of stills. */
  readonly nStills: number;
  /** Space group used for Bragg ASU mapping. */
  readonly spaceGroup: SpaceGroup | undefined;
  /** The last refinement, when one has run. */
  lastRefinement: RefineParametersResult | undefined;

  /**
   * @param config - camelCase configuration (defaults filled in; see `resolveDiffuseScalingConfig`)
   * @param options - still count and space group
   * @throws {@link ConfigError}, {@link ParameterLimitExceeded} or {@link DisabledComponentAccess} for invalid configs
   */
  constructor(config: DiffuseScalingConfigInput, options: DiffuseScalingModelOptions) {
    requireObjectArgument(options, "DiffuseScalingModel: options ({ nStills, spaceGroup? })");
    const resolved = resolveDiffuseScalingConfig(config);
    const nStills = options.nStills;
    if (typeof nStills !== "number" || !Number.isInteger(nStills) || nStills < 1 || nStills > MAX_STILLS)
      throw new ConfigError(
        `nStills (experiments) must be an integer in 1..${MAX_STILLS}, got ${describeValue(nStills)}`,
      );
    if (options.spaceGroup !== undefined && !((options.spaceGroup as unknown) instanceof SpaceGroup))
      throw new ConfigError(
        `spaceGroup must be a SpaceGroup (SpaceGroup.fromHall), got ${describeValue(options.spaceGroup)}`,
      );
    for (const id of resolved.perStillScale.initialValues.keys()) {
      if (id >= nStills)
        throw new ConfigError(`per_still_scale.initial_values: still id ${id} ≥ number of stills ${nStills}`);
    }
    const k = resolved.resolutionSmoother.enabled ? resolved.resolutionSmoother.nControlPoints : 0;
    checkParameterLimit(nStills, nStills + Math.max(0, k - 1));
    const corrections = ["per_still", ...(k > 0 ? ["resolution"] : [])];
    super({
      corrections,
      n_stills: nStills,
      partiality_threshold: resolved.partialityThreshold,
      ...(k > 0
        ? {
            n_control_points: k,
            restraint_weight: resolved.resolutionSmoother.restraintWeight,
            ...(resolved.resolutionSmoother.resolutionRange === undefined
              ? {}
              : { resolution_range: [...resolved.resolutionSmoother.resolutionRange] }),
          }
        : {}),
    });
    this.config = resolved;
    this.nStills = nStills;
    this.spaceGroup = options.spaceGroup;
    const initial = Float64Array.from({ length: nStills }, (_, s) => resolved.perStillScale.initialValues.get(s) ?? 1);
    this.components.set("per_still", new PerStillMultiplierComponent(initial));
    const range = resolved.resolutionSmoother.resolutionRange;
    if (k > 0 && range !== undefined) this.addSmoother(range);
  }

  private addSmoother(range: readonly [number, number]): ResolutionSmootherComponent {
    const k = this.config.resolutionSmoother.nControlPoints;
    const c = new ResolutionSmootherComponent(
      range,
      new Float64Array(k).fill(1),
      this.config.resolutionSmoother.restraintWeight,
    );
    this.components.set("resolution", c);
    this.configdict.resolution_range = [range[0], range[1]];
    return c;
  }

  /** The per-still multiplier. */
  get perStillComponent(): PerStillMultiplierComponent {
    const c = this.components.get("per_still");
    if (!(c instanceof PerStillMultiplierComponent)) throw new ConfigError("model has no per_still component");
    return c;
  }

  /** The resolution smoother, when enabled and its range is known. */
  get resolutionComponent(): ResolutionSmootherComponent | undefined {
    const c = this.components.get("resolution");
    return c instanceof ResolutionSmootherComponent ? c : undefined;
  }

  /**
   * A component by name; the v1-disabled ones (`panel_scale`, `spatial_scale`, `additive_offset`) throw.
   *
   * @throws {@link DisabledComponentAccess} for a disabled component; {@link ConfigError} for an unknown name.
   */
  component(name: string): PerStillMultiplierComponent | ResolutionSmootherComponent {
    if (DISABLED.has(name)) throw new DisabledComponentAccess(`${name} does not exist in the v1 model`);
    if (name === "per_still") return this.perStillComponent;
    const r = this.resolutionComponent;
    if (name === "resolution" && r !== undefined) return r;
    throw new ConfigError(
      `unknown or inactive component "${name}" (active: ${[...this.components.keys()].join(", ")})`,
    );
  }

  /** Number of free parameters: N stills + (K − 1) smoother values. */
  get nFreeParameters(): number {
    const k = this.config.resolutionSmoother.enabled ? this.config.resolutionSmoother.nControlPoints : 0;
    return this.nStills + Math.max(0, k - 1);
  }

  /**
   * The scales for one observation: `[b_still · a(|q|), 0]` (multiplicative, additive offset).
   *
   * @throws {@link ConfigError} for an unknown still id or an invalid |q|.
   */
  getScalesForObservation(stillId: number, qMagnitude: number): [number, 0] {
    // a JavaScript caller may pass a string: say so, rather than "still id 0 is outside [0, n)"
    if (typeof stillId !== "number" || !Number.isInteger(stillId) || stillId < 0 || stillId >= this.nStills) {
      throw new ConfigError(
        `getScalesForObservation: stillId must be an integer in 0..${this.nStills - 1}, got ${describeValue(stillId)}`,
      );
    }
    if (typeof qMagnitude !== "number" || !(qMagnitude >= 0 && Number.isFinite(qMagnitude)))
      throw new ConfigError(
        `getScalesForObservation: qMagnitude (|q|) must be a finite number ≥ 0, got ${describeValue(qMagnitude)}`,
      );
    const b = this.perStillComponent.getScaleForStill(stillId);
    const r = this.resolutionComponent;
    return [b * (r === undefined ? 1 : r.valueAt(qMagnitude)), 0];
  }

  /** Selects and groups the observations (diffuse rows are read in chunks, twice, never copied whole). */
  private prepareInputs(
    binnedPixelData: BinnedPixelData | BinnedDiffuseFile | undefined,
    braggReflections: ReflectionTable | undefined,
    grouping: BuildScalingObservationsOptions = {},
  ): {
    bragg: ReturnType<typeof prepareBraggInput> | undefined;
    diffuseCounts: DiffuseSelectionCounts | undefined;
    observations: ScalingObservations;
  } {
    if (binnedPixelData === undefined && braggReflections === undefined) {
      throw new ConfigError("no data: give binned diffuse observations, Bragg reflections, or both");
    }
    // a JavaScript caller may pass anything: refuse what is neither of the documented types
    if (binnedPixelData !== undefined) {
      const d = binnedPixelData as Partial<BinnedPixelData> & { readSlice?: unknown };
      if (
        typeof d !== "object" ||
        (d as unknown) === null ||
        !(typeof d.readSlice === "function" || d.sigmas instanceof Float32Array)
      ) {
        throw new ConfigError(
          `binnedPixelData must be an open binned file (openBinnedDiffuse) or binned rows (readBinnedDiffuse), got ${describeValue(binnedPixelData)}`,
        );
      }
    }
    if (braggReflections !== undefined && !(braggReflections instanceof ReflectionTable)) {
      throw new ConfigError(`braggReflections must be a ReflectionTable, got ${describeValue(braggReflections)}`);
    }
    let bragg: ReturnType<typeof prepareBraggInput> | undefined;
    if (braggReflections !== undefined) {
      if (this.spaceGroup === undefined) throw new ConfigError("Bragg reflections need the model's spaceGroup option");
      bragg = prepareBraggInput(
        braggReflections,
        this.spaceGroup,
        this.nStills,
        this.config.partialityThreshold,
        "Bragg reflections",
      );
    }
    const diffuse = binnedPixelData === undefined ? undefined : diffuseChunkSource(binnedPixelData, this.nStills);
    const observations = buildScalingObservations(this.nStills, bragg?.input, diffuse?.source, grouping);
    return { bragg, diffuseCounts: diffuse?.counts, observations };
  }

  private smootherSetup(observations: ScalingObservations): JointSmootherSetup | undefined {
    if (!this.config.resolutionSmoother.enabled) return undefined;
    let component = this.resolutionComponent;
    if (component === undefined) {
      let lo = Infinity;
      let hi = -Infinity;
      // every row's |q|, window by window (resident or paged rows alike)
      forEachWindow(observations, (window) => {
        const q = window.rows.qMagnitude;
        const end = observations.groupStart[window.groupEnd] - window.rowBegin;
        for (let o = observations.groupStart[window.groupBegin] - window.rowBegin; o < end; o++) {
          const v = q[o];
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
      });
      if (!(hi > lo)) throw new ConfigError("cannot derive a resolution range for the smoother: |q| has no spread");
      component = this.addSmoother([lo, hi]);
    }
    return {
      kernel: component.kernelState(),
      qMin: component.qRange[0],
      qMax: component.qRange[1],
      initialValues: Float64Array.from(component.parameters),
      restraintWeight: component.restraintWeight,
    };
  }

  /**
   * Refines the per-still scales (and the smoother) jointly on diffuse and Bragg data, and stores the result in the
   * model's components (parameters and esds).
   *
   * @param binnedPixelData - Binned diffuse observations (flat layout): rows in memory or an open file (streamed in
   * slices), or undefined for Bragg only.
   * @param braggReflections - Integrated Bragg reflections with `partiality`, or undefined for diffuse only.
   * @param options - Iterations, tolerance, minimiser, outlier threshold, threads, solver thresholds (defaults in
   *   `SCALING_DEFAULTS`), progress callback, and `grouping` (memory limit and scratch directory: observations over the
   *   limit are paged from a scratch file; the result's `details.observations` then hold it until
   *   `releaseObservations`).
   * @throws {@link ConfigError} for invalid options; {@link RefinementFailure} when the refinement fails (no connected stills, non-finite values, divergence).
   */
  refineParameters(
    binnedPixelData: BinnedPixelData | BinnedDiffuseFile | undefined,
    braggReflections: ReflectionTable | undefined,
    options: RefineParametersOptions = {},
  ): RefineParametersResult {
    const started = performance.now();
    // validated before any work (grouping streams the whole diffuse file)
    const settings = resolveScalingOptions(options);
    const { bragg, diffuseCounts, observations } = this.prepareInputs(
      binnedPixelData,
      braggReflections,
      options.grouping,
    );
    const groupingSeconds = (performance.now() - started) / 1000;
    const perStill = this.perStillComponent;
    const initialScales = new Map<number, number>();
    for (let s = 0; s < this.nStills; s++) initialScales.set(s, perStill.parameters[s]);
    let result: JointRefinementResult;
    try {
      const smoother = this.smootherSetup(observations);
      result = refineResolved(
        { nStills: this.nStills, initialScales, smoother },
        observations,
        settings,
        options.onProgress,
        started,
      );
    } catch (e) {
      // paged observations: nobody will read them now
      releaseObservations(observations);
      throw e;
    }
    const params = Float64Array.from(perStill.parameters);
    const esds = new Float64Array(this.nStills);
    const refinedParameters = new Map<number, RefinedStillParameters>();
    result.includedStills.forEach((s, i) => {
      params[s] = result.scales[i];
      esds[s] = result.scaleEsds[i];
      refinedParameters.set(s, { multiplicativeScale: result.scales[i], additiveOffset: 0, esd: result.scaleEsds[i] });
    });
    perStill.parameters = params;
    perStill.parameterEsds = esds;
    const r = this.resolutionComponent;
    if (r !== undefined && result.smootherValues !== undefined) {
      r.parameters = result.smootherValues;
      r.parameterEsds = result.smootherEsds;
    }
    this.isScaled = true;
    const s = result.statistics;
    const out: RefineParametersResult = {
      refinedParameters,
      statistics: {
        nIterations: s.nIterations,
        initialRFactor: s.initialRFactor,
        finalRFactor: s.finalRFactor,
        convergenceAchieved: s.convergenceAchieved,
        parameterShifts: { ...s.parameterShifts },
      },
      details: {
        ...result,
        braggCounts: bragg?.counts,
        diffuseCounts,
        braggInput: bragg?.input,
        groupingSeconds,
      },
    };
    this.lastRefinement = out;
    return out;
  }

  /**
   * The model as the kernels evaluate it: b of every still and, when the smoother's range is known, its constants
   * and values (`g = b·a(|q|)` with |q| clamped to the range, as {@link DiffuseScalingModel.getScalesForObservation}).
   */
  modelState(): JointModelState {
    const r = this.resolutionComponent;
    return {
      scales: Float64Array.from(this.perStillComponent.parameters),
      smoother:
        r === undefined
          ? undefined
          : { ...r.kernelState(), values: Float64Array.from(r.parameters), qMin: r.qRange[0], qMax: r.qRange[1] },
    };
  }

  /**
   * References at the model's current scales, after outlier rejection (DIALS `standard`): Bragg keyed by the ASU
   * index `"h,k,l"`, diffuse keyed by voxel index. The inverse scales are those of {@link modelState} (float32, as in
   * refinement); the observations are read window by window.
   *
   * @param options - `zmax` of the outlier rejection (0 or Infinity disables it). @defaultValue `{ zmax: SCALING_DEFAULTS.outlierZmax }` (6)
   * @throws `ConfigError` when `zmax` is negative or NaN
   */
  generateReferences(
    binnedPixelData: BinnedPixelData | BinnedDiffuseFile | undefined,
    braggReflections: ReflectionTable | undefined,
    options: { zmax?: number } = {},
  ): { bragg: Map<string, ReferenceValue>; diffuse: Map<number, ReferenceValue> } {
    requireOptionsArgument(options, "generateReferences: options");
    const zmax = options.zmax ?? SCALING_DEFAULTS.outlierZmax;
    // NaN would silently turn the rejection off: only 0 and Infinity do that, on request
    if (!(typeof zmax === "number" && zmax >= 0)) {
      throw new ConfigError(`zmax must be >= 0 (0 or Infinity disables rejection), got ${String(zmax)}`);
    }
    const obs = this.prepareInputs(binnedPixelData, braggReflections).observations;
    let refs: GroupReferences;
    try {
      const state = this.modelState();
      // the weights start as 1/σ² (0 for unusable rows); rejection zeroes the outliers'
      if (zmax > 0 && Number.isFinite(zmax)) rejectOutliersAt(obs, state, zmax);
      refs = computeReferences(obs, state);
    } finally {
      releaseObservations(obs);
    }
    const braggRefs = new Map<string, ReferenceValue>();
    const diffuseRefs = new Map<number, ReferenceValue>();
    for (let h = 0; h < obs.nGroups; h++) {
      if (refs.nObservations[h] === 0) continue;
      // back from the class's stored unit (a power of two, 1 for ordinary data) to the input's
      const unit = (h < obs.nBraggGroups ? obs.units?.bragg : obs.units?.diffuse) ?? 1;
      const value = {
        intensity: refs.intensity[h] * unit,
        sigma: refs.sigma[h] * unit,
        nObservations: refs.nObservations[h],
      };
      if (h < obs.nBraggGroups) {
        braggRefs.set(`${obs.braggHkl[3 * h]},${obs.braggHkl[3 * h + 1]},${obs.braggHkl[3 * h + 2]}`, value);
      } else {
        diffuseRefs.set(obs.voxelIndex[h - obs.nBraggGroups], value);
      }
    }
    return { bragg: braggRefs, diffuse: diffuseRefs };
  }

  /**
   * Reads a model from its JSON form (`__id__: "diffuse_v1"`).
   *
   * @param d - The JSON object written by `toDict()`.
   */
  static fromModelDict(d: Record<string, unknown>): DiffuseScalingModel {
    requireObjectArgument(d, "DiffuseScalingModel.fromModelDict: d (the JSON object of toDict())");
    const cfg = (d.configuration_parameters ?? {}) as Record<string, unknown>;
    const per = readComponentParameters(d, "per_still");
    const nStills = per.parameters.length;
    const k = typeof cfg.n_control_points === "number" ? cfg.n_control_points : 0;
    const range = Array.isArray(cfg.resolution_range) ? (cfg.resolution_range as [number, number]) : undefined;
    const model = new DiffuseScalingModel(
      {
        perStillScale: { initialValues: new Map(Array.from(per.parameters, (b, s) => [s, b])) },
        ...(k > 0
          ? {
              resolutionSmoother: {
                enabled: true,
                nControlPoints: k,
                ...(range === undefined ? {} : { resolutionRange: range }),
                ...(typeof cfg.restraint_weight === "number" ? { restraintWeight: cfg.restraint_weight } : {}),
              },
            }
          : {}),
        ...(typeof cfg.partiality_threshold === "number" ? { partialityThreshold: cfg.partiality_threshold } : {}),
      },
      { nStills },
    );
    if (per.parameterEsds !== undefined) model.perStillComponent.parameterEsds = per.parameterEsds;
    const r = model.resolutionComponent;
    if (r !== undefined && d.resolution !== undefined) {
      const rp = readComponentParameters(d, "resolution");
      r.parameters = rp.parameters;
      if (rp.parameterEsds !== undefined) r.parameterEsds = rp.parameterEsds;
    }
    return model;
  }
}

ScalingModel.register("diffuse_v1", (d) => DiffuseScalingModel.fromModelDict(d));
