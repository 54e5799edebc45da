/**
 * `diffuse-scale inspect FILE [--json]`: summarise a DIALS experiment list (`.expt`) or reflection table (`.refl`).
 * The file kind is decided by content (JSON object vs msgpack array header), falling back to the extension.
 *
 * @packageDocumentation
 */
import { extname } from "node:path";
import type { Command } from "commander";
import { InputError } from "../errors.ts";
import { openInputFile } from "../io/input-file.ts";
import type { ExperimentList } from "../io/expt.ts";
import type { ReflectionTable } from "../table/reflection-table.ts";

/** Summary of an experiment list, as printed by `inspect --json`. */
export interface ExperimentsSummary {
  /** Always `"experiments"`. */
  kind: "experiments";
  /** Number of experiments. */
  n_experiments: number;
  /** One entry per experiment, in order; `null` for an experiment without a crystal. */
  crystals: ({ space_group_hall: string; unit_cell: number[] } | null)[];
}

/** Summary of a reflection table, as printed by `inspect --json`. */
export interface ReflectionsSummary {
  /** Always `"reflections"`. */
  kind: "reflections";
  /** Number of rows. */
  nrows: number;
  /** Column name → DIALS type name, in the table's (byte-wise sorted) column order. */
  columns: Record<string, string>;
  /** Experiment id (as a string key) → experiment identifier. */
  identifiers: Record<string, string>;
}

/** What kind of DIALS file a path holds. */
export type DialsFileKind = "experiments" | "reflections";

function fsReason(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  if (code === "ENOENT") return "file not found";
  if (code === "EISDIR") return "is a directory, not a file";
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  return err instanceof Error ? err.message : String(err);
}

/**
 * Decide whether `path` holds an experiment list or a reflection table: by content first (first non-blank byte
 * `{` → JSON experiment list; msgpack array header `0x93`/`0x92` → reflection table), then by extension.
 *
 * @param path - the file
 * @returns the file kind
 * @throws InputError when the file cannot be read, is empty, or is neither kind
 */
export async function detectDialsFileKind(path: string): Promise<DialsFileKind> {
  let head: Buffer;
  // a regular file (a FIFO or device is refused before a byte is read)
  const { handle: fh } = await openInputFile(path, "file");
  try {
    const buf = Buffer.alloc(64);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    head = buf.subarray(0, bytesRead);
  } catch (err) {
    throw new InputError(`cannot read file: ${fsReason(err)}`, path);
  } finally {
    await fh.close();
  }
  if (head.length === 0) throw new InputError("file is empty", path);
  let i = 0;
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) i = 3; // UTF-8 BOM
  while (i < head.length && (head[i] === 0x20 || head[i] === 0x09 || head[i] === 0x0a || head[i] === 0x0d)) i++;
  if (head[i] === 0x7b) return "experiments";
  if (head[0] === 0x93 || head[0] === 0x92) return "reflections";
  const ext = extname(path).toLowerCase();
  if (ext === ".expt" || ext === ".json") return "experiments";
  if (ext === ".refl") return "reflections";
  throw new InputError("not a DIALS file: neither a JSON experiment list nor a msgpack reflection table", path);
}

/**
 * Build the `--json` summary of an experiment list.
 *
 * @param list - the experiment list
 * @returns the summary object
 */
export function summariseExperiments(list: ExperimentList): ExperimentsSummary {
  return {
    kind: "experiments",
    n_experiments: list.length,
    crystals: list.experiments.map((e) =>
      e.crystal === undefined
        ? null
        : { space_group_hall: e.crystal.spaceGroupHall, unit_cell: [...e.crystal.unitCell] },
    ),
  };
}

/**
 * Build the `--json` summary of a reflection table.
 *
 * @param table - the reflection table
 * @returns the summary object
 */
export function summariseReflections(table: ReflectionTable): ReflectionsSummary {
  const columns: Record<string, string> = {};
  for (const name of table.columnNames()) columns[name] = table.columnType(name);
  const identifiers: Record<string, string> = {};
  for (const [id, identifier] of [...table.identifiers].sort((a, b) => a[0] - b[0])) {
    identifiers[String(id)] = identifier;
  }
  return { kind: "reflections", nrows: table.nrows, columns, identifiers };
}

function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, j) => (widths[j] = Math.max(widths[j] ?? 0, cell.length)));
  return rows
    .map((row) =>
      row
        .map((cell, j) => cell.padEnd(widths[j]))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

function fmt(x: number, digits: number): string {
  return x.toFixed(digits);
}

/**
 * Human-readable summary of an experiment list.
 *
 * @param path - the file name to show
 * @param list - the experiment list
 * @returns multi-line text
 */
export function describeExperiments(path: string, list: ExperimentList): string {
  const rows: string[][] = [["#", "identifier", "space group (Hall)", "unit cell", "λ (Å)", "panels", "scan", "model"]];
  list.experiments.forEach((e, i) => {
    const c = e.crystal;
    rows.push([
      String(i),
      e.identifier === "" ? "-" : e.identifier,
      c === undefined ? "-" : c.spaceGroupHall.trim(),
      c === undefined
        ? "-"
        : `${c.unitCell
            .slice(0, 3)
            .map((x) => fmt(x, 3))
            .join(" ")} ${c.unitCell
            .slice(3)
            .map((x) => fmt(x, 2))
            .join(" ")}`,
      e.beam === undefined ? "-" : fmt(e.beam.wavelength, 5),
      e.detector === undefined ? "-" : String(e.detector.panels.length),
      e.scan === undefined ? "still" : `${e.scan.imageRange[0]}-${e.scan.imageRange[1]} @ ${e.scan.oscillation[1]}°`,
      typeof e.scalingModel?.__id__ === "string" ? e.scalingModel.__id__ : "-",
    ]);
  });
  return `${path}: DIALS experiment list, ${list.length} experiment${list.length === 1 ? "" : "s"}\n${table(rows)}\n`;
}

/**
 * Human-readable summary of a reflection table.
 *
 * @param path - the file name to show
 * @param t - the reflection table
 * @returns multi-line text
 */
export function describeReflections(path: string, t: ReflectionTable): string {
  const names = t.columnNames();
  const rows = [["column", "type"], ...names.map((n) => [n, t.columnType(n)])];
  const ids = [...t.identifiers].sort((a, b) => a[0] - b[0]);
  const idRows = [["id", "identifier"], ...ids.map(([k, v]) => [String(k), v])];
  return (
    `${path}: DIALS reflection table, ${t.nrows} rows, ${names.length} columns, ${ids.length} experiment identifier${ids.length === 1 ? "" : "s"}\n` +
    `${table(rows)}\n${ids.length > 0 ? `\n${table(idRows)}\n` : ""}`
  );
}

/** Options of the `inspect` command. */
export interface InspectOptions {
  /**
   * Print one JSON object instead of the readable summary.
   * @defaultValue false
   */
  json?: boolean;
}

/**
 * Run `inspect` on one file and return the text to print on stdout.
 *
 * @param path - the file
 * @param options - see {@link InspectOptions}
 * @returns the output text (ends with a newline)
 * @throws InputError for a missing, unreadable or malformed file
 */
export async function runInspect(path: string, options: InspectOptions = {}): Promise<string> {
  const kind = await detectDialsFileKind(path);
  if (kind === "experiments") {
    const { readExperiments } = await import("../io/expt.ts");
    const list = await readExperiments(path);
    return options.json === true ? `${JSON.stringify(summariseExperiments(list))}\n` : describeExperiments(path, list);
  }
  const { readReflections } = await import("../io/refl-read.ts");
  const t = await readReflections(path);
  return options.json === true ? `${JSON.stringify(summariseReflections(t))}\n` : describeReflections(path, t);
}

/**
 * Register `inspect FILE [--json]` on the program.
 *
 * @param program - the commander program
 */
export function registerInspect(program: Command): void {
  program
    .command("inspect")
    .description("summarise a DIALS experiment list (.expt) or reflection table (.refl)")
    .argument("<file>", "the .expt or .refl file")
    .option("--json", "print one JSON object instead of a readable summary")
    .addHelpText(
      "after",
      `
Examples:
  $ diffuse-scale inspect stills.refl
  $ diffuse-scale inspect --json stills.expt
  $ diffuse-scale inspect --json integrated.refl | jq .nrows

Exit codes: 0 success, 2 unreadable or malformed file (one line on stderr).`,
    )
    .action(async (file: string, opts: { json?: boolean }) => {
      const text = await runInspect(file, { json: opts.json === true });
      process.stdout.write(text);
    });
}
