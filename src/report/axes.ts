/**
 * Axis helpers shared by the report's plots: the d (Å) axis drawn on top of every |q| axis, the integer still-index
 * axis, and robust ranges for probability plots (points beyond the range are drawn at its edge and counted).
 *
 * @packageDocumentation
 */

/** Title of the secondary resolution axis. */
export const D_TITLE = "d (Å)";

/**
 * A layer that draws nothing visible but carries the top x axis: ticks at the |q| positions of the shared scale,
 * labelled with d = 1/|q| in Å. Layer it with the plot and resolve the x axes independently (the scale stays shared):
 * see {@link withDAxis}.
 *
 * @param field - the |q| field of the data
 * @param values - the layer's data (needed when the plot's layers carry their own data)
 */
export function dAxisLayer(field: string, values?: readonly object[]): Record<string, unknown> {
  return {
    ...(values === undefined ? {} : { data: { values } }),
    mark: { type: "point", opacity: 0, size: 1 },
    encoding: {
      x: {
        field,
        type: "quantitative",
        axis: {
          orient: "top",
          title: D_TITLE,
          grid: false,
          labelExpr: "datum.value > 0 ? format(1 / datum.value, '.3~r') : '∞'",
        },
      },
    },
  };
}

/**
 * A plot with the d axis on top: the plot's layers (or its single mark) plus {@link dAxisLayer}, x axes resolved
 * independently over one shared x scale.
 *
 * @param spec - a vega-lite unit or layer specification whose x field is |q|
 * @param field - the |q| field
 * @param values - data for the axis layer when the plot's layers carry their own data
 */
export function withDAxis<T extends Record<string, unknown>>(spec: T, field: string, values?: readonly object[]): T {
  const { layer, mark, encoding, resolve, ...rest } = spec as Record<string, unknown>;
  const given = (Array.isArray(layer) ? layer : [{ mark, encoding }]) as Record<string, unknown>[];
  // With independent x axes every layer would draw its own: the first keeps the |q| axis (bottom), the others none.
  const layers: unknown[] = given.map((l, i) => {
    const enc = l.encoding as Record<string, unknown> | undefined;
    if (enc?.x === undefined) return l;
    const x = enc.x as Record<string, unknown>;
    const axis = i === 0 ? { ...(x.axis ?? {}), orient: "bottom" } : null;
    return { ...l, encoding: { ...enc, x: { ...x, axis } } };
  });
  layers.push(dAxisLayer(field, values));
  const oldResolve = (resolve ?? {}) as { axis?: object; scale?: object };
  return {
    ...rest,
    layer: layers,
    resolve: { ...oldResolve, axis: { ...(oldResolve.axis ?? {}), x: "independent" } },
  } as unknown as T;
}

/** Axis properties of a still-index axis: integer ticks only. */
export const STILL_AXIS = { tickMinStep: 1, format: "d" } as const;

/** A robust plotting range of probability-plot values and how many points lie beyond it. */
export interface RobustRange {
  /** Lower edge. */
  lo: number;
  /** Upper edge. */
  hi: number;
  /** Points below `lo`. */
  nBelow: number;
  /** Points above `hi`. */
  nAbove: number;
}

/**
 * The range of a normal probability plot that keeps the bulk readable: the expected quantiles' range widened to
 * at least ±4, and to the observed values' 0.5 %–99.5 % quantiles with a 20 % margin, but never beyond ±`cap`.
 * Points outside are to be drawn at the edge.
 *
 * @param expected - the expected N(0, 1) quantiles
 * @param observed - the observed values (same length)
 * @param cap - largest |edge| @defaultValue 10
 */
export function robustProbabilityRange(
  expected: readonly number[],
  observed: readonly number[],
  cap = 10,
): RobustRange {
  let lo = -4;
  let hi = 4;
  for (const e of expected) {
    lo = Math.min(lo, e);
    hi = Math.max(hi, e);
  }
  const sorted = observed.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (sorted.length > 0) {
    const q = (p: number): number => sorted[Math.round(p * (sorted.length - 1))];
    const qlo = q(0.005);
    const qhi = q(0.995);
    const margin = 0.2 * (qhi - qlo);
    lo = Math.min(lo, qlo - margin);
    hi = Math.max(hi, qhi + margin);
  }
  lo = Math.max(lo, -cap);
  hi = Math.min(hi, cap);
  let nBelow = 0;
  let nAbove = 0;
  for (const x of observed) {
    if (x < lo) nBelow++;
    else if (x > hi) nAbove++;
  }
  return { lo, hi, nBelow, nAbove };
}
