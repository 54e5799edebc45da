/**
 * The report page: one self-contained HTML document with inline CSS, inline SVG plots, the summary table and the
 * exact command line. It loads nothing (no scripts, fonts, images or styles from anywhere; a Content-Security-Policy
 * forbids it), so it works offline and archives as one file. All text is escaped; SVGs are checked to be plain
 * markup without scripts or event handlers before they are inlined.
 *
 * @packageDocumentation
 */
import { InputError } from "../errors.ts";
import type { SummaryRow } from "./summary.ts";

/** A rendered plot. */
export interface HtmlPlot {
  /** HTML id of the figure. */
  id: string;
  /** Title above the plot. */
  title: string;
  /** Caption below the plot. */
  caption: string;
  /** The `<svg>…</svg>` markup (from {@link renderSvg}). */
  svg: string;
}

/** A plot that is absent for this run, with the reason shown in its place. */
export interface HtmlMissingPlot {
  /** HTML id of the figure. */
  id: string;
  /** Title of the absent plot. */
  title: string;
  /** Why it is absent. */
  missing: string;
}

/** A figure given as markup (a map image with its axes, a table), checked by {@link checkFigureMarkup}. */
export interface HtmlMarkupFigure {
  /** HTML id of the figure. */
  id: string;
  /** Title above the figure. */
  title: string;
  /** Caption below the figure. */
  caption: string;
  /** The markup. */
  markup: string;
  /** CSS class of the figure (`map`, `table`). */
  kind: "map" | "table";
}

/** A section of the page. */
export interface HtmlSection {
  /** HTML id (anchor of the table of contents). */
  id: string;
  /** Heading. */
  title: string;
  /** Figures in order. */
  figures: (HtmlPlot | HtmlMissingPlot | HtmlMarkupFigure)[];
}

/** Everything on the page. */
export interface ReportPage {
  /** Page title (and main heading). */
  title: string;
  /** When the report was made (shown as is), e.g. an ISO date. */
  generatedAt: string;
  /** Software that made it, e.g. "diffuse-scaling 0.1.0". */
  generator: string;
  /** Summary table rows. */
  summary: SummaryRow[];
  /** The exact command line of the run. */
  commandLine: string;
  /** Sections of plots. */
  sections: HtmlSection[];
  /**
   * Why the fit may not be trusted: shown at the top of the page, each linking to `href` (an anchor of the page).
   * @defaultValue none
   */
  warnings?: readonly { code: string; message: string; href: string }[];
}

/**
 * Escapes text for HTML element content and double- or single-quoted attribute values.
 *
 * @param text - Any text.
 * @returns The text with `&`, `<`, `>`, `"` and `'` replaced by character references.
 */
export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** Escapes an id for use in `id`/`href` (keeps [A-Za-z0-9_-], replaces the rest). */
function safeId(id: string): string {
  return id.replace(/[^A-Za-z0-9_-]/g, "_");
}

/** Refuses SVG markup that is not a single plain `<svg>` element or could run code or load anything. */
function checkSvg(svg: string, id: string): string {
  const s = svg.trim();
  if (!s.startsWith("<svg") || !s.endsWith("</svg>")) {
    throw new InputError(`report figure "${id}": the plot is not a single <svg> element`);
  }
  if (/<script|<foreignObject|<image|<iframe|\son\w+\s*=|javascript:|(?:https?|ftp|file|data):/i.test(s)) {
    throw new InputError(`report figure "${id}": the SVG contains a script, an event handler or a URL`);
  }
  return s;
}

/**
 * Refuses figure markup that could run code or load anything: no script, frame, object, event handler or style
 * element, and no URL except inline PNG images (`data:image/png;base64,…`).
 */
export function checkFigureMarkup(markup: string, id: string): string {
  if (/<script|<iframe|<object|<embed|<style|<link|<foreignObject|\son\w+\s*=|javascript:/i.test(markup)) {
    throw new InputError(`report figure "${id}": the markup contains a script, a frame or an event handler`);
  }
  const withoutImages = markup.replace(/src="data:image\/png;base64,[A-Za-z0-9+/=]*"/g, "");
  if (/(?:https?|ftp|file|data):|\s(?:src|href)\s*=/i.test(withoutImages)) {
    throw new InputError(`report figure "${id}": the markup contains a URL other than an inline PNG image`);
  }
  return markup;
}

const CSS = `
:root { --fg: #1d2330; --muted: #5b6473; --line: #d9dde3; --accent: #1f77b4; --bg: #f6f7f9; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: var(--fg); background: var(--bg); }
header { background: #1d2330; color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; font-weight: 600; }
header p { margin: 0; color: #c9cfd8; font-size: 13px; }
nav { padding: 8px 28px; background: #fff; border-bottom: 1px solid var(--line); position: sticky; top: 0; z-index: 1; }
nav a { color: var(--accent); text-decoration: none; margin-right: 16px; font-size: 13px; }
main { max-width: 1240px; margin: 0 auto; padding: 8px 28px 40px; }
h2 { font-size: 18px; font-weight: 600; margin: 28px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
.summary { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 16px; }
table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); }
th, td { text-align: left; padding: 4px 10px; border-bottom: 1px solid #eceef1; vertical-align: top; }
th { width: 42%; font-weight: 500; color: var(--muted); }
td { overflow-wrap: anywhere; font-variant-numeric: tabular-nums; }
tr.group th { background: #eef1f5; color: var(--fg); font-weight: 600; }
pre.command { background: #fff; border: 1px solid var(--line); padding: 10px 12px; white-space: pre-wrap; overflow-wrap: anywhere; font: 12.5px/1.4 ui-monospace, Menlo, Consolas, monospace; margin: 0; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(540px, 1fr)); gap: 16px; }
figure { margin: 0; background: #fff; border: 1px solid var(--line); padding: 10px 12px 12px; }
figure h3 { margin: 0 0 6px; font-size: 15px; font-weight: 600; }
figure svg { display: block; max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 12.5px; margin-top: 6px; }
figure.missing { border-style: dashed; }
.map-view { position: relative; max-width: 100%; }
.map-view img.map-image { position: absolute; image-rendering: pixelated; }
.map-view svg.map-axes { position: absolute; left: 0; top: 0; font: 11px Helvetica, Arial, sans-serif; fill: #333; }
.map-view svg.map-axes line { stroke: #333; }
.map-view svg.map-axes rect.frame { fill: none; stroke: #888; }
.map-view svg.map-axes text.title { font-size: 13px; font-style: italic; }
figure.table { grid-column: 1 / -1; overflow-x: auto; }
table.merging th, table.merging td { width: auto; text-align: right; padding: 3px 8px; white-space: nowrap; }
table.merging thead th { color: var(--fg); font-weight: 600; border-bottom: 2px solid var(--line); }
table.merging tr.overall td { font-weight: 600; border-top: 2px solid var(--line); }
figure.missing p { color: var(--muted); font-style: italic; margin: 8px 0; }
footer { color: var(--muted); font-size: 12px; text-align: center; padding: 16px; }
section.warnings { background: #fff6e5; border: 1px solid #e5b453; padding: 4px 16px 8px; margin-top: 16px; }
section.warnings h2 { border-bottom-color: #e5b453; margin-top: 10px; }
section.warnings li { margin: 4px 0; }
section.warnings a { color: var(--fg); }
section.warnings code { color: var(--muted); font-size: 12px; }
@media (max-width: 900px) { .summary { grid-template-columns: 1fr; } }
@media print { nav { display: none; } body { background: #fff; } }
`;

function summaryTables(rows: SummaryRow[]): string {
  const groups: { name: string; rows: SummaryRow[] }[] = [];
  for (const row of rows) {
    const last = groups.at(-1);
    if (last?.name === row.group) last.rows.push(row);
    else groups.push({ name: row.group, rows: [row] });
  }
  // Two columns of tables, split at the group boundary nearest to half the rows.
  let split = groups.length;
  let acc = 0;
  for (let i = 0; i < groups.length; i++) {
    acc += groups[i].rows.length + 1;
    if (acc >= (rows.length + groups.length) / 2) {
      split = i + 1;
      break;
    }
  }
  const table = (part: typeof groups): string =>
    `<table>${part
      .map(
        (g) =>
          `<tr class="group"><th colspan="2">${escapeHtml(g.name)}</th></tr>` +
          g.rows.map((r) => `<tr><th>${escapeHtml(r.label)}</th><td>${escapeHtml(r.value)}</td></tr>`).join(""),
      )
      .join("")}</table>`;
  const left = groups.slice(0, split);
  const right = groups.slice(split);
  return `<div class="summary">${table(left)}${right.length > 0 ? table(right) : ""}</div>`;
}

function figureHtml(f: HtmlPlot | HtmlMissingPlot | HtmlMarkupFigure): string {
  const id = safeId(f.id);
  if ("markup" in f) {
    return (
      `<figure class="${f.kind}" id="fig-${id}"><h3>${escapeHtml(f.title)}</h3>${checkFigureMarkup(f.markup, f.id)}` +
      `<figcaption>${escapeHtml(f.caption)}</figcaption></figure>`
    );
  }
  if ("missing" in f) {
    return `<figure class="missing" id="fig-${id}"><h3>${escapeHtml(f.title)}</h3><p>${escapeHtml(f.missing)}</p></figure>`;
  }
  return (
    `<figure class="plot" id="fig-${id}"><h3>${escapeHtml(f.title)}</h3>${checkSvg(f.svg, f.id)}` +
    `<figcaption>${escapeHtml(f.caption)}</figcaption></figure>`
  );
}

/** The warnings block at the top of the page (empty without warnings). */
function warningsHtml(warnings: ReportPage["warnings"]): string {
  if (warnings === undefined || warnings.length === 0) return "";
  const items = warnings
    .map(
      (w) =>
        `<li><a href="#${safeId(w.href.replace(/^#/, ""))}">${escapeHtml(w.message)}</a> <code>${escapeHtml(w.code)}</code></li>`,
    )
    .join("\n");
  return `<section id="warnings" class="warnings"><h2>Warnings: this fit may not be trusted</h2>\n<ul>\n${items}\n</ul></section>\n`;
}

/**
 * Builds the report page.
 *
 * @param page - The page content (see {@link ReportPage}).
 * @returns A complete HTML5 document.
 * @throws {@link InputError} if a plot's SVG is not plain markup (contains a script, an event handler or a URL).
 */
export function renderReportHtml(page: ReportPage): string {
  const nav = [
    `<a href="#summary">Summary</a>`,
    ...page.sections.map((s) => `<a href="#${safeId(s.id)}">${escapeHtml(s.title)}</a>`),
  ].join("");
  const sections = page.sections
    .map(
      (s) =>
        `<section id="${safeId(s.id)}"><h2>${escapeHtml(s.title)}</h2>` +
        `<div class="figures">${s.figures.map(figureHtml).join("\n")}</div></section>`,
    )
    .join("\n");
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${escapeHtml(page.title)}</title>
<style>${CSS}</style>
</head>
<body>
<header><h1>${escapeHtml(page.title)}</h1><p>${escapeHtml(page.generator)} · generated ${escapeHtml(page.generatedAt)}</p></header>
<nav>${nav}</nav>
<main>
${warningsHtml(page.warnings)}<section id="summary"><h2>Summary</h2>
${summaryTables(page.summary)}
<h2>Command line</h2>
<pre class="command"><code>${escapeHtml(page.commandLine)}</code></pre>
</section>
${sections}
</main>
<footer>Self-contained report: every plot is an inline SVG rendered from a vega-lite specification and every map slice an inline PNG; nothing is loaded from elsewhere.</footer>
</body>
</html>
`;
}
