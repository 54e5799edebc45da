/**
 * Small 3-vector and 3×3-matrix helpers for diffraction geometry (crystal, beam, detector, goniometer models).
 * Vectors are `Float64Array(3)`; matrices are `Float64Array(9)` in row-major order, as in scitbx `mat3`.
 * Every function returns a new array and never modifies its arguments. Unit cells and their matrices are in
 * `unit-cell.ts`.
 *
 * @packageDocumentation
 */

/** A 3-vector: `Float64Array` of length 3. */
export type Vec3 = Float64Array;
/** A 3×3 matrix: `Float64Array` of length 9, row-major (`m[3*row + col]`). */
export type Mat3 = Float64Array;

const DEG = Math.PI / 180;

function checkVec3(v: Float64Array, name: string): void {
  if (v.length !== 3) throw new RangeError(`${name}: expected a 3-vector, got length ${v.length}`);
}

function checkMat3(m: Float64Array, name: string): void {
  if (m.length !== 9) throw new RangeError(`${name}: expected a 3×3 matrix (length 9), got length ${m.length}`);
}

/**
 * Build a 3-vector.
 *
 * @param x - first component
 * @param y - second component
 * @param z - third component
 * @returns `[x, y, z]`
 */
export function vec3(x: number, y: number, z: number): Vec3 {
  const v = new Float64Array(3);
  v[0] = x;
  v[1] = y;
  v[2] = z;
  return v;
}

/**
 * Build a 3×3 matrix from nine numbers in row-major order.
 *
 * @param values - the nine elements, row-major
 * @returns the matrix
 * @throws RangeError when `values` does not hold exactly nine numbers
 */
export function mat3(values: ArrayLike<number>): Mat3 {
  if (values.length !== 9) throw new RangeError(`mat3: expected 9 values, got ${values.length}`);
  return Float64Array.from(values);
}

/** @returns the 3×3 identity matrix */
export function mat3Identity(): Mat3 {
  return mat3([1, 0, 0, 0, 1, 0, 0, 0, 1]);
}

/**
 * Build the matrix whose rows are `r0`, `r1`, `r2`.
 *
 * @param r0 - first row
 * @param r1 - second row
 * @param r2 - third row
 * @returns the row-major matrix `[r0; r1; r2]`
 */
export function mat3FromRows(r0: Vec3, r1: Vec3, r2: Vec3): Mat3 {
  checkVec3(r0, "mat3FromRows");
  checkVec3(r1, "mat3FromRows");
  checkVec3(r2, "mat3FromRows");
  return mat3([r0[0], r0[1], r0[2], r1[0], r1[1], r1[2], r2[0], r2[1], r2[2]]);
}

/**
 * Dot product.
 *
 * @param a - first vector
 * @param b - second vector
 * @returns a·b
 */
export function vec3Dot(a: Vec3, b: Vec3): number {
  checkVec3(a, "vec3Dot");
  checkVec3(b, "vec3Dot");
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

/**
 * Cross product.
 *
 * @param a - first vector
 * @param b - second vector
 * @returns a × b
 */
export function vec3Cross(a: Vec3, b: Vec3): Vec3 {
  checkVec3(a, "vec3Cross");
  checkVec3(b, "vec3Cross");
  return vec3(a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]);
}

/**
 * Euclidean length.
 *
 * @param v - the vector
 * @returns |v|
 */
export function vec3Length(v: Vec3): number {
  checkVec3(v, "vec3Length");
  return Math.hypot(v[0], v[1], v[2]);
}

/**
 * Unit vector along `v`.
 *
 * @param v - a vector of non-zero, finite length
 * @returns v / |v|
 * @throws RangeError when |v| is zero or not finite
 */
export function vec3Normalize(v: Vec3): Vec3 {
  const n = vec3Length(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new RangeError(`vec3Normalize: cannot normalise a vector of length ${n}`);
  return vec3(v[0] / n, v[1] / n, v[2] / n);
}

/**
 * Linear combination `s·v`.
 *
 * @param v - the vector
 * @param s - the scalar
 * @returns s·v
 */
export function vec3Scale(v: Vec3, s: number): Vec3 {
  checkVec3(v, "vec3Scale");
  return vec3(v[0] * s, v[1] * s, v[2] * s);
}

/**
 * Sum of two vectors.
 *
 * @param a - first vector
 * @param b - second vector
 * @returns a + b
 */
export function vec3Add(a: Vec3, b: Vec3): Vec3 {
  checkVec3(a, "vec3Add");
  checkVec3(b, "vec3Add");
  return vec3(a[0] + b[0], a[1] + b[1], a[2] + b[2]);
}

/**
 * Angle between two vectors, in degrees (0..180).
 *
 * @param a - first vector (non-zero)
 * @param b - second vector (non-zero)
 * @returns ∠(a, b) in degrees
 */
export function vec3AngleDeg(a: Vec3, b: Vec3): number {
  const c = vec3Dot(a, b) / (vec3Length(a) * vec3Length(b));
  return Math.acos(Math.min(1, Math.max(-1, c))) / DEG;
}

/**
 * Determinant of a 3×3 matrix.
 *
 * @param m - the matrix (row-major)
 * @returns det(m)
 */
export function mat3Determinant(m: Mat3): number {
  checkMat3(m, "mat3Determinant");
  return m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) + m[2] * (m[3] * m[7] - m[4] * m[6]);
}

/**
 * Inverse of a 3×3 matrix (adjugate over determinant).
 *
 * @param m - the matrix (row-major)
 * @returns m⁻¹
 * @throws RangeError when `m` is singular or has non-finite elements
 */
export function mat3Inverse(m: Mat3): Mat3 {
  const det = mat3Determinant(m);
  if (det === 0 || !Number.isFinite(det)) throw new RangeError(`mat3Inverse: matrix is singular (det = ${det})`);
  const r = new Float64Array(9);
  r[0] = (m[4] * m[8] - m[5] * m[7]) / det;
  r[1] = (m[2] * m[7] - m[1] * m[8]) / det;
  r[2] = (m[1] * m[5] - m[2] * m[4]) / det;
  r[3] = (m[5] * m[6] - m[3] * m[8]) / det;
  r[4] = (m[0] * m[8] - m[2] * m[6]) / det;
  r[5] = (m[2] * m[3] - m[0] * m[5]) / det;
  r[6] = (m[3] * m[7] - m[4] * m[6]) / det;
  r[7] = (m[1] * m[6] - m[0] * m[7]) / det;
  r[8] = (m[0] * m[4] - m[1] * m[3]) / det;
  return r;
}

/**
 * Matrix product.
 *
 * @param a - left matrix
 * @param b - right matrix
 * @returns a·b
 */
export function mat3Multiply(a: Mat3, b: Mat3): Mat3 {
  checkMat3(a, "mat3Multiply");
  checkMat3(b, "mat3Multiply");
  const r = new Float64Array(9);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      r[3 * i + j] = a[3 * i] * b[j] + a[3 * i + 1] * b[3 + j] + a[3 * i + 2] * b[6 + j];
    }
  }
  return r;
}

/**
 * Transpose.
 *
 * @param m - the matrix
 * @returns mᵀ
 */
export function mat3Transpose(m: Mat3): Mat3 {
  checkMat3(m, "mat3Transpose");
  return mat3([m[0], m[3], m[6], m[1], m[4], m[7], m[2], m[5], m[8]]);
}

/**
 * Matrix times column vector.
 *
 * @param m - the matrix
 * @param v - the vector
 * @returns m·v
 */
export function mat3Vec3(m: Mat3, v: Vec3): Vec3 {
  checkMat3(m, "mat3Vec3");
  checkVec3(v, "mat3Vec3");
  return vec3(
    m[0] * v[0] + m[1] * v[1] + m[2] * v[2],
    m[3] * v[0] + m[4] * v[1] + m[5] * v[2],
    m[6] * v[0] + m[7] * v[1] + m[8] * v[2],
  );
}

/**
 * Right-handed rotation by `angleDeg` about `axis` (Rodrigues' formula; the axis is normalised first), as scitbx
 * `r3_rotation::axis_and_angle_as_matrix(axis, angle, deg=true)`.
 *
 * @param axis - the rotation axis (non-zero)
 * @param angleDeg - the angle in degrees
 * @returns the rotation matrix
 */
export function axisAngleMatrix(axis: Vec3, angleDeg: number): Mat3 {
  const u = vec3Normalize(axis);
  const t = angleDeg * DEG;
  const c = Math.cos(t);
  const s = Math.sin(t);
  const k = 1 - c;
  const [x, y, z] = [u[0], u[1], u[2]];
  return mat3([
    c + x * x * k,
    x * y * k - z * s,
    x * z * k + y * s,
    y * x * k + z * s,
    c + y * y * k,
    y * z * k - x * s,
    z * x * k - y * s,
    z * y * k + x * s,
    c + z * z * k,
  ]);
}
