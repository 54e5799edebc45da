/**
 * DIALS reflection flag bits (the `std::size_t` column `"flags"`) and helpers to test, set and clear them.
 *
 * @packageDocumentation
 */
import { InputError, requireInstanceArgument } from "../errors.ts";
import { ReflectionTable } from "./reflection-table.ts";

/**
 * DIALS `reflection_table.flags` bits, named in camelCase after DIALS's Python names. All are below 2^31.
 * `integrated` and `badForScaling` are combinations.
 */
export const ReflectionFlags = {
  predicted: 1 << 0,
  observed: 1 << 1,
  indexed: 1 << 2,
  usedInRefinement: 1 << 3,
  strong: 1 << 5,
  referenceSpot: 1 << 6,
  dontIntegrate: 1 << 7,
  integratedSum: 1 << 8,
  integratedPrf: 1 << 9,
  overloaded: 1 << 10,
  overlappedBg: 1 << 11,
  overlappedFg: 1 << 12,
  inPowderRing: 1 << 13,
  foregroundIncludesBadPixels: 1 << 14,
  backgroundIncludesBadPixels: 1 << 15,
  usedInModelling: 1 << 16,
  centroidOutlier: 1 << 17,
  failedDuringBackgroundModelling: 1 << 18,
  failedDuringSummation: 1 << 19,
  failedDuringProfileFitting: 1 << 20,
  badReference: 1 << 21,
  userExcludedInScaling: 1 << 22,
  outlierInScaling: 1 << 23,
  excludedForScaling: 1 << 24,
  excludedForRefinement: 1 << 25,
  scaled: 1 << 26,
  notSuitableForRefinement: 1 << 27,
  integrated: (1 << 8) | (1 << 9),
  badForScaling: (1 << 22) | (1 << 23) | (1 << 24),
} as const;

const FLAGS = "flags";

function checkFlag(flag: number): number {
  // Negative int32 values are accepted as their uint32 bit pattern (what `a | (1 << 31)` gives in JavaScript).
  if (!Number.isInteger(flag) || flag < -(2 ** 31) || flag >= 2 ** 32) {
    throw new InputError(`reflection flags: flag value ${String(flag)} is not a 32-bit bit mask`);
  }
  return flag >>> 0;
}

/** Low 32-bit words of the 64-bit flags, as a view (little-endian: the low word of row i is element 2i). */
function lowWords(table: ReflectionTable): Uint32Array {
  const f = table.getSizeT(FLAGS);
  return new Uint32Array(f.buffer, f.byteOffset, f.length * 2);
}

function checkMask(table: ReflectionTable, selection: Uint8Array): void {
  if (!(selection instanceof Uint8Array) || selection.length !== table.nrows) {
    throw new InputError(`reflection flags: selection mask must be a Uint8Array of length ${table.nrows}`);
  }
}

/**
 * Rows whose `"flags"` have any bit of `flag` set (`all = false`) or every bit of `flag` set (`all = true`), as a
 * 0/1 mask. Throws {@link InputError} if the table has no `std::size_t` column `"flags"`.
 *
 * @param flag - one or more {@link ReflectionFlags} bits OR-ed together (a uint32, or the int32 with the same bits).
 * @param all - require every bit of `flag`. @defaultValue `false`
 */
export function getFlags(table: ReflectionTable, flag: number, all = false): Uint8Array {
  requireInstanceArgument(table, ReflectionTable, "getFlags: table");
  const f = checkFlag(flag);
  const lo = lowWords(table);
  const n = table.nrows;
  const out = new Uint8Array(n);
  if (all) {
    for (let i = 0; i < n; i++) out[i] = (lo[2 * i] & f) >>> 0 === f ? 1 : 0;
  } else {
    for (let i = 0; i < n; i++) out[i] = (lo[2 * i] & f) !== 0 ? 1 : 0;
  }
  return out;
}

function ensureFlags(table: ReflectionTable): void {
  if (!table.has(FLAGS)) table.setColumn(FLAGS, { type: "std::size_t", data: new BigUint64Array(table.nrows) });
}

/**
 * Set the bits of `flag` on the rows where `selection` is nonzero, leaving every other bit (all 64) untouched.
 * Creates a zero `"flags"` column first if the table has none (as DIALS does).
 */
export function setFlags(table: ReflectionTable, selection: Uint8Array, flag: number): void {
  requireInstanceArgument(table, ReflectionTable, "setFlags: table");
  const f = checkFlag(flag);
  checkMask(table, selection);
  ensureFlags(table);
  const lo = lowWords(table);
  for (let i = 0; i < table.nrows; i++) if (selection[i] !== 0) lo[2 * i] = (lo[2 * i] | f) >>> 0;
}

/**
 * Clear the bits of `flag` on the rows where `selection` is nonzero, leaving every other bit untouched.
 * Creates a zero `"flags"` column first if the table has none.
 */
export function unsetFlags(table: ReflectionTable, selection: Uint8Array, flag: number): void {
  requireInstanceArgument(table, ReflectionTable, "unsetFlags: table");
  const f = checkFlag(flag);
  checkMask(table, selection);
  ensureFlags(table);
  const lo = lowWords(table);
  const keep = ~f >>> 0;
  for (let i = 0; i < table.nrows; i++) if (selection[i] !== 0) lo[2 * i] = (lo[2 * i] & keep) >>> 0;
}
