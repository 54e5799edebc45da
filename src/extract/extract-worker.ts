/**
 * The worker thread of `extract`: takes still plans one message at a time, reads and bins each still, and posts its
 * rows back (buffers transferred). One image in memory per thread.
 *
 * @packageDocumentation
 */
import { parentPort, workerData } from "node:worker_threads";
import { ConfigError, InputError } from "../errors.ts";
import { StillImageReader } from "./image-source.ts";
import type { ExtractSetup, StillPlan } from "./still-plan.ts";
import { runStill, setupSpaceGroup } from "./still-run.ts";
import type { StillRows } from "./still-binning.ts";
import { VoxelAccumulator } from "./voxel-accumulator.ts";
import { cachedGeometrySettings, GeometryCache, type CachedPanelGeometry } from "./geometry-cache.ts";
import type { BeamFrame, PanelFrame } from "./pixel-geometry.ts";

/**
 * A message to a worker: the per-pixel geometry of a detector and beam computed once for every worker (sent before
 * the first still), a still to read and bin, or null (stop).
 */
export type WorkerMessage = GeometrySeed | StillPlan | null;

/** Shared per-pixel geometry (see `GeometryCache.seed`). */
export interface GeometrySeed {
  readonly panels: readonly PanelFrame[];
  readonly beam: BeamFrame;
  readonly geometry: readonly CachedPanelGeometry[];
}

/** A message from a worker: a still's rows, or the error that stopped it. */
export type WorkerReply =
  | { readonly still: number; readonly rows: StillRows; readonly seconds: number }
  | { readonly still: number; readonly error: string; readonly kind: "input" | "config" | "other" };

const port = parentPort;
if (port !== null) {
  const setup = (workerData as { setup: ExtractSetup }).setup;
  const spaceGroup = setupSpaceGroup(setup);
  const reader = new StillImageReader();
  const acc = new VoxelAccumulator(1 << 16);
  const cache = new GeometryCache();
  port.on("message", (plan: WorkerMessage) => {
    if (plan === null) {
      reader.close();
      port.close();
      return;
    }
    if ("geometry" in plan) {
      cache.seed(plan.panels, plan.beam, cachedGeometrySettings(setup), plan.geometry);
      return;
    }
    const t0 = performance.now();
    runStill(plan, setup, spaceGroup, reader, acc, cache).then(
      (rows) => {
        const reply: WorkerReply = { still: plan.still, rows, seconds: (performance.now() - t0) / 1000 };
        const buffers = [rows.voxel, rows.intensity, rows.sigma, rows.q, rows.pixels].map(
          (a) => a.buffer as ArrayBuffer,
        );
        port.postMessage(reply, buffers);
      },
      (error: unknown) => {
        const kind = error instanceof InputError ? "input" : error instanceof ConfigError ? "config" : "other";
        const reply: WorkerReply = {
          still: plan.still,
          error: error instanceof Error ? error.message : String(error),
          kind,
        };
        port.postMessage(reply);
      },
    );
  });
}
