/**
 * Valid inputs at the edges of the scale job's cost (`npx tsx bench/input-edges.ts [--work DIR] [--size N]`, never in
 * CI): each must take time linear in its size. The test suite runs the same cases smaller
 * (`test/robustness/input-edges.test.ts`).
 *
 * Cases (made from `../shared/fixtures/sim/tetragonal-40`, or from the synthetic generator below):
 * 1. one voxel: every diffuse row in the same voxel;
 * 2. all-zero Miller indices: every Bragg row in one group;
 * 3. 10^5 experiments of which 40 have data (the other experiments share the first one's models);
 * 4. 10^5 stills with one Bragg observation each, on 100 reflections.
 *
 * Each runs the built CLI (`dist/cli/main.js`; run `npm run build` first) in its own process; prints the wall time.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
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
const size = Number(option("--size") ?? 1e5);
mkdirSync(work, { recursive: true });

const cases = await makeEdgeCases(work, { voxelRows: size, zeroRows: size, experiments: size, stills: size });
for (const c of cases) {
  const t0 = performance.now();
  const r = spawnSync(
    process.execPath,
    [
      join(root, "dist/cli/main.js"),
      "scale",
      ...c.args,
      "--out",
      join(work, `out-${c.name}`),
      "--quiet",
      "--threads",
      "1",
    ],
    { encoding: "utf8" },
  );
  const s = (performance.now() - t0) / 1000;
  console.log(
    `${c.name.padEnd(28)} ${c.size.padEnd(40)} exit ${r.status ?? r.signal}  ${s.toFixed(1)} s  ${r.stderr.trim()}`,
  );
}
