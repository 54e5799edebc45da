/**
 * The two evaluations of the v1 model agree: the DIALS-style path (the model's components' own
 * `calculateScalesAndDerivatives`, as DIALS's scaling framework calls them) and the joint engine's kernels (g = b·a(|q|)
 * and its derivatives, from the constants `DiffuseScalingModel.modelState()` takes from the same components), on the
 * same rows, to 1e-12 relative. The kernels' parameters are θ_s = ln b_s, so ∂g/∂θ_s = b_s·∂g/∂b_s.
 */
import { describe, expect, it } from "vitest";
import { DiffuseScalingModel } from "../../src/refine/diffuse-scaling-model.ts";
import { precomputedFactor, precomputeSmootherWeights, smootherFactor } from "../../src/passes/inverse-scales.ts";
import { seededRandom } from "../../src/merge/seeded-random.ts";

function close(actual: number, expected: number, scale: number): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(1e-12 * Math.max(Math.abs(expected), scale));
}

for (const k of [2, 3, 5]) {
  describe(`DIALS-style component derivatives against the joint kernels (${k}-point smoother)`, () => {
    const nStills = 7;
    const nRows = 400;
    const qRange: [number, number] = [0.05, 0.6];
    const rand = seededRandom(17 + k);
    const initialValues = new Map<number, number>();
    for (let s = 0; s < nStills; s++) initialValues.set(s, 0.5 + rand());
    const model = new DiffuseScalingModel(
      {
        perStillScale: { initialValues },
        resolutionSmoother: { enabled: true, nControlPoints: k, resolutionRange: qRange },
      },
      { nStills },
    );
    const smoother = model.resolutionComponent;
    if (smoother === undefined) throw new Error("the model has no smoother");
    smoother.parameters = Float64Array.from({ length: k }, (_, j) => (j === 0 ? 1 : 0.7 + 0.6 * rand()));
    // |q| as the observations store it (float32), some outside the range (clamped by both paths)
    const q = Float32Array.from({ length: nRows }, () => 0.7 * rand());
    const still = Int32Array.from({ length: nRows }, () => Math.floor(rand() * nStills));

    // DIALS-style: each component's scales and derivatives over the rows, combined as g = b·a
    const perStill = model.perStillComponent;
    perStill.data = { stillId: Float64Array.from(still) };
    perStill.updateReflectionData();
    const b = perStill.calculateScalesAndDerivatives();
    smoother.data = { qMagnitude: Float64Array.from(q) };
    smoother.updateReflectionData();
    const a = smoother.calculateScalesAndDerivatives();

    // the joint engine's constants, taken from the model's components
    const state = model.modelState();
    const kernel = state.smoother;
    if (kernel === undefined) throw new Error("the model state has no smoother");

    it("per row: g, ∂g/∂θ_s and ∂g/∂c_j from smootherFactor", () => {
      const w3 = new Float64Array(8);
      const count = new Int32Array(2);
      const dj = new Float64Array(k - 1);
      for (let i = 0; i < nRows; i++) {
        const s = still[i];
        const factor = smootherFactor(kernel, q[i], w3, count, dj);
        const g = state.scales[s] * factor;
        const gDials = b.scales[i] * a.scales[i];
        close(g, gDials, 0);
        // ∂g/∂θ_s = g (the kernels' parameter) against b_s · ∂b/∂b_s · a (the component's parameter is b_s)
        for (let t = 0; t < nStills; t++) {
          const dDials = b.scales[i] * b.derivatives.get(i, t) * a.scales[i];
          close(t === s ? g : 0, dDials, Math.abs(gDials));
        }
        for (let j = 0; j < k - 1; j++) close(state.scales[s] * dj[j], b.scales[i] * a.derivatives.get(i, j), gDials);
      }
    });

    it("per row: the precomputed normalised weights (the passes' default) give the same a and ∂a/∂c_j", () => {
      const pre = precomputeSmootherWeights(kernel, q, {
        f64: (n) => new Float64Array(n),
        i32: (n) => new Int32Array(n),
        u8: (n) => new Uint8Array(n),
      });
      const d = new Float64Array(k - 1);
      for (let i = 0; i < nRows; i++) {
        const factor = precomputedFactor(pre, kernel.values, i, d);
        close(factor, a.scales[i], 0);
        for (let j = 0; j < k - 1; j++) close(d[j], a.derivatives.get(i, j), 1);
      }
    });
  });
}
