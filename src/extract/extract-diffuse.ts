/**
 * The `extract` job: from the images `dials.stills_process` indexed (with its `.expt` and `.refl`) to the binned
 * diffuse layout `scale` reads. Every pixel of every still is masked, corrected and binned (`still-binning.ts`), in
 * the calling thread or in worker threads taking one still at a time; rows are written in still order, so the file
 * is the same for any number of threads. The output adds the dataset `experiment_identifiers` (one string per still
 * id) and root attributes recording what was applied (`extract_*`).
 *
 * @packageDocumentation
 */
import { existsSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { ConfigError, InputError } from "../errors.ts";
import { writeBinnedDiffuse } from "../io/binned-diffuse.ts";
import { siblingWorkerEntry, startWorker } from "../runtime/worker-pool.ts";
import { binnedGridAttributes } from "../voxelize/voxel-grid.ts";
import type { GeometrySeed, WorkerMessage, WorkerReply } from "./extract-worker.ts";
import { resolveExtractOptions, type ExtractOptions, type ResolvedExtractOptions } from "./extract-options.ts";
import { StillImageReader } from "./image-source.ts";
import type { StillPixelCounts, StillRows } from "./still-binning.ts";
import { planStills, type ExtractSetup, type StillPlan } from "./still-plan.ts";
import { runStill, setupSpaceGroup } from "./still-run.ts";
import { VoxelAccumulator } from "./voxel-accumulator.ts";
import { cachedGeometrySettings, GeometryCache, sharedGeometry } from "./geometry-cache.ts";

/** What an extraction did. */
export interface ExtractSummary extends StillPixelCounts {
  /** Stills read. */
  stills: number;
  /** Rows written (one per still and voxel). */
  rows: number;
  /** Wall time of reading and binning (s). */
  seconds: number;
  /** CPU time (user + system, every thread of the process) of reading and binning (s). */
  cpuSeconds: number;
  /** Pixels read and binned per second of wall time. */
  pixelsPerSecond: number;
}

function addCounts(total: StillPixelCounts, c: StillPixelCounts): void {
  total.pixels += c.pixels;
  total.untrusted += c.untrusted;
  total.masked += c.masked;
  total.outsideResolution += c.outsideResolution;
  total.outsideGrid += c.outsideGrid;
  total.used += c.used;
}

/** Runs every still in the calling thread. */
async function runInThread(
  plans: readonly StillPlan[],
  setup: ExtractSetup,
  done: (still: number, rows: StillRows) => void,
): Promise<void> {
  const spaceGroup = setupSpaceGroup(setup);
  const reader = new StillImageReader();
  const acc = new VoxelAccumulator(1 << 16);
  const cache = new GeometryCache();
  try {
    for (const plan of plans) done(plan.still, await runStill(plan, setup, spaceGroup, reader, acc, cache));
  } finally {
    reader.close();
  }
}

/** Runs the stills on `threads` workers, each taking the next still when it is free. */
function runInWorkers(
  plans: readonly StillPlan[],
  setup: ExtractSetup,
  threads: number,
  done: (still: number, rows: StillRows) => void,
): Promise<void> {
  const entry = siblingWorkerEntry(import.meta.url, "extract-worker");
  const n = Math.min(threads, plans.length);
  return new Promise<void>((resolvePromise, reject) => {
    const workers: Worker[] = [];
    let next = 0;
    let finished = 0;
    let failed = false;
    const stopAll = (): void => {
      for (const w of workers) void w.terminate();
    };
    const feed = (w: Worker): void => {
      const message: WorkerMessage = next < plans.length ? plans[next++] : null;
      w.postMessage(message);
    };
    for (let i = 0; i < n; i++) {
      const workerData = { setup };
      const w = startWorker(entry, { workerData });
      workers.push(w);
      w.on("message", (reply: WorkerReply) => {
        if (failed) return;
        if ("error" in reply) {
          failed = true;
          stopAll();
          reject(reply.kind === "config" ? new ConfigError(reply.error) : new InputError(reply.error));
          return;
        }
        done(reply.still, reply.rows);
        finished++;
        if (finished === plans.length) {
          for (const x of workers) x.postMessage(null);
          resolvePromise();
        } else feed(w);
      });
      w.on("error", (error) => {
        if (failed) return;
        failed = true;
        stopAll();
        reject(error);
      });
    }
    // the per-pixel geometry of the first still's detector and beam, computed once here while the workers start and
    // shared with them (each computes any other detector or beam itself)
    let seed: GeometrySeed;
    try {
      const { panels, beam } = plans[0];
      const geometry = new GeometryCache().get(panels, beam, cachedGeometrySettings(setup));
      seed = { panels, beam, geometry: sharedGeometry(geometry) };
    } catch (error) {
      failed = true;
      stopAll();
      reject(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    for (const w of workers) {
      w.postMessage(seed satisfies WorkerMessage);
      feed(w);
    }
  });
}

/** The root attributes recording what was applied. */
function extractAttributes(options: ResolvedExtractOptions): Record<string, number | string> {
  return {
    extract_polarization: options.polarization ? 1 : 0,
    extract_solid_angle: options.solidAngle ? 1 : 0,
    extract_qe: options.qe ? 1 : 0,
    extract_background: options.backgroundPath ?? "",
    extract_mask: options.maskPath ?? "",
    extract_bragg_mask_grow: options.braggMaskGrow,
    extract_dmin: options.dMin,
    extract_dmax: options.dMax ?? 0,
    extract_rows:
      "one row per (still, voxel): I = sum(counts - background) / sum(P*Omega*QE), sigma = sqrt(max(sum(counts), 1)) / sum(P*Omega*QE), q = mean over the pixels",
  };
}

/**
 * Extracts, corrects and bins the diffuse scattering of every still and writes the binned layout.
 *
 * @throws {@link ConfigError} for invalid options; {@link InputError} for unreadable or missing inputs (a missing
 * image: one line naming the experiment and the path)
 */
export async function extractDiffuse(input: ExtractOptions): Promise<ExtractSummary> {
  const options = resolveExtractOptions(input);
  const { plans, identifiers, setup } = await planStills(options);
  // every image is looked for before any is read, so a missing one fails at once
  for (const p of plans)
    if (!existsSync(p.image.path)) throw new InputError(`${p.image.experiment}: image not found: ${p.image.path}`);
  const results: (StillRows | undefined)[] = new Array<StillRows | undefined>(plans.length);
  const totals: StillPixelCounts = {
    pixels: 0,
    untrusted: 0,
    masked: 0,
    outsideResolution: 0,
    outsideGrid: 0,
    used: 0,
  };
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let nDone = 0;
  const done = (still: number, rows: StillRows): void => {
    results[still] = rows;
    addCounts(totals, rows.counts);
    nDone++;
    const seconds = (performance.now() - t0) / 1000;
    const pixelsPerSecond = seconds > 0 ? totals.pixels / seconds : 0;
    options.onProgress?.({
      phase: "extract",
      done: nDone,
      total: plans.length,
      label: `${identifiers[still] || `still ${still}`} ${(pixelsPerSecond / 1e6).toFixed(1)} Mpx/s`,
      pixelsPerSecond,
    });
  };
  if (options.threads === 1 || plans.length === 1) await runInThread(plans, setup, done);
  else await runInWorkers(plans, setup, options.threads, done);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  let n = 0;
  for (const r of results) n += r?.voxel.length ?? 0;
  const intensities = new Float32Array(n);
  const sigmas = new Float32Array(n);
  const stillIds = new Int32Array(n);
  const voxelIndices = new Float64Array(n);
  const qVectors = new Float32Array(3 * n);
  let t = 0;
  results.forEach((r, still) => {
    if (r === undefined) throw new InputError(`still ${still} produced no result`);
    intensities.set(r.intensity, t);
    sigmas.set(r.sigma, t);
    stillIds.fill(still, t, t + r.voxel.length);
    voxelIndices.set(r.voxel, t);
    qVectors.set(r.q, 3 * t);
    t += r.voxel.length;
  });
  const grid = setup.grid;
  await writeBinnedDiffuse(
    options.outPath,
    { intensities, sigmas, stillIds, voxelIndices, qVectors },
    { ...binnedGridAttributes(grid), ...extractAttributes(options) },
    { experimentIdentifiers: identifiers },
  );
  return {
    stills: plans.length,
    rows: n,
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    pixelsPerSecond: seconds > 0 ? totals.pixels / seconds : 0,
    ...totals,
  };
}
