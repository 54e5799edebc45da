/**
 * `diffuse-scale simulate`: wiring of `simulateDataset` (no maths here).
 *
 * @packageDocumentation
 */
import type { Command } from "commander";
import { ConfigError } from "../errors.ts";
import type { SimulateResult } from "../simulate/simulate-dataset.ts";
import { parsedArgv } from "./argv.ts";
import { runJob, type JobRequest } from "./job-thread.ts";
import { withProgress } from "./progress.ts";
import { integerFlag, numberFlag, seedFlag } from "./option-parsers.ts";

function cellFlag(v: string): number[] {
  const parts = v.split(",").map((s) => s.trim());
  const values = parts.map(Number);
  if (parts.length !== 6 || parts.some((s) => s === "") || !values.every((x) => Number.isFinite(x))) {
    throw new ConfigError(`--cell must be 6 comma-separated numbers a,b,c,alpha,beta,gamma, got "${v}"`);
  }
  return values;
}

/** Registers the `simulate` command. */
export function registerSimulate(program: Command): void {
  program
    .command("simulate")
    .description(
      "simulate serial stills with Bragg and diffuse scattering: writes stills.expt, stills.refl, diffuse_binned.h5 and truth.json",
    )
    .requiredOption("--stills <n>", "number of stills (1..500000)", integerFlag("--stills"))
    .requiredOption(
      "--observations-per-still <m>",
      "diffuse observations per still",
      integerFlag("--observations-per-still"),
    )
    .option("--space-group <symbol>", "space group: H-M symbol, number, or 'Hall: ...'", "P 43 21 2")
    .option("--cell <a,b,c,al,be,ga>", "unit cell (Å, degrees)", cellFlag, [79.1, 79.1, 37.9, 90, 90, 90])
    .option("--seed <s>", "random seed (an integer in 0..4294967295)", seedFlag("--seed"), 0)
    .option(
      "--smoother-amp <A>",
      "amplitude of the true resolution factor 1 + A·x/(1+x), in (-1, 1000]",
      numberFlag("--smoother-amp"),
      0,
    )
    .option(
      "--noise <F>",
      "noise scale, in [0, 1000]: variance (mean + 30)·F² (Bragg), (mean + 5)·F² (diffuse)",
      numberFlag("--noise"),
      1,
    )
    .option(
      "--bragg-error-b <b>",
      "misreported Bragg σ: the true noise gains (b·I)², the reported variance lacks it; in [0, 10]",
      numberFlag("--bragg-error-b"),
      0, // SIMULATE_DEFAULTS.braggErrorB (not imported: the CLI entry loads commander only)
    )
    .option(
      "--bragg-sigma-factor <f>",
      "misreported Bragg σ: reported σ = counting σ × f, in (0, 1000]",
      numberFlag("--bragg-sigma-factor"),
      1, // SIMULATE_DEFAULTS.braggSigmaFactor
    )
    .option(
      "--diffuse-sigma-factor <f>",
      "misreported diffuse σ: reported σ = true σ × f, in (0, 1000]",
      numberFlag("--diffuse-sigma-factor"),
      1, // SIMULATE_DEFAULTS.diffuseSigmaFactor
    )
    .option("--dmin <d>", "resolution limit (Å)", numberFlag("--dmin"), 2.0)
    .option("--ndiv <n>", "voxels per reciprocal-lattice unit", integerFlag("--ndiv"), 2)
    .option("--no-compression", "write diffuse_binned.h5 without deflate (faster, larger)")
    .requiredOption("--out <dir>", "output directory (created if needed)")
    .option("--quiet", "no progress bars")
    .option("--json", "print a JSON summary on stdout")
    .addHelpText(
      "after",
      `
Model (as the DIALS/cctbx reference simulator): true per-still scales b_i log-normal (σ 0.35);
Bragg I = b_i·a(|q|)·p·I_true + noise, p = exp(-(Δψ/0.0025)²) > 0.02; diffuse I = b_i·a(|q|)·D(voxel) + noise,
a(|q|) = 1 + A·x/(1+x), x = (|q|/0.5)². Same arguments → same bytes in every file. With misreported σ
(--bragg-error-b, --bragg-sigma-factor, --diffuse-sigma-factor) the true σ are written to truth_sigmas.npz
(bragg_true_variance per .refl row, diffuse_true_sigma per diffuse row), for scoring only.

Examples:
  $ diffuse-scale simulate --stills 20 --observations-per-still 5000 --seed 1 --out sim20
  $ diffuse-scale simulate --stills 40 --observations-per-still 20000 --smoother-amp 0.3 --noise 2 --out sim40
  $ diffuse-scale simulate --stills 1000 --observations-per-still 100000 --no-compression --out big
  $ diffuse-scale simulate --stills 60 --observations-per-still 4000 --bragg-error-b 0.06 --bragg-sigma-factor 0.8 \\
      --diffuse-sigma-factor 2.5 --out misweighted
  $ diffuse-scale simulate --stills 10 --observations-per-still 1000 --space-group 'P 21 21 21' \\
      --cell 50,60,70,90,90,90 --dmin 2.5 --ndiv 3 --out ortho`,
    )
    .action(
      async (
        opts: {
          stills: number;
          observationsPerStill: number;
          spaceGroup: string;
          cell: number[];
          seed: number;
          smootherAmp: number;
          noise: number;
          braggErrorB: number;
          braggSigmaFactor: number;
          diffuseSigmaFactor: number;
          dmin: number;
          ndiv: number;
          compression: boolean;
          out: string;
          quiet?: boolean;
          json?: boolean;
        },
        command: Command,
      ) => {
        const result = await withProgress(opts.quiet === true || opts.json === true, async (onProgress) => {
          const options: Extract<JobRequest, { kind: "simulate" }>["options"] = {
            outDir: opts.out,
            stills: opts.stills,
            observationsPerStill: opts.observationsPerStill,
            spaceGroup: opts.spaceGroup,
            cell: opts.cell,
            seed: opts.seed,
            smootherAmp: opts.smootherAmp,
            noise: opts.noise,
            braggErrorB: opts.braggErrorB,
            braggSigmaFactor: opts.braggSigmaFactor,
            diffuseSigmaFactor: opts.diffuseSigmaFactor,
            dMin: opts.dmin,
            ndiv: opts.ndiv,
            compression: opts.compression,
            commandLine: ["diffuse-scale", ...parsedArgv(command).slice(2)].join(" "),
          };
          // in a job thread, so that SIGINT/SIGTERM leave the previous outputs (see ./job-thread.ts)
          return (await runJob({ kind: "simulate", options }, onProgress)) as Pick<
            SimulateResult,
            "outputs" | "nBragg" | "nDiffuse" | "seconds"
          >;
        });
        const summary = {
          n_stills: opts.stills,
          n_bragg: result.nBragg,
          n_diffuse: result.nDiffuse,
          outputs: result.outputs,
          seconds: result.seconds,
        };
        if (opts.json === true) process.stdout.write(`${JSON.stringify(summary)}\n`);
        else if (opts.quiet !== true) {
          process.stderr.write(
            `simulated ${opts.stills} stills: ${result.nBragg} reflections, ${result.nDiffuse} diffuse observations in ${result.seconds.total.toFixed(1)} s → ${opts.out}\n`,
          );
        }
      },
    );
}
