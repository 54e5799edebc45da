/**
 * The TypeScript view of `src/index.ts` that the API tests read: the program (declarations only, no default library,
 * no @types packages), its checker, the source file and the module symbol.
 */
import { fileURLToPath } from "node:url";
import ts from "typescript";

/** Path of the public index. */
export const INDEX = fileURLToPath(new URL("../../src/index.ts", import.meta.url));

/** The checker, source and module symbol of the public index. */
export function indexProgram(): { checker: ts.TypeChecker; source: ts.SourceFile; moduleSymbol: ts.Symbol } {
  const program = ts.createProgram([INDEX], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2023,
    allowImportingTsExtensions: true,
    noEmit: true,
    // only the declarations' kinds are needed: no default library, no @types packages
    noLib: true,
    types: [],
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(INDEX);
  if (source === undefined) throw new Error(`cannot read ${INDEX}`);
  const moduleSymbol = checker.getSymbolAtLocation(source);
  if (moduleSymbol === undefined) throw new Error(`${INDEX} is not a module`);
  return { checker, source, moduleSymbol };
}
