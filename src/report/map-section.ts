/**
 * The report's diffuse map section: slices of the merged map (the principal planes hk0, h0l, 0kl through the origin
 * and any plane asked for, expanded from the asymmetric unit), and the radial profile — the mean merged intensity in
 * |q| shells with its spread (the isotropic part of the diffuse scattering), with d on the top axis.
 *
 * @packageDocumentation
 */
import type { TopLevelSpec } from "vega-lite";
import type { MergedDiffuseMap } from "../io/merged-diffuse.ts";
import { withDAxis } from "./axes.ts";
import { mapSliceMarkup } from "./map-figure.ts";
import { parseSlicePlane, PRINCIPAL_PLANES, sliceColourRange, sliceMap, voxelRows } from "./map-slices.ts";
import type { Optional, ReportMap } from "./report-inputs.ts";
import { DIFFUSE_COLOUR, Q_TITLE, type ReportFigure, type ReportSection } from "./specs.ts";

/** Shells of the radial profile. */
export const RADIAL_SHELLS = 60;

/** One shell of the radial profile. */
export interface RadialShell {
  /** Shell centre, Å⁻¹. */
  q: number;
  /** Mean merged intensity of the voxels in the shell. */
  mean: number;
  /** Standard deviation of the voxel intensities (0 with one voxel). */
  sd: number;
  /** Voxels in the shell. */
  n: number;
}

/**
 * The radial profile: mean and standard deviation of the merged voxel intensities in `nShells` equal-width |q|
 * shells over the map's |q| range (empty shells left out).
 */
export function radialProfile(
  map: Pick<MergedDiffuseMap, "qMagnitude" | "intensity">,
  nShells = RADIAL_SHELLS,
): RadialShell[] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const q of map.qMagnitude) {
    if (!Number.isFinite(q)) continue;
    lo = Math.min(lo, q);
    hi = Math.max(hi, q);
  }
  if (!(hi >= lo)) return [];
  const width = hi > lo ? (hi - lo) / nShells : 1;
  const n = new Float64Array(nShells);
  const s = new Float64Array(nShells);
  const ss = new Float64Array(nShells);
  for (let i = 0; i < map.qMagnitude.length; i++) {
    const q = map.qMagnitude[i];
    const x = map.intensity[i];
    if (!Number.isFinite(q) || !Number.isFinite(x)) continue;
    const b = Math.min(nShells - 1, Math.floor((q - lo) / width));
    n[b]++;
    s[b] += x;
  }
  for (let i = 0; i < map.qMagnitude.length; i++) {
    const q = map.qMagnitude[i];
    const x = map.intensity[i];
    if (!Number.isFinite(q) || !Number.isFinite(x)) continue;
    const b = Math.min(nShells - 1, Math.floor((q - lo) / width));
    const d = x - s[b] / n[b];
    ss[b] += d * d;
  }
  const out: RadialShell[] = [];
  for (let b = 0; b < nShells; b++) {
    if (n[b] === 0) continue;
    out.push({
      q: lo + (b + 0.5) * width,
      mean: s[b] / n[b],
      sd: n[b] > 1 ? Math.sqrt(ss[b] / (n[b] - 1)) : 0,
      n: n[b],
    });
  }
  return out;
}

/** The radial profile plot: mean (line) and ±1 standard deviation (band) against |q|, d on top. */
export function radialProfileSpec(shells: readonly RadialShell[]): TopLevelSpec {
  const values = shells.map((s) => ({ q: s.q, mean: s.mean, lo: s.mean - s.sd, hi: s.mean + s.sd, n: s.n }));
  const x = { field: "q", type: "quantitative" as const, title: Q_TITLE, scale: { zero: false } };
  const spec = {
    width: 440,
    height: 250,
    padding: 8,
    config: { aria: false, font: "Helvetica, Arial, sans-serif", view: { stroke: "#bbbbbb" }, background: "white" },
    data: { values },
    layer: [
      {
        mark: { type: "area", color: DIFFUSE_COLOUR, opacity: 0.22 },
        encoding: {
          x,
          y: { field: "lo", type: "quantitative", title: "merged diffuse intensity" },
          y2: { field: "hi" },
        },
      },
      {
        mark: { type: "line", color: DIFFUSE_COLOUR, strokeWidth: 2 },
        encoding: { x, y: { field: "mean", type: "quantitative" } },
      },
    ],
  };
  return withDAxis(spec, "q") as TopLevelSpec;
}

/** HTML id of a slice figure: `map-slice-hk0`, `map-slice-h_k_0_5` for `h,k,0.5`, `map-slice-h_m1_l` for `h,-1,l`. */
export function sliceFigureId(name: string): string {
  return `map-slice-${name.replace(/-/g, "m").replace(/[^A-Za-z0-9]+/g, "_")}`;
}

/**
 * The diffuse map section (id `map`): figures `map-slice-hk0`, `map-slice-h0l`, `map-slice-0kl`, one
 * `map-slice-…` per extra plane, and `radial-profile`.
 *
 * @param map - the map, or why it is absent
 * @param extraPlanes - planes asked for beyond the principal ones (already checked with {@link parseSlicePlane})
 */
export function mapSection(map: Optional<ReportMap> | undefined, extraPlanes: readonly string[] = []): ReportSection {
  const planes = [...PRINCIPAL_PLANES, ...extraPlanes].map(parseSlicePlane);
  const title = "Diffuse map";
  if (map === undefined || "absent" in map) {
    const why = map === undefined ? "The merged diffuse map was not read." : map.absent;
    return {
      id: "map",
      title,
      figures: [
        ...planes.map((p) => ({ id: sliceFigureId(p.name), title: `Map slice ${p.name}`, missing: why })),
        { id: "radial-profile", title: "Radial profile", missing: why },
      ],
    };
  }
  const { map: m, grid, group } = map.value;
  const rows = voxelRows(m);
  const figures: ReportFigure[] = planes.map((plane) => {
    const slice = sliceMap(m, rows, grid, group, plane);
    const range = sliceColourRange(slice.values);
    const reduced = slice.block > 1 ? ` Each pixel is the mean of ${slice.block}×${slice.block} voxels.` : "";
    return {
      id: sliceFigureId(plane.name),
      title: `Map slice ${plane.name}`,
      caption:
        `The plane ${plane.text} of the merged map, expanded from the asymmetric unit by the space group ` +
        `(${slice.nFilled} of ${slice.width * slice.height} pixels with data; grey: no observation). ` +
        `Colours span the 1st–99th percentiles of the slice; values beyond take the end colours.${reduced}`,
      markup: mapSliceMarkup(slice, range, `Merged diffuse intensity on the plane ${plane.text}`),
      kind: "map" as const,
    };
  });
  const profile = radialProfile(m);
  figures.push(
    profile.length === 0
      ? { id: "radial-profile", title: "Radial profile", missing: "The merged map has no voxel with a finite |q|." }
      : {
          id: "radial-profile",
          title: "Radial profile",
          caption:
            `Mean merged diffuse intensity of the voxels in ${RADIAL_SHELLS} equal-width |q| shells (line) and its ` +
            "spread, ±1 standard deviation over the voxels of the shell (band): the isotropic part of the diffuse scattering.",
          spec: radialProfileSpec(profile),
        },
  );
  return { id: "map", title, figures };
}
