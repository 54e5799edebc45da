/**
 * Throughput of `extract` reading and binning (not run in CI).
 *
 * Run: `npx tsx bench/extract.bench.ts [reps]` (default 3; the best of the repetitions is reported). Cases:
 * 1. The 8 mini-CBF stills of `../shared/fixtures/sim/images-8` (1024 × 1024), in the calling thread: decode, mask
 *    and bin separately, wall time and CPU time of this process (`process.cpuUsage`, which on a machine shared with
 *    other jobs says what one core does).
 * 2. A 4-Mpixel still (2048 × 2048, the images-8 geometry at half the pixel size) with Poisson counts, encoded as CBF
 *    byte-offset in memory: decode + bin of one still.
 * 3. The whole `extractDiffuse` job on images-8 with 1 and 2 worker threads (wall time, including thread start-up and
 *    writing the output).
 * The load average is printed: on a shared machine the wall-time figures drop with it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { decodeByteOffset, readMiniCbf } from "../src/io/cbf-read.ts";
import { extractDiffuse } from "../src/extract/extract-diffuse.ts";
import { resolveExtractOptions } from "../src/extract/extract-options.ts";
import { GeometryCache } from "../src/extract/geometry-cache.ts";
import { stillMask } from "../src/extract/pixel-masks.ts";
import { binStill } from "../src/extract/still-binning.ts";
import { planStills, setupSpaceGroup } from "../src/extract/still-plan.ts";
import { VoxelAccumulator } from "../src/extract/voxel-accumulator.ts";

const fixture = fileURLToPath(new URL("../../shared/fixtures/sim/images-8/", import.meta.url));
const reps = Number(process.argv[2] ?? 3);

interface Timing {
  wall: number;
  cpu: number;
}

function timed(fn: () => void): Timing {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  fn();
  const c = process.cpuUsage(c0);
  return { wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6 };
}

function best(fn: () => void): Timing {
  let b: Timing = { wall: Infinity, cpu: Infinity };
  for (let r = 0; r < reps; r++) {
    const t = timed(fn);
    b = { wall: Math.min(b.wall, t.wall), cpu: Math.min(b.cpu, t.cpu) };
  }
  return b;
}

const mpx = (pixels: number, s: number): string => `${(pixels / s / 1e6).toFixed(1)} Mpx/s`;

/** CBF byte-offset encoding (int8/int16/int32 deltas). */
function encodeByteOffset(values: Int32Array): Uint8Array {
  const out = new Uint8Array(values.length * 7);
  const view = new DataView(out.buffer);
  let pos = 0;
  let prev = 0;
  for (const v of values) {
    const d = v - prev;
    prev = v;
    if (d > -128 && d < 128) view.setInt8(pos++, d);
    else if (d > -32768 && d < 32768) {
      view.setInt8(pos++, -128);
      view.setInt16(pos, d, true);
      pos += 2;
    } else {
      view.setInt8(pos++, -128);
      view.setInt16(pos, -32768, true);
      view.setInt32(pos + 2, d, true);
      pos += 6;
    }
  }
  return out.subarray(0, pos);
}

console.log(
  `load average ${loadavg()
    .map((x) => x.toFixed(1))
    .join(" ")}`,
);
const options = resolveExtractOptions({
  expt: [join(fixture, "stills.expt")],
  refl: [join(fixture, "stills.refl")],
  ndiv: 2,
  dMin: 1.8,
  outPath: "unused.h5",
});
const { plans, setup } = await planStills(options);
const spaceGroup = setupSpaceGroup(setup);
const settings = { ...setup, spaceGroup };
const acc = new VoxelAccumulator(1 << 16);
const cache = new GeometryCache();
const images = plans.map((p) => readMiniCbf(p.image.path).data);
const masks = plans.map((p) => stillMask(p.panels, undefined, p.boxes, 0));
const pixels8 = images.reduce((s, a) => s + a.length, 0);
binStill(
  { panels: plans[0].panels, data: [images[0]], beam: plans[0].beam, realSpace: plans[0].realSpace },
  settings,
  acc,
  cache,
);
const decode = best(() => {
  for (const p of plans) readMiniCbf(p.image.path);
});
const bin = best(() => {
  plans.forEach((p, s) => {
    const mask = masks[s];
    binStill(
      { panels: p.panels, data: [images[s]], ...(mask ? { mask } : {}), beam: p.beam, realSpace: p.realSpace },
      settings,
      acc,
      cache,
    );
  });
});
console.log(`images-8, ${pixels8} pixels, one thread:`);
console.log(`  read + decode CBF  wall ${mpx(pixels8, decode.wall)}  cpu ${mpx(pixels8, decode.cpu)}`);
console.log(`  mask + bin         wall ${mpx(pixels8, bin.wall)}  cpu ${mpx(pixels8, bin.cpu)}`);
const both = { wall: decode.wall + bin.wall, cpu: decode.cpu + bin.cpu };
console.log(`  together           wall ${mpx(pixels8, both.wall)}  cpu ${mpx(pixels8, both.cpu)} per core`);

// 4-Mpixel still
const p0 = plans[0];
const big = {
  ...p0.panels[0],
  pixelSize: [0.086, 0.086] as const,
  imageSize: [2048, 2048] as const,
};
let seed = 7;
const values = new Int32Array(2048 * 2048);
for (let i = 0; i < values.length; i++) {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  values[i] = 20 + (seed % 41);
}
const encoded = encodeByteOffset(values);
const decoded = new Int32Array(values.length);
binStill({ panels: [big], data: [values], beam: p0.beam, realSpace: p0.realSpace }, settings, acc, cache);
const one = best(() => {
  decodeByteOffset(encoded, decoded);
  binStill({ panels: [big], data: [decoded], beam: p0.beam, realSpace: p0.realSpace }, settings, acc, cache);
});
console.log(
  `4-Mpixel still, decode + bin, one thread: wall ${(one.wall * 1000).toFixed(0)} ms (${mpx(values.length, one.wall)}), cpu ${(one.cpu * 1000).toFixed(0)} ms (${mpx(values.length, one.cpu)})`,
);

// the whole job
const dir = mkdtempSync(join(tmpdir(), "extract-bench-"));
try {
  for (const threads of [1, 2]) {
    const t0 = performance.now();
    const summary = await extractDiffuse({ ...options, outPath: join(dir, `t${threads}.h5`), threads });
    const wall = (performance.now() - t0) / 1000;
    console.log(
      `extractDiffuse images-8, threads ${threads}: reading + binning ${mpx(summary.pixels, summary.seconds)}, whole job ${wall.toFixed(2)} s`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(
  `load average ${loadavg()
    .map((x) => x.toFixed(1))
    .join(" ")}`,
);
