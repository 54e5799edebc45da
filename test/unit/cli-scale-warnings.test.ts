import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FitWarning } from "../../src/io/scales-json.ts";
import { runMain } from "../robustness/cli-in-process.ts";

const cunir = fileURLToPath(new URL("../../../shared/fixtures/real/ssx_CuNiR_test_data/", import.meta.url));

describe.skipIf(!existsSync(cunir))("diffuse-scale scale: warnings (CuNiR real stills)", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "cli-warnings-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const scale = (out: string, ...extra: string[]) =>
    runMain(
      "scale",
      "--expt",
      join(cunir, "integrated.expt"),
      "--refl",
      join(cunir, "integrated.refl"),
      "--threads",
      "1",
      "--out",
      join(dir, out),
      ...extra,
    );
  const written = (out: string): FitWarning[] =>
    (JSON.parse(readFileSync(join(dir, out, "scales.json"), "utf8")) as { warnings: FitWarning[] }).warnings;

  it("prints each warning of scales.json as one 'warning:' line on stderr", async () => {
    const r = await scale("plain");
    expect(r.code).toBe(0);
    const warnings = written("plain");
    expect(warnings.length).toBeGreaterThanOrEqual(2);
    const lines = r.err.split("\n").filter((l) => l.startsWith("warning: "));
    expect(lines).toEqual(warnings.map((w) => `warning: ${w.message} [${w.code}]`));
  }, 60_000);

  it("--quiet silences them (scales.json still holds them)", async () => {
    const r = await scale("quiet", "--quiet");
    expect(r.code).toBe(0);
    expect(r.err).toBe("");
    expect(written("quiet").length).toBeGreaterThanOrEqual(2);
  }, 60_000);

  it("--json includes them in the printed document", async () => {
    const r = await scale("json", "--json");
    expect(r.code).toBe(0);
    const printed = JSON.parse(r.out) as { warnings: FitWarning[] };
    expect(printed.warnings).toEqual(written("json"));
    expect(printed.warnings.map((w) => w.code)).toContain("residual_sd");
  }, 60_000);
});
