/**
 * The weight a row starts with, before outlier rejection.
 *
 * @packageDocumentation
 */
import type { RowColumns } from "./row-columns.ts";

/**
 * The weight 1/σ² a row starts with: 0 (unusable) unless σ² > 0 and σ² and I are finite. A row is usable, and takes
 * part in outlier rejection, exactly when this is positive.
 */
export function initialWeight(variance: number, intensity: number): number {
  return variance > 0 && Number.isFinite(variance) && Number.isFinite(intensity) ? 1 / variance : 0;
}

/** Sets the initial weight of rows [0, m) of `c`. */
export function setInitialWeights(c: RowColumns, m: number): void {
  for (let j = 0; j < m; j++) c.weight[j] = initialWeight(c.variance[j], c.intensity[j]);
}
