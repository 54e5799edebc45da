/**
 * Server-side rendering of a vega-lite specification to a static SVG string: vega-lite compiles the spec to vega, a
 * headless vega `View` (renderer "none", no canvas or DOM) runs the dataflow, and `toSVG()` serialises the scene. The
 * SVG is prepared for inlining in HTML: the XML namespace declarations (which HTML does not need) are removed, so the
 * page contains no URL at all.
 *
 * vega and vega-lite are loaded on first use, not when this file is imported. They are loaded from the single-file
 * bundles both packages ship (`vega/build/vega.min.js`, `vega-lite/build/vega-lite.min.js`, the same releases as their
 * ES-module entries): the ES-module graph of vega is several hundred small files (vega-*, d3-*), and resolving and
 * linking them costs several times more start-up than compiling the one bundle. When a bundle is missing or its
 * version differs from the installed package, the ES-module entries are imported instead.
 *
 * @packageDocumentation
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { runInThisContext } from "node:vm";
import type * as VegaModule from "vega";
import type * as VegaLiteModule from "vega-lite";
import type { TopLevelSpec } from "vega-lite";
import { InputError } from "../errors.ts";

/** The parts of vega and vega-lite the renderer uses. */
interface Renderer {
  /** vega's `View` class. */
  View: typeof VegaModule.View;
  /** vega's spec parser. */
  parse: typeof VegaModule.parse;
  /** vega-lite's compiler. */
  compile: typeof VegaLiteModule.compile;
  /** Where vega and vega-lite were loaded from. */
  source: "bundles" | "modules";
}

/** Options of {@link renderSvg}. */
export interface RenderSvgOptions {
  /**
   * Accessible label of the figure (the SVG gets `role="img"` and this `aria-label`).
   * @defaultValue undefined (no label)
   */
  ariaLabel?: string;
}

/** Escapes text for an XML/HTML attribute value. */
function escapeAttribute(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** The `version` field of the `package.json` two levels above a package's `build/` entry file. */
function installedVersion(entry: string): string | undefined {
  const pkg = JSON.parse(readFileSync(join(dirname(dirname(entry)), "package.json"), "utf8")) as { version?: unknown };
  return typeof pkg.version === "string" ? pkg.version : undefined;
}

/**
 * Evaluates a UMD bundle the way CommonJS would (a function of `exports`, `module`, `require`) and returns its
 * exports. `dependencies` answers the bundle's `require()` calls; any other name is an error.
 */
function evaluateUmd(path: string, dependencies: Record<string, unknown>): Record<string, unknown> {
  const source = readFileSync(path, "utf8");
  const factory = runInThisContext(`(function (exports, module, require) {${source}\n})`, { filename: path }) as (
    exports: Record<string, unknown>,
    module: { exports: Record<string, unknown> },
    require: (id: string) => unknown,
  ) => void;
  const module = { exports: {} as Record<string, unknown> };
  factory.call(module.exports, module.exports, module, (id: string) => {
    if (Object.hasOwn(dependencies, id)) return dependencies[id];
    throw new Error(`${path} requires '${id}', which is not provided`);
  });
  return module.exports;
}

/** Loads vega and vega-lite from their single-file bundles, or returns undefined when that is not possible. */
function loadBundles(): Renderer | undefined {
  try {
    const require = createRequire(import.meta.url);
    const vegaEntry = require.resolve("vega");
    const vegaLiteEntry = require.resolve("vega-lite");
    const vega = evaluateUmd(join(dirname(vegaEntry), "vega.min.js"), {});
    if (vega.version !== installedVersion(vegaEntry)) return undefined;
    const vegaLite = evaluateUmd(join(dirname(vegaLiteEntry), "vega-lite.min.js"), { vega });
    if (vegaLite.version !== installedVersion(vegaLiteEntry)) return undefined;
    const { View, parse } = vega;
    const { compile } = vegaLite;
    if (typeof View !== "function" || typeof parse !== "function" || typeof compile !== "function") return undefined;
    return {
      View: View as Renderer["View"],
      parse: parse as Renderer["parse"],
      compile: compile as Renderer["compile"],
      source: "bundles",
    };
  } catch {
    return undefined;
  }
}

let loading: Promise<Renderer> | undefined;

/** vega and vega-lite, loaded once (bundles first, ES modules as the fallback). */
function loadRenderer(): Promise<Renderer> {
  loading ??= (async () => {
    const bundled = loadBundles();
    if (bundled !== undefined) return bundled;
    const [{ View, parse }, { compile }] = await Promise.all([import("vega"), import("vega-lite")]);
    return { View, parse, compile, source: "modules" as const };
  })();
  return loading;
}

/**
 * Loads vega and vega-lite (once; later calls reuse them) and says where they came from: `"bundles"` for the
 * single-file bundles (the fast path), `"modules"` for the ES-module entries (the fallback).
 *
 * @returns the source of the loaded renderer
 */
export async function vegaRendererSource(): Promise<"bundles" | "modules"> {
  return (await loadRenderer()).source;
}

/**
 * Renders a vega-lite specification to an SVG string ready to inline in HTML.
 *
 * @param spec - A vega-lite specification with inline data.
 * @param options - See {@link RenderSvgOptions}.
 * @returns The `<svg>…</svg>` markup, without namespace declarations.
 * @throws {@link InputError} when vega produces no SVG (invalid specification).
 */
export async function renderSvg(spec: TopLevelSpec, options: RenderSvgOptions = {}): Promise<string> {
  const { View, parse, compile } = await loadRenderer();
  const view = new View(parse(compile(spec).spec), { renderer: "none" });
  let svg: string;
  try {
    svg = await view.toSVG();
  } finally {
    view.finalize();
  }
  const open = /^<svg\b[^>]*>/.exec(svg);
  if (open === null) throw new InputError("vega produced no <svg> element for a report plot");
  let tag = open[0].replace(/\s+xmlns(:\w+)?="[^"]*"/g, "");
  if (options.ariaLabel !== undefined) {
    tag = tag.replace(/^<svg/, `<svg role="img" aria-label="${escapeAttribute(options.ariaLabel)}"`);
  }
  return tag + svg.slice(open[0].length);
}
