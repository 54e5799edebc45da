/**
 * JSON text of DIALS experiment lists. Python's json module writes NaN and ±Infinity as bare tokens and negative zero
 * as `-0.0`; these are accepted on reading and written the same way, with DIALS's two-space indentation.
 *
 * @packageDocumentation
 */
import { InputError } from "../errors.ts";
import type { JsonObject } from "./expt-schema.ts";
import { oneLine } from "./printable.ts";

const NONFINITE = "\u0000nonfinite:";

/**
 * Parse `.expt` JSON text, accepting Python's bare `NaN`, `Infinity` and `-Infinity` tokens. JSON.parse messages quote
 * the offending text, which may hold CR, NUL or other control characters: the message is flattened to one printable
 * line.
 *
 * @throws InputError naming `file` when the text is not JSON
 */
export function parseJsonText(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    if (/NaN|Infinity/.test(text)) {
      const replaced = text.replace(/"(?:[^"\\]|\\.)*"|(-?Infinity|NaN)/g, (m, tok: string | undefined) =>
        tok === undefined ? m : `"\\u0000nonfinite:${tok}"`,
      );
      try {
        return JSON.parse(replaced, (_k, v: unknown) =>
          typeof v === "string" && v.startsWith(NONFINITE) ? Number(v.slice(NONFINITE.length)) : v,
        );
      } catch {
        // fall through to the original error
      }
    }
    const msg = err instanceof Error ? err.message : String(err);
    throw new InputError(`invalid JSON: ${oneLine(msg)}`, file);
  }
}

function formatNumber(x: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (x === Infinity) return "Infinity";
  if (x === -Infinity) return "-Infinity";
  if (Object.is(x, -0)) return "-0.0";
  return String(x);
}

/**
 * Serialise JSON data as DIALS does (`json.dump(..., indent=2)`): two-space indentation, one element per line,
 * non-finite numbers as `NaN` / `Infinity`, negative zero as `-0.0`. Typed arrays are written as lists.
 *
 * @param value - JSON-compatible data
 * @returns the JSON text
 */
export function formatExperimentJson(value: unknown): string {
  return formatJsonValue(value, "");
}

/** One value of {@link formatExperimentJson} at nesting `indent` (built by string concatenation, no closures). */
function formatJsonValue(v: unknown, indent: string): string {
  if (v === null || v === undefined || typeof v === "function" || typeof v === "symbol") return "null";
  if (typeof v === "number") return formatNumber(v);
  if (typeof v === "string" || typeof v === "boolean") return JSON.stringify(v);
  if (typeof v === "bigint") return v.toString();
  if (Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView))) {
    const items = v as ArrayLike<unknown>;
    const n = items.length;
    if (n === 0) return "[]";
    const inner = `${indent}  `;
    const sep = `,\n${inner}`;
    let s = `[\n${inner}${formatJsonValue(items[0], inner)}`;
    for (let i = 1; i < n; i++) s += sep + formatJsonValue(items[i], inner);
    return `${s}\n${indent}]`;
  }
  if (typeof v === "object") {
    const o = v as JsonObject & { toJSON?: unknown };
    if (typeof o.toJSON === "function") return formatJsonValue((o.toJSON as () => unknown).call(o), indent);
    const inner = `${indent}  `;
    let s = "";
    for (const k of Object.keys(o)) {
      const x = o[k];
      if (x === undefined || typeof x === "function") continue;
      s += `${s === "" ? "{" : ","}\n${inner}${JSON.stringify(k)}: ${formatJsonValue(x, inner)}`;
    }
    return s === "" ? "{}" : `${s}\n${indent}}`;
  }
  return "";
}
