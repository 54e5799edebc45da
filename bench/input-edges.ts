/**
 * Valid inputs at the edges of the scale job's cost (`npm run bench:edges`, never in CI): each must take time linear
 * in its size. The test suite runs the same cases smaller (`test/robustness/input-edges.test.ts`).
 *
 * Cases (made from `../shared/fixtures/sim/tetragonal-40` by `test/robustness/input-edge-cases.ts`):
 * 1. one-voxel: every diffuse row in the same voxel (tetragonal-40's rows, repeated past its 200 168);
 * 2. zero-hkl: every Bragg row at (0,0,0) (refused: such rows are excluded, nothing is left to scale);
 * 3. one-hkl: every Bragg row in one hkl (tetragonal-40's rows, repeated past its 15 790);
 * 4. many-experiments: N experiments of which 40 have data (the others share the first one's models);
 * 5. one-observation-per-still: N stills with one Bragg observation each, on 100 reflections (refused as
 *    underdetermined).
 *
 * Each runs the built CLI (`dist/cli/main.js`; `npm run build` first, or `--cli PATH` for another build) in its own
 * process with one thread; prints the wall time, the CPU time of the process (user + system, from /proc: the machine
 * may be shared) and the phases of `scales.json` when it exits 0.
 *
 * Options: `--sizes 10000,100000` (default 100000; `--size N` for one), `--cases one-voxel,one-hkl` (default all),
 * `--work DIR` (default `$TMPDIR/diffuse-scaling-input-edges`), `--cli PATH`.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { makeEdgeCases } from "../test/robustness/input-edge-cases.ts";

const root = fileURLToPath(new URL("../", import.meta.url));
const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const work = option("--work") ?? join(tmpdir(), "diffuse-scaling-input-edges");
const sizes = (option("--sizes") ?? option("--size") ?? "100000").split(",").map(Number);
const only = option("--cases")?.split(",");
const cli = option("--cli") ?? join(root, "dist/cli/main.js");

/** CPU seconds (user + system) of this process's waited-for children, from /proc (NaN elsewhere). */
function childrenCpuSeconds(): number {
  if (!existsSync("/proc/self/stat")) return NaN;
  const stat = readFileSync("/proc/self/stat", "utf8");
  // fields after the command name (which may hold spaces): state is field 3, cutime and cstime are fields 16 and 17
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

console.log("case                        rows/items   exit   wall s    cpu s  phases (read/refine/merge/write s)");
for (const size of sizes) {
  const dir = join(work, only === undefined ? String(size) : `${size}-${only.join("+")}`);
  mkdirSync(dir, { recursive: true });
  // cases not asked for are made small (the builder writes every case)
  const sized = (name: string): number => (only === undefined || only.includes(name) ? size : 100);
  const cases = await makeEdgeCases(dir, {
    voxelRows: sized("one-voxel"),
    zeroRows: sized("zero-hkl"),
    hklRows: sized("one-hkl"),
    experiments: sized("many-experiments"),
    stills: sized("one-observation-per-still"),
  });
  for (const c of cases) {
    if (only !== undefined && !only.includes(c.name)) continue;
    const out = join(dir, `out-${c.name}`);
    const cpu0 = childrenCpuSeconds();
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [cli, "scale", ...c.args, "--out", out, "--quiet", "--threads", "1"], {
      encoding: "utf8",
    });
    const wall = (performance.now() - t0) / 1000;
    const cpu = childrenCpuSeconds() - cpu0;
    let phases = r.stderr.trim().split("\n").at(-1) ?? "";
    if (r.status === 0) {
      const t = (JSON.parse(readFileSync(join(out, "scales.json"), "utf8")) as { timings: Record<string, number> })
        .timings;
      phases = [t.read_s, t.refine_s, t.merge_s, t.write_s].map((s) => s.toFixed(2)).join(" / ");
    }
    console.log(
      `${c.name.padEnd(27)} ${String(size).padStart(10)}   ${String(r.status ?? r.signal).padEnd(4)} ${wall.toFixed(2).padStart(8)} ${cpu.toFixed(2).padStart(8)}  ${phases}`,
    );
  }
}
