/**
 * The test matrix of the dense-solver benches (`cholesky.bench.ts`, `dense-inverse.bench.ts`).
 *
 * @packageDocumentation
 */

/**
 * A random symmetric n × n matrix (flat, row-major) with off-diagonal entries in [−1, 1] from a fixed linear
 * congruential sequence and n + 1 on the diagonal: positive definite by Gershgorin, the same matrix on every run.
 */
export function spdMatrix(n: number): Float64Array {
  let s = 12345;
  const next = (): number => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 4294967296;
  };
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) {
      const v = 2 * next() - 1;
      a[i * n + j] = v;
      a[j * n + i] = v;
    }
    a[i * n + i] = n + 1;
  }
  return a;
}
