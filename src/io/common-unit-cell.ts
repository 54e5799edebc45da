/**
 * The unit cells of a serial experiment list must describe one crystal form: the merged map puts every voxel at |q|
 * from the crystals' mean B matrix, and the voxels themselves were indexed with each still's own cell, so one crystal
 * whose cell is off (e.g. an axis doubled by a wrong indexing solution) would shift every merged |q| without a word.
 * Each crystal's cell is compared with the median cell (parameter by parameter), and a cell recorded in the binned
 * diffuse file (an optional `unit_cell` attribute of 6 numbers) with the same median. A cell outside the tolerance is
 * refused: no warning channel exists in a library that never prints, and a map on the wrong |q| grid is no result.
 *
 * @packageDocumentation
 */
import { InputError } from "../errors.ts";
import type { UnitCell } from "../geometry/unit-cell.ts";
import type { ExperimentList } from "./expt.ts";

/** Largest relative deviation of a cell length (a, b, c) from the median cell's: 5 % (serial crystals vary ~1 %). */
export const MAX_CELL_LENGTH_DEVIATION = 0.05;

/** Largest deviation of a cell angle (α, β, γ) from the median cell's, in degrees. */
export const MAX_CELL_ANGLE_DEVIATION_DEG = 5;

const NAMES = ["a", "b", "c", "alpha", "beta", "gamma"];

/** The median of each cell parameter over the crystals (the upper median for an even count). */
function medianCell(cells: UnitCell[]): UnitCell {
  const out: UnitCell = [0, 0, 0, 0, 0, 0];
  for (let p = 0; p < 6; p++) {
    const v = cells.map((c) => c[p]).sort((x, y) => x - y);
    out[p] = v[Math.floor(v.length / 2)];
  }
  return out;
}

function formatCell(cell: readonly number[]): string {
  return cell.map((x) => Number(x.toPrecision(6))).join(", ");
}

/**
 * Throws unless every parameter of `cell` lies within the tolerances of `reference`.
 *
 * @param what - What the cell is, for the message (e.g. "experiment 3").
 * @param source - The file it came from.
 */
export function checkCellAgainst(cell: readonly number[], reference: UnitCell, what: string, source: string): void {
  if (cell.length !== 6 || !cell.every((x) => Number.isFinite(x) && x > 0)) {
    throw new InputError(`${what}: unit cell must be 6 finite positive numbers, got [${formatCell(cell)}]`, source);
  }
  for (let p = 0; p < 6; p++) {
    const length = p < 3;
    const off = length ? Math.abs(cell[p] / reference[p] - 1) : Math.abs(cell[p] - reference[p]);
    const allowed = length ? MAX_CELL_LENGTH_DEVIATION : MAX_CELL_ANGLE_DEVIATION_DEG;
    if (!(off <= allowed)) {
      throw new InputError(
        `${what}: unit cell (${formatCell(cell)}) differs from the median cell of the crystals (${formatCell(reference)}) in ${NAMES[p]} by ${length ? `${(100 * off).toFixed(1)} %` : `${off.toFixed(2)}°`}, more than the ${length ? `${100 * MAX_CELL_LENGTH_DEVIATION} %` : `${MAX_CELL_ANGLE_DEVIATION_DEG}°`} allowed (merged |q| would be wrong)`,
        source,
      );
    }
  }
}

/**
 * Checks that the crystals' cells agree (see the file comment) and returns their median cell.
 *
 * @param experiments - The experiment list (crystals without a cell are skipped).
 * @param source - The `.expt` file, for messages.
 * @throws {@link InputError} naming the file and the first experiment whose cell is out of tolerance.
 */
export function checkCommonUnitCell(experiments: ExperimentList, source: string): UnitCell | undefined {
  const cells: UnitCell[] = [];
  const index: number[] = [];
  experiments.experiments.forEach((e, i) => {
    if (e.crystal !== undefined) {
      cells.push(e.crystal.unitCell);
      index.push(i);
    }
  });
  if (cells.length === 0) return undefined;
  const median = medianCell(cells);
  cells.forEach((c, k) => {
    checkCellAgainst(c, median, `experiment ${index[k]}`, source);
  });
  return median;
}
