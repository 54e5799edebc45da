/**
 * CLI error reporting: map the library's typed errors to exit codes and print exactly one line on stderr
 * (plus the stack trace with `--debug`).
 *
 * @packageDocumentation
 */
import {
  ConfigError,
  DisabledComponentAccess,
  InputError,
  ParameterLimitExceeded,
  RefinementFailure,
} from "../errors.ts";

/** Exit code for bad input: a bad or missing file, an invalid option, or a v1 model guard. */
export const EXIT_INPUT = 2;
/** Exit code for a refinement failure and for unexpected internal errors. */
export const EXIT_FAILURE = 1;

/**
 * The exit code for an error: {@link InputError}, {@link ConfigError}, {@link ParameterLimitExceeded} and
 * {@link DisabledComponentAccess} → 2; {@link RefinementFailure} and anything else → 1.
 *
 * @param err - the thrown value
 * @returns the process exit code
 */
export function exitCodeFor(err: unknown): number {
  if (
    err instanceof InputError ||
    err instanceof ConfigError ||
    err instanceof ParameterLimitExceeded ||
    err instanceof DisabledComponentAccess
  ) {
    return EXIT_INPUT;
  }
  if (err instanceof RefinementFailure) return EXIT_FAILURE;
  return EXIT_FAILURE;
}

/**
 * The one-line message printed for an error: `diffuse-scale: <message>` for the library's typed errors,
 * `diffuse-scale: internal error: <message>` for anything else. Newlines in the message become spaces.
 *
 * @param err - the thrown value
 * @returns a single line without a trailing newline
 */
export function errorLine(err: unknown): string {
  const known =
    err instanceof InputError ||
    err instanceof ConfigError ||
    err instanceof ParameterLimitExceeded ||
    err instanceof DisabledComponentAccess ||
    err instanceof RefinementFailure;
  const message = err instanceof Error ? err.message : String(err);
  const flat = message.replace(/\s*[\r\n]+\s*/g, " ").trim();
  return `diffuse-scale: ${known ? "" : "internal error: "}${flat}`;
}

/** Options of {@link reportError}. */
export interface ReportErrorOptions {
  /**
   * Also print the stack trace after the message line.
   * @defaultValue false
   */
  debug?: boolean;
  /**
   * Where the text goes.
   * @defaultValue writes to `process.stderr`
   */
  write?: (text: string) => void;
}

/**
 * Print an error as one line on stderr (and its stack with `debug`) and return the exit code to use.
 *
 * @param err - the thrown value
 * @param options - see {@link ReportErrorOptions}
 * @returns the exit code ({@link exitCodeFor})
 */
export function reportError(err: unknown, options: ReportErrorOptions = {}): number {
  const write =
    options.write ??
    ((text: string) => {
      process.stderr.write(text);
    });
  write(`${errorLine(err)}\n`);
  if (options.debug === true && err instanceof Error && err.stack !== undefined) write(`${err.stack}\n`);
  return exitCodeFor(err);
}
