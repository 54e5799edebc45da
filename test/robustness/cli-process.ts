/**
 * Spawning the `diffuse-scale` CLI as a real process for the kill, determinism and exit-code tests. Not a
 * test file itself.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";

/** The CLI entry point. */
export const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));
/** tsx's loader, by URL, so the CLI can be spawned from any working directory. */
export const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
/** The simulated tetragonal-40 dataset (shared fixtures; tests skip when absent). */
export const TETRA = fileURLToPath(new URL("../../../shared/fixtures/sim/tetragonal-40/", import.meta.url));
/** Whether the shared dataset is present. */
export const HAVE_TETRA =
  existsSync(`${TETRA}stills.expt`) && existsSync(`${TETRA}stills.refl`) && existsSync(`${TETRA}diffuse_binned.h5`);

/** The input arguments of a scale job on tetragonal-40 (Bragg + diffuse). */
export function tetraArgs(): string[] {
  return ["--expt", `${TETRA}stills.expt`, "--refl", `${TETRA}stills.refl`, "--diffuse", `${TETRA}diffuse_binned.h5`];
}

/** Result of a finished CLI process. */
export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts the CLI (`node --import tsx src/cli/main.ts ...args`) in `cwd`; `env` is added to the environment. */
export function startCli(args: readonly string[], cwd: string, env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, ["--import", TSX_LOADER, MAIN, ...args], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** Waits for a process to end and collects its output. */
export function finished(child: ChildProcess): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Runs the CLI to completion. */
export function runCli(args: readonly string[], cwd: string, env: Record<string, string> = {}): Promise<CliRun> {
  return finished(startCli(args, cwd, env));
}
