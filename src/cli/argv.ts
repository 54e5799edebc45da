/**
 * The argument vector commander actually parsed (for recording "the exact command line" in outputs), which differs
 * from `process.argv` when the program runs in-process through `main(argv)`.
 *
 * @packageDocumentation
 */
import type { Command } from "commander";

/**
 * The argument vector the program was parsed from (commander keeps it as `rawArgs`, which its typings omit); it
 * differs from `process.argv` when `main()` is called in-process.
 */
export function parsedArgv(command: Command): readonly string[] {
  const raw = (command.parent as { rawArgs?: unknown } | null)?.rawArgs;
  return Array.isArray(raw) && raw.every((a) => typeof a === "string") ? raw : process.argv;
}
