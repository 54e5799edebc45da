/**
 * The error model in the report: the "Error model" section (σ' against I per class, from the `sigma_bins` of
 * scales.json), the residual sd figure with the sd before and after the model, the summary rows, and the sentences
 * shown instead of plots without an error model (`--error-model none`), without a class, or for older documents.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseRefinementJson } from "../../src/io/refinement-json.ts";
import { parseScalesJson, type ErrorModelEntry, type ScalesJson } from "../../src/io/scales-json.ts";
import {
  ERROR_MODEL_SECTION_ID,
  NO_ERROR_MODEL,
  residualSdBeforeAfter,
  sigmaPrimeSpec,
} from "../../src/report/error-model-figures.ts";
import { RESIDUAL_SD_FIGURE_ID } from "../../src/report/fit-warnings-report.ts";
import { renderReportHtml } from "../../src/report/html.ts";
import { renderSvg } from "../../src/report/render-svg.ts";
import type { ReportData } from "../../src/report/report-data.ts";
import {
  buildReportSections,
  isFigureSpec,
  type FigureSpec,
  type MissingFigure,
  type ReportFigure,
} from "../../src/report/specs.ts";
import { buildSummaryRows } from "../../src/report/summary.ts";

const fixtureDir = fileURLToPath(new URL("../fixtures/report/", import.meta.url));
const rawScales = JSON.parse(readFileSync(join(fixtureDir, "scales.json"), "utf8")) as Record<string, unknown>;
const rawRefinement = JSON.parse(readFileSync(join(fixtureDir, "refinement.json"), "utf8")) as Record<string, unknown>;

const bins = [
  { i_min: 1, i_max: 10, n: 40, mean_i: 4, mean_sigma: 2, mean_sigma_prime: 2.6 },
  { i_min: 10, i_max: 100, n: 30, mean_i: 40, mean_sigma: 6, mean_sigma_prime: 8.2 },
  { i_min: 100, i_max: 1000, n: 5, mean_i: 300, mean_sigma: 17, mean_sigma_prime: 28 },
];
const braggBasic: ErrorModelEntry = {
  model: "basic",
  a: 1.31,
  b: 0.045,
  refined: true,
  residual_sd_before: 5.52,
  residual_sd_after: 1.02,
  sigma_bins: bins,
};
const diffuseFixed: ErrorModelEntry = {
  model: "basic",
  a: 1,
  b: 0,
  refined: false,
  fixed_reason: "12 groups with two or more observations (fewer than 20): a, b undetermined",
  residual_sd_before: 0.4,
  residual_sd_after: 0.4,
  sigma_bins: bins.slice(0, 2),
};
const none = (sd: number): ErrorModelEntry => ({
  model: "none",
  a: 1,
  b: 0,
  refined: false,
  residual_sd_before: sd,
  residual_sd_after: sd,
});

/** The fixture run (Bragg + diffuse) with the given `error_model` (the key removed when undefined). */
function withErrorModel(errorModel: ScalesJson["error_model"], braggOnly = false): ReportData {
  const scales = structuredClone(rawScales);
  if (errorModel === undefined) delete scales.error_model;
  else scales.error_model = errorModel;
  const refinement = structuredClone(rawRefinement) as Record<string, unknown> & { inputs: object };
  if (braggOnly) refinement.inputs = { ...refinement.inputs, diffuse: null };
  return {
    scales: parseScalesJson(scales, "scales.json"),
    refinement: parseRefinementJson(refinement, "refinement.json"),
  };
}

function figures(data: ReportData): ReportFigure[] {
  const section = buildReportSections(data).find((s) => s.id === ERROR_MODEL_SECTION_ID);
  expect(section?.title).toBe("Error model");
  return section?.figures ?? [];
}

function missing(f: ReportFigure | undefined): string {
  expect(f !== undefined && !isFigureSpec(f)).toBe(true);
  return (f as MissingFigure).missing;
}

function values(spec: object): Record<string, number | string>[] {
  return (spec as { data: { values: Record<string, number | string>[] } }).data.values;
}

function summary(data: ReportData): Record<string, string> {
  return Object.fromEntries(
    buildSummaryRows(data)
      .filter((r) => r.group === "Error model")
      .map((r) => [r.label, r.value]),
  );
}

describe("the error model section", () => {
  it("plots σ as reported and σ' against the mean I of each bin, on log–log axes, one figure per class", () => {
    const [bragg, diffuse] = figures(withErrorModel({ bragg: braggBasic, diffuse: diffuseFixed }));
    expect(bragg.id).toBe("sigma-prime-bragg");
    expect(diffuse.id).toBe("sigma-prime-diffuse");
    expect(isFigureSpec(bragg) && isFigureSpec(diffuse)).toBe(true);
    const spec = (bragg as FigureSpec).spec as unknown as {
      encoding: { x: { field: string; scale: object }; y: { field: string; scale: object } };
    };
    expect(spec.encoding.x.scale).toEqual({ type: "log" });
    expect(spec.encoding.y.scale).toEqual({ type: "log" });
    const rows = values(spec);
    expect(rows).toHaveLength(2 * bins.length);
    for (const [k, b] of bins.entries()) {
      expect(rows[2 * k]).toMatchObject({ i: b.mean_i, sigma: b.mean_sigma, series: "σ as reported" });
      expect(rows[2 * k + 1]).toMatchObject({ i: b.mean_i, sigma: b.mean_sigma_prime });
    }
    expect((bragg as FigureSpec).caption).toMatch(/a = 1\.31, b = 0\.045 \(refined\) in 3 log-spaced intensity bins/);
    expect((bragg as FigureSpec).caption).toMatch(/of the 75 used Bragg observations/);
    expect((diffuse as FigureSpec).caption).toMatch(/\(fixed: 12 groups with two or more observations/);
    expect(values((diffuse as FigureSpec).spec)).toHaveLength(4);
  });

  it("renders one line and one point per bin for each series", async () => {
    const svg = await renderSvg(sigmaPrimeSpec(bins, "#1f77b4"), { ariaLabel: "σ′" });
    const paths = (mark: string): number[] =>
      [...svg.matchAll(new RegExp(`<g class="mark-${mark} role-mark[^>]*>(.*?)</g>`, "gs"))].map(
        (m) => m[1].match(/<path/g)?.length ?? 0,
      );
    // one line per series (σ as reported, σ′), one point per bin and series
    expect(paths("line")).toEqual([1, 1]);
    expect(paths("symbol")).toEqual([2 * bins.length]);
    // one legend, with both series
    expect(svg.match(/role-legend-symbol/g)).toHaveLength(2);
    // bins whose mean cannot be placed on a log axis are left out
    const bad = [...bins, { ...bins[0], mean_i: 0 }];
    expect(values(sigmaPrimeSpec(bad, "#000"))).toHaveLength(2 * bins.length);
  });

  it("plots both classes of a real run (smoother-40, error-model.json): every bin, σ′ from its a and b", () => {
    const fixture = JSON.parse(readFileSync(join(fixtureDir, "error-model.json"), "utf8")) as {
      error_model: { bragg: ErrorModelEntry; diffuse: ErrorModelEntry };
    };
    const figs = figures(withErrorModel(fixture.error_model));
    expect(figs.every(isFigureSpec)).toBe(true);
    for (const [k, key] of (["bragg", "diffuse"] as const).entries()) {
      const e = fixture.error_model[key];
      expect(e.sigma_bins?.length).toBe(20);
      expect(values((figs[k] as FigureSpec).spec)).toHaveLength(2 * 20);
      // σ as given is right on this simulation: σ′ stays within 5 % of σ in every bin
      for (const b of e.sigma_bins ?? []) expect(Math.abs(b.mean_sigma_prime / b.mean_sigma - 1)).toBeLessThan(0.05);
    }
  });

  it("says 'no error model' instead of a plot with --error-model none", () => {
    const figs = figures(withErrorModel({ bragg: none(1.2), diffuse: none(0.9) }));
    expect(figs.map(missing)).toEqual([NO_ERROR_MODEL, NO_ERROR_MODEL]);
    expect(NO_ERROR_MODEL).toMatch(/No error model.*--error-model none/);
  });

  it("says why a class's plot is absent: a Bragg-only run, a document without error_model, no positive I", () => {
    const braggOnly = figures(withErrorModel({ bragg: braggBasic }, true));
    expect(isFigureSpec(braggOnly[0])).toBe(true);
    expect(missing(braggOnly[1])).toMatch(/no diffuse data/);
    const old = figures(withErrorModel(undefined));
    expect(old.map(missing)).toEqual(["scales.json records no error model.", "scales.json records no error model."]);
    expect(missing(figures(withErrorModel(undefined, true))[1])).toMatch(/no diffuse data/);
    const empty = figures(withErrorModel({ bragg: { ...braggBasic, sigma_bins: [] } }));
    expect(missing(empty[0])).toMatch(/No used Bragg observation has a positive intensity/);
  });

  it("is on the page as a section with two figures", () => {
    const data = withErrorModel({ bragg: braggBasic, diffuse: none(1) });
    const html = renderReportHtml({
      title: "t",
      generatedAt: "now",
      generator: "g",
      summary: [],
      commandLine: "c",
      sections: buildReportSections(data)
        .filter((s) => s.id === ERROR_MODEL_SECTION_ID)
        .map((s) => ({
          ...s,
          figures: s.figures.map((f) =>
            isFigureSpec(f) ? { id: f.id, title: f.title, caption: f.caption, svg: "<svg></svg>" } : f,
          ),
        })),
    });
    expect(html).toContain(`<section id="${ERROR_MODEL_SECTION_ID}">`);
    expect(html).toContain('id="fig-sigma-prime-bragg"');
    expect(html).toContain("No error model: this run took the σ as given (--error-model none).");
  });
});

describe("normalised residuals before and after the error model", () => {
  it("the residual sd figure shows each basic class's sd with σ as reported and with σ'", () => {
    const data = withErrorModel({ bragg: braggBasic, diffuse: diffuseFixed });
    const f = buildReportSections(data)
      .flatMap((s) => s.figures)
      .find((x) => x.id === RESIDUAL_SD_FIGURE_ID);
    const bars = (f as FigureSpec).spec as unknown as { layer: { data: { values: Record<string, unknown>[] } }[] };
    expect(bars.layer[0].data.values.map((b) => [b.kind, b.stage, b.sd])).toEqual([
      ["Bragg", "σ as given", 5.52],
      ["Bragg", "σ′ (error model)", 1.02],
      ["diffuse", "σ as given", 0.4],
      ["diffuse", "σ′ (error model)", 0.4],
    ]);
  });

  it("without a basic model (none, older documents) the figure keeps the run's own residual sd", () => {
    expect(residualSdBeforeAfter(withErrorModel({ bragg: none(1.2), diffuse: none(0.9) }).scales)).toBeUndefined();
    expect(residualSdBeforeAfter(withErrorModel(undefined).scales)).toBeUndefined();
    const noSd: ErrorModelEntry = { ...braggBasic };
    delete noSd.residual_sd_before;
    expect(residualSdBeforeAfter(withErrorModel({ bragg: noSd, diffuse: diffuseFixed }).scales)).toEqual({
      diffuse: { before: 0.4, after: 0.4 },
    });
  });
});

describe("the summary's error model rows", () => {
  it("give a, b, how they were obtained and the sd before → after, per class", () => {
    expect(summary(withErrorModel({ bragg: braggBasic, diffuse: diffuseFixed }))).toEqual({
      "Bragg model": "a = 1.31, b = 0.045 (refined)",
      "Bragg normalised residual sd": "5.52 → 1.02 (σ as reported → σ′)",
      "Diffuse model": `a = 1, b = 0 (fixed: ${diffuseFixed.fixed_reason})`,
      "Diffuse normalised residual sd": "0.400 → 0.400 (σ as reported → σ′)",
    });
  });

  it("say 'none' with --error-model none, and 'not recorded' for older documents", () => {
    expect(summary(withErrorModel({ bragg: none(1.234) }, true))).toEqual({
      "Bragg model": "none (σ as given)",
      "Bragg normalised residual sd": "1.23 (σ as given)",
    });
    expect(summary(withErrorModel(undefined))).toEqual({ "Error model": "not recorded in scales.json" });
  });
});
