/**
 * diffuse-scaling: relative scaling of diffuse X-ray scattering measured on serial-crystallography stills, on a
 * TypeScript re-implementation of the parts of the DIALS scaling framework it needs.
 *
 * The public API, grouped by what a user does. Every name is listed here on purpose (no `export *`): what is not
 * listed is internal and may change without notice. `test/unit/public-api.test.ts` keeps a snapshot of this list,
 * so a change to the API is a visible diff. The HTML report is rendered by the `diffuse-scaling/report` entry point
 * (`writeReport`), which loads vega only when it is used.
 *
 * @packageDocumentation
 */

// Errors
export {
  ConfigError,
  DiffuseScalingError,
  DisabledComponentAccess,
  InputError,
  ParameterLimitExceeded,
  RefinementFailure,
  FileSystemError,
  fileSystemError,
} from "./errors.ts";

// Read and write files: DIALS reflection tables and experiment lists
export { ReflectionTable, type RowSelection } from "./table/reflection-table.ts";
export { type Column, type ColumnTypeName, type ShoeboxColumn, COLUMN_TYPES } from "./table/column-types.ts";
export { ReflectionFlags, getFlags, setFlags, unsetFlags } from "./table/flags.ts";
export { readReflections, type ReadReflectionsOptions } from "./io/refl-read.ts";
export { writeReflections } from "./io/refl-write.ts";
export { ExperimentList, parseExperiments, readExperiments, writeExperiments } from "./io/expt.ts";
export { formatExperimentJson } from "./io/expt-json.ts";
export type { JsonObject } from "./io/expt-schema.ts";
export type { Beam, Crystal, Detector, Experiment, Goniometer, Panel, Scan } from "./io/expt-models.ts";
export type { Mat3, Vec3 } from "./geometry/vector-maths.ts";
export type { UnitCell } from "./geometry/unit-cell.ts";

// Read and write files: diffuse observations, pixels, and the output documents
export {
  openBinnedDiffuse,
  readBinnedDiffuse,
  writeBinnedDiffuse,
  EXPERIMENT_IDENTIFIERS_DATASET,
  type BinnedDiffuseAttributes,
  type BinnedDiffuseChunk,
  type BinnedDiffuseFile,
  type WriteBinnedDiffuseOptions,
  type OpenBinnedDiffuseOptions,
} from "./io/binned-diffuse.ts";
export { readNpz, writeNpz, type WriteNpzOptions } from "./io/npz.ts";
export type { NpyArray, NpyData, NpyDtype } from "./io/npy.ts";
export type { AttributeValue } from "./io/hdf5.ts";
export {
  readMergedDiffuse,
  writeMergedDiffuse,
  mergedDiffuseAttributesSchema,
  type MergedDiffuseAttributes,
  type MergedDiffuseMap,
} from "./io/merged-diffuse.ts";
export {
  formatScalesJson,
  parseScalesJson,
  scalesJsonSchema,
  writeScalesJson,
  type ScalesJson,
} from "./io/scales-json.ts";
export {
  parseRefinementJson,
  refinementJsonSchema,
  writeRefinementJson,
  type RefinementJson,
} from "./io/refinement-json.ts";
export {
  checkScalingDiagnostics,
  histogramSchema,
  residualSummarySchema,
  scalingDiagnosticsSchema,
  shellTableSchema,
  type Histogram,
  type ResidualSummary,
  type ScalingDiagnostics,
  type ShellTable,
} from "./io/diagnostics-json.ts";
export {
  MANIFEST_NAME,
  readManifest,
  verifyOutputSet,
  type OutputSetEntry,
  type OutputSetManifest,
  type OutputSetStatus,
} from "./io/output-set.ts";

// Symmetry
export { SpaceGroup, type LatticeType, type SymmetryOperator } from "./symmetry/space-group.ts";
export type { LaueClass } from "./symmetry/laue-class.ts";
export type { XyzOperator } from "./symmetry/hall-symbol.ts";

// Scale: the whole job, or the model on data in memory
export { scaleDataset } from "./job/scale-dataset.ts";
export {
  SCALE_JOB_DEFAULTS,
  type ScaleDatasetOptions,
  type ScaleDatasetProgress,
  type ScaleDatasetResult,
} from "./job/scale-dataset-options.ts";
export { buildScalesJson } from "./job/scale-documents.ts";
export {
  DiffuseScalingModel,
  type DiffuseScalingModelOptions,
  type ReferenceValue,
  type RefinedStillParameters,
  type RefineParametersOptions,
  type RefineParametersResult,
  type RefinementStatistics,
} from "./refine/diffuse-scaling-model.ts";
export {
  SCALING_DEFAULTS,
  resolveScalingOptions,
  type ErrorModelKind,
  type ResolvedScalingOptions,
  type ScalingMinimizer,
  type ScalingOptions,
} from "./refine/scaling-options.ts";
export {
  BRAGG_FIXED_ERROR_MODEL,
  DIFFUSE_FIXED_ERROR_MODEL,
  type ClassErrorModels,
  type ErrorModelSummary,
} from "./refine/class-error-models.ts";
export {
  ALLOWED_CONTROL_POINTS,
  DEFAULT_SMOOTHER_RESTRAINT_WEIGHT,
  MAX_CONTROL_POINTS,
  MAX_EXTRA_FREE_PARAMETERS,
  diffuseScalingConfigSchema,
  parseDiffuseScalingConfigJson,
  readDiffuseScalingConfigFile,
  resolveDiffuseScalingConfig,
  type DiffuseScalingConfig,
  type DiffuseScalingConfigInput,
  type DiffuseScalingConfigJson,
} from "./refine/config.ts";
export {
  PerStillMultiplierComponent,
  type PerStillMultiplierData,
} from "./refine/components/per-still-multiplier-component.ts";
export {
  ResolutionSmootherComponent,
  type ResolutionSmootherData,
} from "./refine/components/resolution-smoother-component.ts";
export type {
  GroupReferences,
  IterationRecord,
  JointRefinementOptions,
  JointRefinementResult,
  RefinementProgress,
} from "./refine/joint-refinement.ts";
// the model state g = b·a(|q|) is evaluated from (a refinement's `finalState`)
export type { JointModelState } from "./passes/inverse-scales.ts";
export type { SmootherKernelState } from "./dials/smoother-weights.ts";
export {
  releaseObservations,
  type BuildScalingObservationsOptions,
  type ScalingObservations,
} from "./observations/scaling-observations.ts";
export type { PagedRows, ResidentRows } from "./observations/observation-windows.ts";
export type { BraggInput, DiffuseInput } from "./observations/scaling-input.ts";
export type { BraggSelectionCounts } from "./observations/bragg-input.ts";
export type { BinnedPixelData, DiffuseSelectionCounts } from "./observations/diffuse-input.ts";

// Voxelize pixels
export { voxelizeFiles, type VoxelizeFilesOptions, type VoxelizeSummary } from "./job/voxelize-files.ts";
export { gridForCrystals, voxelizeStill, type VoxelizedStill, type VoxelizeOptions } from "./voxelize/voxelize.ts";
export { makeVoxelGrid, voxelCentre, voxelIndexOf, VOXEL_INDEX_RULE, type VoxelGrid } from "./voxelize/voxel-grid.ts";

// Extract diffuse observations from the images of indexed stills
export { extractDiffuse, type ExtractSummary } from "./extract/extract-diffuse.ts";
export {
  EXTRACT_DEFAULTS,
  resolveExtractOptions,
  type ExtractOptions,
  type ExtractProgressEvent,
  type ResolvedExtractOptions,
} from "./extract/extract-options.ts";
export {
  panelPixelGeometry,
  type BeamFrame,
  type PanelFrame,
  type PanelPixelGeometry,
} from "./extract/pixel-geometry.ts";
export { readMiniCbf, type MiniCbfHeader, type MiniCbfImage } from "./io/cbf-read.ts";
export { openNexusImages, type NexusImages } from "./io/nexus-read.ts";

// Merge
export { mergeDiffuse, type MergedDiffuse, type MergeOptions } from "./merge/merge.ts";
export { ccHalf } from "./merge/cc-half.ts";
export {
  computeMergingStatistics,
  mergingStatisticsOfScaledTable,
  medianUnitCell,
  MERGE_PARTIALITY_THRESHOLD,
  MERGING_STATISTICS_DEFAULTS,
  type MergingShell,
  type MergingStatistics,
  type MergingStatisticsOptions,
} from "./merge/merging-statistics.ts";
export { selectScaledIntensities, type ScaledIntensities } from "./merge/scaled-intensities.ts";

// Warnings when a fit cannot be trusted
export {
  FIT_WARNING_THRESHOLDS,
  fitWarnings,
  type ClassFitStatistics,
  type ErrorModelSummaryLike,
  type FitWarning,
  type FitWarningInput,
  type FitWarningThresholds,
} from "./merge/fit-warnings.ts";
export { fitWarningInputOf } from "./merge/fit-warning-input.ts";

// Simulate stills
export { simulateDataset, type SimulateResult } from "./simulate/simulate-dataset.ts";
export {
  SIMULATE_DEFAULTS,
  resolveSimulateOptions,
  type ResolvedSimulation,
  type SimulateOptions,
  type SimulateProgress,
} from "./simulate/simulation-options.ts";

// The DIALS scaling framework, with DIALS's names
export { SparseMatrix } from "./dials/sparse-matrix.ts";
export {
  GaussianSmoother1D,
  type SmootherMultiValueWeight,
  type SmootherValueWeight,
} from "./dials/gaussian-smoother-1d.ts";
export { GaussianSmoother2D } from "./dials/gaussian-smoother-2d.ts";
export { GaussianSmoother3D } from "./dials/gaussian-smoother-3d.ts";
export {
  ScaleComponent,
  type GradientRestraints,
  type JacobianRestraints,
  type ScalesAndDerivatives,
} from "./dials/components/scale-component.ts";
export { SmootherScaleComponent } from "./dials/components/smoother-scale-component.ts";
export { SingleScaleFactor, type SingleScaleFactorData } from "./dials/components/single-scale-factor.ts";
export { SingleBScaleFactor, type SingleBScaleFactorData } from "./dials/components/single-b-scale-factor.ts";
export {
  SmoothScaleComponent1D,
  type SmoothScaleComponent1DData,
} from "./dials/components/smooth-scale-component-1d.ts";
export {
  SmoothBScaleComponent1D,
  type SmoothBScaleComponent1DData,
} from "./dials/components/smooth-b-scale-component-1d.ts";
export {
  SmoothScaleComponent2D,
  type SmoothScaleComponent2DData,
} from "./dials/components/smooth-scale-component-2d.ts";
export {
  SmoothScaleComponent3D,
  type SmoothScaleComponent3DData,
} from "./dials/components/smooth-scale-component-3d.ts";
export { ScalingModel, type ComponentParameters, type ScalingModelReader } from "./dials/scaling-model.ts";
export { KBScalingModel, type KBModelOptions, type KBParameters } from "./dials/kb-scaling-model.ts";
export {
  ActiveParameterManager,
  MultiActiveParameterManager,
  ScalingActiveParameterManager,
  SharedActiveParameterManager,
  type ActiveComponentInfo,
  type ActiveParameterManagerClass,
  type ApmSlice,
  type SharedApmSlice,
} from "./dials/active-parameter-manager.ts";
export {
  IhTable,
  IhTableBlock,
  type AsuMapper,
  type BlockArrays,
  type IhTableDataset,
  type IhTableOptions,
} from "./dials/ih-table.ts";
export {
  ScalingTarget,
  ScalingTargetFixedIH,
  symmetrise,
  type NormalEquationAccumulator,
} from "./dials/target-function.ts";
export {
  ScalingRefinery,
  createScalingRefinery,
  refineScaling,
  type CreateScalingRefineryOptions,
  type DatasetScaleCalculator,
  type RefineScalingOptions,
  type ScalingEngine,
  type ScalingParameterSet,
  type ScalingRefineryOptions,
} from "./dials/scaling-refinery.ts";
export {
  selectReflectionsForScaling,
  type ReflectionSelectionOptions,
  type ScalingDatasetInput,
  type ScalingInput,
} from "./dials/reflection-selection.ts";
export { groupRows, type GroupedObservations, type GroupRows } from "./dials/grouped-observations.ts";
export {
  limitOutlierWeights,
  rejectOutliersSimple,
  rejectOutliersStandard,
  rejectOutliersStandardGrouped,
  rejectOutliersTarget,
  type GroupedRowColumns,
  type OutlierReference,
  type OutlierRejectionOptions,
} from "./dials/outlier-rejection.ts";
export { BasicErrorModel } from "./dials/error-model.ts";
export {
  prepareErrorModelData,
  type ErrorModelData,
  type ErrorModelFilterOptions,
  type ErrorModelObservations,
} from "./dials/error-model-data.ts";
export { createErrorModelBins, type ErrorModelBinOptions, type ErrorModelBins } from "./dials/error-model-bins.ts";
export {
  refineErrorModel,
  type ErrorModelRefinementOptions,
  type ErrorModelRefinementResult,
} from "./dials/error-model-refinement.ts";

// Least squares and linear algebra
export type {
  IterationInfo,
  LeastSquaresProblem,
  NormalEquations,
  NormalOperator,
  RefinementOptions,
  RefinementResult,
  StopReason,
} from "./solve/least-squares-problem.ts";
export { levenbergMarquardt } from "./solve/levenberg-marquardt.ts";
export { gaussNewton } from "./solve/gauss-newton.ts";
export { lbfgs, type LbfgsOptions } from "./solve/lbfgs.ts";
export { choleskyFactor, choleskyInverse, choleskySolve } from "./solve/cholesky.ts";
export {
  conjugateGradient,
  type ConjugateGradientOptions,
  type BlockPreconditioner,
  type ConjugateGradientResult,
  type CustomPreconditioner,
  type DiagonalPreconditioner,
  type Preconditioner,
} from "./solve/conjugate-gradient.ts";
