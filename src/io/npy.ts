/**
 * NumPy `.npy` format (versions 1.0, 2.0 and 3.0): parse one array from bytes, and format one array the way
 * `numpy.save` does (header dict `{'descr': ..., 'fortran_order': False, 'shape': (...), }`, space-padded and
 * newline-terminated so that the data starts at a multiple of 64 bytes).
 *
 * Only little-endian (or byte-sized) numeric and boolean dtypes in C order are supported; big-endian, Fortran order,
 * structured and object dtypes are rejected with an {@link InputError}.
 *
 * @packageDocumentation
 */

import { endianness } from "node:os";
import { ConfigError, InputError } from "../errors.ts";
import { printable } from "./printable.ts";

/** Supported `descr` strings. Byte-sized types are normalised to numpy's `|` prefix when parsed. */
export type NpyDtype =
  "<f8" | "<f4" | "<i8" | "<i4" | "<i2" | "|i1" | "<i1" | "<u8" | "<u4" | "<u2" | "|u1" | "<u1" | "|b1";

/** Typed-array storage for {@link NpyDtype}s (`|b1` as 0/1 bytes in a Uint8Array). */
export type NpyData =
  | Float64Array
  | Float32Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | BigUint64Array
  | Uint32Array
  | Uint16Array
  | Uint8Array;

/** One n-dimensional array, C order, values in `data` (length = product of `shape`). */
export interface NpyArray {
  /** NumPy type string. */
  dtype: NpyDtype;
  /** Dimensions; `[]` for a 0-d array. */
  shape: number[];
  /** The values, row-major. */
  data: NpyData;
  /** Always false: only C order is supported. */
  fortranOrder: false;
}

type Ctor = new (buffer: ArrayBuffer, byteOffset?: number, length?: number) => NpyData;

const DTYPES: Record<NpyDtype, { size: number; ctor: Ctor }> = {
  "<f8": { size: 8, ctor: Float64Array },
  "<f4": { size: 4, ctor: Float32Array },
  "<i8": { size: 8, ctor: BigInt64Array },
  "<i4": { size: 4, ctor: Int32Array },
  "<i2": { size: 2, ctor: Int16Array },
  "|i1": { size: 1, ctor: Int8Array },
  "<i1": { size: 1, ctor: Int8Array },
  "<u8": { size: 8, ctor: BigUint64Array },
  "<u4": { size: 4, ctor: Uint32Array },
  "<u2": { size: 2, ctor: Uint16Array },
  "|u1": { size: 1, ctor: Uint8Array },
  "<u1": { size: 1, ctor: Uint8Array },
  "|b1": { size: 1, ctor: Uint8Array },
};

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

function isDtype(s: string): s is NpyDtype {
  return Object.hasOwn(DTYPES, s);
}

function normaliseDtype(s: NpyDtype): NpyDtype {
  if (s === "<i1") return "|i1";
  if (s === "<u1") return "|u1";
  return s;
}

function assertLittleEndianHost(): void {
  if (endianness() !== "LE") throw new ConfigError("npy: only little-endian hosts are supported");
}

/** A value of the header dict's small Python-literal grammar. */
type PyValue = string | boolean | number | PyValue[] | { tuple: number[] };

/** Strict parser of the header dict: a Python literal dict of str → str | bool | tuple of ints. */
class HeaderParser {
  private pos = 0;
  private readonly text: string;
  private readonly name: string;
  constructor(text: string, name: string) {
    this.text = text;
    this.name = name;
  }
  private fail(what: string): never {
    throw new InputError(
      // the header is untrusted: quoted printable, on one line
      `npy header: ${what} at character ${this.pos} of "${printable(this.text.trimEnd())}"`,
      this.name,
    );
  }
  private ws(): void {
    while (this.pos < this.text.length && " \t\n\r".includes(this.text[this.pos])) this.pos++;
  }
  private eat(ch: string): boolean {
    this.ws();
    if (this.text[this.pos] === ch) {
      this.pos++;
      return true;
    }
    return false;
  }
  private expect(ch: string): void {
    if (!this.eat(ch)) this.fail(`expected '${ch}'`);
  }
  private string(): string {
    this.ws();
    const q = this.text[this.pos];
    if (q !== "'" && q !== '"') this.fail("expected a string");
    const end = this.text.indexOf(q, this.pos + 1);
    if (end < 0) this.fail("unterminated string");
    const s = this.text.slice(this.pos + 1, end);
    if (s.includes("\\")) this.fail("escapes are not supported in header strings");
    this.pos = end + 1;
    return s;
  }
  private int(): number {
    this.ws();
    const m = /^[0-9]+/.exec(this.text.slice(this.pos, this.pos + 24));
    if (m === null) this.fail("expected a non-negative integer");
    this.pos += m[0].length;
    const v = Number(m[0]);
    if (!Number.isSafeInteger(v)) this.fail("integer too large");
    return v;
  }
  private value(): PyValue {
    this.ws();
    const c = this.text[this.pos];
    if (c === "'" || c === '"') return this.string();
    if (this.text.startsWith("True", this.pos)) {
      this.pos += 4;
      return true;
    }
    if (this.text.startsWith("False", this.pos)) {
      this.pos += 5;
      return false;
    }
    if (c === "(") {
      this.pos++;
      const items: number[] = [];
      if (this.eat(")")) return { tuple: items };
      for (;;) {
        items.push(this.int());
        if (this.eat(")")) {
          if (items.length === 1) this.fail("a 1-tuple needs a trailing comma");
          return { tuple: items };
        }
        this.expect(",");
        if (this.eat(")")) return { tuple: items };
      }
    }
    if (c === "[") this.fail("structured dtypes are not supported");
    return this.fail("unexpected token");
  }
  parse(): Map<string, PyValue> {
    const out = new Map<string, PyValue>();
    this.expect("{");
    if (!this.eat("}")) {
      for (;;) {
        const key = this.string();
        if (out.has(key)) this.fail(`duplicate key '${key}'`);
        this.expect(":");
        out.set(key, this.value());
        if (this.eat("}")) break;
        this.expect(",");
        if (this.eat("}")) break;
      }
    }
    this.ws();
    if (this.pos !== this.text.length) this.fail("trailing characters after the dict");
    return out;
  }
}

/**
 * Parses one `.npy` byte string. The data is copied into a fresh, aligned buffer.
 *
 * @param bytes - the whole `.npy` content
 * @param name - where it came from (a file, or `archive.npz:member.npy`), for messages
 * @returns the array
 * @throws {@link InputError} for a bad magic/version, a malformed or unsupported header (big-endian, Fortran order,
 * structured/object dtypes), or a data length different from `prod(shape) × itemsize`
 */
export function parseNpy(bytes: Uint8Array, name: string): NpyArray {
  assertLittleEndianHost();
  if (bytes.length < 10) throw new InputError(`npy: ${bytes.length} bytes is too short for a header`, name);
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[i] !== MAGIC[i]) throw new InputError("npy: bad magic (not a .npy array)", name);
  }
  const major = bytes[6];
  const minor = bytes[7];
  if (!((major === 1 || major === 2 || major === 3) && minor === 0)) {
    throw new InputError(`npy: unsupported format version ${major}.${minor}`, name);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lenBytes = major === 1 ? 2 : 4;
  if (bytes.length < 6 + 2 + lenBytes) throw new InputError("npy: truncated header length", name);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = 8 + lenBytes;
  const dataStart = headerStart + headerLen;
  if (dataStart > bytes.length) {
    throw new InputError(`npy: header length ${headerLen} runs past the end (${bytes.length} bytes)`, name);
  }
  const headerBytes = bytes.subarray(headerStart, dataStart);
  const text = new TextDecoder(major === 3 ? "utf-8" : "latin1", { fatal: true }).decode(headerBytes);
  const dict = new HeaderParser(text, name).parse();
  for (const key of dict.keys()) {
    if (key !== "descr" && key !== "fortran_order" && key !== "shape") {
      throw new InputError(`npy header: unexpected key '${key}'`, name);
    }
  }
  const descr = dict.get("descr");
  const fortran = dict.get("fortran_order");
  const shapeValue = dict.get("shape");
  if (typeof descr !== "string") throw new InputError("npy header: 'descr' missing or not a string", name);
  if (typeof fortran !== "boolean") throw new InputError("npy header: 'fortran_order' missing or not a bool", name);
  if (shapeValue === undefined || typeof shapeValue !== "object" || !("tuple" in shapeValue)) {
    throw new InputError("npy header: 'shape' missing or not a tuple", name);
  }
  if (descr.startsWith(">") || descr.startsWith("!")) {
    throw new InputError(`npy: big-endian dtype '${descr}' is not supported`, name);
  }
  if (!isDtype(descr)) throw new InputError(`npy: unsupported dtype '${descr}'`, name);
  if (fortran) throw new InputError("npy: Fortran-order arrays are not supported", name);
  const shape = shapeValue.tuple;
  const dtype = normaliseDtype(descr);
  const { size, ctor } = DTYPES[dtype];
  let count = 1;
  for (const d of shape) {
    count *= d;
    if (!Number.isSafeInteger(count * size))
      throw new InputError(`npy: shape (${shape.join(", ")}) is too large`, name);
  }
  const available = bytes.length - dataStart;
  if (available !== count * size) {
    throw new InputError(
      `npy: shape (${shape.join(", ")}) of ${dtype} needs ${count * size} data bytes, found ${available}`,
      name,
    );
  }
  const copy = new Uint8Array(bytes.subarray(dataStart)); // a fresh buffer (Buffer#slice would share memory)
  return { dtype, shape: [...shape], data: new ctor(copy.buffer, 0, count), fortranOrder: false };
}

function expectedCtor(dtype: NpyDtype): Ctor {
  return DTYPES[dtype].ctor;
}

/**
 * Formats one array as `.npy` bytes, byte-identical to `numpy.save` for the same dtype and shape (format 1.0, or
 * 2.0 when the header exceeds 65535 bytes). `<u1`/`<i1` are written as `|u1`/`|i1`.
 *
 * @param a - the array
 * @returns the `.npy` content
 * @throws {@link ConfigError} for an unsupported dtype, a typed array that does not match the dtype, a bad shape, or
 * a data length different from the product of the shape
 */
export function formatNpy(a: NpyArray): Uint8Array {
  assertLittleEndianHost();
  if (!isDtype(a.dtype)) throw new ConfigError(`formatNpy: unsupported dtype '${String(a.dtype)}'`);
  const dtype = normaliseDtype(a.dtype);
  if (!(a.data instanceof expectedCtor(dtype))) {
    throw new ConfigError(
      `formatNpy: dtype ${dtype} needs a ${expectedCtor(dtype).name}, got ${a.data.constructor.name}`,
    );
  }
  let count = 1;
  for (const d of a.shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new ConfigError(`formatNpy: bad shape (${a.shape.join(", ")})`);
    count *= d;
  }
  if (count !== a.data.length) {
    throw new ConfigError(`formatNpy: shape (${a.shape.join(", ")}) has ${count} elements, data has ${a.data.length}`);
  }
  const shapeText = a.shape.length === 1 ? `(${a.shape[0]},)` : `(${a.shape.join(", ")})`;
  const dict = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  let major = 1;
  let prefix = 10;
  if (dict.length + 1 + 10 > 0xffff + 10) {
    major = 2;
    prefix = 12;
  }
  const padded = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  const headerLen = padded - prefix;
  const header = dict + " ".repeat(headerLen - dict.length - 1) + "\n";
  const data = new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  const out = new Uint8Array(padded + data.length);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, headerLen, true);
  else view.setUint32(8, headerLen, true);
  for (let i = 0; i < header.length; i++) out[prefix + i] = header.charCodeAt(i);
  out.set(data, padded);
  return out;
}
