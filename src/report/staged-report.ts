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
 * Files are read one step at a time, in the order the writer announced them. The plots of a step are handed to the
 * renderer (`options.render`: this thread, or both lanes of `./report-lanes.ts`) without waiting for them, and the
 * merging statistics (`options.mergingStatistics`, perhaps in another thread) are not waited for either, so the next
 * step reads while they are computed and rendered. A failed step (a malformed file) fails {@link StagedReport.write},
 * and so do failed statistics and a plot of the page that fails to render (a plot rendered ahead that the page does
 * not show fails nothing); the caller then reproduces the error with `writeReport`.
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

/** Options of {@link StagedReport}. */
export interface StagedReportOptions {
  /**
   * Renders one plot (e.g. `ReportLanes.render`, two plots at a time).
   * @defaultValue {@link renderSvg} on this thread, with the figure's title as its label
   */
  render?: FigureRenderer;
  /**
   * The merging statistics of the output directory (e.g. `ReportLanes.mergingStatistics`, in another thread).
   * @defaultValue {@link readReportMerging} on this thread
   */
  mergingStatistics?: (dir: string) => Promise<Optional<MergingStatistics>>;
}

/** {@link renderSvg} with the figure's title as its accessible label. */
const renderHere: FigureRenderer = (spec, title) => renderSvg(spec, { ariaLabel: title });

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
  readonly #renderer: FigureRenderer;
  readonly #mergingStatistics: (dir: string) => Promise<Optional<MergingStatistics>>;
  /** The merging statistics being computed with their section's plots asked for (settles with them). */
  #mergingPending: Promise<void> | undefined;
  /** The plots asked for (rendered, or being rendered), by specification and title. */
  readonly #svgs = new Map<string, Promise<string>>();
  /** Seconds during which a step or a plot of this page was under way, before the current stretch. */
  #seconds = 0;
  /** Steps and plots under way, and since when some were. */
  #busy = 0;
  #busySince = 0;

  /**
   * @param dir - the output directory being written
   * @param options - see {@link StagedReportOptions}
   */
  constructor(dir: string, options: StagedReportOptions = {}) {
    this.#dir = dir;
    this.#renderer = options.render ?? renderHere;
    this.#mergingStatistics = options.mergingStatistics ?? readReportMerging;
  }

  /** Counts a step or a plot as under way, until {@link StagedReport.#idle}. */
  #working(): void {
    if (this.#busy++ === 0) this.#busySince = performance.now();
  }

  #idle(): void {
    if (--this.#busy === 0) this.#seconds += (performance.now() - this.#busySince) / 1000;
  }

  /** Renders a plot (once: later calls return the same promise). */
  readonly #render: FigureRenderer = (spec, title) => {
    const key = `${title}\u0000${JSON.stringify(spec)}`;
    let svg = this.#svgs.get(key);
    if (svg === undefined) {
      this.#working();
      svg = this.#renderer(spec, title).finally(() => {
        this.#idle();
      });
      // a plot rendered ahead that the page does not show fails nothing (the page awaits the plots it shows)
      svg.catch(() => undefined);
      this.#svgs.set(key, svg);
    }
    return svg;
  };

  /** Asks for every plot of `sections` (without waiting for them). */
  #renderAll(sections: readonly ReportSection[]): void {
    for (const section of sections) {
      for (const f of section.figures) if (isFigureSpec(f)) void this.#render(f.spec, f.title);
    }
  }

  /** Runs `step` after the earlier ones (not after a failed one). */
  #enqueue(step: () => Promise<void>): void {
    this.#queue = this.#queue.then(async () => {
      if (this.#failure !== undefined) return;
      this.#working();
      try {
        await step();
      } catch (error) {
        this.#failure = { error };
      }
      this.#idle();
    });
  }

  /** Says that `file` is written (and final): reads it and renders its plots. */
  written(file: StagedFile): void {
    const dir = this.#dir;
    switch (file.name) {
      case "scaled.expt":
        this.#enqueue(() => {
          // the statistics take a while: the next steps do not wait for them (a failure fails the page in write)
          this.#working();
          this.#mergingPending = this.#mergingStatistics(dir)
            .then((value) => {
              const section = mergingSection(value);
              this.#merging = { value, section };
              this.#renderAll([section]);
            })
            .finally(() => {
              this.#idle();
            });
          this.#mergingPending.catch(() => undefined);
          return Promise.resolve();
        });
        return;
      case "merged_diffuse.h5":
        this.#enqueue(async () => {
          const value = await readReportMap(dir, file.hall);
          const section = mapSection(value);
          this.#map = { value, section, hall: file.hall };
          this.#renderAll([section]);
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
          this.#renderAll(buildReportSections({ scales, refinement }));
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
    await this.#mergingPending;
    // the page is under way until it is written (its seconds: every stretch with a step or a plot under way)
    this.#working();
    try {
      await this.#writePage(outPath);
    } finally {
      this.#idle();
    }
  }

  /** {@link StagedReport.write} once the steps are done. */
  async #writePage(outPath: string): Promise<void> {
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
    // every plot not yet asked for goes to the renderer now (both lanes), then the page takes them in its order
    this.#renderAll(sections);
    const earlier = this.#seconds + (performance.now() - this.#busySince) / 1000;
    const rendered = await renderReportSections(data, sections, {}, this.#render, earlier);
    await writeTextAtomic(outPath, rendered.html);
  }
}
