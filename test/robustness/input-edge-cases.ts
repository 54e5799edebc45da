/**
 * Valid inputs at the edges of the scale job's cost, written into a directory: shared by the robustness test
 * (`input-edges.test.ts`, small sizes) and the bench (`bench/input-edges.ts`, 10^5). Not a test file itself.
 *
 * - one voxel: tetragonal-40's diffuse rows (repeated past its 200 168), every one moved to the first row's voxel and q;
 * - all-zero Miller indices: tetragonal-40's Bragg rows (repeated past its 15 790), every one in the group (0,0,0);
 * - one hkl: the same rows, every one given the first row's Miller index and d (one Bragg group);
 * - `size` experiments of which 40 have data: tetragonal-40 with experiments added that share experiment 0's models;
 * - `size` stills with one Bragg observation each, on 100 reflections (synthetic, log-normal scales).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readBinnedDiffuse, writeBinnedDiffuse } from "../../src/io/binned-diffuse.ts";
import { readReflections } from "../../src/io/refl-read.ts";
import { writeReflections } from "../../src/io/refl-write.ts";
import { seededRandom } from "../../src/merge/seeded-random.ts";
import { ReflectionFlags } from "../../src/table/flags.ts";
import { ReflectionTable } from "../../src/table/reflection-table.ts";
import { TETRA } from "./cli-process.ts";

/** One case: its name, what its size is, and the input arguments of `scale`. */
export interface EdgeCase {
  name: string;
  size: string;
  args: string[];
}

/** The first `m` values of `column` repeated end to end. */
function repeated<T extends Float32Array | Int32Array>(m: number, column: T): T {
  const out = new (column.constructor as new (length: number) => T)(m);
  for (let i = 0; i < m; i += column.length) out.set(column.subarray(0, Math.min(column.length, m - i)), i);
  return out;
}

/** tetragonal-40's experiment list with `n` experiments: the 40 and copies of experiment 0 (own identifiers). */
function manyExperimentsDocument(n: number): string {
  const doc = JSON.parse(readFileSync(`${TETRA}stills.expt`, "utf8")) as { experiment: Record<string, unknown>[] };
  const first = doc.experiment[0];
  for (let i = doc.experiment.length; i < n; i++) {
    doc.experiment.push({ ...first, identifier: `extra-${String(i).padStart(6, "0")}` });
  }
  return JSON.stringify(doc);
}

/** `n` stills with one Bragg observation each: I = g_s · I_h (+ 1 % noise) on 100 of tetragonal-40's reflections. */
async function oneObservationPerStill(n: number): Promise<ReflectionTable> {
  const source = await readReflections(`${TETRA}stills.refl`);
  const hkl = source.getMillerIndex();
  const d = source.getDouble("d");
  const random = seededRandom(7);
  const table = new ReflectionTable(n);
  const id = new Int32Array(n);
  const miller = new Int32Array(3 * n);
  const intensity = new Float64Array(n);
  const variance = new Float64Array(n);
  const dOut = new Float64Array(n);
  const partiality = new Float64Array(n).fill(1);
  const flags = new BigUint64Array(n).fill(BigInt(ReflectionFlags.integratedSum));
  const trueI = Array.from({ length: 100 }, () => 500 + 1000 * random());
  for (let i = 0; i < n; i++) {
    const h = i % 100;
    id[i] = i;
    miller.set(hkl.subarray(3 * h, 3 * h + 3), 3 * i);
    const g = Math.exp(0.3 * (random() + random() + random() - 1.5));
    intensity[i] = g * trueI[h] * (1 + 0.01 * (random() - 0.5));
    variance[i] = (0.01 * g * trueI[h]) ** 2;
    dOut[i] = d[h];
  }
  table.setColumn("id", { type: "int", data: id });
  table.setColumn("miller_index", { type: "cctbx::miller::index<>", data: miller });
  table.setColumn("flags", { type: "std::size_t", data: flags });
  table.setColumn("intensity.sum.value", { type: "double", data: intensity });
  table.setColumn("intensity.sum.variance", { type: "double", data: variance });
  table.setColumn("d", { type: "double", data: dOut });
  table.setColumn("partiality", { type: "double", data: partiality });
  for (let i = 0; i < n; i++) table.identifiers.set(i, `extra-${String(i).padStart(6, "0")}`);
  return table;
}

/** The sizes of the cases. */
export interface EdgeSizes {
  /** Rows in the one voxel: tetragonal-40's diffuse rows in order, from the first again past its 200 168. */
  voxelRows: number;
  /** Bragg rows at (0,0,0): tetragonal-40's Bragg rows in order, from the first again past its 15 790. */
  zeroRows: number;
  /** Bragg rows in one hkl (the first row's, with its d): tetragonal-40's Bragg rows in order, repeated past 15 790. */
  hklRows: number;
  /** Experiments of the many-experiments case. */
  experiments: number;
  /** Stills of the one-observation-per-still case. */
  stills: number;
}

/**
 * Writes the five cases into `dir` and returns their `scale` arguments.
 *
 * @param dir - where the files go
 * @param sizes - how large each case is
 */
export async function makeEdgeCases(dir: string, sizes: EdgeSizes): Promise<EdgeCase[]> {
  const expt = `${TETRA}stills.expt`;
  const refl = `${TETRA}stills.refl`;
  const cases: EdgeCase[] = [];

  const rows = await readBinnedDiffuse(`${TETRA}diffuse_binned.h5`);
  const m = sizes.voxelRows;
  const oneVoxel = join(dir, "one-voxel.h5");
  await writeBinnedDiffuse(
    oneVoxel,
    {
      intensities: repeated(m, rows.intensities),
      sigmas: repeated(m, rows.sigmas),
      stillIds: repeated(m, rows.stillIds),
      voxelIndices: new Float64Array(m).fill(rows.voxelIndices[0]),
      // every row at the first row's q, so that the one voxel holds its rows' |q| (the job checks it)
      qVectors: Float32Array.from({ length: 3 * m }, (_, i) => rows.qVectors[i % 3]),
    },
    rows.attributes,
  );
  cases.push({
    name: "one-voxel",
    size: `${m} diffuse rows in one voxel`,
    args: ["--expt", expt, "--refl", refl, "--diffuse", oneVoxel],
  });

  const all = await readReflections(refl);
  const zero = all.select(Int32Array.from({ length: sizes.zeroRows }, (_, i) => i % all.nrows));
  zero.getMillerIndex().fill(0);
  const zeroRefl = join(dir, "zero-hkl.refl");
  await writeReflections(zeroRefl, zero);
  cases.push({
    name: "zero-hkl",
    size: `${zero.nrows} Bragg rows at (0,0,0)`,
    args: ["--expt", expt, "--refl", zeroRefl],
  });

  const same = all.select(Int32Array.from({ length: sizes.hklRows }, (_, i) => i % all.nrows));
  const hkl = same.getMillerIndex();
  const d = same.getDouble("d");
  for (let i = 0; i < same.nrows; i++) {
    hkl.set(all.getMillerIndex().subarray(0, 3), 3 * i);
    d[i] = all.getDouble("d")[0];
  }
  const oneHkl = join(dir, "one-hkl.refl");
  await writeReflections(oneHkl, same);
  cases.push({
    name: "one-hkl",
    size: `${same.nrows} Bragg rows in one hkl`,
    args: ["--expt", expt, "--refl", oneHkl],
  });

  const manyExpt = join(dir, "many.expt");
  writeFileSync(manyExpt, manyExperimentsDocument(sizes.experiments));
  cases.push({
    name: "many-experiments",
    size: `${sizes.experiments} experiments, 40 with data`,
    args: ["--expt", manyExpt, "--refl", refl],
  });

  const singleExpt = join(dir, "single.expt");
  const size = sizes.stills;
  const doc = JSON.parse(manyExperimentsDocument(size)) as { experiment: Record<string, unknown>[] };
  doc.experiment = doc.experiment.map((e, i) => ({
    ...e,
    crystal: 0,
    identifier: `extra-${String(i).padStart(6, "0")}`,
  }));
  writeFileSync(singleExpt, JSON.stringify(doc));
  const singleRefl = join(dir, "single.refl");
  await writeReflections(singleRefl, await oneObservationPerStill(size));
  cases.push({
    name: "one-observation-per-still",
    size: `${size} stills, 1 observation each`,
    args: ["--expt", singleExpt, "--refl", singleRefl],
  });
  return cases;
}
