/**
 * The true diffuse intensity of the simulation and the true shared resolution factor, as in the reference simulator:
 *
 * - D(voxel) = 300·exp(−((|q_c| − 0.31)/0.06)²) + 40 (an isotropic liquid-like ring) + 120/(1 + |B·(h_c − round(h_c))|²/0.004²)
 *   (halos around lattice nodes), evaluated at the voxel's ASU centre h_c = sub/ndiv with q_c = B·h_c. It depends on
 *   the voxel alone, so every observation of a voxel shares one true value.
 * - a(|q|) = 1 + A·x/(1 + x), x = (|q|/0.5)², equal to 1 at q = 0 (A = `smoother_amp`).
 *
 * @packageDocumentation
 */
import type { Mat3 } from "../geometry/vector-maths.ts";
import { roundHalfEven } from "../voxelize/voxelize.ts";

/**
 * The true resolution factor a(|q|) = 1 + A·x/(1 + x), x = (|q|/0.5)².
 *
 * @param amplitude - A (0 gives 1 everywhere)
 * @param q - |q|, Å⁻¹
 * @returns a(|q|)
 */
export function resolutionFactor(amplitude: number, q: number): number {
  if (amplitude === 0) return 1;
  const x = (q / 0.5) * (q / 0.5);
  return 1 + (amplitude * x) / (1 + x);
}

/**
 * The true diffuse intensity at a voxel centre (fractional Miller indices).
 *
 * @param B - the B matrix (row-major)
 * @param h - voxel centre h (reciprocal-lattice units)
 * @param k - voxel centre k
 * @param l - voxel centre l
 * @returns D ≥ 40
 */
export function diffuseIntensityAt(B: Mat3, h: number, k: number, l: number): number {
  const qx = B[0] * h + B[1] * k + B[2] * l;
  const qy = B[3] * h + B[4] * k + B[5] * l;
  const qz = B[6] * h + B[7] * k + B[8] * l;
  const qc = Math.sqrt(qx * qx + qy * qy + qz * qz);
  const t = (qc - 0.31) / 0.06;
  const ring = 300 * Math.exp(-t * t) + 40;
  // offset from the nearest node, rounding exact halves to even as NumPy (the reference) does
  const fh = h - roundHalfEven(h);
  const fk = k - roundHalfEven(k);
  const fl = l - roundHalfEven(l);
  const dx = B[0] * fh + B[1] * fk + B[2] * fl;
  const dy = B[3] * fh + B[4] * fk + B[5] * fl;
  const dz = B[6] * fh + B[7] * fk + B[8] * fl;
  const halo = 120 / (1 + (dx * dx + dy * dy + dz * dz) / (0.004 * 0.004));
  return ring + halo;
}
