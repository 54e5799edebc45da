/**
 * `diffuse-scale report DIR`: rebuilds `DIR/report.html` from the outputs of `diffuse-scale scale` (wiring of
 * `writeReport`; no maths here).
 *
 * @packageDocumentation
 */
import type { Command } from "commander";
import { withProgress } from "./progress.ts";

/** Options as commander parses them. */
interface ReportCliOptions {
  out?: string;
  title?: string;
  quiet?: boolean;
  slice?: string[];
}

/** Collects repeated `--slice` values. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Registers the `report` command. */
export function registerReport(program: Command): void {
  program
    .command("report")
    .description("rebuild the self-contained HTML report from the outputs of `diffuse-scale scale`")
    .argument("<dir>", "output directory of `diffuse-scale scale` (with scales.json and refinement.json)")
    .option("--out <file>", "where to write the page (default: DIR/report.html)")
    .option("--title <text>", "page title")
    .option("--quiet", "no progress bar and no message")
    .option(
      "--slice <plane>",
      'an extra plane of the merged diffuse map to show, e.g. "h,k,0.5" (repeatable, at most 4; hk0, h0l and 0kl are always shown)',
      collect,
    )
    .addHelpText(
      "after",
      `
Examples:
  $ diffuse-scale report scaled
  $ diffuse-scale report scaled --out /tmp/run1.html --title "run 1"
  $ diffuse-scale report scaled --slice "h,k,0.5" --slice "1,k,l"

The page is one file with inline SVG plots and PNG map slices: open it in any browser, offline.
Exit codes: 0 success, 2 missing or malformed scales.json/refinement.json (or a malformed merged_diffuse.h5,
scaled.refl or scaled.expt), or a --slice that is not a plane of the map.`,
    )
    .action(async (dir: string, opts: ReportCliOptions) => {
      const result = await withProgress(opts.quiet === true, async (onProgress) => {
        const { writeReport } = await import("../report/write-report.ts");
        return writeReport(dir, {
          ...(opts.out === undefined ? {} : { outPath: opts.out }),
          ...(opts.title === undefined ? {} : { title: opts.title }),
          ...(opts.slice === undefined ? {} : { slices: opts.slice }),
          onProgress,
        });
      });
      if (!result.outputSet.complete) {
        // the check of the set: said whatever --quiet says, one line per problem
        for (const problem of result.outputSet.problems) {
          process.stderr.write(`diffuse-scale: warning: incomplete output set: ${problem}\n`);
        }
      }
      if (opts.quiet !== true) {
        process.stdout.write(
          `report written to ${result.path} (${result.nPlots} plots, ${result.nFigures} maps and tables` +
            `${result.nMissing > 0 ? `, ${result.nMissing} absent` : ""})\n`,
        );
      }
    });
}
