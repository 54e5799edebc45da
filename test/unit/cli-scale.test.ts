import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { readReflections } from "../../src/io/refl-read.ts";
import { ReflectionFlags, getFlags } from "../../src/table/flags.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const sim = fileURLToPath(new URL("../../../shared/fixtures/sim/tetragonal-40/", import.meta.url));

function cli(args: string[]) {
  return spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
    cwd: root,
    encoding: "utf8",
    timeout: 120_000,
  });
}

/** `scale` on the tetragonal-40 fixture (Bragg + diffuse) into `out`, with extra options. */
function scaleSim(out: string, extra: string[]): string[] {
  return [
    "scale",
    "--expt",
    join(sim, "stills.expt"),
    "--refl",
    join(sim, "stills.refl"),
    "--diffuse",
    join(sim, "diffuse_binned.h5"),
    "--out",
    out,
    ...extra,
  ];
}

describe("diffuse-scale scale (CLI)", () => {
  it("a missing input file exits 2 with one line on stderr", () => {
    const r = cli(["scale", "--expt", "nope.expt", "--refl", "nope.refl", "--out", join(tmpdir(), "never"), "--quiet"]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/nope\.expt/);
  });

  it("a memory limit that is not a positive number exits 2 naming the option", () => {
    for (const bad of ["0", "-1", "lots"]) {
      const r = cli(["scale", "--expt", "a.expt", "--refl", "a.refl", "--memory-limit", bad, "--quiet"]);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/--memory-limit must be a positive number/);
    }
  });

  it.skipIf(!existsSync(sim))(
    "--memory-limit below the observations' size pages them from --scratch-dir: same scales.json, no file left",
    async () => {
      const dir = await mkdtemp(join(tmpdir(), "scale-paged-"));
      try {
        const run = (out: string, extra: string[]) => cli(scaleSim(join(dir, out), ["--quiet", ...extra]));
        const scratch = join(dir, "scratch");
        mkdirSync(scratch);
        expect(run("paged", ["--memory-limit", "0.0001", "--scratch-dir", scratch]).status).toBe(0);
        expect(run("resident", []).status).toBe(0);
        expect(readdirSync(scratch)).toEqual([]);
        const scales = (out: string) => {
          const doc = JSON.parse(readFileSync(join(dir, out, "scales.json"), "utf8")) as Record<string, unknown>;
          delete doc.timings;
          return doc;
        };
        expect(scales("paged")).toEqual(scales("resident"));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    120_000,
  );

  it.skipIf(!existsSync(sim))("an impossible smoother size exits 2 naming the allowed values", () => {
    const r = cli([
      "scale",
      "--expt",
      join(sim, "stills.expt"),
      "--refl",
      join(sim, "stills.refl"),
      "--smoother-points",
      "4",
      "--out",
      join(tmpdir(), "never"),
      "--quiet",
    ]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/2, 3 or 5/);
  });

  it.skipIf(!existsSync(sim))(
    "writes scales.json in the spec's shape, scaled.refl with DIALS columns, and --json prints the summary",
    async () => {
      const out = await mkdtemp(join(tmpdir(), "scale-"));
      try {
        const r = cli(scaleSim(out, ["--json"]));
        expect(r.status).toBe(0);
        const printed = JSON.parse(r.stdout) as Record<string, unknown>;
        const scales = JSON.parse(readFileSync(join(out, "scales.json"), "utf8")) as Record<string, unknown>;
        expect(printed).toEqual(scales);
        expect(scales.format).toBe("diffuse-scaling/scales@1");
        expect(scales.gauge).toBe("geometric_mean_multiplicative_scale_equals_1");
        const rp = scales.refined_parameters as Record<
          string,
          { multiplicative_scale: number; additive_offset: number; esd: number }
        >;
        expect(Object.keys(rp)).toHaveLength(40);
        expect(rp["0"].additive_offset).toBe(0);
        expect(rp["0"].esd).toBeGreaterThan(0);
        const logMean = Object.values(rp).reduce((s, p) => s + Math.log(p.multiplicative_scale), 0) / 40;
        expect(Math.abs(logMean)).toBeLessThan(1e-12);
        expect(scales.resolution_smoother).toEqual({ enabled: false });
        const stats = scales.refinement_statistics as Record<string, unknown>;
        expect(Object.keys(stats).sort()).toEqual(
          [
            "convergence_achieved",
            "final_r_factor",
            "initial_r_factor",
            "minimizer",
            "n_iterations",
            "parameter_shifts",
          ].sort(),
        );
        const data = scales.data as Record<string, number>;
        expect(data.n_stills).toBe(40);
        expect(data.n_diffuse_used).toBe(200168);
        expect(data.n_bragg_used + data.n_bragg_below_partiality).toBeLessThanOrEqual(15790);
        const table = await readReflections(join(out, "scaled.refl"));
        for (const c of [
          "inverse_scale_factor",
          "inverse_scale_factor_variance",
          "intensity.scale.value",
          "intensity.scale.variance",
        ]) {
          expect(table.columnType(c)).toBe("double");
        }
        const scaled = getFlags(table, ReflectionFlags.scaled);
        const excluded = getFlags(table, ReflectionFlags.excludedForScaling);
        let nScaled = 0;
        let nExcluded = 0;
        for (let i = 0; i < table.nrows; i++) {
          nScaled += scaled[i];
          nExcluded += excluded[i];
          expect(scaled[i] & excluded[i]).toBe(0);
        }
        expect(nScaled).toBe(data.n_bragg_used - countBraggOutliers(table));
        expect(nExcluded).toBeGreaterThanOrEqual(data.n_bragg_below_partiality);
        expect(existsSync(join(out, "merged_diffuse.h5"))).toBe(true);
        expect(existsSync(join(out, "scaled.expt"))).toBe(true);
      } finally {
        await rm(out, { recursive: true, force: true });
      }
    },
  );
});

function countBraggOutliers(table: Awaited<ReturnType<typeof readReflections>>): number {
  const f = getFlags(table, ReflectionFlags.outlierInScaling);
  let n = 0;
  for (const v of f) n += v;
  return n;
}
