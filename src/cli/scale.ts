/**
 * `diffuse-scale scale`: wiring of `scaleDataset` (no maths here).
 *
 * @packageDocumentation
 */
import { Option, type Command } from "commander";
import { MAX_THREADS, SCALING_DEFAULTS } from "../refine/scaling-options.ts";
import { SCALE_JOB_DEFAULTS } from "../job/scale-dataset-options.ts";
import { withProgress } from "./progress.ts";
import { parsedArgv } from "./argv.ts";
import { integerInRange, nonNegativeNumber, positiveInt, positiveNumber, seedFlag } from "./option-parsers.ts";

/** Options as commander parses them. */
interface ScaleCliOptions {
  expt: string;
  refl: string;
  diffuse?: string;
  config?: string;
  smootherPoints?: number;
  minimizer: "lm" | "gauss_newton";
  out: string;
  maxIterations: number;
  tolerance: number;
  zmax: number;
  seed: number;
  quiet?: boolean;
  json?: boolean;
  threads?: number;
  memoryLimit?: number;
  scratchDir?: string;
}

/** Registers the `scale` command. */
export function registerScale(program: Command): void {
  program
    .command("scale")
    .description("refine one multiplicative scale per still on Bragg (+ diffuse) data and merge the diffuse map")
    .requiredOption("--expt <file>", "DIALS experiment list (.expt), one experiment per still")
    .requiredOption("--refl <file>", "DIALS integrated reflections (.refl) with partiality")
    .option("--diffuse <file>", "binned diffuse observations (.h5, flat layout)")
    .option("--config <file>", "model configuration (JSON, snake_case keys)")
    .option(
      "--smoother-points <n>",
      "enable the resolution smoother with n control points (2, 3 or 5)",
      positiveInt("--smoother-points"),
    )
    .addOption(
      new Option("--minimizer <name>", "minimiser").choices(["lm", "gauss_newton"]).default(SCALING_DEFAULTS.minimizer),
    )
    .option("--out <dir>", "output directory", "scaled")
    .option(
      "--max-iterations <n>",
      "maximum iterations per refinement cycle",
      positiveInt("--max-iterations"),
      SCALING_DEFAULTS.maxIterations,
    )
    .option(
      "--tolerance <x>",
      "relative RMSD change for convergence",
      nonNegativeNumber("--tolerance"),
      SCALING_DEFAULTS.convergenceTolerance,
    )
    .option(
      "--zmax <z>",
      "outlier rejection threshold (0 disables)",
      nonNegativeNumber("--zmax"),
      SCALING_DEFAULTS.outlierZmax,
    )
    .option(
      "--seed <n>",
      "seed of the half-set split of the merged map (an integer in 0..4294967295)",
      seedFlag("--seed"),
      SCALE_JOB_DEFAULTS.seed,
    )
    .option(
      "--threads <n>",
      `worker threads for the refinement passes, 1..${MAX_THREADS} (default: all cores; results are identical for any n)`,
      integerInRange("--threads", 1, MAX_THREADS),
    )
    .option(
      "--memory-limit <GiB>",
      "keep the grouped observations in memory up to this size; above it they are paged from a scratch file " +
        "(default: a quarter of the memory the process may use, container limits included; results are identical either way)",
      positiveNumber("--memory-limit"),
    )
    .option("--scratch-dir <dir>", "directory of the scratch file of paged observations (default: the system's temp)")
    .option("--quiet", "no progress bars, no summary and no warnings on stderr")
    .option("--json", "print the scales.json summary on stdout")
    .addHelpText(
      "after",
      `
Examples:
  $ diffuse-scale scale --expt stills.expt --refl stills.refl --out scaled
  $ diffuse-scale scale --expt stills.expt --refl stills.refl --diffuse diffuse_binned.h5 --smoother-points 3
  $ diffuse-scale scale --expt stills.expt --refl stills.refl --diffuse binned.h5 --config model.json --json
  $ diffuse-scale scale --expt stills.expt --refl stills.refl --diffuse huge.h5 --memory-limit 4 --scratch-dir /fast/tmp

Outputs in --out: scales.json, scaled.refl, scaled.expt, refinement.json, merged_diffuse.h5 (with --diffuse).
Exit codes: 0 success, 2 bad input or configuration, 1 refinement failure.`,
    )
    .action(runScale);
}

/**
 * The `scale` action: runs the job with progress bars, then prints its summary (or scales.json with --json) and its
 * warnings on stderr, one line each (none with --quiet; scales.json and the --json output hold them too).
 */
async function runScale(opts: ScaleCliOptions, command: Command): Promise<void> {
  const result = await withProgress(opts.quiet === true || opts.json === true, async (onProgress) => {
    const { scaleDataset } = await import("../job/scale-dataset.ts");
    return scaleDataset({
      exptPath: opts.expt,
      reflPath: opts.refl,
      diffusePath: opts.diffuse,
      configPath: opts.config,
      smootherPoints: opts.smootherPoints,
      minimizer: opts.minimizer,
      outDir: opts.out,
      maxIterations: opts.maxIterations,
      convergenceTolerance: opts.tolerance,
      outlierZmax: opts.zmax,
      seed: opts.seed,
      threads: opts.threads,
      memoryLimitBytes: opts.memoryLimit === undefined ? undefined : Math.round(opts.memoryLimit * 2 ** 30),
      scratchDirectory: opts.scratchDir,
      commandLine: ["diffuse-scale", ...parsedArgv(command).slice(2)].join(" "),
      onProgress,
    });
  });
  if (opts.json === true) {
    process.stdout.write(`${JSON.stringify(result.scales)}\n`);
  } else if (opts.quiet !== true) {
    const s = result.scales.refinement_statistics;
    process.stderr.write(
      `scaled ${Object.keys(result.scales.refined_parameters).length} stills: R ${s.initial_r_factor.toFixed(4)} → ${s.final_r_factor.toFixed(4)}, ` +
        `${s.n_iterations} iterations, ${s.convergence_achieved ? "converged" : "NOT converged"}; outputs in ${opts.out}\n`,
    );
  }
  if (opts.quiet !== true) {
    for (const w of result.warnings) process.stderr.write(`warning: ${w.message} [${w.code}]\n`);
  }
}
