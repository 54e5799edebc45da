/**
 * Options of the stills simulator, their defaults (those of the reference simulator), and their validation into a
 * resolved form: the space group from a Hermann–Mauguin symbol, an International Tables number or `Hall:…`, and a unit
 * cell checked against the group's metric symmetry. Every failure is a one-line {@link ConfigError} naming the
 * command-line flag.
 *
 * @packageDocumentation
 */
import { ConfigError, requireObjectArgument } from "../errors.ts";
import { orthogonalizationMatrix, type UnitCell } from "../geometry/unit-cell.ts";
import { checkSeed } from "../merge/seeded-random.ts";
import { SPACE_GROUP_TABLE } from "../symmetry/space-group-table.ts";
import { SpaceGroup } from "../symmetry/space-group.ts";

/** A simulator progress event (one per still and phase). */
export interface SimulateProgress {
  /** `"bragg"` (predicting and writing reflections), `"diffuse"` (generating diffuse observations), `"write"`. */
  phase: "bragg" | "diffuse" | "write";
  /** Units done. */
  done: number;
  /** Units in all. */
  total: number;
  /** What is being done. */
  label: string;
}

/** Options of `simulateDataset` (the `diffuse-scale simulate` command). */
export interface SimulateOptions {
  /** Output directory (created if needed). */
  outDir: string;
  /** Number of stills (`--stills`), 1..500 000 ({@link MAX_SIMULATED_STILLS}). */
  stills: number;
  /** Diffuse observations per still (`--observations-per-still`), ≥ 1; stills × this ≤ 2^31 − 1 ({@link MAX_SIMULATED_OBSERVATIONS}). */
  observationsPerStill: number;
  /** Space group: H–M symbol, number or `Hall: …` (`--space-group`). @defaultValue "P 43 21 2" */
  spaceGroup?: string;
  /**
   * Unit cell a, b, c (Å, each in 1..10000), α, β, γ (°) (`--cell`); the Miller-index box it spans at `dMin` at most
   * 2^26 ({@link MAX_SIMULATED_HKL_BOX}). @defaultValue [79.1, 79.1, 37.9, 90, 90, 90]
   */
  cell?: readonly number[];
  /** Random seed, integer in [0, 2^32) (`--seed`). @defaultValue 0 */
  seed?: number;
  /** Amplitude A of the true resolution factor a(|q|) = 1 + A·x/(1+x) (`--smoother-amp`), in (−1, 1000]. @defaultValue 0 */
  smootherAmp?: number;
  /** Noise scale F: variances (mean + 30)·F² (Bragg), (mean + 5)·F² (diffuse) (`--noise`), in [0, 1000]. @defaultValue 1 */
  noise?: number;
  /** Resolution limit d_min, Å (`--dmin`), > 0. @defaultValue 2.0 */
  dMin?: number;
  /** Voxels per reciprocal-lattice unit (`--ndiv`), integer 1..64. @defaultValue 2 */
  ndiv?: number;
  /** Deflate-compress `diffuse_binned.h5`. @defaultValue true */
  compression?: boolean;
  /**
   * Misreported Bragg errors: the true Bragg noise gains a `(b·I)²` term (I the mean) that the reported variance lacks
   * (`--bragg-error-b`), in [0, 10]. @defaultValue 0
   */
  braggErrorB?: number;
  /** Misreported Bragg errors: reported σ = counting σ × this (`--bragg-sigma-factor`), in (0, 1000]. @defaultValue 1 */
  braggSigmaFactor?: number;
  /** Misreported diffuse errors: reported σ = true σ × this (`--diffuse-sigma-factor`), in (0, 1000]. @defaultValue 1 */
  diffuseSigmaFactor?: number;
  /** Progress callback. @defaultValue undefined */
  onProgress?: (event: SimulateProgress) => void;
  /** The command line, recorded in the output set's manifest. @defaultValue "" */
  commandLine?: string;
}

/** Validated options with defaults filled in. */
export interface ResolvedSimulation {
  /** Output directory. */
  outDir: string;
  /** Number of stills. */
  stills: number;
  /** Diffuse observations per still. */
  observationsPerStill: number;
  /** The space group text as given. */
  spaceGroupText: string;
  /** The space group. */
  spaceGroup: SpaceGroup;
  /** The unit cell. */
  cell: UnitCell;
  /** Seed. */
  seed: number;
  /** Smoother amplitude A. */
  smootherAmp: number;
  /** Noise scale F. */
  noise: number;
  /** d_min, Å. */
  dMin: number;
  /** Voxel subdivision. */
  ndiv: number;
  /** Compress the HDF5 datasets. */
  compression: boolean;
  /** The b of the true Bragg noise the reported variance lacks. */
  braggErrorB: number;
  /** Reported Bragg σ / counting σ. */
  braggSigmaFactor: number;
  /** Reported diffuse σ / true σ. */
  diffuseSigmaFactor: number;
}

/** The reference simulator's defaults. */
export const SIMULATE_DEFAULTS = {
  spaceGroup: "P 43 21 2",
  cell: [79.1, 79.1, 37.9, 90, 90, 90] as readonly number[],
  seed: 0,
  smootherAmp: 0,
  noise: 1,
  dMin: 2.0,
  ndiv: 2,
  braggErrorB: 0,
  braggSigmaFactor: 1,
  diffuseSigmaFactor: 1,
} as const;

/**
 * Upper bound on stills × observations: the most rows one scaling job holds (`MAX_OBSERVATIONS`, 32-bit row offsets),
 * 64 GiB of `diffuse_binned.h5`.
 */
export const MAX_SIMULATED_OBSERVATIONS = 2 ** 31 - 1;

/** Shortest and longest cell edge (Å) `--cell` may give: from small molecules to the largest viruses. */
export const SIMULATED_CELL_LENGTH_RANGE = [1, 10_000] as const;

/**
 * The most Miller indices the simulator enumerates: (2⌈a/d_min⌉ + 1)(2⌈b/d_min⌉ + 1)(2⌈c/d_min⌉ + 1), the box it
 * searches for reflections (the defaults: 81 · 81 · 39 ≈ 2.6e5; 2^26 is a 400 Å cube at 2 Å, some seconds).
 */
export const MAX_SIMULATED_HKL_BOX = 2 ** 26;

/**
 * The most stills one simulation writes: `stills.expt` is one JSON text of about 650 characters per still, and a
 * JavaScript string holds at most 2^29 − 24 characters (about 800 000 stills); `stills.refl` takes about 65 kB per
 * still at the defaults. Larger requests are refused before anything is allocated.
 */
export const MAX_SIMULATED_STILLS = 500_000;

/**
 * The largest `--smoother-amp` and `--noise`: the true factor a(|q|) then lies in (0, 1001] and the variances stay far
 * from float32's range, so every written intensity and σ is finite.
 */
export const MAX_SIMULATION_FACTOR = 1000;

function squash(s: string): string {
  return s.replace(/\s+/g, "").toLowerCase();
}

/**
 * The space group of `--space-group`: `"Hall: <symbol>"`, an International Tables number, or a reference-setting
 * Hermann–Mauguin symbol (spaces and case ignored when that is unambiguous, e.g. `"P43212"`).
 *
 * @param text - the flag value
 * @returns the space group (its `hall` is the table's Hall symbol, as DIALS writes it, for numbers and symbols)
 * @throws {@link ConfigError} naming `--space-group`
 */
export function resolveSpaceGroup(text: string): SpaceGroup {
  const t = text.trim();
  if (t === "") throw new ConfigError("--space-group must not be empty");
  if (/^hall\s*:/i.test(t)) {
    const hall = t.replace(/^hall\s*:/i, "");
    try {
      return SpaceGroup.fromHall(hall.startsWith(" ") || hall.startsWith("-") ? hall : ` ${hall.trim()}`);
    } catch (error) {
      throw new ConfigError(`--space-group: ${(error as Error).message}`);
    }
  }
  if (/^\d+$/.test(t)) {
    const n = Number(t);
    if (n < 1 || n > 230) throw new ConfigError(`--space-group number must be in 1..230, got ${t}`);
    return SpaceGroup.fromNumber(n);
  }
  const norm = t.replace(/\s+/g, " ");
  const exact = SPACE_GROUP_TABLE.find((e) => e.symbol === norm);
  if (exact !== undefined) return SpaceGroup.fromNumber(exact.number);
  const loose = SPACE_GROUP_TABLE.filter((e) => squash(e.symbol) === squash(t));
  if (loose.length === 1) return SpaceGroup.fromNumber(loose[0].number);
  throw new ConfigError(
    `--space-group: "${text}" is not a reference-setting Hermann–Mauguin symbol, a number 1..230 or "Hall: ..."`,
  );
}

/**
 * Checks that a unit cell is compatible with a space group: every rotation R of the group must leave the real-space
 * metric G = OᵀO invariant (Rᵀ·G·R = G, relative tolerance 1e-4).
 *
 * @param cell - the cell
 * @param spaceGroup - the group
 * @throws {@link ConfigError} naming `--cell`
 */
export function checkCellSymmetry(cell: UnitCell, spaceGroup: SpaceGroup): void {
  let O: Float64Array;
  try {
    O = orthogonalizationMatrix(cell);
  } catch {
    throw new ConfigError(`--cell ${cell.join(",")} has no volume`);
  }
  const G = new Float64Array(9);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      let s = 0;
      for (let k = 0; k < 3; k++) s += O[3 * k + i] * O[3 * k + j];
      G[3 * i + j] = s;
    }
  }
  const scale = Math.max(G[0], G[4], G[8]);
  const R = spaceGroup.rotations;
  for (let m = 0; m < R.length / 9; m++) {
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        let s = 0;
        for (let k = 0; k < 3; k++) {
          for (let l = 0; l < 3; l++) s += R[9 * m + 3 * k + i] * G[3 * k + l] * R[9 * m + 3 * l + j];
        }
        if (Math.abs(s - G[3 * i + j]) > 1e-4 * scale) {
          throw new ConfigError(
            `--cell ${cell.join(",")} is not compatible with space group ${spaceGroup.symbol} (its metric breaks the symmetry)`,
          );
        }
      }
    }
  }
}

function requireInteger(value: number, flag: string, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(`${flag} must be an integer in ${min}..${max}, got ${value}`);
  }
  return value;
}

function requireNumber(value: number, flag: string, what: string, ok: (v: number) => boolean): number {
  if (typeof value !== "number" || !Number.isFinite(value) || !ok(value)) {
    throw new ConfigError(`${flag} must be ${what}, got ${value}`);
  }
  return value;
}

/**
 * Validates the options and fills in the defaults.
 *
 * @param options - the options
 * @returns the resolved simulation
 * @throws {@link ConfigError} naming the flag at fault
 */
export function resolveSimulateOptions(options: SimulateOptions): ResolvedSimulation {
  requireObjectArgument(options, "simulate options");
  if (typeof options.outDir !== "string" || options.outDir === "") {
    throw new ConfigError("--out must be a non-empty directory path");
  }
  const stills = requireInteger(options.stills, "--stills", 1, MAX_SIMULATED_STILLS);
  const perStill = requireInteger(
    options.observationsPerStill,
    "--observations-per-still",
    1,
    MAX_SIMULATED_OBSERVATIONS,
  );
  if (stills * perStill > MAX_SIMULATED_OBSERVATIONS) {
    throw new ConfigError(
      `--stills × --observations-per-still must not exceed ${MAX_SIMULATED_OBSERVATIONS} (the rows one scaling job holds), got ${stills * perStill}`,
    );
  }
  const spaceGroupText = options.spaceGroup ?? SIMULATE_DEFAULTS.spaceGroup;
  const spaceGroup = resolveSpaceGroup(spaceGroupText);
  const rawCell = options.cell ?? SIMULATE_DEFAULTS.cell;
  if (rawCell.length !== 6 || !rawCell.every((v) => Number.isFinite(v))) {
    throw new ConfigError(`--cell must be 6 numbers a,b,c,alpha,beta,gamma, got ${rawCell.join(",")}`);
  }
  const cell: UnitCell = [rawCell[0], rawCell[1], rawCell[2], rawCell[3], rawCell[4], rawCell[5]];
  const [lo, hi] = SIMULATED_CELL_LENGTH_RANGE;
  if (!cell.slice(0, 3).every((v) => v >= lo && v <= hi)) {
    throw new ConfigError(`--cell lengths must be in [${lo}, ${hi}] Å, got ${cell.slice(0, 3).join(",")}`);
  }
  if (!cell.slice(3).every((v) => v > 0 && v < 180)) {
    throw new ConfigError(`--cell angles must be in (0, 180) degrees, got ${cell.slice(3).join(",")}`);
  }
  checkCellSymmetry(cell, spaceGroup);
  const seed = checkSeed(options.seed ?? SIMULATE_DEFAULTS.seed, "--seed");
  const smootherAmp = requireNumber(
    options.smootherAmp ?? SIMULATE_DEFAULTS.smootherAmp,
    "--smoother-amp",
    `a number in (-1, ${MAX_SIMULATION_FACTOR}]`,
    (v) => v > -1 && v <= MAX_SIMULATION_FACTOR,
  );
  const noise = requireNumber(
    options.noise ?? SIMULATE_DEFAULTS.noise,
    "--noise",
    `a number in [0, ${MAX_SIMULATION_FACTOR}]`,
    (v) => {
      return v >= 0 && v <= MAX_SIMULATION_FACTOR;
    },
  );
  const dMin = requireNumber(options.dMin ?? SIMULATE_DEFAULTS.dMin, "--dmin", "a number in [0.5, 100] Å", (v) => {
    return v >= 0.5 && v <= 100;
  });
  const ndiv = requireInteger(options.ndiv ?? SIMULATE_DEFAULTS.ndiv, "--ndiv", 1, 64);
  const box = cell.slice(0, 3).reduce((p, a) => p * (2 * Math.ceil(a / dMin) + 1), 1);
  if (box > MAX_SIMULATED_HKL_BOX) {
    throw new ConfigError(
      `--cell ${cell.join(",")} with --dmin ${dMin} asks for ${box} Miller indices to search, more than the ${MAX_SIMULATED_HKL_BOX} allowed: use a smaller cell or a larger --dmin`,
    );
  }
  const braggErrorB = requireNumber(
    options.braggErrorB ?? SIMULATE_DEFAULTS.braggErrorB,
    "--bragg-error-b",
    "a number in [0, 10]",
    (v) => v >= 0 && v <= 10,
  );
  const factor = (value: number | undefined, fallback: number, flag: string) =>
    requireNumber(
      value ?? fallback,
      flag,
      `a number in (0, ${MAX_SIMULATION_FACTOR}]`,
      (v) => v > 0 && v <= MAX_SIMULATION_FACTOR,
    );
  const braggSigmaFactor = factor(options.braggSigmaFactor, SIMULATE_DEFAULTS.braggSigmaFactor, "--bragg-sigma-factor");
  const diffuseSigmaFactor = factor(
    options.diffuseSigmaFactor,
    SIMULATE_DEFAULTS.diffuseSigmaFactor,
    "--diffuse-sigma-factor",
  );
  return {
    outDir: options.outDir,
    stills,
    observationsPerStill: perStill,
    spaceGroupText,
    spaceGroup,
    cell,
    seed,
    smootherAmp,
    noise,
    dMin,
    ndiv,
    compression: options.compression ?? true,
    braggErrorB,
    braggSigmaFactor,
    diffuseSigmaFactor,
  };
}

/** Whether the simulation misreports σ (then `truth_sigmas.npz` is written with the true ones). */
export function misreportsSigma(sim: ResolvedSimulation): boolean {
  return sim.braggErrorB !== 0 || sim.braggSigmaFactor !== 1 || sim.diffuseSigmaFactor !== 1;
}
