/**
 * The description of the machine that every bench writes next to its numbers (`bench/results.json`,
 * `bench/extract-results.json`): CPU model, cores, memory, Node version and the load averages.
 *
 * @packageDocumentation
 */
import { cpus, loadavg, totalmem } from "node:os";

/** What a results file records of the machine it was measured on. */
export interface MachineDescription {
  cpu: string;
  cores: number;
  memory_gb: number;
  node: string;
  load_average_at_start: number[];
  load_average_at_end?: number[];
}

/** This machine, with the load averages taken when the bench started (and now, when `atEnd`). */
export function describeMachine(loadAtStart: number[], atEnd = false): MachineDescription {
  const cpu = cpus();
  return {
    cpu: cpu[0]?.model ?? "unknown",
    cores: cpu.length,
    memory_gb: totalmem() / 2 ** 30,
    node: process.version,
    load_average_at_start: loadAtStart,
    ...(atEnd ? { load_average_at_end: loadavg() } : {}),
  };
}
