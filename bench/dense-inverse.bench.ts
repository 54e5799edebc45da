/**
 * The dense inverse of the ESDs (Cholesky factor, then A⁻¹) in one thread and split over the pass workers of a
 * {@link JointPassRunner} (not run in CI). Prints the median wall and job-thread CPU time of each, and checks that
 * the results are bit-identical.
 *
 * Run: `npx tsx bench/dense-inverse.bench.ts [n] [threads] [reps]` (default 1000 2 5). The matrix is a random
 * symmetric matrix with entries in [−1, 1] and n + 1 on the diagonal.
 */
import { JointPassRunner } from "../src/passes/joint-pass.ts";
import { choleskyFactorKernel, choleskyInverseKernel } from "../src/solve/cholesky.ts";
import { spdMatrix } from "./spd-matrix.ts";

const [n, threads, reps] = [1000, 2, 5].map((d, i) => Number(process.argv[2 + i] ?? d));

// a runner over n stills with one row each in 2·threads groups (only its workers and shared matrix are used)
const nGroups = 2 * threads;
const still = Int32Array.from({ length: n }, (_, i) => i);
const groupStart = Int32Array.from({ length: nGroups + 1 }, (_, h) => Math.round((h * n) / nGroups));
const rows = {
  still,
  intensity: new Float32Array(n).fill(1),
  variance: new Float32Array(n).fill(1),
  weight: new Float32Array(n).fill(1),
  qMagnitude: new Float32Array(n).fill(0.1),
};
const runner = new JointPassRunner({ groupStart, rows }, n, undefined, { threads, dense: true, shardRows: 1 });
const a = spdMatrix(n);

function timed(fn: () => Float64Array | undefined): { wall: number; cpu: number; out: Float64Array } {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const out = fn();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  if (out === undefined) throw new Error("not SPD");
  return { wall, cpu: (c.user + c.system) / 1000, out };
}
const median = (x: number[]): number => [...x].sort((p, q) => p - q)[Math.floor(x.length / 2)];

const one: { wall: number; cpu: number }[] = [];
const par: { wall: number; cpu: number }[] = [];
let same = true;
for (let r = 0; r < reps; r++) {
  const s = timed(() => {
    const l = Float64Array.from(a);
    return choleskyFactorKernel(l, n) ? choleskyInverseKernel(l, n) : undefined;
  });
  const p = timed(() => runner.inversePositiveDefinite(Float64Array.from(a)));
  one.push(s);
  par.push(p);
  for (let i = 0; i < n * n; i++) if (!Object.is(s.out[i], p.out[i])) same = false;
}
runner.close();
const show = (x: { wall: number; cpu: number }[]): string =>
  `${median(x.map((t) => t.wall)).toFixed(0)} ms wall, ${median(x.map((t) => t.cpu)).toFixed(0)} ms CPU (process)`;
console.log(`n=${n}: one thread ${show(one)}; ${runner.threads} workers ${show(par)}; bit-identical: ${same}`);
