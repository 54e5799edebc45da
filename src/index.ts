/**
 * diffuse-scaling: relative scaling of diffuse X-ray scattering measured on serial-crystallography stills, on a
 * TypeScript re-implementation of the parts of the DIALS scaling framework it needs.
 * This module re-exports the public API only (no top-level await).
 *
 * @packageDocumentation
 */
export * from "./errors.ts";

// Tables and file formats
export * from "./table/column-types.ts";
export * from "./table/reflection-table.ts";
export * from "./table/flags.ts";
export { readReflections, REFL_HEADER, REFL_READ_VERSIONS, type ReadReflectionsOptions } from "./io/refl-read.ts";
export { writeReflections, REFL_WRITE_VERSION } from "./io/refl-write.ts";
export { writeFileAtomic, writeTextAtomic } from "./io/atomic-write.ts";
export * from "./geometry/vector-maths.ts";
export * from "./geometry/unit-cell.ts";
export * from "./io/expt-models.ts";
export * from "./io/expt.ts";
export { formatExperimentJson } from "./io/expt-json.ts";
export * from "./io/binned-diffuse.ts";
export * from "./io/merged-diffuse.ts";
export * from "./io/npz.ts";
export { parseNpy, formatNpy } from "./io/npy.ts";
export * from "./io/json-document.ts";
export * from "./io/scales-json.ts";
export * from "./io/refinement-json.ts";
export * from "./io/diagnostics-json.ts";
export { ColumnFile, type ColumnFileLayout, type ColumnArray } from "./runtime/column-file.ts";

// Symmetry
export * from "./symmetry/space-group.ts";
export { SPACE_GROUP_TABLE, type SpaceGroupTableEntry } from "./symmetry/space-group-table.ts";

// The DIALS scaling framework
export * from "./dials/sparse-matrix.ts";
export * from "./dials/gaussian-smoother-1d.ts";
export * from "./dials/gaussian-smoother-2d.ts";
export * from "./dials/gaussian-smoother-3d.ts";
export * from "./dials/components/scale-component.ts";
export * from "./dials/components/single-scale-factor.ts";
export * from "./dials/components/single-b-scale-factor.ts";
export * from "./dials/components/smoother-scale-component.ts";
export * from "./dials/components/smooth-scale-component-1d.ts";
export * from "./dials/components/smooth-b-scale-component-1d.ts";
export * from "./dials/components/smooth-scale-component-2d.ts";
export * from "./dials/components/smooth-scale-component-3d.ts";
export * from "./dials/scaling-model.ts";
export * from "./dials/kb-scaling-model.ts";
export * from "./dials/model-utilities.ts";
export * from "./dials/active-parameter-manager.ts";
export * from "./dials/ih-table.ts";
export * from "./dials/target-function.ts";
export * from "./dials/scaling-refinery.ts";
export * from "./dials/reflection-selection.ts";
export * from "./dials/grouped-observations.ts";
export * from "./dials/outlier-rejection.ts";
export * from "./dials/error-model.ts";
export * from "./dials/error-model-data.ts";
export {
  createErrorModelBins,
  calculateBinVariances,
  type ErrorModelBins,
  type ErrorModelBinOptions,
} from "./dials/error-model-bins.ts";
export * from "./dials/error-model-refinement.ts";

// Linear algebra and minimisers
export * from "./solve/least-squares-problem.ts";
export * from "./solve/cholesky.ts";
export * from "./solve/schur-complement.ts";
export * from "./solve/conjugate-gradient.ts";
export * from "./solve/levenberg-marquardt.ts";
export * from "./solve/gauss-newton.ts";
export * from "./solve/lbfgs.ts";

// The diffuse scaling model and pipeline
export * from "./refine/config.ts";
export * from "./refine/components/per-still-multiplier-component.ts";
export * from "./refine/components/resolution-smoother-component.ts";
export * from "./refine/diffuse-scaling-model.ts";
export * from "./observations/scaling-input.ts";
export * from "./observations/scaling-observations.ts";
export * from "./observations/restrict-stills.ts";
export { packHkl } from "./observations/bragg-grouping.ts";
export * from "./observations/row-columns.ts";
export * from "./observations/observation-windows.ts";
export * from "./passes/inverse-scale-batches.ts";
export * from "./observations/bragg-input.ts";
export * from "./observations/diffuse-input.ts";
export * from "./refine/joint-scaling-problem.ts";
// the model state the kernels evaluate g = b·a(|q|) from (the refinement's `finalState`)
export type { JointModelState } from "./passes/inverse-scales.ts";
export type { SmootherKernelState } from "./dials/smoother-weights.ts";
export * from "./refine/joint-refinement.ts";
export * from "./voxelize/voxel-grid.ts";
export * from "./voxelize/voxelize.ts";
export * from "./job/voxelize-files.ts";
export * from "./merge/merge.ts";
export * from "./merge/cc-half.ts";
export * from "./job/scaled-reflections.ts";
export * from "./job/scale-dataset.ts";
export * from "./job/scale-documents.ts";
export * from "./refine/scaling-options.ts";
export * from "./io/common-space-group.ts";

// The simulator
export * from "./simulate/simulate-dataset.ts";
export * from "./simulate/simulation-options.ts";

// Report data and specs (rendering to SVG/HTML, which loads vega, lives in the "diffuse-scaling/report" entry)
export * from "./report/report-data.ts";
export * from "./report/specs.ts";
export * from "./report/summary.ts";
export { renderReportHtml, escapeHtml, type ReportPage } from "./report/html.ts";
