import { describe, it, expect } from "vitest";
import { ConfigError } from "../../src/errors.ts";
import { SpaceGroup } from "../../src/symmetry/space-group.ts";
import { SPACE_GROUP_TABLE } from "../../src/symmetry/space-group-table.ts";

describe("SpaceGroup numbering: table spellings and other spellings agree", () => {
  it("every reference Hall symbol, as written, trimmed, or re-spaced (not a table string), gets its number", () => {
    for (const e of SPACE_GROUP_TABLE) {
      const trimmed = e.hall.trim();
      // doubled inner spaces: the same symbol for the parser, but no table entry is spelt like this
      const respaced = `  ${trimmed.replace(/ /g, "  ")} `;
      const a = SpaceGroup.fromHall(trimmed);
      const b = SpaceGroup.fromHall(respaced);
      expect(a.number).toBe(e.number);
      expect(b.number).toBe(e.number);
      expect(b.symbol).toBe(a.symbol);
      expect(b.operatorsXyz()).toEqual(a.operatorsXyz());
      expect(b.hall).toBe(respaced);
    }
  });

  it("a symbol in another setting gets its number but is not taken for the reference setting", () => {
    // " P 2x" is a tabulated non-reference setting of No. 3; "B 2y" is no tabulated setting at all
    expect(() => SpaceGroup.fromHall(" B 2y")).toThrow(ConfigError);
    expect(SpaceGroup.fromHall(" P 2x").number).toBe(3);
    expect(SpaceGroup.fromHall(" P 2x").isReferenceSetting).toBe(false);
    expect(SpaceGroup.fromHall(" P 2y").isReferenceSetting).toBe(true);
  });

  it("DIALS's spellings of common groups get the sgtbx numbers (P 43 21 2, P 21 21 21, C 1 2 1, P 61 2 2)", () => {
    expect(SpaceGroup.fromHall(" P 4nw 2abw").number).toBe(96);
    expect(SpaceGroup.fromHall("P 4nw 2abw").symbol).toBe("P 43 21 2");
    expect(SpaceGroup.fromHall(" P 2ac 2ab").number).toBe(19);
    expect(SpaceGroup.fromHall(" C 2y").number).toBe(5);
    expect(SpaceGroup.fromHall(" P 61 2 (0 0 5)").number).toBe(178);
  });
});
