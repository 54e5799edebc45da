#!/usr/bin/env node
/**
 * The `diffuse-scale` executable. It starts the job thread of a long command (`scale`, `voxelize`, `simulate`) first,
 * so that the job's code loads in that thread while this one loads the command-line program (`./program.ts`, with
 * commander) and parses the arguments; then it runs the program.
 *
 * @packageDocumentation
 */
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { prestartJobThread, useJobThreads } from "./job-thread.ts";

function isEntryPoint(): boolean {
  const script = process.argv.at(1);
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  // long jobs run in a worker thread, so that SIGINT/SIGTERM are answered at once and leave complete outputs
  useJobThreads(true);
  // the first word that is not an option names the command (a wrong guess only starts a thread that is not used)
  const command = process.argv.slice(2).find((a) => !a.startsWith("-"));
  if (command === "scale" || command === "voxelize" || command === "simulate") prestartJobThread(command);
  const { endQuietlyOnEpipe } = await import("./errors.ts");
  const { main } = await import("./program.ts");
  // a reader of stdout that stops early (`| head -1`) ends the command quietly with exit 0
  endQuietlyOnEpipe(process.stdout);
  await main(process.argv);
}
