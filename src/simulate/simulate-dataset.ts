/**
 * The `diffuse-scale simulate` job: serial stills with Bragg and diffuse scattering, in the files and layout of the
 * DIALS/cctbx reference simulator (`simulate_stills.py`):
 *
 * - `stills.expt`: one experiment per still (identifier `still-%05d`), shared beam and detector, a crystal per still
 *   with A = U·B for a uniformly random rotation U (real-space vectors = rows of A⁻¹), Sauter 2014 mosaicity fields.
 * - `stills.refl` (format v1): the reflections with partiality p = exp(−(Δψ/0.0025)²) > 0.02, with
 *   I = b_i·a(1/d)·p·I_true(ASU h) + noise of variance (max(mean, 0) + 30)·F².
 * - `diffuse_binned.h5`: M observations per still at uniformly random detector positions with |q| ≤ 1/d_min and
 *   away from the Bragg nodes (max |hkl − round(hkl)| > 0.12), binned by the project's voxel rule with the still's
 *   own A; I = b_i·a(|q|)·D(voxel) + noise of variance (mean + 5)·F².
 * - `truth.json`: the arguments, the true per-still scales b_i (log-normal, σ = 0.35) and counts.
 *
 * Random numbers come from independent per-still streams ({@link RandomStream}), so the output is a pure function of
 * the arguments: the same arguments give the same bytes in every file.
 *
 * @packageDocumentation
 */
import { basename, join, resolve } from "node:path";
import { ConfigError } from "../errors.ts";
import { writeTextAtomic } from "../io/atomic-write.ts";
import { openOutputSet, type OutputSetWriter } from "../io/output-set.ts";
import { parseExperiments, writeExperiments } from "../io/expt.ts";
import type { Crystal } from "../io/expt-models.ts";
import { mat3Inverse, mat3Multiply, mat3Transpose, type Mat3 } from "../geometry/vector-maths.ts";
import { fractionalizationMatrix } from "../geometry/unit-cell.ts";
import { writeReflections } from "../io/refl-write.ts";
import { ReflectionFlags } from "../table/flags.ts";
import { ReflectionTable } from "../table/reflection-table.ts";
import { VOXEL_INDEX_RULE, voxelCentreKernel, type VoxelGrid } from "../voxelize/voxel-grid.ts";
import { gridForCrystals, roundHalfEven, voxelizeStill } from "../voxelize/voxelize.ts";
import { BinnedDiffuseStreamWriter } from "./binned-diffuse-stream.ts";
import { diffuseIntensityAt, resolutionFactor } from "./diffuse-model.ts";
import { RandomStream, STREAM } from "./random-stream.ts";
import { randomRotation } from "./random-rotation.ts";
import {
  beamJson,
  braggCandidates,
  detectorJson,
  panelPlane,
  predictStill,
  referenceGeometry,
  type StillsGeometry,
} from "./stills-geometry.ts";
import { trueBraggIntensities } from "./structure-factors.ts";
import {
  misreportsSigma,
  resolveSimulateOptions,
  type ResolvedSimulation,
  type SimulateOptions,
} from "./simulation-options.ts";
import { writeNpz, type NpyArray } from "../io/npz.ts";

export type { SimulateOptions, SimulateProgress } from "./simulation-options.ts";

/** Width of the Δψ partiality model, rad (p = exp(−(Δψ/w)²)), as the reference. */
export const PARTIALITY_WIDTH_RAD = 0.0025;
/** Reflections with partiality at or below this are not written, as the reference. */
export const MIN_PARTIALITY = 0.02;
/** σ of ln(b_i) of the true per-still scales. */
export const LOG_SCALE_SIGMA = 0.35;
/** Additive variance term of the Bragg noise model (before F²). */
export const BRAGG_BACKGROUND = 30;
/** Additive variance term of the diffuse noise model (before F²). */
export const DIFFUSE_BACKGROUND = 5;
/** Diffuse observations closer than this to a Bragg node (max over h, k, l of |x − round(x)|) are not generated. */
export const BRAGG_EXCLUSION = 0.12;

/** The Sauter 2014 mosaicity written to every crystal (as the reference): it also limits Δψ at prediction. */
export const MOSAICITY = { domainSizeAng: 1000.0, halfMosaicityDeg: 0.05 } as const;

/** What {@link simulateDataset} produced. */
export interface SimulateResult {
  /** The files written (`truthSigmas`: `truth_sigmas.npz`, only when σ are misreported). */
  outputs: { expt: string; refl: string; diffuse: string; truth: string; truthSigmas?: string };
  /** Reflections written to `stills.refl`. */
  nBragg: number;
  /** Rows written to `diffuse_binned.h5`. */
  nDiffuse: number;
  /** True per-still scales b_i, in experiment order. */
  trueScales: Float64Array;
  /** The voxel grid. */
  grid: VoxelGrid;
  /** Wall time per phase, seconds. */
  seconds: { bragg: number; diffuse: number; total: number };
}

function identifier(i: number): string {
  return `still-${String(i).padStart(5, "0")}`;
}

/** The `.expt` document: one experiment per still, shared beam and detector. */
function experimentDocument(geometry: StillsGeometry, crystalsAinv: readonly Mat3[], hall: string): unknown {
  return {
    __id__: "ExperimentList",
    experiment: crystalsAinv.map((_, i) => ({
      __id__: "Experiment",
      identifier: identifier(i),
      beam: 0,
      detector: 0,
      crystal: i,
    })),
    imageset: [],
    beam: [beamJson(geometry)],
    detector: [detectorJson(geometry)],
    goniometer: [],
    scan: [],
    crystal: crystalsAinv.map((m) => ({
      __id__: "crystal",
      real_space_a: [m[0], m[1], m[2]],
      real_space_b: [m[3], m[4], m[5]],
      real_space_c: [m[6], m[7], m[8]],
      space_group_hall_symbol: hall,
      ML_half_mosaicity_deg: MOSAICITY.halfMosaicityDeg,
      ML_domain_size_ang: MOSAICITY.domainSizeAng,
    })),
    profile: [],
    scaling_model: [],
  };
}

/** Growable typed columns of the Bragg table. */
class BraggColumns {
  n = 0;
  id: number[] = [];
  hkl: number[] = [];
  value: number[] = [];
  variance: number[] = [];
  partiality: number[] = [];
  d: number[] = [];
  s1: number[] = [];
  px: number[] = [];
  mm: number[] = [];
  delpsi: number[] = [];
  /** The true variance of each row, when σ are misreported (else undefined). */
  trueVariance: number[] | undefined;

  constructor(keepTrueVariance: boolean) {
    this.trueVariance = keepTrueVariance ? [] : undefined;
  }

  toTable(nStills: number): ReflectionTable {
    const n = this.n;
    const ids = new Map<number, string>();
    for (let i = 0; i < nStills; i++) ids.set(i, identifier(i));
    const t = new ReflectionTable(n, ids);
    const px3 = new Float64Array(3 * n);
    const mm3 = new Float64Array(3 * n);
    for (let r = 0; r < n; r++) {
      px3[3 * r] = this.px[2 * r];
      px3[3 * r + 1] = this.px[2 * r + 1];
      mm3[3 * r] = this.mm[2 * r];
      mm3[3 * r + 1] = this.mm[2 * r + 1];
    }
    const flag = BigInt(ReflectionFlags.predicted | ReflectionFlags.integratedSum);
    t.setColumn("id", { type: "int", data: Int32Array.from(this.id) });
    t.setColumn("miller_index", { type: "cctbx::miller::index<>", data: Int32Array.from(this.hkl) });
    t.setColumn("intensity.sum.value", { type: "double", data: Float64Array.from(this.value) });
    t.setColumn("intensity.sum.variance", { type: "double", data: Float64Array.from(this.variance) });
    t.setColumn("partiality", { type: "double", data: Float64Array.from(this.partiality) });
    t.setColumn("d", { type: "double", data: Float64Array.from(this.d) });
    t.setColumn("s1", { type: "vec3<double>", data: Float64Array.from(this.s1) });
    t.setColumn("xyzcal.px", { type: "vec3<double>", data: px3 });
    t.setColumn("xyzcal.mm", { type: "vec3<double>", data: mm3 });
    t.setColumn("xyzobs.px.value", { type: "vec3<double>", data: px3.slice() });
    t.setColumn("flags", { type: "std::size_t", data: new BigUint64Array(n).fill(flag) });
    t.setColumn("panel", { type: "std::size_t", data: new BigUint64Array(n) });
    t.setColumn("entering", { type: "bool", data: new Uint8Array(n) });
    t.setColumn("delpsical.rad", { type: "double", data: Float64Array.from(this.delpsi) });
    return t;
  }
}

/**
 * The per-still draws of the global stream, in the reference's order: all true scales b_i = exp(0.35·z) first, then
 * all orientations U_i (uniform random rotations).
 *
 * @param seed - the simulation seed
 * @param n - number of stills
 * @returns the true scales and the rotation matrices (row-major)
 */
export function drawStills(seed: number, n: number): { trueScales: Float64Array; rotations: Mat3[] } {
  const global = RandomStream.forKey(seed, 0, STREAM.global);
  const trueScales = new Float64Array(n);
  for (let i = 0; i < n; i++) trueScales[i] = Math.exp(LOG_SCALE_SIGMA * global.normal());
  const rotations: Mat3[] = [];
  for (let i = 0; i < n; i++) rotations.push(randomRotation(global));
  return { trueScales, rotations };
}

/** Simulates the Bragg reflections of one still into `out`. */
function simulateBraggStill(
  sim: ResolvedSimulation,
  still: number,
  scale: number,
  crystal: Crystal,
  candidates: ReturnType<typeof braggCandidates>,
  geometry: StillsGeometry,
  out: BraggColumns,
): void {
  const maxDeltaPsi = PARTIALITY_WIDTH_RAD * Math.sqrt(-Math.log(MIN_PARTIALITY)) * (1 + 1e-9);
  const pred = predictStill(crystal.A, candidates, geometry, maxDeltaPsi, MOSAICITY);
  const hkl = new Int32Array(3 * pred.n);
  for (let r = 0; r < pred.n; r++)
    hkl.set(candidates.hkl.subarray(3 * pred.candidate[r], 3 * pred.candidate[r] + 3), 3 * r);
  const truth = trueBraggIntensities(sim.seed, hkl, sim.spaceGroup);
  const rng = RandomStream.forKey(sim.seed, still, STREAM.bragg);
  const f2 = sim.noise * sim.noise;
  for (let r = 0; r < pred.n; r++) {
    const t = pred.deltaPsi[r] / PARTIALITY_WIDTH_RAD;
    const p = Math.exp(-t * t);
    if (!(p > MIN_PARTIALITY)) continue;
    const q = candidates.qMagnitude[pred.candidate[r]];
    const mean = scale * resolutionFactor(sim.smootherAmp, q) * p * truth.intensity[r];
    const variance = (Math.max(mean, 0) + BRAGG_BACKGROUND) * f2;
    // misreported errors: the noise has the true variance, the table reports the counting variance × factor²
    const bm = sim.braggErrorB * mean;
    const trueVariance = variance + bm * bm;
    out.id.push(still);
    out.hkl.push(hkl[3 * r], hkl[3 * r + 1], hkl[3 * r + 2]);
    out.value.push(mean + rng.normal() * Math.sqrt(trueVariance));
    out.variance.push(variance * sim.braggSigmaFactor * sim.braggSigmaFactor);
    out.trueVariance?.push(trueVariance);
    out.partiality.push(p);
    out.d.push(1 / q);
    out.s1.push(pred.s1[3 * r], pred.s1[3 * r + 1], pred.s1[3 * r + 2]);
    out.px.push(pred.xyPx[2 * r], pred.xyPx[2 * r + 1]);
    out.mm.push(pred.xyMm[2 * r], pred.xyMm[2 * r + 1]);
    out.delpsi.push(pred.deltaPsi[r]);
    out.n++;
  }
}

/** Rows generated per block of one still's diffuse observations. */
const DIFFUSE_BLOCK = 1 << 16;

/** Region of the panel (mm) that holds every pixel with |q| ≤ 1/d_min (the panel must face the beam). */
function samplingWindow(geometry: StillsGeometry, dMin: number): [number, number, number, number] {
  const p = geometry.panel;
  const o = p.origin;
  const f = p.fastAxis;
  const s = p.slowAxis;
  const { normal, offset: dist } = panelPlane(p);
  const [nx, ny, nz] = normal;
  const b = geometry.s0;
  const t = dist / (b[0] * nx + b[1] * ny + b[2] * nz);
  const cx = (t * b[0] - o[0]) * f[0] + (t * b[1] - o[1]) * f[1] + (t * b[2] - o[2]) * f[2];
  const cy = (t * b[0] - o[0]) * s[0] + (t * b[1] - o[1]) * s[1] + (t * b[2] - o[2]) * s[2];
  const twoTheta = 2 * Math.asin(Math.min(1, geometry.wavelength / dMin / 2));
  const radius = twoTheta >= Math.PI / 2 ? Infinity : Math.abs(dist) * Math.tan(twoTheta) * 1.01 + 1;
  const w = p.imageSize[0] * p.pixelSize[0];
  const h = p.imageSize[1] * p.pixelSize[1];
  return [Math.max(0, cx - radius), Math.min(w, cx + radius), Math.max(0, cy - radius), Math.min(h, cy + radius)];
}

/** Running summary of the true diffuse intensities. */
interface DiffuseStats {
  sum: number;
  min: number;
  max: number;
  observed: Uint8Array | undefined;
}

/** Generates one still's diffuse observations and appends them to the writer. */
function simulateDiffuseStill(
  sim: ResolvedSimulation,
  still: number,
  scale: number,
  crystal: Crystal,
  grid: VoxelGrid,
  geometry: StillsGeometry,
  window: readonly [number, number, number, number],
  writer: BinnedDiffuseStreamWriter,
  stats: DiffuseStats,
  scratch: { q: Float64Array; intensity: Float64Array; sigma: Float64Array; voxel: Float64Array; centre: Float64Array },
  trueSigma: number[] | undefined,
): void {
  const rng = RandomStream.forKey(sim.seed, still, STREAM.diffuse);
  const Ainv = crystal.Ainv;
  const B = crystal.B;
  const p = geometry.panel;
  const o = p.origin;
  const f = p.fastAxis;
  const s = p.slowAxis;
  const invLambda = 1 / geometry.wavelength;
  const s0 = geometry.s0;
  const qMax = 1 / sim.dMin;
  const f2 = sim.noise * sim.noise;
  const [x0, x1, y0, y1] = window;
  const { q, intensity, sigma, voxel, centre } = scratch;
  const options = { ndiv: sim.ndiv, dMin: sim.dMin };
  let remaining = sim.observationsPerStill;
  while (remaining > 0) {
    const want = Math.min(remaining, DIFFUSE_BLOCK);
    let m = 0;
    let tries = 0;
    while (m < want) {
      if (++tries > 1_000_000 && m === 0) {
        throw new ConfigError(
          `--dmin ${sim.dMin} with --cell ${sim.cell.join(",")}: no detector position with |q| ≤ 1/dmin lies away from the Bragg nodes`,
        );
      }
      const x = x0 + (x1 - x0) * rng.uniform();
      const y = y0 + (y1 - y0) * rng.uniform();
      const lx = o[0] + f[0] * x + s[0] * y;
      const ly = o[1] + f[1] * x + s[1] * y;
      const lz = o[2] + f[2] * x + s[2] * y;
      const k = invLambda / Math.sqrt(lx * lx + ly * ly + lz * lz);
      const qx = lx * k - s0[0];
      const qy = ly * k - s0[1];
      const qz = lz * k - s0[2];
      if (!(Math.hypot(qx, qy, qz) <= qMax)) continue;
      const h = Ainv[0] * qx + Ainv[1] * qy + Ainv[2] * qz;
      const kk = Ainv[3] * qx + Ainv[4] * qy + Ainv[5] * qz;
      const l = Ainv[6] * qx + Ainv[7] * qy + Ainv[8] * qz;
      const far = Math.max(
        Math.abs(h - roundHalfEven(h)),
        Math.abs(kk - roundHalfEven(kk)),
        Math.abs(l - roundHalfEven(l)),
      );
      if (!(far > BRAGG_EXCLUSION)) continue;
      q[3 * m] = qx;
      q[3 * m + 1] = qy;
      q[3 * m + 2] = qz;
      m++;
    }
    const vox = voxelizeStill(crystal, q.subarray(0, 3 * m), sim.spaceGroup, grid, options);
    let kept = 0;
    for (let i = 0; i < m; i++) {
      if (vox.keep[i] === 0) continue;
      const idx = vox.voxel[i];
      voxelCentreKernel(grid, idx, centre, 0);
      const D = diffuseIntensityAt(B, centre[0], centre[1], centre[2]);
      const qx = q[3 * i];
      const qy = q[3 * i + 1];
      const qz = q[3 * i + 2];
      const mu = scale * resolutionFactor(sim.smootherAmp, Math.hypot(qx, qy, qz)) * D;
      const sd = Math.sqrt((mu + DIFFUSE_BACKGROUND) * f2);
      intensity[kept] = mu + rng.normal() * sd;
      sigma[kept] = sd * sim.diffuseSigmaFactor;
      trueSigma?.push(sd);
      voxel[kept] = idx;
      if (kept !== i) {
        q[3 * kept] = qx;
        q[3 * kept + 1] = qy;
        q[3 * kept + 2] = qz;
      }
      stats.sum += D;
      if (D < stats.min) stats.min = D;
      if (D > stats.max) stats.max = D;
      if (stats.observed !== undefined) stats.observed[idx] = 1;
      kept++;
    }
    writer.append(kept, still, intensity, sigma, voxel, q);
    remaining -= kept;
  }
}

/**
 * Simulates the diffuse observations of every still and writes them to `path` (binned HDF5), with the grid attributes.
 *
 * @returns the voxel grid, the summary of the true diffuse intensities and the number of observations written
 */
async function simulateDiffuse(
  sim: ResolvedSimulation,
  trueScales: Float64Array,
  crystals: readonly Crystal[],
  geometry: StillsGeometry,
  path: string,
  progress: SimulateOptions["onProgress"],
): Promise<{ grid: VoxelGrid; stats: DiffuseStats; nDiffuse: number; trueSigma: number[] | undefined }> {
  const trueSigma = misreportsSigma(sim) ? [] : undefined;
  const N = sim.stills;
  const grid = gridForCrystals(crystals, { ndiv: sim.ndiv, dMin: sim.dMin });
  const nVoxels = grid.dims[0] * grid.dims[1] * grid.dims[2];
  const stats: DiffuseStats = {
    sum: 0,
    min: Infinity,
    max: -Infinity,
    observed: nVoxels <= 2 ** 28 ? new Uint8Array(nVoxels) : undefined,
  };
  const window = samplingWindow(geometry, sim.dMin);
  const scratch = {
    q: new Float64Array(3 * DIFFUSE_BLOCK),
    intensity: new Float64Array(DIFFUSE_BLOCK),
    sigma: new Float64Array(DIFFUSE_BLOCK),
    voxel: new Float64Array(DIFFUSE_BLOCK),
    centre: new Float64Array(3),
  };
  const writer = await BinnedDiffuseStreamWriter.create(path, { compression: sim.compression });
  let nDiffuse: number;
  try {
    for (let i = 0; i < N; i++) {
      simulateDiffuseStill(
        sim,
        i,
        trueScales[i],
        crystals[i],
        grid,
        geometry,
        window,
        writer,
        stats,
        scratch,
        trueSigma,
      );
      progress?.({ phase: "diffuse", done: i + 1, total: N, label: identifier(i) });
    }
    progress?.({ phase: "write", done: 0, total: 1, label: "diffuse_binned.h5" });
    nDiffuse = writer.close({
      ndiv: grid.ndiv,
      hkl_max: [...grid.hklMax],
      voxel_grid_dims: [...grid.dims],
      voxel_index_rule: VOXEL_INDEX_RULE,
    });
  } catch (error) {
    writer.abort();
    throw error;
  }
  return { grid, stats, nDiffuse, trueSigma };
}

/** The `truth.json` document: the options, the true scales and a summary of the true diffuse intensities. */
function truthDocument(
  sim: ResolvedSimulation,
  outdir: string,
  trueScales: Float64Array,
  nBragg: number,
  nDiffuse: number,
  grid: VoxelGrid,
  stats: DiffuseStats,
): unknown {
  let nObservedVoxels: number | null = null;
  if (stats.observed !== undefined) {
    nObservedVoxels = 0;
    for (const v of stats.observed) nObservedVoxels += v;
  }
  return {
    generator: "diffuse-scale simulate (TypeScript)",
    args: {
      outdir,
      stills: sim.stills,
      observations_per_still: sim.observationsPerStill,
      seed: sim.seed,
      dmin: sim.dMin,
      smoother_amp: sim.smootherAmp,
      noise_scale: sim.noise,
      ...(misreportsSigma(sim)
        ? {
            bragg_error_b: sim.braggErrorB,
            bragg_sigma_factor: sim.braggSigmaFactor,
            diffuse_sigma_factor: sim.diffuseSigmaFactor,
          }
        : {}),
      space_group: sim.spaceGroupText,
      cell: sim.cell.join(","),
      voxel_subdiv: sim.ndiv,
    },
    true_scales: Array.from(trueScales),
    smoother_amp: sim.smootherAmp,
    n_bragg: nBragg,
    n_diffuse: nDiffuse,
    voxel_grid_dims: [...grid.dims],
    hkl_max: [...grid.hklMax],
    true_diffuse: {
      model:
        "D = 300*exp(-((|B.hc|-0.31)/0.06)^2) + 40 + 120/(1 + |B.(hc-round(hc))|^2/0.004^2) at the ASU voxel centre hc = sub/ndiv; I = b_i*a(|q|)*D",
      n_voxels_observed: nObservedVoxels,
      mean_per_observation: nDiffuse > 0 ? stats.sum / nDiffuse : 0,
      min: stats.min,
      max: stats.max,
    },
  };
}

/**
 * Runs the simulation and writes `stills.expt`, `stills.refl`, `diffuse_binned.h5` and `truth.json` into
 * `options.outDir`, as one output set with its `manifest.json` (the directory holds the previous set or the new one).
 *
 * @param options - see {@link SimulateOptions}
 * @returns counts, truth and timings
 * @throws {@link ConfigError} for invalid options (naming the flag); {@link InputError} when a file cannot be written
 */
export async function simulateDataset(options: SimulateOptions): Promise<SimulateResult> {
  const sim = resolveSimulateOptions(options);
  const t0 = performance.now();
  const outDir = resolve(sim.outDir);
  // checked and locked before anything is computed; the four files are committed as one set
  const set = await openOutputSet(sim.outDir, { what: "--out" });
  try {
    const result = await simulateInto(sim, options, set, t0);
    await set.commit({ command: "simulate", commandLine: options.commandLine ?? "" });
    const outputs = {
      expt: join(outDir, "stills.expt"),
      refl: join(outDir, "stills.refl"),
      diffuse: join(outDir, "diffuse_binned.h5"),
      truth: join(outDir, "truth.json"),
      ...(result.outputs.truthSigmas === undefined ? {} : { truthSigmas: join(outDir, "truth_sigmas.npz") }),
    };
    return { ...result, outputs };
  } catch (e) {
    throw set.finalPathError(e);
  } finally {
    set.abandon();
  }
}

/** The simulation proper, writing into the staging directory of `set`. */
async function simulateInto(
  sim: ResolvedSimulation,
  options: SimulateOptions,
  set: OutputSetWriter,
  t0: number,
): Promise<SimulateResult> {
  const progress = options.onProgress;
  const outDir = resolve(sim.outDir);
  const outputs: SimulateResult["outputs"] = {
    expt: set.path("stills.expt"),
    refl: set.path("stills.refl"),
    diffuse: set.path("diffuse_binned.h5"),
    truth: set.path("truth.json"),
  };
  const geometry = referenceGeometry();
  const N = sim.stills;

  const { trueScales, rotations } = drawStills(sim.seed, N);
  const B0: Mat3 = mat3Transpose(fractionalizationMatrix(sim.cell));
  const ainvs = rotations.map((U) => mat3Inverse(mat3Multiply(U, B0)));

  const experiments = parseExperiments(experimentDocument(geometry, ainvs, sim.spaceGroup.hall), outputs.expt);
  const crystals = experiments.experiments.map((e) => e.crystal as Crystal);
  await writeExperiments(outputs.expt, experiments);

  // Bragg
  const tBragg = performance.now();
  const candidates = braggCandidates(crystals[0].B, crystals[0].Ainv, sim.spaceGroup, sim.dMin);
  const bragg = new BraggColumns(misreportsSigma(sim));
  for (let i = 0; i < N; i++) {
    simulateBraggStill(sim, i, trueScales[i], crystals[i], candidates, geometry, bragg);
    progress?.({ phase: "bragg", done: i + 1, total: N, label: identifier(i) });
  }
  await writeReflections(outputs.refl, bragg.toTable(N));
  const braggS = (performance.now() - tBragg) / 1000;

  // diffuse
  const tDiffuse = performance.now();
  const { grid, stats, nDiffuse, trueSigma } = await simulateDiffuse(
    sim,
    trueScales,
    crystals,
    geometry,
    outputs.diffuse,
    progress,
  );
  const diffuseS = (performance.now() - tDiffuse) / 1000;

  const truth = truthDocument(sim, basename(outDir), trueScales, bragg.n, nDiffuse, grid, stats);
  await writeTextAtomic(outputs.truth, `${JSON.stringify(truth, null, 1)}\n`);
  if (bragg.trueVariance !== undefined && trueSigma !== undefined) {
    // the true errors, for scoring only (never an input of scaling)
    outputs.truthSigmas = set.path("truth_sigmas.npz");
    const column = (data: number[]): NpyArray => ({
      dtype: "<f8",
      shape: [data.length],
      data: Float64Array.from(data),
      fortranOrder: false,
    });
    await writeNpz(
      outputs.truthSigmas,
      new Map([
        ["bragg_true_variance", column(bragg.trueVariance)],
        ["diffuse_true_sigma", column(trueSigma)],
      ]),
    );
  }
  progress?.({ phase: "write", done: 1, total: 1, label: "truth.json" });
  return {
    outputs,
    nBragg: bragg.n,
    nDiffuse,
    trueScales,
    grid,
    seconds: { bragg: braggS, diffuse: diffuseS, total: (performance.now() - t0) / 1000 },
  };
}
