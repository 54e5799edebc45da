/**
 * `diffuse-scale scale`: wiring of `scaleDataset` (no maths here).
 *
 * @packageDocumentation
 */
import { Option, type Command } from "commander";
import { MAX_THREADS, SCALING_DEFAULTS } from "../refine/scaling-options.ts";
import { SCALE_JOB_DEFAULTS } from "../job/scale-dataset-options.ts";
import type { FitWarning, ScalesJson } from "../io/scales-json.ts";
import { runJob, type JobRequest } from "./job-thread.ts";
import { withProgress } from "./progress.ts";
import { parsedArgv } from "./argv.ts";
import { integerInRange, nonNegativeNumber, positiveInt, positiveNumber, seedFlag } from "./option-parsers.ts";
import { ConfigError } from "../errors.ts";
import { detectDialsFileKind } from "./inspect.ts";

/** Collects a repeatable option's values in the order given. */
function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/**
 * The `.expt` and `.refl` files of the job: those of `--expt`/`--refl` first, then the positional files, each sorted
 * into its kind by its content (as dials.scale takes `a.expt b.expt a.refl b.refl`), in the order given.
 */
async function inputFiles(
  positional: readonly string[],
  opts: ScaleCliOptions,
): Promise<{ expt: string[]; refl: string[] }> {
  const expt = [...opts.expt];
  const refl = [...opts.refl];
  for (const file of positional) {
    if ((await detectDialsFileKind(file)) === "experiments") expt.push(file);
    else refl.push(file);
  }
  if (expt.length === 0) {
    throw new ConfigError("required option '--expt <file>' not specified (or give the .expt files as arguments)");
  }
  if (refl.length === 0) {
    throw new ConfigError("required option '--refl <file>' not specified (or give the .refl files as arguments)");
  }
  return { expt, refl };
}

/** Options as commander parses them. */
interface ScaleCliOptions {
  expt: string[];
  refl: string[];
  diffuse?: string;
  config?: string;
  smootherPoints?: number;
  minimizer: "lm" | "gauss_newton";
  out: string;
  maxIterations: number;
  tolerance: number;
  zmax: number;
  errorModel?: "basic" | "none";
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
    .argument("[files...]", "DIALS .expt and .refl files, as dials.scale takes them (sorted by content)")
    .option("--expt <file>", "DIALS experiment list (.expt), one experiment per still (repeatable)", collect, [])
    .option("--refl <file>", "DIALS integrated reflections (.refl) with partiality (repeatable)", collect, [])
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
    .addOption(
      new Option(
        "--error-model <kind>",
        `error model per data class: basic (DIALS's a, b refined) or none (σ as given); default ${SCALING_DEFAULTS.errorModel}, or the config's error_model`,
      ).choices(["basic", "none"]),
    )
    .option(
      "--seed <n>",
      "seed of the half-set split of the merged map (an integer in 0..4294967295)",
      seedFlag("--seed"),
      SCALE_JOB_DEFAULTS.seed,
    )
    .option(
      "--threads <n>",
      `worker threads for the refinement passes, grouping and merging the diffuse rows, 1..${MAX_THREADS} (default: all cores; results are identical for any n)`,
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
  $ diffuse-scale scale run1.expt run2.expt run1.refl run2.refl --diffuse binned.h5

Several .expt/.refl files are combined as dials.scale combines them: reflections are matched to experiments by
their experiment identifiers.
Outputs in --out: scales.json, scaled.refl, scaled.expt, refinement.json, merged_diffuse.h5 (with --diffuse),
report.html and manifest.json, written as one set: --out holds the complete previous set or the complete new one.
Exit codes: 0 success, 2 bad input, configuration or output directory, 1 refinement failure, 130/143 interrupted.`,
    )
    .action(runScale);
}

/**
 * The `scale` action: runs the job with progress bars, then prints its summary (or scales.json with --json) and its
 * warnings on stderr, one line each (none with --quiet; scales.json and the --json output hold them too).
 */
async function runScale(positional: string[], opts: ScaleCliOptions, command: Command): Promise<void> {
  const files = await inputFiles(positional, opts);
  const result = await withProgress(opts.quiet === true || opts.json === true, async (onProgress) => {
    const options: Extract<JobRequest, { kind: "scale" }>["options"] = {
      // one file stays a string: recorded in refinement.json as before
      exptPath: files.expt.length === 1 ? files.expt[0] : files.expt,
      reflPath: files.refl.length === 1 ? files.refl[0] : files.refl,
      diffusePath: opts.diffuse,
      configPath: opts.config,
      smootherPoints: opts.smootherPoints,
      minimizer: opts.minimizer,
      outDir: opts.out,
      maxIterations: opts.maxIterations,
      convergenceTolerance: opts.tolerance,
      outlierZmax: opts.zmax,
      errorModel: opts.errorModel,
      seed: opts.seed,
      threads: opts.threads,
      memoryLimitBytes: opts.memoryLimit === undefined ? undefined : Math.round(opts.memoryLimit * 2 ** 30),
      scratchDirectory: opts.scratchDir,
      commandLine: ["diffuse-scale", ...parsedArgv(command).slice(2)].join(" "),
    };
    // in a job thread, so that SIGINT/SIGTERM leave the previous outputs (see ./job-thread.ts)
    return (await runJob({ kind: "scale", options }, onProgress)) as { scales: ScalesJson; warnings: FitWarning[] };
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
