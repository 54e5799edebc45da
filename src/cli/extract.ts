/**
 * `diffuse-scale extract`: wiring of `extractDiffuse` (no maths here; the job is imported only when the command runs).
 *
 * @packageDocumentation
 */
import { availableParallelism } from "node:os";
import type { Command } from "commander";
import { EXTRACT_DEFAULTS, MAX_EXTRACT_THREADS } from "../extract/extract-options.ts";
import { withProgress } from "./progress.ts";
import { integerInRange, positiveInt, positiveNumber } from "./option-parsers.ts";

interface ExtractCliOptions {
  expt: string[];
  refl: string[];
  ndiv: number;
  dmin: number;
  dmax?: number;
  out: string;
  mask?: string;
  background?: string;
  braggMaskGrow: number;
  polarization: boolean;
  solidAngle: boolean;
  qe: boolean;
  threads?: number;
  quiet?: boolean;
  json?: boolean;
}

/** Registers the `extract` command. */
export function registerExtract(program: Command): void {
  program
    .command("extract")
    .description(
      "read the images of indexed stills (.expt + .refl from dials.stills_process), mask, correct and bin every pixel into ASU voxels per still",
    )
    .requiredOption("--expt <files...>", "DIALS experiment lists (.expt) whose imagesets name the images")
    .requiredOption(
      "--refl <files...>",
      "DIALS reflection tables (.refl) with bbox, one per --expt, matched by identifier",
    )
    .requiredOption("--ndiv <n>", "voxels per reciprocal-lattice unit", positiveInt("--ndiv"))
    .requiredOption("--dmin <d>", "high-resolution limit (Å)", positiveNumber("--dmin"))
    .option("--dmax <d>", "low-resolution limit (Å)", positiveNumber("--dmax"))
    .requiredOption("--out <file>", "output .h5 (the binned layout scale --diffuse reads)")
    .option("--mask <file>", "user mask .npy, (slow, fast) or (panels, slow, fast), nonzero = use the pixel")
    .option("--background <file>", "constant background image .npy (counts), subtracted from every still")
    .option(
      "--bragg-mask-grow <n>",
      "grow every Bragg bbox by n pixels on each side",
      integerInRange("--bragg-mask-grow", 0, 1000),
      EXTRACT_DEFAULTS.braggMaskGrow,
    )
    .option("--no-polarization", "do not divide by the polarization factor")
    .option("--no-solid-angle", "do not divide by the pixel's relative solid angle")
    .option("--no-qe", "do not divide by the detector quantum efficiency")
    .option(
      "--threads <n>",
      "worker threads (default: every core)",
      integerInRange("--threads", 1, MAX_EXTRACT_THREADS),
    )
    .option("--quiet", "no progress bar")
    .option("--json", "print a JSON summary on stdout")
    .addHelpText(
      "after",
      `
Examples:
  $ diffuse-scale extract --expt integrated.expt --refl integrated.refl --ndiv 2 --dmin 1.8 --out binned.h5
  $ diffuse-scale extract --expt a.expt b.expt --refl a.refl b.refl --ndiv 2 --dmin 1.8 --mask mask.npy --out binned.h5`,
    )
    .action(async (opts: ExtractCliOptions) => {
      const summary = await withProgress(opts.quiet === true || opts.json === true, async (onProgress) => {
        const { extractDiffuse } = await import("../extract/extract-diffuse.ts");
        return extractDiffuse({
          expt: opts.expt,
          refl: opts.refl,
          ndiv: opts.ndiv,
          dMin: opts.dmin,
          dMax: opts.dmax,
          outPath: opts.out,
          maskPath: opts.mask,
          backgroundPath: opts.background,
          braggMaskGrow: opts.braggMaskGrow,
          polarization: opts.polarization,
          solidAngle: opts.solidAngle,
          qe: opts.qe,
          threads: opts.threads ?? Math.min(availableParallelism(), MAX_EXTRACT_THREADS),
          onProgress,
        });
      });
      if (opts.json === true) process.stdout.write(`${JSON.stringify(summary)}\n`);
      else if (opts.quiet !== true) {
        process.stderr.write(
          `extracted ${summary.rows} rows from ${summary.used} of ${summary.pixels} pixels of ${summary.stills} stills (${(summary.pixelsPerSecond / 1e6).toFixed(1)} Mpx/s, ${summary.cpuSeconds.toFixed(2)} s of CPU) → ${opts.out}\n`,
        );
      }
    });
}
