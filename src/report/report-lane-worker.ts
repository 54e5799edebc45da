/**
 * Worker thread of the report's second lane (see `./report-lanes.ts`): loads vega, vega-lite and the readers of the
 * scaled reflections as soon as it starts, then renders each plot it is sent with {@link renderSvg}, and computes the
 * merging statistics of an output directory with {@link readReportMerging}, posting each result back.
 *
 * Messages in: {@link LaneRequest}. Messages out: {@link LaneReady} once loaded, then one
 * {@link LaneReply} per request.
 *
 * @packageDocumentation
 */
import { parentPort } from "node:worker_threads";
import type { TopLevelSpec } from "vega-lite";
import type { MergingStatistics } from "../merge/merging-statistics.ts";
import { renderSvg, vegaRendererSource } from "./render-svg.ts";
import { readReportMerging, type Optional } from "./report-inputs.ts";

/** A plot to render (its specification and accessible label), or the merging statistics of `dir`; numbered. */
export type LaneRequest =
  { kind: "render"; id: number; spec: TopLevelSpec; title: string } | { kind: "merging"; id: number; dir: string };

/** Said once, when vega is loaded (work sent earlier would wait for it). */
export type LaneReady = "ready";

/**
 * The answer to request `id`: its SVG or statistics, or that it failed (the sender then does the work itself, for its
 * own error).
 */
export type LaneReply =
  { id: number; svg: string } | { id: number; merging: Optional<MergingStatistics> } | { id: number; failed: string };

const port = parentPort;
if (port === null) throw new Error("report-lane-worker must run in a worker thread");
// vega is what takes long to load: load it before the first plot arrives, then say so (a failure to load is
// renderSvg's own, later)
void vegaRendererSource()
  .catch(() => undefined)
  .then(() => {
    port.postMessage("ready" satisfies LaneReady);
  });

/** Posts the result of `work`, or that it failed. */
function answer(id: number, work: Promise<{ svg: string } | { merging: Optional<MergingStatistics> }>): void {
  work.then(
    (result) => {
      port?.postMessage({ id, ...result });
    },
    (error: unknown) => {
      port?.postMessage({ id, failed: String(error) } satisfies LaneReply);
    },
  );
}

port.on("message", (request: LaneRequest) => {
  if (request.kind === "render") {
    answer(
      request.id,
      renderSvg(request.spec, { ariaLabel: request.title }).then((svg) => ({ svg })),
    );
  } else {
    answer(
      request.id,
      readReportMerging(request.dir).then((merging) => ({ merging })),
    );
  }
});
