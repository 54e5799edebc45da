/**
 * The report's data validation, vega-lite specs (pure data) and summary rows. Input: the scales.json and
 * refinement.json of a run on the bundled smoother-40 example (40 stills simulated with DIALS/cctbx; the counts are
 * checked against the simulator's own truth.json).
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { InputError } from "../../src/errors.ts";
import { robustProbabilityRange } from "../../src/report/axes.ts";
import { historySteps, MAX_HISTORY_POINTS } from "../../src/report/history-steps.ts";
import { renderSvg } from "../../src/report/render-svg.ts";
import type { ResidualSummary } from "../../src/io/diagnostics-json.ts";
import { parseRefinementJson } from "../../src/io/refinement-json.ts";
import { parseScalesJson } from "../../src/io/scales-json.ts";
import type { ReportData } from "../../src/report/report-data.ts";
import {
  buildReportSections,
  histogramBins,
  historySpec,
  isFigureSpec,
  MAX_STILL_POINTS,
  normalDensity,
  normalProbabilitySpec,
  observationsPerStillSpec,
  perStillScaleSpec,
  residualHistogramSpec,
  shellSpec,
  smootherSpec,
  stillBlocks,
  type FigureSpec,
  type MissingFigure,
} from "../../src/report/specs.ts";
import { buildSummaryRows, formatCount, formatNumber, formatStillList } from "../../src/report/summary.ts";

const here = dirname(fileURLToPath(import.meta.url));
const fixtureDir = join(here, "..", "fixtures", "report");
const rawScales = JSON.parse(readFileSync(join(fixtureDir, "scales.json"), "utf8")) as unknown;
const rawRefinement = JSON.parse(readFileSync(join(fixtureDir, "refinement.json"), "utf8")) as unknown;
const truth = JSON.parse(readFileSync(join(here, "..", "..", "examples", "truth.json"), "utf8")) as {
  args: { stills: number; space_group: string };
  n_bragg: number;
  n_diffuse: number;
};

function load(): ReportData {
  return {
    scales: parseScalesJson(structuredClone(rawScales), "scales.json"),
    refinement: parseRefinementJson(structuredClone(rawRefinement), "refinement.json"),
  };
}

/** Deep copy of the raw refinement.json as a mutable JSON object. */
function rawRefinementCopy(): Record<string, unknown> & { diagnostics: Record<string, unknown> } {
  return structuredClone(rawRefinement) as Record<string, unknown> & { diagnostics: Record<string, unknown> };
}

/** Layers of a layered spec (as plain JSON). */
function layers(spec: object): Record<string, unknown>[] {
  return (spec as { layer: Record<string, unknown>[] }).layer;
}

/** Inline data values of a spec or layer. */
function values(spec: object): Record<string, number | string>[] {
  return (spec as { data: { values: Record<string, number | string>[] } }).data.values;
}

/** Every axis title of a spec (walks the JSON). */
function titles(spec: unknown): string[] {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (typeof v === "object" && v !== null) {
      for (const [k, x] of Object.entries(v)) {
        if (k === "title" && typeof x === "string") out.push(x);
        else walk(x);
      }
    }
  };
  walk(spec);
  return out;
}

/** Number of inline data rows in a spec (all layers). */
function nDataRows(spec: unknown): number {
  let n = 0;
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (typeof v === "object" && v !== null) {
      for (const [k, x] of Object.entries(v)) {
        if (k === "values" && Array.isArray(x)) n += x.length;
        else walk(x);
      }
    }
  };
  walk(spec);
  return n;
}

/** The `<g class="mark-TYPE role-mark ...">…</g>` groups of an SVG and the number of `<tag` elements in each. */
function countInMarkGroups(svg: string, markType: string, tag: string): number[] {
  const counts: number[] = [];
  const re = new RegExp(`<g class="mark-${markType} role-mark[^"]*"[^>]*>`, "g");
  for (const m of svg.matchAll(re)) {
    let depth = 1;
    let i = m.index + m[0].length;
    let n = 0;
    while (depth > 0 && i < svg.length) {
      const next = svg.indexOf("<", i);
      if (svg.startsWith("</g>", next)) depth--;
      else if (svg.startsWith("<g", next) && !svg.startsWith("<g/", next)) depth++;
      else if (svg.startsWith(`<${tag}`, next)) n++;
      i = next + 1;
    }
    counts.push(n);
  }
  return counts;
}

describe("report data validation", () => {
  it("accepts the scales.json and refinement.json of a real run", () => {
    const data = load();
    expect(data.scales.data.n_stills).toBe(truth.args.stills);
    expect(data.refinement.diagnostics.perStill.still).toHaveLength(truth.args.stills);
    expect(data.refinement.bragg_counts?.nRows).toBe(truth.n_bragg);
    expect(data.refinement.diffuse_counts?.nRows).toBe(truth.n_diffuse);
  });

  it("names the file and the JSON path of a missing field", () => {
    const raw = rawRefinementCopy();
    const perStill = raw.diagnostics.perStill as Record<string, unknown>;
    delete perStill.esd;
    expect(() => parseRefinementJson(raw, "run/refinement.json")).toThrow(InputError);
    expect(() => parseRefinementJson(raw, "run/refinement.json")).toThrow(
      /^run\/refinement\.json: invalid field \$\.diagnostics\.perStill\.esd: /,
    );
  });

  it("names the field whose length disagrees with the others", () => {
    const raw = rawRefinementCopy();
    (raw.diagnostics.perStill as { scale: number[] }).scale.pop();
    expect(() => parseRefinementJson(raw, "r.json")).toThrow(
      /^r\.json: field \$\.diagnostics\.perStill\.scale has 39 entries but 40 were expected$/,
    );
    const raw2 = rawRefinementCopy();
    (raw2.diagnostics.multiplicity as { bragg: { edges: number[] } }).bragg.edges.push(99);
    expect(() => parseRefinementJson(raw2, "r.json")).toThrow(/\$\.diagnostics\.multiplicity\.bragg\.edges/);
  });

  it("rejects a wrong type with the path of the field", () => {
    const raw = rawRefinementCopy();
    (raw.history as { r_factor: unknown }[])[2].r_factor = "0.1";
    expect(() => parseRefinementJson(raw, "r.json")).toThrow(/^r\.json: invalid field \$\.history\[2\]\.r_factor: /);
    const scales = structuredClone(rawScales) as Record<string, unknown>;
    scales.format = "something-else";
    expect(() => parseScalesJson(scales, "s.json")).toThrow(/^s\.json: invalid field \$\.format: /);
  });

  it("checks the smoother values against n_control_points", () => {
    const scales = structuredClone(rawScales) as { resolution_smoother: { values: number[] } };
    scales.resolution_smoother.values.pop();
    expect(() => parseScalesJson(scales, "s.json")).toThrow(/\$\.resolution_smoother\.values has 4 entries but 5/);
  });
});

describe("histogramBins", () => {
  it("bins values over their range, the last bin closed", () => {
    expect(histogramBins([0, 1, 2, 3, 4], 2)).toEqual([
      { lo: 0, hi: 2, count: 2 },
      { lo: 2, hi: 4, count: 3 },
    ]);
  });
  it("puts equal values in one unit-wide bin and returns nothing for no values", () => {
    expect(histogramBins([1.5, 1.5, 1.5], 10)).toEqual([{ lo: 1, hi: 2, count: 3 }]);
    expect(histogramBins([], 10)).toEqual([]);
  });
});

describe("report specs", () => {
  const data = load();
  const d = data.refinement.diagnostics;

  it("has seven sections and fifteen plots for a Bragg + diffuse run with the smoother", () => {
    const sections = buildReportSections(data);
    expect(sections.map((s) => s.id)).toEqual([
      "scales",
      "smoother",
      "refinement",
      "residuals",
      "error-model",
      "shells",
      "observations",
    ]);
    const figures = sections.flatMap((s) => s.figures);
    expect(figures).toHaveLength(17);
    expect(new Set(figures.map((f) => f.id)).size).toBe(17);
    // the fixture's scales.json predates the error model: its two σ′ figures say so, every other figure is a plot
    const missing = figures.filter((f): f is MissingFigure => !isFigureSpec(f));
    expect(missing.map((f) => [f.id, f.missing])).toEqual([
      ["sigma-prime-bragg", "scales.json records no error model."],
      ["sigma-prime-diffuse", "scales.json records no error model."],
    ]);
  });

  it("keeps every plot aggregated (bounded number of data rows) and titles every axis", () => {
    for (const f of buildReportSections(data).flatMap((s) => s.figures)) {
      if (!isFigureSpec(f)) continue;
      expect(nDataRows(f.spec), f.id).toBeLessThanOrEqual(2000);
      expect(titles(f.spec).length, f.id).toBeGreaterThanOrEqual(2);
    }
  });

  it("labels every |q| axis in reciprocal ångström", () => {
    const specs = [
      smootherSpec(d.smoother ?? expect.unreachable()),
      shellSpec(d.braggIOverSigma ?? expect.unreachable(), "I/σ", "#000"),
    ];
    for (const spec of specs) expect(titles(spec)).toContain("|q| (Å⁻¹)");
  });

  it("draws per-still scales with ±1 ESD error bars as rules", () => {
    const spec = perStillScaleSpec(d.perStill);
    const rows = values(spec);
    expect(rows).toHaveLength(40);
    rows.forEach((r, i) => {
      expect(r.still).toBe(d.perStill.still[i]);
      expect(r.lo).toBeCloseTo(d.perStill.scale[i] - d.perStill.esd[i], 12);
      expect(r.hi).toBeCloseTo(d.perStill.scale[i] + d.perStill.esd[i], 12);
    });
    const [rule, point] = layers(spec);
    expect((rule.mark as { type: string }).type).toBe("rule");
    expect((rule.encoding as { y2: { field: string } }).y2.field).toBe("hi");
    expect((point.mark as { type: string }).type).toBe("point");
  });

  it("summarises many stills in blocks of consecutive stills (bounded marks)", () => {
    const n = 4000;
    const still = Array.from({ length: n }, (_, i) => i);
    const perStill = {
      still,
      scale: still.map((i) => 1 + (i % 4) / 10),
      esd: still.map(() => 0.01),
      nBragg: still.map((i) => (i % 2 === 0 ? 10 : 20)),
      nDiffuse: still.map(() => 0),
    };
    expect(stillBlocks(n)).toHaveLength(1000);
    expect(stillBlocks(MAX_STILL_POINTS)).toHaveLength(MAX_STILL_POINTS);
    const rows = values(perStillScaleSpec(perStill));
    expect(rows).toHaveLength(1000);
    // Block k holds stills 4k..4k+3 with scales 1.0, 1.1, 1.2, 1.3.
    expect(rows[7].still).toBeCloseTo(29.5, 12);
    expect(rows[7].scale).toBeCloseTo(1.15, 12);
    expect(rows[7].lo).toBeCloseTo(1.0, 12);
    expect(rows[7].hi).toBeCloseTo(1.3, 12);
    const obs = values(observationsPerStillSpec(perStill));
    expect(obs).toHaveLength(1000);
    expect(obs.every((r) => r.kind === "Bragg" && r.n === 15)).toBe(true);
  });

  it("overlays the N(0,1) expectation n·w·φ(x) on the residual histogram", () => {
    const r = d.residuals.bragg ?? expect.unreachable();
    const spec = residualHistogramSpec(r, "#000");
    const [bars, curve] = layers(spec);
    expect(values(bars)).toHaveLength(r.histogram.counts.length);
    expect(values(bars).reduce((s, b) => s + Number(b.count), 0)).toBe(r.n);
    const rows = values(curve);
    const mid = rows.find((row) => Math.abs(Number(row.x)) < 1e-12) ?? expect.unreachable();
    // 48 bins over [−6, 6]: w = 0.25; φ(0) = 1/√(2π) = 0.3989422804014327.
    expect(Number(mid.expected)).toBeCloseTo(r.n * 0.25 * 0.3989422804014327, 9);
    expect(normalDensity(1)).toBeCloseTo(0.24197072451914337, 15);
  });

  it("draws the normal probability plot with the line y = x over a robust range", () => {
    const r: ResidualSummary = d.residuals.diffuse ?? expect.unreachable();
    const spec = normalProbabilitySpec(r, "#000");
    const [line, points, edge] = layers(spec);
    const ends = values(line);
    expect(ends).toHaveLength(2);
    const enc = line.encoding as { x: { field: string }; y: { field: string } };
    expect(enc.x.field).toBe(enc.y.field);
    const range = robustProbabilityRange(r.normalProbability.expected, r.normalProbability.observed);
    expect([ends[0].v, ends[1].v]).toEqual([range.lo, range.hi]);
    expect(range.lo).toBeLessThanOrEqual(-4);
    expect(range.hi).toBeGreaterThanOrEqual(4);
    expect(values(points)).toHaveLength(r.normalProbability.expected.length);
    expect(values(edge)).toHaveLength(range.nBelow + range.nAbove);
  });

  it("draws an outlier at ±70 on the edge of the probability plot and counts it in the caption", () => {
    const r: ResidualSummary = d.residuals.diffuse ?? expect.unreachable();
    const n = r.normalProbability.observed.length;
    const observed = [...r.normalProbability.observed];
    observed[n - 1] = 70;
    observed[0] = -70;
    const outlier = { ...r, normalProbability: { ...r.normalProbability, observed } };
    const range = robustProbabilityRange(outlier.normalProbability.expected, observed);
    expect(range.hi).toBeLessThanOrEqual(10);
    expect([range.nBelow, range.nAbove]).toEqual([1, 1]);
    const [, points, edge] = layers(normalProbabilitySpec(outlier, "#000"));
    expect(Math.max(...values(points).map((p) => Number(p.observed)))).toBe(range.hi);
    expect(values(edge).map((p) => p.observed)).toEqual([range.lo, range.hi]);
    const raw = rawRefinementCopy();
    (raw.diagnostics.residuals as { diffuse: ResidualSummary }).diffuse = outlier;
    const fig = buildReportSections({ scales: data.scales, refinement: parseRefinementJson(raw, "r.json") })
      .flatMap((sec) => sec.figures)
      .find((f) => f.id === "normal-probability-diffuse") as { caption: string };
    expect(fig.caption).toContain("2 points lie beyond");
    expect(fig.caption).toContain("(1 below, 1 above)");
  });

  it("draws every iteration up to 2000 and thins longer histories to every k-th and the last", () => {
    expect(historySteps(5)).toEqual([0, 1, 2, 3, 4]);
    expect(historySteps(2000)).toHaveLength(2000);
    const steps = historySteps(200_001);
    expect(steps.slice(0, 3)).toEqual([0, 101, 202]);
    expect(steps.at(-1)).toBe(200_000);
    expect(steps.length).toBeLessThanOrEqual(MAX_HISTORY_POINTS + 1);
  });

  it("puts integer ticks on every still-index axis", () => {
    const axes = [perStillScaleSpec(d.perStill), observationsPerStillSpec(d.perStill)].map(
      (spec) => JSON.stringify(spec).match(/"title":"still index[^"]*","axis":\{[^}]*\}/)?.[0] ?? "",
    );
    for (const a of axes) expect(a).toContain('"tickMinStep":1,"format":"d"');
  });

  it("plots R and χ² per iteration on independent axes, χ² on a log scale", () => {
    const spec = historySpec(data.refinement.history) as { resolve: unknown };
    expect(spec.resolve).toEqual({ scale: { y: "independent" } });
    const rows = values(spec);
    expect(rows.map((r) => r.step)).toEqual(data.refinement.history.map((_, i) => i));
    expect(rows.map((r) => r.r)).toEqual(data.refinement.history.map((h) => h.r_factor));
    const chi = layers(spec)[1].encoding as { y: { field: string; scale: { type: string } } };
    expect(chi.y.field).toBe("chi2");
    expect(chi.y.scale.type).toBe("log");
  });

  it("shows the smoother curve and its control points with error bars", () => {
    const s = d.smoother ?? expect.unreachable();
    const spec = smootherSpec(s);
    const [curve, rules, points] = layers(spec);
    expect(values(curve)).toHaveLength(s.q.length);
    expect(values(points)).toHaveLength(5);
    values(rules).forEach((r, j) => {
      expect(r.lo).toBeCloseTo(s.controlValues[j] - s.controlEsds[j], 12);
      expect(r.hi).toBeCloseTo(s.controlValues[j] + s.controlEsds[j], 12);
    });
  });

  it("leaves out empty shells and fixes the CC½ axis to end at 1", () => {
    const table = { qEdges: [0.1, 0.2, 0.3, 0.4], qCentre: [0.15, 0.25, 0.35], value: [0.9, 0, 0.5], n: [10, 0, 4] };
    const spec = shellSpec(table, "CC½", "#000", [0, 1]);
    expect(values(spec).map((r) => r.q)).toEqual([0.15, 0.35]);
    const layers = (spec as { layer: { encoding: { x: { axis?: unknown }; y?: { scale: unknown } } }[] }).layer;
    expect(layers[0].encoding.y?.scale).toEqual({ domain: [0, 1] });
    // the d axis on top: an invisible second layer, x axes independent over one scale
    expect(layers[1].encoding.x.axis).toMatchObject({ orient: "top", title: "d (Å)" });
    expect((spec as { resolve: unknown }).resolve).toEqual({ axis: { x: "independent" } });
  });

  it("says why a plot is absent instead of drawing an empty one", () => {
    const raw = rawRefinementCopy();
    raw.inputs = { ...(raw.inputs as object), diffuse: null };
    raw.diagnostics.smoother = null;
    raw.diagnostics.residuals = { ...(raw.diagnostics.residuals as object), diffuse: null };
    raw.diagnostics.diffuseMeanIntensity = null;
    raw.diagnostics.diffuseCcHalf = null;
    raw.diagnostics.multiplicity = { ...(raw.diagnostics.multiplicity as object), diffuse: null };
    const figures = buildReportSections({
      scales: data.scales,
      refinement: parseRefinementJson(raw, "r.json"),
    }).flatMap((s) => s.figures);
    const missing = figures.filter((f): f is MissingFigure => !isFigureSpec(f));
    expect(missing.map((f) => f.id).sort()).toEqual(
      [
        "smoother",
        "residual-histogram-diffuse",
        "normal-probability-diffuse",
        "diffuse-mean-intensity",
        "diffuse-cc-half",
        "multiplicity-diffuse",
        "sigma-prime-bragg",
        "sigma-prime-diffuse",
      ].sort(),
    );
    expect(missing.find((f) => f.id === "smoother")?.missing).toMatch(/--smoother-points/);
    expect(missing.find((f) => f.id === "diffuse-cc-half")?.missing).toMatch(/--diffuse/);
    expect(missing.find((f) => f.id === "normal-probability-diffuse")?.missing).toMatch(/no diffuse data/);
    expect(figures.filter((f): f is FigureSpec => isFigureSpec(f))).toHaveLength(9);
  });
});

describe("rendered SVG", () => {
  const d = load().refinement.diagnostics;

  it("has one error bar and one point per still", async () => {
    const svg = await renderSvg(perStillScaleSpec(d.perStill), { ariaLabel: 'a "quoted" <label>' });
    expect(svg.startsWith('<svg role="img" aria-label="a &quot;quoted&quot; &lt;label&gt;"')).toBe(true);
    expect(svg.endsWith("</svg>")).toBe(true);
    expect(svg).not.toMatch(/xmlns|https?:/);
    expect(countInMarkGroups(svg, "rule", "line")).toEqual([40]);
    expect(countInMarkGroups(svg, "symbol", "path")).toEqual([40]);
  });

  it("draws one bar per histogram bin", async () => {
    const hist = d.multiplicity.diffuse ?? expect.unreachable();
    const { multiplicitySpec } = await import("../../src/report/specs.ts");
    const svg = await renderSvg(multiplicitySpec(hist, "observations per voxel", "#000"));
    expect(countInMarkGroups(svg, "rect", "path")).toEqual([hist.counts.length]);
  });
});

describe("summary rows", () => {
  const rows = buildSummaryRows(load(), 1.5);
  const value = (label: string): string => rows.find((r) => r.label === label)?.value ?? expect.unreachable();

  it("reports the counts of the run against the simulator's truth", () => {
    expect(value("Stills in the input")).toBe(String(truth.args.stills));
    expect(value("Stills refined")).toBe(String(truth.args.stills));
    expect(value("Bragg rows in the table")).toBe(formatCount(truth.n_bragg));
    expect(value("Diffuse observations in the file")).toBe(formatCount(truth.n_diffuse));
    expect(value("Space group")).toMatch(/^P 43 21 2 \(No\. 96, Hall "P 4nw 2abw"\)$/);
  });

  it("covers inputs, gauge, minimiser, convergence, CC½ and timings", () => {
    expect(value("Experiments (.expt)")).toMatch(/stills\.expt$/);
    expect(value("Gauge")).toBe("geometric mean multiplicative scale equals 1");
    expect(value("Minimiser")).toBe("lm");
    expect(value("Converged")).toMatch(/^yes/);
    expect(value("Diffuse CC½ (overall)")).toMatch(/^0\.\d{4} over [\d,]+ voxels$/);
    expect(value("Report")).toBe("1.50 s");
    expect(value("Stills without data")).toBe("none");
  });

  it("formats numbers and lists", () => {
    expect(formatCount(1234567)).toBe("1,234,567");
    expect(formatCount(999)).toBe("999");
    expect(formatNumber(0.0346187)).toBe("0.03462");
    expect(formatNumber(6109860.7)).toBe("6.110e+6");
    expect(formatStillList([3, 7])).toBe("2: 3, 7");
    expect(formatStillList([1, 2, 3], 2)).toBe("3: 1, 2, …");
  });
});
