/**
 * Voxelization of diffuse pixel observations: for each still, fractional `hkl = A_i⁻¹·q` with **that still's own**
 * `A_i` (the rows of A⁻¹ are the real-space vectors a, b, c, so h = a·q, k = b·q, l = c·q), `sub = round(hkl·ndiv)`,
 * mapped to the asymmetric unit of the space group (non-anomalous, exactly as cctbx), then the linear voxel index of
 * `voxel-grid.ts`. Observations outside the resolution limits are dropped and counted.
 *
 * Rounding: `round` is NumPy's (half to even, `Math.round` would differ at exact halves), which is what the reference
 * voxelization of the fixtures used; exact halves essentially never occur in floating-point data.
 *
 * @packageDocumentation
 */
import {
  ConfigError,
  requireArrayArgument,
  requireInstanceArgument,
  requireNumbersArgument,
  requireObjectArgument,
} from "../errors.ts";
import type { Crystal } from "../io/expt-models.ts";
import { SpaceGroup } from "../symmetry/space-group.ts";
import { checkVoxelGrid, makeVoxelGrid, voxelIndexOfKernel, type VoxelGrid } from "./voxel-grid.ts";

/** Rounds half to even (NumPy's `round`/`rint`). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** 1.5·2^52 (see {@link roundHalfEvenSmall}). */
const ROUND_SHIFT = 6755399441055744;

/**
 * {@link roundHalfEven} for |x| < 2^51, at a quarter of the cost of `Math.round` in V8 (for the per-pixel loops):
 * `x + 1.5·2^52` lies in [2^52, 2^53), where the doubles are the integers, and IEEE addition rounds to the nearest,
 * ties to even (1.5·2^52 is even). For |x| ≥ 2^51 the result has magnitude ≥ 2^51 (as `Math.round`'s has), so it lies
 * outside every voxel grid alike; NaN stays NaN.
 */
export function roundHalfEvenSmall(x: number): number {
  return x + ROUND_SHIFT - ROUND_SHIFT;
}

/** Options of the voxelization. */
export interface VoxelizeOptions {
  /** Voxels per reciprocal-lattice unit along each axis. */
  ndiv: number;
  /** High-resolution limit d_min (Å): observations with 1/|q| < d_min are dropped. */
  dMin: number;
  /** Low-resolution limit d_max (Å), or undefined for none. @defaultValue undefined */
  dMax?: number;
}

/** Throws a ConfigError unless `crystal` has the unit cell and real-space axes a crystal model has. */
function checkCrystal(crystal: unknown, what: string): asserts crystal is Crystal {
  requireObjectArgument(crystal, `${what} (a crystal model of an experiment list)`);
  const c = crystal as Crystal;
  requireNumbersArgument(c.unitCell, `${what}.unitCell`, 6);
  for (const axis of ["realSpaceA", "realSpaceB", "realSpaceC"] as const)
    requireNumbersArgument(c[axis], `${what}.${axis}`, 3);
}

/** Throws a ConfigError unless `options` is an object of the voxelize options. */
function checkOptions(options: unknown, fn: string): asserts options is VoxelizeOptions {
  requireObjectArgument(options, `${fn}: options ({ ndiv, dMin, dMax? })`);
}

/** Grid from crystals: `hklMax_i = ceil(max cell edge_i / d_min) + 1`. */
export function gridForCrystals(crystals: readonly Crystal[], options: VoxelizeOptions): VoxelGrid {
  requireArrayArgument(crystals, "gridForCrystals: crystals");
  crystals.forEach((c, i) => {
    checkCrystal(c, `gridForCrystals: crystals[${i}]`);
  });
  checkOptions(options, "gridForCrystals");
  if (!(options.dMin > 0 && Number.isFinite(options.dMin)))
    throw new ConfigError(`--dmin must be positive, got ${options.dMin}`);
  if (options.dMax !== undefined && !(options.dMax > options.dMin)) {
    throw new ConfigError(`--dmax must be larger than --dmin, got ${options.dMax} ≤ ${options.dMin}`);
  }
  const edges = [0, 0, 0];
  for (const c of crystals) for (let i = 0; i < 3; i++) edges[i] = Math.max(edges[i], c.unitCell[i]);
  const hklMax: [number, number, number] = [0, 1, 2].map((i) => Math.ceil(edges[i] / options.dMin) + 1) as [
    number,
    number,
    number,
  ];
  return makeVoxelGrid(options.ndiv, hklMax);
}

/** Result of voxelizing one still. */
export interface VoxelizedStill {
  /** Linear voxel index per kept observation. */
  readonly voxel: Float64Array;
  /** 1 for kept observations (inside the resolution limits and the grid). */
  readonly keep: Uint8Array;
  /** Observations dropped by the resolution limits. */
  readonly nOutsideResolution: number;
  /** Observations whose ASU index fell outside the grid. */
  readonly nOutsideGrid: number;
}

/**
 * Voxelizes one still's observations.
 *
 * @param crystal - The still's crystal (its own A).
 * @param qVectors - Lab-frame q vectors (n×3, 1/Å, q = s1 − s0).
 */
export function voxelizeStill(
  crystal: Crystal,
  qVectors: ArrayLike<number>,
  spaceGroup: SpaceGroup,
  grid: VoxelGrid,
  options: VoxelizeOptions,
): VoxelizedStill {
  checkCrystal(crystal, "voxelizeStill: crystal");
  requireNumbersArgument(qVectors, "voxelizeStill: qVectors (x, y, z per pixel)");
  requireInstanceArgument(spaceGroup, SpaceGroup, "voxelizeStill: spaceGroup");
  checkVoxelGrid(grid, "voxelizeStill");
  checkOptions(options, "voxelizeStill");
  if (!(options.dMin > 0 && Number.isFinite(options.dMin)))
    throw new ConfigError(`voxelizeStill: options.dMin must be positive, got ${String(options.dMin)}`);
  const n = Math.floor(qVectors.length / 3);
  const a = crystal.realSpaceA;
  const b = crystal.realSpaceB;
  const c = crystal.realSpaceC;
  const qMax = 1 / options.dMin;
  const qMin = options.dMax === undefined ? 0 : 1 / options.dMax;
  const keep = new Uint8Array(n);
  const sub = new Int32Array(3 * n);
  const ndiv = grid.ndiv;
  let nOutsideResolution = 0;
  for (let i = 0; i < n; i++) {
    const qx = qVectors[3 * i];
    const qy = qVectors[3 * i + 1];
    const qz = qVectors[3 * i + 2];
    const q = Math.hypot(qx, qy, qz);
    if (!(q <= qMax && q >= qMin)) {
      nOutsideResolution++;
      continue;
    }
    keep[i] = 1;
    sub[3 * i] = roundHalfEven((a[0] * qx + a[1] * qy + a[2] * qz) * ndiv);
    sub[3 * i + 1] = roundHalfEven((b[0] * qx + b[1] * qy + b[2] * qz) * ndiv);
    sub[3 * i + 2] = roundHalfEven((c[0] * qx + c[1] * qy + c[2] * qz) * ndiv);
  }
  spaceGroup.mapToAsuBatch(sub, false, sub);
  const voxel = new Float64Array(n);
  let nOutsideGrid = 0;
  for (let i = 0; i < n; i++) {
    if (!keep[i]) continue;
    const idx = voxelIndexOfKernel(grid, sub[3 * i], sub[3 * i + 1], sub[3 * i + 2]);
    if (idx < 0) {
      keep[i] = 0;
      nOutsideGrid++;
    } else {
      voxel[i] = idx;
    }
  }
  return { voxel, keep, nOutsideResolution, nOutsideGrid };
}
