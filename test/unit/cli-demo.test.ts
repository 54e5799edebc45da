/**
 * `diffuse-scale demo` (what `npm start` runs): scales the bundled example with the smoother on, writes the outputs
 * and report.html, and prints where the report is. The scales are checked against the simulator's true scales
 * (examples/truth.json, made with DIALS/cctbx) after removing the overall factor (the gauge).
 */
import { readFileSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { examplesDir } from "../../src/cli/demo.ts";
import { main } from "../../src/cli/program.ts";

describe("diffuse-scale demo", () => {
  let out: string;
  let stdout = "";
  let code = -1;

  beforeAll(async () => {
    out = join(await mkdtemp(join(tmpdir(), "demo-")), "demo-output");
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = (chunk: string) => {
      stdout += chunk;
      return true;
    };
    try {
      code = await main(["node", "diffuse-scale", "demo", "--out", out, "--quiet"]);
    } finally {
      process.stdout.write = write;
    }
  });

  afterAll(async () => {
    await rm(resolve(out, ".."), { recursive: true, force: true });
  });

  it("exits 0, writes every output and the report, and prints the report's path", async () => {
    expect(code).toBe(0);
    expect((await readdir(out)).sort()).toEqual([
      "manifest.json",
      "merged_diffuse.h5",
      "refinement.json",
      "report.html",
      "scaled.expt",
      "scaled.refl",
      "scales.json",
    ]);
    expect(stdout).toContain(`report: ${resolve(out, "report.html")}\n`);
    expect(stdout).toMatch(/^demo: scaled 40 stills on Bragg \+ diffuse data with a 5-point resolution smoother/);
    const html = readFileSync(join(out, "report.html"), "utf8");
    // 22 plots (the 14 diagnostics, the residual sd per class, σ′ against I for Bragg and diffuse, the radial profile,
    // 4 merging plots) and 3 map slices (PNG under SVG axes)
    expect(html.match(/<figure class="plot"/g)).toHaveLength(22);
    expect(html.match(/<img class="map-image" src="data:image\/png;base64,/g)).toHaveLength(3);
    expect(html.match(/<svg\b/g)).toHaveLength(25);
    expect(html).toContain('<table class="merging"');
    expect(html.includes(`<code>diffuse-scale demo --out ${out} --quiet</code>`)).toBe(true);
  });

  it("recovers the true per-still scales of the example to better than 1 % RMS (gauge removed)", () => {
    const truth = JSON.parse(readFileSync(join(examplesDir(), "truth.json"), "utf8")) as { true_scales: number[] };
    const scales = JSON.parse(readFileSync(join(out, "scales.json"), "utf8")) as {
      refined_parameters: Record<string, { multiplicative_scale: number }>;
    };
    const ids = Object.keys(scales.refined_parameters).map(Number);
    expect(ids).toHaveLength(truth.true_scales.length);
    const b = ids.map((i) => scales.refined_parameters[String(i)].multiplicative_scale);
    const t = ids.map((i) => truth.true_scales[i]);
    const geo = (v: number[]): number => Math.exp(v.reduce((s, x) => s + Math.log(x), 0) / v.length);
    const gb = geo(b);
    const gt = geo(t);
    const rel = b.map((x, k) => x / gb / (t[k] / gt) - 1);
    const rms = Math.sqrt(rel.reduce((s, r) => s + r * r, 0) / rel.length);
    expect(rms).toBeLessThan(0.01);
  });
});
