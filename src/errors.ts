/**
 * Typed errors of diffuse-scaling. Every error carries a one-line message that names the file, row, field or
 * parameter at fault. The CLI maps them to exit codes: {@link InputError} and {@link ConfigError} (and the v1 guards
 * {@link ParameterLimitExceeded}, {@link DisabledComponentAccess}) exit 2, {@link RefinementFailure} exits 1.
 *
 * @packageDocumentation
 */

/** Base class of every error this library throws on purpose. */
export class DiffuseScalingError extends Error {
  override name = "DiffuseScalingError";
}

/** A file could not be read or is malformed. `file` names it; the message says what is wrong and where. */
export class InputError extends DiffuseScalingError {
  override name = "InputError";
  /** The path of the offending file, if the error concerns a file. */
  readonly file: string | undefined;
  constructor(message: string, file?: string) {
    super(file === undefined ? message : `${file}: ${message}`);
    this.file = file;
  }
}

/** An option or configuration value is invalid. The message names the option and what was expected. */
export class ConfigError extends DiffuseScalingError {
  override name = "ConfigError";
}

/** The v1 model's parameter limit (5 + N_stills free parameters, at most 5 smoother control points) was exceeded. */
export class ParameterLimitExceeded extends DiffuseScalingError {
  override name = "ParameterLimitExceeded";
  constructor(detail: string) {
    super(`v1 model parameter limit exceeded: ${detail}`);
  }
}

/** A component that is hard-disabled in the v1 model (panel, spatial, additive offset) was enabled or accessed. */
export class DisabledComponentAccess extends DiffuseScalingError {
  override name = "DisabledComponentAccess";
  constructor(detail: string) {
    super(`Advanced component disabled in v1: ${detail}`);
  }
}

/** Refinement failed: the minimiser could not proceed, values became non-finite, or the fit diverged. */
export class RefinementFailure extends DiffuseScalingError {
  override name = "RefinementFailure";
  /** The last good parameter vector, when one exists. */
  readonly lastGoodParameters: Float64Array | undefined;
  constructor(detail: string, lastGoodParameters?: Float64Array) {
    super(`Parameter refinement failed: ${detail}`);
    this.lastGoodParameters = lastGoodParameters;
  }
}

/** What to do about each operating-system error code, for {@link fileSystemError}. */
const OS_ERROR_ADVICE: Readonly<Record<string, string>> = {
  ENOSPC: "no space left on the device; free some space or choose a directory on another disk",
  EDQUOT: "disk quota exceeded; free some space or choose a directory on another disk",
  EACCES: "permission denied; choose a directory you may write to, or change its permissions",
  EPERM: "operation not permitted; choose a directory you may write to, or change its permissions",
  EROFS: "read-only file system; choose a directory on a writable file system",
  ENAMETOOLONG: "file name too long; choose a shorter path",
  EISDIR: "is a directory; give the path of a file",
  ENOTDIR: "a part of the path is not a directory; choose another path",
  EEXIST: "exists and is not a directory; choose another path",
  ENOENT: "no such file or directory; check the path",
  EMFILE: "too many open files; raise the limit (ulimit -n) or close other programs",
  ENFILE: "too many open files in the system; close other programs",
  EIO: "input/output error; check the disk",
  EFBIG: "file too large for this file system; choose a directory on another file system",
  ELOOP: "too many symbolic links; check the path",
  EBUSY: "device or resource busy; choose another path",
  EXDEV: "crosses file systems; choose a path on one file system",
  ENXIO: "no such device; choose a regular directory",
  ENODEV: "no such device; choose a regular directory",
  EINVAL: "invalid argument; choose a path on an ordinary file system",
};

/**
 * An operating-system error on a file or directory (a full disk, a read-only file system, permissions, a name too
 * long, a path through a file, ...). It is an {@link InputError} (exit 2): the message names the path, says what could
 * not be done and what to do, e.g. `out/scaled.refl: cannot write: no space left on the device; free some space or
 * choose a directory on another disk (ENOSPC)`.
 */
export class FileSystemError extends InputError {
  override name = "FileSystemError";
  /** The system's error code (`ENOSPC`, `EACCES`, ...), or undefined when the error came without one. */
  readonly code: string | undefined;
  constructor(message: string, path: string, code?: string) {
    super(message, path);
    this.code = code;
  }
}

/** Whether `error` is a Node.js system error (a `code` such as `ENOSPC` and the failing `syscall`). */
export function isSystemError(error: unknown): error is NodeJS.ErrnoException & { code: string } {
  return (
    error instanceof Error &&
    typeof (error as NodeJS.ErrnoException).code === "string" &&
    /^E[A-Z0-9]+$/.test((error as NodeJS.ErrnoException).code ?? "")
  );
}

/**
 * The one mapping of operating-system errors to messages: `error` (a Node.js system error, or anything else) met
 * while trying to `action` (e.g. "write", "create the output directory") on `path` becomes a {@link FileSystemError}
 * naming the path, the action and what to do. Errors that already are {@link InputError}s are returned unchanged.
 *
 * @param error - the caught value
 * @param path - the file or directory concerned
 * @param action - what was being done, as a verb phrase
 * @returns the error to throw
 */
export function fileSystemError(error: unknown, path: string, action: string): InputError {
  if (error instanceof InputError) return error;
  if (isSystemError(error)) {
    const advice = OS_ERROR_ADVICE[error.code] ?? error.message.split("\n")[0];
    return new FileSystemError(`cannot ${action}: ${advice} (${error.code})`, path, error.code);
  }
  const text = error instanceof Error ? error.message : String(error);
  return new FileSystemError(`cannot ${action}: ${text.split("\n")[0]}`, path);
}

/**
 * Throws a {@link ConfigError} unless `value` is an object (not null, not an array): the options or configuration
 * argument of a public function, which a JavaScript caller may pass as anything.
 *
 * @param value - the argument
 * @param what - how the message names it, e.g. `"scaleDataset: options"`
 */
export function requireObjectArgument(value: unknown, what: string): void {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    const got = value === null ? "null" : Array.isArray(value) ? "an array" : typeof value;
    throw new ConfigError(`${what} must be an object, got ${got}`);
  }
}

/**
 * A value as an argument-check message shows it: a number as written, a string quoted (cut to 40 characters), an
 * array or typed array with its length, an instance by its class, else its type: `the string "0"`, `NaN`,
 * `a Float64Array of length 3`, `an array of length 0`, `a Map`, `an object`, `null`, `undefined`.
 *
 * @param v - the value
 * @returns the description
 */
export function describeValue(v: unknown): string {
  if (typeof v === "number") return String(v);
  if (typeof v === "string") return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (v === null || v === undefined) return String(v);
  if (typeof v === "function") return "a function";
  if (typeof v !== "object") return typeof v;
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  if (ArrayBuffer.isView(v) && !(v instanceof DataView))
    return `a ${v.constructor.name} of length ${(v as unknown as ArrayLike<unknown>).length}`;
  const name = (v as { constructor?: { name?: unknown } }).constructor?.name;
  if (typeof name === "string" && name !== "Object" && name !== "") return `a ${name}`;
  return "an object";
}

/** Throws a {@link ConfigError} `<what> must be <rule>, got <value>`. */
function refuseArgument(what: string, rule: string, value: unknown): never {
  throw new ConfigError(`${what} must be ${rule}, got ${describeValue(value)}`);
}

/**
 * Throws a {@link ConfigError} unless `value` is undefined or an object: an optional options argument.
 *
 * @param value - the argument
 * @param what - how the message names it, e.g. `"readReflections: options"`
 */
export function requireOptionsArgument(value: unknown, what: string): void {
  if (value !== undefined) requireObjectArgument(value, what);
}

/**
 * Throws a {@link ConfigError} unless `value` is a string (a path, a name, ...).
 *
 * @param value - the argument
 * @param what - how the message names it, e.g. `"readReflections: path"`
 */
export function requireStringArgument(value: unknown, what: string): asserts value is string {
  if (typeof value !== "string") refuseArgument(what, "a string", value);
}

/**
 * Throws a {@link ConfigError} unless `value` is a function.
 *
 * @param value - the argument
 * @param what - how the message names it
 */
export function requireFunctionArgument(value: unknown, what: string): void {
  if (typeof value !== "function") refuseArgument(what, "a function", value);
}

/**
 * Throws a {@link ConfigError} unless `value` is an integer in `min..max`.
 *
 * @param value - the argument
 * @param what - how the message names it, e.g. `"SparseMatrix: nRows"`
 * @param min - the smallest allowed value
 * @param max - the largest allowed value
 */
export function requireIntegerArgument(
  value: unknown,
  what: string,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): asserts value is number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max)
    refuseArgument(what, `an integer in ${min}..${max}`, value);
}

/**
 * Throws a {@link ConfigError} unless `value` is a finite number.
 *
 * @param value - the argument
 * @param what - how the message names it
 */
export function requireFiniteArgument(value: unknown, what: string): asserts value is number {
  if (typeof value !== "number" || !Number.isFinite(value)) refuseArgument(what, "a finite number", value);
}

/**
 * Throws a {@link ConfigError} unless `value` is an array or typed array of numbers (only its type is checked, not
 * each element) and, when `length` is given, has that length.
 *
 * @param value - the argument
 * @param what - how the message names it, e.g. `"SparseMatrix.multiplyVector: x"`
 * @param length - the required length
 */
export function requireNumbersArgument(
  value: unknown,
  what: string,
  length?: number,
): asserts value is ArrayLike<number> {
  const numeric =
    value instanceof Float64Array || // the common case first: one check on the hot paths that call this per row
    Array.isArray(value) ||
    (ArrayBuffer.isView(value) &&
      !(value instanceof DataView) &&
      !(value instanceof BigInt64Array) &&
      !(value instanceof BigUint64Array));
  if (!numeric) refuseArgument(what, "an array of numbers", value);
  if (length !== undefined && (value as ArrayLike<number>).length !== length)
    refuseArgument(what, `of length ${length}`, value);
}

/**
 * Throws a {@link ConfigError} unless `value` is an instance of `type` (e.g. a `Float64Array`, a `ReflectionTable`)
 * and, when `length` is given, an array-like of that length.
 *
 * @param value - the argument
 * @param type - the class
 * @param what - how the message names it
 * @param length - the required length
 */
export function requireInstanceArgument<T>(
  value: unknown,
  type: { readonly prototype: T; readonly name: string },
  what: string,
  length?: number,
): asserts value is T {
  // a class with a private constructor (SpaceGroup) is a `{ prototype }`, not a constructor type, to TypeScript
  if (!(value instanceof (type as unknown as abstract new () => unknown)))
    refuseArgument(what, `a ${type.name}`, value);
  if (length !== undefined && (value as ArrayLike<unknown>).length !== length)
    refuseArgument(what, `a ${type.name} of length ${length}`, value);
}

/**
 * Throws a {@link ConfigError} unless `value` is an array (of anything; the elements are the caller's to check).
 *
 * @param value - the argument
 * @param what - how the message names it, e.g. `"createScalingRefinery: models (ScalingModels)"`
 */
export function requireArrayArgument(value: unknown, what: string): asserts value is readonly unknown[] {
  if (!Array.isArray(value)) refuseArgument(what, "an array", value);
}
