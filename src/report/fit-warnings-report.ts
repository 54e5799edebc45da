/**
 * The report's view of the fit warnings: each warning of `scales.json` with the anchor of the figure that shows the
 * problem (the warnings are listed at the top of the page, each linking there), and the figure of the normalised
 * residual sd per data class against the expected 1 and the warning band (σ as given and σ' of the error model side
 * by side when the error model's numbers are given).
 *
 * @packageDocumentation
 */
import type { TopLevelSpec } from "vega-lite";
import type { ScalingDiagnostics } from "../io/diagnostics-json.ts";
import type { FitWarning } from "../io/scales-json.ts";
import { FIT_WARNING_THRESHOLDS } from "../merge/fit-warnings.ts";
import { BRAGG_COLOUR, DIFFUSE_COLOUR, REFERENCE_COLOUR, type ReportFigure } from "./specs.ts";

/** A warning as the page shows it: its code, message and the anchor (`#…`) of the figure or section showing it. */
export interface ReportWarning extends FitWarning {
  /** Link target on the page, e.g. `#fig-residual-sd`. */
  href: string;
}

/** Id of the figure of the normalised residual sd per class. */
export const RESIDUAL_SD_FIGURE_ID = "residual-sd";

/** The figure (its HTML id is `fig-` + the figure id) or section that shows each warning's problem. */
const WARNING_TARGETS: Readonly<Record<string, string>> = {
  scales_poorly_determined: "#fig-per-still-scale",
  few_shared_groups: "#fig-observations-per-still",
  residual_sd: `#fig-${RESIDUAL_SD_FIGURE_ID}`,
  scales_moved_by_rejection: "#fig-per-still-scale",
  outlier_fraction: "#residuals",
  few_observations: "#fig-observations-per-still",
  scale_range: "#fig-scale-histogram",
  error_model_at_bound: `#fig-${RESIDUAL_SD_FIGURE_ID}`,
  error_model_fixed: `#fig-${RESIDUAL_SD_FIGURE_ID}`,
};

/**
 * The warnings of a run with their link targets (an unknown code links to the summary).
 *
 * @param warnings - The `warnings` of `scales.json` (undefined for documents written before the list existed).
 */
export function reportWarnings(warnings: readonly FitWarning[] | undefined): ReportWarning[] {
  return (warnings ?? []).map((w) => ({
    code: w.code,
    message: w.message,
    href: WARNING_TARGETS[w.code] ?? "#summary",
  }));
}

/** The normalised residual sd of one class with the σ as given and with the error model's σ'. */
export interface ResidualSdBeforeAfter {
  /** With the σ as given. */
  before: number;
  /** With σ'. */
  after: number;
}

/** One bar of the residual sd figure. */
export interface SdBar {
  kind: "Bragg" | "diffuse";
  stage: string;
  sd: number;
}

const GIVEN = "σ as given";
const MODELLED = "σ′ (error model)";
const RUN = "weights of the run";

/**
 * Bars from 1 to the normalised residual sd of each class (log y, so that σ off by a factor k and by 1/k look
 * alike), with the line sd = 1 and the dashed warning band [1/f, f] of {@link FIT_WARNING_THRESHOLDS}.
 */
export function residualSdSpec(bars: readonly SdBar[]): TopLevelSpec {
  const f = FIT_WARNING_THRESHOLDS.residualSdFactor;
  let lo = 1 / (1.5 * f);
  let hi = 1.5 * f;
  for (const b of bars) {
    lo = Math.min(lo, b.sd / 1.5);
    hi = Math.max(hi, b.sd * 1.5);
  }
  const stages = [...new Set(bars.map((b) => b.stage))];
  // one colour per class and stage (lighter for the σ as given), named in the legend
  const keys: string[] = [];
  const colours: string[] = [];
  for (const [kind, colour] of [
    ["Bragg", BRAGG_COLOUR],
    ["diffuse", DIFFUSE_COLOUR],
  ] as const) {
    stages.forEach((stage, i) => {
      if (!bars.some((b) => b.kind === kind && b.stage === stage)) return;
      keys.push(`${kind}, ${stage}`);
      colours.push(stages.length > 1 && i === 0 ? `${colour}80` : colour);
    });
  }
  return {
    width: 440,
    height: 250,
    padding: 8,
    config: { aria: false, font: "Helvetica, Arial, sans-serif", background: "white", view: { stroke: "#bbbbbb" } },
    layer: [
      {
        data: { values: bars.map((b) => ({ ...b, key: `${b.kind}, ${b.stage}`, one: 1 })) },
        encoding: {
          x: {
            field: "kind",
            type: "nominal",
            title: "data class",
            scale: { domain: ["Bragg", "diffuse"] },
            axis: { labelAngle: 0 },
          },
          xOffset: { field: "stage", type: "nominal", scale: { domain: stages } },
          y: {
            field: "sd",
            type: "quantitative",
            title: "sd of the normalised residuals (log scale)",
            scale: { type: "log", domain: [lo, hi] },
          },
          color: {
            field: "key",
            type: "nominal",
            title: null,
            scale: { domain: keys, range: colours },
            legend: { orient: "top", direction: "horizontal", columns: 2, labelLimit: 0 },
          },
        },
        // a bar from 1 to the sd, and a point at the sd (visible when the sd is close to 1)
        layer: [
          { mark: { type: "bar", stroke: "white" }, encoding: { y2: { field: "one" } } },
          { mark: { type: "point", filled: true, size: 50, opacity: 1 } },
        ],
      },
      {
        data: { values: [{ y: 1 / f }, { y: 1 }, { y: f }] },
        mark: { type: "rule", color: REFERENCE_COLOUR },
        encoding: {
          y: { field: "y", type: "quantitative" },
          strokeDash: { condition: { test: "datum.y === 1", value: [1, 0] }, value: [4, 3] },
        },
      },
    ],
  };
}

/**
 * The figure of the normalised residual sd per class, or the reason it is absent (no class has residuals).
 *
 * @param residuals - The residual summaries of the diagnostics (the run's weights).
 * @param errorModel - Per class, the sd before and after the error model, when the run had one. @defaultValue none
 */
export function residualSdFigure(
  residuals: ScalingDiagnostics["residuals"],
  errorModel?: { bragg?: ResidualSdBeforeAfter | undefined; diffuse?: ResidualSdBeforeAfter | undefined },
): ReportFigure {
  const bars: SdBar[] = [];
  for (const kind of ["Bragg", "diffuse"] as const) {
    const key = kind === "Bragg" ? "bragg" : "diffuse";
    const model = errorModel?.[key];
    const summary = residuals[key];
    if (model !== undefined) {
      bars.push({ kind, stage: GIVEN, sd: model.before }, { kind, stage: MODELLED, sd: model.after });
    } else if (summary !== null && summary.sd > 0) {
      bars.push({ kind, stage: RUN, sd: summary.sd });
    }
  }
  const title = "Normalised residual sd per class";
  if (bars.length === 0) {
    return { id: RESIDUAL_SD_FIGURE_ID, title, missing: "No residuals: no group has two or more used observations." };
  }
  const f = FIT_WARNING_THRESHOLDS.residualSdFactor;
  const values = bars.map((b) => `${b.kind}, ${b.stage}: ${b.sd.toPrecision(3)}`);
  return {
    id: RESIDUAL_SD_FIGURE_ID,
    title,
    caption:
      `sd of δ per data class (${values.join(", ")}); 1 when the σ are right. Outside the dashed band ` +
      `[${(1 / f).toPrecision(3)}, ${f}] the run warns that the σ are misreported.`,
    spec: residualSdSpec(bars),
  };
}
