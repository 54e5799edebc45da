/**
 * The fit warnings in the report: at the top of the page, each linking to a figure or section that exists on the
 * page, and the figure of the normalised residual sd per class (with the error model's before/after when given).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseRefinementJson } from "../../src/io/refinement-json.ts";
import { parseScalesJson } from "../../src/io/scales-json.ts";
import {
  RESIDUAL_SD_FIGURE_ID,
  reportWarnings,
  residualSdFigure,
  residualSdSpec,
} from "../../src/report/fit-warnings-report.ts";
import { renderReportHtml } from "../../src/report/html.ts";
import { buildReportSections, isFigureSpec, type FigureSpec } from "../../src/report/specs.ts";
import { renderSvg } from "../../src/report/render-svg.ts";
import type { ReportData } from "../../src/report/report-data.ts";

const fixtureDir = fileURLToPath(new URL("../fixtures/report/", import.meta.url));
const data: ReportData = {
  scales: parseScalesJson(JSON.parse(readFileSync(join(fixtureDir, "scales.json"), "utf8")), "scales.json"),
  refinement: parseRefinementJson(
    JSON.parse(readFileSync(join(fixtureDir, "refinement.json"), "utf8")),
    "refinement.json",
  ),
};
const CODES = [
  "scales_poorly_determined",
  "few_shared_groups",
  "residual_sd",
  "scales_moved_by_rejection",
  "outlier_fraction",
  "few_observations",
  "scale_range",
  "error_model_at_bound",
  "error_model_fixed",
];

/** The data rows of the first layer of a layered spec. */
function bars(spec: object): Record<string, unknown>[] {
  return (spec as { layer: { data: { values: Record<string, unknown>[] } }[] }).layer[0].data.values;
}

describe("warnings in the report", () => {
  it("links every warning code to a figure or section the page has (unknown codes to the summary)", () => {
    const warnings = reportWarnings([...CODES, "something_new"].map((code) => ({ code, message: `m ${code}` })));
    const figureIds = buildReportSections(data).flatMap((s) => [s.id, ...s.figures.map((f) => `fig-${f.id}`)]);
    const anchors = new Set(["summary", ...figureIds]);
    for (const w of warnings) expect(anchors.has(w.href.slice(1)), w.code).toBe(true);
    expect(warnings.find((w) => w.code === "residual_sd")?.href).toBe(`#fig-${RESIDUAL_SD_FIGURE_ID}`);
    expect(warnings.at(-1)?.href).toBe("#summary");
    expect(reportWarnings(undefined)).toEqual([]);
  });

  it("lists the warnings at the top of the page, escaped, each a link; nothing without warnings", () => {
    const page = {
      title: "t",
      generatedAt: "now",
      generator: "g",
      summary: [],
      commandLine: "c",
      sections: [],
    };
    const html = renderReportHtml({
      ...page,
      warnings: reportWarnings([{ code: "residual_sd", message: "Bragg sd <5.52>" }]),
    });
    const top = html.indexOf('<section id="warnings"');
    expect(top).toBeGreaterThan(0);
    expect(top).toBeLessThan(html.indexOf('<section id="summary"'));
    expect(html).toContain(
      `<li><a href="#fig-${RESIDUAL_SD_FIGURE_ID}">Bragg sd &lt;5.52&gt;</a> <code>residual_sd</code></li>`,
    );
    expect(renderReportHtml({ ...page, warnings: [] })).not.toContain('id="warnings"');
    expect(renderReportHtml(page)).not.toContain('id="warnings"');
  });
});

describe("normalised residual sd figure", () => {
  const residuals = data.refinement.diagnostics.residuals;

  it("is in the residuals section: one bar per class at the run's weights", () => {
    const section = buildReportSections(data).find((s) => s.id === "residuals");
    const f = section?.figures.find((x) => x.id === RESIDUAL_SD_FIGURE_ID);
    expect(f !== undefined && isFigureSpec(f)).toBe(true);
    const spec = (f as FigureSpec).spec;
    expect(bars(spec).map((b) => [b.kind, b.sd])).toEqual([
      ["Bragg", residuals.bragg?.sd],
      ["diffuse", residuals.diffuse?.sd],
    ]);
  });

  it("shows the sd before and after the error model when given", () => {
    const f = residualSdFigure(residuals, { bragg: { before: 5.5, after: 1.02 } });
    expect(isFigureSpec(f)).toBe(true);
    const rows = bars((f as FigureSpec).spec).map((b) => [b.kind, b.stage, b.sd]);
    expect(rows).toEqual([
      ["Bragg", "σ as given", 5.5],
      ["Bragg", "σ′ (error model)", 1.02],
      ["diffuse", "weights of the run", residuals.diffuse?.sd],
    ]);
    expect((f as FigureSpec).caption).toMatch(/Bragg, σ as given: 5\.50, Bragg, σ′ \(error model\): 1\.02/);
  });

  it("says why it is absent without residuals", () => {
    const f = residualSdFigure({ bragg: null, diffuse: null });
    expect(isFigureSpec(f)).toBe(false);
    expect("missing" in f && f.missing).toMatch(/No residuals/);
  });

  it("renders, with the reference line at 1 and the warning band", async () => {
    const spec = residualSdSpec([
      { kind: "Bragg", stage: "a", sd: 5.5 },
      { kind: "Bragg", stage: "b", sd: 1.1 },
    ]);
    const rules = (spec as { layer: { data: { values: { y: number }[] } }[] }).layer[1].data.values;
    expect(rules.map((r) => r.y)).toEqual([1 / 1.5, 1, 1.5]);
    const svg = await renderSvg(spec);
    expect(svg).toMatch(/^<svg/);
    expect(svg).toContain("Bragg, a");
  });
});
