/**
 * Vega-lite specifications of the report's plots, as pure functions of the report data. Every plot gets aggregated
 * data only (at most a few thousand marks), axis titles with units, and inline data values, so a spec is plain JSON
 * that can be checked in unit tests and rendered anywhere. A plot whose data are absent from the run (no smoother, no
 * diffuse data...) becomes a {@link MissingFigure} with a sentence saying why, never an empty plot.
 *
 * @packageDocumentation
 */
import type { TopLevelSpec } from "vega-lite";
import type { Histogram, ResidualSummary, ScalingDiagnostics, ShellTable } from "../io/diagnostics-json.ts";
import type { RefinementJson } from "../io/refinement-json.ts";
import { robustProbabilityRange, STILL_AXIS, withDAxis } from "./axes.ts";
import { historySteps, MAX_HISTORY_POINTS } from "./history-steps.ts";
import type { HtmlMarkupFigure } from "./html.ts";
import type { ReportData } from "./report-data.ts";
import { errorModelSection, residualSdBeforeAfter } from "./error-model-figures.ts";
import { residualSdFigure } from "./fit-warnings-report.ts";

/** A plot of the report. */
export interface FigureSpec {
  /** Stable identifier (used as the HTML id of the figure). */
  id: string;
  /** Title shown above the plot. */
  title: string;
  /** One-sentence caption shown below the plot. */
  caption: string;
  /** The vega-lite specification (inline data). */
  spec: TopLevelSpec;
}

/** A plot that cannot be drawn for this run. */
export interface MissingFigure {
  /** Stable identifier. */
  id: string;
  /** Title of the plot that would have been shown. */
  title: string;
  /** Why it is absent (a sentence shown in its place). */
  missing: string;
}

/** A figure slot of the report: a plot, a figure given as markup (map slice, table), or the reason it is absent. */
export type ReportFigure = FigureSpec | MissingFigure | HtmlMarkupFigure;

/** A section of the report: a heading and its figures. */
export interface ReportSection {
  /** Stable identifier (HTML id). */
  id: string;
  /** Heading. */
  title: string;
  /** Figures, in order. */
  figures: ReportFigure[];
}

/** Colour of Bragg data in every plot. */
export const BRAGG_COLOUR = "#1f77b4";
/** Colour of diffuse data in every plot. */
export const DIFFUSE_COLOUR = "#d95f02";
/** Colour of reference lines and curves (N(0,1), y = x). */
export const REFERENCE_COLOUR = "#444444";

const WIDTH = 440;
const HEIGHT = 250;
/** The |q| axis title (reciprocal ångström). */
export const Q_TITLE = "|q| (Å⁻¹)";

const CONFIG = {
  // No per-mark ARIA labels (they would repeat every data value in the SVG); the figure itself is labelled.
  aria: false,
  font: "Helvetica, Arial, sans-serif",
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: "normal" as const, gridColor: "#e6e6e6" },
  view: { stroke: "#bbbbbb" },
  background: "white",
};

function base(): { width: number; height: number; padding: number; config: typeof CONFIG } {
  return { width: WIDTH, height: HEIGHT, padding: 8, config: CONFIG };
}

/** The size, padding and configuration every plot of the report shares. */
export const plotBase = base;

/** Whether a figure slot holds a plot. */
export function isFigureSpec(figure: ReportFigure): figure is FigureSpec {
  return "spec" in figure;
}

/** The standard normal density φ(x). */
export function normalDensity(x: number): number {
  return Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
}

/**
 * Histogram of arbitrary values over their range in `nBins` equal bins (the last bin is closed).
 *
 * @param values - Finite values (at least one).
 * @param nBins - Number of bins (≥ 1).
 * @returns Bins `{ lo, hi, count }`; a single bin of width 1 centred on the value when all values are equal.
 */
export function histogramBins(values: readonly number[], nBins: number): { lo: number; hi: number; count: number }[] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  if (values.length === 0) return [];
  if (!(hi > lo)) return [{ lo: lo - 0.5, hi: lo + 0.5, count: values.length }];
  const width = (hi - lo) / nBins;
  const counts = new Array<number>(nBins).fill(0);
  for (const v of values) counts[Math.min(nBins - 1, Math.floor((v - lo) / width))]++;
  return counts.map((count, i) => ({ lo: lo + i * width, hi: lo + (i + 1) * width, count }));
}

/** Above this many refined stills, per-still plots show blocks of consecutive stills instead of single stills. */
export const MAX_STILL_POINTS = 1500;

/**
 * Consecutive blocks of `n` items, at most about `maxBlocks` of them (all of size 1 when `n ≤ MAX_STILL_POINTS`).
 *
 * @returns `[start, end)` index pairs covering 0..n.
 */
export function stillBlocks(n: number, maxBlocks = 1000): [number, number][] {
  const size = n <= MAX_STILL_POINTS ? 1 : Math.ceil(n / maxBlocks);
  const blocks: [number, number][] = [];
  for (let i = 0; i < n; i += size) blocks.push([i, Math.min(n, i + size)]);
  return blocks;
}

/**
 * Per-still multiplicative scale with ±1 ESD error bars. With more than {@link MAX_STILL_POINTS} stills, each point
 * is the mean scale of a block of consecutive stills (at mean still id) and the bar spans the block's min–max.
 */
export function perStillScaleSpec(perStill: ScalingDiagnostics["perStill"]): TopLevelSpec {
  const blocked = perStill.still.length > MAX_STILL_POINTS;
  const values = stillBlocks(perStill.still.length).map(([a, b]) => {
    if (b - a === 1) {
      return {
        still: perStill.still[a],
        scale: perStill.scale[a],
        lo: perStill.scale[a] - perStill.esd[a],
        hi: perStill.scale[a] + perStill.esd[a],
      };
    }
    let sumId = 0;
    let sum = 0;
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = a; i < b; i++) {
      sumId += perStill.still[i];
      sum += perStill.scale[i];
      lo = Math.min(lo, perStill.scale[i]);
      hi = Math.max(hi, perStill.scale[i]);
    }
    return { still: sumId / (b - a), scale: sum / (b - a), lo, hi };
  });
  const x = {
    field: "still",
    type: "quantitative" as const,
    title: blocked ? "still index (experiment id, block mean)" : "still index (experiment id)",
    axis: STILL_AXIS,
  };
  return {
    ...base(),
    data: { values },
    layer: [
      {
        mark: { type: "rule", color: BRAGG_COLOUR, strokeWidth: 1.5 },
        encoding: {
          x,
          y: {
            field: "lo",
            type: "quantitative",
            title: blocked ? "multiplicative scale b (block mean, min–max)" : "multiplicative scale b (ESD bars)",
            scale: { zero: false },
          },
          y2: { field: "hi" },
        },
      },
      {
        mark: { type: "point", filled: true, size: blocked ? 10 : 28, color: BRAGG_COLOUR },
        encoding: { x, y: { field: "scale", type: "quantitative" } },
      },
    ],
  };
}

/** Histogram of the per-still scales (√n bins, between 5 and 40). */
export function scaleHistogramSpec(perStill: ScalingDiagnostics["perStill"]): TopLevelSpec {
  const nBins = Math.max(5, Math.min(40, Math.round(Math.sqrt(perStill.scale.length))));
  return {
    ...base(),
    data: { values: histogramBins(perStill.scale, nBins) },
    mark: { type: "rect", color: BRAGG_COLOUR, stroke: "white", strokeWidth: 0.5 },
    encoding: {
      x: { field: "lo", type: "quantitative", title: "multiplicative scale b", scale: { zero: false } },
      x2: { field: "hi" },
      y: { field: "count", type: "quantitative", title: "number of stills" },
    },
  };
}

/** The resolution smoother a(|q|) with its control points (±1 ESD). */
export function smootherSpec(smoother: NonNullable<ScalingDiagnostics["smoother"]>): TopLevelSpec {
  const curve = smoother.q.map((q, i) => ({ q, a: smoother.value[i] }));
  const control = smoother.controlQ.map((q, i) => ({
    q,
    a: smoother.controlValues[i],
    lo: smoother.controlValues[i] - smoother.controlEsds[i],
    hi: smoother.controlValues[i] + smoother.controlEsds[i],
  }));
  const x = { field: "q", type: "quantitative" as const, title: Q_TITLE };
  return withDAxis(
    {
      ...base(),
      layer: [
        {
          data: { values: curve },
          mark: { type: "line", color: DIFFUSE_COLOUR, strokeWidth: 2 },
          encoding: {
            x,
            y: { field: "a", type: "quantitative", title: "resolution factor a(|q|)", scale: { zero: false } },
          },
        },
        {
          data: { values: control },
          mark: { type: "rule", color: REFERENCE_COLOUR },
          encoding: { x, y: { field: "lo", type: "quantitative" }, y2: { field: "hi" } },
        },
        {
          data: { values: control },
          mark: { type: "point", shape: "diamond", filled: true, size: 60, color: REFERENCE_COLOUR },
          encoding: { x, y: { field: "a", type: "quantitative" } },
        },
      ],
    },
    "q",
    curve,
  ) as TopLevelSpec;
}

/** R-factor (left axis) and χ² (right axis, log scale) per minimiser iteration, over all cycles. */
export function historySpec(history: RefinementJson["history"]): TopLevelSpec {
  const values = historySteps(history.length).map((step) => ({
    step,
    cycle: history[step].cycle,
    r: history[step].r_factor,
    chi2: Math.max(history[step].chi_squared, Number.MIN_VALUE),
  }));
  const x = {
    field: "step",
    type: "quantitative" as const,
    title: "iteration (all cycles)",
    axis: { tickMinStep: 1, format: "d" },
  };
  return {
    ...base(),
    data: { values },
    layer: [
      {
        mark: { type: "line", color: BRAGG_COLOUR, point: { color: BRAGG_COLOUR }, strokeWidth: 2 },
        encoding: {
          x,
          y: {
            field: "r",
            type: "quantitative",
            title: "R-factor (solid)",
            axis: { titleColor: BRAGG_COLOUR },
          },
        },
      },
      {
        mark: {
          type: "line",
          color: DIFFUSE_COLOUR,
          strokeDash: [5, 3],
          point: { color: DIFFUSE_COLOUR, shape: "square" },
          strokeWidth: 2,
        },
        encoding: {
          x,
          y: {
            field: "chi2",
            type: "quantitative",
            title: "χ² (dashed, log scale)",
            scale: { type: "log" },
            axis: { titleColor: DIFFUSE_COLOUR, orient: "right", format: "~s", tickCount: 5 },
          },
        },
      },
    ],
    resolve: { scale: { y: "independent" } },
  };
}

/**
 * Histogram of normalised residuals with the N(0, 1) reference curve scaled to the number of residuals
 * (expected count in a bin of width w is n·w·φ(x)).
 */
export function residualHistogramSpec(summary: ResidualSummary, colour: string): TopLevelSpec {
  const edges = summary.histogram.edges;
  const bars = summary.histogram.counts.map((count, i) => ({ lo: edges[i], hi: edges[i + 1], count }));
  const lo = edges[0];
  const hi = edges[edges.length - 1];
  const width = (hi - lo) / Math.max(1, summary.histogram.counts.length);
  const nCurve = 121;
  const curve = Array.from({ length: nCurve }, (_, i) => {
    const x = lo + ((hi - lo) * i) / (nCurve - 1);
    return { x, expected: summary.n * width * normalDensity(x) };
  });
  return {
    ...base(),
    layer: [
      {
        data: { values: bars },
        mark: { type: "rect", color: colour, opacity: 0.75, stroke: "white", strokeWidth: 0.5 },
        encoding: {
          x: { field: "lo", type: "quantitative", title: "normalised residual δ", scale: { domain: [lo, hi] } },
          x2: { field: "hi" },
          y: { field: "count", type: "quantitative", title: "number of observations" },
        },
      },
      {
        data: { values: curve },
        mark: { type: "line", color: REFERENCE_COLOUR, strokeWidth: 1.5 },
        encoding: { x: { field: "x", type: "quantitative" }, y: { field: "expected", type: "quantitative" } },
      },
    ],
  };
}

/**
 * Normal probability plot: observed sorted δ against expected N(0, 1) quantiles, with the line y = x, over a robust
 * range ({@link robustProbabilityRange}): points beyond it are drawn on its edge as open triangles.
 */
export function normalProbabilitySpec(summary: ResidualSummary, colour: string): TopLevelSpec {
  const p = summary.normalProbability;
  const { lo, hi } = robustProbabilityRange(p.expected, p.observed);
  const clamp = (v: number): number => Math.min(hi, Math.max(lo, v));
  const points = p.expected.map((expected, i) => ({ expected, observed: clamp(p.observed[i]) }));
  const edge = p.expected.flatMap((expected, i) =>
    p.observed[i] < lo || p.observed[i] > hi ? [{ expected: clamp(expected), observed: clamp(p.observed[i]) }] : [],
  );
  const domain = { scale: { domain: [lo, hi], nice: false } };
  return {
    ...base(),
    layer: [
      {
        data: { values: [{ v: lo }, { v: hi }] },
        mark: { type: "line", color: REFERENCE_COLOUR, strokeDash: [4, 3] },
        encoding: {
          x: { field: "v", type: "quantitative", title: "expected N(0,1) quantile", ...domain },
          y: { field: "v", type: "quantitative", title: "observed normalised residual δ", ...domain },
        },
      },
      {
        data: { values: points },
        mark: { type: "point", filled: true, size: 14, color: colour, opacity: 0.8 },
        encoding: { x: { field: "expected", type: "quantitative" }, y: { field: "observed", type: "quantitative" } },
      },
      {
        data: { values: edge },
        mark: { type: "point", shape: "triangle-up", filled: false, size: 40, color: REFERENCE_COLOUR },
        encoding: { x: { field: "expected", type: "quantitative" }, y: { field: "observed", type: "quantitative" } },
      },
    ],
  };
}

/** A statistic in |q| shells (shells without data are left out). */
export function shellSpec(
  table: ShellTable,
  yTitle: string,
  colour: string,
  yDomain?: readonly [number, number],
): TopLevelSpec {
  const values: { q: number; value: number; n: number }[] = [];
  table.qCentre.forEach((q, i) => {
    if (table.n[i] > 0) values.push({ q, value: table.value[i], n: table.n[i] });
  });
  return withDAxis(
    {
      ...base(),
      data: { values },
      mark: { type: "line", color: colour, strokeWidth: 2, point: { color: colour, size: 40 } },
      encoding: {
        x: { field: "q", type: "quantitative", title: Q_TITLE, scale: { zero: false } },
        y: {
          field: "value",
          type: "quantitative",
          title: yTitle,
          ...(yDomain === undefined ? {} : { scale: { domain: [yDomain[0], yDomain[1]] } }),
        },
      },
    },
    "q",
  ) as TopLevelSpec;
}

/**
 * Number of Bragg and diffuse observations used per still (log y: the two kinds differ by orders of magnitude); with
 * more than {@link MAX_STILL_POINTS} stills, the mean per block of consecutive stills.
 */
export function observationsPerStillSpec(perStill: ScalingDiagnostics["perStill"]): TopLevelSpec {
  const values: { still: number; kind: string; n: number }[] = [];
  for (const [a, b] of stillBlocks(perStill.still.length)) {
    let sumId = 0;
    let nB = 0;
    let nD = 0;
    for (let i = a; i < b; i++) {
      sumId += perStill.still[i];
      nB += perStill.nBragg[i];
      nD += perStill.nDiffuse[i];
    }
    const still = sumId / (b - a);
    if (nB > 0) values.push({ still, kind: "Bragg", n: nB / (b - a) });
    if (nD > 0) values.push({ still, kind: "diffuse", n: nD / (b - a) });
  }
  return {
    ...base(),
    data: { values },
    mark: { type: "line", point: { size: 16 }, strokeWidth: 1.5 },
    encoding: {
      x: { field: "still", type: "quantitative", title: "still index (experiment id)", axis: STILL_AXIS },
      y: {
        field: "n",
        type: "quantitative",
        title: "observations used (log scale)",
        scale: { type: "log" },
        axis: { format: "~s", tickCount: 5 },
      },
      color: {
        field: "kind",
        type: "nominal",
        title: null,
        scale: { domain: ["Bragg", "diffuse"], range: [BRAGG_COLOUR, DIFFUSE_COLOUR] },
        legend: { orient: "top", direction: "horizontal", symbolType: "circle" },
      },
    },
  };
}

/** Multiplicity histogram: number of groups (unique reflections or voxels) per number of observations. */
export function multiplicitySpec(hist: Histogram, xTitle: string, colour: string): TopLevelSpec {
  const values = hist.counts.map((count, i) => ({ lo: hist.edges[i] - 0.5, hi: hist.edges[i + 1] - 0.5, count }));
  return {
    ...base(),
    data: { values },
    mark: { type: "rect", color: colour, stroke: "white", strokeWidth: 0.5 },
    encoding: {
      x: { field: "lo", type: "quantitative", title: xTitle, scale: { zero: false } },
      x2: { field: "hi" },
      y: { field: "count", type: "quantitative", title: "number of groups" },
    },
  };
}

/** Why a diffuse plot is absent in a Bragg-only run. */
export const NO_DIFFUSE = "This run had no diffuse data (scale with --diffuse).";

/** The probability plot's caption, with the points drawn at the edge counted. */
function probabilityCaption(summary: ResidualSummary): string {
  const p = summary.normalProbability;
  const r = robustProbabilityRange(p.expected, p.observed);
  const beyond =
    r.nBelow + r.nAbove === 0
      ? ""
      : ` ${r.nBelow + r.nAbove} points lie beyond [${fixed3(r.lo)}, ${fixed3(r.hi)}] (${r.nBelow} below, ${r.nAbove} above) and are drawn on the edge as open triangles.`;
  return `Sorted δ against the expected normal quantiles; points on the dashed line y = x mean N(0, 1) errors.${beyond}`;
}

/** Three decimals, without a negative zero. */
function fixed3(x: number): string {
  const s = x.toFixed(3);
  return /^-0\.0*$/.test(s) ? s.slice(1) : s;
}

/** The median of non-empty values. */
function median(values: readonly number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 === 1 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

function residualFigures(
  kind: "Bragg" | "diffuse",
  summary: ResidualSummary | null,
  hasDiffuseInput: boolean,
): ReportFigure[] {
  const colour = kind === "Bragg" ? BRAGG_COLOUR : DIFFUSE_COLOUR;
  const id = kind === "Bragg" ? "bragg" : "diffuse";
  const name = kind === "Bragg" ? "Bragg" : "Diffuse";
  if (summary === null) {
    const why =
      kind === "Bragg"
        ? "No Bragg residuals: no Bragg group has two or more used observations."
        : hasDiffuseInput
          ? "No diffuse residuals: no voxel has two or more used observations."
          : NO_DIFFUSE;
    return [
      { id: `residual-histogram-${id}`, title: `${name} normalised residuals`, missing: why },
      { id: `normal-probability-${id}`, title: `${name} normal probability plot`, missing: why },
    ];
  }
  const stats = `n = ${summary.n}, mean ${fixed3(summary.mean)}, sd ${fixed3(summary.sd)}`;
  return [
    {
      id: `residual-histogram-${id}`,
      title: `${name} normalised residuals`,
      caption: `Histogram of δ over [−6, 6] (values beyond are in the end bins), with the N(0, 1) expectation; ${stats}.`,
      spec: residualHistogramSpec(summary, colour),
    },
    {
      id: `normal-probability-${id}`,
      title: `${name} normal probability plot`,
      caption: probabilityCaption(summary),
      spec: normalProbabilitySpec(summary, colour),
    },
  ];
}

/** A figure of `value`, or the reason it is absent when `value` is null. */
function figureOf<T>(
  id: string,
  title: string,
  value: T | null,
  missing: string,
  show: (value: T) => { caption: string; spec: TopLevelSpec },
): ReportFigure {
  if (value === null) return { id, title, missing };
  const { caption, spec } = show(value);
  return { id, title, caption, spec };
}

const NO_STILLS = "No still was refined.";

function scalesSection(perStill: ScalingDiagnostics["perStill"]): ReportSection {
  const n = perStill.still.length;
  return {
    id: "scales",
    title: "Per-still scales",
    figures:
      n === 0
        ? [
            { id: "per-still-scale", title: "Multiplicative scale per still", missing: NO_STILLS },
            { id: "scale-histogram", title: "Distribution of scales", missing: NO_STILLS },
          ]
        : [
            {
              id: "per-still-scale",
              title: "Multiplicative scale per still",
              caption:
                n > MAX_STILL_POINTS
                  ? `Refined scales of the ${n} refined stills, as the mean (point) and range (bar) ` +
                    `of each block of ${stillBlocks(n)[0][1]} consecutive stills ` +
                    `(median ESD ${median(perStill.esd).toPrecision(2)}). Gauge: geometric mean of b = 1.`
                  : `Refined scale b of each of the ${n} refined stills with ±1 ESD bars ` +
                    `(median ESD ${median(perStill.esd).toPrecision(2)}, ` +
                    `max ${perStill.esd.reduce((m, e) => Math.max(m, e), 0).toPrecision(2)}; ` +
                    "bars shorter than a point are hidden by it). Gauge: geometric mean of b = 1.",
              spec: perStillScaleSpec(perStill),
            },
            {
              id: "scale-histogram",
              title: "Distribution of scales",
              caption: "Histogram of the refined per-still scales.",
              spec: scaleHistogramSpec(perStill),
            },
          ],
  };
}

function smootherSection(smoother: ScalingDiagnostics["smoother"]): ReportSection {
  return {
    id: "smoother",
    title: "Resolution smoother",
    figures: [
      figureOf(
        "smoother",
        "Resolution factor a(|q|)",
        smoother,
        "The resolution smoother was not enabled in this run (enable it with --smoother-points).",
        (s) => ({
          caption: `Shared resolution factor a(|q|) over the data range, and its ${s.controlQ.length} control points (diamonds, ±1 ESD; with more than 3 points the outer ones lie beyond the data range, as in DIALS's Gaussian smoother).`,
          spec: smootherSpec(s),
        }),
      ),
    ],
  };
}

function refinementSection(history: RefinementJson["history"]): ReportSection {
  return {
    id: "refinement",
    title: "Refinement",
    figures: [
      figureOf(
        "history",
        "R-factor and χ² per iteration",
        history.length === 0 ? null : history,
        "No iteration was recorded.",
        (h) => ({
          caption:
            `R-factor (solid, left axis) and χ² (dashed, right axis) at each of the ${h.length} recorded iterations` +
            (h.length > MAX_HISTORY_POINTS ? ` (every ${historySteps(h.length)[1]}th drawn, and the last).` : "."),
          spec: historySpec(h),
        }),
      ),
    ],
  };
}

function shellsSection(d: ScalingDiagnostics, hasDiffuse: boolean): ReportSection {
  const noDiffuseShells = hasDiffuse ? "Too few merged voxels for shells." : NO_DIFFUSE;
  return {
    id: "shells",
    title: "Resolution shells",
    figures: [
      figureOf("bragg-i-over-sigma", "Bragg ⟨I/σ⟩", d.braggIOverSigma, "No merged Bragg reflections.", (t) => ({
        caption: "Mean I/σ(I) of the merged Bragg reflections in equal-volume |q| shells.",
        spec: shellSpec(t, "⟨I/σ(I)⟩ (merged)", BRAGG_COLOUR),
      })),
      figureOf("diffuse-mean-intensity", "Diffuse ⟨I⟩", d.diffuseMeanIntensity, noDiffuseShells, (t) => ({
        caption: "Mean merged diffuse intensity per voxel in equal-volume |q| shells.",
        spec: shellSpec(t, "⟨I⟩ merged diffuse (counts)", DIFFUSE_COLOUR),
      })),
      figureOf("diffuse-cc-half", "Diffuse CC½", d.diffuseCcHalf, noDiffuseShells, (t) => ({
        caption: "Correlation between the two random half-set merged maps, per equal-volume |q| shell.",
        spec: shellSpec(t, "CC½ (half-set correlation)", DIFFUSE_COLOUR, [Math.min(0, ...t.value), 1]),
      })),
    ],
  };
}

function observationsSection(d: ScalingDiagnostics): ReportSection {
  const perStill = d.perStill;
  const m = d.multiplicity;
  return {
    id: "observations",
    title: "Observations",
    figures: [
      figureOf(
        "observations-per-still",
        "Observations per still",
        perStill.still.length === 0 ? null : perStill,
        NO_STILLS,
        (p) => ({
          caption:
            p.still.length > MAX_STILL_POINTS
              ? "Bragg and diffuse observations used in scaling, mean per block of consecutive refined stills."
              : "Bragg and diffuse observations used in scaling, per refined still.",
          spec: observationsPerStillSpec(p),
        }),
      ),
      figureOf("multiplicity-bragg", "Bragg multiplicity", m.bragg, "No Bragg groups.", (h) => ({
        caption:
          "Number of unique (symmetry-merged) reflections per number of observations (multiplicities above 60 are counted at 60).",
        spec: multiplicitySpec(h, "observations per unique reflection", BRAGG_COLOUR),
      })),
      figureOf("multiplicity-diffuse", "Diffuse multiplicity", m.diffuse, NO_DIFFUSE, (h) => ({
        caption: "Number of voxels per number of observations (multiplicities above 60 are counted at 60).",
        spec: multiplicitySpec(h, "observations per voxel", DIFFUSE_COLOUR),
      })),
    ],
  };
}

/**
 * All sections and figures of the report, in page order.
 *
 * @param data - The validated report data.
 * @returns Sections: per-still scales, resolution smoother, refinement, residuals, error model, |q| shells,
 *   observation counts.
 */
export function buildReportSections(data: ReportData): ReportSection[] {
  const d = data.refinement.diagnostics;
  const hasDiffuse = data.refinement.inputs.diffuse !== null;
  return [
    scalesSection(d.perStill),
    smootherSection(d.smoother),
    refinementSection(data.refinement.history),
    {
      id: "residuals",
      title: "Normalised residuals",
      figures: [
        residualSdFigure(d.residuals, residualSdBeforeAfter(data.scales)),
        ...residualFigures("Bragg", d.residuals.bragg, hasDiffuse),
        ...residualFigures("diffuse", d.residuals.diffuse, hasDiffuse),
      ],
    },
    errorModelSection(data),
    shellsSection(d, hasDiffuse),
    observationsSection(d),
  ];
}
