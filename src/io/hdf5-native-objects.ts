/**
 * The objects of an HDF5 file, read natively: a group's hard links (from a symbol table — B-tree nodes, symbol
 * nodes and a local heap — or from compact link messages; a path of groups from the root is followed link by link), each dataset's dataspace, datatype, filters and chunk table,
 * and the root group's attributes (numbers and variable-length strings from the global heap), converted to plain
 * values exactly as `readAttributes` in `hdf5.ts` converts what h5wasm returns.
 *
 * Dense link or attribute storage (fractal heaps), shared messages and any other datatype are not covered
 * ({@link NativeUnsupported}).
 *
 * @packageDocumentation
 */
import { InputError } from "../errors.ts";
import { readChunkTable, parseLayout, type ChunkTable } from "./hdf5-native-chunks.ts";
import { DECODED_FILTERS, FILTER_BITSHUFFLE, FILTER_SHUFFLE } from "./hdf5-native-decode.ts";
import {
  Cursor,
  MSG,
  need,
  parseDataspace,
  parseDatatype,
  parseFilters,
  readObjectHeader,
  type Datatype,
  type FileBytes,
  type Filter,
  type HeaderMessage,
  type Superblock,
} from "./hdf5-native-format.ts";

/** A dataset as the native reader sees it. */
export interface NativeDataset {
  /** Element type. */
  type: Datatype;
  /** Current dimensions. */
  dims: number[];
  /** Filter pipeline, in the order it was applied when writing (empty: none). */
  filters: Filter[];
  /** Chunks (a contiguous dataset is one chunk spanning it). */
  chunks: ChunkTable;
}

function unshared(m: HeaderMessage): HeaderMessage {
  need((m.flags & 0x02) === 0, `shared message of type ${m.type}`);
  return m;
}

/** The root group's hard links: name → object header address. */
export function readRootLinks(file: FileBytes, sb: Superblock): Map<string, number> {
  return readGroupLinks(file, sb, sb.rootAddress);
}

/**
 * The object header address of the object at `path` (`a/b/c`, from the root group; hard links only).
 *
 * @throws {@link NativeUnsupported} when a group on the way is not covered or a name is missing
 */
export function resolveObjectPath(file: FileBytes, sb: Superblock, path: string): number {
  let address = sb.rootAddress;
  for (const name of path.split("/").filter((part) => part !== "")) {
    const found = readGroupLinks(file, sb, address).get(name);
    need(found !== undefined, `no hard link '${name}' on the way to '${path}'`);
    address = found;
  }
  return address;
}

/** The hard links of the group whose object header is at `header`: name → object header address. */
export function readGroupLinks(file: FileBytes, sb: Superblock, header: number): Map<string, number> {
  const messages = readObjectHeader(file, sb, header);
  const links = new Map<string, number>();
  const table = messages.find((m) => m.type === MSG.symbolTable);
  if (table !== undefined) {
    const c = unshared(table).body;
    readSymbolTable(file, sb, c.address(), c.address(), links);
    return links;
  }
  for (const m of messages) {
    if (m.type === MSG.linkInfo) {
      const c = unshared(m).body;
      need(c.u8() === 0, "link info version");
      if (c.u8() & 0x01) c.skip(8);
      need(c.address() < 0, "dense link storage");
    }
    if (m.type !== MSG.link) continue;
    const c = m.body;
    need(c.u8() === 1, "link message version");
    const flags = c.u8();
    const linkType = flags & 0x08 ? c.u8() : 0;
    if (flags & 0x04) c.skip(8);
    if (flags & 0x10) c.skip(1);
    const nameLength = c.uint(1 << (flags & 3));
    const name = c.bytes(nameLength).toString("utf8");
    if (linkType !== 0) continue;
    need(!links.has(name), "duplicate link");
    links.set(name, c.address());
  }
  return links;
}

function readSymbolTable(
  file: FileBytes,
  sb: Superblock,
  btree: number,
  heap: number,
  links: Map<string, number>,
): void {
  const O = sb.offsetSize;
  const hh = new Cursor(file.read(sb.base + heap, 8 + 2 * sb.lengthSize + O), 0, O, sb.lengthSize);
  need(hh.bytes(4).toString("latin1") === "HEAP" && hh.u8() === 0, "local heap");
  hh.skip(3);
  const heapSize = hh.length();
  hh.length();
  const heapData = file.read(sb.base + hh.address(), heapSize);
  const nameAt = (offset: number): string => {
    need(offset < heapData.length, "link name outside the local heap");
    const end = heapData.indexOf(0, offset);
    need(end >= 0, "unterminated link name");
    return heapData.toString("utf8", offset, end);
  };
  let visited = 0;
  const visit = (address: number, expectLevel: number): void => {
    need(address >= 0 && ++visited <= 4096, "bad group B-tree node");
    const head = new Cursor(file.read(sb.base + address, 8 + 2 * O), 0, O, sb.lengthSize);
    need(head.bytes(4).toString("latin1") === "TREE" && head.u8() === 0, "not a group B-tree node");
    const level = head.u8();
    need(expectLevel < 0 || level === expectLevel, "B-tree level");
    const entries = head.u16();
    const c = new Cursor(
      file.read(sb.base + address + 8 + 2 * O, entries * (sb.lengthSize + O) + sb.lengthSize),
      0,
      O,
      sb.lengthSize,
    );
    for (let e = 0; e < entries; e++) {
      c.length();
      const child = c.address();
      if (level > 0) {
        visit(child, level - 1);
        continue;
      }
      need(child >= 0, "symbol node address");
      const sh = new Cursor(file.read(sb.base + child, 8), 0, O, sb.lengthSize);
      need(sh.bytes(4).toString("latin1") === "SNOD" && sh.u8() === 1, "symbol table node");
      sh.skip(1);
      const n = sh.u16();
      const entryBytes = 2 * O + 24;
      const s = new Cursor(file.read(sb.base + child + 8, n * entryBytes), 0, O, sb.lengthSize);
      for (let i = 0; i < n; i++) {
        const name = nameAt(s.length());
        const header = s.address();
        s.skip(24);
        need(!links.has(name), "duplicate link");
        links.set(name, header);
      }
    }
  };
  visit(btree, -1);
}

/** Reads a dataset's object header and its chunk table. */
export function readNativeDataset(file: FileBytes, sb: Superblock, address: number): NativeDataset {
  const messages = readObjectHeader(file, sb, address);
  const one = (type: number): HeaderMessage => {
    const found = messages.filter((m) => m.type === type);
    need(found.length === 1, `message ${type} missing or repeated`);
    return unshared(found[0]);
  };
  const space = parseDataspace(one(MSG.dataspace).body);
  const type = parseDatatype(one(MSG.datatype).body);
  need(type.kind !== "vlen-string" && space.dims.length >= 1, "not a numeric array");
  const filterMessages = messages.filter((m) => m.type === MSG.filters);
  need(filterMessages.length <= 1, "repeated filter pipeline");
  const filters = filterMessages.length === 1 ? parseFilters(unshared(filterMessages[0]).body) : [];
  for (const f of filters) {
    need(DECODED_FILTERS.has(f.id), `filter ${f.id}`);
    if (f.id === FILTER_SHUFFLE) need(f.values.length >= 1 && f.values[0] === type.size, "shuffle element size");
    if (f.id === FILTER_BITSHUFFLE) need(f.values.length >= 3 && f.values[2] === type.size, "bitshuffle element size");
  }
  const layout = parseLayout(one(MSG.layout).body);
  const dims = space.dims;
  // deflate shrinks at most ~1032:1 and LZ4 ~255:1, so a dataspace larger than that is a lie (no allocation follows)
  need(dims.reduce((a, b) => a * b, type.size) <= file.size * 1100, "dataspace larger than the file can hold");
  const maxDims = space.maxDims ?? dims;
  if (layout.kind === "contiguous") {
    need(filters.length === 0, "filters on contiguous storage");
    const bytes = dims.reduce((a, b) => a * b, type.size);
    need(layout.address >= 0 && layout.size === bytes, "contiguous storage size");
    need(sb.base + layout.address + bytes <= file.size, "contiguous data past the end of the file");
    return {
      type,
      dims,
      filters,
      chunks: {
        chunkDims: dims.map((d) => Math.max(1, d)),
        gridDims: dims.map(() => 1),
        address: Float64Array.of(sb.base + layout.address),
        size: Float64Array.of(bytes),
        mask: new Int32Array(1),
      },
    };
  }
  need(layout.elementSize === type.size, "chunk element size differs from the datatype");
  const chunks = readChunkTable(layout, { file, sb, dims, maxDims, filtered: filters.length > 0 });
  if (filters.length === 0) {
    const chunkBytes = layout.chunkDims.reduce((a, b) => a * b, type.size);
    need(
      chunks.size.every((s) => s === chunkBytes),
      "unfiltered chunk of another size",
    );
  }
  return { type, dims, filters, chunks };
}

/** Reads the root group's attributes as plain values (strings, numbers, number[]), in name order. */
export function readRootAttributes(file: FileBytes, sb: Superblock, path: string): Record<string, unknown> {
  const messages = readObjectHeader(file, sb, sb.rootAddress);
  for (const m of messages) {
    if (m.type !== MSG.attributeInfo) continue;
    const c = unshared(m).body;
    need(c.u8() === 0, "attribute info version");
    const flags = c.u8();
    if (flags & 0x01) c.skip(2);
    need(c.address() < 0, "dense attribute storage");
  }
  const found = new Map<string, unknown>();
  for (const m of messages) {
    if (m.type !== MSG.attribute) continue;
    const [name, value] = parseAttribute(file, sb, unshared(m).body, path);
    need(!found.has(name), "duplicate attribute");
    found.set(name, value);
  }
  const out: Record<string, unknown> = {};
  for (const name of [...found.keys()].sort(byCodeUnits)) out[name] = found.get(name);
  return out;
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function parseAttribute(file: FileBytes, sb: Superblock, c: Cursor, path: string): [string, unknown] {
  const version = c.u8();
  need(version >= 1 && version <= 3, "attribute version");
  const flags = c.u8();
  need(version === 1 || flags === 0, "shared attribute type or space");
  const nameSize = c.u16();
  const typeSize = c.u16();
  const spaceSize = c.u16();
  if (version === 3) need(c.u8() <= 1, "attribute name charset");
  const pad = (n: number): number => (version === 1 ? Math.ceil(n / 8) * 8 : n);
  const nameBytes = c.bytes(pad(nameSize));
  const nul = nameBytes.indexOf(0);
  need(nul === nameSize - 1, "attribute name");
  const name = nameBytes.toString("utf8", 0, nul);
  const typeStart = c.pos;
  const type = parseDatatype(c);
  c.pos = typeStart + pad(typeSize);
  const spaceStart = c.pos;
  const space = parseDataspace(c);
  c.pos = spaceStart + pad(spaceSize);
  need(space.dims.length <= 1, "attribute rank");
  const count = space.dims.length === 0 ? 1 : space.dims[0];
  need(count <= 1 << 20, "attribute too large");
  const data = c.bytes(count * type.size);
  const scalar = space.dims.length === 0;
  if (type.kind === "vlen-string") {
    need(scalar, "array of strings");
    return [name, readVlenString(file, sb, new Cursor(data, 0, sb.offsetSize, sb.lengthSize))];
  }
  const values: number[] = [];
  for (let i = 0; i < count; i++) values.push(numberAt(data, i * type.size, type, path, name));
  return [name, scalar ? values[0] : values];
}

/** One numeric attribute element, converted as `readAttributes` converts h5wasm's value (64-bit integers exactly). */
function numberAt(data: Buffer, at: number, type: Datatype, path: string, name: string): number {
  if (type.kind === "float") return type.size === 4 ? data.readFloatLE(at) : data.readDoubleLE(at);
  if (type.size === 8) {
    const v = type.kind === "int" ? data.readBigInt64LE(at) : data.readBigUInt64LE(at);
    const n = Number(v);
    if (!Number.isSafeInteger(n)) throw new InputError(`attribute '${name}' value ${v} exceeds 2^53`, path);
    return n;
  }
  if (type.kind === "int") return data.readIntLE(at, type.size);
  return data.readUIntLE(at, type.size);
}

/** A variable-length string held in a global heap collection. */
function readVlenString(file: FileBytes, sb: Superblock, c: Cursor): string {
  const length = c.u32();
  const collection = c.address();
  const index = c.u32();
  need(collection >= 0 && index > 0, "variable-length string address");
  const head = new Cursor(file.read(sb.base + collection, 8 + sb.lengthSize), 0, sb.offsetSize, sb.lengthSize);
  need(head.bytes(4).toString("latin1") === "GCOL" && head.u8() === 1, "global heap collection");
  head.skip(3);
  const size = head.length();
  need(size <= 1 << 24, "global heap collection size");
  const heap = new Cursor(file.read(sb.base + collection, size), head.pos, sb.offsetSize, sb.lengthSize);
  for (;;) {
    need(heap.pos + 8 + sb.lengthSize <= size, "string not in its global heap collection");
    const i = heap.u16();
    heap.skip(6);
    const objectSize = heap.length();
    need(i !== 0, "string not in its global heap collection");
    if (i === index) {
      need(objectSize === length, "string length");
      const bytes = heap.bytes(objectSize);
      need(!bytes.includes(0) && bytes.every((b) => b < 0x80), "string with NUL or non-ASCII bytes");
      return bytes.toString("latin1");
    }
    heap.skip(Math.ceil(objectSize / 8) * 8);
  }
}
