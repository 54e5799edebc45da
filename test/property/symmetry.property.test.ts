import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { SpaceGroup } from "../../src/symmetry/space-group.ts";
import { ASU_CODE, isInsideReferenceAsu } from "../../src/symmetry/reciprocal-asu.ts";
import { SPACE_GROUP_SETTINGS } from "../../src/symmetry/space-group-settings.ts";

const groups = Array.from({ length: 230 }, (_, i) => SpaceGroup.fromNumber(i + 1));

/** h·R for rotation m of `rot` (row vector times matrix). */
function hR(rot: Int32Array, m: number, h: number, k: number, l: number): [number, number, number] {
  const o = 9 * m;
  return [
    h * rot[o] + k * rot[o + 3] + l * rot[o + 6],
    h * rot[o + 1] + k * rot[o + 4] + l * rot[o + 7],
    h * rot[o + 2] + k * rot[o + 5] + l * rot[o + 8],
  ];
}

const z = (x: number): number => (x === 0 ? 0 : x);

/** Straightforward transcription of cctbx asu.cpp from the reference notes, used as an oracle for the fast paths. */
function naiveMap(sg: SpaceGroup, h: number, k: number, l: number, anomalous: boolean): [number, number, number] {
  const code = ASU_CODE[sg.referenceAsu];
  const n = sg.rotations.length / 9;
  for (let m = 0; m < n; m++) {
    const r = hR(sg.rotations, m, h, k, l);
    if (isInsideReferenceAsu(code, r[0], r[1], r[2])) return [z(r[0]), z(r[1]), z(r[2])];
  }
  for (let m = 0; m < n; m++) {
    const r = hR(sg.rotations, m, h, k, l);
    if (isInsideReferenceAsu(code, -r[0], -r[1], -r[2])) {
      return anomalous ? [z(r[0]), z(r[1]), z(r[2])] : [z(-r[0]), z(-r[1]), z(-r[2])];
    }
  }
  throw new Error("no image in ASU");
}

const idx = fc.integer({ min: -40, max: 40 });
const arb = fc.record({ g: fc.integer({ min: 0, max: 229 }), h: idx, k: idx, l: idx, anomalous: fc.boolean() });

describe("map_to_asu properties over all 230 space groups", () => {
  it("result lies in the reference ASU (or its Friedel mate does, anomalous) and is symmetry-equivalent", () => {
    fc.assert(
      fc.property(arb, ({ g, h, k, l, anomalous }) => {
        const sg = groups[g];
        const code = ASU_CODE[sg.referenceAsu];
        const r = sg.mapToAsu(h, k, l, anomalous);
        const inside = isInsideReferenceAsu(code, r[0], r[1], r[2]);
        if (!anomalous) expect(inside).toBe(true);
        else expect(inside || isInsideReferenceAsu(code, -r[0], -r[1], -r[2])).toBe(true);
        const n = sg.rotations.length / 9;
        let found = false;
        for (let m = 0; m < n && !found; m++) {
          const e = hR(sg.rotations, m, h, k, l);
          if (e[0] === r[0] && e[1] === r[1] && e[2] === r[2]) found = true;
          // non-anomalous: −h·R also allowed (Friedel)
          if (!anomalous && e[0] === -r[0] && e[1] === -r[1] && e[2] === -r[2]) found = true;
        }
        expect(found).toBe(true);
      }),
      { seed: 42, numRuns: 4000 },
    );
  });

  it("is idempotent", () => {
    fc.assert(
      fc.property(arb, ({ g, h, k, l, anomalous }) => {
        const sg = groups[g];
        const r = sg.mapToAsu(h, k, l, anomalous);
        expect(sg.mapToAsu(r[0], r[1], r[2], anomalous)).toEqual(r);
      }),
      { seed: 42, numRuns: 4000 },
    );
  });

  it("maps every member of an orbit to the same representative", () => {
    fc.assert(
      fc.property(arb, ({ g, h, k, l, anomalous }) => {
        const sg = groups[g];
        const r = sg.mapToAsu(h, k, l, anomalous);
        const n = sg.rotations.length / 9;
        for (let m = 0; m < n; m++) {
          const e = hR(sg.rotations, m, h, k, l);
          expect(sg.mapToAsu(e[0], e[1], e[2], anomalous)).toEqual(r);
          if (!anomalous) expect(sg.mapToAsu(-e[0], -e[1], -e[2], false)).toEqual(r);
        }
      }),
      { seed: 42, numRuns: 1500 },
    );
  });

  it("systematic absence and centricity are orbit invariants", () => {
    fc.assert(
      fc.property(arb, ({ g, h, k, l }) => {
        const sg = groups[g];
        const r = sg.mapToAsu(h, k, l);
        expect(sg.isSysAbsent(r[0], r[1], r[2])).toBe(sg.isSysAbsent(h, k, l));
        expect(sg.isCentric(r[0], r[1], r[2])).toBe(sg.isCentric(h, k, l));
        if (sg.isCentrosymmetric) expect(sg.isCentric(h, k, l)).toBe(true);
      }),
      { seed: 42, numRuns: 3000 },
    );
  });

  it("batch (closed-form fast path) equals the naive cctbx loop on a full index grid, for every group", () => {
    const span = 7;
    const side = 2 * span + 1;
    const hkl = new Int32Array(3 * side * side * side);
    let p = 0;
    for (let h = -span; h <= span; h++) {
      for (let k = -span; k <= span; k++) {
        for (let l = -span; l <= span; l++) {
          hkl[p++] = h;
          hkl[p++] = k;
          hkl[p++] = l;
        }
      }
    }
    for (const sg of groups) {
      for (const anomalous of [false, true]) {
        const out = sg.mapToAsuBatch(hkl, anomalous);
        let mismatches = 0;
        for (let i = 0; i < hkl.length; i += 3) {
          const e = naiveMap(sg, hkl[i], hkl[i + 1], hkl[i + 2], anomalous);
          if (out[i] !== e[0] || out[i + 1] !== e[1] || out[i + 2] !== e[2]) mismatches++;
        }
        expect(mismatches, `${sg.symbol} anomalous=${anomalous}`).toBe(0);
      }
    }
  });

  it("batch equals scalar, also in place", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 229 }),
        fc.array(fc.tuple(idx, idx, idx), { minLength: 1, maxLength: 50 }),
        fc.boolean(),
        (g, rows, anomalous) => {
          const sg = groups[g];
          const flat = Int32Array.from(rows.flat());
          const out = sg.mapToAsuBatch(flat, anomalous);
          rows.forEach(([h, k, l], i) => {
            expect(Array.from(out.subarray(3 * i, 3 * i + 3))).toEqual(sg.mapToAsu(h, k, l, anomalous));
          });
          sg.mapToAsuBatch(flat, anomalous, flat);
          expect(flat).toEqual(out);
        },
      ),
      { seed: 42, numRuns: 500 },
    );
  });
});

/** The tabulated non-reference settings, and a few settings reached only through a change-of-basis suffix. */
const settings = [
  ...SPACE_GROUP_SETTINGS.map(([, hall]) => SpaceGroup.fromHall(hall)),
  ...[" P 1 (a+b,a-b,c)", " P 2y (a-c,b,a+c)", " I 2y (x+1/4,y,z)", "-P 4 (z,x,y)", " P 3 2 (y,z,x)"].map((h) =>
    SpaceGroup.fromHall(h),
  ),
];

/** cctbx's `asu::is_inside` in a setting: h·V (numerators truncated like C++ integer division) in the reference ASU. */
function insideInSetting(sg: SpaceGroup, a: number, b: number, c: number): boolean {
  const code = ASU_CODE[sg.referenceAsu];
  const v = sg.changeOfBasis?.r;
  if (v === undefined) return isInsideReferenceAsu(code, a, b, c);
  const t = (x: number): number => Math.trunc(Math.round(x * 24) / 24);
  return isInsideReferenceAsu(
    code,
    t(a * v[0] + b * v[3] + c * v[6]),
    t(a * v[1] + b * v[4] + c * v[7]),
    t(a * v[2] + b * v[5] + c * v[8]),
  );
}

/** The cctbx operator loops in a setting, as {@link naiveMap} does in the reference setting. */
function naiveMapInSetting(
  sg: SpaceGroup,
  h: number,
  k: number,
  l: number,
  anomalous: boolean,
): [number, number, number] {
  const n = sg.rotations.length / 9;
  for (let m = 0; m < n; m++) {
    const r = hR(sg.rotations, m, h, k, l);
    if (insideInSetting(sg, r[0], r[1], r[2])) return [z(r[0]), z(r[1]), z(r[2])];
  }
  for (let m = 0; m < n; m++) {
    const r = hR(sg.rotations, m, h, k, l);
    if (insideInSetting(sg, -r[0], -r[1], -r[2])) {
      return anomalous ? [z(r[0]), z(r[1]), z(r[2])] : [z(-r[0]), z(-r[1]), z(-r[2])];
    }
  }
  throw new Error("no image in ASU");
}

describe("map_to_asu in non-reference settings", () => {
  it("batch (with its fast path) equals the naive cctbx loop on an index grid, for every tabulated setting", () => {
    const span = 5;
    const rows: number[] = [];
    for (let h = -span; h <= span; h++) {
      for (let k = -span; k <= span; k++) for (let l = -span; l <= span; l++) rows.push(h, k, l);
    }
    const hkl = Int32Array.from(rows);
    for (const sg of settings) {
      for (const anomalous of [false, true]) {
        const out = sg.mapToAsuBatch(hkl, anomalous);
        let mismatches = 0;
        for (let i = 0; i < hkl.length; i += 3) {
          // lattice-absent indices of a centred setting have no integral reference index; only allowed ones count
          if (sg.isSysAbsent(hkl[i], hkl[i + 1], hkl[i + 2])) continue;
          const e = naiveMapInSetting(sg, hkl[i], hkl[i + 1], hkl[i + 2], anomalous);
          if (out[i] !== e[0] || out[i + 1] !== e[1] || out[i + 2] !== e[2]) mismatches++;
        }
        expect(mismatches, `${sg.hall} anomalous=${anomalous}`).toBe(0);
      }
    }
  });

  it("batch equals scalar, also in place", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: settings.length - 1 }),
        fc.array(fc.tuple(idx, idx, idx), { minLength: 1, maxLength: 50 }),
        fc.boolean(),
        (g, rows, anomalous) => {
          const sg = settings[g];
          const flat = Int32Array.from(rows.flat());
          const out = sg.mapToAsuBatch(flat, anomalous);
          rows.forEach(([h, k, l], i) => {
            expect(Array.from(out.subarray(3 * i, 3 * i + 3))).toEqual(sg.mapToAsu(h, k, l, anomalous));
          });
          sg.mapToAsuBatch(flat, anomalous, flat);
          expect(flat).toEqual(out);
        },
      ),
      { seed: 43, numRuns: 500 },
    );
  });
});
