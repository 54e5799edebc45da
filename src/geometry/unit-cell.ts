/**
 * Unit cells (a, b, c, α, β, γ) and their matrices in the cctbx convention: the cell of a lattice from its real-space
 * basis vectors, and the orthogonalisation and fractionalisation matrices (row-major, as in scitbx `mat3`).
 *
 * @packageDocumentation
 */
import { mat3, mat3Inverse, vec3AngleDeg, vec3Length, type Mat3, type Vec3 } from "./vector-maths.ts";

/** A unit cell (a, b, c, α, β, γ): lengths in Å, angles in degrees. */
export type UnitCell = [number, number, number, number, number, number];

const DEG = Math.PI / 180;

/**
 * Unit cell of a lattice given by its real-space basis vectors: (|a|, |b|, |c|, ∠(b,c), ∠(a,c), ∠(a,b)).
 *
 * @param a - real-space vector a (Å)
 * @param b - real-space vector b (Å)
 * @param c - real-space vector c (Å)
 * @returns `[a, b, c, alpha, beta, gamma]`, lengths in Å, angles in degrees
 */
export function unitCellFromRealSpaceVectors(a: Vec3, b: Vec3, c: Vec3): UnitCell {
  return [vec3Length(a), vec3Length(b), vec3Length(c), vec3AngleDeg(b, c), vec3AngleDeg(a, c), vec3AngleDeg(a, b)];
}

/**
 * Orthogonalisation matrix of a unit cell in the cctbx convention (a along x, b in the x-y plane): maps fractional
 * coordinates to Cartesian Å.
 *
 * @param cell - `[a, b, c, alpha, beta, gamma]` in Å and degrees
 * @returns the row-major orthogonalisation matrix (upper triangular)
 * @throws RangeError when the cell has no volume
 */
export function orthogonalizationMatrix(cell: UnitCell): Mat3 {
  const [a, b, c, al, be, ga] = cell;
  const ca = Math.cos(al * DEG);
  const cb = Math.cos(be * DEG);
  const cg = Math.cos(ga * DEG);
  const sg = Math.sin(ga * DEG);
  const v2 = 1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg;
  if (!(v2 > 0) || !(sg > 0))
    throw new RangeError(`orthogonalizationMatrix: unit cell ${cell.join(", ")} has no volume`);
  const volume = a * b * c * Math.sqrt(v2);
  return mat3([a, b * cg, c * cb, 0, b * sg, (c * (ca - cb * cg)) / sg, 0, 0, volume / (a * b * sg)]);
}

/**
 * Fractionalisation matrix of a unit cell in the cctbx convention: the inverse of
 * {@link orthogonalizationMatrix}; maps Cartesian Å to fractional coordinates.
 *
 * @param cell - `[a, b, c, alpha, beta, gamma]` in Å and degrees
 * @returns the row-major fractionalisation matrix (upper triangular)
 */
export function fractionalizationMatrix(cell: UnitCell): Mat3 {
  return mat3Inverse(orthogonalizationMatrix(cell));
}
