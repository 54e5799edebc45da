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
