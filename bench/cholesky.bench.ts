/**
 * Throughput of the dense Cholesky kernels on flat row-major Float64Arrays (not run in CI).
 *
 * Run: `npx tsx bench/cholesky.bench.ts [n ...]` (default n = 500 1000 2000). The matrix is a random symmetric
 * matrix with entries in [−1, 1] and n + 1 on the diagonal (positive definite by Gershgorin). The factorisation costs
 * n³/3 flops, the inverse from the factor about 2n³/3.
 */
import { choleskyFactor, choleskyInverse, choleskySolve } from "../src/solve/cholesky.ts";
import { spdMatrix } from "./spd-matrix.ts";

function best(reps: number, fn: () => void): number {
  let t = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    fn();
    t = Math.min(t, performance.now() - t0);
  }
  return t / 1000;
}

const sizes = process.argv.slice(2).map(Number);
for (const n of sizes.length > 0 ? sizes : [500, 1000, 2000]) {
  const a = spdMatrix(n);
  const reps = n <= 1000 ? 5 : 2;
  let l = new Float64Array(0);
  const tf = best(reps, () => {
    l = Float64Array.from(a);
    if (!choleskyFactor(l, n)) throw new Error("not SPD");
  });
  const b = Float64Array.from({ length: n }, (_, i) => Math.sin(i));
  const ts = best(reps, () => choleskySolve(l, n, b));
  const ti = best(1, () => choleskyInverse(l, n));
  const gf = n ** 3 / 3 / tf / 1e9;
  console.log(
    `n=${n}: factor ${(tf * 1e3).toFixed(1)} ms (${gf.toFixed(2)} GFLOP/s), solve ${(ts * 1e3).toFixed(2)} ms, ` +
      `inverse ${(ti * 1e3).toFixed(1)} ms (${((2 * n ** 3) / 3 / ti / 1e9).toFixed(2)} GFLOP/s)`,
  );
}
