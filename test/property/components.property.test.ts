import { describe, it, expect } from "vitest";
import fc from "fast-check";
import type { ScaleComponent } from "../../src/dials/components/scale-component.ts";
import { SingleScaleFactor } from "../../src/dials/components/single-scale-factor.ts";
import { SingleBScaleFactor } from "../../src/dials/components/single-b-scale-factor.ts";
import { SmoothScaleComponent1D } from "../../src/dials/components/smooth-scale-component-1d.ts";
import { SmoothBScaleComponent1D } from "../../src/dials/components/smooth-b-scale-component-1d.ts";
import { SmoothScaleComponent2D } from "../../src/dials/components/smooth-scale-component-2d.ts";
import { SmoothScaleComponent3D } from "../../src/dials/components/smooth-scale-component-3d.ts";
import { ScalingActiveParameterManager } from "../../src/dials/active-parameter-manager.ts";

const RUNS = 40;
const nParamArb = fc.constantFrom(2, 3, 5, 6, 7, 9);
const coord = fc.double({ min: -5, max: 25, noNaN: true });
const dArb = fc.double({ min: 0.7, max: 4, noNaN: true });

/**
 * Compare ∂g/∂p (free parameters) with central finite differences of calculateScales, to relative 1e-6
 * (with a floor of 1e-3·|g_i| for derivatives that are nearly zero).
 */
function checkDerivatives(c: ScaleComponent, blocks: number): void {
  for (let b = 0; b < blocks; b++) {
    const { scales, derivatives } = c.calculateScalesAndDerivatives(b);
    expect(derivatives.nRows).toBe(scales.length);
    expect(derivatives.nCols).toBe(c.freeParameters.length);
    const dense = derivatives.toDense();
    const n = c.freeParameters.length;
    for (let j = 0; j < n; j++) {
      const p0 = Float64Array.from(c.freeParameters);
      const h = 1e-5 * Math.max(1, Math.abs(p0[j]));
      const plus = p0.slice();
      plus[j] += h;
      c.freeParameters = plus;
      const sp = c.calculateScales(b);
      const minus = p0.slice();
      minus[j] -= h;
      c.freeParameters = minus;
      const sm = c.calculateScales(b);
      c.freeParameters = p0;
      for (let i = 0; i < scales.length; i++) {
        const fd = (sp[i] - sm[i]) / (2 * h);
        const an = dense[i * n + j];
        const tol = 1e-6 * Math.max(Math.abs(an), 1e-3 * Math.abs(scales[i]));
        expect(Math.abs(fd - an)).toBeLessThanOrEqual(tol);
      }
    }
  }
}

/** Split rows 0..n-1 into two blocks (even, odd) to exercise block selections. */
function twoBlocks(n: number): Int32Array[] {
  const even: number[] = [];
  const odd: number[] = [];
  for (let i = 0; i < n; i++) (i % 2 === 0 ? even : odd).push(i);
  return [Int32Array.from(even), Int32Array.from(odd)];
}

describe("finite-difference derivative checks of every component", () => {
  it("SingleScaleFactor", () => {
    fc.assert(
      fc.property(fc.double({ min: 0.1, max: 10, noNaN: true }), fc.integer({ min: 1, max: 20 }), (k, n) => {
        const c = new SingleScaleFactor([k]);
        c.data = { id: new Float64Array(n) };
        c.updateReflectionData(undefined, twoBlocks(n));
        checkDerivatives(c, 2);
      }),
      { seed: 42, numRuns: RUNS },
    );
  });

  it("SingleBScaleFactor", () => {
    fc.assert(
      fc.property(
        fc.double({ min: -20, max: 20, noNaN: true }),
        fc.array(dArb, { minLength: 1, maxLength: 20 }),
        (b, d) => {
          const c = new SingleBScaleFactor([b]);
          c.data = { d: Float64Array.from(d) };
          c.updateReflectionData();
          checkDerivatives(c, 1);
        },
      ),
      { seed: 42, numRuns: RUNS },
    );
  });

  it("SmoothScaleComponent1D, with and without the first parameter fixed", () => {
    fc.assert(
      fc.property(
        nParamArb.chain((np) =>
          fc.tuple(
            fc.array(fc.double({ min: 0.3, max: 2, noNaN: true }), { minLength: np, maxLength: np }),
            fc.array(coord, { minLength: 1, maxLength: 30 }),
            fc.boolean(),
          ),
        ),
        ([params, xs, fix]) => {
          const c = new SmoothScaleComponent1D(params);
          if (fix) c.fixInitialParameter();
          c.data = { x: Float64Array.from(xs) };
          c.updateReflectionData(undefined, twoBlocks(xs.length));
          checkDerivatives(c, 2);
        },
      ),
      { seed: 42, numRuns: RUNS },
    );
  });

  it("SmoothBScaleComponent1D", () => {
    fc.assert(
      fc.property(
        nParamArb.chain((np) =>
          fc.tuple(
            fc.array(fc.double({ min: -10, max: 10, noNaN: true }), { minLength: np, maxLength: np }),
            fc.array(fc.tuple(coord, dArb), { minLength: 1, maxLength: 30 }),
          ),
        ),
        ([params, rows]) => {
          const c = new SmoothBScaleComponent1D(params);
          c.data = { x: Float64Array.from(rows, (r) => r[0]), d: Float64Array.from(rows, (r) => r[1]) };
          c.updateReflectionData();
          checkDerivatives(c, 1);
        },
      ),
      { seed: 42, numRuns: RUNS },
    );
  });

  it("SmoothScaleComponent2D", () => {
    fc.assert(
      fc.property(
        fc
          .tuple(nParamArb, nParamArb)
          .chain(([nx, ny]) =>
            fc.tuple(
              fc.constant([nx, ny] as const),
              fc.array(fc.double({ min: 0.3, max: 2, noNaN: true }), { minLength: nx * ny, maxLength: nx * ny }),
              fc.array(fc.tuple(coord, coord), { minLength: 1, maxLength: 25 }),
            ),
          ),
        ([shape, params, pts]) => {
          const c = new SmoothScaleComponent2D(params, shape);
          c.data = { x: Float64Array.from(pts, (p) => p[0]), y: Float64Array.from(pts, (p) => p[1]) };
          c.updateReflectionData();
          checkDerivatives(c, 1);
        },
      ),
      { seed: 42, numRuns: RUNS },
    );
  });

  it("SmoothScaleComponent3D", () => {
    const small = fc.constantFrom(2, 3, 5);
    fc.assert(
      fc.property(
        fc.tuple(small, small, small).chain(([nx, ny, nz]) =>
          fc.tuple(
            fc.constant([nx, ny, nz] as const),
            fc.array(fc.double({ min: 0.3, max: 2, noNaN: true }), {
              minLength: nx * ny * nz,
              maxLength: nx * ny * nz,
            }),
            fc.array(fc.tuple(coord, coord, coord), { minLength: 1, maxLength: 15 }),
          ),
        ),
        ([shape, params, pts]) => {
          const c = new SmoothScaleComponent3D(params, shape);
          c.data = {
            x: Float64Array.from(pts, (p) => p[0]),
            y: Float64Array.from(pts, (p) => p[1]),
            z: Float64Array.from(pts, (p) => p[2]),
          };
          c.updateReflectionData();
          checkDerivatives(c, 1);
        },
      ),
      { seed: 42, numRuns: 20 },
    );
  });

  it("ScalingActiveParameterManager: product-rule Jacobian of the composed model", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(coord, dArb), { minLength: 2, maxLength: 25 }),
        fc.array(fc.double({ min: 0.5, max: 1.5, noNaN: true }), { minLength: 5, maxLength: 5 }),
        fc.array(fc.double({ min: -5, max: 5, noNaN: true }), { minLength: 3, maxLength: 3 }),
        fc.double({ min: 0.5, max: 3, noNaN: true }),
        fc.subarray(["scale", "decay", "k", "b"]),
        (rows, sp, bp, k, active) => {
          const x = Float64Array.from(rows, (r) => r[0]);
          const d = Float64Array.from(rows, (r) => r[1]);
          const scale = new SmoothScaleComponent1D(sp);
          scale.data = { x };
          const decay = new SmoothBScaleComponent1D(bp);
          decay.data = { x, d };
          const kf = new SingleScaleFactor([k]);
          kf.data = { id: new Float64Array(x.length) };
          const bf = new SingleBScaleFactor([1.5]);
          bf.data = { d };
          const comps = new Map<string, ScaleComponent>([
            ["scale", scale],
            ["decay", decay],
            ["k", kf],
            ["b", bf],
          ]);
          for (const c of comps.values()) c.updateReflectionData(undefined, twoBlocks(x.length));
          const apm = new ScalingActiveParameterManager(comps, active);
          const x0 = apm.getParamVals();
          for (let blk = 0; blk < 2; blk++) {
            const { scales, derivatives } = apm.calculateScalesAndDerivatives(blk);
            const dense = derivatives.toDense();
            const n = x0.length;
            for (let j = 0; j < n; j++) {
              const h = 1e-5 * Math.max(1, Math.abs(x0[j]));
              const p = x0.slice();
              p[j] += h;
              apm.setParamVals(p);
              const sp2 = apm.calculateScales(blk);
              p[j] -= 2 * h;
              apm.setParamVals(p);
              const sm2 = apm.calculateScales(blk);
              apm.setParamVals(x0);
              for (let i = 0; i < scales.length; i++) {
                const fd = (sp2[i] - sm2[i]) / (2 * h);
                const an = dense[i * n + j];
                expect(Math.abs(fd - an)).toBeLessThanOrEqual(
                  1e-6 * Math.max(Math.abs(an), 1e-3 * Math.abs(scales[i])),
                );
              }
            }
          }
        },
      ),
      { seed: 42, numRuns: RUNS },
    );
  });
});
