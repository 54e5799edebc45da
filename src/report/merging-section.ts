/**
 * The report's Bragg merging statistics section: the per-shell table in the layout of `dials.merge`/aimless (d range
 * in Å, observations, unique, multiplicity, completeness, ⟨I⟩, ⟨I/σ⟩, R_merge, R_meas, R_pim, CC½, with the overall
 * row) and plots of CC½, ⟨I/σ⟩, completeness with multiplicity, and R_pim against |q| with d on the top axis.
 *
 * @packageDocumentation
 */
import type { TopLevelSpec } from "vega-lite";
import type { MergingShell, MergingStatistics } from "../merge/merging-statistics.ts";
import { withDAxis } from "./axes.ts";
import { escapeHtml } from "./html.ts";
import type { Optional } from "./report-inputs.ts";
import { BRAGG_COLOUR, Q_TITLE, REFERENCE_COLOUR, type ReportFigure, type ReportSection } from "./specs.ts";

/** Columns of the table: header, tooltip, cell text. */
const COLUMNS: [string, string, (s: MergingShell) => string][] = [
  ["d max (Å)", "low-resolution limit", (s) => (s.dMax > 0 ? s.dMax.toFixed(2) : "∞")],
  ["d min (Å)", "high-resolution limit", (s) => s.dMin.toFixed(2)],
  ["#obs", "observations", (s) => String(s.nObs)],
  ["#uniq", "unique reflections", (s) => String(s.nUnique)],
  ["mult.", "multiplicity", (s) => s.multiplicity.toFixed(2)],
  ["%comp", "completeness (%)", (s) => (Number.isNaN(s.completeness) ? "n/a" : (100 * s.completeness).toFixed(2))],
  ["⟨I⟩", "mean merged intensity", (s) => s.meanI.toFixed(1)],
  ["⟨I/σ⟩", "mean I/σ(I) of the merged reflections", (s) => s.meanIOverSigma.toFixed(1)],
  ["R_merge", "Σ|I − ⟨I⟩| / ΣI over reflections observed twice or more", (s) => s.rMerge.toFixed(3)],
  ["R_meas", "multiplicity-independent R", (s) => s.rMeas.toFixed(3)],
  ["R_pim", "precision-indicating R", (s) => s.rPim.toFixed(3)],
  ["CC½", "correlation of random half data sets", (s) => s.ccHalf.toFixed(3)],
];

/** The table markup (`<table class="merging">`). */
export function mergingTableMarkup(stats: MergingStatistics): string {
  const head = COLUMNS.map(([h, tip]) => `<th scope="col" title="${escapeHtml(tip)}">${escapeHtml(h)}</th>`).join("");
  const row = (s: MergingShell, cls: string): string =>
    `<tr${cls === "" ? "" : ` class="${cls}"`}>${COLUMNS.map(([, , f]) => `<td>${escapeHtml(f(s))}</td>`).join("")}</tr>`;
  return (
    `<table class="merging" id="merging-shells"><thead><tr>${head}</tr></thead><tbody>` +
    stats.shells.map((s) => row(s, "")).join("") +
    row(stats.overall, "overall") +
    "</tbody></table>"
  );
}

/** Shell midpoint in |q| = 1/d. */
function shellQ(s: MergingShell): number {
  const qLo = s.dMax > 0 ? 1 / s.dMax : 0;
  return 0.5 * (qLo + 1 / s.dMin);
}

const WIDTH = 440;
const HEIGHT = 250;

/** A statistic of the shells against |q| (with the d axis on top). */
export function mergingShellSpec(
  stats: MergingStatistics,
  value: (s: MergingShell) => number,
  yTitle: string,
  yDomain?: [number, number],
): TopLevelSpec {
  const values = stats.shells
    .filter((s) => s.nObs > 0 && Number.isFinite(value(s)))
    .map((s) => ({ q: shellQ(s), value: value(s), d: s.dMin }));
  const spec = {
    width: WIDTH,
    height: HEIGHT,
    padding: 8,
    config: { aria: false, font: "Helvetica, Arial, sans-serif", view: { stroke: "#bbbbbb" }, background: "white" },
    data: { values },
    mark: { type: "line", color: BRAGG_COLOUR, strokeWidth: 2, point: { color: BRAGG_COLOUR, size: 36 } },
    encoding: {
      x: { field: "q", type: "quantitative", title: Q_TITLE, scale: { zero: false } },
      y: {
        field: "value",
        type: "quantitative",
        title: yTitle,
        ...(yDomain === undefined ? {} : { scale: { domain: yDomain } }),
      },
    },
  };
  return withDAxis(spec, "q") as TopLevelSpec;
}

/** Completeness (%) and multiplicity of the shells on two y axes. */
function completenessSpec(stats: MergingStatistics): TopLevelSpec {
  const values = stats.shells
    .filter((s) => s.nObs > 0)
    .map((s) => ({ q: shellQ(s), completeness: 100 * s.completeness, multiplicity: s.multiplicity }));
  const x = { field: "q", type: "quantitative" as const, title: Q_TITLE, scale: { zero: false } };
  const spec = {
    width: WIDTH,
    height: HEIGHT,
    padding: 8,
    config: { aria: false, font: "Helvetica, Arial, sans-serif", view: { stroke: "#bbbbbb" }, background: "white" },
    data: { values },
    layer: [
      {
        mark: { type: "line", color: BRAGG_COLOUR, strokeWidth: 2, point: { color: BRAGG_COLOUR } },
        encoding: {
          x,
          y: {
            field: "completeness",
            type: "quantitative",
            title: "completeness % (solid)",
            scale: { domain: [0, 100] },
            axis: { titleColor: BRAGG_COLOUR },
          },
        },
      },
      {
        mark: {
          type: "line",
          color: REFERENCE_COLOUR,
          strokeDash: [5, 3],
          point: { color: REFERENCE_COLOUR, shape: "square" },
        },
        encoding: {
          x,
          y: { field: "multiplicity", type: "quantitative", title: "multiplicity (dashed)", axis: { orient: "right" } },
        },
      },
    ],
    resolve: { scale: { y: "independent" } },
  };
  return withDAxis(spec, "q") as TopLevelSpec;
}

/**
 * The merging statistics section (id `merging`): figures `merging-table`, `merging-cc-half`,
 * `merging-i-over-sigma`, `merging-completeness`, `merging-r-pim`.
 */
export function mergingSection(merging: Optional<MergingStatistics> | undefined): ReportSection {
  const ids: [string, string][] = [
    ["merging-table", "Merging statistics by resolution shell"],
    ["merging-cc-half", "Bragg CC½ by shell"],
    ["merging-i-over-sigma", "Bragg ⟨I/σ⟩ by shell"],
    ["merging-completeness", "Completeness and multiplicity by shell"],
    ["merging-r-pim", "R_pim by shell"],
  ];
  const title = "Bragg merging statistics";
  if (merging === undefined || "absent" in merging) {
    const why = merging === undefined ? "The scaled reflections were not read." : merging.absent;
    return { id: "merging", title, figures: ids.map(([id, t]) => ({ id, title: t, missing: why })) };
  }
  const s = merging.value;
  const cell = s.unitCell.map((x) => Number(x.toFixed(3))).join(", ");
  const figures: ReportFigure[] = [
    {
      id: "merging-table",
      title: ids[0][1],
      caption:
        `The scaled Bragg reflections of scaled.refl merged as dials.merge merges them (partiality ≥ 0.4, outliers ` +
        `excluded, equal-volume shells, symmetry mates and Friedel mates together, CC½ from a random half-data-set ` +
        `split); d from the median unit cell (${cell}).`,
      markup: mergingTableMarkup(s),
      kind: "table",
    },
    {
      id: "merging-cc-half",
      title: ids[1][1],
      caption: "CC½ of random half data sets per resolution shell.",
      spec: mergingShellSpec(s, (x) => x.ccHalf, "CC½", [Math.min(0, ...s.shells.map((x) => x.ccHalf)), 1]),
    },
    {
      id: "merging-i-over-sigma",
      title: ids[2][1],
      caption: "Mean I/σ(I) of the merged reflections per resolution shell.",
      spec: mergingShellSpec(s, (x) => x.meanIOverSigma, "⟨I/σ(I)⟩ (merged)"),
    },
    {
      id: "merging-completeness",
      title: ids[3][1],
      caption: "Completeness (solid, left axis) and multiplicity (dashed, right axis) per resolution shell.",
      spec: completenessSpec(s),
    },
    {
      id: "merging-r-pim",
      title: ids[4][1],
      caption: "Precision-indicating R factor per resolution shell.",
      spec: mergingShellSpec(s, (x) => x.rPim, "R_pim"),
    },
  ];
  return { id: "merging", title, figures };
}
