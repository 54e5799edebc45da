import { describe, it, expect } from "vitest";
import { fileURLToPath } from "node:url";
import { InputError } from "../../src/errors.ts";
import { ReflectionTable, compareColumnNames } from "../../src/table/reflection-table.ts";
import { COLUMN_TYPES, elementBytes, elementWidth } from "../../src/table/column-types.ts";
import { getFlags, ReflectionFlags, setFlags, unsetFlags } from "../../src/table/flags.ts";
import { readReflections } from "../../src/io/refl-read.ts";

const CYS = fileURLToPath(new URL("../fixtures/refl/l_cysteine_11_integrated.refl", import.meta.url));

describe("column types", () => {
  it("element widths and byte sizes match the DIALS flex types (§6.1 table)", () => {
    const expected: Record<string, [number, number]> = {
      bool: [1, 1],
      int: [1, 4],
      "std::size_t": [1, 8],
      double: [1, 8],
      "vec2<double>": [2, 16],
      "vec3<double>": [3, 24],
      "mat3<double>": [9, 72],
      int6: [6, 24],
      "cctbx::miller::index<>": [3, 12],
      "Shoebox<>": [1, 0],
    };
    expect([...COLUMN_TYPES].sort()).toEqual(Object.keys(expected).sort());
    for (const t of COLUMN_TYPES) expect([elementWidth(t), elementBytes(t)]).toEqual(expected[t]);
  });
});

describe("ReflectionTable", () => {
  it("validates nrows and identifiers", () => {
    expect(() => new ReflectionTable(-1)).toThrow(InputError);
    expect(() => new ReflectionTable(1.5)).toThrow(InputError);
    expect(() => new ReflectionTable(1, new Map([[-1, "x"]]))).toThrow(InputError);
    const ids = new Map([[3, "a"]]);
    const t = new ReflectionTable(2, ids);
    ids.set(4, "b");
    expect(t.identifiers.size).toBe(1);
  });

  it("setColumn checks lengths and array classes", () => {
    const t = new ReflectionTable(3);
    expect(() => {
      t.setColumn("x", { type: "vec3<double>", data: new Float64Array(8) });
    }).toThrow(/"x".*8 values, expected 9/);
    expect(() => {
      t.setColumn("x", { type: "double", data: new Int32Array(3) as unknown as Float64Array });
    }).toThrow(InputError);
    expect(() => {
      t.setColumn("sb", { type: "Shoebox<>", data: { offsets: new Float64Array(3), bytes: new Uint8Array(0) } });
    }).toThrow(/4/);
    expect(() => {
      t.setColumn("sb", {
        type: "Shoebox<>",
        data: { offsets: new Float64Array([0, 5, 2, 5]), bytes: new Uint8Array(5) },
      });
    }).toThrow(/non-decreasing/);
    t.setColumn("x", { type: "vec3<double>", data: new Float64Array(9) });
    expect(t.has("x")).toBe(true);
    expect(t.columnType("x")).toBe("vec3<double>");
    t.deleteColumn("x");
    expect(t.has("x")).toBe(false);
  });

  it("typed getters throw InputError naming the column when it is absent or of another type", () => {
    const t = new ReflectionTable(1);
    t.setColumn("d", { type: "double", data: new Float64Array([2]) });
    expect(t.getDouble("d")[0]).toBe(2);
    expect(() => t.column("zeta")).toThrow(/"zeta"/);
    expect(() => t.getInt("d")).toThrow(InputError);
    expect(() => t.getInt("d")).toThrow(/"d" has type double, expected int/);
    expect(() => t.getMillerIndex()).toThrow(/"miller_index"/);
    expect(() => t.getVec3("d")).toThrow(InputError);
    expect(() => t.getSizeT("d")).toThrow(InputError);
  });

  it("columnNames is byte-wise (UTF-8) sorted like std::map", () => {
    const t = new ReflectionTable(0);
    const names = ["b", "a.b", "Z", "a", "ab", "\uffff", "😀", "é", "a_b", "A"];
    for (const n of names) t.setColumn(n, { type: "bool", data: new Uint8Array(0) });
    // UTF-8: 'A'(41) < 'Z'(5a) < 'a'(61) < 'a.b' < 'a_b' < 'ab' < 'b' < 'é'(c3 a9) < U+FFFF(ef bf bf) < 😀(f0 9f 98 80)
    expect(t.columnNames()).toEqual(["A", "Z", "a", "a.b", "a_b", "ab", "b", "é", "\uffff", "😀"]);
    expect(compareColumnNames("\uffff", "😀")).toBeLessThan(0);
  });

  it("select by mask and by indices gathers every column type, shoeboxes included", () => {
    const t = new ReflectionTable(4, new Map([[0, "e0"]]));
    t.setColumn("i", { type: "int", data: new Int32Array([10, 11, 12, 13]) });
    t.setColumn("v", { type: "vec2<double>", data: new Float64Array([0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5]) });
    t.setColumn("f", { type: "std::size_t", data: new BigUint64Array([1n, 2n ** 60n, 3n, 4n]) });
    const bytes = new Uint8Array([1, 2, 2, 3, 3, 3]);
    t.setColumn("sb", { type: "Shoebox<>", data: { offsets: new Float64Array([0, 0, 1, 3, 6]), bytes } });
    const byMask = t.select(new Uint8Array([0, 1, 0, 1]));
    const byIdx = t.select([1, 3]);
    for (const s of [byMask, byIdx, t.select(new Int32Array([1, 3])), t.select(new Uint32Array([1, 3]))]) {
      expect(s.nrows).toBe(2);
      expect([...s.getInt("i")]).toEqual([11, 13]);
      expect([...s.getVec2("v")]).toEqual([1, 1.5, 3, 3.5]);
      expect([...s.getSizeT("f")]).toEqual([2n ** 60n, 4n]);
      expect([...s.getShoebox("sb").offsets]).toEqual([0, 1, 4]);
      expect([...s.getShoebox("sb").bytes]).toEqual([1, 3, 3, 3]);
      expect(s.identifiers.get(0)).toBe("e0");
    }
    const rev = t.select([3, 0, 3]);
    expect([...rev.getInt("i")]).toEqual([13, 10, 13]);
    // the selection is a copy
    byIdx.getInt("i")[0] = 99;
    expect(t.getInt("i")[1]).toBe(11);
    expect(() => t.select(new Uint8Array(3))).toThrow(InputError);
    expect(() => t.select([4])).toThrow(/outside \[0, 4\)/);
    expect(() => t.select([0.5])).toThrow(InputError);
    expect(t.select([]).nrows).toBe(0);
  });
});

describe("flags", () => {
  it("flag values are DIALS's bits (§6.1)", () => {
    expect(ReflectionFlags.integratedSum).toBe(256);
    expect(ReflectionFlags.integrated).toBe(0x300);
    expect(ReflectionFlags.badForScaling).toBe(0x1c00000);
    expect(ReflectionFlags.scaled).toBe(1 << 26);
    expect(ReflectionFlags.notSuitableForRefinement).toBe(1 << 27);
    const values = Object.values(ReflectionFlags);
    for (const v of values) expect(v).toBeLessThan(2 ** 31);
  });

  it("get/set/unset touch only the requested bits and keep the high 32 bits", () => {
    const t = new ReflectionTable(3);
    const high = 0xdead_beefn << 32n;
    t.setColumn("flags", { type: "std::size_t", data: new BigUint64Array([high | 0x100n, 0x300n, high]) });
    expect([...getFlags(t, ReflectionFlags.integratedSum)]).toEqual([1, 1, 0]);
    expect([...getFlags(t, ReflectionFlags.integrated)]).toEqual([1, 1, 0]);
    expect([...getFlags(t, ReflectionFlags.integrated, true)]).toEqual([0, 1, 0]);
    setFlags(t, new Uint8Array([1, 0, 1]), ReflectionFlags.outlierInScaling | (1 << 31));
    expect([...t.getSizeT("flags")]).toEqual([high | 0x100n | 0x80800000n, 0x300n, high | 0x80800000n]);
    unsetFlags(t, new Uint8Array([1, 1, 1]), ReflectionFlags.integratedSum | (1 << 31));
    expect([...t.getSizeT("flags")]).toEqual([high | 0x800000n, 0x200n, high | 0x800000n]);
    expect([...getFlags(t, ReflectionFlags.badForScaling)]).toEqual([1, 0, 1]);
    expect(() => getFlags(t, 2 ** 32)).toThrow(InputError);
    expect(() => getFlags(t, 0.5)).toThrow(InputError);
    expect(() => {
      setFlags(t, new Uint8Array(2), 1);
    }).toThrow(InputError);
  });

  it("setFlags creates a zero flags column; getFlags without one throws", () => {
    const t = new ReflectionTable(2);
    expect(() => getFlags(t, 1)).toThrow(/"flags"/);
    setFlags(t, new Uint8Array([0, 1]), ReflectionFlags.scaled);
    expect([...t.getSizeT("flags")]).toEqual([0n, BigInt(1 << 26)]);
  });

  it("counts on the DIALS file: every l_cysteine reflection is predicted and integrated by summation", async () => {
    const t = await readReflections(CYS);
    const f = t.getSizeT("flags");
    const pred = getFlags(t, ReflectionFlags.predicted);
    const sum = getFlags(t, ReflectionFlags.integratedSum);
    for (let i = 0; i < t.nrows; i++) {
      expect(pred[i]).toBe(Number(f[i] & 1n));
      expect(sum[i]).toBe(Number((f[i] >> 8n) & 1n));
    }
    expect(sum[0]).toBe(1);
  });
});
