import { describe, expect, it } from "vitest";
import { fileURLToPath } from "node:url";
import { InputError } from "../../src/errors.ts";
import { openNativeH5, type NativeH5 } from "../../src/io/hdf5-native-reader.ts";
import { decodeChunk } from "../../src/io/hdf5-native-decode.ts";
import { bitUnshuffleBlock, decodeLz4Block } from "../../src/io/hdf5-native-lz4.ts";

// filters.h5 (make_filter_files.py, h5py with the bitshuffle and LZ4 plugins): every filtered dataset has a plain twin
// that h5py read back equal to it
const FILE = fileURLToPath(new URL("../fixtures/hdf5-filters/filters.h5", import.meta.url));
const CASES = [
  "u8_small_chunks",
  "u16_blocks_of_64",
  "i32_frames",
  "u32_two_blocks_and_a_short_one",
  "f32_tiles",
  "f64_rank1",
  "u16_uncompressed",
  "u16_uncompressed_default",
  "u32_lz4",
  "u16_lz4_blocks",
];

function open(options: Parameters<typeof openNativeH5>[2] = {}): NativeH5 {
  const names = CASES.flatMap((c) => [`entry/data/${c}`, `entry/data/${c}_plain`]);
  let reason = "";
  const h5 = openNativeH5(FILE, names, {
    ...options,
    onUnsupported: (r) => {
      reason = r;
    },
  });
  if (h5 === undefined) throw new Error(`not read natively: ${reason}`);
  return h5;
}

function rowsOf(h5: NativeH5, name: string, start?: number, end?: number): Uint8Array {
  const ds = h5.datasets.get(name);
  if (ds === undefined) throw new Error(name);
  const columns = ds.dims.slice(1).reduce((a, b) => a * b, 1);
  return new Uint8Array(h5.readRows(name, start ?? 0, end ?? ds.dims[0], columns));
}

describe("bitshuffle and LZ4 chunks, decoded natively, equal h5py's values", () => {
  it.each(CASES)("%s: whole dataset and a middle range of rows", (c) => {
    const h5 = open({ decodeThreads: 1 });
    try {
      const ds = h5.datasets.get(`entry/data/${c}`);
      expect(ds?.filters.map((f) => f.id)[0]).toBe(c.includes("lz4") ? 32004 : 32008);
      const want = rowsOf(h5, `entry/data/${c}_plain`);
      const got = rowsOf(h5, `entry/data/${c}`);
      expect(got.length).toBe(want.length);
      expect(Buffer.from(got).equals(Buffer.from(want))).toBe(true);
      const n = ds?.dims[0] ?? 0;
      const [a, b] = [Math.floor(n / 3), Math.max(Math.floor(n / 3) + 1, Math.floor((2 * n) / 3))];
      const part = rowsOf(h5, `entry/data/${c}`, a, b);
      expect(Buffer.from(part).equals(Buffer.from(rowsOf(h5, `entry/data/${c}_plain`, a, b)))).toBe(true);
    } finally {
      h5.close();
    }
  });

  it("decoded in worker threads: the same bytes", () => {
    const h5 = open({ decodeThreads: 2, parallelMinBytes: 0 });
    try {
      for (const c of ["i32_frames", "f32_tiles", "u32_lz4", "u16_blocks_of_64"]) {
        expect(
          Buffer.from(rowsOf(h5, `entry/data/${c}`)).equals(Buffer.from(rowsOf(h5, `entry/data/${c}_plain`))),
        ).toBe(true);
      }
    } finally {
      h5.close();
    }
  });
});

describe("the decoders' building blocks", () => {
  it("bit-unshuffles a block: plane 8j+b holds bit b of byte j, element i at bit i mod 8", () => {
    const m = 16;
    const es = 2;
    const values = Array.from({ length: m }, (_, i) => (i * 40503 + 7) & 0xffff);
    const planes = new Uint8Array(m * es);
    values.forEach((v, i) => {
      for (let bit = 0; bit < 16; bit++) if ((v >> bit) & 1) planes[bit * (m / 8) + (i >> 3)] |= 1 << (i & 7);
    });
    const out = new Uint8Array(m * es);
    bitUnshuffleBlock(planes, 0, out, 0, m, es);
    expect(Array.from(new Uint16Array(out.buffer))).toEqual(values);
  });

  it("LZ4 block: literals, an overlapping match and a long literal run", () => {
    // "ab" + match(offset 2, length 6) → "abababab", then 20 literals 'x'
    const block = Uint8Array.from([0x22, 0x61, 0x62, 0x02, 0x00, 0xf0, 20 - 15, ...Array<number>(20).fill(0x78)]);
    const out = new Uint8Array(28);
    decodeLz4Block(block, 0, block.length, out, 0, out.length);
    expect(Buffer.from(out).toString("latin1")).toBe("abababab" + "x".repeat(20));
    expect(() => {
      decodeLz4Block(block, 0, block.length, new Uint8Array(27), 0, 27);
    }).toThrow(InputError);
    expect(() => {
      decodeLz4Block(block, 0, block.length, new Uint8Array(29), 0, 29);
    }).toThrow(/decodes to 28 bytes/);
    const badOffset = Uint8Array.from([0x10, 0x61, 0x05, 0x00]);
    expect(() => {
      decodeLz4Block(badOffset, 0, 4, new Uint8Array(8), 0, 8);
    }).toThrow(/before the block's start/);
  });

  it("an unsupported filter or zstd bitshuffle is a one-line InputError", () => {
    expect(() => decodeChunk(new Uint8Array(8), [{ id: 307, values: [] }], 0, 4, 8)).toThrow(
      /HDF5 filter 307 not supported/,
    );
    expect(() => decodeChunk(new Uint8Array(16), [{ id: 32008, values: [0, 3, 4, 0, 3] }], 0, 4, 8)).toThrow(
      /bitshuffle compression 3 \(zstd\) is not supported/,
    );
  });

  it("a header that declares another size than the chunk's is refused before any allocation", () => {
    const header = Uint8Array.from([0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0x20, 0]); // 2^44 bytes declared
    expect(() => decodeChunk(header, [{ id: 32008, values: [0, 3, 4, 0, 2] }], 0, 4, 4096)).toThrow(
      /header says 17592186044416 bytes, the chunk holds 4096/,
    );
    expect(() => decodeChunk(header, [{ id: 32004, values: [] }], 0, 4, 4096)).toThrow(/header says/);
  });
});
