/**
 * Helpers of the grouping tests (`paged-grouping.test.ts`, `grouping-threads.test.ts`; not a test file): binned rows
 * to group, and the bit-for-bit comparison of two resident builds.
 */
import { expect } from "vitest";
import type { BinnedPixelData } from "../../src/observations/diffuse-input.ts";
import type { RowColumnName } from "../../src/observations/row-columns.ts";
import type { ScalingObservations } from "../../src/observations/scaling-observations.ts";
import { seededRandom } from "../../src/merge/seeded-random.ts";

/** The row columns of a grouped build. */
export const COLUMNS: readonly RowColumnName[] = ["still", "intensity", "variance", "weight", "qMagnitude"];

/**
 * Binned rows ordered by still, each in one of `nVoxels` voxels (ids `first + step·k`); with `unusable`, a NaN
 * intensity every 97th row and a zero σ every 89th (rows the grouping must skip).
 */
export function binnedRows(
  nStills: number,
  nRows: number,
  nVoxels: number,
  seed: number,
  voxels: { first: number; step: number; unusable: boolean },
): BinnedPixelData {
  const rand = seededRandom(seed);
  const { first, step, unusable } = voxels;
  return {
    stillIds: Int32Array.from({ length: nRows }, (_, i) => Math.floor((i * nStills) / nRows)),
    voxelIndices: Float64Array.from({ length: nRows }, () => first + step * Math.floor(rand() * nVoxels)),
    intensities: Float32Array.from({ length: nRows }, (_, i) => (unusable && i % 97 === 5 ? NaN : 10 + 90 * rand())),
    sigmas: Float32Array.from({ length: nRows }, (_, i) => (unusable && i % 89 === 3 ? 0 : 1 + rand())),
    qVectors: Float32Array.from({ length: 3 * nRows }, () => rand() - 0.5),
  };
}

/** The bytes of rows [0, n) of every row column: the resident arrays, or the scratch file read back. */
export function columnBytes(obs: ScalingObservations): Record<RowColumnName, Uint8Array> {
  const out = {} as Record<RowColumnName, Uint8Array>;
  const rows = obs.rows;
  for (const name of COLUMNS) {
    let column: Int32Array | Float32Array;
    if (rows.kind === "resident") {
      column = rows[name];
      expect(column.length).toBe(obs.n);
    } else {
      column = name === "still" ? new Int32Array(obs.n) : new Float32Array(obs.n);
      rows.file.read(name, 0, column);
    }
    out[name] = new Uint8Array(column.buffer, column.byteOffset, column.byteLength);
  }
  return out;
}

/** The bytes of a typed array (compared with `Buffer.equals`: `toEqual` walks large arrays element by element). */
function bytesOf(a: Int32Array | Float32Array | Float64Array | Uint8Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** Two resident builds are the same bit for bit. */
export function expectSameResident(a: ScalingObservations, b: ScalingObservations): void {
  expect(a.rows.kind).toBe("resident");
  expect(b.rows.kind).toBe("resident");
  for (const key of ["n", "nStills", "nGroups", "nBraggGroups", "nBraggRows"] as const)
    expect(a[key], key).toBe(b[key]);
  for (const key of ["groupStart", "voxelIndex", "braggHkl", "sourceRow"] as const) {
    expect(bytesOf(a[key]).equals(bytesOf(b[key])), key).toBe(true);
  }
  const x = columnBytes(a);
  const y = columnBytes(b);
  for (const name of COLUMNS) expect(bytesOf(x[name]).equals(bytesOf(y[name])), name).toBe(true);
  expect(a.units).toEqual(b.units);
}
