/**
 * A binned diffuse file checked against the job's crystals before anything is grouped: for the first rows of the
 * file (at most {@link GRID_CHECK_ROWS}), |q| of the row (its lab-frame q vector) must be that of its voxel's centre
 * with its still's B (`|B·hkl|`), within half a voxel: |q| is the same for every symmetry equivalent, so the check
 * holds whatever asymmetric unit or rule put the row in its voxel, but fails for a file binned with other cells or in
 * another setting (whose merged map would put every voxel at a wrong |q|). More than
 * {@link MAX_GRID_MISMATCH_FRACTION} of the checked rows outside their voxel is refused.
 *
 * @packageDocumentation
 */
import { InputError } from "../errors.ts";
import type { BinnedDiffuseFile } from "../io/binned-diffuse.ts";
import type { ExperimentList } from "../io/expt.ts";
import { makeVoxelGrid, voxelCentreKernel } from "../voxelize/voxel-grid.ts";
import { describeFiles } from "./scale-input-files.ts";

/** Rows checked: the first ones of the file. */
export const GRID_CHECK_ROWS = 4096;

/** The largest fraction of the checked rows whose |q| may lie outside their voxel. */
export const MAX_GRID_MISMATCH_FRACTION = 0.5;

/** Relative slack on half a voxel's extent (float32 q vectors, cells refined per still). */
const SLACK = 1.01;

/**
 * Refuses a binned file whose voxels do not hold the |q| of their rows with the crystals' cells (see the module
 * comment). Rows of no experiment (still id −1 after matching) are not checked.
 *
 * @param binned - the open file, its still ids already matched to `experiments`
 * @param experiments - the job's experiments
 * @param exptFiles - the `.expt` files, for messages
 * @throws {@link InputError} naming the file
 */
export function checkGridAgainstCrystals(
  binned: BinnedDiffuseFile,
  experiments: ExperimentList,
  exptFiles: readonly string[],
): void {
  const { ndiv, hklMax } = binned.attributes;
  const grid = makeVoxelGrid(ndiv, hklMax);
  const chunk = binned.readSlice(0, Math.min(binned.nObservations, GRID_CHECK_ROWS));
  const list = experiments.experiments;
  const centre = new Float64Array(3);
  let checked = 0;
  let outside = 0;
  for (let i = 0; i < chunk.stillIds.length; i++) {
    const crystal = list[chunk.stillIds[i]]?.crystal;
    if (crystal === undefined) continue;
    const B = crystal.B;
    voxelCentreKernel(grid, chunk.voxelIndices[i], centre, 0);
    const [h, k, l] = centre;
    const qCentre = Math.hypot(
      B[0] * h + B[1] * k + B[2] * l,
      B[3] * h + B[4] * k + B[5] * l,
      B[6] * h + B[7] * k + B[8] * l,
    );
    const q = chunk.qVectors;
    const qRow = Math.hypot(q[3 * i], q[3 * i + 1], q[3 * i + 2]);
    if (!Number.isFinite(qRow)) {
      // the same message as grouping gives for a usable row (a NaN |q| would otherwise count as a mismatch)
      throw new InputError(
        `dataset 'q_vectors' row ${i}: q = (${q[3 * i]}, ${q[3 * i + 1]}, ${q[3 * i + 2]}) is not finite`,
        binned.path,
      );
    }
    // half a voxel along each reciprocal axis (the columns of B), summed: the farthest |q| can be from the centre's
    const halfVoxel =
      (0.5 / ndiv) * (Math.hypot(B[0], B[3], B[6]) + Math.hypot(B[1], B[4], B[7]) + Math.hypot(B[2], B[5], B[8]));
    checked++;
    if (Math.abs(qRow - qCentre) > SLACK * halfVoxel + 1e-6 * qRow) outside++;
  }
  if (checked > 0 && outside > MAX_GRID_MISMATCH_FRACTION * checked) {
    throw new InputError(
      `voxel indices disagree with the crystals of ${describeFiles(exptFiles)}: for ${outside} of the first ${checked} rows |q| is not that of their voxel (binned with other cells, or in another setting?)`,
      binned.path,
    );
  }
}
