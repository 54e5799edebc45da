/**
 * The library's argument contract, swept over the whole public API: every function and constructor exported by
 * `src/index.ts`, and every public method and static method of each exported class, is called with valid arguments
 * and then with each argument in turn replaced by a hostile value (undefined, null, NaN, a negative or fractional
 * number, a string, `{}`, `[]`, a Map, and a one-shorter copy where an array is expected). Each call must either
 * succeed or throw one of the documented typed errors (`InputError`, `ConfigError`, `ParameterLimitExceeded`,
 * `DisabledComponentAccess`, `RefinementFailure`) with a one-line message: never a plain `TypeError`, `RangeError` or
 * `Error`. The table of calls (`library-contract-specs.ts`) must name exactly the exports and the methods found at run
 * time, so a new export or method cannot go unswept.
 */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import ts from "typescript";
import * as api from "../../src/index.ts";
import { buildContractFixtures, type ContractFixtures } from "./library-contract-fixtures.ts";
import { indexProgram } from "../unit/index-program.ts";
import { contractSpecs, type Args, type ExportSpec } from "./library-contract-specs.ts";

const TYPED = [
  api.InputError,
  api.ConfigError,
  api.ParameterLimitExceeded,
  api.DisabledComponentAccess,
  api.RefinementFailure,
] as const;

/** The hostile values every argument is swapped for, with how a failure names them. */
const HOSTILE: readonly [string, () => unknown][] = [
  ["undefined", () => undefined],
  ["null", () => null],
  ["NaN", () => NaN],
  ["-1", () => -1],
  ["1.5", () => 1.5],
  ["a string", () => "/no/such/dir/x"],
  ["{}", () => ({})],
  ["[]", () => []],
  ["a Map", () => new Map([[1, 2]])],
];

/** A copy of `v` one element shorter, when `v` is a non-empty typed array or array of numbers. */
function shorter(v: unknown): unknown {
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
    const a = v as unknown as Float64Array;
    return a.length > 0 ? a.slice(0, a.length - 1) : undefined;
  }
  if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === "number")) return v.slice(0, -1);
  return undefined;
}

/** What went wrong with one call, or undefined when it kept the contract. */
async function violation(call: () => unknown): Promise<string | undefined> {
  try {
    await call();
    return undefined;
  } catch (e) {
    if (TYPED.some((T) => e instanceof T)) {
      const message = (e as Error).message;
      if (message.includes("\n")) return `${(e as Error).name} over several lines: ${JSON.stringify(message)}`;
      if (message.trim() === "") return `${(e as Error).name} without a message`;
      return undefined;
    }
    const text = e instanceof Error ? `${e.name}: ${e.message}` : `${typeof e}: ${String(e)}`;
    return text.split("\n")[0].slice(0, 200);
  }
}

/** Calls with valid arguments, then with each position swapped for each hostile value; the violations found. */
async function sweep(
  label: string,
  args: Args,
  call: (a: unknown[]) => unknown,
  refused: string | undefined,
): Promise<string[]> {
  const found: string[] = [];
  const base = await violation(() => call(args()));
  if (base !== undefined) found.push(`${label}(valid arguments) → ${base}`);
  else if (refused === undefined) {
    try {
      await call(args());
    } catch (e) {
      found.push(`${label}(valid arguments) → refused (${(e as Error).message}); fix the valid arguments`);
    }
  }
  const n = args().length;
  for (let i = 0; i < n; i++) {
    const cases: [string, () => unknown][] = [...HOSTILE];
    const short = shorter(args()[i]);
    if (short !== undefined) cases.push(["an array one shorter", () => shorter(args()[i])]);
    for (const [what, value] of cases) {
      const a = args();
      a[i] = value();
      const v = await violation(() => call(a));
      if (v !== undefined) found.push(`${label} argument ${i + 1} = ${what} → ${v}`);
    }
  }
  return found;
}

/**
 * The public methods and static methods of each exported class, as TypeScript declares them (inherited ones
 * included; `private`, `protected` and `#` members are not API and are left out).
 */
function publicMembers(): Map<string, { methods: string[]; statics: string[] }> {
  const { checker, source, moduleSymbol } = indexProgram();
  const isPublicMethod = (p: ts.Symbol, wantStatic: boolean): boolean =>
    (p.declarations ?? []).some(
      (d) =>
        ts.isMethodDeclaration(d) &&
        !ts.isPrivateIdentifier(d.name) &&
        (ts.getCombinedModifierFlags(d) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) === 0 &&
        ((ts.getCombinedModifierFlags(d) & ts.ModifierFlags.Static) !== 0) === wantStatic,
    );
  const out = new Map<string, { methods: string[]; statics: string[] }>();
  for (const e of checker.getExportsOfModule(moduleSymbol)) {
    const s = e.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(e) : e;
    if (!(s.flags & ts.SymbolFlags.Class)) continue;
    const instance = checker.getDeclaredTypeOfSymbol(s);
    const statics = checker.getTypeOfSymbolAtLocation(s, source);
    out.set(e.name, {
      methods: checker
        .getPropertiesOfType(instance)
        .filter((p) => isPublicMethod(p, false))
        .map((p) => p.name)
        .sort(),
      statics: checker
        .getPropertiesOfType(statics)
        .filter((p) => isPublicMethod(p, true))
        .map((p) => p.name)
        .sort(),
    });
  }
  return out;
}

let fx: ContractFixtures | undefined;
let specs: Record<string, ExportSpec>;
beforeAll(async () => {
  fx = await buildContractFixtures();
  specs = contractSpecs(fx);
});
afterAll(async () => {
  await fx?.cleanup();
});

const EXPORTS = Object.keys(api).sort();

describe("the sweep covers the whole public API", () => {
  it("every runtime export of src/index.ts has an entry in the table, and the table names only exports", () => {
    expect(Object.keys(specs).sort()).toEqual(EXPORTS);
  });

  it("every callable export is swept, and every class's public methods and static methods are listed", () => {
    const missing: string[] = [];
    const members = publicMembers();
    for (const name of EXPORTS) {
      const value = (api as Record<string, unknown>)[name];
      const spec = specs[name];
      if (typeof value !== "function") {
        if (spec.value !== true) missing.push(`${name}: not callable, so its entry must be { value: true }`);
        continue;
      }
      if (spec.args === undefined) missing.push(`${name}: callable, but no valid arguments are given`);
      const declared = members.get(name);
      if (declared === undefined) continue;
      if (declared.methods.length > 0 && spec.instance === undefined)
        missing.push(`${name}: a class with methods but no instance to sweep them on`);
      const listed = Object.keys(spec.methods ?? {}).sort();
      if (listed.join() !== declared.methods.join())
        missing.push(`${name} methods: listed ${listed.join()}, declared ${declared.methods.join()}`);
      const listedStatics = Object.keys(spec.statics ?? {}).sort();
      if (listedStatics.join() !== declared.statics.join())
        missing.push(`${name} statics: listed ${listedStatics.join()}, declared ${declared.statics.join()}`);
    }
    expect(members.size).toBeGreaterThan(30);
    expect(missing, `\n${missing.join("\n")}\n`).toEqual([]);
  });
});

describe("hostile arguments give a typed error with a one-line message, never a TypeError", () => {
  for (const name of EXPORTS) {
    it(name, async () => {
      const spec = specs[name];
      if (spec.value === true) return;
      const target = (api as Record<string, unknown>)[name] as (...a: unknown[]) => unknown;
      const args = spec.args as Args;
      const found = await sweep(
        spec.construct ? `new ${name}` : name,
        args,
        spec.construct ? (a) => new (target as unknown as new (...x: unknown[]) => unknown)(...a) : (a) => target(...a),
        spec.refused,
      );
      for (const [m, margs] of Object.entries(spec.methods ?? {})) {
        found.push(
          ...(await sweep(
            `${name}#${m}`,
            margs,
            (a) => {
              const instance = (spec.instance as () => Record<string, (...x: unknown[]) => unknown>)();
              return instance[m](...a);
            },
            spec.refusedMethods?.[m],
          )),
        );
      }
      for (const [m, margs] of Object.entries(spec.statics ?? {})) {
        found.push(
          ...(await sweep(
            `${name}.${m}`,
            margs,
            (a) => (target as unknown as Record<string, (...x: unknown[]) => unknown>)[m](...a),
            undefined,
          )),
        );
      }
      expect(found, `\n${found.join("\n")}\n`).toEqual([]);
    });
  }
});

describe("the messages name the function and the parameter, and describe the value given", () => {
  it("the README's examples and one of each kind of check", async () => {
    const cases: [() => unknown, RegExp][] = [
      [
        () =>
          new api.SparseMatrix(
            2,
            2,
            Int32Array.of(0, 1, 2),
            Int32Array.of(0, 1),
            api.SparseMatrix.zeros(1, 1) as never,
          ),
        /^SparseMatrix: values must be an array of numbers, got a SparseMatrix$/,
      ],
      [
        () => api.SparseMatrix.zeros(2, 2).multiplyVector(null as never),
        /^SparseMatrix: multiplyVector x must be an array of numbers, got null$/,
      ],
      [() => api.readMergedDiffuse({} as never), /^readMergedDiffuse: path must be a string, got an object$/],
      [
        () => api.choleskySolve(new Float64Array(4), 2, Float64Array.of(1)),
        /^choleskySolve: b must be a Float64Array of length 2, got a Float64Array of length 1$/,
      ],
      [
        () => api.levenbergMarquardt("p" as never),
        /^levenbergMarquardt: problem \(a LeastSquaresProblem\) must be an object, got string$/,
      ],
      [
        () => api.voxelIndexOf(api.makeVoxelGrid(2, [3, 3, 3]), 0.5, 0, 0),
        /^voxelIndexOf: h \(sub-index, round\(hkl·ndiv\)\) must be an integer in -9007199254740991\.\.9007199254740991, got 0\.5$/,
      ],
      [
        () => new api.IhTable([], "P 1" as never),
        /^IhTable: spaceGroup \(a SpaceGroup\) must be an object, got string$/,
      ],
      [() => api.groupRows(Int32Array.of(0, 3), 2), /^groupRows: groupIndex\[1\] = 3 is outside \[0, 2\)$/],
    ];
    for (const [call, pattern] of cases) {
      let error: unknown;
      try {
        await call();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(api.ConfigError);
      expect((error as Error).message).toMatch(pattern);
    }
  });
});
