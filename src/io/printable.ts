/**
 * Safe quoting of untrusted file text inside error messages. Messages must stay one printable line (a log or a
 * terminal must not be garbled by what a corrupt file holds), but readers quote keys, type names and headers taken from
 * the file, which may hold line breaks, NUL or other control characters.
 *
 * @packageDocumentation
 */

/** Longest quoted excerpt, in characters, before it is cut with an ellipsis. */
export const MAX_QUOTED_CHARS = 120;

/**
 * Makes untrusted text printable on one line: C0/C1 control characters, DEL and the Unicode line/paragraph
 * separators become `\uXXXX` escapes; text longer than `maxChars` is cut and ends with `…`.
 *
 * @param text - the text from the file
 * @param maxChars - longest result before the ellipsis. @defaultValue {@link MAX_QUOTED_CHARS}
 * @returns the printable text (not quoted)
 */
export function printable(text: string, maxChars: number = MAX_QUOTED_CHARS): string {
  const cut = text.length > maxChars ? `${text.slice(0, maxChars)}…` : text;
  let out = "";
  for (const ch of cut) {
    const c = ch.charCodeAt(0);
    out += isControl(c) ? `\\u${c.toString(16).padStart(4, "0")}` : ch;
  }
  return out;
}

/** C0 and C1 control characters, DEL, and the Unicode line and paragraph separators. */
export function isControl(code: number): boolean {
  return code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0x2028 || code === 0x2029;
}

/**
 * One printable line: runs of line breaks (with the blanks around them) become one space, then
 * {@link printable} escapes what is left (no length limit).
 *
 * @param text - any text
 * @returns the text on one printable line
 */
export function oneLine(text: string): string {
  return printable(text.replace(/\s*[\r\n\u2028\u2029]+\s*/g, " "), Infinity);
}
