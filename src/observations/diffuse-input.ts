/**
 * Diffuse observations for joint scaling from binned pixel data (the flat `diffuse_binned.h5` layout), with every
 * unusable row counted by reason: a non-finite intensity, σ ≤ 0 or not finite, or a still id with no experiment.
 *
 * @packageDocumentation
 */
import { InputError } from "../errors.ts";
import type { BinnedDiffuseBuffers, BinnedDiffuseChunk, BinnedDiffuseFile } from "../io/binned-diffuse.ts";
import { voxelBoundsOf, type DiffuseChunkSource, type DiffuseInput, type UnpreparedRows } from "./scaling-input.ts";
import { SigmaExponents, inValueRange } from "./value-unit.ts";

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
  /** Rows whose I or σ cannot be stored relative to the diffuse unit (see `value-unit.ts`). */
  nValueOutOfRange: number;
}

/** Counts with every reason at 0. */
export function zeroCounts(): DiffuseSelectionCounts {
  return {
    nRows: 0,
    nUsed: 0,
    nNonFiniteIntensity: 0,
    nBadSigma: 0,
    nUnknownStill: 0,
    nValueOutOfRange: 0,
  };
}

/** Binned pixel observations (struct of arrays), as read from `diffuse_binned.h5`. */
export type BinnedPixelData = Omit<BinnedDiffuseChunk, "start">;

/** How {@link prepareDiffuseInput} stores rows. */
export interface DiffuseSelection {
  /** The diffuse unit (a power of two): stored I is I/unit, σ² is (σ/unit)². @defaultValue 1 */
  unit?: number;
  /** The file the rows come from, named when a q vector is not finite. @defaultValue undefined */
  source?: string | undefined;
}

/**
 * Column buffers of prepared diffuse rows, reused chunk after chunk by a source (capacity: their length); grouping
 * threads prepare rows without their source rows (grouping keeps none).
 */
export interface PreparedColumns {
  still: Int32Array;
  voxel: Float64Array;
  intensity: Float32Array;
  variance: Float32Array;
  qMagnitude: Float32Array;
  sourceRow: Int32Array | undefined;
}

/** Buffers for `n` prepared rows. */
function preparedColumns(n: number): PreparedColumns {
  return {
    still: new Int32Array(n),
    voxel: new Float64Array(n),
    // float32, as the grouped columns store them (σ² and |q| are computed in float64 and rounded once)
    intensity: new Float32Array(n),
    variance: new Float32Array(n),
    qMagnitude: new Float32Array(n),
    sourceRow: new Int32Array(n),
  };
}

/**
 * The selection and conversion of {@link prepareDiffuseInput}, in one pass: usable rows go, in order, to rows
 * [0, m) of `out` (at least as long as `data`), the others are counted by reason in `counts` (only when no error is
 * thrown: they are added at the end). Returns m.
 *
 * @throws {@link InputError} (naming `source`) when a usable row's q vector is not finite.
 */
export function prepareInto(
  data: BinnedPixelData,
  nStills: number,
  firstRow: number,
  unit: number,
  source: string | undefined,
  out: PreparedColumns,
  counts: DiffuseSelectionCounts,
): number {
  const n = data.intensities.length;
  const { stillIds, voxelIndices, intensities, sigmas } = data;
  const q = data.qVectors;
  const { still, voxel, intensity, variance, qMagnitude, sourceRow } = out;
  let nUnknownStill = 0;
  let nNonFiniteIntensity = 0;
  let nBadSigma = 0;
  let nValueOutOfRange = 0;
  let t = 0;
  for (let i = 0; i < n; i++) {
    const s = stillIds[i];
    const rawI = intensities[i];
    const rawSigma = sigmas[i];
    if (!(s >= 0 && s < nStills)) {
      nUnknownStill++;
      continue;
    }
    if (!Number.isFinite(rawI)) {
      nNonFiniteIntensity++;
      continue;
    }
    if (!(rawSigma > 0 && Number.isFinite(rawSigma))) {
      nBadSigma++;
      continue;
    }
    if (!inValueRange(rawI, rawSigma, unit)) {
      nValueOutOfRange++;
      continue;
    }
    const qx = q[3 * i];
    const qy = q[3 * i + 1];
    const qz = q[3 * i + 2];
    if (!(Number.isFinite(qx) && Number.isFinite(qy) && Number.isFinite(qz))) {
      // a corrupt geometry, not a data problem: |q| places the row on the smoother and in the map
      throw new InputError(`dataset 'q_vectors' row ${firstRow + i}: q = (${qx}, ${qy}, ${qz}) is not finite`, source);
    }
    still[t] = s;
    voxel[t] = voxelIndices[i];
    // unit: a power of two, so both divisions are exact (and change nothing for the unit 1 of ordinary data)
    intensity[t] = rawI / unit;
    const sigma = rawSigma / unit;
    variance[t] = sigma * sigma;
    // √(x² + y² + z²) directly: Math.hypot is several times slower and float32 inputs cannot overflow here
    qMagnitude[t] = Math.sqrt(qx * qx + qy * qy + qz * qz);
    if (sourceRow !== undefined) sourceRow[t] = firstRow + i;
    t++;
  }
  counts.nRows += n;
  counts.nUsed += t;
  counts.nUnknownStill += nUnknownStill;
  counts.nNonFiniteIntensity += nNonFiniteIntensity;
  counts.nBadSigma += nBadSigma;
  counts.nValueOutOfRange += nValueOutOfRange;
  return t;
}

/** Rows [0, m) of prepared columns (views, no copy). */
function preparedRows(c: PreparedColumns, m: number): DiffuseInput {
  return {
    still: c.still.subarray(0, m),
    voxel: c.voxel.subarray(0, m),
    intensity: c.intensity.subarray(0, m),
    variance: c.variance.subarray(0, m),
    qMagnitude: c.qMagnitude.subarray(0, m),
    sourceRow: (c.sourceRow ?? new Int32Array(0)).subarray(0, m),
  };
}

/**
 * Converts binned pixel data into diffuse scaling input (float32 I/unit, (σ/unit)² and |q| from the q vectors;
 * unusable rows dropped and counted by reason).
 *
 * @throws {@link InputError} (naming `selection.source`) when a usable row's q vector is not finite.
 *
 * @param data - The binned observations (rows of one or more chunks concatenated).
 * @param nStills - Number of experiments.
 * @param firstRow - Row number of `data`'s first row in its file (for `sourceRow`). @defaultValue 0
 * @param selection - The unit. @defaultValue unit 1
 */
export function prepareDiffuseInput(
  data: BinnedPixelData,
  nStills: number,
  firstRow = 0,
  selection: DiffuseSelection = {},
): { input: DiffuseInput; counts: DiffuseSelectionCounts } {
  const n = data.intensities.length;
  const counts = zeroCounts();
  const out = preparedColumns(n);
  const m = prepareInto(data, nStills, firstRow, selection.unit ?? 1, selection.source, out, counts);
  const rows = preparedRows(out, m);
  // exact-length arrays of their own (a copy only when rows were dropped)
  const input: DiffuseInput =
    m === n
      ? rows
      : {
          still: rows.still.slice(),
          voxel: rows.voxel.slice(),
          intensity: rows.intensity.slice(),
          variance: rows.variance.slice(),
          qMagnitude: rows.qMagnitude.slice(),
          sourceRow: rows.sourceRow.slice(),
        };
  return { input, counts };
}

/**
 * The diffuse unit of rows: from the σ of the first {@link SOURCE_CHUNK_ROWS} rows (the first chunk, as it is read),
 * so it is known before any row is stored.
 */
function unitOfFirstChunk(sigmas: Float32Array): number {
  const exponents = new SigmaExponents();
  for (let i = 0; i < sigmas.length; i++) exponents.add(sigmas[i]);
  return exponents.unit();
}

/** Rows per chunk when diffuse data are grouped from memory or from a file. */
const SOURCE_CHUNK_ROWS = 1 << 20;

/** Rows [start, end) of rows in memory (views). */
function sliceOf(data: BinnedPixelData, start: number, end: number): BinnedDiffuseChunk {
  return {
    start,
    intensities: data.intensities.subarray(start, end),
    sigmas: data.sigmas.subarray(start, end),
    stillIds: data.stillIds.subarray(start, end),
    voxelIndices: data.voxelIndices.subarray(start, end),
    qVectors: data.qVectors.subarray(3 * start, 3 * end),
  };
}

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
  const counts = zeroCounts();
  let passes = 0;
  let maxRows: number;
  let voxelBounds: [number, number];
  let raw: () => Iterable<BinnedDiffuseChunk>;
  let voxelChunks: () => Iterable<Float64Array>;
  // from the first chunk, when it is first read (no extra read); 1 until then, and for no rows
  let unit: number | undefined;
  let file: string | undefined;
  if (isFile(data)) {
    file = data.path;
    maxRows = data.nObservations;
    const dims = data.attributes.voxelGridDims;
    voxelBounds = [0, Math.max(0, dims[0] * dims[1] * dims[2] - 1)];
    // each pass reads its slices into one set of buffers (a slice is used before the next is read)
    raw = function* () {
      const rows = Math.min(maxRows, SOURCE_CHUNK_ROWS);
      const buffers: BinnedDiffuseBuffers = {
        intensities: new Float32Array(rows),
        sigmas: new Float32Array(rows),
        stillIds: new Int32Array(rows),
        voxelIndices: new Float64Array(rows),
        qVectors: new Float32Array(3 * rows),
      };
      for (let start = 0; start < maxRows; start += SOURCE_CHUNK_ROWS) {
        yield data.readSlice(start, Math.min(maxRows, start + SOURCE_CHUNK_ROWS), buffers);
      }
    };
    voxelChunks = function* () {
      const buffer = new Float64Array(Math.min(maxRows, SOURCE_CHUNK_ROWS));
      for (let start = 0; start < maxRows; start += SOURCE_CHUNK_ROWS) {
        yield data.readVoxelIndices(start, Math.min(maxRows, start + SOURCE_CHUNK_ROWS), buffer);
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
        yield sliceOf(data, start, Math.min(maxRows, start + SOURCE_CHUNK_ROWS));
      }
    };
  }
  // the selection counts of the first pass (chunks() or grouping threads through `unprepared`)
  const addCounts = (passCounts: DiffuseSelectionCounts): void => {
    for (const key of Object.keys(counts) as (keyof DiffuseSelectionCounts)[]) counts[key] += passCounts[key];
  };
  const unprepared: UnpreparedRows = {
    nRows: maxRows,
    nStills,
    readVoxels: isFile(data)
      ? (start, end, into) => {
          data.readVoxelIndices(start, end, into);
        }
      : (start, end, into) => {
          into.set(data.voxelIndices.subarray(start, end));
        },
    read: (start, end, into) => {
      const rows = isFile(data) ? data.readSlice(start, end, into) : sliceOf(data, start, end);
      for (const key of ["intensities", "sigmas", "stillIds", "voxelIndices", "qVectors"] as const) {
        const from = rows[key];
        const to = into[key];
        // a reader may return arrays of its own (h5wasm), rows in memory always do
        if (from.buffer !== to.buffer || from.byteOffset !== to.byteOffset) to.set(from);
      }
    },
    unit() {
      if (unit === undefined) {
        const end = Math.min(maxRows, SOURCE_CHUNK_ROWS);
        unit = unitOfFirstChunk(isFile(data) ? data.readSlice(0, end).sigmas : data.sigmas.subarray(0, end));
      }
      return unit;
    },
    addCounts(passCounts) {
      if (passes++ === 0) addCounts(passCounts);
    },
  };
  const source: DiffuseChunkSource = {
    maxRows,
    voxelBounds,
    voxelChunks,
    unprepared,
    get unit() {
      return unit ?? 1;
    },
    *chunks() {
      const first = passes++ === 0;
      // one set of buffers for every chunk of this pass: a chunk's rows are valid until the next is asked for
      let out: PreparedColumns | undefined;
      for (const chunk of raw()) {
        unit ??= unitOfFirstChunk(chunk.sigmas);
        const n = chunk.intensities.length;
        if (out === undefined || out.still.length < n) out = preparedColumns(n);
        const passCounts = zeroCounts();
        const m = prepareInto(chunk, nStills, chunk.start, unit, file, out, passCounts);
        if (first) addCounts(passCounts);
        yield preparedRows(out, m);
      }
    },
  };
  return { source, counts };
}
