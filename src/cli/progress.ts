/**
 * Progress display for the CLI: cli-progress bars on stderr, only when stderr is a TTY and `--quiet` is not given.
 * The library reports progress through callbacks; this file only renders those events.
 *
 * @packageDocumentation
 */
import { createRequire } from "node:module";
import type cliProgressNamespace from "cli-progress";

/** Loads cli-progress (CommonJS) synchronously, only when a bar is really shown (stderr is a TTY). */
function loadCliProgress(): typeof cliProgressNamespace {
  const require = createRequire(import.meta.url);
  return require("cli-progress") as typeof cliProgressNamespace;
}

/** A progress event as the library reports it. */
export type ProgressEvent =
  | { phase: string; done: number; total: number; label: string }
  | { phase: "refine"; cycle: number; iteration: number; rmsd: number; rFactor: number; seconds: number };

/** Renders progress events; `stop()` must be called when the job ends (also on error). */
export interface ProgressReporter {
  /** Handles one event. */
  report(event: ProgressEvent): void;
  /** Stops any bar. */
  stop(): void;
}

/**
 * Creates a reporter. With `quiet`, or when stderr is not a TTY, it does nothing.
 *
 * @param options - `quiet` silences it; `stream` defaults to `process.stderr`.
 */
export function createProgressReporter(
  options: { quiet?: boolean; stream?: NodeJS.WriteStream } = {},
): ProgressReporter {
  const stream = options.stream ?? process.stderr;
  if (options.quiet === true || !stream.isTTY) return { report: () => undefined, stop: () => undefined };
  const cliProgress = loadCliProgress();
  let bar: cliProgressNamespace.SingleBar | undefined;
  let phase = "";
  let lastIterationTime = 0;
  const start = (name: string, total: number, format: string): cliProgressNamespace.SingleBar => {
    bar?.stop();
    phase = name;
    const b = new cliProgress.SingleBar(
      { stream, format, hideCursor: true, clearOnComplete: false, barsize: 30 },
      cliProgress.Presets.shades_classic,
    );
    b.start(total, 0, { label: "", info: "" });
    bar = b;
    return b;
  };
  return {
    report(event) {
      if ("iteration" in event) {
        if (phase !== `refine${event.cycle}`) {
          start(`refine${event.cycle}`, 100, `refine cycle ${event.cycle + 1} {bar} iter {value} {info}`);
          lastIterationTime = 0;
        }
        const dt = event.seconds - lastIterationTime;
        lastIterationTime = event.seconds;
        bar?.update(event.iteration, {
          info: `R ${event.rFactor.toFixed(4)}  rmsd ${event.rmsd.toPrecision(5)}  ${dt.toFixed(2)} s/iter`,
        });
        return;
      }
      if (phase !== event.phase)
        start(event.phase, Math.max(1, event.total), `${event.phase.padEnd(9)} {bar} {value}/{total} {label}`);
      bar?.setTotal(Math.max(1, event.total));
      bar?.update(event.done, { label: event.label });
    },
    stop() {
      bar?.stop();
      bar = undefined;
      phase = "";
    },
  };
}

/**
 * The shape of every command action that runs a job: a progress reporter (silent with `quiet`), the job given its
 * `report` as the progress callback, and the reporter stopped when the job ends, on success before the caller prints
 * its summary, and on error. The job imports its pipeline itself (lazily, so that `--help`, `--version` and the other
 * commands never load it).
 *
 * @param quiet - No progress bars.
 * @param job - Runs the job with the progress callback.
 * @returns What the job returned.
 */
export async function withProgress<T>(
  quiet: boolean,
  job: (onProgress: (event: ProgressEvent) => void) => Promise<T>,
): Promise<T> {
  const progress = createProgressReporter({ quiet });
  try {
    return await job((event) => {
      progress.report(event);
    });
  } finally {
    progress.stop();
  }
}
