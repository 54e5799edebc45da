/**
 * Warming up a thread's renderer: the first plots vega renders in a fresh isolate take about twice as long as later
 * ones (its code is compiled, and then optimised, on first use), so a render lane that renders a few throw-away plots
 * while it would otherwise wait renders the page's plots faster. The plots are built by the report's own spec builders
 * (a shell statistic with the d axis on top, per-still scales with error bars, a histogram, the refinement history on
 * two y axes) from made-up numbers, so they exercise the marks, scales and axes of the page.
 *
 * Warming up changes nothing on the page: an SVG depends on its specification only.
 *
 * @packageDocumentation
 */
import { setImmediate as nextTurn } from "node:timers/promises";
import type { TopLevelSpec } from "vega-lite";
import { renderSvg } from "./render-svg.ts";
import { BRAGG_COLOUR, historySpec, perStillScaleSpec, scaleHistogramSpec, shellSpec } from "./specs.ts";

/** The throw-away plots, one builder each (built only when rendered). */
const WARM_UP_PLOTS: readonly (() => TopLevelSpec)[] = [
  () =>
    shellSpec(
      { qEdges: [0.05, 0.1, 0.15, 0.2], qCentre: [0.08, 0.13, 0.18], value: [12.5, 7.25, 3.5], n: [40, 35, 30] },
      "⟨I/σ(I)⟩ (merged)",
      BRAGG_COLOUR,
    ),
  () => {
    const perStill = {
      still: [0, 1, 2, 3, 4, 5],
      scale: [0.97, 1.02, 1.05, 0.99, 0.95, 1.03],
      esd: [0.01, 0.012, 0.011, 0.009, 0.013, 0.01],
      nBragg: [50, 52, 48, 51, 49, 50],
      nDiffuse: [0, 0, 0, 0, 0, 0],
    };
    return perStillScaleSpec(perStill);
  },
  () => {
    const scale = [0.97, 1.02, 1.05, 0.99, 0.95, 1.03, 1.01, 0.98];
    return scaleHistogramSpec({ still: [], scale, esd: [], nBragg: [], nDiffuse: [] });
  },
  () =>
    historySpec(
      [0, 1, 2, 3].map((iteration) => ({
        cycle: 0,
        iteration,
        rmsd: 1 / (iteration + 1),
        chi_squared: 1000 / (iteration + 1),
        reduced_chi_squared: 2 / (iteration + 1),
        r_factor: 0.2 / (iteration + 1),
        seconds: iteration,
      })),
    ),
];

/**
 * Renders the throw-away plots one by one, each after one turn of the event loop, and stops before the next one as
 * soon as `stop()` is true (real work has come). Errors are ignored: a renderer that fails fails the page's own plots.
 *
 * @param stop - whether to stop warming up
 */
export async function warmUpRenderer(stop: () => boolean): Promise<void> {
  for (const build of WARM_UP_PLOTS) {
    await nextTurn();
    if (stop()) return;
    try {
      await renderSvg(build());
    } catch {
      return;
    }
  }
}
