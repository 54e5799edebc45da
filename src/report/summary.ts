/**
 * The report's summary table as plain label/value rows: inputs, space group, still and observation counts (with
 * rejection reasons), outliers, gauge, minimiser, iterations, R-factors, convergence, CC½, the error model of each
 * class (a, b and the normalised residual sd before → after) and timings.
 *
 * @packageDocumentation
 */
import type { ErrorModelEntry } from "../io/scales-json.ts";
import type { ReportData } from "./report-data.ts";

/** One row of the summary table. */
export interface SummaryRow {
  /** Group heading the row belongs to (e.g. "Inputs", "Refinement"). */
  group: string;
  /** Label (first column). */
  label: string;
  /** Value, already formatted (plain text; escaped when written). */
  value: string;
}

/** Formats a number with `digits` significant digits (plain notation when reasonable). */
export function formatNumber(x: number, digits = 4): string {
  if (x === 0) return "0";
  const a = Math.abs(x);
  if (a >= 1e-3 && a < 1e6) return Number(x.toPrecision(digits)).toString();
  return x.toExponential(digits - 1);
}

/** Formats a count with thousands separators (e.g. "15,801"). */
export function formatCount(n: number): string {
  return String(Math.trunc(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** Formats a duration in seconds. */
export function formatSeconds(s: number): string {
  return s < 10 ? `${s.toFixed(2)} s` : `${s.toFixed(1)} s`;
}

/** A list of still ids, shortened after `max` entries. */
export function formatStillList(ids: readonly number[], max = 20): string {
  if (ids.length === 0) return "none";
  const shown = ids.slice(0, max).join(", ");
  return ids.length > max ? `${ids.length}: ${shown}, …` : `${ids.length}: ${shown}`;
}

function reasons(parts: [string, number][]): string {
  const nonZero = parts.filter(([, n]) => n > 0);
  if (nonZero.length === 0) return "0";
  const total = nonZero.reduce((s, [, n]) => s + n, 0);
  return `${formatCount(total)} (${nonZero.map(([why, n]) => `${why} ${formatCount(n)}`).join(", ")})`;
}

/** Appends one row. */
type AddRow = (group: string, label: string, value: string) => void;

function inputRows(add: AddRow, { refinement }: ReportData): void {
  const inputs = refinement.inputs;
  add("Inputs", "Experiments (.expt)", inputs.expt);
  add("Inputs", "Reflections (.refl)", inputs.refl);
  add("Inputs", "Diffuse observations", inputs.diffuse ?? "none (Bragg only)");
  add("Inputs", "Configuration", inputs.config ?? "defaults");
  const sg = refinement.space_group;
  add("Inputs", "Space group", `${sg.symbol} (No. ${sg.number}, Hall "${sg.hall}")`);
}

function stillRows(add: AddRow, { scales }: ReportData): void {
  const d = scales.data;
  add("Stills", "Stills in the input", formatCount(d.n_stills));
  add("Stills", "Stills refined", formatCount(Object.keys(scales.refined_parameters).length));
  add("Stills", "Stills without data", formatStillList(d.stills_without_data));
  add("Stills", "Stills disconnected", formatStillList(d.stills_disconnected));
}

/** The counted rows of one kind of observation, then the rejected ones with their reasons. */
function selectionRows(
  add: AddRow,
  group: string,
  counted: [string, number][],
  rejectedLabel: string,
  rejected: [string, number][],
): void {
  for (const [label, n] of counted) add(group, label, formatCount(n));
  add(group, rejectedLabel, reasons(rejected));
}

function observationRows(add: AddRow, { scales, refinement }: ReportData): void {
  const b = refinement.bragg_counts;
  if (b === null) {
    add("Bragg", "Bragg reflections used", formatCount(scales.data.n_bragg_used));
  } else {
    selectionRows(
      add,
      "Bragg",
      [
        ["Bragg rows in the table", b.nRows],
        ["Bragg reflections used", b.nUsed],
        ["Below the partiality cutoff", b.nBelowPartiality],
      ],
      "Rejected (other reasons)",
      [
        ["not integrated", b.nNotIntegrated],
        ["unknown experiment", b.nUnknownExperiment],
        ["invalid partiality", b.nInvalidPartiality],
        ["invalid intensity or σ", b.nInvalidIntensity],
        ["Miller index (0,0,0)", b.nOriginIndex],
        ["I or σ out of range", b.nValueOutOfRange],
      ],
    );
  }
  const dc = refinement.diffuse_counts;
  if (dc === null) {
    add("Diffuse", "Diffuse observations", "none");
  } else {
    selectionRows(
      add,
      "Diffuse",
      [
        ["Diffuse observations in the file", dc.nRows],
        ["Diffuse observations used", dc.nUsed],
      ],
      "Diffuse rejected",
      [
        ["non-finite intensity", dc.nNonFiniteIntensity],
        ["bad σ", dc.nBadSigma],
        ["unknown still", dc.nUnknownStill],
        ["I or σ out of range", dc.nValueOutOfRange],
      ],
    );
  }
  const o = refinement.diagnostics.nOutliers;
  add(
    "Outliers",
    "Outliers rejected",
    `${formatCount(scales.data.n_outliers)} (Bragg ${formatCount(o.bragg)}, diffuse ${formatCount(o.diffuse)})`,
  );
}

function refinementRows(add: AddRow, { scales, refinement }: ReportData): void {
  const rs = scales.refinement_statistics;
  const st = refinement.statistics;
  const smoother = scales.resolution_smoother;
  add("Refinement", "Gauge", scales.gauge.replaceAll("_", " "));
  add("Refinement", "Minimiser", rs.minimizer);
  add(
    "Refinement",
    "Resolution smoother",
    smoother.enabled
      ? `${smoother.n_control_points} control points over |q| ${formatNumber(smoother.q_range[0])}–${formatNumber(smoother.q_range[1])} Å⁻¹`
      : "off",
  );
  add("Refinement", "Iterations", `${rs.n_iterations} in ${st.nCycles} cycle(s)`);
  add(
    "Refinement",
    "R-factor initial → final",
    `${formatNumber(rs.initial_r_factor)} → ${formatNumber(rs.final_r_factor)}`,
  );
  add("Refinement", "Final reduced χ²", formatNumber(st.reducedChiSquared));
  add("Refinement", "Converged", `${rs.convergence_achieved ? "yes" : "NO"} (${st.stopReason.replaceAll("_", " ")})`);
  const cc = refinement.cc_half;
  add(
    "Refinement",
    "Diffuse CC½ (overall)",
    cc === null ? "n/a (no diffuse data)" : `${cc.cc.toFixed(4)} over ${formatCount(cc.n)} voxels`,
  );
}

/** How an error model was obtained: "refined", or "fixed" with the reason when one is recorded. */
export function describeErrorModelSource(e: ErrorModelEntry): string {
  if (e.refined) return "refined";
  return e.fixed_reason === undefined ? "fixed" : `fixed: ${e.fixed_reason}`;
}

/**
 * Per class, the error model (a, b and how they were obtained, or "none") and the normalised residual sd with the σ
 * as reported → with σ'.
 */
function errorModelRows(add: AddRow, { scales }: ReportData): void {
  const group = "Error model";
  const models = scales.error_model;
  if (models === undefined) {
    add(group, "Error model", "not recorded in scales.json");
    return;
  }
  for (const [key, name] of [
    ["bragg", "Bragg"],
    ["diffuse", "Diffuse"],
  ] as const) {
    const e = models[key];
    if (e === undefined) continue;
    add(
      group,
      `${name} model`,
      e.model === "none"
        ? "none (σ as given)"
        : `a = ${formatNumber(e.a)}, b = ${formatNumber(e.b)} (${describeErrorModelSource(e)})`,
    );
    const before = e.residual_sd_before;
    const after = e.residual_sd_after;
    if (before === undefined || after === undefined) continue;
    add(
      group,
      `${name} normalised residual sd`,
      e.model === "none"
        ? `${before.toPrecision(3)} (σ as given)`
        : `${before.toPrecision(3)} → ${after.toPrecision(3)} (σ as reported → σ′)`,
    );
  }
}

function timingRows(add: AddRow, { scales }: ReportData, reportSeconds: number | undefined): void {
  const t = scales.timings;
  add("Timings", "Read", formatSeconds(t.read_s));
  if (t.voxelize_s !== undefined) add("Timings", "Voxelize", formatSeconds(t.voxelize_s));
  add("Timings", "Refine", formatSeconds(t.refine_s));
  add("Timings", "Merge", formatSeconds(t.merge_s));
  add("Timings", "Write", formatSeconds(t.write_s));
  if (reportSeconds !== undefined) add("Timings", "Report", formatSeconds(reportSeconds));
  add("Timings", "Threads", String(t.threads));
}

/**
 * The summary rows of a run.
 *
 * @param data - The validated report data.
 * @param reportSeconds - Time spent rendering the report, if known (shown with the timings).
 * @returns Rows in display order.
 */
export function buildSummaryRows(data: ReportData, reportSeconds?: number): SummaryRow[] {
  const rows: SummaryRow[] = [];
  const add: AddRow = (group, label, value) => {
    rows.push({ group, label, value });
  };
  inputRows(add, data);
  stillRows(add, data);
  observationRows(add, data);
  refinementRows(add, data);
  errorModelRows(add, data);
  timingRows(add, data, reportSeconds);
  return rows;
}
