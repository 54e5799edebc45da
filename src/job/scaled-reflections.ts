/**
 * The scaled reflection table DIALS's own tools read (`dials.merge scaled.expt scaled.refl`): the input table plus
 * `inverse_scale_factor`, `inverse_scale_factor_variance`, `intensity.scale.value`/`variance` (the partiality- and
 * lp/qe-corrected sum intensity, as dials.scale writes it) and DIALS's scaling flags:
 * `scaled` on rows used in the final refinement, `outlier_in_scaling` on rejected rows, `excluded_for_scaling` on
 * every other row (below the partiality threshold, invalid, or of a still whose scale is undetermined).
 *
 * σ²(g) = jᵀVj with j = ∂g/∂p over the refined parameters (θ = ln b and the free smoother values) and V their
 * covariance in the pinned gauge (DIALS's `calc_sigmasq`).
 *
 * @packageDocumentation
 */
import { ReflectionFlags, setFlags, unsetFlags } from "../table/flags.ts";
import type { ReflectionTable } from "../table/reflection-table.ts";
import type { DiffuseScalingModel, RefineParametersResult } from "../refine/diffuse-scaling-model.ts";

/**
 * `intensity.scale.value`/`variance` of every row: the sum intensity corrected by lp, 1/qe and 1/partiality (0 where
 * the correction or the result is not finite); with an error model the variance is then adjusted by it.
 */
function correctedIntensities(table: ReflectionTable): { value: Float64Array; variance: Float64Array } {
  const n = table.nrows;
  const isum = table.getDouble("intensity.sum.value");
  const vsum = table.getDouble("intensity.sum.variance");
  const partiality = table.has("partiality") ? table.getDouble("partiality") : undefined;
  const lp = table.has("lp") ? table.getDouble("lp") : undefined;
  const qe = table.has("qe") ? table.getDouble("qe") : undefined;
  const iScale = new Float64Array(n);
  const vScale = new Float64Array(n);
  for (let r = 0; r < n; r++) {
    let conv = 1;
    if (qe !== undefined && qe[r] > 0) conv /= qe[r];
    if (lp !== undefined) conv *= lp[r];
    const p = partiality === undefined ? 1 : partiality[r];
    if (p > 0 && Number.isFinite(p) && Number.isFinite(conv)) {
      const c = conv / p;
      const I = isum[r] * c;
      const Vv = vsum[r] * c * c;
      if (Number.isFinite(I) && Number.isFinite(Vv)) {
        iScale[r] = I;
        vScale[r] = Vv;
      }
    }
  }
  return { value: iScale, variance: vScale };
}

/**
 * The output variance as dials.scale writes it when an error model is refined: σ'² = a²(σ² + (b·I)²) of the corrected
 * intensity, times 1 + σ(g)/g (the scale's relative uncertainty), in place.
 */
function applyErrorModel(
  corrected: { value: Float64Array; variance: Float64Array },
  model: { a: number; b: number },
  g: Float64Array,
  gVariance: Float64Array,
): void {
  const a2 = model.a * model.a;
  const { value, variance } = corrected;
  for (let r = 0; r < variance.length; r++) {
    const bi = model.b * value[r];
    const inflation = g[r] > 0 ? 1 + Math.sqrt(gVariance[r]) / g[r] : 1;
    variance[r] = a2 * (variance[r] + bi * bi) * inflation;
  }
}

/**
 * Returns a copy of `table` with the scaling columns and flags set.
 *
 * @param table - The input reflections (all rows are kept).
 * @param usedMask - Rows that entered scaling (from `prepareBraggInput`).
 * @param model - The refined model.
 * @param result - The refinement result.
 */
export function buildScaledReflections(
  table: ReflectionTable,
  usedMask: Uint8Array,
  model: DiffuseScalingModel,
  result: RefineParametersResult,
): ReflectionTable {
  const n = table.nrows;
  const out = table.copy();
  const id = table.getInt("id");
  const d = table.getDouble("d");
  const details = result.details;
  const paramOf = new Int32Array(model.nStills).fill(-1);
  const included = details.includedStills;
  for (let i = 0; i < included.length; i++) paramOf[included[i]] = i;
  const P = details.scales.length + (details.smootherValues === undefined ? 0 : details.smootherValues.length - 1);
  const V = details.covariance;
  const smoother = model.resolutionComponent;
  const b = model.perStillComponent.parameters;
  const nStills = model.nStills;
  const nScales = details.scales.length;
  const diagonal = details.covarianceIsDiagonal;
  const gColumn = new Float64Array(n).fill(1);
  const gVariance = new Float64Array(n);
  const scaled = new Uint8Array(n);
  const outlier = new Uint8Array(n);
  const excluded = new Uint8Array(n);
  // j = ∂g/∂p has at most 1 + (K − 1) non-zeros: the still's θ and the free smoother values.
  const nz = new Int32Array(P);
  const nzValue = new Float64Array(P);
  for (let r = 0; r < n; r++) {
    const s = id[r];
    const param = s >= 0 && s < nStills ? paramOf[s] : -1;
    if (param < 0 || !(d[r] > 0 && Number.isFinite(d[r]))) {
      excluded[r] = 1;
      continue;
    }
    const q = 1 / d[r];
    const g = model.getScalesForObservation(s, q)[0];
    gColumn[r] = g;
    let m = 0;
    nz[m] = param;
    nzValue[m++] = g;
    if (smoother !== undefined) {
      const derivatives = smoother.derivativesAt(q);
      for (let k = 0; k < derivatives.length; k++) {
        if (derivatives[k] === 0) continue;
        nz[m] = nScales + k;
        nzValue[m++] = b[s] * derivatives[k];
      }
    }
    let v = 0;
    if (diagonal) {
      for (let a = 0; a < m; a++) v += nzValue[a] * V[nz[a]] * nzValue[a];
    } else {
      for (let a = 0; a < m; a++) {
        const row = nz[a] * P;
        for (let c = 0; c < m; c++) v += nzValue[a] * V[row + nz[c]] * nzValue[c];
      }
    }
    gVariance[r] = Math.max(0, v);
    if (!usedMask[r]) excluded[r] = 1;
  }
  // rows [0, nBraggRows) are Bragg
  const { nBraggRows, sourceRow } = details.observations;
  for (const o of details.outlierRows) {
    if (o < nBraggRows) outlier[sourceRow[o]] = 1;
  }
  for (let r = 0; r < n; r++) {
    if (excluded[r] || outlier[r]) continue;
    scaled[r] = 1;
  }
  out.setColumn("inverse_scale_factor", { type: "double", data: gColumn });
  out.setColumn("inverse_scale_factor_variance", { type: "double", data: gVariance });
  const corrected = correctedIntensities(table);
  const errorModel = details.settings.errorModel === "basic" ? details.errorModels.bragg : undefined;
  if (errorModel !== undefined) applyErrorModel(corrected, errorModel, gColumn, gVariance);
  out.setColumn("intensity.scale.value", { type: "double", data: corrected.value });
  out.setColumn("intensity.scale.variance", { type: "double", data: corrected.variance });
  const all = new Uint8Array(n).fill(1);
  unsetFlags(out, all, ReflectionFlags.scaled | ReflectionFlags.outlierInScaling | ReflectionFlags.excludedForScaling);
  setFlags(out, scaled, ReflectionFlags.scaled);
  setFlags(out, outlier, ReflectionFlags.outlierInScaling);
  setFlags(out, excluded, ReflectionFlags.excludedForScaling);
  return out;
}
