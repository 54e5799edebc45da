/**
 * The data the HTML report is built from: `scales.json` and `refinement.json` (written by `diffuse-scale scale`),
 * validated with the documents' own schemas ({@link parseScalesJson}, {@link parseRefinementJson}): the schema, then
 * internal consistency (array lengths, histogram edges); every failure is an {@link InputError} that names the file
 * and the JSON path of the offending field.
 *
 * @packageDocumentation
 */
import type { RefinementJson } from "../io/refinement-json.ts";
import type { ScalesJson } from "../io/scales-json.ts";
import type { MergingStatistics } from "../merge/merging-statistics.ts";
import type { Optional, ReportMap } from "./report-inputs.ts";

/** Everything the report shows. */
export interface ReportData {
  /** The validated `scales.json`. */
  scales: ScalesJson;
  /** The validated `refinement.json`. */
  refinement: RefinementJson;
  /** The merged diffuse map (`merged_diffuse.h5`), or why it is absent. @defaultValue absent (not read) */
  map?: Optional<ReportMap> | undefined;
  /** Bragg merging statistics from `scaled.refl`/`scaled.expt`, or why absent. @defaultValue absent (not read) */
  merging?: Optional<MergingStatistics> | undefined;
}

// The names the report's API has had for the documents' validators and types (the documents' own names are the ones
// of src/io/scales-json.ts, refinement-json.ts and diagnostics-json.ts).
export { parseScalesJson as parseReportScales } from "../io/scales-json.ts";
export { parseRefinementJson as parseReportRefinement } from "../io/refinement-json.ts";
export type { ScalesJson as ReportScales } from "../io/scales-json.ts";
export type { RefinementJson as ReportRefinement } from "../io/refinement-json.ts";
export type {
  Histogram as ReportHistogram,
  ResidualSummary as ReportResidualSummary,
  ScalingDiagnostics as ReportDiagnostics,
  ShellTable as ReportShellTable,
} from "../io/diagnostics-json.ts";
