import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import { GaussianSmoother1D } from "../../src/dials/gaussian-smoother-1d.ts";
import { GaussianSmoother2D } from "../../src/dials/gaussian-smoother-2d.ts";
import { GaussianSmoother3D } from "../../src/dials/gaussian-smoother-3d.ts";
import { iround } from "../../src/dials/smoother-index-range.ts";
import { ConfigError } from "../../src/errors.ts";

interface Point {
  x: number;
  y?: number;
  z?: number;
  value: number;
  weight: number[];
  sumweight: number;
}
interface Case {
  kind: "1d" | "2d" | "3d";
  range?: [number, number];
  num_intervals?: number;
  num_values?: number;
  num_samples?: number;
  spacing?: number;
  positions?: number[];
  x_range?: [number, number];
  x_intervals?: number;
  y_range?: [number, number];
  y_intervals?: number;
  z_range?: [number, number];
  z_intervals?: number;
  num_x_values?: number;
  num_y_values?: number;
  num_z_values?: number;
  x_positions?: number[];
  y_positions?: number[];
  z_positions?: number[];
  x_spacing?: number;
  y_spacing?: number;
  z_spacing?: number;
  sigma: number;
  values: number[];
  points: Point[];
  multi_value?: number[];
  multi_sumweight?: number[];
}

const fixture = JSON.parse(readFileSync(new URL("../fixtures/dials/smoothers.json", import.meta.url), "utf8")) as {
  cases: Case[];
};

const REL = 1e-12;
function close(a: number, b: number, rel = REL): void {
  expect(Math.abs(a - b)).toBeLessThanOrEqual(rel * Math.max(Math.abs(b), 1e-300) + 1e-300);
}
function closeArr(a: ArrayLike<number>, b: readonly number[], rel = REL): void {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < b.length; i++) {
    // Exact zeros (unaveraged values) must stay exactly zero.
    if (b[i] === 0) expect(a[i]).toBe(0);
    else close(a[i], b[i], rel);
  }
}

describe("iround (boost::math::iround)", () => {
  it("rounds halves away from zero", () => {
    expect(iround(-1.5)).toBe(-2);
    expect(iround(-2.5)).toBe(-3);
    expect(iround(1.5)).toBe(2);
    expect(iround(2.5)).toBe(3);
    expect(iround(-0.4)).toBe(-0);
    expect(iround(0.49)).toBe(0);
  });
});

describe("DIALS smoothers.json fixture", () => {
  const cases = fixture.cases;
  it("has 22 cases", () => {
    expect(cases.length).toBe(22);
  });
  cases.forEach((c, ci) => {
    if (c.kind === "1d") {
      it(`1D case ${ci}: range ${JSON.stringify(c.range)}, ${c.num_intervals} intervals`, () => {
        const range = c.range as [number, number];
        const s = new GaussianSmoother1D(range, c.num_intervals ?? 0);
        expect(s.numValues()).toBe(c.num_values);
        expect(s.numSamples()).toBe(c.num_samples);
        closeArr(s.positions(), c.positions ?? []);
        close(s.spacing(), c.spacing ?? NaN);
        close(s.sigma(), c.sigma);
        for (const p of c.points) {
          const r = s.valueWeight(p.x, c.values);
          close(r.value, p.value);
          close(r.sumweight, p.sumweight);
          closeArr(r.weight, p.weight);
        }
        const xs = c.points.map((p) => p.x);
        const m = s.multiValueWeight(xs, c.values);
        closeArr(m.value, c.multi_value ?? []);
        closeArr(m.sumweight, c.multi_sumweight ?? []);
        expect(m.weight.nRows).toBe(xs.length);
        expect(m.weight.nCols).toBe(c.num_values);
        const dense = m.weight.toDense();
        c.points.forEach((p, i) => {
          closeArr(dense.subarray(i * s.numValues(), (i + 1) * s.numValues()), p.weight);
        });
        // First-fixed: same values, weights without column 0.
        const ff = s.multiValueWeightFirstFixed(xs, c.values);
        closeArr(ff.value, c.multi_value ?? []);
        expect(ff.weight.nCols).toBe(s.numValues() - 1);
        const dff = ff.weight.toDense();
        const nv1 = s.numValues() - 1;
        c.points.forEach((p, i) => {
          closeArr(dff.subarray(i * nv1, (i + 1) * nv1), p.weight.slice(1));
          const one = s.valueWeightFirstFixed(p.x, c.values);
          closeArr(one.weight, p.weight.slice(1));
          close(one.value, p.value);
        });
      });
    } else if (c.kind === "2d") {
      it(`2D case ${ci}: ${c.x_intervals}x${c.y_intervals} intervals`, () => {
        const s = new GaussianSmoother2D(
          c.x_range as [number, number],
          c.x_intervals ?? 0,
          c.y_range as [number, number],
          c.y_intervals ?? 0,
        );
        expect(s.numXValues()).toBe(c.num_x_values);
        expect(s.numYValues()).toBe(c.num_y_values);
        closeArr(s.xPositions(), c.x_positions ?? []);
        closeArr(s.yPositions(), c.y_positions ?? []);
        close(s.xSpacing(), c.x_spacing ?? NaN);
        close(s.ySpacing(), c.y_spacing ?? NaN);
        close(s.sigma(), c.sigma);
        for (const p of c.points) {
          const r = s.valueWeight(p.x, p.y ?? NaN, c.values);
          close(r.value, p.value);
          close(r.sumweight, p.sumweight);
          closeArr(r.weight, p.weight);
        }
        const m = s.multiValueWeight(
          c.points.map((p) => p.x),
          c.points.map((p) => p.y ?? NaN),
          c.values,
        );
        const dense = m.weight.toDense();
        const nv = s.numValues();
        c.points.forEach((p, i) => {
          close(m.value[i], p.value);
          close(m.sumweight[i], p.sumweight);
          closeArr(dense.subarray(i * nv, (i + 1) * nv), p.weight);
        });
      });
    } else {
      it(`3D case ${ci}: ${c.x_intervals}x${c.y_intervals}x${c.z_intervals} intervals`, () => {
        const s = new GaussianSmoother3D(
          c.x_range as [number, number],
          c.x_intervals ?? 0,
          c.y_range as [number, number],
          c.y_intervals ?? 0,
          c.z_range as [number, number],
          c.z_intervals ?? 0,
        );
        expect(s.numXValues()).toBe(c.num_x_values);
        expect(s.numYValues()).toBe(c.num_y_values);
        expect(s.numZValues()).toBe(c.num_z_values);
        closeArr(s.xPositions(), c.x_positions ?? []);
        closeArr(s.yPositions(), c.y_positions ?? []);
        closeArr(s.zPositions(), c.z_positions ?? []);
        close(s.xSpacing(), c.x_spacing ?? NaN);
        close(s.ySpacing(), c.y_spacing ?? NaN);
        close(s.zSpacing(), c.z_spacing ?? NaN);
        close(s.sigma(), c.sigma);
        for (const p of c.points) {
          const r = s.valueWeight(p.x, p.y ?? NaN, p.z ?? NaN, c.values);
          close(r.value, p.value);
          close(r.sumweight, p.sumweight);
          closeArr(r.weight, p.weight);
        }
        const m = s.multiValueWeight(
          c.points.map((p) => p.x),
          c.points.map((p) => p.y ?? NaN),
          c.points.map((p) => p.z ?? NaN),
          c.values,
        );
        const dense = m.weight.toDense();
        const nv = s.numValues();
        c.points.forEach((p, i) => {
          close(m.value[i], p.value);
          close(m.sumweight[i], p.sumweight);
          closeArr(dense.subarray(i * nv, (i + 1) * nv), p.weight);
        });
      });
    }
  });
});

describe("DIALS test_scan_varying_model_parameters::test_gaussian_smoother", () => {
  it("GaussianSmoother((1,100),5) geometry, single == multi exactly", () => {
    const s = new GaussianSmoother1D([1, 100], 5);
    expect(s.numValues()).toBe(7);
    expect(s.numSamples()).toBe(5);
    expect(s.numAverage()).toBe(3);
    expect(Array.from(s.positions())).toEqual([-0.5, 0.5, 1.5, 2.5, 3.5, 4.5, 5.5]);
    expect(s.spacing()).toBeCloseTo(19.8, 12);
    const values = [1, 1, 1, 2, 1, 1, 1];
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    const m = s.multiValueWeight(xs, values);
    const dense = m.weight.toDense();
    xs.forEach((x, i) => {
      const r = s.valueWeight(x, values);
      expect(m.value[i]).toBe(r.value);
      expect(m.sumweight[i]).toBe(r.sumweight);
      expect(Array.from(dense.subarray(i * 7, (i + 1) * 7))).toEqual(Array.from(r.weight));
    });
  });
  it("x = 1 clips to points 0 and 1 (iround(-1.5) = -2)", () => {
    const s = new GaussianSmoother1D([1, 100], 5);
    const r = s.valueWeight(1, [1, 1, 1, 2, 1, 1, 1]);
    const w = Math.exp(-((0.5 / 0.7) ** 2));
    close(r.weight[0], w);
    close(r.weight[1], w);
    expect(r.weight[2]).toBe(0);
    close(r.value, 1);
  });
});

describe("DIALS test_gaussian_smoother.py", () => {
  it("2D: ([0,1],1,[0,4],4) value/sumweight and non-zeros", () => {
    const s = new GaussianSmoother2D([0, 1], 1, [0, 4], 4);
    expect(s.numXValues()).toBe(2);
    expect(s.numYValues()).toBe(6);
    expect(s.numXAverage()).toBe(2);
    expect(s.numYAverage()).toBe(3);
    close(s.sigma(), 0.65);
    const p = [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6];
    const r = s.valueWeight(0.5, 1.0, p);
    const s2 = 0.65 * 0.65;
    const sumw = 2 * Math.exp(-2.5 / s2) + 4 * Math.exp(-0.5 / s2);
    close(r.sumweight, sumw);
    close(r.value, (10 * Math.exp(-0.5 / s2) + 2 * Math.exp(-2.5 / s2)) / sumw);
    expect(r.weight.filter((w) => w !== 0).length).toBe(6);
    const m = s.multiValueWeight([0.5, 0.25], [1.0, 0.75], p);
    expect(m.weight.nonZeros()).toBe(12);
    close(m.value[0], r.value);
  });
  it("2D other shapes", () => {
    const a = new GaussianSmoother2D([0, 2], 2, [0, 4], 4);
    expect([a.numXValues(), a.numYValues(), a.numXAverage(), a.numYAverage()]).toEqual([3, 6, 3, 3]);
    const b = new GaussianSmoother2D([0, 4], 4, [0, 5], 5);
    expect([b.numXValues(), b.numYValues()]).toEqual([6, 7]);
  });
  it("3D: ([0,1],1,[0,3],3,[0,1],1) value/sumweight and non-zeros", () => {
    const s = new GaussianSmoother3D([0, 1], 1, [0, 3], 3, [0, 1], 1);
    const p = [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5];
    expect(s.numValues()).toBe(20);
    const r = s.valueWeight(0.5, 1.0, 0.5, p);
    const s2 = 0.65 * 0.65;
    const sumw = 4 * Math.exp(-2.75 / s2) + 8 * Math.exp(-0.75 / s2);
    close(r.sumweight, sumw);
    close(r.value, (20 * Math.exp(-0.75 / s2) + 4 * Math.exp(-2.75 / s2)) / sumw);
    expect(r.weight.filter((w) => w !== 0).length).toBe(12);
    const m = s.multiValueWeight([0.5, 0.25], [1.0, 0.75], [0.5, 0.25], p);
    expect(m.weight.nonZeros()).toBe(24);
  });
  it("3D other shape", () => {
    const s = new GaussianSmoother3D([0, 1], 1, [0, 2], 2, [0, 3], 3);
    expect([s.numXValues(), s.numYValues(), s.numZValues()]).toEqual([2, 3, 5]);
  });
});

describe("validation", () => {
  it("rejects bad construction and smoothing", () => {
    expect(() => new GaussianSmoother1D([0, 1], 0)).toThrow(ConfigError);
    expect(() => new GaussianSmoother1D([1, 1], 2)).toThrow(ConfigError);
    const s = new GaussianSmoother1D([0, 10], 10);
    expect(() => {
      s.setSmoothing(6, 1);
    }).toThrow(ConfigError);
    expect(() => {
      s.setSmoothing(3, 0);
    }).toThrow(ConfigError);
    expect(() => s.valueWeight(1, [1, 2])).toThrow(ConfigError);
  });
});
