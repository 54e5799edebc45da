/**
 * The options and results of the `scale` job (`scaleDataset`), and the job's own defaults.
 *
 * @packageDocumentation
 */
import { availableParallelism } from "node:os";
import type { FitWarning, ScalesJson } from "../io/scales-json.ts";
import type { MergedDiffuse } from "../merge/merge.ts";
import type { DiffuseScalingModel, RefineParametersResult } from "../refine/diffuse-scaling-model.ts";
import type { RefinementProgress } from "../refine/joint-refinement.ts";
import { MAX_THREADS, type ScalingOptions } from "../refine/scaling-options.ts";
import type { ScaleInputPaths } from "./scale-inputs.ts";

/** A progress event of the job. */
export type ScaleDatasetProgress =
  { phase: "read" | "merge" | "write"; done: number; total: number; label: string } | RefinementProgress;

/** The `scale` job's own defaults (the refinement's are `SCALING_DEFAULTS`). */
export const SCALE_JOB_DEFAULTS = {
  /** Seed of the half-set split of the merged map. */
  seed: 0,
  /** The command line recorded in the outputs. */
  commandLine: "",
  /** Worker threads of the refinement passes, diffuse grouping and merging: every core the process may use (at most `MAX_THREADS`). */
  threads: (): number => Math.min(availableParallelism(), MAX_THREADS),
} as const;

/**
 * Options of `scaleDataset`: the inputs, the refinement knobs of {@link ScalingOptions} (defaults in
 * `SCALING_DEFAULTS`, except `threads`), the grouping limits, and the job's own settings.
 */
export interface ScaleDatasetOptions extends ScaleInputPaths, ScalingOptions {
  /**
   * Output directory (created if needed). It is checked and locked before any input is read; the outputs are
   * written as one set (all new or all previous, see `openOutputSet`).
   */
  outDir: string;
  /**
   * Worker threads for the refinement passes, for placing the diffuse rows in their groups and for merging (results are
   * bit-identical for any value).
   * @defaultValue `os.availableParallelism()` (`SCALE_JOB_DEFAULTS.threads`)
   */
  threads?: number | undefined;
  /** Seed of the half-set split: an integer in 0..2^32−1 (`MAX_SEED`). @defaultValue 0 (`SCALE_JOB_DEFAULTS.seed`) */
  seed?: number | undefined;
  /** The command line, recorded in the outputs. @defaultValue "" (`SCALE_JOB_DEFAULTS.commandLine`) */
  commandLine?: string | undefined;
  /** Progress callback. @defaultValue undefined */
  onProgress?: ((event: ScaleDatasetProgress) => void) | undefined;
  /**
   * Grouped observations larger than this many bytes (20 per observation) are paged from a scratch file instead of
   * held in memory (inputs larger than memory); the results are bit-identical either way.
   * @defaultValue a quarter of the memory the process may use (`usableMemory()`: the machine's, or a container's limit)
   */
  memoryLimitBytes?: number | undefined;
  /**
   * Directory of the scratch file of paged observations (unlinked as soon as it is open: nothing is left behind).
   * @defaultValue `os.tmpdir()`
   */
  scratchDirectory?: string | undefined;
}

/** What `scaleDataset` produced. */
export interface ScaleDatasetResult {
  /** The scales.json document. */
  scales: ScalesJson;
  /** Paths written. */
  outputs: {
    scalesJson: string;
    scaledRefl: string;
    scaledExpt: string;
    mergedDiffuse?: string;
    refinementJson: string;
    /** The self-contained HTML report. */
    report: string;
    /** The manifest of the output set (written last: each file's name, size and SHA-256). */
    manifest?: string;
  };
  /** The refined model. */
  model: DiffuseScalingModel;
  /** The refinement. */
  refinement: RefineParametersResult;
  /** The merged diffuse map, when diffuse data were given. */
  merged: MergedDiffuse | undefined;
  /** Why the fit may not be trusted (the `warnings` of scales.json; empty when nothing was found). */
  warnings: FitWarning[];
}
