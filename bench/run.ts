/**
 * Benchmarks of `diffuse-scale scale` (issue 5; `npm run bench`, never in CI).
 *
 * Cases:
 * 1. Bragg-only scaling of `../shared/fixtures/sim/tetragonal-40` and of simulated 300- and 3000-still sets.
 * 2. Joint scaling with 10^6, 10^7 and 10^8 simulated diffuse observations (`--max-obs` caps it), threads 1 and 2.
 * 3. The per-iteration throughput of an mdx2-style ALS loop (`bench/mdx2_als.py`, numpy/scipy) on the same data.
 * 4. The real `dials.scale` (KB model, no decay, partiality cutoff 0.1) on the 300-still Bragg data, when installed,
 *    timed in the same run as ours.
 * 5. The 10^7 and 10^8 joint cases again with a memory limit far below their grouped columns, so the rows are paged
 *    from a scratch file (inputs larger than memory): wall time, peak RSS, and whether scales.json is identical.
 * 6. The 10^7 joint case with `--error-model none` (σ as given), beside the default run: the error model's cost.
 *
 * Every scaling run is a separate `node` process running the built CLI (`dist/cli/main.js`; the bench builds it
 * first unless `--no-build`), so peak RSS is the run's own; runs are timed with `/usr/bin/time`. The table is printed
 * and written to `bench/results.json` together with a description of the machine.
 *
 * Every case runs `--repeats N` times (default 3), interleaved with nothing else: each row gives the median wall time and
 * `refine_s` with their min–max, and the throughputs from the medians. Ratios measured in the same run: dials.scale's
 * wall time over ours on the 300-still Bragg set, and for each joint case our throughput over `refine_s` against the
 * mdx2-style ALS loop's (and the wall times of both).
 *
 * Options: `--max-obs N` (largest joint case, default 1e8), `--repeats N` (default 3), `--skip-dials`, `--skip-mdx2`,
 * `--no-build`, `--work DIR` (where the simulated data go, default `$TMPDIR/diffuse-scaling-bench`; data already there
 * are reused).
 *
 * Not here: the valid inputs at the edges of the cost (one voxel or hkl holding every row, all-zero indices, 10^5
 * experiments of which few have data, 10^5 stills with one observation each) are `npm run bench:edges`
 * (`bench/input-edges.ts`), reading + grouping alone is `npm run bench:read`, and the throughput of `extract`
 * (reading and binning images) is `npm run bench:extract` (`bench/extract.bench.ts`).
 */
import { spawnSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describeMachine } from "./machine.ts";
import { openBinnedDiffuse } from "../src/io/binned-diffuse.ts";
import { simulateDataset } from "../src/simulate/simulate-dataset.ts";

const root = fileURLToPath(new URL("../", import.meta.url));
const args = process.argv.slice(2);
function option(name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}
const USAGE =
  "usage: npm run bench -- [--max-obs N] [--repeats N] [--skip-dials] [--skip-mdx2] [--no-build] [--work DIR]\n";
if (args.includes("--help")) {
  process.stdout.write(USAGE);
  process.exit(0);
}
{
  const valued = new Set(["--max-obs", "--repeats", "--work"]);
  const flags = new Set(["--skip-dials", "--skip-mdx2", "--no-build"]);
  for (let i = 0; i < args.length; i++) {
    if (valued.has(args[i])) i++;
    else if (!flags.has(args[i])) {
      process.stderr.write(`unknown argument ${JSON.stringify(args[i])}\n${USAGE}`);
      process.exit(2);
    }
  }
}
const maxObs = Number(option("--max-obs") ?? 1e8);
const work = option("--work") ?? join(tmpdir(), "diffuse-scaling-bench");
const skipDials = args.includes("--skip-dials");
const skipMdx2 = args.includes("--skip-mdx2");
const repeats = Number(option("--repeats") ?? 3);
if (!Number.isSafeInteger(repeats) || repeats < 1) throw new Error(`--repeats must be a positive integer`);
mkdirSync(work, { recursive: true });

interface Row {
  case: string;
  threads: number | null;
  observations: number;
  iterations: number;
  /** Runs behind the medians. */
  runs: number;
  /** Median wall time, and its range over the runs. */
  wall_s: number;
  wall_min_s: number;
  wall_max_s: number;
  /** Median `refine_s` (the ALS loop's own time for the mdx2 rows), and its range. */
  refine_s: number | null;
  refine_min_s: number | null;
  refine_max_s: number | null;
  observation_iterations_per_s: number | null;
  /** Observations × iterations / time between the first and last iteration of the first cycle (no setup). */
  loop_observation_iterations_per_s: number | null;
  /** Largest peak RSS over the runs. */
  peak_rss_mb: number | null;
  note: string;
}
const rows: Row[] = [];

/** Median of a non-empty list (the mean of the middle two for an even count). */
function median(values: readonly number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 === 1 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** Median, min and max of the runs' values (nulls when any run has none). */
function spread(values: readonly (number | null)[]): { median: number; min: number; max: number } | null {
  if (values.length === 0 || values.some((v) => v === null)) return null;
  const v = values as readonly number[];
  return { median: median(v), min: Math.min(...v), max: Math.max(...v) };
}

/** Runs `once` `repeats` times and summarises the wall times, refine times and peak RSS. */
function repeated<T extends { wall: number; refine: number | null; rssMb: number | null }>(
  once: () => T,
): {
  runs: T[];
  wall: { median: number; min: number; max: number };
  refine: ReturnType<typeof spread>;
  rssMb: number | null;
} {
  const runs = Array.from({ length: repeats }, once);
  const wall = spread(runs.map((r) => r.wall));
  if (wall === null) throw new Error("no wall times");
  const rss = runs.map((r) => r.rssMb);
  return {
    runs,
    wall,
    refine: spread(runs.map((r) => r.refine)),
    rssMb: rss.some((v) => v === null) ? null : Math.max(...(rss as number[])),
  };
}

/** Runs a command under /usr/bin/time; returns wall seconds and peak RSS (MB). */
function timed(cmd: string, cmdArgs: string[], cwd: string): { wall: number; rssMb: number | null; stdout: string } {
  const useTime = existsSync("/usr/bin/time");
  const t0 = performance.now();
  const r = useTime
    ? spawnSync("/usr/bin/time", ["-f", "__RSS_KB__ %M", cmd, ...cmdArgs], {
        cwd,
        encoding: "utf8",
        maxBuffer: 1 << 28,
      })
    : spawnSync(cmd, cmdArgs, { cwd, encoding: "utf8", maxBuffer: 1 << 28 });
  const wall = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${cmd} ${cmdArgs.join(" ")} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const m = /__RSS_KB__ (\d+)/.exec(r.stderr);
  return { wall, rssMb: m === null ? null : Number(m[1]) / 1024, stdout: r.stdout };
}

async function simulated(name: string, stills: number, perStill: number): Promise<string> {
  const dir = join(work, name);
  if (!existsSync(join(dir, "truth.json"))) {
    process.stderr.write(`simulating ${name} (${stills} stills × ${perStill} diffuse observations)…\n`);
    await simulateDataset({ outDir: dir, stills, observationsPerStill: perStill, seed: 1, compression: false });
  }
  return dir;
}

interface ScalesDoc {
  timings: { refine_s: number; threads: number };
  refinement_statistics: { n_iterations: number };
  data: { n_bragg_used: number; n_diffuse_used: number };
}

function scale(caseName: string, dir: string, diffuse: boolean, threads: number, extra: string[] = []): Row {
  const out = join(work, "out", `${caseName}-t${threads}`);
  const cli = [
    join(root, "dist", "cli", "main.js"),
    "scale",
    "--expt",
    join(dir, "stills.expt"),
    "--refl",
    join(dir, "stills.refl"),
    ...(diffuse ? ["--diffuse", join(dir, "diffuse_binned.h5")] : []),
    "--out",
    out,
    "--threads",
    String(threads),
    "--quiet",
    ...extra,
  ];
  const r = repeated(() => {
    const { wall, rssMb } = timed(process.execPath, cli, root);
    const doc = JSON.parse(readFileSync(join(out, "scales.json"), "utf8")) as ScalesDoc;
    const history = (
      JSON.parse(readFileSync(join(out, "refinement.json"), "utf8")) as {
        history: { cycle: number; iteration: number; seconds: number }[];
      }
    ).history.filter((h) => h.cycle === 0);
    const loopIterations = history.length - 1;
    const loopSeconds = loopIterations > 0 ? history[history.length - 1].seconds - history[0].seconds : 0;
    return { wall, rssMb, refine: doc.timings.refine_s, doc, loopIterations, loopSeconds };
  });
  // every run scales the same data to the same numbers: the counts are the last run's
  const last = r.runs[r.runs.length - 1];
  const obs = last.doc.data.n_bragg_used + last.doc.data.n_diffuse_used;
  const it = last.doc.refinement_statistics.n_iterations;
  const loop = median(r.runs.map((x) => x.loopSeconds));
  const refine = r.refine?.median ?? null;
  const row: Row = {
    case: caseName,
    threads,
    observations: obs,
    iterations: it,
    runs: repeats,
    wall_s: r.wall.median,
    wall_min_s: r.wall.min,
    wall_max_s: r.wall.max,
    refine_s: refine,
    refine_min_s: r.refine?.min ?? null,
    refine_max_s: r.refine?.max ?? null,
    observation_iterations_per_s: refine === null ? null : (obs * it) / refine,
    loop_observation_iterations_per_s: loop > 0 ? (obs * last.loopIterations) / loop : null,
    peak_rss_mb: r.rssMb,
    note: "",
  };
  rows.push(row);
  print(row);
  return row;
}

function print(r: Row): void {
  const f = (v: number | null, d: number) => (v === null ? "-" : v.toFixed(d));
  const range = `${f(r.wall_min_s, 2)}–${f(r.wall_max_s, 2)}`;
  process.stdout.write(
    `${r.case.padEnd(28)} ${String(r.threads ?? "-").padStart(3)} ${String(r.observations).padStart(11)} ` +
      `${String(r.iterations).padStart(4)} ${f(r.wall_s, 2).padStart(8)} ${range.padStart(13)} ` +
      `${f(r.refine_s, 2).padStart(8)} ` +
      `${f(r.observation_iterations_per_s === null ? null : r.observation_iterations_per_s / 1e6, 1).padStart(8)} ` +
      `${f(r.loop_observation_iterations_per_s === null ? null : r.loop_observation_iterations_per_s / 1e6, 1).padStart(8)} ` +
      `${f(r.peak_rss_mb, 0).padStart(7)}  ${r.note}\n`,
  );
}

async function exportForPython(dir: string): Promise<string> {
  const prefix = join(dir, "als");
  if (existsSync(`${prefix}.sigma`)) return prefix;
  const f = await openBinnedDiffuse(join(dir, "diffuse_binned.h5"));
  // slice by slice: a 10^8-row file does not fit the wasm heap in one read; `.sigma` last marks a complete export
  const names = ["still", "voxel", "intensity", "sigma"] as const;
  const fds = names.map((name) => openSync(`${prefix}.${name}.part`, "w"));
  try {
    for (const c of f.chunks()) {
      writeSync(fds[0], c.stillIds);
      writeSync(fds[1], c.voxelIndices);
      writeSync(fds[2], c.intensities);
      writeSync(fds[3], c.sigmas);
    }
  } finally {
    f.close();
    for (const fd of fds) closeSync(fd);
  }
  for (const name of names) renameSync(`${prefix}.${name}.part`, `${prefix}.${name}`);
  return prefix;
}

function mdx2(caseName: string, dir: string): Row | undefined {
  const py = "/usr/bin/python3";
  const probe = spawnSync(py, ["-c", "import numpy, scipy"], { encoding: "utf8" });
  if (probe.status !== 0) {
    process.stderr.write("mdx2 comparison skipped: /usr/bin/python3 lacks numpy/scipy\n");
    return undefined;
  }
  const prefix = join(dir, "als");
  const r = repeated(() => {
    const { wall, rssMb, stdout } = timed(py, [join(root, "bench", "mdx2_als.py"), prefix, "5"], root);
    const res = JSON.parse(stdout.trim()) as { n_observations: number; iterations: number; seconds: number };
    return { wall, rssMb, refine: res.seconds, res };
  });
  const { n_observations: obs, iterations } = r.runs[0].res;
  const seconds = r.refine?.median ?? NaN;
  const row: Row = {
    case: `${caseName} mdx2-style ALS`,
    threads: null,
    observations: obs,
    iterations,
    runs: repeats,
    wall_s: r.wall.median,
    wall_min_s: r.wall.min,
    wall_max_s: r.wall.max,
    refine_s: seconds,
    refine_min_s: r.refine?.min ?? null,
    refine_max_s: r.refine?.max ?? null,
    observation_iterations_per_s: (obs * iterations) / seconds,
    loop_observation_iterations_per_s: (obs * iterations) / seconds,
    peak_rss_mb: r.rssMb,
    note: "numpy/scipy, b only",
  };
  rows.push(row);
  print(row);
  return row;
}

function dialsScale(dir: string): Row | undefined {
  if (skipDials) return undefined;
  const which = spawnSync("which", ["dials.scale"], { encoding: "utf8" });
  if (which.status !== 0) {
    process.stderr.write("dials.scale not installed: case 4 skipped\n");
    return undefined;
  }
  const out = join(work, "out", "dials-300");
  mkdirSync(out, { recursive: true });
  const r = repeated(() => ({
    refine: null,
    ...timed(
      "dials.scale",
      [
        join(dir, "stills.expt"),
        join(dir, "stills.refl"),
        "model=KB",
        "KB.decay_correction=False",
        "cut_data.partiality_cutoff=0.1",
        "output.reflections=dials_scaled.refl",
        "output.experiments=dials_scaled.expt",
        "output.html=None",
        "output.log=dials.scale.log",
      ],
      out,
    ),
  }));
  const row: Row = {
    case: "bragg-300 dials.scale",
    threads: null,
    observations: 0,
    iterations: 0,
    runs: repeats,
    wall_s: r.wall.median,
    wall_min_s: r.wall.min,
    wall_max_s: r.wall.max,
    refine_s: null,
    refine_min_s: null,
    refine_max_s: null,
    observation_iterations_per_s: null,
    loop_observation_iterations_per_s: null,
    peak_rss_mb: r.rssMb,
    note: "KB, no decay, partiality cutoff 0.1",
  };
  rows.push(row);
  print(row);
  return row;
}

/** Memory limit of the paged cases (GiB): well below the grouped columns of 10^7 (0.2 GB) and 10^8 (2 GB) rows. */
const pagedLimitGiB = "0.1";

/** Whether two runs wrote the same scales.json apart from their timings. */
function sameScales(a: string, b: string): boolean {
  const read = (dir: string): string => {
    const doc = JSON.parse(readFileSync(join(dir, "scales.json"), "utf8")) as Record<string, unknown>;
    delete doc.timings;
    return JSON.stringify(doc);
  };
  return read(a) === read(b);
}

async function main(): Promise<void> {
  const started = new Date().toISOString();
  if (!args.includes("--no-build")) {
    process.stderr.write("building dist/ …\n");
    const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
    const r = spawnSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], { cwd: root, encoding: "utf8" });
    if (!existsSync(join(root, "dist", "cli", "main.js"))) throw new Error(`build failed: ${r.stdout}${r.stderr}`);
  }
  const load = loadavg();
  process.stdout.write(
    `${"case".padEnd(28)} thr ${"obs".padStart(11)}   it   wall_s   (min–max) refine_s Mo·it/s loop M/s  RSS_MB\n` +
      `(median of ${repeats} runs each)\n`,
  );
  // 1. Bragg only
  scale("bragg tetragonal-40", join(root, "..", "shared", "fixtures", "sim", "tetragonal-40"), false, 1);
  const s300 = await simulated("s300", 300, 3334);
  const ours300 = scale("bragg-300", s300, false, 2);
  const s3000 = await simulated("s3000", 3000, 10);
  scale("bragg-3000", s3000, false, 2);
  // 4. dials.scale side by side on the 300-still Bragg data
  const dials = dialsScale(s300);
  // 2. joint
  const joint: [string, string][] = [["joint-1e6", s300]];
  if (maxObs >= 1e7) joint.push(["joint-1e7", await simulated("s1000x1e4", 1000, 10000)]);
  if (maxObs >= 1e8) joint.push(["joint-1e8", await simulated("s1000x1e5", 1000, 100000)]);
  /** Per joint case: ours (2 threads) against the mdx2-style loop on the same data, measured in this run. */
  const versusMdx2: { case: string; refine_throughput_ratio: number | null; wall_ratio: number }[] = [];
  for (const [name, dir] of joint) {
    let ours: Row | undefined;
    for (const threads of [1, 2]) ours = scale(name, dir, true, threads);
    // the cost of the error model: the same run with σ as given
    if (name === "joint-1e7") scale(`${name} error-model none`, dir, true, 2, ["--error-model", "none"]);
    // 5. the same data paged from a scratch file (a memory limit below the columns' size): same scales.json
    if (name !== "joint-1e6") {
      const paged = scale(`${name} paged`, dir, true, 2, ["--memory-limit", pagedLimitGiB]);
      const same = sameScales(join(work, "out", `${name}-t2`), join(work, "out", `${name} paged-t2`));
      paged.note = `--memory-limit ${pagedLimitGiB} GiB; scales.json ${same ? "identical" : "DIFFERENT"} (minus timings)`;
      process.stdout.write(`${"".padEnd(28)} ↳ ${paged.note}\n`);
    }
    // 3. mdx2-style loop on the same binned data
    if (!skipMdx2) {
      await exportForPython(dir);
      const als = mdx2(name, dir);
      if (als !== undefined && ours !== undefined) {
        const throughput =
          ours.observation_iterations_per_s === null || als.observation_iterations_per_s === null
            ? null
            : ours.observation_iterations_per_s / als.observation_iterations_per_s;
        versusMdx2.push({ case: name, refine_throughput_ratio: throughput, wall_ratio: als.wall_s / ours.wall_s });
        process.stdout.write(
          `${"".padEnd(28)} ↳ ours (2 threads) / mdx2-style loop: ${throughput?.toFixed(2) ?? "-"}× the ` +
            `observation-iterations/s over refine_s; its wall / ours: ${(als.wall_s / ours.wall_s).toFixed(2)}×\n`,
        );
      }
    }
  }
  const ratio = dials === undefined ? null : dials.wall_s / ours300.wall_s;
  if (ratio !== null) {
    process.stdout.write(`dials.scale / ours on the 300-still Bragg set (median wall times): ${ratio.toFixed(1)}×\n`);
  }
  const results = {
    started,
    machine: describeMachine(load),
    repeats,
    rows,
    dials_over_ours_bragg_300: ratio,
    ours_versus_mdx2_als: versusMdx2,
  };
  writeFileSync(join(root, "bench", "results.json"), `${JSON.stringify(results, null, 2)}\n`);
}

await main();
