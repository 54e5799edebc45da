/**
 * Worker-thread module of `background-report.test.ts` (not a test file): started from the TypeScript sources as the
 * CLI starts its job thread, so that the modules it loads carry tsx's `?tsx-namespace=…` in their URL. It starts a
 * background report, renders `workerData.outPath` from `workerData.dir` and posts where the page was rendered.
 */
import { parentPort, workerData } from "node:worker_threads";
import { startBackgroundReport } from "../../src/job/background-report.ts";

const { dir, outPath } = workerData as { dir: string; outPath: string };
const report = startBackgroundReport();
report
  .write(dir, outPath)
  .then(
    (where) => {
      parentPort?.postMessage({ where, url: import.meta.url });
    },
    (error: unknown) => {
      parentPort?.postMessage({ error: String(error) });
    },
  )
  .finally(() => {
    report.dispose();
  });
