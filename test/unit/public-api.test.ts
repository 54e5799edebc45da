/**
 * The public API, as a visible list: every name `src/index.ts` exports and what kind of thing it is. A change to the
 * API changes `test/unit/__snapshots__/public-api.txt`, so it shows up in review as a diff of that file (update it
 * with `npx vitest run test/unit/public-api.test.ts -u`).
 */
import ts from "typescript";
import { expect, it } from "vitest";
import { indexProgram } from "./index-program.ts";

/** The kind of an exported symbol, after following re-export aliases. */
function kindOf(symbol: ts.Symbol, checker: ts.TypeChecker): string {
  const s = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
  const f = s.flags;
  if (f & ts.SymbolFlags.Class) return "class";
  if (f & ts.SymbolFlags.Function) return "function";
  if (f & ts.SymbolFlags.Interface) return "interface";
  if (f & ts.SymbolFlags.TypeAlias) return "type";
  if (f & ts.SymbolFlags.Enum) return "enum";
  if (f & ts.SymbolFlags.Variable) return "const";
  return "other";
}

it("src/index.ts exports exactly the curated names (no `export *`)", async () => {
  const { checker, source, moduleSymbol } = indexProgram();
  expect(source.text).not.toMatch(/^\s*export\s+\*/m);
  const lines = checker
    .getExportsOfModule(moduleSymbol)
    .map((s) => `${kindOf(s, checker).padEnd(9)} ${s.name}`)
    .sort((a, b) => (a.slice(10) < b.slice(10) ? -1 : a.slice(10) > b.slice(10) ? 1 : 0));
  expect(lines.filter((l) => l.startsWith("other"))).toEqual([]);
  await expect(`${lines.join("\n")}\n`).toMatchFileSnapshot("./__snapshots__/public-api.txt");
});
