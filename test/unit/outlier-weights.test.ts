/**
 * The outlier step of one range of groups (`outlierWeightsInRange`, each group in one sweep over its rows) against the
 * step written as separate loops over the rows, as it was: the usable rows, σ'² of the error model, the grouped DIALS
 * standard search (`standardGroupedOutliersInRange`) and the weight rewrite. The weights must be the same bits and the
 * counts the same, with and without an error model, on groups small and large (both kinds of passes), with unusable
 * rows, weights spread enough to be capped, planted outliers and earlier weights partly zero.
 */
import { describe, expect, it } from "vitest";
import { standardGroupedOutliersInRange } from "../../src/dials/outlier-rejection.ts";
import {
  BOUNDED_PASSES_MIN_ROWS,
  belowZmax,
  boundableRow,
  leaveOneOutZ,
} from "../../src/dials/standard-outlier-passes.ts";
import { seededRandom } from "../../src/merge/seeded-random.ts";
import { initialWeight } from "../../src/observations/initial-weight.ts";
import { rowColumns, type RowColumns } from "../../src/observations/row-columns.ts";
import { inverseScalesInRange, type JointModelState } from "../../src/passes/inverse-scales.ts";
import {
  outlierWeightsInRange,
  type OutlierWeightCounts,
  type RowErrorModel,
} from "../../src/passes/outlier-weights.ts";

interface Case {
  groupStart: Int32Array;
  rows: RowColumns;
  state: JointModelState;
}

/** Groups of 1 to 300 rows over 20 stills, with unusable rows, spread weights and planted outliers. */
function makeCase(seed: number, nGroups: number): Case {
  const r = seededRandom(seed);
  const sizes = Array.from({ length: nGroups }, () => {
    const u = r();
    return u < 0.3 ? 1 + Math.floor(3 * r()) : u < 0.8 ? 3 + Math.floor(40 * r()) : 60 + Math.floor(240 * r());
  });
  const groupStart = new Int32Array(nGroups + 1);
  for (let h = 0; h < nGroups; h++) groupStart[h + 1] = groupStart[h] + sizes[h];
  const n = groupStart[nGroups];
  const rows = rowColumns(n);
  const nStills = 20;
  const scales = Float64Array.from({ length: nStills }, () => 0.5 + r());
  for (let h = 0; h < nGroups; h++) {
    const truth = 10 + 1000 * r();
    // every fourth group: weights spread over three decades (the cap at 10 × the median applies)
    const spread = h % 4 === 0;
    for (let o = groupStart[h]; o < groupStart[h + 1]; o++) {
      const still = Math.floor(r() * nStills);
      rows.still[o] = still;
      rows.qMagnitude[o] = 0.1 + r();
      const variance = spread ? 10 ** (3 * r()) : truth * (0.5 + r());
      rows.variance[o] = variance;
      rows.intensity[o] = scales[still] * truth + Math.sqrt(variance) * (r() + r() + r() - 1.5) * 2;
      const u = r();
      if (u < 0.03) rows.intensity[o] = 20 * truth;
      else if (u < 0.04) rows.variance[o] = 0;
      else if (u < 0.05) rows.intensity[o] = NaN;
      else if (u < 0.055) rows.variance[o] = -1;
      // deviations near zmax, where the cap and the error model decide
      else if (u < 0.2) rows.intensity[o] += (r() < 0.5 ? -1 : 1) * (4 + 6 * r()) * Math.sqrt(variance);
      rows.weight[o] = r() < 0.1 ? 0 : initialWeight(rows.variance[o], rows.intensity[o]);
    }
  }
  return { groupStart, rows, state: { scales, smoother: undefined } };
}

/** The step as separate loops over the rows (the code before one sweep per group), on the rows in place. */
function reference(
  c: Case,
  zmax: number,
  groupBegin: number,
  groupEnd: number,
  model: RowErrorModel | undefined,
  boundedFrom: number,
): OutlierWeightCounts {
  const { groupStart, rows } = c;
  const lo = groupStart[groupBegin];
  const hi = groupStart[groupEnd];
  const m = hi - lo;
  const sub = (a: Float32Array | Int32Array) => a.subarray(lo, hi);
  const variance = sub(rows.variance) as Float32Array;
  const intensity = sub(rows.intensity) as Float32Array;
  const weight = sub(rows.weight) as Float32Array;
  const g = new Float32Array(m);
  inverseScalesInRange(c.state, sub(rows.still) as Int32Array, sub(rows.qMagnitude) as Float32Array, 0, m, g);
  const usable = Uint8Array.from({ length: m }, (_, t) => (initialWeight(variance[t], intensity[t]) > 0 ? 1 : 0));
  let adjusted: Float64Array | undefined;
  if (model !== undefined) {
    adjusted = new Float64Array(m);
    for (let h = groupBegin; h < groupEnd; h++) {
      const bragg = h < model.nBraggGroups;
      const a = bragg ? model.braggA : model.diffuseA;
      const b = bragg ? model.braggB : model.diffuseB;
      for (let o = groupStart[h] - lo; o < groupStart[h + 1] - lo; o++) {
        const bi = b * intensity[o];
        adjusted[o] = a * a * (variance[o] + bi * bi);
      }
    }
  }
  const flags = new Uint8Array(m);
  const v = adjusted ?? variance;
  standardGroupedOutliersInRange(
    groupStart,
    intensity,
    v,
    usable,
    g,
    zmax,
    groupBegin,
    groupEnd,
    flags,
    lo,
    boundedFrom,
  );
  const counts = { nOutliers: 0, nChanged: 0, nFlipped: 0 };
  for (let t = 0; t < m; t++) {
    const w = Math.fround(
      flags[t] !== 0 || usable[t] === 0
        ? 0
        : adjusted === undefined
          ? initialWeight(variance[t], intensity[t])
          : 1 / adjusted[t],
    );
    counts.nOutliers += flags[t];
    if (w !== weight[t]) counts.nChanged++;
    if (usable[t] !== 0 && (weight[t] === 0) !== (flags[t] !== 0)) counts.nFlipped++;
    weight[t] = w;
  }
  return counts;
}

function copyRows(rows: RowColumns): RowColumns {
  return {
    still: rows.still.slice(),
    intensity: rows.intensity.slice(),
    variance: rows.variance.slice(),
    weight: rows.weight.slice(),
    qMagnitude: rows.qMagnitude.slice(),
  };
}

describe("outlierWeightsInRange", () => {
  const models: (RowErrorModel | undefined)[] = [
    undefined,
    { nBraggGroups: 70, braggA: 1.3, braggB: 0.04, diffuseA: 0.8, diffuseB: 0.002 },
  ];
  for (const model of models) {
    for (const boundedFrom of [3, BOUNDED_PASSES_MIN_ROWS, 1 << 30]) {
      it(`gives the weights and counts of the row-by-row loops (${model === undefined ? "σ" : "model σ'"}, bounded from ${boundedFrom})`, () => {
        for (const seed of [1, 2, 3]) {
          const c = makeCase(seed, 160);
          const expectedRows = copyRows(c.rows);
          const actualRows = copyRows(c.rows);
          let nOutliers = 0;
          // three ranges, one starting mid-way, the last one a view of its rows (rowOffset)
          for (const [begin, end] of [
            [0, 50],
            [50, 121],
            [121, 160],
          ]) {
            const expected = reference({ ...c, rows: expectedRows }, 6, begin, end, model, boundedFrom);
            const lo = c.groupStart[begin];
            const hi = c.groupStart[end];
            const view = {
              still: actualRows.still.subarray(lo, hi),
              intensity: actualRows.intensity.subarray(lo, hi),
              variance: actualRows.variance.subarray(lo, hi),
              weight: actualRows.weight.subarray(lo, hi),
              qMagnitude: actualRows.qMagnitude.subarray(lo, hi),
            };
            const columns =
              begin === 121
                ? { groupStart: c.groupStart, rowOffset: lo, rows: view }
                : { groupStart: c.groupStart, rows: actualRows };
            const actual = outlierWeightsInRange(columns, c.state, 6, begin, end, model, boundedFrom);
            expect(actual).toEqual(expected);
            nOutliers += actual.nOutliers;
          }
          expect(Buffer.from(actualRows.weight.buffer).equals(Buffer.from(expectedRows.weight.buffer))).toBe(true);
          // the cases hold outliers, rows made usable again and rows dropped
          expect(nOutliers).toBeGreaterThan(20);
        }
      });
    }
  }
});

describe("boundableRow", () => {
  it("is the test with both quotients formed, on values at the edges of finiteness", () => {
    const edges = [
      0,
      -0,
      1,
      -1,
      1e-300,
      9.9e-301,
      5.6e-309,
      5.5e-309,
      Number.MIN_VALUE,
      5.421010862427522e-20,
      5e-20,
      1e270,
      1.1e270,
      1e300,
      Number.MAX_VALUE,
      Infinity,
      -Infinity,
      NaN,
      3.4e38,
      2 ** -149,
    ];
    const plain = (g: number, I: number, v: number, wgI: number, wg2: number): boolean =>
      g > 0 &&
      wg2 > 0 &&
      Number.isFinite(wg2) &&
      Number.isFinite(wgI) &&
      Number.isFinite(v) &&
      Number.isFinite(1 / wg2) &&
      Number.isFinite(Math.abs(I) / g);
    let nTrue = 0;
    for (const g of edges) {
      for (const I of edges) {
        for (const wg2 of edges) {
          for (const other of [1, NaN]) {
            expect(boundableRow(g, I, other, other, wg2)).toBe(plain(g, I, other, other, wg2));
            if (plain(g, I, other, other, wg2)) nTrue++;
          }
          expect(boundableRow(g, -I, 1, Infinity, wg2)).toBe(false);
        }
      }
    }
    expect(nTrue).toBeGreaterThan(100);
  });
});

describe("belowZmax", () => {
  it("holds only for rows whose z as computed is at most zmax: rows within 1e-15 of zmax, at every scale", () => {
    const r = seededRandom(99);
    let nShown = 0;
    let nNear = 0;
    let nShownNear = 0;
    for (const zmax of [6, 3.5, 1e-3, 40]) {
      const zmax2 = zmax * zmax * (1 - 1e-6);
      for (let k = 0; k < 40000; k++) {
        // magnitudes from 1e-60 to 1e60 for the sums, 1e-8 to 1e8 for g and σ²
        const o2 = 10 ** (120 * r() - 60);
        const o1 = (r() - 0.3) * 10 ** (120 * r() - 60);
        const g = 10 ** (16 * r() - 8);
        const v = 10 ** (16 * r() - 8);
        // I with z of the exact formula at zmax·(1 + t), t from −1e-6 to 1e-6 and tiny, or anywhere
        const mu = (g * o1) / o2;
        const s = Math.sqrt(v + (g * g) / o2);
        const t = k % 3 === 0 ? (r() - 0.5) * 2e-6 : k % 3 === 1 ? (r() - 0.5) * 1e-14 : 10 * r() - 1;
        const I = mu + (r() < 0.5 ? -1 : 1) * zmax * (1 + t) * s;
        const z = leaveOneOutZ(I, g, v, o1, o2);
        if (Math.abs(z / zmax - 1) < 1e-5) nNear++;
        if (belowZmax(I, g, v, o1, o2, zmax2)) {
          nShown++;
          if (Math.abs(z / zmax - 1) < 1e-5) nShownNear++;
          expect(z).toBeLessThanOrEqual(zmax);
        }
      }
    }
    expect(nShown).toBeGreaterThan(5000);
    expect(nNear).toBeGreaterThan(20000);
    // rows just below zmax are shown too (the margin is 5e-7 of zmax)
    expect(nShownNear).toBeGreaterThan(1000);
  });

  it("shows nothing for zero, negative, non-finite or extreme values", () => {
    const args: [number, number, number, number, number][] = [
      [1, 1, 1, 1, 0],
      [1, 0, 1, 1, 1],
      [1, -1, 1, 1, 1],
      [1, 1, 0, 1, 1],
      [NaN, 1, 1, 1, 1],
      [Infinity, 1, 1, 1, 1],
      [1, 1, 1, NaN, 1],
      [1, 1, 1, 1, 1e-60],
      [1, 1, 1, 1e200, 1],
      [1, 1e120, 1, 1, 1],
    ];
    for (const [I, g, v, o1, o2] of args) expect(belowZmax(I, g, v, o1, o2, 36)).toBe(false);
    expect(belowZmax(1, 1, 1, 1, 1, 36)).toBe(true);
  });
});
