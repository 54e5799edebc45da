/**
 * The DIALS-port and solver part of the table of `library-contracts.test.ts` (not a test file itself): valid
 * arguments, instances and methods of the smoothers, components, models, parameter managers, Ih table, target,
 * refinery, outlier rejection, error model and least-squares solvers exported by `src/index.ts`.
 */
import * as api from "../../src/index.ts";
import type { ContractFixtures } from "./library-contract-fixtures.ts";
import type { Args, ExportSpec } from "./library-contract-specs.ts";

/** A Float64Array of the given values. */
export const f64 = (...v: number[]): Float64Array => Float64Array.from(v);
/** No arguments. */
export const none: Args = () => [];
/** The first block. */
export const blockArgs: Args = () => [0];

/** The five-method set every DIALS scale component has, with the reflection data already given. */
export function componentMethods(nRows: number): Record<string, Args> {
  return {
    updateReflectionData: () => [new Uint8Array(nRows).fill(1), undefined],
    calculateScalesAndDerivatives: blockArgs,
    calculateScales: blockArgs,
    calculateRestraints: none,
    calculateJacobianRestraints: none,
  };
}

/** A KB model with its components given reflection data of 4 rows. */
function kbModel(): api.KBScalingModel {
  const m = api.KBScalingModel.fromData();
  m.configureComponents({ id: new Float64Array(4), d: f64(1, 2, 1, 1.5) });
  for (const c of m.components.values()) c.updateReflectionData();
  return m;
}

/** An Ih table of one dataset: 4 observations of 2 reflections in C 2. */
function ihTable(): api.IhTable {
  return new api.IhTable(
    [
      {
        millerIndex: Int32Array.from([1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1]),
        intensity: f64(10, 20, 11, 19),
        variance: f64(1, 2, 1, 2),
      },
    ],
    api.SpaceGroup.fromHall(" C 2y"),
  );
}

/** The scale, decay and smooth components of the DIALS basis-function tests (3 rows). */
function components(): Map<string, api.ScaleComponent> {
  const scale = new api.SingleScaleFactor(f64(1));
  scale.data = { id: new Float64Array(3) };
  const decay = new api.SingleBScaleFactor(f64(0));
  decay.data = { d: f64(2, 0.8, 2) };
  for (const c of [scale, decay]) c.updateReflectionData();
  return new Map<string, api.ScaleComponent>([
    ["scale", scale],
    ["decay", decay],
  ]);
}

/** A small least-squares problem: two KB models (scale only) on two datasets, the second measured 1.5 times higher. */
function problem(): api.ScalingRefinery {
  const hkl = Int32Array.from([1, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]);
  const ih = new api.IhTable(
    [1, 1.5].map((g) => ({
      millerIndex: hkl,
      intensity: f64(10 * g, 20 * g, 30 * g, 15 * g),
      variance: f64(1, 2, 3, 2),
    })),
    api.SpaceGroup.fromHall(" C 2y"),
  );
  const models = [0, 1].map(() => {
    const m = api.KBScalingModel.fromData({ decayCorrection: false });
    m.configureComponents({ id: new Float64Array(4), d: f64(1, 2, 1, 1.5) });
    return m;
  });
  return api.createScalingRefinery(models, ih).refinery;
}

/** Grouped observations: 2 groups of 3 rows. */
function grouped(): api.GroupedObservations {
  return {
    nGroups: 2,
    groupIndex: Int32Array.from([0, 0, 0, 1, 1, 1]),
    intensity: f64(10, 11, 30, 20, 21, 19),
    variance: f64(1, 1, 1, 2, 2, 2),
    inverseScale: f64(1, 1, 1, 1, 1, 1),
  };
}

/** Observations for the error model: 30 groups of 4 rows with spread intensities. */
function errorModelObservations(): api.ErrorModelObservations {
  const n = 120;
  const I = Float64Array.from({ length: n }, (_, i) => 50 + 40 * Math.floor(i / 4) + ((i * 7) % 5) - 2);
  return {
    nGroups: 30,
    groupIndex: Int32Array.from({ length: n }, (_, i) => Math.floor(i / 4)),
    intensity: I,
    variance: Float64Array.from(I, (v) => v + 4),
    inverseScale: new Float64Array(n).fill(1),
  };
}

/** The static methods every scaling model class inherits from `ScalingModel`. */
export function modelStatics(fx: ContractFixtures): Record<string, Args> {
  return {
    register: () => ["contract-test-model", () => fx.model],
    registeredIds: none,
    fromDict: () => [fx.model.toDict(), "model.json"],
  };
}

/** The entries of the DIALS port and the solvers. */
export function dialsSpecs(fx: ContractFixtures): Record<string, ExportSpec> {
  const sparse = () => api.SparseMatrix.fromDense(2, 3, [1, 0, 2, 0, 3, 0]);
  const scaleComponentMethods = componentMethods(3);
  const block = () => ihTable().blocks[0];
  const targetMethods: Record<string, Args> = {
    calculateResiduals: () => [block()],
    calculateDIhByDpi: () => [block(), api.SparseMatrix.fromDense(4, 1, [1, 1, 1, 1])],
    calculateJacobian: () => [block(), api.SparseMatrix.fromDense(4, 1, [1, 1, 1, 1])],
    calculateGradient: () => [block(), api.SparseMatrix.fromDense(4, 1, [1, 1, 1, 1])],
    accumulateNormalEquations: () => [
      block(),
      api.SparseMatrix.fromDense(4, 1, [1, 1, 1, 1]),
      { matrix: new Float64Array(1), gradient: new Float64Array(1), sumWr2: 0 },
      0,
    ],
    rmsd: () => [[block()], undefined],
  };
  const apmMethods: Record<string, Args> = {
    getParamVals: none,
    setParamVals: () => [f64(1.1, 0.1)],
    getParamNames: none,
    calculateModelStateUncertainties: () => [f64(1, 0, 0, 1)],
    setParamEsds: () => [f64(0.1, 0.1)],
  };
  const smootherModelStatics = modelStatics(fx);
  return {
    SparseMatrix: {
      args: () => [2, 2, Int32Array.from([0, 1, 2]), Int32Array.from([0, 1]), f64(1, 2)],
      construct: true,
      instance: sparse,
      methods: {
        nonZeros: none,
        get: () => [1, 1],
        toDense: none,
        rowMultiply: () => [f64(1, 2)],
        columnMultiply: () => [f64(1, 2, 3)],
        selectColumns: () => [[0, 2]],
        selectRows: () => [[1]],
        transpose: none,
        multiplyVector: () => [f64(1, 2, 3)],
        transposeMultiplyVector: () => [f64(1, 2)],
        transposeWeightedProduct: () => [f64(1, 2)],
      },
      statics: {
        fromTriplets: () => [2, 2, [0, 1], [1, 0], [3, 4]],
        fromDense: () => [2, 2, [1, 0, 0, 1]],
        zeros: () => [2, 3],
        hstack: () => [[sparse(), sparse()]],
        vstack: () => [[sparse(), sparse()]],
      },
    },
    GaussianSmoother1D: {
      args: () => [[0, 10], 4],
      construct: true,
      instance: () => new api.GaussianSmoother1D([0, 10], 4),
      methods: {
        numValues: none,
        numSamples: none,
        numAverage: none,
        positions: none,
        spacing: none,
        sigma: none,
        setSmoothing: () => [3, 0.65],
        valueWeight: () => [2.5, f64(1, 2, 3, 4, 5, 6)],
        valueWeightFirstFixed: () => [2.5, f64(1, 2, 3, 4, 5, 6)],
        multiValueWeight: () => [f64(1, 2.5), f64(1, 2, 3, 4, 5, 6)],
        multiValueWeightFirstFixed: () => [f64(1, 2.5), f64(1, 2, 3, 4, 5, 6)],
      },
    },
    GaussianSmoother2D: {
      args: () => [[0, 10], 2, [0, 5], 2],
      construct: true,
      instance: () => new api.GaussianSmoother2D([0, 10], 2, [0, 5], 2),
      methods: {
        numXValues: none,
        numYValues: none,
        numValues: none,
        numXSamples: none,
        numYSamples: none,
        numXAverage: none,
        numYAverage: none,
        xPositions: none,
        yPositions: none,
        xSpacing: none,
        ySpacing: none,
        sigma: none,
        setSmoothing: () => [3, 0.65],
        valueWeight: () => [2.5, 1, new Float64Array(9).fill(1)],
        multiValueWeight: () => [f64(1, 2.5), f64(1, 2), new Float64Array(9).fill(1)],
      },
    },
    GaussianSmoother3D: {
      args: () => [[0, 10], 2, [0, 5], 2, [0, 1], 1],
      construct: true,
      instance: () => new api.GaussianSmoother3D([0, 10], 2, [0, 5], 2, [0, 1], 1),
      methods: {
        numXValues: none,
        numYValues: none,
        numZValues: none,
        numValues: none,
        numXSamples: none,
        numYSamples: none,
        numZSamples: none,
        numXAverage: none,
        numYAverage: none,
        numZAverage: none,
        xPositions: none,
        yPositions: none,
        zPositions: none,
        xSpacing: none,
        ySpacing: none,
        zSpacing: none,
        sigma: none,
        setSmoothing: () => [3, 0.65],
        valueWeight: () => [2.5, 1, 0.5, new Float64Array(18).fill(1)],
        multiValueWeight: () => [f64(1, 2.5), f64(1, 2), f64(0, 0.5), new Float64Array(18).fill(1)],
      },
    },
    ScaleComponent: {
      args: () => [f64(1), undefined],
      construct: true,
      instance: () => components().get("scale") as object,
      methods: scaleComponentMethods,
    },
    SmootherScaleComponent: {
      args: () => [f64(1, 1, 1), undefined],
      construct: true,
      instance: () => {
        const c = new api.SmoothScaleComponent1D(f64(1, 1.1, 1));
        c.data = { x: f64(0.1, 0.5, 1.2) };
        c.updateReflectionData();
        return c;
      },
      methods: scaleComponentMethods,
    },
    SingleScaleFactor: {
      args: () => [f64(1), f64(0.1)],
      construct: true,
      instance: () => components().get("scale") as object,
      methods: scaleComponentMethods,
    },
    SingleBScaleFactor: {
      args: () => [f64(0), f64(0.1)],
      construct: true,
      instance: () => components().get("decay") as object,
      methods: scaleComponentMethods,
    },
    SmoothScaleComponent1D: {
      args: () => [f64(1, 1, 1), f64(0.1, 0.1, 0.1)],
      construct: true,
      instance: () => {
        const c = new api.SmoothScaleComponent1D(f64(1, 1.1, 1));
        c.data = { x: f64(0.1, 0.5, 1.2) };
        c.updateReflectionData();
        return c;
      },
      methods: { fixInitialParameter: none, unfixInitialParameter: none, ...scaleComponentMethods },
    },
    SmoothBScaleComponent1D: {
      args: () => [f64(0, 0, 0), undefined],
      construct: true,
      instance: () => {
        const c = new api.SmoothBScaleComponent1D(f64(0, 0.1, 0));
        c.data = { x: f64(0.1, 0.5, 1.2), d: f64(1, 2, 3) };
        c.updateReflectionData();
        return c;
      },
      methods: { fixInitialParameter: none, unfixInitialParameter: none, ...scaleComponentMethods },
    },
    SmoothScaleComponent2D: {
      args: () => [new Float64Array(6).fill(1), [3, 2], undefined],
      construct: true,
      instance: () => {
        const c = new api.SmoothScaleComponent2D(new Float64Array(6).fill(1.1), [3, 2]);
        c.data = { x: f64(0.1, 0.5, 1.2), y: f64(0, 0.5, 0.9) };
        c.updateReflectionData();
        return c;
      },
      methods: scaleComponentMethods,
    },
    SmoothScaleComponent3D: {
      args: () => [new Float64Array(12).fill(1), [3, 2, 2], undefined],
      construct: true,
      instance: () => {
        const c = new api.SmoothScaleComponent3D(new Float64Array(12).fill(1.1), [3, 2, 2]);
        c.data = { x: f64(0.1, 0.5, 1.2), y: f64(0, 0.5, 0.9), z: f64(0, 0.2, 0.7) };
        c.updateReflectionData();
        return c;
      },
      methods: scaleComponentMethods,
    },
    ScalingModel: {
      args: () => [{ corrections: [] }, false],
      construct: true,
      instance: kbModel,
      methods: { getInverseScales: blockArgs, getScales: blockArgs, toDict: none },
      statics: smootherModelStatics,
    },
    KBScalingModel: {
      args: () => [{ scale: { parameters: [1] } }, { corrections: ["scale"] }, false],
      construct: true,
      instance: kbModel,
      methods: {
        configureComponents: () => [{ id: new Float64Array(2), d: f64(1, 2) }],
        getInverseScales: blockArgs,
        getScales: blockArgs,
        toDict: none,
      },
      statics: {
        fromData: () => [{ decayCorrection: true }],
        ...smootherModelStatics,
        fromDict: () => [kbModel().toDict(), "model.json"],
      },
    },
    ActiveParameterManager: {
      args: () => [components(), ["scale", "decay"]],
      construct: true,
      instance: () => new api.ActiveParameterManager(components(), ["scale", "decay"]),
      methods: apmMethods,
    },
    ScalingActiveParameterManager: {
      args: () => [components(), ["scale", "decay"]],
      construct: true,
      instance: () => new api.ScalingActiveParameterManager(components(), ["scale", "decay"]),
      methods: { ...apmMethods, calculateScalesAndDerivatives: blockArgs, calculateScales: blockArgs },
    },
    MultiActiveParameterManager: {
      args: () => [[components()], [["scale", "decay"]], api.ActiveParameterManager],
      construct: true,
      instance: () => new api.MultiActiveParameterManager([components()], [["scale", "decay"]]),
      methods: apmMethods,
    },
    SharedActiveParameterManager: {
      args: () => [[components(), components()], [["scale"], ["scale"]], api.ActiveParameterManager, "scale"],
      construct: true,
      instance: () =>
        new api.SharedActiveParameterManager(
          [components(), components()],
          [["scale", "decay"], ["scale"]],
          api.ActiveParameterManager,
          "scale",
        ),
      methods: {
        ...apmMethods,
        reduceGradient: () => [f64(1, 2, 3)],
        reduceJacobian: () => [api.SparseMatrix.fromDense(1, 3, [1, 2, 3])],
      },
    },
    IhTable: {
      args: () => [
        [{ millerIndex: Int32Array.from([1, 0, 0, 1, 0, 0]), intensity: f64(1, 2), variance: f64(1, 1) }],
        fx.sg,
        { nBlocks: 1 },
      ],
      construct: true,
      instance: ihTable,
      methods: {
        matchIhValuesToTarget: () => [ihTable()],
        getBlockSelectionsForDataset: () => [0],
        calcIh: none,
        updateErrorModel: () => [1, 0.02],
      },
    },
    IhTableBlock: {
      args: () => {
        const b = block();
        const arrays: api.BlockArrays = {
          nDatasets: b.nDatasets,
          nGroups: b.nGroups,
          groupIndex: b.groupIndex,
          asuMillerIndex: b.asuMillerIndex,
          intensity: b.intensity,
          variance: b.variance,
          weights: b.weights,
          inverseScaleFactor: b.inverseScaleFactor,
          IhValues: b.IhValues,
          datasetId: b.datasetId,
          locIndices: b.locIndices,
          partiality: undefined,
        };
        return [arrays];
      },
      construct: true,
      instance: block,
      methods: {
        calcIh: none,
        sumInGroups: () => [f64(1, 2, 3, 4), "per_group"],
        groupMultiplicities: () => ["per_refl"],
        calcNh: none,
        updateErrorModel: () => [1, 0.02],
        resetWeights: none,
        select: () => [Uint8Array.from([1, 0, 1, 1])],
        selectOnGroups: () => [Uint8Array.from([1, 0])],
      },
    },
    ScalingTarget: { args: none, construct: true, instance: () => new api.ScalingTarget(), methods: targetMethods },
    ScalingTargetFixedIH: {
      args: none,
      construct: true,
      instance: () => new api.ScalingTargetFixedIH(),
      methods: targetMethods,
    },
    symmetrise: { args: () => [f64(1, 2, 0, 3), 2] },
    ScalingRefinery: {
      args: () => {
        const r = problem();
        return [r.ihTable, r.parameters, { target: new api.ScalingTarget() }];
      },
      construct: true,
      instance: problem,
      methods: {
        parameterNames: none,
        getParameters: none,
        setParameters: () => [f64(1.1, 0.9)],
        updateForMinimisation: none,
        buildNormalEquations: none,
        computeObjective: none,
        computeFunctionalAndGradient: none,
        rmsd: none,
      },
    },
    createScalingRefinery: { args: () => [[kbModel()], ihTable(), { gauge: "auto" }] },
    refineScaling: { args: () => [problem(), { engine: "LevMar" }] },
    selectReflectionsForScaling: { args: () => [fx.table, { nDatasets: 6 }] },
    groupRows: { args: () => [Int32Array.from([0, 1, 0]), 2] },
    limitOutlierWeights: { args: () => [f64(1, 1, 1), Int32Array.from([0, 1, 0]), 2] },
    rejectOutliersSimple: { args: () => [grouped(), { zmax: 6 }] },
    rejectOutliersStandard: { args: () => [grouped(), { zmax: 6 }] },
    rejectOutliersStandardGrouped: {
      args: () => [
        {
          groupStart: Int32Array.from([0, 3, 6]),
          intensity: f64(10, 11, 30, 20, 21, 19),
          variance: f64(1, 1, 1, 2, 2, 2),
        },
        new Uint8Array(6).fill(1),
        new Float64Array(6).fill(1),
        { zmax: 6 },
      ],
    },
    rejectOutliersTarget: { args: () => [grouped(), { intensity: f64(10, 20), variance: f64(1, 1) }, { zmax: 6 }] },
    BasicErrorModel: {
      args: () => [1, 0.02],
      construct: true,
      instance: () => new api.BasicErrorModel(1, 0.02),
      methods: {
        varianceOf: () => [4, 100],
        updateVariances: () => [f64(4, 5), f64(100, 200), new Float64Array(2)],
        calcSigmaprime: () => [f64(4, 5), f64(100, 200), f64(1, 1), new Float64Array(2)],
        calcDeltahl: () => [f64(100, 200), f64(1, 1), f64(150, 150), f64(2, 2), f64(2, 2), new Float64Array(2)],
      },
    },
    prepareErrorModelData: { args: () => [errorModelObservations(), { minReflectionsRequired: 1 }] },
    createErrorModelBins: { args: () => [Float64Array.from({ length: 100 }, (_, i) => 10 + i), {}] },
    refineErrorModel: { args: () => [errorModelObservations(), { minReflectionsRequired: 1 }] },

    // least squares and linear algebra
    levenbergMarquardt: { args: () => [problem(), { maxIterations: 3 }] },
    gaussNewton: { args: () => [problem(), { maxIterations: 3 }] },
    lbfgs: { args: () => [problem(), { maxIterations: 3 }] },
    choleskyFactor: { args: () => [f64(4, 2, 2, 3), 2] },
    choleskyInverse: { args: () => [f64(2, 0, 1, Math.SQRT2), 2] },
    choleskySolve: { args: () => [f64(2, 0, 1, Math.SQRT2), 2, f64(1, 2)] },
    conjugateGradient: {
      args: () => [
        (x: Float64Array, y: Float64Array) => {
          y[0] = 4 * x[0] + x[1];
          y[1] = x[0] + 3 * x[1];
        },
        f64(1, 2),
        { maxIterations: 10 },
      ],
    },
  };
}
