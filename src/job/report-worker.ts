/**
 * Worker thread of the background report: loads the report module and vega/vega-lite as soon as it starts (while the
 * main thread reads, refines and writes), then writes `report.html` when asked, exactly as `writeReport` does in the
 * main thread (a fresh isolate, so the rendered page is the same).
 *
 * Messages in: `{ dir, outPath }`. Messages out: `{ ok: true }` or `{ ok: false, message }`.
 *
 * @packageDocumentation
 */
import { parentPort } from "node:worker_threads";
import { vegaRendererSource } from "../report/render-svg.ts";
import { writeReport } from "../report/write-report.ts";

const port = parentPort;
if (port === null) throw new Error("report-worker must run in a worker thread");
// load vega now: it is what makes a cold report slow
const preload = vegaRendererSource().catch(() => undefined);

port.on("message", (request: { dir: string; outPath: string }) => {
  void (async () => {
    try {
      await preload;
      await writeReport(request.dir, { outPath: request.outPath });
      port.postMessage({ ok: true });
    } catch (error) {
      port.postMessage({ ok: false, message: error instanceof Error ? error.message : String(error) });
    }
  })();
});
