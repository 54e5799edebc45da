import { describe, it, expect } from "vitest";
import { SpaceGroup } from "../../src/symmetry/space-group.ts";
import { parseHallSymbol, parseXyzOperator, T_DEN } from "../../src/symmetry/hall-symbol.ts";
import { SPACE_GROUP_TABLE } from "../../src/symmetry/space-group-table.ts";
import { laueClassOf } from "../../src/symmetry/laue-class.ts";
import { ConfigError } from "../../src/errors.ts";

/** Point-group order by International Tables number range (ITA Vol. A), independent of the parser. */
function pointGroupOrder(n: number): number {
  const ranges: [number, number][] = [
    [1, 1],
    [2, 2],
    [9, 2],
    [15, 4],
    [46, 4],
    [74, 8],
    [82, 4],
    [88, 8],
    [122, 8],
    [142, 16],
    [146, 3],
    [148, 6],
    [161, 6],
    [167, 12],
    [174, 6],
    [176, 12],
    [190, 12],
    [194, 24],
    [199, 12],
    [220, 24],
    [230, 48],
  ];
  for (const [last, order] of ranges) if (n <= last) return order;
  throw new Error("bad number");
}

/** Laue class by number range (ITA), independent of the code under test. */
function expectedLaue(n: number): string {
  const ranges: [number, string][] = [
    [2, "-1"],
    [15, "2/m"],
    [74, "mmm"],
    [88, "4/m"],
    [142, "4/mmm"],
    [148, "-3"],
    [167, "-3m"],
    [176, "6/m"],
    [194, "6/mmm"],
    [206, "m-3"],
    [230, "m-3m"],
  ];
  for (const [last, c] of ranges) if (n <= last) return c;
  throw new Error("bad number");
}

const CENTRING_MULTIPLICITY: Record<string, number> = { P: 1, A: 2, B: 2, C: 2, I: 2, R: 3, F: 4 };

describe("space-group table and Hall parser", () => {
  it("has 230 entries numbered 1..230", () => {
    expect(SPACE_GROUP_TABLE).toHaveLength(230);
    SPACE_GROUP_TABLE.forEach((e, i) => {
      expect(e.number).toBe(i + 1);
    });
  });

  it("parses every reference Hall symbol to a group of the right order, number, Laue class and lattice", () => {
    for (const e of SPACE_GROUP_TABLE) {
      const sg = SpaceGroup.fromHall(e.hall);
      const lattice = e.symbol.charAt(0);
      expect(sg.number).toBe(e.number);
      expect(sg.symbol).toBe(e.symbol);
      expect(sg.operators.length).toBe(pointGroupOrder(e.number) * CENTRING_MULTIPLICITY[lattice]);
      expect(sg.laueClass).toBe(expectedLaue(e.number));
      expect(sg.latticeType).toBe(lattice);
      expect(sg.isCentrosymmetric).toBe(e.hall.startsWith("-"));
      const fInv = sg.isCentrosymmetric ? 2 : 1;
      expect(sg.nSmx * fInv).toBe(pointGroupOrder(e.number));
      expect(sg.rotations.length).toBe(9 * pointGroupOrder(e.number));
    }
  });

  it("fromNumber gives the reference setting and rejects bad numbers", () => {
    const sg = SpaceGroup.fromNumber(96);
    expect(sg.hall).toBe(" P 4nw 2abw");
    expect(sg.symbol).toBe("P 43 21 2");
    expect(sg.nSmx).toBe(8);
    for (const bad of [0, 231, 1.5, Number.NaN, -3]) {
      expect(() => SpaceGroup.fromNumber(bad)).toThrow(ConfigError);
    }
  });

  it("accepts the Hall spellings DIALS writes and equivalent spellings", () => {
    expect(SpaceGroup.fromHall(" P 4nw 2abw").number).toBe(96);
    expect(SpaceGroup.fromHall("-P 2ac 2ab").number).toBe(61);
    expect(SpaceGroup.fromHall(" P 31 2 (x,y,z+1/3)").number).toBe(151);
    expect(SpaceGroup.fromHall(" P 31 2 (0 0 4)").number).toBe(151);
    expect(SpaceGroup.fromHall(' P 31 2"').number).toBe(152);
    expect(SpaceGroup.fromHall(" P 32 2 (0 0 2)").number).toBe(153);
    expect(SpaceGroup.fromHall("P_2ac_2ab").number).toBe(19);
    expect(SpaceGroup.fromHall("P 2zac 2xab").number).toBe(19);
    expect(SpaceGroup.fromHall(" P 2ac 2ab 3").number).toBe(198);
    expect(SpaceGroup.fromHall("p 2ac 2ab 3").number).toBe(198);
    expect(SpaceGroup.fromHall(" P 31 2 (0,0,4)").number).toBe(151);
  });

  it("expands a Hall symbol to the operators of ITA (P 43 21 2 and P 21 3)", () => {
    const key = (s: string): string => {
      const o = parseXyzOperator(s);
      return `${Array.from(o.r).join(",")};${Array.from(o.t, (x) => ((Math.round(x * T_DEN) % T_DEN) + T_DEN) % T_DEN).join(",")}`;
    };
    // ITA Vol. A, No. 96 and No. 198, general positions
    const p43212 = [
      "x,y,z",
      "-x,-y,z+1/2",
      "-y+1/2,x+1/2,z+3/4",
      "y+1/2,-x+1/2,z+1/4",
      "-x+1/2,y+1/2,-z+3/4",
      "x+1/2,-y+1/2,-z+1/4",
      "y,x,-z",
      "-y,-x,-z+1/2",
    ];
    const p213 = [
      "x,y,z",
      "-x+1/2,-y,z+1/2",
      "-x,y+1/2,-z+1/2",
      "x+1/2,-y+1/2,-z",
      "z,x,y",
      "z+1/2,-x+1/2,-y",
      "-z+1/2,-x,y+1/2",
      "-z,x+1/2,-y+1/2",
      "y,z,x",
      "-y,z+1/2,-x+1/2",
      "y+1/2,-z+1/2,-x",
      "-y+1/2,-z,x+1/2",
    ];
    for (const [n, ops] of [
      [96, p43212],
      [198, p213],
    ] as const) {
      const got = new Set(SpaceGroup.fromNumber(n).operatorsXyz().map(key));
      expect(got).toEqual(new Set(ops.map(key)));
    }
  });

  it("gives the operator list in xyz form with identity first and translations in [0, 1)", () => {
    const sg = SpaceGroup.fromNumber(146);
    const xyz = sg.operatorsXyz();
    expect(xyz[0]).toBe("x,y,z");
    expect(xyz).toContain("-y,x-y,z");
    expect(xyz).toContain("x+2/3,y+1/3,z+1/3");
    for (const op of sg.operators) for (const t of op.t) expect(t >= 0 && t < 1).toBe(true);
  });

  it("rejects malformed Hall symbols with ConfigError", () => {
    for (const bad of [
      "",
      "   ",
      "Q 2",
      "P 5",
      "P 2 2 2 2 2",
      "P 4 (x,y",
      "P 2 (x,y)",
      "P 21y2",
      "P 2'x'",
      "P 2q",
      "P 3 2 (0 0 4) x",
      "P 6 2 3",
    ]) {
      expect(() => SpaceGroup.fromHall(bad)).toThrow(ConfigError);
    }
    expect(() => parseHallSymbol("P 6z5")).toThrow(ConfigError);
    expect(parseHallSymbol(" P 65").operators).toHaveLength(6);
    expect(() => parseHallSymbol("P 2 2 (x,y,z) junk")).toThrow(ConfigError);
  });

  it("accepts a non-reference setting (I 1 2 1) as space group 5 in that setting", () => {
    const sg = SpaceGroup.fromHall(" I 2y");
    expect(sg.number).toBe(5);
    expect(sg.isReferenceSetting).toBe(false);
  });

  it("closes a group from generators: C 2y has 4 operators, F -4a 2 3 has 192", () => {
    expect(parseHallSymbol(" C 2y").operators).toHaveLength(4);
    expect(parseHallSymbol(" F -4a 2 3").operators).toHaveLength(96);
    expect(parseHallSymbol("-F 4ud 2vw 3").operators).toHaveLength(192);
  });

  it("tells the two -3m orientations apart", () => {
    expect(SpaceGroup.fromNumber(149).referenceAsu).toBe("-31m");
    expect(SpaceGroup.fromNumber(150).referenceAsu).toBe("-3m1");
    expect(SpaceGroup.fromNumber(166).referenceAsu).toBe("-3m1");
    expect(SpaceGroup.fromNumber(163).referenceAsu).toBe("-31m");
    expect(() =>
      laueClassOf(new Int32Array([1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])),
    ).toThrow(ConfigError);
  });

  it("caches groups by Hall symbol", () => {
    expect(SpaceGroup.fromHall(" P 4nw 2abw")).toBe(SpaceGroup.fromNumber(96));
  });
});
