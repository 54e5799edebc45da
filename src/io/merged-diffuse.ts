/**
 * The merged diffuse map in HDF5 (`merged_diffuse.h5`): one row per voxel, as flat datasets at the file's root, plus
 * root attributes (run metadata: {@link MergedDiffuseAttributes} for the scale job's file).
 *
 * | dataset | dtype | shape | meaning |
 * | --- | --- | --- | --- |
 * | `voxel_index` | int64 | (V,) | linear voxel index |
 * | `hkl` | float64 | (V, 3) | voxel centre in h, k, l |
 * | `q_magnitude` | float64 | (V,) | \|q\| of the voxel centre, Å⁻¹ |
 * | `intensity` | float64 | (V,) | weighted mean of the scaled observations |
 * | `sigma` | float64 | (V,) | `1/sqrt(Σw)` |
 * | `n_observations` | int32 | (V,) | observations merged |
 * | `half_set_1`, `half_set_2` | float64 | (V,) | random half-set means (0 for an empty half) |
 *
 * An empty half set happens only in a voxel with one observation (which half gets it is random); its mean is written
 * as 0, so a reader tells it from a genuine 0 by `n_observations = 1`. {@link MergedDiffuseMap} (with the dataset
 * table below) and {@link mergedDiffuseAttributesSchema} are the one definition of the file: `mergeDiffuse` builds a
 * map, {@link writeMergedDiffuse} writes it and {@link readMergedDiffuse} reads it back.
 *
 * @packageDocumentation
 */

import type { Dataset } from "h5wasm/node";
import { z } from "zod";
import {
  ConfigError,
  InputError,
  requireNumbersArgument,
  requireObjectArgument,
  requireStringArgument,
} from "../errors.ts";
import {
  closeQuietly,
  openH5Read,
  readAttributes,
  readRows,
  requireDataset,
  WRITE_SLICE_ROWS,
  writeAttribute,
  writeH5Atomic,
  writeRowsChunked,
} from "./hdf5.ts";
import type { AttributeValue, DatasetSpec, H5Numeric } from "./hdf5.ts";

/** The merged diffuse map, one row per voxel (all arrays of length V, `hkl` of 3V). */
export interface MergedDiffuseMap {
  /** Linear voxel index (integers below 2^53). */
  voxelIndex: Float64Array;
  /** Voxel centre in h, k, l, `V × 3` row-major. */
  hkl: Float64Array;
  /** |q| of the voxel centre, Å⁻¹: |B·hkl| with the mean B of the crystals. */
  qMagnitude: Float64Array;
  /** Merged intensity: the weighted mean Σw(I/g)/Σw of the scaled intensities, w = g²/σ². */
  intensity: Float64Array;
  /** Its standard error, `1/sqrt(Σw)`. */
  sigma: Float64Array;
  /** Number of observations merged into the voxel. */
  nObservations: Int32Array;
  /** Weighted mean of the first random half of the observations (0 if that half is empty). */
  halfSet1: Float64Array;
  /** Weighted mean of the second random half (0 if empty). */
  halfSet2: Float64Array;
}

/** The root attributes the scale job writes with the map (integers are stored as int64, other numbers as float64). */
export const mergedDiffuseAttributesSchema = z.object({
  /** Voxel subdivisions per reciprocal lattice unit (from the binned input). */
  ndiv: z.number().int().positive(),
  /** Largest |h|, |k|, |l| of the grid. */
  hkl_max: z.tuple([z.number().int(), z.number().int(), z.number().int()]),
  /** Voxels along each axis of the grid. */
  voxel_grid_dims: z.tuple([z.number().int(), z.number().int(), z.number().int()]),
  /** The rule mapping (h, k, l) to `voxel_index`. */
  voxel_index_rule: z.string(),
  /** Seed of the half-set split. */
  half_set_seed: z.number().int(),
  /** The binned diffuse file merged. */
  source: z.string(),
});

/** The root attributes of the scale job's `merged_diffuse.h5`. */
export type MergedDiffuseAttributes = z.infer<typeof mergedDiffuseAttributesSchema>;

/** A zero-filled map of `v` voxels. */
export function allocateMergedDiffuseMap(v: number): MergedDiffuseMap {
  return {
    voxelIndex: new Float64Array(v),
    hkl: new Float64Array(3 * v),
    qMagnitude: new Float64Array(v),
    intensity: new Float64Array(v),
    sigma: new Float64Array(v),
    nObservations: new Int32Array(v),
    halfSet1: new Float64Array(v),
    halfSet2: new Float64Array(v),
  };
}

type Key = keyof MergedDiffuseMap;

const SPECS: Record<Key, DatasetSpec & { dtype: string }> = {
  voxelIndex: { name: "voxel_index", kind: "int", size: 8, rank: 1, dtype: "<q" },
  hkl: { name: "hkl", kind: "float", size: 8, rank: 2, columns: 3, dtype: "<d" },
  qMagnitude: { name: "q_magnitude", kind: "float", size: 8, rank: 1, dtype: "<d" },
  intensity: { name: "intensity", kind: "float", size: 8, rank: 1, dtype: "<d" },
  sigma: { name: "sigma", kind: "float", size: 8, rank: 1, dtype: "<d" },
  nObservations: { name: "n_observations", kind: "int", size: 4, rank: 1, dtype: "<i4" },
  halfSet1: { name: "half_set_1", kind: "float", size: 8, rank: 1, dtype: "<d" },
  halfSet2: { name: "half_set_2", kind: "float", size: 8, rank: 1, dtype: "<d" },
};

const KEYS = Object.keys(SPECS) as Key[];

/** A copy of the first `v` voxels of a map. */
export function sliceMergedDiffuseMap(map: Readonly<MergedDiffuseMap>, v: number): MergedDiffuseMap {
  const out = allocateMergedDiffuseMap(v);
  for (const key of KEYS) out[key].set(map[key].subarray(0, out[key].length));
  return out;
}

/**
 * Writes the merged map atomically (temporary file in the same directory, renamed on success), deflate-compressed.
 *
 * @param path - destination `.h5`
 * @param map - the map; every array of length V except `hkl` (3V)
 * @param attributes - root attributes: numbers (integers are stored as int64, others as float64), strings, number[]
 * @throws {@link ConfigError} for inconsistent lengths, non-integral voxel indices or unsupported attribute values;
 * {@link InputError} when the file cannot be written
 */
export async function writeMergedDiffuse(
  path: string,
  map: MergedDiffuseMap,
  attributes: Record<string, AttributeValue>,
): Promise<void> {
  requireStringArgument(path, "writeMergedDiffuse: path");
  requireObjectArgument(map, "writeMergedDiffuse: map");
  for (const key of KEYS) requireNumbersArgument(map[key], `writeMergedDiffuse: map.${key}`);
  requireObjectArgument(attributes, "writeMergedDiffuse: attributes");
  const v = map.voxelIndex.length;
  for (const key of KEYS) {
    const want = key === "hkl" ? 3 * v : v;
    if (map[key].length !== want) {
      throw new ConfigError(`writeMergedDiffuse: ${key} has length ${map[key].length}, expected ${want}`);
    }
  }
  const voxel = new BigInt64Array(v);
  for (let i = 0; i < v; i++) {
    const x = map.voxelIndex[i];
    if (!Number.isSafeInteger(x)) {
      throw new ConfigError(`writeMergedDiffuse: voxelIndex[${i}] = ${x} is not an integer below 2^53`);
    }
    voxel[i] = BigInt(x);
  }
  const chunkRows = Math.min(1 << 16, Math.max(1, v));
  await writeH5Atomic(path, (file) => {
    for (const key of KEYS) {
      const spec = SPECS[key];
      const data: H5Numeric = key === "voxelIndex" ? voxel : map[key];
      writeRowsChunked(file, path, spec.name, data, spec.columns ?? 1, spec.dtype, chunkRows, true);
    }
    for (const [name, value] of Object.entries(attributes)) writeAttribute(file, path, name, value);
  });
}

/**
 * Reads a merged map written by {@link writeMergedDiffuse}, validating every dataset (present, dtype, rank, equal
 * lengths). Reads stream in hyperslab slices.
 *
 * @param path - the `.h5` file
 * @returns the map and its root attributes (int64 attributes as numbers, arrays as `number[]`)
 * @throws {@link InputError} naming the file and the dataset at fault
 */
export async function readMergedDiffuse(
  path: string,
): Promise<MergedDiffuseMap & { attributes: Record<string, unknown> }> {
  requireStringArgument(path, "readMergedDiffuse: path");
  const file = await openH5Read(path);
  try {
    const ds = {} as Record<Key, Dataset>;
    let v = -1;
    for (const key of KEYS) {
      const { dataset, rows } = requireDataset(file, path, SPECS[key]);
      if (v < 0) v = rows;
      else if (rows !== v) {
        throw new InputError(`dataset '${SPECS[key].name}' has ${rows} rows but 'voxel_index' has ${v}`, path);
      }
      ds[key] = dataset;
    }
    const out = { ...allocateMergedDiffuseMap(v), attributes: readAttributes(file, path) };
    for (let s = 0; s < v; s += WRITE_SLICE_ROWS) {
      const e = Math.min(v, s + WRITE_SLICE_ROWS);
      const raw = readRows(ds.voxelIndex, path, SPECS.voxelIndex.name, s, e, 1, BigInt64Array);
      for (let i = 0; i < raw.length; i++) {
        const x = Number(raw[i]);
        if (!Number.isSafeInteger(x)) {
          throw new InputError(`dataset 'voxel_index' row ${s + i}: ${raw[i]} exceeds 2^53`, path);
        }
        out.voxelIndex[s + i] = x;
      }
      out.hkl.set(readRows(ds.hkl, path, SPECS.hkl.name, s, e, 3, Float64Array), 3 * s);
      out.nObservations.set(readRows(ds.nObservations, path, SPECS.nObservations.name, s, e, 1, Int32Array), s);
      for (const key of ["qMagnitude", "intensity", "sigma", "halfSet1", "halfSet2"] as const) {
        out[key].set(readRows(ds[key], path, SPECS[key].name, s, e, 1, Float64Array), s);
      }
    }
    return out;
  } finally {
    closeQuietly(file);
  }
}
