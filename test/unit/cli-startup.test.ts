/**
 * Start-up cost of the CLI (issue 5): heavy dependencies are loaded only where a command needs them. The test walks
 * the static (value) import graph of the sources — `import type` and dynamic `import()` are not followed, since
 * neither loads anything at start-up — and checks which packages each entry point reaches.
 */
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const here = dirname(fileURLToPath(import.meta.url));
const srcDir = resolve(here, "..", "..", "src");

/** Static value imports of one file: relative paths resolved, bare package names as written. */
function staticImports(file: string): { files: string[]; packages: string[] } {
  const text = readFileSync(file, "utf8");
  const files: string[] = [];
  const packages: string[] = [];
  // `import X from "m"`, `import { a } from "m"`, `import "m"`, `export ... from "m"`; not `import type`/`export type`
  const re = /^[ \t]*(?:import|export)\s+(?!type\b)(?:[\w$*\s{},]+?\sfrom\s+)?["']([^"']+)["']/gm;
  for (const m of text.matchAll(re)) {
    const spec = m[1];
    if (spec.startsWith(".")) files.push(resolve(dirname(file), spec));
    else packages.push(spec);
  }
  return { files, packages };
}

/** Every package reached from `entry` through static imports, and every source file visited. */
function reach(entry: string): { packages: Set<string>; files: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const queue = [resolve(srcDir, entry)];
  while (queue.length > 0) {
    const f = queue.pop() ?? expect.unreachable();
    if (files.has(f)) continue;
    files.add(f);
    const imports = staticImports(f);
    for (const p of imports.packages) packages.add(p);
    queue.push(...imports.files);
  }
  return { packages, files };
}

const HEAVY = ["h5wasm/node", "vega", "vega-lite", "cli-progress"];

describe("static import graph", () => {
  it("sees through multi-line imports and skips type-only and dynamic imports", () => {
    const g = reach("io/hdf5.ts");
    // hdf5.ts imports node:fs and ../errors.ts by value, h5wasm only as types and through import()
    expect(g.packages.has("node:fs")).toBe(true);
    expect(g.files.has(join(srcDir, "errors.ts"))).toBe(true);
    expect(g.packages.has("h5wasm/node")).toBe(false);
    // binned-diffuse.ts lists its hdf5.ts helpers over several lines
    expect(reach("io/binned-diffuse.ts").files.has(join(srcDir, "io", "hdf5.ts"))).toBe(true);
  });

  it("the CLI entry loads no package: it starts the job thread before it loads the program", () => {
    const g = reach("cli/main.ts");
    expect([...g.packages].filter((p) => !p.startsWith("node:"))).toEqual([]);
    expect([...g.files].filter((f) => /[/\\]cli[/\\]/.test(f)).map((f) => f.slice(srcDir.length + 1))).toEqual([
      join("cli", "main.ts"),
      join("cli", "job-thread.ts"),
    ]);
  });

  it("the CLI program loads commander only: no pipeline, zod, HDF5, vega or progress bars", () => {
    const g = reach("cli/program.ts");
    expect([...g.packages].filter((p) => !p.startsWith("node:")).sort()).toEqual(["commander"]);
    // the option defaults (SCALING_DEFAULTS, SCALE_JOB_DEFAULTS) give commander its defaults and help text: they import
    // nothing but errors.ts
    const options = new Set(
      ["refine/scaling-options.ts", "job/scale-dataset-options.ts", "extract/extract-options.ts"].map((f) =>
        join(srcDir, f),
      ),
    );
    const pipeline = [...g.files].filter(
      (f) =>
        /[/\\](dials|voxelize|extract|observations|passes|refine|merge|job|simulate|solve)[/\\]/.test(f) &&
        !options.has(f),
    );
    expect(pipeline).toEqual([]);
  });

  it("the Bragg-only scale path loads neither h5wasm nor vega nor cli-progress", () => {
    const g = reach("job/scale-dataset.ts");
    expect(g.files.has(join(srcDir, "io", "hdf5.ts"))).toBe(true);
    for (const p of HEAVY) expect(g.packages.has(p), p).toBe(false);
  });

  it("the library entry loads neither h5wasm nor vega nor cli-progress", () => {
    const g = reach("index.ts");
    for (const p of HEAVY) expect(g.packages.has(p), p).toBe(false);
  });
});
