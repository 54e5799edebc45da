/**
 * Diffuse observations for joint scaling from binned pixel data (the flat `diffuse_binned.h5` layout), with every
 * unusable row counted by reason: a non-finite intensity, σ ≤ 0 or not finite, or a still id with no experiment.
 *
 * @packageDocumentation
 */
import type { BinnedDiffuseChunk, BinnedDiffuseFile } from "../io/binned-diffuse.ts";
import { voxelBoundsOf, type DiffuseChunkSource, type DiffuseInput } from "./scaling-input.ts";

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
 * Converts binned pixel data into diffuse scaling input (float32 σ² and |q| from the q vectors; unusable rows dropped).
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
  // float32, as the grouped columns store them (σ² and |q| are computed in float64 and rounded once)
  const intensity = new Float32Array(m);
  const variance = new Float32Array(m);
  const qMagnitude = new Float32Array(m);
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

/** Rows per chunk when diffuse data are grouped from memory or from a file. */
const SOURCE_CHUNK_ROWS = 1 << 20;

/** Whether `data` is an open file rather than rows in memory. */
function isFile(data: BinnedPixelData | BinnedDiffuseFile): data is BinnedDiffuseFile {
  return "readSlice" in data;
}

/**
 * Diffuse rows as a chunked source for grouping, from rows in memory or from an open `diffuse_binned.h5`, read in
 * slices of 2^20 rows, never whole: grouping reads the voxel indices once (8 of a row's 32 bytes), then every column
 * once. Unusable rows are skipped and counted in `counts`, which is complete once `chunks()` has been iterated.
 *
 * @param data - Rows in memory, or an open binned file.
 * @param nStills - Number of experiments.
 */
export function diffuseChunkSource(
  data: BinnedPixelData | BinnedDiffuseFile,
  nStills: number,
): { source: DiffuseChunkSource; counts: DiffuseSelectionCounts } {
  const counts: DiffuseSelectionCounts = { nRows: 0, nUsed: 0, nNonFiniteIntensity: 0, nBadSigma: 0, nUnknownStill: 0 };
  let passes = 0;
  let maxRows: number;
  let voxelBounds: [number, number];
  let raw: () => Iterable<BinnedDiffuseChunk>;
  let voxelChunks: () => Iterable<Float64Array>;
  if (isFile(data)) {
    maxRows = data.nObservations;
    const dims = data.attributes.voxelGridDims;
    voxelBounds = [0, Math.max(0, dims[0] * dims[1] * dims[2] - 1)];
    raw = () => data.chunks(SOURCE_CHUNK_ROWS);
    voxelChunks = function* () {
      for (let start = 0; start < maxRows; start += SOURCE_CHUNK_ROWS) {
        yield data.readVoxelIndices(start, Math.min(maxRows, start + SOURCE_CHUNK_ROWS));
      }
    };
  } else {
    maxRows = data.intensities.length;
    voxelBounds = voxelBoundsOf(data.voxelIndices);
    voxelChunks = function* () {
      for (let start = 0; start < maxRows; start += SOURCE_CHUNK_ROWS) {
        yield data.voxelIndices.subarray(start, Math.min(maxRows, start + SOURCE_CHUNK_ROWS));
      }
    };
    raw = function* () {
      for (let start = 0; start < maxRows; start += SOURCE_CHUNK_ROWS) {
        const end = Math.min(maxRows, start + SOURCE_CHUNK_ROWS);
        yield {
          start,
          intensities: data.intensities.subarray(start, end),
          sigmas: data.sigmas.subarray(start, end),
          stillIds: data.stillIds.subarray(start, end),
          voxelIndices: data.voxelIndices.subarray(start, end),
          qVectors: data.qVectors.subarray(3 * start, 3 * end),
        };
      }
    };
  }
  const source: DiffuseChunkSource = {
    maxRows,
    voxelBounds,
    voxelChunks,
    *chunks() {
      const first = passes++ === 0;
      for (const chunk of raw()) {
        const prepared = prepareDiffuseInput(chunk, nStills, chunk.start);
        if (first) {
          counts.nRows += prepared.counts.nRows;
          counts.nUsed += prepared.counts.nUsed;
          counts.nNonFiniteIntensity += prepared.counts.nNonFiniteIntensity;
          counts.nBadSigma += prepared.counts.nBadSigma;
          counts.nUnknownStill += prepared.counts.nUnknownStill;
        }
        yield prepared.input;
      }
    },
  };
  return { source, counts };
}
