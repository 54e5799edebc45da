/**
 * The table of `library-contracts.test.ts` (not a test file itself): for every runtime export of `src/index.ts`, how
 * to call it with valid arguments, and for every class a valid instance and valid arguments of each public method and
 * static method. The sweep swaps one argument at a time for a hostile value. The test compares this table's names with
 * the exports and with the methods it finds on the classes, so a new export or method without an entry fails it.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as api from "../../src/index.ts";
import { parseHallSymbol } from "../../src/symmetry/hall-symbol.ts";
import type { ContractFixtures } from "./library-contract-fixtures.ts";
import { blockArgs, componentMethods, dialsSpecs, f64, modelStatics, none } from "./library-contract-specs-dials.ts";

/** Valid arguments, built afresh for every call (a call may change what it is given). */
export type Args = () => unknown[];

/** How the sweep treats one export. */
export interface ExportSpec {
  /** A constant, a schema or a typed-error class: nothing to sweep beyond its existence. */
  value?: true;
  /** Valid arguments of the function or of the class's constructor. */
  args?: Args;
  /** The export is a class: its constructor is called with `new`. */
  construct?: true;
  /** A valid instance, built afresh for every call of a method (methods may change it). */
  instance?: () => object;
  /** Valid arguments of each public method. */
  methods?: Record<string, Args>;
  /** Valid arguments of each public static method. */
  statics?: Record<string, Args>;
  /**
   * Why the call with the valid arguments throws a typed error on purpose (a path to a file that does not exist, where
   * reading one would run a whole job); without it, that call must succeed, so that every hostile value is what the
   * call is refused for.
   */
  refused?: string;
  /** As `refused`, for methods. */
  refusedMethods?: Record<string, string>;
}

const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

const PANEL: api.PanelFrame = {
  origin: [-10, 10, -100],
  fast: [1, 0, 0],
  slow: [0, -1, 0],
  pixelSize: [0.1, 0.1],
  imageSize: [4, 3],
  trustedRange: [-1, 1e6],
  thickness: 0,
  mu: 0,
  parallaxCorrected: false,
};
const BEAM: api.BeamFrame = { s0: [0, 0, -1], wavelength: 1, polarizationNormal: [0, 1, 0], polarizationFraction: 0.5 };

/** The table: every runtime export of `src/index.ts`. */
export function contractSpecs(fx: ContractFixtures): Record<string, ExportSpec> {
  const out = (name: string) => join(fx.dir, name);
  const crystal = fx.experiments.experiments[0].crystal;
  const errorClass = (args: Args): ExportSpec => ({ args, construct: true });
  const scaleComponentMethods = componentMethods(3);
  const smootherModelStatics = modelStatics(fx);
  return {
    // errors: constructing one with any message works (the message is converted to a string)
    ConfigError: errorClass(() => ["message"]),
    DiffuseScalingError: errorClass(() => ["message"]),
    DisabledComponentAccess: errorClass(() => ["detail"]),
    InputError: errorClass(() => ["message", "file.refl"]),
    ParameterLimitExceeded: errorClass(() => ["detail"]),
    RefinementFailure: errorClass(() => ["detail", f64(1)]),
    FileSystemError: errorClass(() => ["message", "out/x", "ENOSPC"]),
    fileSystemError: { args: () => [new Error("boom"), "out/x", "write"] },

    // tables and experiment lists
    ReflectionTable: {
      args: () => [2, new Map([[0, "a"]])],
      construct: true,
      instance: () => {
        const t = fx.table.copy();
        const n = t.nrows;
        t.setColumn("b", { type: "bool", data: new Uint8Array(n) });
        t.setColumn("v2", { type: "vec2<double>", data: new Float64Array(2 * n) });
        t.setColumn("v3", { type: "vec3<double>", data: new Float64Array(3 * n) });
        t.setColumn("m3", { type: "mat3<double>", data: new Float64Array(9 * n) });
        t.setColumn("i6", { type: "int6", data: new Int32Array(6 * n) });
        return t;
      },
      refusedMethods: { getShoebox: "the fixture table has no shoebox column: the call names the missing column" },
      methods: {
        columnNames: none,
        has: () => ["id"],
        column: () => ["id"],
        columnType: () => ["id"],
        setColumn: () => ["extra", { type: "double", data: new Float64Array(fx.table.nrows) }],
        deleteColumn: () => ["d"],
        getDouble: () => ["d"],
        getInt: () => ["id"],
        getBool: () => ["b"],
        getSizeT: () => ["flags"],
        getVec2: () => ["v2"],
        getVec3: () => ["v3"],
        getMat3: () => ["m3"],
        getInt6: () => ["i6"],
        getMillerIndex: () => ["miller_index"],
        getShoebox: () => ["shoebox"],
        select: () => [new Uint8Array(fx.table.nrows).fill(1)],
        copy: none,
      },
    },
    COLUMN_TYPES: { value: true },
    ReflectionFlags: { value: true },
    getFlags: { args: () => [fx.table, api.ReflectionFlags.integratedSum, false] },
    setFlags: { args: () => [fx.table.copy(), new Uint8Array(fx.table.nrows), api.ReflectionFlags.scaled] },
    unsetFlags: { args: () => [fx.table.copy(), new Uint8Array(fx.table.nrows), api.ReflectionFlags.scaled] },
    readReflections: { args: () => [fx.refl, {}] },
    writeReflections: { args: () => [out("w.refl"), fx.table] },
    ExperimentList: {
      args: () => [fx.experiments.toJSON(), [...fx.experiments.experiments]],
      construct: true,
      instance: () => api.parseExperiments(fx.exptJson, "stills.expt"),
      methods: {
        setScalingModel: () => [0, { __id__: "KB" }],
        toJSON: none,
      },
    },
    parseExperiments: { args: () => [fx.exptJson, "stills.expt"] },
    readExperiments: { args: () => [fx.expt] },
    writeExperiments: { args: () => [out("w.expt"), fx.experiments] },
    formatExperimentJson: { args: () => [{ a: [1, 2] }] },

    // diffuse observations, pixels and output documents
    openBinnedDiffuse: { args: () => [fx.h5, {}] },
    readBinnedDiffuse: { args: () => [fx.h5, {}] },
    writeBinnedDiffuse: {
      args: () => {
        const { attributes, ...data } = fx.binned;
        return [out("w.h5"), data, attributes, {}];
      },
    },
    readNpz: { args: () => [fixture("diffuse/still_00000.npz")] },
    writeNpz: {
      args: () => [
        out("w.npz"),
        new Map([["a", { dtype: "<f8", shape: [2], data: f64(1, 2), fortranOrder: false }]]),
        {},
      ],
    },
    readMergedDiffuse: { args: () => [fx.mergedPath] },
    writeMergedDiffuse: {
      args: () => [
        out("m.h5"),
        fx.merged,
        { ndiv: 2, hkl_max: [3, 3, 3], voxel_grid_dims: [13, 13, 13], voxel_index_rule: "x", half_set_seed: 0 },
      ],
    },
    mergedDiffuseAttributesSchema: { value: true },
    formatScalesJson: { args: () => [fx.scalesJson] },
    parseScalesJson: { args: () => [JSON.parse(api.formatScalesJson(fx.scalesJson)) as unknown, "scales.json"] },
    scalesJsonSchema: { value: true },
    writeScalesJson: { args: () => [out("scales.json"), fx.scalesJson] },
    parseRefinementJson: {
      args: () => [JSON.parse(JSON.stringify(fx.refinementJson)) as unknown, "refinement.json"],
    },
    refinementJsonSchema: { value: true },
    writeRefinementJson: { args: () => [out("refinement.json"), fx.refinementJson] },
    checkScalingDiagnostics: {
      args: () => [fx.refinementJson.diagnostics, "$.diagnostics", "refinement.json"],
    },
    histogramSchema: { value: true },
    residualSummarySchema: { value: true },
    scalingDiagnosticsSchema: { value: true },
    shellTableSchema: { value: true },
    MANIFEST_NAME: { value: true },
    readManifest: { args: () => [fx.dir] },
    verifyOutputSet: { args: () => [fx.dir, { digests: false }] },

    // symmetry
    SpaceGroup: {
      args: () => [" P 1", parseHallSymbol(" P 1")],
      construct: true,
      instance: () => fx.sg,
      methods: {
        isCentric: () => [1, 0, 0],
        isSysAbsent: () => [1, 0, 0],
        mapToAsu: () => [1, 2, 3, false],
        mapToAsuBatch: () => [Int32Array.from([1, 2, 3]), false, new Int32Array(3)],
        operatorsXyz: none,
      },
      statics: { fromHall: () => [" P 4"], fromNumber: () => [19] },
    },

    // scale
    scaleDataset: {
      refused: "the experiment list does not exist (a valid call runs a whole scaling job)",
      args: () => [{ exptPath: join(fx.dir, "none.expt"), reflPath: fx.refl, outDir: out("scaled") }],
    },
    SCALE_JOB_DEFAULTS: { value: true },
    buildScalesJson: {
      args: () => [fx.model, fx.refined, "lm", { readS: 0, refineS: 0, mergeS: 0, writeS: 0 }, undefined],
    },
    DiffuseScalingModel: {
      args: () => [{}, { nStills: 3 }],
      construct: true,
      instance: () => {
        const m = new api.DiffuseScalingModel({}, { nStills: fx.model.nStills, spaceGroup: fx.sg });
        m.perStillComponent.data = { stillId: f64(0, 1, 2) };
        m.perStillComponent.updateReflectionData();
        const r = m.resolutionComponent;
        if (r !== undefined) {
          r.data = { qMagnitude: f64(0.1, 0.2, 0.3) };
          r.updateReflectionData();
        }
        return m;
      },
      methods: {
        component: () => ["per_still"],
        getScalesForObservation: () => [0, 0.1],
        refineParameters: () => [fx.binned, fx.table, { threads: 1, maxIterations: 1 }],
        modelState: none,
        generateReferences: () => [fx.binned, fx.table, { threads: 1 }],
        getInverseScales: blockArgs,
        getScales: blockArgs,
        toDict: none,
      },
      statics: { fromModelDict: () => [fx.model.toDict()], ...smootherModelStatics },
    },
    SCALING_DEFAULTS: { value: true },
    resolveScalingOptions: { args: () => [{}] },
    BRAGG_FIXED_ERROR_MODEL: { value: true },
    DIFFUSE_FIXED_ERROR_MODEL: { value: true },
    ALLOWED_CONTROL_POINTS: { value: true },
    DEFAULT_SMOOTHER_RESTRAINT_WEIGHT: { value: true },
    MAX_CONTROL_POINTS: { value: true },
    MAX_EXTRA_FREE_PARAMETERS: { value: true },
    diffuseScalingConfigSchema: { value: true },
    parseDiffuseScalingConfigJson: { args: () => [{}, "config.json"] },
    readDiffuseScalingConfigFile: { args: () => [fx.configPath] },
    resolveDiffuseScalingConfig: { args: () => [{}] },
    PerStillMultiplierComponent: {
      args: () => [f64(1, 1), f64(0.1, 0.1)],
      construct: true,
      instance: () => {
        const c = new api.PerStillMultiplierComponent(f64(1, 1.2));
        c.data = { stillId: f64(0, 1, 1) };
        c.updateReflectionData();
        return c;
      },
      methods: { getScaleForStill: () => [1], ...scaleComponentMethods },
    },
    ResolutionSmootherComponent: {
      args: () => [[0.1, 0.5], f64(1, 1, 1), 0.1, undefined],
      construct: true,
      instance: () => {
        const c = new api.ResolutionSmootherComponent([0.1, 0.5], f64(1, 1.1, 1), 0.1);
        c.data = { qMagnitude: f64(0.1, 0.2, 0.4) };
        c.updateReflectionData();
        return c;
      },
      methods: {
        kernelState: none,
        clamp: () => [0.2],
        valueAt: () => [0.2],
        derivativesAt: () => [0.2],
        ...scaleComponentMethods,
      },
    },
    releaseObservations: { args: () => [fx.refined.details.observations] },

    // voxelize and extract
    voxelizeFiles: {
      refused: "the pixel file does not exist (a valid call runs a whole voxelization)",
      args: () => [{ exptPath: fx.expt, pixels: [join(fx.dir, "none.npz")], outPath: out("v.h5"), ndiv: 2, dMin: 2 }],
    },
    gridForCrystals: { args: () => [[crystal], { ndiv: 2, dMin: 2 }] },
    voxelizeStill: { args: () => [crystal, f64(0.1, 0, 0, 0, 0.1, 0), fx.sg, fx.grid, { ndiv: 2, dMin: 2 }] },
    makeVoxelGrid: { args: () => [2, [3, 3, 3]] },
    voxelCentre: { args: () => [fx.grid, 5, new Float64Array(3), 0] },
    voxelIndexOf: { args: () => [fx.grid, 1, 0, 0] },
    VOXEL_INDEX_RULE: { value: true },
    extractDiffuse: {
      refused: "the experiment list does not exist (a valid call runs a whole extraction)",
      args: () => [{ expt: [join(fx.dir, "none.expt")], refl: [fx.refl], ndiv: 2, dMin: 2, outPath: out("x.h5") }],
    },
    EXTRACT_DEFAULTS: { value: true },
    resolveExtractOptions: { args: () => [{ expt: ["a.expt"], refl: ["a.refl"], ndiv: 2, dMin: 2, outPath: "x.h5" }] },
    panelPixelGeometry: { args: () => [PANEL, BEAM] },
    readMiniCbf: { args: () => [fixture("extract/small_00001.cbf")] },
    openNexusImages: { args: () => [fixture("extract/nexus_master.h5")] },
    EXPERIMENT_IDENTIFIERS_DATASET: { value: true },

    // merge
    mergeDiffuse: {
      args: () => [fx.refined.details.observations, fx.refined.details.finalState, fx.grid, crystal?.B, { seed: 1 }],
    },
    ccHalf: { args: () => [fx.merged, (row: number) => row % 2 === 0] },
    computeMergingStatistics: {
      args: () => [
        api.selectScaledIntensities(fx.scaledTable, 0.4, "scaled.refl"),
        crystal?.unitCell,
        fx.sg,
        { nBins: 2 },
      ],
    },
    mergingStatisticsOfScaledTable: { args: () => [fx.scaledTable, fx.experiments, "scaled.refl", { nBins: 2 }] },
    medianUnitCell: { args: () => [[crystal?.unitCell]] },
    MERGE_PARTIALITY_THRESHOLD: { value: true },
    MERGING_STATISTICS_DEFAULTS: { value: true },
    selectScaledIntensities: { args: () => [fx.scaledTable, 0.4, "scaled.refl"] },
    FIT_WARNING_THRESHOLDS: { value: true },
    fitWarnings: {
      args: () => [
        api.fitWarningInputOf(fx.refined.details, fx.refinementJson.diagnostics),
        api.FIT_WARNING_THRESHOLDS,
      ],
    },
    fitWarningInputOf: { args: () => [fx.refined.details, fx.refinementJson.diagnostics, undefined] },

    // simulate
    simulateDataset: { args: () => [{ outDir: out("sim"), stills: 2, observationsPerStill: 20 }] },
    SIMULATE_DEFAULTS: { value: true },
    resolveSimulateOptions: { args: () => [{ outDir: out("sim"), stills: 2, observationsPerStill: 20 }] },

    ...dialsSpecs(fx),
  };
}
