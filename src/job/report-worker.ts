/**
 * Worker thread of the background report: loads the report module and vega/vega-lite as soon as it starts (while the
 * main thread reads, refines and writes), then starts the helper thread of a second lane (which loads vega in turn;
 * see `report/report-lanes.ts`), prepares the page file by file while the outputs are written (a {@link StagedReport}
 * per directory: its plots rendered two at a time, its merging statistics computed in the helper), then writes
 * `report.html` when asked: the page `writeReport` writes from the finished directory (a fresh isolate, so the
 * rendered page is the same).
 *
 * Messages in: `{ kind: "map follows" }` and `{ kind: "written", dir, file }` (no answer), and
 * `{ kind: "write", dir, outPath }`. Messages out (one per "write"): `{ ok: true }` or `{ ok: false, message }`.
 *
 * @packageDocumentation
 */
import { resolve } from "node:path";
import { parentPort } from "node:worker_threads";
import { loadH5wasm } from "../io/hdf5.ts";
import { isOutputSet } from "../io/output-set.ts";
import { ReportLanes } from "../report/report-lanes.ts";
import { vegaRendererSource } from "../report/render-svg.ts";
import { StagedReport, type StagedFile } from "../report/staged-report.ts";
import { writeReport } from "../report/write-report.ts";

/** A request of the job thread. */
export type ReportWorkerRequest =
  | { kind: "map follows" }
  | { kind: "written"; dir: string; file: StagedFile }
  | { kind: "write"; dir: string; outPath: string };

const port = parentPort;
if (port === null) throw new Error("report-worker must run in a worker thread");
// load vega now: it is what makes a cold report slow
const preload = vegaRendererSource().catch(() => undefined);
// the second lane's thread is started once this one has loaded (the two would otherwise load at the same time as the
// job's own start-up, on a machine that may have two cores)
const lanes = new ReportLanes();
void preload.then(() => {
  lanes.startHelper();
});
/** The pages being prepared, by output directory. */
const staged = new Map<string, StagedReport>();

function stagedReport(dir: string): StagedReport {
  let report = staged.get(dir);
  if (report === undefined) {
    report = new StagedReport(dir, { render: lanes.render, mergingStatistics: lanes.mergingStatistics });
    staged.set(dir, report);
  }
  return report;
}

port.on("message", (request: ReportWorkerRequest) => {
  if (request.kind === "map follows") {
    // the map is read with h5wasm: load it now, while this thread waits for the first output (a failure to load is
    // the reader's own, from the same promise)
    loadH5wasm().catch(() => undefined);
    return;
  }
  if (request.kind === "written") {
    stagedReport(request.dir).written(request.file);
    return;
  }
  void (async () => {
    try {
      await preload;
      const { dir, outPath } = request;
      const report = stagedReport(dir);
      staged.delete(dir);
      // the page of an output set is committed with the set (writeReport does that); any other page is the staged one
      if (isOutputSet(dir) && resolve(outPath) === resolve(dir, "report.html")) await writeReport(dir, { outPath });
      else await report.write(outPath);
      port.postMessage({ ok: true });
    } catch (error) {
      port.postMessage({ ok: false, message: error instanceof Error ? error.message : String(error) });
    }
  })();
});
