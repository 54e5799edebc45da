/**
 * The error model's intensity bins (`createErrorModelBins`, counts by scans and ranks by selection) against the bins as
 * made from one ascending sort of the expected intensities (counts by binary search, ranks read off the sorted copy),
 * written out below: the same bins, boundaries, weights and bin of every reflection, on skewed intensities (bins
 * enlarged to the minimum count), with ties, zeros of both signs and NaN, short (built-in sort) and long (radix sort).
 */
import { describe, expect, it } from "vitest";
import { createErrorModelBins, type ErrorModelBins } from "../../src/dials/error-model-bins.ts";
import { seededRandom } from "../../src/merge/seeded-random.ts";
import { sortFloat64 } from "../../src/runtime/sort-float64.ts";

/** Boundaries the reference moved to a rank (bins enlarged to the minimum count). */
let nRankValues = 0;

/** The bins as made from a sorted copy (the code before counts by scans). */
function sortedBins(Ih: Float64Array, nBins: number, minReflectionsRequired: number): ErrorModelBins {
  let minRefl = minReflectionsRequired;
  const n = Ih.length;
  const sorted = sortFloat64(Ih.slice());
  const hasNaN = Number.isNaN(sorted[n - 1]);
  const countAtMost = (v: number): number => {
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (sorted[mid] <= v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const countIn = (maximum: number, minimum: number): number =>
    Math.max(0, countAtMost(maximum) - countAtMost(minimum));
  const rankValue = (m: number): number => {
    nRankValues++;
    const v = sorted[n - 1 - m];
    if (!hasNaN && v !== 0) return v;
    return Ih[Int32Array.from({ length: n }, (_, i) => i).sort((p, q) => Ih[q] - Ih[p])[m]];
  };
  let minIh = Infinity;
  let Imax = -Infinity;
  for (const v of Ih) {
    if (v > Imax) Imax = v;
    if (v < minIh) minIh = v;
  }
  const Imin = Math.max(1.0, minIh);
  const spacing = (Math.log(Imax) - Math.log(Imin)) / nBins;
  const bounds = new Float64Array(nBins + 1);
  bounds[0] = Imax;
  for (let i = 1; i <= nBins; i++) bounds[i] = Math.exp(Math.log(Imax) - i * spacing);
  bounds[nBins] = minIh - 0.01;
  if (n > 100 * minRefl) minRefl = Math.trunc(n / 100);
  const minPerBin = Math.min(minRefl, Math.trunc(n / (3.0 * nBins)));
  const counts = new Float64Array(nBins);
  let nCumul = 0;
  for (let i = 0; i < nBins; i++) {
    const maximum = bounds[i];
    let nIn = countIn(maximum, bounds[i + 1]);
    if (nIn < minPerBin) {
      const m = nCumul + minPerBin;
      if (m < n) {
        bounds[i + 1] = rankValue(m);
        nIn = countIn(maximum, bounds[i + 1]);
      }
    }
    counts[i] = nIn;
    nCumul += nIn;
  }
  const keep: number[] = [];
  for (let i = 0; i < nBins; i++) if (counts[i] >= minPerBin - 5) keep.push(i);
  const finalBounds = Float64Array.from([...keep.map((c) => bounds[c]), bounds[nBins]]);
  const binIndex = Int32Array.from(Ih, (v) => {
    let bin = -1;
    for (let i = 0; i < nBins; i++) if (v <= bounds[i] && v > bounds[i + 1]) bin = i;
    return bin < 0 ? -1 : keep.indexOf(bin);
  });
  const weights = Float64Array.from({ length: keep.length }, (_, k) => {
    let sum = 0;
    let num = 0;
    for (const v of Ih) {
      if (v <= finalBounds[k] && v > finalBounds[k + 1]) {
        sum += v;
        num++;
      }
    }
    return sum / num;
  });
  return { binIndex, reflPerBin: Float64Array.from(keep, (c) => counts[c]), binBoundaries: finalBounds, weights };
}

function skewed(seed: number, n: number, kind: number): Float64Array {
  const r = seededRandom(seed);
  return Float64Array.from({ length: n }, () => {
    const u = r();
    if (kind === 1 && u < 0.05) return 0;
    if (kind === 1 && u < 0.1) return -0;
    if (kind === 2 && u < 0.01) return NaN;
    if (kind === 3) return Math.round(50 * r()) / 2;
    // most reflections weak, a few very strong: the upper bins need enlarging
    return u > 0.998 ? 1e6 * r() : 0.5 + 100 * r() ** 2;
  });
}

describe("createErrorModelBins", () => {
  it("gives the bins made from a sorted copy", () => {
    for (const n of [600, 3000, 40000]) {
      for (const kind of [0, 1, 2, 3]) {
        for (const nBins of [5, 10]) {
          const Ih = skewed(n + kind, n, kind);
          const bins = createErrorModelBins(Ih, { nBins, minReflectionsRequired: 250 });
          const reference = sortedBins(Ih, nBins, 250);
          expect(Array.from(bins.reflPerBin)).toEqual(Array.from(reference.reflPerBin));
          expect(Array.from(bins.binBoundaries)).toEqual(Array.from(reference.binBoundaries));
          expect(Array.from(bins.binIndex)).toEqual(Array.from(reference.binIndex));
          expect(Array.from(bins.weights)).toEqual(Array.from(reference.weights));
        }
      }
    }
    expect(nRankValues).toBeGreaterThan(40);
  });
});
