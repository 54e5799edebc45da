/**
 * `diffuse-scale voxelize`: wiring of `voxelizeFiles` (no maths here).
 *
 * @packageDocumentation
 */
import type { Command } from "commander";
import { ConfigError } from "../errors.ts";
import type { VoxelizeSummary } from "../job/voxelize-files.ts";
import { runJob } from "./job-thread.ts";
import { withProgress } from "./progress.ts";
import { positiveInt, positiveNumber } from "./option-parsers.ts";

/** Registers the `voxelize` command. */
export function registerVoxelize(program: Command): void {
  program
    .command("voxelize")
    .description("bin per-still diffuse pixel observations (.npz) into ASU voxels using each still's own orientation")
    .requiredOption("--expt <file>", "DIALS experiment list (.expt), one experiment per still")
    .requiredOption("--pixels <files...>", "per-still .npz files or glob patterns (quote them: 'pixels/*.npz')")
    .requiredOption("--ndiv <n>", "voxels per reciprocal-lattice unit", positiveInt("--ndiv"))
    .requiredOption("--dmin <d>", "high-resolution limit (Å)", positiveNumber("--dmin"))
    .option("--dmax <d>", "low-resolution limit (Å)", positiveNumber("--dmax"))
    .requiredOption("--out <file>", "output .h5 (flat binned layout)")
    .option("--quiet", "no progress bars")
    .option("--json", "print a JSON summary on stdout")
    .addHelpText(
      "after",
      `
Examples:
  $ diffuse-scale voxelize --expt stills.expt --pixels 'pixels/*.npz' --ndiv 2 --dmin 2.0 --out binned.h5
  $ diffuse-scale voxelize --expt stills.expt --pixels a.npz b.npz --ndiv 4 --dmin 1.5 --dmax 20 --out binned.h5`,
    )
    .action(
      async (opts: {
        expt: string;
        pixels: string[];
        ndiv: number;
        dmin: number;
        dmax?: number;
        out: string;
        quiet?: boolean;
        json?: boolean;
      }) => {
        if (!Number.isInteger(opts.ndiv)) throw new ConfigError(`--ndiv must be an integer, got ${opts.ndiv}`);
        const summary = await withProgress(opts.quiet === true || opts.json === true, async (onProgress) => {
          const options = {
            exptPath: opts.expt,
            pixels: opts.pixels,
            ndiv: opts.ndiv,
            dMin: opts.dmin,
            ...(opts.dmax === undefined ? {} : { dMax: opts.dmax }),
            outPath: opts.out,
          };
          // in a job thread, so that SIGINT/SIGTERM leave the previous file (see ./job-thread.ts)
          return (await runJob({ kind: "voxelize", options }, onProgress)) as VoxelizeSummary;
        });
        if (opts.json === true) process.stdout.write(`${JSON.stringify(summary)}\n`);
        else if (opts.quiet !== true) {
          process.stderr.write(
            `binned ${summary.nBinned} of ${summary.nObservations} observations from ${summary.nFiles} files into ${summary.nVoxels} voxels → ${opts.out}\n`,
          );
        }
      },
    );
}
