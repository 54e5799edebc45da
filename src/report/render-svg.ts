/**
 * Server-side rendering of a vega-lite specification to a static SVG string: vega-lite compiles the spec to vega, a
 * headless vega `View` (renderer "none", no canvas or DOM) runs the dataflow, and `toSVG()` serialises the scene. The
 * SVG is prepared for inlining in HTML: the XML namespace declarations (which HTML does not need) are removed, so the
 * page contains no URL at all.
 *
 * @packageDocumentation
 */
import { View, parse } from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import { InputError } from "../errors.ts";

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

/**
 * Renders a vega-lite specification to an SVG string ready to inline in HTML.
 *
 * @param spec - A vega-lite specification with inline data.
 * @param options - See {@link RenderSvgOptions}.
 * @returns The `<svg>…</svg>` markup, without namespace declarations.
 * @throws {@link InputError} when vega produces no SVG (invalid specification).
 */
export async function renderSvg(spec: TopLevelSpec, options: RenderSvgOptions = {}): Promise<string> {
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
