/**
 * Throughput of `extract` reading and binning (issue 17; `npm run bench:extract`, never in CI).
 *
 * Every case runs `--repeats N` times (default 5) and is reported as the median with the min–max over the runs, as
 * wall time and as CPU time (user + sys of every thread of the process that did the work): on a machine shared with
 * other jobs the CPU time says what the cores did and the wall time what was waited for. The load average is printed
 * before and after. Cases:
 * 1. Per still, in this thread, the 8 mini-CBF stills of `../shared/fixtures/sim/images-8` (1024 × 1024): read +
 *    byte-offset decode; Bragg-box mask + bin; the two together (Mpixels/s of one core).
 * 2. One 4-Mpixel still (2048 × 2048: the images-8 geometry at half the pixel size, counts 20–60, byte-offset encoded
 *    in memory): decode + bin in this thread (ms).
 * 3. The `extract` command of the built CLI (`dist/`, built first unless `--no-build`) in a child process timed by
 *    `/usr/bin/time`, with `--threads 1` and `2`: on images-8 listed `--copies K` times (default 8: 64 stills, 67
 *    Mpixels; the identifiers made unique), the reading + binning rate the command reports (`--json`: pixels over the
 *    wall time from the first still read to the last binned, worker start-up included, and over the CPU time of all
 *    threads in that time) and the wall and CPU time of the whole process;
 *    and the whole job on images-8 as it is (8 stills: start-up, the `.refl`, the first-still JIT and geometry, the
 *    deflated output included).
 * The numbers are written to `bench/extract-results.json` with a description of the machine.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describeMachine } from "./machine.ts";
import { decodeByteOffset, readMiniCbf } from "../src/io/cbf-read.ts";
import { resolveExtractOptions } from "../src/extract/extract-options.ts";
import { GeometryCache } from "../src/extract/geometry-cache.ts";
import { stillMask } from "../src/extract/pixel-masks.ts";
import { binStill } from "../src/extract/still-binning.ts";
import { planStills } from "../src/extract/still-plan.ts";
import { setupSpaceGroup } from "../src/extract/still-run.ts";
import { VoxelAccumulator } from "../src/extract/voxel-accumulator.ts";

const root = fileURLToPath(new URL("../", import.meta.url));
const fixture = join(root, "..", "shared", "fixtures", "sim", "images-8");
const USAGE = "usage: npm run bench:extract -- [--repeats N] [--copies K] [--no-build]\n";
const args = process.argv.slice(2);
function option(name: string, fallback: number): number {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isSafeInteger(v) || v < 1) {
    process.stderr.write(`${name} must be a positive integer\n${USAGE}`);
    process.exit(2);
  }
  return v;
}
if (args.includes("--help")) {
  process.stdout.write(USAGE);
  process.exit(0);
}
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--repeats" || args[i] === "--copies") i++;
  else if (args[i] !== "--no-build") {
    process.stderr.write(`unknown argument ${JSON.stringify(args[i])}\n${USAGE}`);
    process.exit(2);
  }
}
const repeats = option("--repeats", 5);
const copies = option("--copies", 8);

/** Median, min and max of a list. */
interface Spread {
  median: number;
  min: number;
  max: number;
}
function spread(values: readonly number[]): Spread {
  const v = [...values].sort((a, b) => a - b);
  const m = v.length >> 1;
  return { median: v.length % 2 === 1 ? v[m] : (v[m - 1] + v[m]) / 2, min: v[0], max: v[v.length - 1] };
}
/** A spread as text, each number through `f`. */
function show(s: Spread, f: (x: number) => string): string {
  return `${f(s.median)} (${f(s.min)}–${f(s.max)})`;
}
const ms = (s: number): string => (s * 1000).toFixed(0);
const one1 = (x: number): string => x.toFixed(1);

interface Timing {
  wall: number;
  cpu: number;
}
/** Wall and CPU times (s) of `repeats` runs of `fn`, their spreads, and the rates `pixels / time` (Mpixels/s). */
interface TimedRuns {
  wall: Spread;
  cpu: Spread;
  /** Rates, given `pixels`. */
  rates(pixels: number): { wall: Spread; cpu: Spread };
}
function timedRuns(fn: () => void): TimedRuns {
  const runs: Timing[] = [];
  for (let r = 0; r < repeats; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    fn();
    const c = process.cpuUsage(c0);
    runs.push({ wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6 });
  }
  return {
    wall: spread(runs.map((r) => r.wall)),
    cpu: spread(runs.map((r) => r.cpu)),
    rates: (pixels) => ({
      wall: spread(runs.map((r) => pixels / r.wall / 1e6)),
      cpu: spread(runs.map((r) => pixels / r.cpu / 1e6)),
    }),
  };
}

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

const load = (): string =>
  loadavg()
    .map((x) => x.toFixed(1))
    .join(" ");
const loadAtStart = loadavg();
const cpu = cpus();
process.stdout.write(
  `${cpu.length} × ${cpu[0]?.model ?? "unknown CPU"}, node ${process.version}; load average ${load()}; ` +
    `median (min–max) of ${repeats} runs\n`,
);

// ---- 1. per still, one thread --------------------------------------------------------------------------------
const options = resolveExtractOptions({
  expt: [join(fixture, "stills.expt")],
  refl: [join(fixture, "stills.refl")],
  ndiv: 2,
  dMin: 1.8,
  outPath: "unused.h5",
});
const { plans, setup } = await planStills(options);
const settings = { ...setup, spaceGroup: setupSpaceGroup(setup) };
const acc = new VoxelAccumulator(1 << 16);
const cache = new GeometryCache();
const images = plans.map((p) => readMiniCbf(p.image.path).data);
const masks = plans.map((p) => stillMask(p.panels, undefined, p.boxes, 0));
const pixels8 = images.reduce((s, a) => s + a.length, 0);
const binAll = (): void => {
  plans.forEach((p, s) => {
    const mask = masks[s];
    binStill(
      { panels: p.panels, data: [images[s]], ...(mask ? { mask } : {}), beam: p.beam, realSpace: p.realSpace },
      settings,
      acc,
      cache,
    );
  });
};
// warm-up: the geometry cache and the JIT
for (let r = 0; r < 3; r++) binAll();
const decode = timedRuns(() => {
  for (const p of plans) readMiniCbf(p.image.path);
});
const bin = timedRuns(binAll);
const both = timedRuns(() => {
  plans.forEach((p) => {
    const data = readMiniCbf(p.image.path).data;
    const mask = stillMask(p.panels, undefined, p.boxes, 0);
    binStill(
      { panels: p.panels, data: [data], ...(mask ? { mask } : {}), beam: p.beam, realSpace: p.realSpace },
      settings,
      acc,
      cache,
    );
  });
});
process.stdout.write(`1. images-8, ${pixels8} pixels, one thread (Mpixels/s):\n`);
for (const [name, t] of [
  ["read + decode CBF ", decode],
  ["mask + bin        ", bin],
  ["read, mask and bin", both],
] as const) {
  const r = t.rates(pixels8);
  process.stdout.write(`   ${name}  cpu ${show(r.cpu, one1)}  wall ${show(r.wall, one1)}\n`);
}

// ---- 2. one 4-Mpixel still -------------------------------------------------------------------------------------
const p0 = plans[0];
const big = { ...p0.panels[0], pixelSize: [0.086, 0.086] as const, imageSize: [2048, 2048] as const };
let seed = 7;
const values = new Int32Array(2048 * 2048);
for (let i = 0; i < values.length; i++) {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  values[i] = 20 + (seed % 41);
}
const encoded = encodeByteOffset(values);
const decoded = new Int32Array(values.length);
const bigStill = { panels: [big], data: [decoded], beam: p0.beam, realSpace: p0.realSpace };
const bigCache = new GeometryCache();
for (let r = 0; r < 3; r++) {
  decodeByteOffset(encoded, decoded);
  binStill(bigStill, settings, acc, bigCache);
}
const one = timedRuns(() => {
  decodeByteOffset(encoded, decoded);
  binStill(bigStill, settings, acc, bigCache);
});
process.stdout.write(
  `2. one 4-Mpixel still, decode + bin, one thread (ms): cpu ${show(one.cpu, ms)}  wall ${show(one.wall, ms)}` +
    `  (${show(one.rates(values.length).cpu, one1)} Mpixels/s of cpu)\n`,
);

// ---- 3. the extract command ------------------------------------------------------------------------------------
if (!args.includes("--no-build")) {
  const built = spawnSync("npm", ["run", "build", "--silent"], { cwd: root, stdio: "inherit" });
  if (built.status !== 0) throw new Error("npm run build failed");
}
const cli = join(root, "dist", "cli", "main.js");
const work = mkdtempSync(join(tmpdir(), "extract-bench-"));
/** images-8 listed `k` times, image paths absolute, identifiers unique (the copies have no Bragg boxes). */
function copiesExpt(k: number): string {
  const doc = JSON.parse(readFileSync(join(fixture, "stills.expt"), "utf8")) as {
    experiment: { identifier: string }[];
    imageset: { images: string[] }[];
  };
  for (const s of doc.imageset) s.images = s.images.map((p) => join(fixture, p));
  const base = doc.experiment;
  doc.experiment = [];
  for (let c = 0; c < k; c++) {
    for (const e of base) doc.experiment.push({ ...e, identifier: c === 0 ? e.identifier : `${e.identifier}-${c}` });
  }
  const path = join(work, `images-8x${k}.expt`);
  writeFileSync(path, JSON.stringify(doc));
  return path;
}
interface JobRun {
  /** Wall and CPU time (s) of the whole process. */
  wall: number;
  cpu: number;
  /** Reading + binning: Mpixels per second of wall time, and per second of CPU time (every thread). */
  rate: number;
  cpuRate: number;
}
/** Runs `diffuse-scale extract --json` on `expt` with `threads`. */
function job(expt: string, threads: number): JobRun {
  const out = join(work, "binned.h5");
  const cmd = [cli, "extract", "--expt", expt, "--refl", join(fixture, "stills.refl"), "--json"];
  cmd.push("--ndiv", "2", "--dmin", "1.8", "--threads", String(threads), "--out", out);
  const useTime = existsSync("/usr/bin/time");
  const t0 = performance.now();
  const r = useTime
    ? spawnSync("/usr/bin/time", ["-f", "__TIME__ %U %S", process.execPath, ...cmd], { encoding: "utf8" })
    : spawnSync(process.execPath, cmd, { encoding: "utf8" });
  const wall = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`extract failed: ${r.stderr}`);
  const summary = JSON.parse(r.stdout) as { pixels: number; seconds: number; cpuSeconds: number };
  const time = /__TIME__ ([\d.]+) ([\d.]+)/.exec(r.stderr);
  rmSync(out, { force: true });
  return {
    wall,
    cpu: time === null ? NaN : Number(time[1]) + Number(time[2]),
    rate: summary.pixels / summary.seconds / 1e6,
    cpuRate: summary.pixels / summary.cpuSeconds / 1e6,
  };
}
interface JobCase {
  stills: number;
  threads: number;
  /** Reading + binning, Mpixels/s of wall time and of CPU time. */
  rate: Spread;
  cpuRate: Spread;
  /** The whole process, s. */
  wall: Spread;
  cpu: Spread;
}
const jobs: Record<string, JobCase> = {};
try {
  const manyExpt = copiesExpt(copies);
  const cases: [string, string, number][] = [];
  for (const threads of [1, 2]) cases.push([`images-8 ×${copies}`, manyExpt, threads]);
  for (const threads of [1, 2]) cases.push(["images-8", join(fixture, "stills.expt"), threads]);
  // runs interleaved over the cases, so that a change of load touches every case alike
  const runs = cases.map(() => [] as JobRun[]);
  for (let r = 0; r < repeats; r++) cases.forEach(([, expt, threads], c) => runs[c].push(job(expt, threads)));
  cases.forEach(([name, , threads], c) => {
    const stills = name === "images-8" ? 8 : 8 * copies;
    const of = (key: keyof JobRun): Spread => spread(runs[c].map((x) => x[key]));
    jobs[`${name}, threads ${threads}`] = {
      stills,
      threads,
      rate: of("rate"),
      cpuRate: of("cpuRate"),
      wall: of("wall"),
      cpu: of("cpu"),
    };
  });
} finally {
  rmSync(work, { recursive: true, force: true });
}
process.stdout.write(`3. diffuse-scale extract (built CLI, one process per run):\n`);
for (const [name, j] of Object.entries(jobs)) {
  process.stdout.write(
    `   ${name.padEnd(22)} reading + binning ${show(j.rate, one1)} Mpixels/s of wall, ${show(j.cpuRate, one1)} ` +
      `per CPU-second; whole process wall ${show(j.wall, (x) => x.toFixed(2))} s, cpu ${show(j.cpu, (x) => x.toFixed(2))} s\n`,
  );
}
process.stdout.write(`load average ${load()}\n`);

const perStill = (t: TimedRuns, pixels: number) => {
  const r = t.rates(pixels);
  return { cpu_mpx_per_s: r.cpu, wall_mpx_per_s: r.wall };
};
writeFileSync(
  join(root, "bench", "extract-results.json"),
  `${JSON.stringify(
    {
      started: new Date().toISOString(),
      machine: describeMachine(loadAtStart, true),
      repeats,
      images8_one_thread: {
        pixels: pixels8,
        read_decode: perStill(decode, pixels8),
        mask_bin: perStill(bin, pixels8),
        read_mask_bin: perStill(both, pixels8),
      },
      still_4mpx_one_thread_s: { cpu: one.cpu, wall: one.wall },
      extract_command: jobs,
    },
    null,
    2,
  )}\n`,
);
