/**
 * The `diffuse-scale` command-line program. This file only wires commands together: each command lives in its own
 * file and is added by one `register*` call in {@link createProgram}. The executable is `./main.ts`.
 *
 * @packageDocumentation
 */
import { createRequire } from "node:module";
import { Command } from "commander";
import { reportError } from "./errors.ts";
import { registerDemo } from "./demo.ts";
import { registerExtract } from "./extract.ts";
import { registerInspect } from "./inspect.ts";
import { registerReport } from "./report.ts";
import { registerScale } from "./scale.ts";
import { registerSimulate } from "./simulate.ts";
import { registerVoxelize } from "./voxelize.ts";

function packageVersion(): string {
  const require = createRequire(import.meta.url);
  const pkg = require("../../package.json") as { version?: unknown };
  return typeof pkg.version === "string" ? pkg.version : "0.0.0";
}

/**
 * Build the `diffuse-scale` program with every command registered.
 *
 * @returns the commander program (not yet parsed)
 */
export function createProgram(): Command {
  const program = new Command();
  program
    .name("diffuse-scale")
    .version(packageVersion())
    .description("Relative scaling of diffuse X-ray scattering from serial-crystallography stills")
    .option("--debug", "print stack traces on errors")
    // Usage errors must end the process with exit code 2 and one line on stderr. exitOverride makes
    // commander throw a CommanderError instead of calling process.exit (mapped in ./errors.ts), and silencing its
    // stderr output stops it printing its own message and the help text; `main` prints the one line. Both settings
    // are inherited by the commands registered below. `--help`/`--version` still print on stdout and exit 0.
    .exitOverride()
    .configureOutput({
      writeErr: () => undefined,
      outputError: () => undefined,
    });
  registerInspect(program);
  registerVoxelize(program);
  registerExtract(program);
  registerScale(program);
  registerReport(program);
  registerDemo(program);
  registerSimulate(program);
  return program;
}

/**
 * Run the program on `argv` (as `process.argv`: node, script, arguments...). Errors are printed as one line on
 * stderr and turned into `process.exitCode` (see `./errors.ts`): 2 for bad input, configuration or usage (unknown
 * or missing option), 1 for a refinement failure or an internal error, 0 after `--help`/`--version`.
 *
 * @param argv - the full argument vector
 * @returns the exit code that was set (0 on success)
 */
export async function main(argv: readonly string[]): Promise<number> {
  const program = createProgram();
  try {
    await program.parseAsync([...argv]);
    return 0;
  } catch (err) {
    const debug = program.opts<{ debug?: boolean }>().debug === true || argv.includes("--debug");
    const code = reportError(err, { debug });
    process.exitCode = code;
    return code;
  }
}
