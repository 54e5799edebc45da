/**
 * Diffuse observations for joint scaling from binned pixel data (the flat `diffuse_binned.h5` layout), with every
 * unusable row counted by reason: a non-finite intensity, σ ≤ 0 or not finite, or a still id with no experiment.
 *
 * @packageDocumentation
 */
import type { BinnedDiffuseChunk } from "../io/binned-diffuse.ts";
import type { DiffuseInput } from "./scaling-observations.ts";

/** Why diffuse rows were not used. */
export interface DiffuseSelectionCounts {
  /** Rows read. */
  nRows: number;
  /** Rows used. */
  nUsed: number;
  /** Rows with a non-finite intensity. */
  nNonFiniteIntensity: number;
  /** Rows with σ ≤ 0 or not finite. */
  nBadSigma: number;
  /** Rows whose still id has no experiment. */
  nUnknownStill: number;
}

/** Binned pixel observations (struct of arrays), as read from `diffuse_binned.h5`. */
export type BinnedPixelData = Omit<BinnedDiffuseChunk, "start">;

/**
 * Converts binned pixel data into diffuse scaling input (float64 working copies, |q| from the q vectors).
 *
 * @param data - The binned observations (rows of one or more chunks concatenated).
 * @param nStills - Number of experiments.
 * @param firstRow - Row number of `data`'s first row in its file (for `sourceRow`). @defaultValue 0
 */
export function prepareDiffuseInput(
  data: BinnedPixelData,
  nStills: number,
  firstRow = 0,
): { input: DiffuseInput; counts: DiffuseSelectionCounts } {
  const n = data.intensities.length;
  const counts: DiffuseSelectionCounts = { nRows: n, nUsed: 0, nNonFiniteIntensity: 0, nBadSigma: 0, nUnknownStill: 0 };
  const keep = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const s = data.stillIds[i];
    if (!(s >= 0 && s < nStills)) counts.nUnknownStill++;
    else if (!Number.isFinite(data.intensities[i])) counts.nNonFiniteIntensity++;
    else if (!(data.sigmas[i] > 0 && Number.isFinite(data.sigmas[i]))) counts.nBadSigma++;
    else {
      keep[i] = 1;
      counts.nUsed++;
    }
  }
  const m = counts.nUsed;
  const still = new Int32Array(m);
  const voxel = new Float64Array(m);
  const intensity = new Float64Array(m);
  const variance = new Float64Array(m);
  const qMagnitude = new Float64Array(m);
  const sourceRow = new Int32Array(m);
  const q = data.qVectors;
  let t = 0;
  for (let i = 0; i < n; i++) {
    if (!keep[i]) continue;
    still[t] = data.stillIds[i];
    voxel[t] = data.voxelIndices[i];
    intensity[t] = data.intensities[i];
    const sigma = data.sigmas[i];
    variance[t] = sigma * sigma;
    const qx = q[3 * i];
    const qy = q[3 * i + 1];
    const qz = q[3 * i + 2];
    // √(x² + y² + z²) directly: Math.hypot is several times slower and float32 inputs cannot overflow here
    qMagnitude[t] = Math.sqrt(qx * qx + qy * qy + qz * qz);
    sourceRow[t] = firstRow + i;
    t++;
  }
  return { input: { still, voxel, intensity, variance, qMagnitude, sourceRow }, counts };
}
