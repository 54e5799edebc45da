import { describe, it, expect } from "vitest";
import { ReflectionTable } from "../../src/table/reflection-table.ts";

function words(a: Float64Array | BigUint64Array): number[] {
  return [...new Uint32Array(a.buffer, a.byteOffset, a.byteLength / 4)];
}

function sample(): ReflectionTable {
  const t = new ReflectionTable(3, new Map([[0, "exp-a"]]));
  const d = new Float64Array([1.5, -0, 0]);
  // row 2: a quiet NaN with a payload (0x7ff80000_deadbeef), written through the 32-bit words
  new Uint32Array(d.buffer)[4] = 0xdeadbeef;
  new Uint32Array(d.buffer)[5] = 0x7ff80000;
  t.setColumn("d", { type: "double", data: d });
  t.setColumn("flags", { type: "std::size_t", data: new BigUint64Array([0n, 2n ** 64n - 1n, 2n ** 63n + 5n]) });
  t.setColumn("miller_index", {
    type: "cctbx::miller::index<>",
    data: new Int32Array([1, -2, 3, -4, 5, -6, 7, 8, -9]),
  });
  t.setColumn("entering", { type: "bool", data: new Uint8Array([1, 0, 1]) });
  t.setColumn("s1", { type: "vec3<double>", data: new Float64Array([1, 2, 3, 4, 5, 6, 7, 8, 9]) });
  t.setColumn("sb", {
    type: "Shoebox<>",
    data: { offsets: new Float64Array([0, 2, 2, 5]), bytes: new Uint8Array([9, 8, 7, 6, 5]) },
  });
  return t;
}

describe("ReflectionTable.copy", () => {
  it("copies every column bit for bit (NaN payloads, -0, 64-bit flags) into independent arrays", () => {
    const t = sample();
    const c = t.copy();
    expect(c.nrows).toBe(3);
    expect(c.columnNames()).toEqual(t.columnNames());
    expect(words(c.getDouble("d"))).toEqual([0, 0x3ff80000, 0, 0x80000000, 0xdeadbeef, 0x7ff80000]);
    expect([...c.getSizeT("flags")]).toEqual([0n, 2n ** 64n - 1n, 2n ** 63n + 5n]);
    expect([...c.getMillerIndex()]).toEqual([1, -2, 3, -4, 5, -6, 7, 8, -9]);
    expect([...c.getBool("entering")]).toEqual([1, 0, 1]);
    expect([...c.getVec3("s1")]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect([...c.getShoebox("sb").offsets]).toEqual([0, 2, 2, 5]);
    expect([...c.getShoebox("sb").bytes]).toEqual([9, 8, 7, 6, 5]);
    // independent storage and identifiers
    c.getDouble("d")[0] = 42;
    c.getSizeT("flags")[0] = 7n;
    c.getShoebox("sb").bytes[0] = 0;
    c.identifiers.set(1, "exp-b");
    expect(t.getDouble("d")[0]).toBe(1.5);
    expect(t.getSizeT("flags")[0]).toBe(0n);
    expect(t.getShoebox("sb").bytes[0]).toBe(9);
    expect(t.identifiers.has(1)).toBe(false);
    expect(c.identifiers.get(0)).toBe("exp-a");
  });

  it("select keeps the same bits: NaN payloads and 64-bit flags survive a gather", () => {
    const t = sample();
    const s = t.select(new Int32Array([2, 1, 2]));
    expect(words(s.getDouble("d"))).toEqual([0xdeadbeef, 0x7ff80000, 0, 0x80000000, 0xdeadbeef, 0x7ff80000]);
    expect([...s.getSizeT("flags")]).toEqual([2n ** 63n + 5n, 2n ** 64n - 1n, 2n ** 63n + 5n]);
    expect([...s.getMillerIndex()]).toEqual([7, 8, -9, -4, 5, -6, 7, 8, -9]);
    expect([...s.getVec3("s1")]).toEqual([7, 8, 9, 4, 5, 6, 7, 8, 9]);
    expect([...s.getShoebox("sb").offsets]).toEqual([0, 3, 3, 6]);
    expect([...s.getShoebox("sb").bytes]).toEqual([7, 6, 5, 7, 6, 5]);
    const m = t.select(new Uint8Array([1, 0, 1]));
    expect(words(m.getDouble("d"))).toEqual([0, 0x3ff80000, 0xdeadbeef, 0x7ff80000]);
    expect([...m.getSizeT("flags")]).toEqual([0n, 2n ** 63n + 5n]);
  });

  it("an empty table copies to an empty table", () => {
    const t = new ReflectionTable(0);
    t.setColumn("d", { type: "double", data: new Float64Array(0) });
    const c = t.copy();
    expect(c.nrows).toBe(0);
    expect(c.getDouble("d").length).toBe(0);
  });

  it("index selections are range-checked for typed index arrays too", () => {
    const t = sample();
    expect(() => t.select(new Int32Array([0, -1]))).toThrow(/selection index -1 at position 1 is outside \[0, 3\)/);
    expect(() => t.select(new Uint32Array([3]))).toThrow(/selection index 3 at position 0 is outside \[0, 3\)/);
  });
});
