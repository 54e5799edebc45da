import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import { SpaceGroup } from "../../src/symmetry/space-group.ts";
import { parseXyzOperator, T_DEN } from "../../src/symmetry/hall-symbol.ts";
import { ConfigError } from "../../src/errors.ts";

interface AsuGroup {
  number: number;
  symbol: string;
  hall: string;
  laue_group: string;
  operators: string[];
  hkl: [number, number, number][];
  asu: [number, number, number][];
  asu_anomalous: [number, number, number][];
  sys_absent: boolean[];
  centric: boolean[];
}

const fixture = JSON.parse(readFileSync(new URL("../fixtures/symmetry/asu.json", import.meta.url), "utf8")) as {
  groups: AsuGroup[];
};

/** cctbx Laue-group symbol → our reference ASU name. */
const LAUE: Record<string, string> = {
  "P -1": "-1",
  "P 1 2/m 1": "2/m",
  "P m m m": "mmm",
  "P 4/m": "4/m",
  "P 4/m m m": "4/mmm",
  "P -3": "-3",
  "P -3 1 m": "-31m",
  "P -3 m 1": "-3m1",
  "P 6/m": "6/m",
  "P 6/m m m": "6/mmm",
  "P m -3": "m-3",
  "P m -3 m": "m-3m",
};

const opKey = (s: string): string => {
  const o = parseXyzOperator(s);
  const t = Array.from(o.t, (x) => ((Math.round(x * T_DEN) % T_DEN) + T_DEN) % T_DEN);
  return `${Array.from(o.r).join(",")};${t.join(",")}`;
};

describe("map_to_asu against cctbx (asu.json, 154 space groups)", () => {
  it("has the expected fixture size", () => {
    expect(fixture.groups).toHaveLength(154);
  });

  for (const g of fixture.groups) {
    it(`No. ${g.number} ${g.symbol} (${g.hall.trim()})`, () => {
      const sg = SpaceGroup.fromHall(g.hall);
      expect(sg.number).toBe(g.number);
      expect(sg.symbol).toBe(g.symbol);
      expect(sg.referenceAsu).toBe(LAUE[g.laue_group]);
      expect(new Set(sg.operatorsXyz().map(opKey))).toEqual(new Set(g.operators.map(opKey)));
      expect(sg.operators).toHaveLength(g.operators.length);
      const n = g.hkl.length;
      const flat = Int32Array.from(g.hkl.flat());
      const batch = sg.mapToAsuBatch(flat);
      const batchAnom = sg.mapToAsuBatch(flat, true);
      for (let i = 0; i < n; i++) {
        const [h, k, l] = g.hkl[i];
        expect(sg.mapToAsu(h, k, l), `asu ${g.hkl[i].join(",")}`).toEqual(g.asu[i]);
        expect(sg.mapToAsu(h, k, l, true), `asu_anomalous ${g.hkl[i].join(",")}`).toEqual(g.asu_anomalous[i]);
        expect(Array.from(batch.subarray(3 * i, 3 * i + 3))).toEqual(g.asu[i]);
        expect(Array.from(batchAnom.subarray(3 * i, 3 * i + 3))).toEqual(g.asu_anomalous[i]);
        expect(sg.isSysAbsent(h, k, l), `sys_absent ${g.hkl[i].join(",")}`).toBe(g.sys_absent[i]);
        expect(sg.isCentric(h, k, l), `centric ${g.hkl[i].join(",")}`).toBe(g.centric[i]);
      }
      // in place
      sg.mapToAsuBatch(flat, false, flat);
      expect(Array.from(flat)).toEqual(g.asu.flat());
    });
  }
});

describe("map_to_asu edge cases", () => {
  it("maps (0,0,0) to itself in every group and never returns -0", () => {
    for (let n = 1; n <= 230; n++) {
      const r = SpaceGroup.fromNumber(n).mapToAsu(0, 0, 0);
      expect(r).toEqual([0, 0, 0]);
      expect(Object.is(r[0], -0) || Object.is(r[1], -0) || Object.is(r[2], -0)).toBe(false);
    }
  });

  it("keeps Friedel mates apart only when anomalous (P 1 and P 43 21 2)", () => {
    const p1 = SpaceGroup.fromNumber(1);
    expect(p1.mapToAsu(12, -13, -14)).toEqual([-12, 13, 14]);
    expect(p1.mapToAsu(12, -13, -14, true)).toEqual([12, -13, -14]);
    const p43212 = SpaceGroup.fromNumber(96);
    // (1,2,3) and (-1,-2,-3) merge without anomalous, stay apart with it
    expect(p43212.mapToAsu(-1, -2, -3)).toEqual(p43212.mapToAsu(1, 2, 3));
    expect(p43212.mapToAsu(-1, -2, -3, true)).not.toEqual(p43212.mapToAsu(1, 2, 3, true));
  });

  it("finds systematic absences of screw axes and centring (P 43 21 2, I 2 2 2, F 2 2 2)", () => {
    const p43212 = SpaceGroup.fromNumber(96);
    expect(p43212.isSysAbsent(0, 0, 1)).toBe(true);
    expect(p43212.isSysAbsent(0, 0, 4)).toBe(false);
    expect(p43212.isSysAbsent(0, 0, 2)).toBe(true);
    expect(p43212.isSysAbsent(1, 0, 0)).toBe(true);
    expect(p43212.isSysAbsent(2, 0, 0)).toBe(false);
    const i222 = SpaceGroup.fromNumber(23);
    expect(i222.isSysAbsent(1, 1, 1)).toBe(true);
    expect(i222.isSysAbsent(2, 1, 1)).toBe(false);
    expect(i222.isSysAbsent(1, 1, 0)).toBe(false);
    expect(i222.isSysAbsent(1, 0, 0)).toBe(true);
    const f222 = SpaceGroup.fromNumber(22);
    expect(f222.isSysAbsent(1, 1, 1)).toBe(false);
    expect(f222.isSysAbsent(1, 1, 2)).toBe(true);
  });

  it("validates batch arguments", () => {
    const sg = SpaceGroup.fromNumber(1);
    expect(() => sg.mapToAsuBatch(new Int32Array(4))).toThrow(ConfigError);
    expect(() => sg.mapToAsuBatch(new Int32Array(3), false, new Int32Array(6))).toThrow(ConfigError);
    expect(() => sg.mapToAsu(0.5, 0, 0)).toThrow(ConfigError);
    expect(() => sg.isCentric(0, Number.NaN, 0)).toThrow(ConfigError);
    expect(() => sg.isSysAbsent(0, 0, 2 ** 40)).toThrow(ConfigError);
  });
});
