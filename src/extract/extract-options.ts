/**
 * The options of the `extract` job and the one place their defaults live ({@link EXTRACT_DEFAULTS}, checked and
 * filled in once by {@link resolveExtractOptions}).
 *
 * @packageDocumentation
 */
import {
  ConfigError,
  requireArrayArgument,
  requireFunctionArgument,
  requireObjectArgument,
  requireStringArgument,
} from "../errors.ts";

/** One progress event of the extraction: stills done, and the pixel rate so far. */
export interface ExtractProgressEvent {
  readonly phase: "extract";
  /** Stills done. */
  readonly done: number;
  /** Stills in all. */
  readonly total: number;
  /** The last still done (its experiment identifier) and the rate, for a progress bar. */
  readonly label: string;
  /** Pixels read and binned per second of wall time so far. */
  readonly pixelsPerSecond: number;
}

/** Options of `extractDiffuse`. */
export interface ExtractOptions {
  /** DIALS experiment lists (`stills_process` output); their experiments in order are the still ids 0, 1, … */
  expt: readonly string[];
  /** Reflection tables with a `bbox` column, matched to the experiments by identifier. */
  refl: readonly string[];
  /** Voxels per reciprocal-lattice unit. */
  ndiv: number;
  /** High-resolution limit (Å). */
  dMin: number;
  /** Low-resolution limit (Å). @defaultValue undefined (none) */
  dMax?: number | undefined;
  /** Output `.h5` (the binned diffuse layout `scale` reads). */
  outPath: string;
  /** User mask `.npy` (`(slow, fast)` or `(panels, slow, fast)`, nonzero = use). @defaultValue undefined */
  maskPath?: string | undefined;
  /** Constant background image `.npy`, subtracted from every still's counts. @defaultValue undefined */
  backgroundPath?: string | undefined;
  /** Pixels by which every Bragg box grows on each side. @defaultValue 0 */
  braggMaskGrow?: number | undefined;
  /** Divide by the polarization factor. @defaultValue true */
  polarization?: boolean | undefined;
  /** Divide by the pixel's relative solid angle. @defaultValue true */
  solidAngle?: boolean | undefined;
  /** Divide by the detector quantum efficiency where the panel has μ and a thickness. @defaultValue true */
  qe?: boolean | undefined;
  /** Worker threads (1: in the calling thread); the output is the same for any value. @defaultValue 1 */
  threads?: number | undefined;
  /** Progress, one call per still. @defaultValue undefined */
  onProgress?: ((event: ExtractProgressEvent) => void) | undefined;
}

/** {@link ExtractOptions} with every default filled in. */
export interface ResolvedExtractOptions {
  readonly expt: readonly string[];
  readonly refl: readonly string[];
  readonly ndiv: number;
  readonly dMin: number;
  readonly dMax: number | undefined;
  readonly outPath: string;
  readonly maskPath: string | undefined;
  readonly backgroundPath: string | undefined;
  readonly braggMaskGrow: number;
  readonly polarization: boolean;
  readonly solidAngle: boolean;
  readonly qe: boolean;
  readonly threads: number;
  readonly onProgress: ((event: ExtractProgressEvent) => void) | undefined;
}

/** The defaults of {@link ExtractOptions}. */
export const EXTRACT_DEFAULTS = {
  braggMaskGrow: 0,
  polarization: true,
  solidAngle: true,
  qe: true,
  threads: 1,
} as const;

/** The most worker threads `extract` starts. */
export const MAX_EXTRACT_THREADS = 256;

/**
 * Checks the options and fills in the defaults.
 *
 * @throws {@link ConfigError} naming the option at fault
 */
export function resolveExtractOptions(options: ExtractOptions): ResolvedExtractOptions {
  requireObjectArgument(options, "extract options");
  for (const key of ["expt", "refl"] as const) {
    requireArrayArgument(options[key], `extract options: ${key} (paths)`);
    options[key].forEach((path, i) => {
      requireStringArgument(path, `extract options: ${key}[${i}]`);
    });
  }
  for (const key of ["maskPath", "backgroundPath"] as const)
    if (options[key] !== undefined) requireStringArgument(options[key], `extract options: ${key}`);
  if (options.onProgress !== undefined) requireFunctionArgument(options.onProgress, "extract options: onProgress");
  if (options.expt.length === 0) throw new ConfigError("--expt: at least one experiment list is needed");
  if (options.refl.length !== options.expt.length) {
    throw new ConfigError(`--refl: ${options.refl.length} reflection files for ${options.expt.length} --expt files`);
  }
  if (!Number.isInteger(options.ndiv) || options.ndiv < 1) {
    throw new ConfigError(`--ndiv must be a positive integer, got ${options.ndiv}`);
  }
  if (!(options.dMin > 0 && Number.isFinite(options.dMin))) {
    throw new ConfigError(`--dmin must be positive, got ${options.dMin}`);
  }
  if (options.dMax !== undefined && !(options.dMax > options.dMin)) {
    throw new ConfigError(`--dmax must be larger than --dmin, got ${options.dMax} ≤ ${options.dMin}`);
  }
  if (typeof options.outPath !== "string" || options.outPath === "") throw new ConfigError("--out is required");
  const braggMaskGrow = options.braggMaskGrow ?? EXTRACT_DEFAULTS.braggMaskGrow;
  if (!Number.isInteger(braggMaskGrow) || braggMaskGrow < 0) {
    throw new ConfigError(`--bragg-mask-grow must be a non-negative integer, got ${braggMaskGrow}`);
  }
  const threads = options.threads ?? EXTRACT_DEFAULTS.threads;
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_EXTRACT_THREADS) {
    throw new ConfigError(`--threads must be an integer in 1..${MAX_EXTRACT_THREADS}, got ${threads}`);
  }
  return {
    expt: [...options.expt],
    refl: [...options.refl],
    ndiv: options.ndiv,
    dMin: options.dMin,
    dMax: options.dMax,
    outPath: options.outPath,
    maskPath: options.maskPath,
    backgroundPath: options.backgroundPath,
    braggMaskGrow,
    polarization: options.polarization ?? EXTRACT_DEFAULTS.polarization,
    solidAngle: options.solidAngle ?? EXTRACT_DEFAULTS.solidAngle,
    qe: options.qe ?? EXTRACT_DEFAULTS.qe,
    threads,
    onProgress: options.onProgress,
  };
}
