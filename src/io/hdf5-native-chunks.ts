/**
 * Data layouts and chunk indexes of HDF5 datasets, read natively into one table of chunks: contiguous storage, and
 * chunked storage indexed by a version-1 B-tree (layout message 3, as h5py and HDF5 ≤ 1.8 write), a single chunk, an
 * implicit index, a fixed array (fixed-size datasets written with the 1.10 format) or an extensible array (one
 * unlimited dimension, as our h5wasm writers produce). Version-2 B-tree indexes (more than one unlimited dimension)
 * are not covered: {@link NativeUnsupported}, so the caller falls back to h5wasm.
 *
 * @packageDocumentation
 */
import {
  checkChecksum,
  Cursor,
  need,
  NativeUnsupported,
  type FileBytes,
  type Superblock,
} from "./hdf5-native-format.ts";

/** Where the chunks of a dataset are: one row per chunk of the chunk grid, row-major. */
export interface ChunkTable {
  /** Chunk shape (elements per dimension; rank 1 to 3). */
  chunkDims: number[];
  /** Chunks per dimension over the current extent. */
  gridDims: number[];
  /** Absolute file position of each chunk. */
  address: Float64Array;
  /** Stored size of each chunk in bytes. */
  size: Float64Array;
  /** Filter mask of each chunk (bit f set: filter f of the pipeline was not applied). */
  mask: Int32Array;
}

/** A parsed data layout message. */
export type Layout =
  | { kind: "contiguous"; address: number; size: number }
  | {
      kind: "chunked";
      chunkDims: number[];
      elementSize: number;
      index:
        | { type: "btree1"; address: number }
        | { type: "single"; address: number; filteredSize?: number; filterMask?: number }
        | { type: "implicit"; address: number }
        | { type: "fixed"; address: number }
        | { type: "extensible"; address: number };
    };

/** Parses a data layout message (versions 3 and 4; compact layouts and version-2 B-tree indexes are not covered). */
export function parseLayout(c: Cursor): Layout {
  const version = c.u8();
  need(version === 3 || version === 4, `layout version ${version}`);
  const cls = c.u8();
  if (cls === 1) return { kind: "contiguous", address: c.address(), size: c.length() };
  need(cls === 2, `layout class ${cls}`);
  if (version === 3) {
    const nd = c.u8();
    const address = c.address();
    const dims: number[] = [];
    for (let i = 0; i < nd; i++) dims.push(c.u32());
    need(nd >= 2, "chunk dimensionality");
    return checkChunkDims(dims, { type: "btree1", address });
  }
  const flags = c.u8();
  need((flags & 0x01) === 0, "unfiltered partial edge chunks");
  const nd = c.u8();
  const enc = c.u8();
  need(nd >= 2 && enc >= 1 && enc <= 8, "chunk dimensionality");
  const dims: number[] = [];
  for (let i = 0; i < nd; i++) dims.push(c.uint(enc));
  const type = c.u8();
  if (type === 1) {
    const filtered = (flags & 0x02) !== 0;
    if (!filtered) return checkChunkDims(dims, { type: "single", address: c.address() });
    const filteredSize = c.length();
    const filterMask = c.u32();
    return checkChunkDims(dims, { type: "single", address: c.address(), filteredSize, filterMask });
  }
  if (type === 2) return checkChunkDims(dims, { type: "implicit", address: c.address() });
  if (type === 3) {
    c.skip(1);
    return checkChunkDims(dims, { type: "fixed", address: c.address() });
  }
  if (type === 4) {
    c.skip(5);
    return checkChunkDims(dims, { type: "extensible", address: c.address() });
  }
  throw new NativeUnsupported(`chunk index type ${type}`);
}

function checkChunkDims(dims: number[], index: Extract<Layout, { kind: "chunked" }>["index"]): Layout {
  const chunkDims = dims.slice(0, -1);
  need(
    chunkDims.every((d) => Number.isSafeInteger(d) && d >= 1),
    "zero chunk dimension",
  );
  return { kind: "chunked", chunkDims, elementSize: dims[dims.length - 1], index };
}

/** What the index needs to know of the dataset. */
export interface IndexContext {
  file: FileBytes;
  sb: Superblock;
  /** Current dimensions. */
  dims: number[];
  /** Maximum dimensions (−1 unlimited), or the current ones. */
  maxDims: number[];
  /** Whether the dataset has a filter pipeline (index entries then carry sizes and masks). */
  filtered: boolean;
}

/**
 * Reads the whole chunk index of a chunked dataset into a {@link ChunkTable} covering its current extent. Every chunk
 * of the extent must be allocated (no fill values) and lie inside the file.
 */
export function readChunkTable(layout: Extract<Layout, { kind: "chunked" }>, ctx: IndexContext): ChunkTable {
  const { chunkDims, elementSize } = layout;
  const rank = ctx.dims.length;
  need(chunkDims.length === rank && rank >= 1 && rank <= 3, "chunk rank differs from the dataspace, or above 3");
  const gridDims = ctx.dims.map((d, i) => Math.ceil(d / chunkDims[i]));
  const nChunks = gridDims.reduce((a, b) => a * b, 1);
  // every chunk needs at least an 8-byte index entry (or its own bytes) in the file: a lie cannot allocate much
  need(nChunks <= 1 << 26 && nChunks <= ctx.file.size / 8 + 1, "too many chunks");
  const chunkBytes = chunkDims.reduce((a, b) => a * b, elementSize);
  need(Number.isSafeInteger(chunkBytes) && chunkBytes <= 1 << 30, "chunk too large");
  const table: ChunkTable = {
    chunkDims,
    gridDims,
    address: new Float64Array(nChunks).fill(-1),
    size: new Float64Array(nChunks),
    mask: new Int32Array(nChunks),
  };
  const set = (k: number, address: number, size: number, mask: number): void => {
    need(table.address[k] === -1, "chunk indexed twice");
    need(address >= 0 && size > 0, "unallocated chunk");
    table.address[k] = ctx.sb.base + address;
    table.size[k] = size;
    table.mask[k] = mask;
  };
  // the linear order of fixed/extensible arrays and implicit indexes runs over the chunk grid of the maximum extent
  const maxGrid = ctx.maxDims.map((m, i) => (m < 0 ? gridDims[i] : Math.ceil(m / chunkDims[i])));
  need(
    maxGrid.every((g, i) => g >= gridDims[i]),
    "maximum extent below the current one",
  );
  const nMax = maxGrid.reduce((a, b) => a * b, 1);
  if (rank >= 2) {
    need(
      ctx.maxDims.slice(1).every((m) => m >= 0),
      "unlimited dimension after the first",
    );
  }
  /** Row-major position in the current chunk grid of a linear index over the maximum grid (−1: beyond the extent). */
  const linearToGrid = (linear: number): number => {
    let k = 0;
    let rest = linear;
    let stride = 1;
    for (let d = rank - 1; d >= 0; d--) {
      const g = d === 0 ? rest : rest % maxGrid[d];
      rest = d === 0 ? 0 : Math.floor(rest / maxGrid[d]);
      if (g >= gridDims[d]) return -1;
      k += g * stride;
      stride *= gridDims[d];
    }
    return k;
  };
  const gridIndex = (g: readonly number[]): number => g.reduce((k, v, d) => k * gridDims[d] + v, 0);
  const index = layout.index;
  if (index.type === "btree1") {
    readBtree1(ctx, index.address, rank, (offsets, size, mask, address) => {
      const g = offsets.map((o, i) => o / chunkDims[i]);
      need(
        g.every((v) => Number.isInteger(v)),
        "chunk offset not on the chunk grid",
      );
      if (g.some((v, i) => v >= gridDims[i])) return; // beyond the current extent (a shrunk dataset)
      set(gridIndex(g), address, size, mask);
    });
  } else if (index.type === "single") {
    need(nChunks === 1, "single-chunk index with several chunks");
    set(0, index.address, index.filteredSize ?? chunkBytes, index.filterMask ?? 0);
  } else if (index.type === "implicit") {
    need(!ctx.filtered && nMax <= ctx.file.size, "implicit index with filters or beyond the file");
    for (let linear = 0; linear < nMax; linear++) {
      const k = linearToGrid(linear);
      if (k >= 0) set(k, index.address + linear * chunkBytes, chunkBytes, 0);
    }
  } else {
    const each = (linear: number, address: number, size: number, mask: number): void => {
      const k = linearToGrid(linear);
      if (k >= 0 && address >= 0) set(k, address, size, mask);
    };
    if (index.type === "fixed") readFixedArray(ctx, index.address, chunkBytes, each);
    else readExtensibleArray(ctx, index.address, chunkBytes, each);
  }
  for (let k = 0; k < nChunks; k++) {
    need(table.address[k] >= 0, "chunk not allocated");
    need(table.address[k] + table.size[k] <= ctx.file.size, "chunk past the end of the file");
  }
  return table;
}

/** Walks a version-1 B-tree of chunks (node type 1), calling `leaf` for each chunk. */
function readBtree1(
  ctx: IndexContext,
  root: number,
  rank: number,
  leaf: (offsets: number[], size: number, mask: number, address: number) => void,
): void {
  const { file, sb } = ctx;
  const keyBytes = 8 + 8 * (rank + 1);
  let visited = 0;
  const visit = (address: number, expectLevel: number): void => {
    need(address >= 0 && ++visited <= 1 << 20, "bad B-tree node");
    const head = new Cursor(file.read(sb.base + address, 8 + 2 * sb.offsetSize), 0, sb.offsetSize, sb.lengthSize);
    need(head.bytes(4).toString("latin1") === "TREE" && head.u8() === 1, "not a chunk B-tree node");
    const level = head.u8();
    need(expectLevel < 0 || level === expectLevel, "B-tree level");
    const entries = head.u16();
    const bodyBytes = entries * (keyBytes + sb.offsetSize) + keyBytes;
    const c = new Cursor(
      file.read(sb.base + address + 8 + 2 * sb.offsetSize, bodyBytes),
      0,
      sb.offsetSize,
      sb.lengthSize,
    );
    for (let e = 0; e < entries; e++) {
      const size = c.u32();
      const mask = c.u32();
      const offsets: number[] = [];
      for (let d = 0; d < rank; d++) offsets.push(c.uint(8));
      need(c.uint(8) === 0, "chunk offset in the element dimension");
      const child = c.address();
      if (level === 0) leaf(offsets, size, mask, child);
      else visit(child, level - 1);
    }
  };
  visit(root, -1);
}

/** Decodes one fixed/extensible array element: address, and for filtered chunks stored size and filter mask. */
function element(c: Cursor, elementSize: number, filtered: boolean, chunkBytes: number): [number, number, number] {
  const address = c.address();
  if (!filtered) return [address, chunkBytes, 0];
  const sizeBytes = elementSize - c.offsetSize - 4;
  need(sizeBytes >= 1 && sizeBytes <= 8, "filtered element size");
  const size = c.uint(sizeBytes);
  return [address, size, c.u32()];
}

/** Checks a block's signature, version and client id (0 plain chunks, 1 filtered) and returns a cursor after them. */
function blockCursor(buf: Buffer, sb: Superblock, signature: string, filtered: boolean): Cursor {
  const c = new Cursor(buf, 0, sb.offsetSize, sb.lengthSize);
  need(c.bytes(4).toString("latin1") === signature, `${signature} signature`);
  need(c.u8() === 0, `${signature} version`);
  need(c.u8() === (filtered ? 1 : 0), `${signature} client`);
  return c;
}

type Each = (linear: number, address: number, size: number, mask: number) => void;

/** Reads a fixed array chunk index (header FAHD, data block FADB, paged or not). */
function readFixedArray(ctx: IndexContext, headerAddress: number, chunkBytes: number, each: Each): void {
  const { file, sb, filtered } = ctx;
  const O = sb.offsetSize;
  const hb = file.read(sb.base + headerAddress, 8 + sb.lengthSize + O + 4);
  const h = blockCursor(hb, sb, "FAHD", filtered);
  const elementSize = h.u8();
  const pageBits = h.u8();
  const n = h.length();
  const dblock = h.address();
  checkChecksum(hb, 0, h.pos, "fixed array header");
  need(n <= 1 << 26 && pageBits < 32 && elementSize >= O, "fixed array parameters");
  const pageElements = 2 ** pageBits;
  const prefix = 6 + O;
  if (n <= pageElements) {
    const buf = file.read(sb.base + dblock, prefix + n * elementSize + 4);
    const c = blockCursor(buf, sb, "FADB", filtered);
    c.skip(O);
    for (let i = 0; i < n; i++) each(i, ...element(c, elementSize, filtered, chunkBytes));
    checkChecksum(buf, 0, c.pos, "fixed array data block");
    return;
  }
  const nPages = Math.ceil(n / pageElements);
  const bitmapBytes = Math.ceil(nPages / 8);
  const head = file.read(sb.base + dblock, prefix + bitmapBytes + 4);
  blockCursor(head, sb, "FADB", filtered);
  checkChecksum(head, 0, prefix + bitmapBytes, "fixed array data block");
  let at = sb.base + dblock + head.length;
  for (let p = 0; p < nPages; p++) {
    const count = Math.min(pageElements, n - p * pageElements);
    const buf = file.read(at, count * elementSize + 4);
    checkChecksum(buf, 0, count * elementSize, "fixed array page");
    const c = new Cursor(buf, 0, O, sb.lengthSize);
    for (let i = 0; i < count; i++) each(p * pageElements + i, ...element(c, elementSize, filtered, chunkBytes));
    at += pageElements * elementSize + 4;
  }
}

/** Reads an extensible array chunk index (header EAHD, index block EAIB, super blocks EASB, data blocks EADB). */
// stays whole: the four block kinds share the element numbering (super block table) computed at its start
function readExtensibleArray(ctx: IndexContext, headerAddress: number, chunkBytes: number, each: Each): void {
  const { file, sb, filtered } = ctx;
  const O = sb.offsetSize;
  const hb = file.read(sb.base + headerAddress, 12 + 6 * sb.lengthSize + O + 4);
  const h = blockCursor(hb, sb, "EAHD", filtered);
  const elementSize = h.u8();
  const maxBits = h.u8();
  const indexElements = h.u8();
  const minDataElements = h.u8();
  const minPointers = h.u8();
  const pageBits = h.u8();
  for (let i = 0; i < 5; i++) h.length();
  const realized = h.length();
  const iblock = h.address();
  checkChecksum(hb, 0, h.pos, "extensible array header");
  const log2 = (v: number): number => Math.log2(v);
  need(
    elementSize >= O &&
      maxBits >= 1 &&
      maxBits <= 64 &&
      pageBits < 32 &&
      minDataElements >= 1 &&
      Number.isInteger(log2(minDataElements)) &&
      minPointers >= 2 &&
      Number.isInteger(log2(minPointers)) &&
      realized <= 1 << 26,
    "extensible array parameters",
  );
  if (realized === 0 || iblock < 0) return;
  const nSuper = 1 + maxBits - log2(minDataElements);
  const iblockSuper = 2 * log2(minPointers);
  const nDataPointers = 2 * (minPointers - 1);
  const nSuperPointers = nSuper - iblockSuper;
  need(nSuperPointers >= 0, "extensible array parameters");
  const offsetBytes = Math.ceil(maxBits / 8);
  const pageElements = 2 ** pageBits;
  const info: { ndblks: number; dblkElements: number; start: number }[] = [];
  for (let u = 0, start = indexElements; u < nSuper; u++) {
    const ndblks = 2 ** Math.floor(u / 2);
    const dblkElements = 2 ** Math.floor((u + 1) / 2) * minDataElements;
    info.push({ ndblks, dblkElements, start });
    start += ndblks * dblkElements;
  }
  const ib = file.read(
    sb.base + iblock,
    6 + O + indexElements * elementSize + (nDataPointers + nSuperPointers) * O + 4,
  );
  const ic = blockCursor(ib, sb, "EAIB", filtered);
  ic.skip(O);
  for (let i = 0; i < indexElements; i++) each(i, ...element(ic, elementSize, filtered, chunkBytes));
  const dataPointers: number[] = [];
  for (let i = 0; i < nDataPointers; i++) dataPointers.push(ic.address());
  const superPointers: number[] = [];
  for (let i = 0; i < nSuperPointers; i++) superPointers.push(ic.address());
  checkChecksum(ib, 0, ic.pos, "extensible array index block");

  const dataBlock = (address: number, first: number, count: number): void => {
    if (address < 0 || first >= realized) return;
    const prefix = 6 + O + offsetBytes;
    if (count <= pageElements) {
      const buf = file.read(sb.base + address, prefix + count * elementSize + 4);
      const c = blockCursor(buf, sb, "EADB", filtered);
      c.skip(O + offsetBytes);
      for (let i = 0; i < count; i++) each(first + i, ...element(c, elementSize, filtered, chunkBytes));
      checkChecksum(buf, 0, c.pos, "extensible array data block");
      return;
    }
    const head = file.read(sb.base + address, prefix + 4);
    blockCursor(head, sb, "EADB", filtered);
    checkChecksum(head, 0, prefix, "extensible array data block");
    const nPages = count / pageElements;
    for (let p = 0; p < nPages && first + p * pageElements < realized; p++) {
      const at = sb.base + address + prefix + 4 + p * (pageElements * elementSize + 4);
      const buf = file.read(at, pageElements * elementSize + 4);
      checkChecksum(buf, 0, pageElements * elementSize, "extensible array page");
      const c = new Cursor(buf, 0, O, sb.lengthSize);
      for (let i = 0; i < pageElements; i++) {
        each(first + p * pageElements + i, ...element(c, elementSize, filtered, chunkBytes));
      }
    }
  };
  let dblk = 0;
  for (let u = 0; u < iblockSuper && u < nSuper; u++) {
    for (let d = 0; d < info[u].ndblks; d++, dblk++) {
      dataBlock(dataPointers[dblk], info[u].start + d * info[u].dblkElements, info[u].dblkElements);
    }
  }
  for (let s = 0; s < nSuperPointers; s++) {
    const u = iblockSuper + s;
    const address = superPointers[s];
    if (address < 0 || info[u].start >= realized) continue;
    const { ndblks, dblkElements } = info[u];
    const paged = dblkElements > pageElements;
    const bitmapBytes = paged ? Math.ceil((ndblks * (dblkElements / pageElements)) / 8) : 0;
    const buf = file.read(sb.base + address, 6 + O + offsetBytes + bitmapBytes + ndblks * O + 4);
    const c = blockCursor(buf, sb, "EASB", filtered);
    c.skip(O + offsetBytes + bitmapBytes);
    const pointers: number[] = [];
    for (let d = 0; d < ndblks; d++) pointers.push(c.address());
    checkChecksum(buf, 0, c.pos, "extensible array super block");
    for (let d = 0; d < ndblks; d++) dataBlock(pointers[d], info[u].start + d * dblkElements, dblkElements);
  }
}
