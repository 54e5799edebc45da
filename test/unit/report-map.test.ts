/**
 * The report's map slices and their parts: the PNG encoder (decoded back with node:zlib), plane parsing, slicing the
 * merged map with the expansion from the asymmetric unit and the reduction of large planes, the colour levels, the
 * figure markup check, the radial profile, and the size bound of the map section for a map of 10⁶ voxels.
 */
import { inflateSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { allocateMergedDiffuseMap } from "../../src/io/merged-diffuse.ts";
import { checkFigureMarkup } from "../../src/report/html.ts";
import {
  colourLevel,
  EMPTY_COLOUR,
  mapPalette,
  mapSliceMarkup,
  N_LEVELS,
  niceTicks,
} from "../../src/report/map-figure.ts";
import { mapSection, radialProfile, sliceFigureId } from "../../src/report/map-section.ts";
import {
  MAX_SLICE_PIXELS,
  parseSlicePlane,
  sliceColourRange,
  sliceMap,
  voxelRows,
} from "../../src/report/map-slices.ts";
import { crc32, encodeIndexedPng } from "../../src/report/png.ts";
import { SpaceGroup } from "../../src/symmetry/space-group.ts";
import { makeVoxelGrid, voxelCentre, voxelIndexOf, type VoxelGrid } from "../../src/voxelize/voxel-grid.ts";

/** Decodes the PNGs {@link encodeIndexedPng} writes (indexed, filter 0) and checks every chunk's CRC. */
function decodePng(png: Uint8Array): { width: number; height: number; palette: Uint8Array; indices: Uint8Array } {
  expect(Array.from(png.subarray(0, 8))).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let o = 8;
  let width = 0;
  let height = 0;
  let palette: Uint8Array = new Uint8Array(0);
  const idat: Uint8Array[] = [];
  for (;;) {
    const len = view.getUint32(o);
    const type = String.fromCharCode(...png.subarray(o + 4, o + 8));
    const data = png.subarray(o + 8, o + 8 + len);
    expect(view.getUint32(o + 8 + len)).toBe(crc32(png.subarray(o + 4, o + 8 + len)));
    if (type === "IHDR") {
      width = view.getUint32(o + 8);
      height = view.getUint32(o + 12);
      expect([data[8], data[9], data[10], data[11], data[12]]).toEqual([8, 3, 0, 0, 0]);
    } else if (type === "PLTE") palette = data;
    else if (type === "IDAT") idat.push(data);
    o += 12 + len;
    if (type === "IEND") break;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const indices = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    expect(raw[y * (width + 1)]).toBe(0);
    indices.set(raw.subarray(y * (width + 1) + 1, (y + 1) * (width + 1)), y * width);
  }
  return { width, height, palette, indices };
}

/** A map holding every asymmetric-unit voxel of the grid, intensity `f(h, k, l)` (reciprocal-lattice units). */
function fullMap(grid: VoxelGrid, group: SpaceGroup, f: (h: number, k: number, l: number) => number) {
  const [a, b, c] = grid.hklMax.map((x) => x * grid.ndiv);
  const indices: number[] = [];
  for (let h = -a; h <= a; h++) {
    for (let k = -b; k <= b; k++) {
      for (let l = -c; l <= c; l++) {
        const m = group.mapToAsu(h, k, l);
        if (m[0] === h && m[1] === k && m[2] === l) indices.push(voxelIndexOf(grid, h, k, l));
      }
    }
  }
  const map = allocateMergedDiffuseMap(indices.length);
  const centre = new Float64Array(3);
  indices.forEach((v, r) => {
    map.voxelIndex[r] = v;
    voxelCentre(grid, v, centre, 0);
    map.hkl.set(centre, 3 * r);
    map.intensity[r] = f(centre[0], centre[1], centre[2]);
    map.qMagnitude[r] = Math.hypot(centre[0], centre[1], centre[2]) / 10;
  });
  return map;
}

describe("encodeIndexedPng", () => {
  it("writes an indexed PNG that decodes to the same indices and palette", () => {
    const indices = Uint8Array.from({ length: 7 * 5 }, (_, i) => (i * 37) % 256);
    const palette = mapPalette();
    const d = decodePng(encodeIndexedPng(7, 5, indices, palette));
    expect([d.width, d.height]).toEqual([7, 5]);
    expect(Array.from(d.indices)).toEqual(Array.from(indices));
    expect(Array.from(d.palette)).toEqual(Array.from(palette));
  });
  it("refuses an index outside the palette and inconsistent sizes", () => {
    expect(() => encodeIndexedPng(2, 1, Uint8Array.of(0, 2), Uint8Array.of(0, 0, 0, 1, 1, 1))).toThrow(/index 2/);
    expect(() => encodeIndexedPng(2, 2, Uint8Array.of(0, 0), Uint8Array.of(0, 0, 0))).toThrow(/2 indices/);
  });
  it("computes the standard CRC-32", () => {
    expect(crc32(new TextEncoder().encode("123456789"))).toBe(0xcbf43926);
  });
});

describe("parseSlicePlane", () => {
  it("reads the principal planes and a plane off the origin", () => {
    expect(parseSlicePlane("h,k,0")).toMatchObject({ name: "hk0", u: 0, v: 1, fixed: 2, value: 0 });
    expect(parseSlicePlane(" 0 , k , l ")).toMatchObject({ name: "0kl", u: 1, v: 2, fixed: 0 });
    expect(parseSlicePlane("h,k,0.5")).toMatchObject({ name: "h,k,0.5", text: "h,k,0.5", value: 0.5 });
    expect(parseSlicePlane("H,-1.5,L")).toMatchObject({ name: "h,-1.5,l", fixed: 1, value: -1.5 });
    expect(sliceFigureId("h,k,0.5")).toBe("map-slice-h_k_0_5");
    expect(sliceFigureId("h,-1.5,l")).not.toBe(sliceFigureId("h,1.5,l"));
  });
  it("refuses anything else, naming the text", () => {
    for (const bad of ["h,k", "h,k,l", "k,h,0", "h,k,x", "1,2,l", "h,k,1e999", "h,k,"]) {
      expect(() => parseSlicePlane(bad)).toThrow(new RegExp(`slice "${bad}"`));
    }
  });
});

describe("sliceMap", () => {
  const grid = makeVoxelGrid(2, [4, 4, 3]);
  const p4 = SpaceGroup.fromHall(" P 4");
  const f = (h: number, k: number, l: number) => 1000 + 100 * h + 10 * k + l;
  const map = fullMap(grid, p4, f);

  it("expands the asymmetric unit: every grid point shows its symmetry mate's voxel", () => {
    const s = sliceMap(map, voxelRows(map), grid, p4, parseSlicePlane("h,k,0.5"));
    expect([s.width, s.height, s.block, s.nFilled]).toEqual([17, 17, 1, 17 * 17]);
    expect(s.uRange).toEqual([-4, 4]);
    for (let y = 0; y < s.height; y++) {
      for (let x = 0; x < s.width; x++) {
        const [h, k, l] = p4.mapToAsu(x - 8, 8 - y, 1).map((v) => v / 2);
        expect(s.values[y * s.width + x]).toBe(f(h, k, l));
      }
    }
    // a 4-fold axis along l: (h, k) and (−k, h) are the same voxel
    expect(s.values[(8 - 3) * 17 + (8 + 1)]).toBe(s.values[(8 - 1) * 17 + (8 - 3)]);
  });

  it("leaves empty the points whose voxel has no data", () => {
    const all = voxelRows(map);
    const target = voxelIndexOf(grid, ...p4.mapToAsu(2, 2, 0));
    const rows = { get: (v: number) => (v === target ? undefined : all.get(v)) };
    const s = sliceMap(map, rows, grid, p4, parseSlicePlane("h,k,0"));
    const empty = Array.from(s.values).flatMap((v, p) => (Number.isNaN(v) ? [p] : []));
    // the four 4-fold mates of (2, 2): (2,2), (−2,2), (−2,−2), (2,−2)
    expect(empty.sort((a, b) => a - b)).toEqual([6 * 17 + 6, 6 * 17 + 10, 10 * 17 + 6, 10 * 17 + 10]);
    expect(s.nFilled).toBe(17 * 17 - 4);
  });

  it("refuses a plane off the grid or outside the map", () => {
    expect(() => sliceMap(map, voxelRows(map), grid, p4, parseSlicePlane("h,k,0.25"))).toThrow(/not on the map's grid/);
    expect(() => sliceMap(map, voxelRows(map), grid, p4, parseSlicePlane("h,k,3.5"))).toThrow(/outside the map/);
  });

  it("averages blocks of a plane wider than the image limit", () => {
    const wide = makeVoxelGrid(1, [400, 2, 1]);
    const p1 = SpaceGroup.fromNumber(1);
    const m = fullMap(wide, p1, (h) => Math.abs(h)); // even: P 1's asymmetric unit holds one of each Friedel pair
    const s = sliceMap(m, voxelRows(m), wide, p1, parseSlicePlane("h,k,0"));
    expect(s.block).toBe(2);
    expect(s.width).toBe(401);
    expect(s.width).toBeLessThanOrEqual(MAX_SLICE_PIXELS);
    expect(s.values[0]).toBe(399.5); // mean of h = −400 and −399
    expect(s.values[200]).toBe(0.5); // mean of h = 0 and 1
    expect(s.values[400]).toBe(400); // the last block holds h = 400 alone
    expect(s.uRange).toEqual([-399.5, 400]);
  });
});

describe("voxelRows", () => {
  it("finds the row of every voxel index, sorted or not, and nothing else", () => {
    const map = allocateMergedDiffuseMap(5);
    for (const order of [
      [3, 8, 20, 21, 400],
      [400, 3, 21, 8, 20],
    ]) {
      map.voxelIndex.set(order);
      const rows = voxelRows(map);
      order.forEach((v, r) => {
        expect(rows.get(v)).toBe(r);
      });
      for (const v of [0, 4, 22, 401, -1]) expect(rows.get(v)).toBeUndefined();
    }
  });
});

describe("colours and markup", () => {
  it("maps values to levels, NaN to the empty colour, with viridis ends", () => {
    expect(colourLevel(Number.NaN, 0, 1)).toBe(N_LEVELS);
    expect(colourLevel(-5, 0, 1)).toBe(0);
    expect(colourLevel(5, 0, 1)).toBe(N_LEVELS - 1);
    const p = mapPalette();
    expect(Array.from(p.subarray(0, 3))).toEqual([0x44, 0x01, 0x54]);
    expect(Array.from(p.subarray(3 * (N_LEVELS - 1), 3 * N_LEVELS))).toEqual([0xfd, 0xe7, 0x25]);
    expect(Array.from(p.subarray(3 * N_LEVELS))).toEqual([...EMPTY_COLOUR]);
    expect(sliceColourRange(Float64Array.of(Number.NaN, 3, 3))).toEqual([2.85, 3.15]);
    expect(niceTicks(-41, 41, 8, 1)).toEqual([-40, -20, 0, 20, 40]);
    expect(niceTicks(-2, 2, 8, 1)).toEqual([-2, -1, 0, 1, 2]);
  });
  it("accepts the slice markup and refuses scripts, handlers and other URLs", () => {
    const grid = makeVoxelGrid(1, [3, 3, 3]);
    const p1 = SpaceGroup.fromNumber(1);
    const m = fullMap(grid, p1, (h, k) => h * k);
    const s = sliceMap(m, voxelRows(m), grid, p1, parseSlicePlane("h,k,0"));
    const markup = mapSliceMarkup(s, sliceColourRange(s.values), "plane <hk0>");
    expect(checkFigureMarkup(markup, "x")).toBe(markup);
    expect(markup).toContain('alt="plane &lt;hk0&gt;"');
    const uri = /src="data:image\/png;base64,([^"]+)"/.exec(markup)?.[1] ?? "";
    expect(decodePng(Buffer.from(uri, "base64")).indices.length).toBe(49);
    for (const bad of [
      '<img src="https://x/y.png">',
      '<img src="data:image/svg+xml;base64,AAAA">',
      '<div onclick="f()">',
      "<script>1</script>",
      '<a href="#x">',
    ]) {
      expect(() => checkFigureMarkup(bad, "x")).toThrow(/report figure "x"/);
    }
  });
});

describe("radialProfile", () => {
  it("gives the mean and spread per equal-width |q| shell", () => {
    const map = allocateMergedDiffuseMap(4);
    map.qMagnitude.set([0, 0.1, 0.9, 1]);
    map.intensity.set([1, 3, 10, 20]);
    const p = radialProfile(map, 2);
    expect(p).toEqual([
      { q: 0.25, mean: 2, sd: Math.SQRT2, n: 2 },
      { q: 0.75, mean: 15, sd: Math.sqrt(50), n: 2 },
    ]);
  });
});

describe("map section size", () => {
  it("stays small for a map of 10⁶ voxels with random intensities", () => {
    const grid = makeVoxelGrid(1, [63, 63, 63]);
    const p1 = SpaceGroup.fromNumber(1);
    let seed = 1;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const map = fullMap(grid, p1, () => random() * 1000);
    expect(map.voxelIndex.length).toBeGreaterThan(1_000_000);
    const start = performance.now();
    const section = mapSection({ value: { path: "m.h5", map, grid, group: p1 } }, ["h,k,1", "h,k,2", "h,k,3", "h,k,4"]);
    expect((performance.now() - start) / 1000).toBeLessThan(30);
    const bytes = section.figures.reduce((n, f) => n + ("markup" in f ? f.markup.length : 0), 0);
    // 7 slices of 127 × 127 random levels: about 16 kB of PNG (22 kB base64) each
    expect(section.figures.filter((f) => "markup" in f)).toHaveLength(7);
    expect(bytes).toBeLessThan(7 * 40_000);
  }, 60_000);

  it("bounds one slice at the largest image (511 × 511 random levels) to 0.4 MB of markup", () => {
    const grid = makeVoxelGrid(1, [255, 255, 1]);
    const p1 = SpaceGroup.fromNumber(1);
    let seed = 7;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const map = fullMap(grid, p1, () => random());
    const s = sliceMap(map, voxelRows(map), grid, p1, parseSlicePlane("h,k,0"));
    expect([s.width, s.height]).toEqual([511, 511]);
    const markup = mapSliceMarkup(s, sliceColourRange(s.values), "worst case");
    expect(markup.length).toBeLessThan(400_000);
  }, 60_000);
});
