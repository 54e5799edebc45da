/**
 * The report renderer loads vega and vega-lite from the single-file bundles the two packages ship (start-up cost).
 * Every plot of the report must come out byte for byte as vega's ES-module entries render it. Input: the scales.json and refinement.json of a run on the bundled smoother-40 example, with the `error_model` of the same run made
 * after the error model existed (error-model.json; all 17 plots present).
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { TopLevelSpec } from "vega-lite";
import { renderSvg, vegaRendererSource } from "../../src/report/render-svg.ts";
import { parseRefinementJson } from "../../src/io/refinement-json.ts";
import { parseScalesJson } from "../../src/io/scales-json.ts";
import { buildReportSections, isFigureSpec, type FigureSpec } from "../../src/report/specs.ts";

const here = dirname(fileURLToPath(import.meta.url));
const fixtureDir = join(here, "..", "fixtures", "report");

function figures(): FigureSpec[] {
  const scalesPath = join(fixtureDir, "scales.json");
  const refinementPath = join(fixtureDir, "refinement.json");
  const scales = JSON.parse(readFileSync(scalesPath, "utf8")) as Record<string, unknown>;
  const errorModel = JSON.parse(readFileSync(join(fixtureDir, "error-model.json"), "utf8")) as { error_model: unknown };
  const data = {
    scales: parseScalesJson({ ...scales, error_model: errorModel.error_model }, scalesPath),
    refinement: parseRefinementJson(JSON.parse(readFileSync(refinementPath, "utf8")) as unknown, refinementPath),
  };
  return buildReportSections(data).flatMap((s) => s.figures.filter((f): f is FigureSpec => isFigureSpec(f)));
}

/** The same plot rendered by vega's ES-module entries, namespace declarations of the root tag removed. */
async function renderWithModules(spec: TopLevelSpec): Promise<string> {
  const [{ View, parse }, { compile }] = await Promise.all([import("vega"), import("vega-lite")]);
  const view = new View(parse(compile(spec).spec), { renderer: "none" });
  const svg = await view.toSVG();
  view.finalize();
  const open = /^<svg\b[^>]*>/.exec(svg) ?? expect.unreachable();
  return open[0].replace(/\s+xmlns(:\w+)?="[^"]*"/g, "") + svg.slice(open[0].length);
}

describe("renderSvg", () => {
  it("uses the single-file bundles of the installed vega and vega-lite", async () => {
    expect(await vegaRendererSource()).toBe("bundles");
  });

  it("renders every report plot exactly as vega's ES modules do", async () => {
    const all = figures();
    expect(all).toHaveLength(17);
    for (const f of all) {
      const ours = await renderSvg(f.spec);
      expect(ours.length, f.id).toBeGreaterThan(1000);
      expect(ours, f.id).toBe(await renderWithModules(f.spec));
    }
  }, 60_000);
});
