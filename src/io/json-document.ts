/**
 * The JSON output documents (`scales.json`, `refinement.json`): writing them as text (2-space indent, keys in the order
 * the writer built them, trailing newline, and never a NaN or infinite number: the writer refuses to write one rather
 * than let `JSON.stringify` turn it into `null`), and reading them back against their zod schema, every failure an
 * {@link InputError} that names the file and the JSON path of the offending field.
 *
 * @packageDocumentation
 */
import type { z } from "zod";
import { ConfigError, InputError } from "../errors.ts";
import { writeTextAtomic } from "./atomic-write.ts";

/** Throws if any number in the value is NaN or infinite (naming its JSON path). */
export function assertFiniteJson(value: unknown, path = "$"): void {
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new ConfigError(`refusing to write a non-finite number at ${path}`);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => {
      assertFiniteJson(v, `${path}[${i}]`);
    });
  } else if (typeof value === "object" && value !== null) {
    for (const [k, v] of Object.entries(value)) assertFiniteJson(v, `${path}.${k}`);
  }
}

/** Serialises an output document (2-space indent, keys in insertion order, trailing newline); throws on non-finite numbers. */
export function formatJsonDocument(doc: object): string {
  assertFiniteJson(doc);
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** Writes an output document atomically ({@link formatJsonDocument}). */
export async function writeJsonDocument(path: string, doc: object): Promise<void> {
  await writeTextAtomic(path, formatJsonDocument(doc));
}

/** `$.a.b[3]` form of a JSON path. */
function jsonPath(path: readonly PropertyKey[]): string {
  let out = "$";
  for (const key of path) out += typeof key === "number" ? `[${key}]` : `.${String(key)}`;
  return out;
}

/**
 * Validates a parsed JSON document against its schema.
 *
 * @param schema - The document's schema.
 * @param json - The parsed JSON.
 * @param file - The file it came from (named in errors).
 * @returns The typed document (unknown keys dropped).
 * @throws {@link InputError} naming `file` and the JSON path of the first invalid field.
 */
export function parseJsonDocument<T>(schema: z.ZodType<T>, json: unknown, file: string): T {
  const result = schema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new InputError(`invalid field ${jsonPath(issue.path)}: ${issue.message.replace(/\s+/g, " ")}`, file);
  }
  return result.data;
}

/**
 * Checks one array length of a validated document against the length the rest of the document implies.
 *
 * @throws {@link InputError} naming `file` and the field at `path`.
 */
export function requireLength(actual: number, expected: number, path: string, file: string): void {
  if (actual !== expected) {
    throw new InputError(`field ${path} has ${actual} entries but ${expected} were expected`, file);
  }
}
