/**
 * A small synthetic dataset for the edge tests (not a test file itself): 6 stills of the simulated tetragonal
 * experiment list, 40 Bragg reflections and 60 voxels each seen by most stills with 2 % noise, always the same (seeded),
 * and its writers: the experiment list, the reflection table and the binned diffuse file.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeBinnedDiffuse } from "../../src/io/binned-diffuse.ts";
import { readExperiments } from "../../src/io/expt.ts";
import { writeReflections } from "../../src/io/refl-write.ts";
import { seededRandom } from "../../src/merge/seeded-random.ts";
import type { BinnedPixelData } from "../../src/observations/diffuse-input.ts";
import { SpaceGroup } from "../../src/symmetry/space-group.ts";
import { ReflectionTable } from "../../src/table/reflection-table.ts";
import { makeVoxelGrid, voxelCentre } from "../../src/voxelize/voxel-grid.ts";

export const EXPT40 = fileURLToPath(new URL("../fixtures/expt/sim-tetragonal-40-stills.expt", import.meta.url));
export const INTEGRATED_SUM = 1n << 8n;
export const N_STILLS = 6;
const TRUE_SCALE = [1, 1.2, 0.8, 1.1, 0.9, 1.05];
export const HALL = " P 4nw 2abw";
/** Grid of the synthetic binned file: ndiv 2, hkl_max 3 → dims 13. */
export const GRID = {
  ndiv: 2,
  hklMax: [3, 3, 3] as [number, number, number],
  voxelGridDims: [13, 13, 13] as [number, number, number],
};

/** B of the list's first crystal: every crystal of the simulated list has the same cell. */
const B = (await readExperiments(EXPT40)).experiments[0].crystal?.B;

/**
 * q vectors (x only, |q| that of the voxel's centre with the list's cell) for rows in `voxels` of a grid with
 * `ndiv` and `hklMax`, so the job's check of the grid against the crystals passes.
 */
export function voxelQVectors(
  voxels: ArrayLike<number>,
  grid: { ndiv: number; hklMax: [number, number, number] } = GRID,
): Float32Array {
  if (B === undefined) throw new Error(`${EXPT40}: the first experiment has no crystal`);
  const g = makeVoxelGrid(grid.ndiv, grid.hklMax);
  const centre = new Float64Array(3);
  const q = new Float32Array(3 * voxels.length);
  for (let i = 0; i < voxels.length; i++) {
    voxelCentre(g, voxels[i], centre, 0);
    const [h, k, l] = centre;
    q[3 * i] = Math.hypot(
      B[0] * h + B[1] * k + B[2] * l,
      B[3] * h + B[4] * k + B[5] * l,
      B[6] * h + B[7] * k + B[8] * l,
    );
  }
  return q;
}

/**
 * Writes a `.refl` of two stills (ids 0 and 1) that see different reflections, two each: no shared reference at all,
 * so refinement must fail with fewer than two connected stills.
 */
export async function writeDisconnectedReflections(path: string): Promise<void> {
  const t = new ReflectionTable(4);
  t.setColumn("id", { type: "int", data: Int32Array.from([0, 0, 1, 1]) });
  t.setColumn("miller_index", { type: "cctbx::miller::index<>", data: asuIndices(4) });
  t.setColumn("flags", { type: "std::size_t", data: new BigUint64Array(4).fill(INTEGRATED_SUM) });
  t.setColumn("intensity.sum.value", { type: "double", data: Float64Array.from([10, 20, 30, 40]) });
  t.setColumn("intensity.sum.variance", { type: "double", data: Float64Array.from([1, 2, 3, 4]) });
  t.setColumn("partiality", { type: "double", data: new Float64Array(4).fill(0.9) });
  t.setColumn("d", { type: "double", data: new Float64Array(4).fill(2) });
  await writeReflections(path, t);
}

/** Distinct ASU Miller indices of the fixture's group, in a fixed order. */
export function asuIndices(count: number): Int32Array {
  const sg = SpaceGroup.fromHall(HALL);
  const seen = new Set<string>();
  const out: number[] = [];
  for (let h = 1; h < 12 && out.length < 3 * count; h++)
    for (let k = 0; k <= h && out.length < 3 * count; k++)
      for (let l = 1; l < 12 && out.length < 3 * count; l++) {
        const m = sg.mapToAsuBatch(Int32Array.from([h, k, l]), false);
        const key = `${m[0]},${m[1]},${m[2]}`;
        if (seen.has(key) || sg.isSysAbsent(m[0], m[1], m[2])) continue;
        seen.add(key);
        out.push(m[0], m[1], m[2]);
      }
  return Int32Array.from(out);
}

export interface Dataset {
  bragg: { id: Int32Array; hkl: Int32Array; I: Float64Array; V: Float64Array; d: Float64Array };
  diffuse: BinnedPixelData;
}

/** The same seeded dataset every call: 40 hkl and 60 voxels, each seen by most of the 6 stills, 2 % noise. */
export function dataset(): Dataset {
  const r = seededRandom(11);
  const hkls = asuIndices(40);
  const id: number[] = [];
  const hkl: number[] = [];
  const I: number[] = [];
  const V: number[] = [];
  const d: number[] = [];
  const trueI = Array.from({ length: 40 }, () => 100 + 900 * r());
  for (let s = 0; s < N_STILLS; s++)
    for (let h = 0; h < 40; h++) {
      if (r() > 0.8) continue;
      const i = TRUE_SCALE[s] * trueI[h] * (1 + 0.02 * (r() - 0.5));
      id.push(s);
      hkl.push(hkls[3 * h], hkls[3 * h + 1], hkls[3 * h + 2]);
      I.push(i);
      V.push(Math.max(1, i));
      d.push(1.5 + (h % 17) * 0.3);
    }
  const still: number[] = [];
  const voxel: number[] = [];
  const inten: number[] = [];
  const sigma: number[] = [];
  const trueV = Array.from({ length: 60 }, () => 20 + 80 * r());
  for (let s = 0; s < N_STILLS; s++)
    for (let v = 0; v < 60; v++) {
      if (r() > 0.7) continue;
      const i = TRUE_SCALE[s] * trueV[v] * (1 + 0.02 * (r() - 0.5));
      still.push(s);
      voxel.push(v);
      inten.push(i);
      sigma.push(Math.sqrt(i) + 1);
    }
  const q = voxelQVectors(voxel);
  return {
    bragg: {
      id: Int32Array.from(id),
      hkl: Int32Array.from(hkl),
      I: Float64Array.from(I),
      V: Float64Array.from(V),
      d: Float64Array.from(d),
    },
    diffuse: {
      intensities: Float32Array.from(inten),
      sigmas: Float32Array.from(sigma),
      stillIds: Int32Array.from(still),
      voxelIndices: Float64Array.from(voxel),
      qVectors: q,
    },
  };
}

export function braggTable(b: Dataset["bragg"]): ReflectionTable {
  const n = b.id.length;
  const t = new ReflectionTable(n);
  t.setColumn("id", { type: "int", data: b.id });
  t.setColumn("miller_index", { type: "cctbx::miller::index<>", data: b.hkl });
  t.setColumn("flags", { type: "std::size_t", data: new BigUint64Array(n).fill(INTEGRATED_SUM) });
  t.setColumn("intensity.sum.value", { type: "double", data: b.I });
  t.setColumn("intensity.sum.variance", { type: "double", data: b.V });
  t.setColumn("partiality", { type: "double", data: new Float64Array(n).fill(1) });
  t.setColumn("d", { type: "double", data: b.d });
  return t;
}

/**
 * Writes the first `n` experiments (each with its own crystal, shared beam and detector) of the simulated list,
 * optionally changed by `edit`, to `path`.
 */
export function writeSmallExpt(
  path: string,
  edit?: (doc: { experiment: unknown[]; crystal: Record<string, unknown>[] }) => void,
  n = N_STILLS,
): void {
  const doc = JSON.parse(readFileSync(EXPT40, "utf8")) as { experiment: unknown[]; crystal: Record<string, unknown>[] };
  doc.experiment = doc.experiment.slice(0, n);
  doc.crystal = doc.crystal.slice(0, n);
  edit?.(doc);
  writeFileSync(path, JSON.stringify(doc));
}

/** Writes the dataset's `.refl` and binned `.h5` as `<dir>/<name>.refl` and `.h5` (extra root attributes allowed). */
export async function writeSmallData(
  dir: string,
  name: string,
  data: Dataset,
  attributes: Record<string, unknown> = {},
): Promise<{ refl: string; h5: string }> {
  const refl = join(dir, `${name}.refl`);
  const h5 = join(dir, `${name}.h5`);
  await writeReflections(refl, braggTable(data.bragg));
  await writeBinnedDiffuse(h5, data.diffuse, { ...GRID, voxelIndexRule: "synthetic", ...attributes });
  return { refl, h5 };
}
