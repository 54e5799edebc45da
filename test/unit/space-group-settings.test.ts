import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import { SpaceGroup } from "../../src/symmetry/space-group.ts";
import { parseHallSymbol, opKey } from "../../src/symmetry/hall-symbol.ts";
import { SPACE_GROUP_SETTINGS } from "../../src/symmetry/space-group-settings.ts";
import { ConfigError } from "../../src/errors.ts";

/** One group of cctbx's answers: the setting under two Hall spellings and ~30 indices with cctbx's results. */
interface SettingGroup {
  number: number;
  symbol: string;
  /** `space_group.type().hall_symbol()`: the reference Hall symbol with cctbx's change of basis. */
  hall: string;
  /** The Hall symbol of the setting's entry in sgtbx's symbol table. */
  hall_tabulated: string;
  is_reference_setting: boolean;
  hkl: [number, number, number][];
  asu: [number, number, number][];
  asu_anomalous: [number, number, number][];
  sys_absent: boolean[];
  centric: boolean[];
}

/** cctbx's answers: `asu-settings.json` (375 settings) and `asu-settings-more.json` (the other 155 tabulated ones). */
const readGroups = (name: string): SettingGroup[] =>
  (
    JSON.parse(readFileSync(new URL(`../fixtures/symmetry/${name}`, import.meta.url), "utf8")) as {
      groups: SettingGroup[];
    }
  ).groups;
const fixture = { groups: [...readGroups("asu-settings.json"), ...readGroups("asu-settings-more.json")] };

const key = (hall: string): string => parseHallSymbol(hall).operators.map(opKey).sort().join("|");

describe("space groups in every tabulated setting against cctbx (asu-settings*.json)", () => {
  it("holds all 530 tabulated settings of sgtbx, 300 of them non-reference", () => {
    expect(fixture.groups).toHaveLength(530);
    expect(fixture.groups.filter((g) => !g.is_reference_setting)).toHaveLength(300);
    // 530 Hermann–Mauguin symbols; three pairs of them share one tabulated Hall symbol (e.g. " C 2 2 -1ac")
    expect(new Set(fixture.groups.map((g) => g.symbol)).size).toBe(530);
  });

  it("both Hall spellings of each setting give the same operators", () => {
    for (const g of fixture.groups) expect(key(g.hall), g.hall).toBe(key(g.hall_tabulated));
  });

  for (const form of ["hall", "hall_tabulated"] as const) {
    it(`every group from its ${form} maps to cctbx's ASU (both kinds), absences and centric flags`, () => {
      let checked = 0;
      for (const g of fixture.groups) {
        const hall = g[form];
        const sg = SpaceGroup.fromHall(hall);
        expect(sg.number, hall).toBe(g.number);
        expect(sg.isReferenceSetting, hall).toBe(g.is_reference_setting);
        const flat = Int32Array.from(g.hkl.flat());
        expect(Array.from(sg.mapToAsuBatch(flat)), hall).toEqual(g.asu.flat());
        expect(Array.from(sg.mapToAsuBatch(flat, true)), hall).toEqual(g.asu_anomalous.flat());
        g.hkl.forEach(([h, k, l], i) => {
          expect(sg.mapToAsu(h, k, l), `${hall} ${h},${k},${l}`).toEqual(g.asu[i]);
          expect(sg.mapToAsu(h, k, l, true), `${hall} ${h},${k},${l} anomalous`).toEqual(g.asu_anomalous[i]);
          expect(sg.isSysAbsent(h, k, l), `${hall} ${h},${k},${l} absent`).toBe(g.sys_absent[i]);
          expect(sg.isCentric(h, k, l), `${hall} ${h},${k},${l} centric`).toBe(g.centric[i]);
        });
        checked++;
      }
      expect(checked).toBe(530);
    });
  }

  it("a tabulated setting takes cctbx's change of basis and the reference setting's Laue class", () => {
    const i121 = SpaceGroup.fromHall(" I 2y");
    expect(i121.number).toBe(5);
    expect(i121.symbol).toBe("C 1 2 1");
    expect(i121.latticeType).toBe("I");
    expect(i121.changeOfBasis === undefined ? [] : Array.from(i121.changeOfBasis.r)).toEqual([
      1, 0, 0, 0, 1, 0, -1, 0, 1,
    ]);
    const r3r = SpaceGroup.fromHall("-P 3*");
    expect(r3r.number).toBe(148);
    expect(r3r.latticeType).toBe("P");
    expect(r3r.referenceAsu).toBe("-3");
    expect(SpaceGroup.fromHall(" P 3* 2").referenceAsu).toBe(SpaceGroup.fromNumber(155).referenceAsu);
    expect(SpaceGroup.fromNumber(5).isReferenceSetting).toBe(true);
    expect(SpaceGroup.fromNumber(5).changeOfBasis).toBeUndefined();
  });

  it("every tabulated setting is a reference Hall symbol with a change of basis, in number order", () => {
    let last = 0;
    for (const [, hall] of SPACE_GROUP_SETTINGS) {
      const sg = SpaceGroup.fromHall(hall);
      expect(sg.isReferenceSetting).toBe(false);
      expect(sg.number).toBeGreaterThanOrEqual(last);
      last = sg.number;
    }
  });
});

/** Every member of the orbit of (h, k, l) under the rotations of `sg` (inversion images included). */
function orbit(sg: SpaceGroup, h: number, k: number, l: number): [number, number, number][] {
  const r = sg.rotations;
  const out: [number, number, number][] = [];
  for (let o = 0; o < r.length; o += 9) {
    out.push([
      h * r[o] + k * r[o + 3] + l * r[o + 6],
      h * r[o + 1] + k * r[o + 4] + l * r[o + 7],
      h * r[o + 2] + k * r[o + 5] + l * r[o + 8],
    ]);
  }
  return out;
}

describe("change-of-basis suffixes", () => {
  it("the abc form reads as sgtbx does: new basis vectors, V = (rowsᵀ)⁻¹", () => {
    const xyz = SpaceGroup.fromHall(" C 2y (x,y,-x+z)");
    const abc = SpaceGroup.fromHall(" C 2y (a+c,b,c)");
    expect(abc.number).toBe(5);
    expect(abc.operatorsXyz()).toEqual(xyz.operatorsXyz());
    expect(Array.from(abc.changeOfBasis?.r ?? [])).toEqual(Array.from(xyz.changeOfBasis?.r ?? []));
    const indices: [number, number, number][] = [
      [1, 2, 3],
      [-3, 0, 5],
      [2, -4, -1],
    ];
    for (const [h, k, l] of indices) {
      expect(abc.mapToAsu(h, k, l)).toEqual(xyz.mapToAsu(h, k, l));
      expect(abc.mapToAsu(h, k, l, true)).toEqual(xyz.mapToAsu(h, k, l, true));
    }
  });

  it("a suffix on a tabulated setting composes with its change of basis", () => {
    const a = SpaceGroup.fromHall(" I 2y (x+1/4,y,z)");
    const b = SpaceGroup.fromHall(" C 2y (x+1/4,y,-x+z)");
    expect(a.number).toBe(5);
    expect(a.operatorsXyz().sort()).toEqual(b.operatorsXyz().sort());
    expect(Array.from(a.changeOfBasis?.r ?? [])).toEqual([1, 0, 0, 0, 1, 0, -1, 0, 1]);
    expect(Array.from(a.changeOfBasis?.t ?? [])).toEqual([0.25, 0, 0]);
    for (let h = -3; h <= 3; h++) {
      for (let l = -3; l <= 3; l++) expect(a.mapToAsu(h, 1, l, true)).toEqual(b.mapToAsu(h, 1, l, true));
    }
  });

  it("a change to a larger cell adds its centring vectors; to a too small cell is refused", () => {
    const c1 = SpaceGroup.fromHall(" P 1 (a+b,a-b,c)");
    expect(c1.number).toBe(1);
    expect(c1.latticeType).toBe("C");
    expect(c1.operatorsXyz()).toEqual(["x,y,z", "x+1/2,y+1/2,z"]);
    expect(c1.isSysAbsent(1, 2, 3)).toBe(true);
    expect(() => SpaceGroup.fromHall(" P 1 (x+y,x-y,z)")).toThrow(/" P 1 \(x\+y,x-y,z\)".*smaller/);
  });

  it("in an untabulated setting the ASU is still a fundamental domain (one representative per allowed orbit)", () => {
    for (const hall of [" P 2", " P 2x", " C 2y (x+z,y,z)", " P 2y (a-c,b,a+c)", " P 4 (z,x,y)", "-P 3 (y,z,x)"]) {
      const sg = SpaceGroup.fromHall(hall);
      for (let h = -3; h <= 3; h++) {
        for (let k = -3; k <= 3; k++) {
          for (let l = -3; l <= 3; l++) {
            // lattice-absent indices of a centred setting have no integral reference index (cctbx truncates)
            if (sg.isSysAbsent(h, k, l)) continue;
            const rep = sg.mapToAsu(h, k, l);
            const members = orbit(sg, h, k, l);
            const friedel = members.map(([a, b, c]) => [-a, -b, -c] as [number, number, number]);
            expect([...members, ...friedel].map((m) => m.join())).toContain(rep.join());
            for (const [a, b, c] of members) expect(sg.mapToAsu(a, b, c), hall).toEqual(rep);
            const anom = sg.mapToAsu(h, k, l, true);
            expect(
              members.map((m) => m.join()),
              hall,
            ).toContain(anom.join());
          }
        }
      }
    }
  });
});

describe("Hall symbol errors", () => {
  it("a malformed symbol or suffix is a ConfigError quoting the symbol, at most 120 characters", () => {
    for (const bad of [
      " P 2q",
      " C 2y (x,y,-x+w)",
      " C 2y (x,y,x)",
      " C 2y (a,b,c+1/2)",
      " C 2y (a,y,z)",
      " C 2y (x,y",
    ]) {
      expect(() => SpaceGroup.fromHall(bad)).toThrow(ConfigError);
      expect(() => SpaceGroup.fromHall(bad)).toThrow(`"${bad}"`);
    }
    const long = ` P 2 (${"x+".repeat(100)}x,y,z)`;
    let message = "";
    try {
      SpaceGroup.fromHall(long);
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      message = (e as Error).message;
    }
    const quoted = /"[^"]*"/.exec(message)?.[0] ?? "";
    expect(quoted.startsWith(`"${long.slice(0, 50)}`)).toBe(true);
    expect(quoted.length).toBeLessThanOrEqual(120 + 3); // 120 characters of the symbol, the quotes and "…";
  });

  it("a group that is no recognisable setting is a ConfigError asking for the change of basis", () => {
    expect(() => SpaceGroup.fromHall(" B 2y")).toThrow(/" B 2y".*change of basis/);
  });
});
