/**
 * The report's view of the error model of each data class, from `scales.json`'s `error_model` entries: the section
 * with σ' against I per class (the mean reported σ and the mean σ' = a·√(σ² + (b·I)²) per intensity bin, log–log),
 * and the normalised residual sd before and after the model that the residual sd figure shows (the summary rows are
 * in `summary.ts`). A run without an error model (`--error-model none`) gets a
 * sentence saying so instead of a plot.
 *
 * @packageDocumentation
 */
import type { TopLevelSpec } from "vega-lite";
import type { ErrorModelEntry, ScalesJson } from "../io/scales-json.ts";
import type { ResidualSdBeforeAfter } from "./fit-warnings-report.ts";
import type { ReportData } from "./report-data.ts";
import { BRAGG_COLOUR, DIFFUSE_COLOUR, NO_DIFFUSE, plotBase, type ReportFigure, type ReportSection } from "./specs.ts";
import { describeErrorModelSource, formatCount, formatNumber } from "./summary.ts";

/** Id of the report section of the error model. */
export const ERROR_MODEL_SECTION_ID = "error-model";

/** Label of the reported σ in the σ' figure. */
const REPORTED = "σ as reported";
/** Label of σ' in the σ' figure. */
const MODELLED = "σ′ = a·√(σ² + (b·I)²)";

type ClassKey = "bragg" | "diffuse";
const CLASSES: readonly ClassKey[] = ["bragg", "diffuse"];

/**
 * σ' against I on log–log axes: per intensity bin, the mean reported σ (light, dashed) and the mean σ' (the class's
 * colour) at the bin's mean I. Bins with a non-positive mean are left out (a log axis cannot place them).
 *
 * @param bins - The `sigma_bins` of one class.
 * @param colour - The class's colour.
 */
export function sigmaPrimeSpec(bins: NonNullable<ErrorModelEntry["sigma_bins"]>, colour: string): TopLevelSpec {
  const values = bins
    .filter((b) => b.mean_i > 0 && b.mean_sigma > 0 && b.mean_sigma_prime > 0)
    .flatMap((b) => [
      { i: b.mean_i, sigma: b.mean_sigma, series: REPORTED, n: b.n },
      { i: b.mean_i, sigma: b.mean_sigma_prime, series: MODELLED, n: b.n },
    ]);
  return {
    ...plotBase(),
    data: { values },
    mark: { type: "line", point: { filled: true, size: 30 } },
    encoding: {
      x: { field: "i", type: "quantitative", title: "mean I in the bin (unscaled)", scale: { type: "log" } },
      y: { field: "sigma", type: "quantitative", title: "mean σ (unscaled)", scale: { type: "log" } },
      color: {
        field: "series",
        type: "nominal",
        title: null,
        scale: { domain: [REPORTED, MODELLED], range: [`${colour}80`, colour] },
        legend: { orient: "top-left", labelLimit: 0 },
      },
      // the same field, title and legend as the colour: one legend with dashed and solid symbols
      strokeDash: {
        field: "series",
        type: "nominal",
        title: null,
        scale: {
          domain: [REPORTED, MODELLED],
          range: [
            [4, 3],
            [1, 0],
          ],
        },
        legend: { orient: "top-left", labelLimit: 0 },
      },
    },
  };
}

/** The sentence shown instead of a σ' plot when the run had no error model. */
export const NO_ERROR_MODEL = "No error model: this run took the σ as given (--error-model none).";

/**
 * The σ'-against-I figure of one class, or the reason it is absent (no such data, no error model, no bins).
 *
 * @param scales - The validated `scales.json`.
 * @param key - The class.
 * @param hasClass - Whether the run had data of this class (used for documents without `error_model`).
 */
export function sigmaPrimeFigure(scales: ScalesJson, key: ClassKey, hasClass: boolean): ReportFigure {
  // read at call time: specs.ts (the colours) and this module import each other
  const colour = key === "bragg" ? BRAGG_COLOUR : DIFFUSE_COLOUR;
  const name = key === "bragg" ? "Bragg" : "diffuse";
  const id = `sigma-prime-${key}`;
  const title = `${key === "bragg" ? "Bragg" : "Diffuse"} σ′ against I`;
  const noData = key === "bragg" ? "This run had no Bragg reflections." : NO_DIFFUSE;
  const models = scales.error_model;
  if (models === undefined) return { id, title, missing: hasClass ? "scales.json records no error model." : noData };
  const e = models[key];
  if (e === undefined) return { id, title, missing: noData };
  if (e.model === "none") return { id, title, missing: NO_ERROR_MODEL };
  if (e.sigma_bins === undefined) return { id, title, missing: "scales.json records no σ′ bins for this class." };
  const spec = sigmaPrimeSpec(e.sigma_bins, colour);
  const n = e.sigma_bins.reduce((s, b) => s + b.n, 0);
  if (n === 0 || (spec as { data: { values: unknown[] } }).data.values.length === 0) {
    return {
      id,
      title,
      missing: `No used ${name} observation has a positive intensity.`,
    };
  }
  return {
    id,
    title,
    caption:
      `Mean σ as reported (dashed) and mean σ′ = a·√(σ² + (b·I)²) with a = ${formatNumber(e.a)}, ` +
      `b = ${formatNumber(e.b)} (${describeErrorModelSource(e)}) in ${e.sigma_bins.length} log-spaced intensity ` +
      `bins of the ${formatCount(n)} used ${name} observations with I > 0 ` +
      `(${key === "bragg" ? "unscaled, I and σ divided by the partiality" : "unscaled"}). ` +
      "σ′ above σ: the reported σ were too small; below: too large.",
    spec,
  };
}

/** The report section of the error model: σ' against I for Bragg and for diffuse. */
export function errorModelSection(data: ReportData): ReportSection {
  const hasDiffuse = data.refinement.inputs.diffuse !== null;
  return {
    id: ERROR_MODEL_SECTION_ID,
    title: "Error model",
    figures: [sigmaPrimeFigure(data.scales, "bragg", true), sigmaPrimeFigure(data.scales, "diffuse", hasDiffuse)],
  };
}

/**
 * The normalised residual sd of each class before and after its error model, for the residual sd figure: only for
 * "basic" models that recorded both (undefined otherwise, when the figure shows the run's own residuals).
 */
export function residualSdBeforeAfter(
  scales: ScalesJson,
): { bragg?: ResidualSdBeforeAfter; diffuse?: ResidualSdBeforeAfter } | undefined {
  const out: { bragg?: ResidualSdBeforeAfter; diffuse?: ResidualSdBeforeAfter } = {};
  for (const key of CLASSES) {
    const e = scales.error_model?.[key];
    if (e === undefined || e.model !== "basic") continue;
    if (e.residual_sd_before === undefined || e.residual_sd_after === undefined) continue;
    if (!(e.residual_sd_before > 0 && e.residual_sd_after > 0)) continue;
    out[key] = { before: e.residual_sd_before, after: e.residual_sd_after };
  }
  return out.bragg === undefined && out.diffuse === undefined ? undefined : out;
}
