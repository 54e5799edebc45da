/**
 * `diffuse-scale demo`: scales the bundled example dataset (`examples/`: 40 simulated stills with Bragg and diffuse
 * data, made with DIALS/cctbx) with the resolution smoother on, and writes the outputs and `report.html` to
 * `--out` (default `demo-output`). `npm start` runs it. Wiring only: the work is `scaleDataset`.
 *
 * @packageDocumentation
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Option, type Command } from "commander";
import { InputError } from "../errors.ts";
import { withProgress } from "./progress.ts";
import { parsedArgv } from "./argv.ts";

/** The bundled example files, relative to the package root. */
export const DEMO_FILES = {
  expt: "stills.expt",
  refl: "stills.refl",
  diffuse: "diffuse_binned.h5",
} as const;

/**
 * The `examples/` directory of the package (two levels above this file, both in `src/cli` and in `dist/cli`).
 *
 * @returns Its absolute path.
 */
export function examplesDir(): string {
  return fileURLToPath(new URL("../../examples/", import.meta.url));
}

/** Options as commander parses them. */
interface DemoCliOptions {
  out: string;
  smootherPoints: string;
  quiet?: boolean;
}

/** Registers the `demo` command. */
export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description("scale the bundled example dataset (Bragg + diffuse) and write an HTML report")
    .option("--out <dir>", "output directory", "demo-output")
    .addOption(
      // the values the model accepts (ALLOWED_CONTROL_POINTS of refine/config.ts, not imported here so that the CLI
      // starts without the config schema; a test keeps them equal). choices() checks the value only while no
      // argParser replaces its parser, so the action converts it.
      new Option("--smoother-points <n>", "control points of the resolution smoother")
        .choices(["2", "3", "5"])
        .default("5"),
    )
    .option("--quiet", "no progress bars")
    .addHelpText(
      "after",
      `
Examples:
  $ diffuse-scale demo
  $ npm start
  $ diffuse-scale demo --out /tmp/demo --smoother-points 3

Data: examples/ (40 simulated stills, P 43 21 2, 15,801 Bragg reflections, 200,159 diffuse observations;
see examples/README.md). Outputs: the files of \`diffuse-scale scale\` and report.html in --out.`,
    )
    .action(async (opts: DemoCliOptions, command: Command) => {
      const rawArgs = parsedArgv(command);
      const dir = examplesDir();
      const paths = {
        expt: join(dir, DEMO_FILES.expt),
        refl: join(dir, DEMO_FILES.refl),
        diffuse: join(dir, DEMO_FILES.diffuse),
      };
      for (const p of Object.values(paths)) {
        if (!existsSync(p)) throw new InputError("bundled example file is missing (reinstall the package)", p);
      }
      const result = await withProgress(opts.quiet === true, async (onProgress) => {
        const { scaleDataset } = await import("../job/scale-dataset.ts");
        return scaleDataset({
          exptPath: paths.expt,
          reflPath: paths.refl,
          diffusePath: paths.diffuse,
          smootherPoints: Number(opts.smootherPoints),
          outDir: opts.out,
          commandLine: ["diffuse-scale", ...rawArgs.slice(2)].join(" "),
          onProgress,
        });
      });
      const s = result.scales.refinement_statistics;
      process.stdout.write(
        `demo: scaled ${Object.keys(result.scales.refined_parameters).length} stills on Bragg + diffuse data with a ` +
          `${opts.smootherPoints}-point resolution smoother: R ${s.initial_r_factor.toFixed(4)} → ` +
          `${s.final_r_factor.toFixed(4)} in ${s.n_iterations} iterations` +
          `${s.convergence_achieved ? "" : " (NOT converged)"}\n` +
          `report: ${resolve(result.outputs.report)}\n`,
      );
    });
}
