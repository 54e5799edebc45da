/**
 * The read case of the benchmarks: reading and grouping a binned diffuse file (what `read_s` of a joint run covers),
 * with h5wasm and with the native reader, interleaved in one run so both see the same machine load. Every run is a
 * fresh `node` process (h5wasm's module load counts, as it does in a real run).
 *
 * `npm run bench:read -- [--file F.h5] [--stills N] [--runs R] [--readers h5wasm,native,native1] [--threads T]`:
 * defaults are the 10^7-observation bench data (`$TMPDIR/diffuse-scaling-bench/s1000x1e4`, made by `npm run bench`),
 * 1000 stills, 3 runs per reader, h5wasm and native (`native1`: native with no decoding threads), 2 threads placing
 * the rows (`threads` of grouping, as a `scale --threads 2` job). Prints every run (wall seconds and the CPU seconds,
 * user + sys, of the process and its threads), then per reader the median (min–max) seconds, and the ratio of
 * h5wasm's median to each other reader's. `--builds DIR,DIR` compares checkouts (each with `npm run build` done):
 * every run imports that checkout's `dist/` instead of these sources, and the builds' runs alternate.
 */
import { spawnSync } from "node:child_process";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const args = process.argv.slice(2);
function option(name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}
const file = option("--file") ?? join(tmpdir(), "diffuse-scaling-bench", "s1000x1e4", "diffuse_binned.h5");
const stills = Number(option("--stills") ?? 1000);
const runs = Number(option("--runs") ?? 3);
const one = option("--one");
const threads = Number(option("--threads") ?? 2);
/** Checkouts to compare ("": these sources, through tsx). */
const builds = (option("--builds") ?? "").split(",");
const build = option("--build") ?? "";

/** The three modules a run uses: from a checkout's `dist/`, or these sources. */
async function modules(): Promise<{
  io: typeof import("../src/io/binned-diffuse.ts");
  input: typeof import("../src/observations/diffuse-input.ts");
  observations: typeof import("../src/observations/scaling-observations.ts");
}> {
  const from = (path: string): string => pathToFileURL(join(resolve(build), "dist", `${path}.js`)).href;
  return build === ""
    ? {
        io: await import("../src/io/binned-diffuse.ts"),
        input: await import("../src/observations/diffuse-input.ts"),
        observations: await import("../src/observations/scaling-observations.ts"),
      }
    : {
        io: (await import(from("io/binned-diffuse"))) as typeof import("../src/io/binned-diffuse.ts"),
        input: (await import(
          from("observations/diffuse-input")
        )) as typeof import("../src/observations/diffuse-input.ts"),
        observations: (await import(
          from("observations/scaling-observations")
        )) as typeof import("../src/observations/scaling-observations.ts"),
      };
}

/** `native1` is the native reader with no decoding threads (filtered chunks inflated on the main thread). */
type Reader = "h5wasm" | "native" | "native1";
const readers = (option("--readers") ?? "h5wasm,native").split(",") as Reader[];

async function once(reader: Reader): Promise<void> {
  const { io, input, observations } = await modules();
  const { openBinnedDiffuse } = io;
  const { diffuseChunkSource } = input;
  const { buildScalingObservations } = observations;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const f = await openBinnedDiffuse(file, reader === "native1" ? { reader: "native", decodeThreads: 1 } : { reader });
  try {
    const { source, counts } = diffuseChunkSource(f, stills);
    const obs = buildScalingObservations(stills, undefined, source, { threads });
    const seconds = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    const cpu = (c.user + c.system) / 1e6;
    process.stdout.write(`${JSON.stringify({ reader, seconds, cpu, rows: counts.nRows, grouped: obs.n })}\n`);
  } finally {
    f.close();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function main(): void {
  const script = fileURLToPath(import.meta.url);
  const tsx = fileURLToPath(new URL("../node_modules/tsx/dist/cli.mjs", import.meta.url));
  // one case per reader and build, their runs interleaved
  const cases = readers.flatMap((reader) =>
    builds.map((b) => ({ reader, build: b, name: b === "" ? reader : `${reader}@${b}` })),
  );
  const times: Record<string, number[]> = Object.fromEntries(cases.map((c) => [c.name, []]));
  const cpuTimes: Record<string, number[]> = Object.fromEntries(cases.map((c) => [c.name, []]));
  process.stdout.write(
    `read + grouping of ${file}, ${threads} threads (${cpus().length} cores, load ${loadavg()[0].toFixed(1)})\n`,
  );
  for (let r = 0; r < runs; r++) {
    for (const { reader, build: b, name } of cases) {
      const p = spawnSync(
        process.execPath,
        [tsx, script, "--one", reader, "--file", file, "--stills", String(stills), "--threads", String(threads)].concat(
          b === "" ? [] : ["--build", b],
        ),
        {
          encoding: "utf8",
          maxBuffer: 1 << 24,
        },
      );
      if (p.status !== 0) throw new Error(`${name} run failed: ${p.stderr}`);
      const res = JSON.parse(p.stdout.trim().split("\n").at(-1) ?? "{}") as {
        seconds: number;
        cpu: number;
        grouped: number;
      };
      times[name].push(res.seconds);
      cpuTimes[name].push(res.cpu);
      process.stdout.write(
        `run ${r + 1} ${name.padEnd(6)} ${res.seconds.toFixed(2)} s, CPU ${res.cpu.toFixed(2)} s (${res.grouped} rows grouped, load ${loadavg()[0].toFixed(1)})\n`,
      );
    }
  }
  for (const { name } of cases) {
    const t = times[name];
    const c = cpuTimes[name];
    process.stdout.write(
      `${name.padEnd(6)} median ${median(t).toFixed(2)} s (${Math.min(...t).toFixed(2)}–${Math.max(...t).toFixed(2)}), ` +
        `CPU ${median(c).toFixed(2)} s (${Math.min(...c).toFixed(2)}–${Math.max(...c).toFixed(2)})\n`,
    );
  }
  for (const b of builds) {
    const base = b === "" ? "h5wasm" : `h5wasm@${b}`;
    for (const { name } of cases.filter((c) => c.build === b && c.reader !== "h5wasm")) {
      if (base in times) {
        process.stdout.write(`${base} / ${name}: ${(median(times[base]) / median(times[name])).toFixed(2)}×\n`);
      }
    }
  }
}

if (one === "native" || one === "h5wasm" || one === "native1") await once(one);
else main();
