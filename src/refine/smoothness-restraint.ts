/**
 * The smoothness restraint of the resolution smoother: second differences `c_{k−1} − 2c_k + c_{k+1}` over the interior
 * values (K ≥ 3), or the first difference `c_1 − c_0` for a 2-value smoother, each a restraint row with weight λ
 * (DIALS's Jacobian-restraint form: objective ½·λ·Σ residual²). The fixed first value has no column.
 *
 * @packageDocumentation
 */

/** Restraint rows over the free smoother values (column j − 1 is value j). */
export interface SmoothnessRestraintRows {
  /** One residual per row. */
  readonly residuals: Float64Array;
  /** Non-zero Jacobian entries: row, column (free value index), coefficient. */
  readonly entries: readonly (readonly [row: number, column: number, coefficient: number])[];
}

/** Builds the restraint rows for smoother values `c` (length K ≥ 2, c[0] fixed). */
export function smoothnessRestraintRows(c: ArrayLike<number>): SmoothnessRestraintRows {
  const k = c.length;
  const residuals: number[] = [];
  const entries: [number, number, number][] = [];
  if (k === 2) {
    residuals.push(c[1] - c[0]);
    entries.push([0, 0, 1]);
  } else {
    for (let j = 1; j < k - 1; j++) {
      const row = residuals.length;
      residuals.push(c[j - 1] - 2 * c[j] + c[j + 1]);
      if (j - 1 >= 1) entries.push([row, j - 2, 1]);
      entries.push([row, j - 1, -2]);
      entries.push([row, j, 1]);
    }
  }
  return { residuals: Float64Array.from(residuals), entries };
}
