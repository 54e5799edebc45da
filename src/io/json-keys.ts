/**
 * A check of the object keys of a JSON text that `JSON.parse` cannot make: it silently keeps the last of duplicate
 * keys (`{"a": 1, "a": 2}` reads as `{"a": 2}`), and it creates own properties named `__proto__`, `constructor` or
 * `prototype`, names that are dangerous to merge into other objects. One linear pass over the text with an explicit
 * stack (no recursion, so any nesting depth `JSON.parse` accepted is fine); it expects text that `JSON.parse` has
 * already accepted, and reads only what the tokens need (strings are scanned for their closing quote, and a key is
 * decoded only when it holds an escape).
 *
 * @packageDocumentation
 */

/** Keys refused wherever they occur: they would reach or shadow an object's prototype chain when merged. */
export const FORBIDDEN_JSON_KEYS: readonly string[] = ["__proto__", "constructor", "prototype"];

/** What {@link findJsonKeyProblem} found. */
export interface JsonKeyProblem {
  /** `"duplicate"`: the key occurs twice in one object; `"forbidden"`: one of {@link FORBIDDEN_JSON_KEYS}. */
  kind: "duplicate" | "forbidden";
  /** The key (decoded). */
  key: string;
  /** Where the object holding it is: keys and array indices joined by dots, `"(root)"` for the top level. */
  path: string;
}

/** One open object or array. */
interface Frame {
  /** Keys seen so far (objects only). */
  keys: Set<string> | undefined;
  /** The current key (objects) or index (arrays), for the path. */
  at: string;
  /** Objects: the next string is a key. */
  expectKey: boolean;
  /** Arrays: the current index. */
  index: number;
}

function pathOf(stack: readonly Frame[]): string {
  // the innermost frame is the object holding the key; the path is where that object sits
  const parts = stack.slice(0, -1).map((f) => f.at);
  return parts.length === 0 ? "(root)" : parts.join(".");
}

/** Index just past the closing quote of the string starting at `text[start] === '"'`. */
function stringEnd(text: string, start: number): number {
  let i = start + 1;
  for (;;) {
    const c = text.charCodeAt(i);
    if (c === 0x22) return i + 1; // "
    if (Number.isNaN(c)) return text.length; // unterminated: JSON.parse refused it already
    i += c === 0x5c ? 2 : 1; // backslash: skip the escaped character (\uXXXX's hex digits are plain characters)
  }
}

/**
 * The first duplicate or forbidden object key of a JSON text, in text order.
 *
 * @param text - JSON text that `JSON.parse` accepts
 * @returns the problem, or undefined when every object's keys are distinct and allowed
 */
export function findJsonKeyProblem(text: string): JsonKeyProblem | undefined {
  const stack: Frame[] = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text[i];
    const top = stack.at(-1);
    if (c === "{" || c === "[") {
      const object = c === "{";
      stack.push({ keys: object ? new Set() : undefined, at: object ? "" : "0", expectKey: object, index: 0 });
      i++;
    } else if (c === "}" || c === "]") {
      stack.pop();
      i++;
    } else if (c === ",") {
      if (top !== undefined) {
        if (top.keys !== undefined) top.expectKey = true;
        else top.at = String(++top.index);
      }
      i++;
    } else if (c === ":") {
      if (top !== undefined) top.expectKey = false;
      i++;
    } else if (c === '"') {
      const end = stringEnd(text, i);
      if (top?.keys !== undefined && top.expectKey) {
        const raw = text.slice(i + 1, end - 1);
        const key = raw.includes("\\") ? (JSON.parse(text.slice(i, end)) as string) : raw;
        top.at = key;
        if (FORBIDDEN_JSON_KEYS.includes(key)) return { kind: "forbidden", key, path: pathOf(stack) };
        if (top.keys.has(key)) return { kind: "duplicate", key, path: pathOf(stack) };
        top.keys.add(key);
      }
      i = end;
    } else {
      i++; // whitespace, and the characters of numbers, true, false and null
    }
  }
  return undefined;
}
