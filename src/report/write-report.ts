/**
 * `writeReport(dir)`: reads `scales.json` and `refinement.json` from a `diffuse-scale scale` output directory,
 * validates them, reads the merged diffuse map and the scaled reflections when present (for the map slices and the
 * merging statistics), renders every plot to SVG in Node and writes one self-contained `report.html` atomically.
 *
 * @packageDocumentation
 */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { ConfigError, InputError } from "../errors.ts";
import { writeTextAtomic } from "../io/atomic-write.ts";
import { isOutputSet, openOutputSet, verifyOutputSet, type OutputSetStatus } from "../io/output-set.ts";
import type { TopLevelSpec } from "vega-lite";
import { parseRefinementJson, type RefinementJson } from "../io/refinement-json.ts";
import { parseScalesJson, type ScalesJson } from "../io/scales-json.ts";
import { reportWarnings } from "./fit-warnings-report.ts";
import { renderReportHtml, type HtmlSection } from "./html.ts";
import { mapSection } from "./map-section.ts";
import { parseSlicePlane } from "./map-slices.ts";
import { mergingSection } from "./merging-section.ts";
import { renderSvg } from "./render-svg.ts";
import type { ReportData } from "./report-data.ts";
import { checkInputSize, readReportMap, readReportMerging, REPORT_INPUT_LIMITS } from "./report-inputs.ts";
import { buildReportSections, isFigureSpec, type ReportSection } from "./specs.ts";
import { buildSummaryRows } from "./summary.ts";

/** A progress event of {@link writeReport}: `done` of `total` plots rendered. */
export interface ReportProgress {
  phase: "report";
  done: number;
  total: number;
  label: string;
}

/** Options of {@link renderReport}. */
export interface RenderReportOptions {
  /**
   * Page title.
   * @defaultValue "diffuse-scaling report"
   */
  title?: string;
  /**
   * Time stamp shown on the page.
   * @defaultValue the current time
   */
  now?: Date;
  /**
   * Progress callback, called after each plot.
   * @defaultValue undefined
   */
  onProgress?: (event: ReportProgress) => void;
  /**
   * Planes of the merged map to show beyond hk0, h0l and 0kl, e.g. `["h,k,0.5"]` (at most {@link MAX_EXTRA_SLICES};
   * see `parseSlicePlane`).
   * @defaultValue []
   */
  slices?: readonly string[];
}

/** Most extra map planes a report shows (each image is at most 512 × 512 pixels). */
export const MAX_EXTRA_SLICES = 4;

/**
 * Checks the extra planes of {@link RenderReportOptions.slices}.
 *
 * @throws {@link ConfigError} for more than {@link MAX_EXTRA_SLICES} planes or a plane that does not parse
 */
export function checkSlices(slices: readonly string[]): void {
  if (!Array.isArray(slices)) throw new ConfigError("report: slices must be an array of plane strings");
  if (slices.length > MAX_EXTRA_SLICES) {
    throw new ConfigError(`report: at most ${MAX_EXTRA_SLICES} extra slices, got ${slices.length}`);
  }
  for (const s of slices) {
    if (typeof s !== "string") throw new ConfigError("report: slices must be an array of plane strings");
    parseSlicePlane(s);
  }
}

/** Options of {@link writeReport}. */
export interface WriteReportOptions extends RenderReportOptions {
  /**
   * Where to write the page.
   * @defaultValue `join(dir, "report.html")`
   */
  outPath?: string;
}

/** What {@link renderReport} returns. */
export interface RenderedReport {
  /** The HTML document. */
  html: string;
  /** Number of plots rendered (inline SVGs). */
  nPlots: number;
  /** Number of figures given as markup: map slices (inline PNG with SVG axes) and tables. */
  nFigures: number;
  /** Number of figure slots shown as absent (with the reason). */
  nMissing: number;
  /** Seconds spent. */
  seconds: number;
}

/** What {@link writeReport} returns. */
export interface WriteReportResult extends RenderedReport {
  /** The path written. */
  path: string;
  /** Whether the directory holds a complete output set (`verifyOutputSet`), and the problems found when not. */
  outputSet: OutputSetStatus;
}

function generatorName(): string {
  try {
    const require = createRequire(import.meta.url);
    const pkg = require("../../package.json") as { name?: unknown; version?: unknown };
    if (typeof pkg.name === "string" && typeof pkg.version === "string") return `${pkg.name} ${pkg.version}`;
  } catch {
    // fall through: the package file is optional for the report
  }
  return "diffuse-scaling";
}

async function readJson(path: string): Promise<unknown> {
  await checkInputSize(path, REPORT_INPUT_LIMITS.jsonBytes);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new InputError(`cannot read: ${(err as Error).message}`, path);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InputError(`not valid JSON: ${(err as Error).message}`, path);
  }
}

/**
 * Reads and validates `scales.json` of an output directory.
 *
 * @throws {@link InputError} naming the file (and JSON field) that is missing, too large or malformed.
 */
export async function readScalesFile(dir: string): Promise<ScalesJson> {
  const path = join(dir, "scales.json");
  return parseScalesJson(await readJson(path), path);
}

/**
 * Reads and validates `refinement.json` of an output directory.
 *
 * @throws {@link InputError} naming the file (and JSON field) that is missing, too large or malformed.
 */
export async function readRefinementFile(dir: string): Promise<RefinementJson> {
  const path = join(dir, "refinement.json");
  return parseRefinementJson(await readJson(path), path);
}

/**
 * Reads and validates the report data of an output directory: `scales.json` and `refinement.json` (required), and,
 * when present, `merged_diffuse.h5` (only for a run with diffuse data, so a map left by an earlier run is not shown)
 * and `scaled.refl`/`scaled.expt`. Every file's size is checked against {@link REPORT_INPUT_LIMITS} before it is read.
 *
 * @param dir - A `diffuse-scale scale` output directory.
 * @returns The validated documents, the map and the merging statistics (or why each is absent).
 * @throws {@link InputError} naming the file (and JSON field) that is missing, too large or malformed.
 */
export async function readReportData(dir: string): Promise<ReportData> {
  if (typeof dir !== "string" || dir.length === 0) throw new InputError("report: directory must be a non-empty path");
  const scales = await readScalesFile(dir);
  const refinement = await readRefinementFile(dir);
  const map =
    refinement.inputs.diffuse === null
      ? { absent: "This run had no diffuse data (scale with --diffuse)." }
      : await readReportMap(dir, refinement.space_group.hall);
  return { scales, refinement, map, merging: await readReportMerging(dir) };
}

/** Renders one figure's specification to SVG (as {@link renderSvg} with the figure's title as its label). */
export type FigureRenderer = (spec: TopLevelSpec, title: string) => Promise<string>;

/** The sections of the page, in page order: the map, the merging statistics, then {@link buildReportSections}. */
export function reportSections(data: ReportData, slices?: readonly string[]): ReportSection[] {
  return [mapSection(data.map, slices), mergingSection(data.merging), ...buildReportSections(data)];
}

/**
 * Renders the page of validated data from its sections (see {@link reportSections}): each plot through `render`.
 *
 * @param earlierSeconds - seconds already spent on this page before this call (shown with the report's own time)
 */
export async function renderReportSections(
  data: ReportData,
  sections: readonly ReportSection[],
  options: RenderReportOptions,
  render: FigureRenderer,
  earlierSeconds = 0,
): Promise<RenderedReport> {
  const start = performance.now() - 1000 * earlierSeconds;
  const total = sections.reduce((n, s) => n + s.figures.filter(isFigureSpec).length, 0);
  let done = 0;
  let nMissing = 0;
  let nImages = 0;
  const htmlSections: HtmlSection[] = [];
  for (const section of sections) {
    const figures: HtmlSection["figures"] = [];
    for (const f of section.figures) {
      if (isFigureSpec(f)) {
        const svg = await render(f.spec, f.title);
        figures.push({ id: f.id, title: f.title, caption: f.caption, svg });
        done++;
        options.onProgress?.({ phase: "report", done, total, label: f.id });
      } else if ("markup" in f) {
        figures.push(f);
        nImages++;
      } else {
        figures.push(f);
        nMissing++;
      }
    }
    htmlSections.push({ id: section.id, title: section.title, figures });
  }
  const renderSeconds = (performance.now() - start) / 1000;
  const html = renderReportHtml({
    title: options.title ?? "diffuse-scaling report",
    generatedAt: (options.now ?? new Date()).toISOString().replace(/\.\d+Z$/, "Z"),
    generator: generatorName(),
    summary: buildSummaryRows(data, renderSeconds),
    commandLine: data.refinement.command_line === "" ? "(not recorded)" : data.refinement.command_line,
    sections: htmlSections,
    warnings: reportWarnings(data.scales.warnings),
  });
  return { html, nPlots: done, nFigures: nImages, nMissing, seconds: (performance.now() - start) / 1000 };
}

/** {@link renderSvg} with the figure's title as its accessible label. */
const renderFigure: FigureRenderer = (spec, title) => renderSvg(spec, { ariaLabel: title });

/**
 * Renders the report page of validated data (no file access).
 *
 * @param data - The report data (see {@link readReportData}).
 * @param options - See {@link RenderReportOptions}.
 * @returns The HTML and counts.
 */
export async function renderReport(data: ReportData, options: RenderReportOptions = {}): Promise<RenderedReport> {
  const start = performance.now();
  checkSlices(options.slices ?? []);
  const sections = reportSections(data, options.slices);
  return renderReportSections(data, sections, options, renderFigure, (performance.now() - start) / 1000);
}

/**
 * Builds `report.html` from the outputs in `dir` (`scales.json`, `refinement.json`) and writes it atomically, after
 * checking whether `dir` is a complete output set (`outputSet` of the result says so, with the problems found). The
 * page of a complete set is committed with the set's new manifest, so the set stays complete.
 *
 * @param dir - A `diffuse-scale scale` output directory.
 * @param options - See {@link WriteReportOptions}.
 * @returns The path written and counts.
 * @throws {@link InputError} when an input is missing or malformed (naming the file and field) or the page cannot
 * be written.
 */
export async function writeReport(dir: string, options: WriteReportOptions = {}): Promise<WriteReportResult> {
  checkSlices(options.slices ?? []);
  const path = options.outPath ?? join(dir, "report.html");
  if (!(isOutputSet(dir) && resolve(path) === resolve(dir, "report.html"))) {
    const outputSet = await verifyOutputSet(dir);
    const data = await readReportData(dir);
    const rendered = await renderReport(data, options);
    await writeTextAtomic(path, rendered.html);
    return { ...rendered, path, outputSet };
  }
  // the page of an output set is replaced as part of the set (under its lock, with a new manifest), so the set
  // stays complete; an interrupted commit found here is completed first
  const set = await openOutputSet(dir, { what: "the report directory" });
  try {
    const outputSet = await verifyOutputSet(dir);
    const data = await readReportData(dir);
    const rendered = await renderReport(data, options);
    const manifest = outputSet.manifest;
    if (outputSet.complete && manifest !== undefined) {
      await writeTextAtomic(set.path("report.html"), rendered.html);
      await set.commit({
        command: manifest.command,
        commandLine: manifest.command_line,
        generator: manifest.generator,
        keep: manifest.files.map((f) => f.name).filter((n) => n !== "report.html"),
      });
    } else {
      await writeTextAtomic(path, rendered.html);
    }
    return { ...rendered, path, outputSet };
  } catch (e) {
    throw set.finalPathError(e);
  } finally {
    set.abandon();
  }
}
