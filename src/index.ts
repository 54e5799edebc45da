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
export * from "./io/geometry.ts";
export * from "./io/expt.ts";
export * from "./io/binned-diffuse.ts";
export * from "./io/merged-diffuse.ts";
export * from "./io/npz.ts";
export { parseNpy, formatNpy } from "./io/npy.ts";
export * from "./io/scales-json.ts";
export { ColumnFile, type ColumnFileLayout, type ColumnArray } from "./io/column-file.ts";

// Symmetry
export * from "./symmetry/space-group.ts";
export { SPACE_GROUP_TABLE, type SpaceGroupTableEntry } from "./symmetry/space-group-table.ts";

// The DIALS scaling framework
export * from "./framework/sparse-matrix.ts";
export * from "./framework/gaussian-smoother-1d.ts";
export * from "./framework/gaussian-smoother-2d.ts";
export * from "./framework/gaussian-smoother-3d.ts";
export * from "./framework/components/scale-component.ts";
export * from "./framework/components/single-scale-factor.ts";
export * from "./framework/components/single-b-scale-factor.ts";
export * from "./framework/components/smooth-scale-component-1d.ts";
export * from "./framework/components/smooth-b-scale-component-1d.ts";
export * from "./framework/components/smooth-scale-component-2d.ts";
export * from "./framework/components/smooth-scale-component-3d.ts";
export * from "./framework/scaling-model.ts";
export * from "./framework/kb-scaling-model.ts";
export * from "./framework/model-utilities.ts";
export * from "./framework/active-parameter-manager.ts";
export * from "./framework/ih-table.ts";
export * from "./framework/target-function.ts";
export * from "./framework/scaling-refinery.ts";
export * from "./framework/reflection-selection.ts";
export * from "./framework/grouped-observations.ts";
export * from "./framework/outlier-rejection.ts";
export * from "./framework/error-model.ts";

// Linear algebra and minimisers
export * from "./solve/least-squares-problem.ts";
export * from "./solve/cholesky.ts";
export * from "./solve/schur-complement.ts";
export * from "./solve/conjugate-gradient.ts";
export * from "./solve/levenberg-marquardt.ts";
export * from "./solve/gauss-newton.ts";
export * from "./solve/lbfgs.ts";

// The diffuse scaling model and pipeline
export * from "./diffuse/config.ts";
export * from "./diffuse/components/per-still-multiplier-component.ts";
export * from "./diffuse/components/resolution-smoother-component.ts";
export * from "./diffuse/diffuse-scaling-model.ts";
export * from "./diffuse/scaling-observations.ts";
export * from "./diffuse/observation-windows.ts";
export * from "./diffuse/inverse-scale-batches.ts";
export * from "./diffuse/bragg-input.ts";
export * from "./diffuse/diffuse-input.ts";
export * from "./diffuse/joint-scaling-problem.ts";
// the model state the kernels evaluate g = b·a(|q|) from (the refinement's `finalState`)
export type { JointModelState } from "./kernels/joint-normal-equations.ts";
export type { SmootherKernelState } from "./kernels/smoother-weights.ts";
export * from "./diffuse/joint-refinement.ts";
export * from "./diffuse/voxel-grid.ts";
export * from "./diffuse/voxelize.ts";
export * from "./diffuse/voxelize-files.ts";
export * from "./diffuse/merge.ts";
export * from "./diffuse/scaled-reflections.ts";
export * from "./diffuse/scale-dataset.ts";
export * from "./diffuse/common-space-group.ts";

// The simulator
export * from "./simulate/simulate-dataset.ts";
export * from "./simulate/simulation-options.ts";

// Report data and specs (rendering to SVG/HTML, which loads vega, lives in the "diffuse-scaling/report" entry)
export * from "./report/report-data.ts";
export * from "./report/specs.ts";
export * from "./report/summary.ts";
export { renderReportHtml, escapeHtml, type ReportPage } from "./report/html.ts";
