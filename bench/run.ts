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
 * Options: `--max-obs N` (largest joint case, default 1e8), `--skip-dials`, `--skip-mdx2`, `--no-build`, `--work DIR`
 * (where the simulated data go, default `$TMPDIR/diffuse-scaling-bench`; data already there are reused).
 *
 * Not here: the valid inputs at the edges of the cost (one voxel or hkl holding every row, all-zero indices, 10^5
 * experiments of which few have data, 10^5 stills with one observation each) are `npm run bench:edges`
 * (`bench/input-edges.ts`), and reading + grouping alone is `npm run bench:read`.
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
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openBinnedDiffuse } from "../src/io/binned-diffuse.ts";
import { simulateDataset } from "../src/simulate/simulate-dataset.ts";

const root = fileURLToPath(new URL("../", import.meta.url));
const args = process.argv.slice(2);
function option(name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}
const maxObs = Number(option("--max-obs") ?? 1e8);
const work = option("--work") ?? join(tmpdir(), "diffuse-scaling-bench");
const skipDials = args.includes("--skip-dials");
const skipMdx2 = args.includes("--skip-mdx2");
mkdirSync(work, { recursive: true });

interface Row {
  case: string;
  threads: number | null;
  observations: number;
  iterations: number;
  wall_s: number;
  refine_s: number | null;
  observation_iterations_per_s: number | null;
  /** Observations × iterations / time between the first and last iteration of the first cycle (no setup). */
  loop_observation_iterations_per_s: number | null;
  peak_rss_mb: number | null;
  note: string;
}
const rows: Row[] = [];

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
  const { wall, rssMb } = timed(process.execPath, cli, root);
  const doc = JSON.parse(readFileSync(join(out, "scales.json"), "utf8")) as ScalesDoc;
  const history = (
    JSON.parse(readFileSync(join(out, "refinement.json"), "utf8")) as {
      history: { cycle: number; iteration: number; seconds: number }[];
    }
  ).history.filter((h) => h.cycle === 0);
  const obs = doc.data.n_bragg_used + doc.data.n_diffuse_used;
  const loopIterations = history.length - 1;
  const loopSeconds = loopIterations > 0 ? history[history.length - 1].seconds - history[0].seconds : 0;
  const it = doc.refinement_statistics.n_iterations;
  const row: Row = {
    case: caseName,
    threads,
    observations: obs,
    iterations: it,
    wall_s: wall,
    refine_s: doc.timings.refine_s,
    observation_iterations_per_s: (obs * it) / doc.timings.refine_s,
    loop_observation_iterations_per_s: loopSeconds > 0 ? (obs * loopIterations) / loopSeconds : null,
    peak_rss_mb: rssMb,
    note: "",
  };
  rows.push(row);
  print(row);
  return row;
}

function print(r: Row): void {
  const f = (v: number | null, d: number) => (v === null ? "-" : v.toFixed(d));
  process.stdout.write(
    `${r.case.padEnd(28)} ${String(r.threads ?? "-").padStart(3)} ${String(r.observations).padStart(11)} ` +
      `${String(r.iterations).padStart(4)} ${f(r.wall_s, 2).padStart(8)} ${f(r.refine_s, 2).padStart(8)} ` +
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

function mdx2(caseName: string, dir: string): void {
  const py = "/usr/bin/python3";
  const probe = spawnSync(py, ["-c", "import numpy, scipy"], { encoding: "utf8" });
  if (probe.status !== 0) {
    process.stderr.write("mdx2 comparison skipped: /usr/bin/python3 lacks numpy/scipy\n");
    return;
  }
  const prefix = join(dir, "als");
  const { wall, rssMb, stdout } = timed(py, [join(root, "bench", "mdx2_als.py"), prefix, "5"], root);
  const res = JSON.parse(stdout.trim()) as { n_observations: number; iterations: number; seconds: number };
  const row: Row = {
    case: `${caseName} mdx2-style ALS`,
    threads: null,
    observations: res.n_observations,
    iterations: res.iterations,
    wall_s: wall,
    refine_s: res.seconds,
    observation_iterations_per_s: (res.n_observations * res.iterations) / res.seconds,
    loop_observation_iterations_per_s: (res.n_observations * res.iterations) / res.seconds,
    peak_rss_mb: rssMb,
    note: "numpy/scipy, b only",
  };
  rows.push(row);
  print(row);
}

function dialsScale(dir: string): number | undefined {
  if (skipDials) return undefined;
  const which = spawnSync("which", ["dials.scale"], { encoding: "utf8" });
  if (which.status !== 0) {
    process.stderr.write("dials.scale not installed: case 4 skipped\n");
    return undefined;
  }
  const out = join(work, "out", "dials-300");
  mkdirSync(out, { recursive: true });
  const { wall, rssMb } = timed(
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
  );
  const row: Row = {
    case: "bragg-300 dials.scale",
    threads: null,
    observations: 0,
    iterations: 0,
    wall_s: wall,
    refine_s: null,
    observation_iterations_per_s: null,
    loop_observation_iterations_per_s: null,
    peak_rss_mb: rssMb,
    note: "KB, no decay, partiality cutoff 0.1",
  };
  rows.push(row);
  print(row);
  return wall;
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
    `${"case".padEnd(28)} thr ${"obs".padStart(11)}   it   wall_s refine_s Mo·it/s loop M/s  RSS_MB\n`,
  );
  // 1. Bragg only
  scale("bragg tetragonal-40", join(root, "..", "shared", "fixtures", "sim", "tetragonal-40"), false, 1);
  const s300 = await simulated("s300", 300, 3334);
  const ours300 = scale("bragg-300", s300, false, 2);
  const s3000 = await simulated("s3000", 3000, 10);
  scale("bragg-3000", s3000, false, 2);
  // 4. dials.scale side by side on the 300-still Bragg data
  const dialsWall = dialsScale(s300);
  // 2. joint
  const joint: [string, string][] = [["joint-1e6", s300]];
  if (maxObs >= 1e7) joint.push(["joint-1e7", await simulated("s1000x1e4", 1000, 10000)]);
  if (maxObs >= 1e8) joint.push(["joint-1e8", await simulated("s1000x1e5", 1000, 100000)]);
  for (const [name, dir] of joint) {
    for (const threads of [1, 2]) scale(name, dir, true, threads);
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
      mdx2(name, dir);
    }
  }
  const ratio = dialsWall === undefined ? null : dialsWall / ours300.wall_s;
  if (ratio !== null) process.stdout.write(`dials.scale / ours on the 300-still Bragg set: ${ratio.toFixed(1)}×\n`);
  const cpu = cpus();
  const results = {
    started,
    machine: {
      cpu: cpu[0]?.model ?? "unknown",
      cores: cpu.length,
      memory_gb: totalmem() / 2 ** 30,
      node: process.version,
      load_average_at_start: load,
    },
    rows,
    dials_over_ours_bragg_300: ratio,
  };
  writeFileSync(join(root, "bench", "results.json"), `${JSON.stringify(results, null, 2)}\n`);
}

await main();
