/**
 * CLI error reporting: map the library's typed errors to exit codes and print exactly one line on stderr
 * (plus the stack trace with `--debug`).
 *
 * @packageDocumentation
 */
import { CommanderError } from "commander";
import { oneLine } from "../io/printable.ts";
import {
  ConfigError,
  DisabledComponentAccess,
  InputError,
  ParameterLimitExceeded,
  RefinementFailure,
  fileSystemError,
  isSystemError,
} from "../errors.ts";

/**
 * An operating-system error that reached the CLI unmapped (`ENOSPC`, `EACCES`, ...) becomes the library's
 * `FileSystemError` (exit 2, one line naming the path and what to do), never an "internal error".
 */
function mapSystemError(err: unknown): unknown {
  if (!isSystemError(err)) return err;
  const action = err.syscall ?? "access";
  return fileSystemError(err, err.path ?? "(path unknown)", action);
}

/** Exit code for bad input: a bad or missing file, an invalid option, or a v1 model guard. */
export const EXIT_INPUT = 2;
/** Exit code for a refinement failure and for unexpected internal errors. */
export const EXIT_FAILURE = 1;
/** Exit code after `--help` or `--version` (commander reports them by throwing once `exitOverride()` is set). */
export const EXIT_OK = 0;

/** Commander "errors" that are really normal exits: the help or version text was printed on request. */
const COMMANDER_NORMAL_EXITS: readonly string[] = ["commander.helpDisplayed", "commander.version"];

/** Whether `err` is commander's report of `--help`/`--version` having been printed (exit 0, nothing to print). */
export function isCommanderNormalExit(err: unknown): boolean {
  return err instanceof CommanderError && COMMANDER_NORMAL_EXITS.includes(err.code);
}

/**
 * The exit code for an error: {@link InputError}, {@link ConfigError}, {@link ParameterLimitExceeded},
 * {@link DisabledComponentAccess} and commander's usage errors (unknown option, missing required option, bad choice,
 * missing command...) → 2; commander's `--help`/`--version` exits → 0; {@link RefinementFailure} and anything
 * else → 1.
 *
 * @param err - the thrown value
 * @returns the process exit code
 */
export function exitCodeFor(thrown: unknown): number {
  const err = mapSystemError(thrown);
  if (err instanceof CommanderError) return isCommanderNormalExit(err) ? EXIT_OK : EXIT_INPUT;
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

/** One line: line breaks become spaces, other control characters become `\uXXXX` escapes. */
function flattenLine(message: string): string {
  return oneLine(message).trim();
}

/**
 * The one-line message printed for an error: `diffuse-scale: <message>` for the library's typed errors,
 * `diffuse-scale: <message> (see 'diffuse-scale --help')` for commander's usage errors, and
 * `diffuse-scale: internal error: <message>` for anything else. Newlines in the message become spaces.
 *
 * @param err - the thrown value
 * @returns a single line without a trailing newline
 */
export function errorLine(thrown: unknown): string {
  const err = mapSystemError(thrown);
  if (err instanceof CommanderError) {
    const usage = err.code === "commander.help" ? "no command given" : err.message.replace(/^error:\s*/, "");
    return `diffuse-scale: ${flattenLine(usage)} (see 'diffuse-scale --help')`;
  }
  const known =
    err instanceof InputError ||
    err instanceof ConfigError ||
    err instanceof ParameterLimitExceeded ||
    err instanceof DisabledComponentAccess ||
    err instanceof RefinementFailure;
  const message = err instanceof Error ? err.message : String(err);
  const flat = flattenLine(message);
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
 * Print an error as one line on stderr (and its stack with `debug`) and return the exit code to use. Commander's
 * `--help`/`--version` exits print nothing here (commander already wrote the text on stdout) and return 0.
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
  if (isCommanderNormalExit(err)) return EXIT_OK;
  write(`${errorLine(err)}\n`);
  if (options.debug === true && err instanceof Error && err.stack !== undefined) write(`${err.stack}\n`);
  return exitCodeFor(err);
}

/**
 * Ends the process quietly with exit code 0 when `stream` (stdout) reports EPIPE: its reader has gone, as in
 * `diffuse-scale scale --help | head -1` or `--json` output piped into a program that stops reading. Everything the
 * command writes to files is complete before it prints on stdout, so nothing is lost; without this handler Node
 * would report the unhandled 'error' event with a stack trace. Other stream errors are left to Node.
 *
 * @param stream - the stream to watch (`process.stdout`)
 * @param exit - how to end the process @defaultValue `process.exit`
 */
export function endQuietlyOnEpipe(
  stream: NodeJS.WritableStream,
  exit: (code: number) => void = (code) => process.exit(code),
): void {
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") {
      exit(EXIT_OK);
      return;
    }
    throw err;
  });
}
