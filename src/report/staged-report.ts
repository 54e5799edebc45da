/**
 * The report of an output directory that is still being written: each input is read (and its plots rendered) as soon
 * as the writer says the file is in place, so that reading the files back, the merging statistics and most of the
 * rendering overlap the rest of the write phase instead of following it. The page is then the one
 * `writeReport` writes from the finished directory:
 *
 * - every input is read from its file, with the same readers, once the file is final (a file is written once);
 * - the map is read for the Hall symbol the writer announced, and only kept when `refinement.json` names the same
 *   group and records diffuse input (otherwise it is read again, or left out, as `readReportData` does);
 * - plots rendered ahead of `scales.json` (from a preview of it) are only a cache keyed by the plot's specification and
 *   title: the page's plots are specified from the files, and a plot whose specification differs is rendered anew.
 *
 * Work is done one step at a time, in the order the writer announced the files. A failed step (a malformed file)
 * fails {@link StagedReport.write}; the caller then reproduces the error with `writeReport`.
 *
 * @packageDocumentation
 */
import { writeTextAtomic } from "../io/atomic-write.ts";
import type { RefinementJson } from "../io/refinement-json.ts";
import { parseScalesJson } from "../io/scales-json.ts";
import type { MergingStatistics } from "../merge/merging-statistics.ts";
import { mapSection } from "./map-section.ts";
import { mergingSection } from "./merging-section.ts";
import { renderSvg } from "./render-svg.ts";
import type { ReportData } from "./report-data.ts";
import { readReportMap, readReportMerging, type Optional, type ReportMap } from "./report-inputs.ts";
import { buildReportSections, isFigureSpec, type ReportSection } from "./specs.ts";
import { readRefinementFile, readScalesFile, renderReportSections, type FigureRenderer } from "./write-report.ts";

/** The files a writer announces, in the order the `scale` job writes them. */
export type StagedFile =
  | { name: "scaled.expt" }
  | { name: "merged_diffuse.h5"; hall: string }
  | { name: "refinement.json"; scalesPreview?: unknown };

/** A read input with the section built from it. */
interface Staged<T> {
  value: T;
  section: ReportSection;
}

/** The report of the output directory `dir`, prepared file by file (see the module comment). */
export class StagedReport {
  readonly #dir: string;
  /** The steps so far, one after the other. */
  #queue: Promise<void> = Promise.resolve();
  /** The first failure of a step (it fails the page). */
  #failure: { error: unknown } | undefined;
  #merging: Staged<Optional<MergingStatistics>> | undefined;
  #map: (Staged<Optional<ReportMap>> & { hall: string }) | undefined;
  #refinement: RefinementJson | undefined;
  /** Rendered plots by specification and title. */
  readonly #svgs = new Map<string, string>();
  /** Seconds spent on steps of this page. */
  #seconds = 0;

  /** @param dir - the output directory being written */
  constructor(dir: string) {
    this.#dir = dir;
  }

  /** Renders a plot, or returns it from the cache. */
  readonly #render: FigureRenderer = async (spec, title) => {
    const key = `${title}\u0000${JSON.stringify(spec)}`;
    const cached = this.#svgs.get(key);
    if (cached !== undefined) return cached;
    const svg = await renderSvg(spec, { ariaLabel: title });
    this.#svgs.set(key, svg);
    return svg;
  };

  /** Renders every plot of `sections` into the cache. */
  async #renderAll(sections: readonly ReportSection[]): Promise<void> {
    for (const section of sections) {
      for (const f of section.figures) if (isFigureSpec(f)) await this.#render(f.spec, f.title);
    }
  }

  /** Runs `step` after the earlier ones (not after a failed one). */
  #enqueue(step: () => Promise<void>): void {
    this.#queue = this.#queue.then(async () => {
      if (this.#failure !== undefined) return;
      const start = performance.now();
      try {
        await step();
      } catch (error) {
        this.#failure = { error };
      }
      this.#seconds += (performance.now() - start) / 1000;
    });
  }

  /** Says that `file` is written (and final): reads it and renders its plots. */
  written(file: StagedFile): void {
    const dir = this.#dir;
    switch (file.name) {
      case "scaled.expt":
        this.#enqueue(async () => {
          const value = await readReportMerging(dir);
          const section = mergingSection(value);
          this.#merging = { value, section };
          await this.#renderAll([section]);
        });
        return;
      case "merged_diffuse.h5":
        this.#enqueue(async () => {
          const value = await readReportMap(dir, file.hall);
          const section = mapSection(value);
          this.#map = { value, section, hall: file.hall };
          await this.#renderAll([section]);
        });
        return;
      case "refinement.json":
        this.#enqueue(async () => {
          const refinement = await readRefinementFile(dir);
          this.#refinement = refinement;
          if (file.scalesPreview === undefined) return;
          // a preview that does not validate renders nothing ahead: the page reads scales.json itself
          let scales;
          try {
            scales = parseScalesJson(file.scalesPreview, "scales.json");
          } catch {
            return;
          }
          await this.#renderAll(buildReportSections({ scales, refinement }));
        });
        return;
    }
  }

  /**
   * Writes the page to `outPath` once `scales.json` and every other file are written: the page
   * `writeReport` writes from `dir` (for a directory that is not an output set).
   *
   * @throws the first error of a step or of the page (an `InputError` naming the file for a malformed input)
   */
  async write(outPath: string): Promise<void> {
    await this.#queue;
    if (this.#failure !== undefined) throw this.#failure.error;
    const start = performance.now();
    const dir = this.#dir;
    // the order of readReportData (scales.json first), so that the first malformed file is the one named
    const scales = await readScalesFile(dir);
    const refinement = this.#refinement ?? (await readRefinementFile(dir));
    const hall = refinement.space_group.hall;
    let map: Staged<Optional<ReportMap>>;
    if (refinement.inputs.diffuse === null) {
      const value = { absent: "This run had no diffuse data (scale with --diffuse)." };
      map = { value, section: mapSection(value) };
    } else if (this.#map !== undefined && this.#map.hall === hall) {
      map = this.#map;
    } else {
      const value = await readReportMap(dir, hall);
      map = { value, section: mapSection(value) };
    }
    let merging = this.#merging;
    if (merging === undefined) {
      const value = await readReportMerging(dir);
      merging = { value, section: mergingSection(value) };
    }
    const data: ReportData = { scales, refinement, map: map.value, merging: merging.value };
    const sections = [map.section, merging.section, ...buildReportSections(data)];
    const earlier = this.#seconds + (performance.now() - start) / 1000;
    const rendered = await renderReportSections(data, sections, {}, this.#render, earlier);
    await writeTextAtomic(outPath, rendered.html);
  }
}
