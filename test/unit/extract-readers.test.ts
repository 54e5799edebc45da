import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeByteOffset, readMiniCbf } from "../../src/io/cbf-read.ts";
import { parseNpy } from "../../src/io/npy.ts";
import { openNexusImages } from "../../src/io/nexus-read.ts";
import { InputError } from "../../src/errors.ts";
import { StillImageReader } from "../../src/extract/image-source.ts";

const dir = fileURLToPath(new URL("../fixtures/extract/", import.meta.url));
const npy = (name: string): ArrayLike<number> => parseNpy(readFileSync(dir + name), name).data as ArrayLike<number>;

/** Byte-offset encoder (the CBF rule), to round-trip the decoder on arbitrary int32 sequences. */
function encodeByteOffset(values: readonly number[]): Uint8Array {
  const out: number[] = [];
  let prev = 0;
  const push = (v: number, bytes: number): void => {
    for (let i = 0; i < bytes; i++) out.push(Number((BigInt(v) >> BigInt(8 * i)) & 0xffn));
  };
  for (const v of values) {
    const d = v - prev;
    prev = v;
    if (d > -128 && d < 128) push(d, 1);
    else if (d > -32768 && d < 32768) {
      push(-128, 1);
      push(d, 2);
    } else if (d > -2147483648 && d < 2147483648) {
      push(-128, 1);
      push(-32768, 2);
      push(d, 4);
    } else {
      push(-128, 1);
      push(-32768, 2);
      push(-2147483648, 4);
      push(d, 8);
    }
  }
  return Uint8Array.from(out);
}

describe("mini-CBF reader", () => {
  it("reads consecutive stills of one size into the same memory, each with its own values", async () => {
    const images = fileURLToPath(new URL("../../../shared/fixtures/sim/images-8/images/", import.meta.url));
    const reader = new StillImageReader();
    const panel = {
      origin: [0, 0, -100] as const,
      fast: [1, 0, 0] as const,
      slow: [0, -1, 0] as const,
      pixelSize: [0.172, 0.172] as const,
      imageSize: [1024, 1024] as const,
      trustedRange: [-1, 1e6] as const,
      thickness: 0,
      mu: 0,
      parallaxCorrected: false,
    };
    const read = (k: number) =>
      reader.read({ experiment: `still ${k}`, path: `${images}still_0000${k}.cbf`, frame: 0 }, [panel]);
    const [first] = await read(0);
    const want0 = Array.from(readMiniCbf(`${images}still_00000.cbf`).data);
    expect(Array.from(first)).toEqual(want0);
    const [second] = await read(1);
    expect(second).toBe(first);
    const want1 = Array.from(readMiniCbf(`${images}still_00001.cbf`).data);
    expect(Array.from(second)).toEqual(want1);
    expect(want1).not.toEqual(want0);
    reader.close();
  });

  it("decodes a dxtbx-written byte-offset image to the values dxtbx reads back (int8/16/32 deltas, −1 pixels)", () => {
    const image = readMiniCbf(dir + "small_00001.cbf");
    expect([image.width, image.height]).toEqual([64, 48]);
    expect(Array.from(image.data)).toEqual(Array.from(npy("small_values.npy")));
    expect(image.data[5 * 64 + 7]).toBe(2_000_000_000);
    expect(image.data[10 * 64 + 3]).toBe(-1);
  });

  it("reads the header keys dxtbx reads", () => {
    const h = readMiniCbf(dir + "small_00001.cbf").header;
    expect(h.pixelSizeMm?.[0]).toBeCloseTo(0.172, 12);
    expect(h.wavelength).toBe(1);
    expect(h.distanceMm).toBeCloseTo(100, 9);
    expect(h.countCutoff).toBe(1_000_000);
    expect(h.polarization).toBe(0.999);
    expect(h.beamXy?.[0]).toBeCloseTo(29.0698, 4);
    expect(h.thicknessMm).toBe(0);
  });

  it("round-trips any int32 sequence through the byte-offset rule", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -2147483648, max: 2147483647 }), { maxLength: 200 }), (values) => {
        const out = new Int32Array(values.length);
        decodeByteOffset(encodeByteOffset(values), out);
        expect(Array.from(out)).toEqual(values);
      }),
    );
  });

  it("rejects a truncated payload with an InputError", () => {
    const bytes = encodeByteOffset([1, 40000, 3]);
    expect(() => decodeByteOffset(bytes.subarray(0, 2), new Int32Array(3), "x.cbf")).toThrow(InputError);
  });
});

describe("NeXus reader", () => {
  it("reads each frame of an Eiger-style master with external links to gzip data files as h5py wrote them", async () => {
    const nexus = await openNexusImages(dir + "nexus_master.h5");
    try {
      expect(nexus.frames).toBe(3);
      expect(nexus.frameSize).toEqual([64, 48]);
      const want = npy("nexus_values.npy");
      for (let f = 0; f < 3; f++) {
        const got = nexus.readFrame(f);
        expect(got).toBeInstanceOf(Uint32Array);
        expect(Array.from(got)).toEqual(Array.from({ length: 64 * 48 }, (_, i) => want[f * 64 * 48 + i]));
      }
      expect(() => nexus.readFrame(3)).toThrow(/outside the file's 3 frames/);
    } finally {
      nexus.close();
    }
  });

  it("reads an NXmx master whose data file is bitshuffle-LZ4 (HDF5 filter 32008), as dxtbx reads it", async () => {
    // make_nxmx_bslz4.py checked dxtbx's get_raw_data of each frame against the same values
    const nexus = await openNexusImages(dir + "nxmx_bslz4_master.h5");
    try {
      expect(nexus.frames).toBe(3);
      expect(nexus.frameSize).toEqual([64, 48]);
      const want = npy("nexus_values.npy");
      for (let f = 0; f < 3; f++) {
        const got = nexus.readFrame(f);
        expect(got).toBeInstanceOf(Uint32Array);
        expect(Array.from(got)).toEqual(Array.from({ length: 64 * 48 }, (_, i) => want[f * 64 * 48 + i]));
      }
    } finally {
      nexus.close();
    }
  });
});
