/**
 * CLI exit codes and messages (issue 7): bad input, bad configuration and usage errors exit 2 with exactly one line
 * on stderr and no stack trace; `--help` and `--version` exit 0; a refinement failure exits 1. In-process through
 * `main(argv)` (fast), plus one spawned process to check the real exit status.
 */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { existsSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CommanderError } from "commander";
import { errorLine, exitCodeFor, reportError } from "../../src/cli/errors.ts";
import { ConfigError, InputError, RefinementFailure } from "../../src/errors.ts";
import { writeReflections } from "../../src/io/refl-write.ts";
import { ReflectionTable } from "../../src/table/reflection-table.ts";
import { runMain } from "./cli-in-process.ts";
import { runCli } from "./cli-process.ts";

const EXPT = fileURLToPath(new URL("../fixtures/expt/sim-tetragonal-40-stills.expt", import.meta.url));
const REFL = fileURLToPath(new URL("../fixtures/refl/l_cysteine_11_integrated.refl", import.meta.url));

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "cli-errors-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function expectOneLine(err: string, pattern: RegExp): void {
  expect(err.endsWith("\n")).toBe(true);
  expect(err.trimEnd().split("\n")).toHaveLength(1);
  expect(err).toMatch(/^diffuse-scale: /);
  expect(err).not.toMatch(/\n\s+at /);
  expect(err).toMatch(pattern);
}

describe("usage errors exit 2 with one line", () => {
  const cases: [string, string[], RegExp][] = [
    ["no command", [], /no command given/],
    ["unknown command", ["frobnicate"], /unknown command 'frobnicate'/],
    ["unknown option", ["scale", "--expt", "a", "--refl", "b", "--bogus"], /unknown option '--bogus'/],
    ["missing required option", ["scale", "--refl", "b"], /required option '--expt <file>' not specified/],
    ["option without its value", ["scale", "--expt"], /option '--expt <file>' argument missing/],
    [
      "bad choice",
      ["scale", "--expt", "a", "--refl", "b", "--minimizer", "newton"],
      /Allowed choices are lm, gauss_newton/,
    ],
    [
      "bad number",
      ["scale", "--expt", "a", "--refl", "b", "--max-iterations", "0"],
      /--max-iterations must be a positive integer/,
    ],
    [
      "negative number",
      ["scale", "--expt", "a", "--refl", "b", "--zmax", "-1"],
      /--zmax must be a non-negative number/,
    ],
    ["missing argument", ["inspect"], /missing required argument 'file'/],
    [
      "voxelize without --pixels",
      ["voxelize", "--expt", "a", "--ndiv", "2", "--dmin", "2", "--out", "o.h5"],
      /--pixels/,
    ],
  ];
  for (const [what, args, pattern] of cases) {
    it(what, async () => {
      const r = await runMain(...args);
      expect(r.code).toBe(2);
      expect(r.out).toBe("");
      expectOneLine(r.err, pattern);
    });
  }
});

describe("--help and --version exit 0", () => {
  it("--help prints usage on stdout", async () => {
    const r = await runMain("--help");
    expect(r.code).toBe(0);
    expect(r.err).toBe("");
    expect(r.out).toMatch(/Usage: diffuse-scale/);
  });
  it("scale --help prints the command's usage", async () => {
    const r = await runMain("scale", "--help");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/--expt <file>/);
  });
  it("--version prints the version", async () => {
    const r = await runMain("--version");
    expect(r.code).toBe(0);
    expect(r.out.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe("bad inputs exit 2 with one line naming the file", () => {
  it("missing experiment list", async () => {
    const missing = join(dir, "missing.expt");
    const r = await runMain("scale", "--expt", missing, "--refl", REFL, "--out", join(dir, "o1"));
    expect(r.code).toBe(2);
    expectOneLine(
      r.err,
      new RegExp(`${missing.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}: cannot read experiment list: file not found`),
    );
  });
  it("a .refl given as --expt", async () => {
    const r = await runMain("scale", "--expt", REFL, "--refl", REFL, "--out", join(dir, "o2"));
    expect(r.code).toBe(2);
    expectOneLine(r.err, /is a msgpack file/);
  });
  it("truncated reflection file", async () => {
    const bad = join(dir, "cut.refl");
    writeFileSync(bad, Buffer.from([0x93, 0xbb]));
    const r = await runMain("scale", "--expt", EXPT, "--refl", bad, "--out", join(dir, "o3"));
    expect(r.code).toBe(2);
    expectOneLine(r.err, /cut\.refl: header string declares 27 bytes but only 0 remain in the file \(byte offset 2\)/);
  });
  it("config that is not JSON, with control characters in it", async () => {
    const cfg = join(dir, "bad.json");
    writeFileSync(cfg, "\r\u0000{ nope");
    const r = await runMain("scale", "--expt", EXPT, "--refl", REFL, "--config", cfg, "--out", join(dir, "o4"));
    expect(r.code).toBe(2);
    expectOneLine(r.err, /bad\.json: not valid JSON/);
  });
  it("config with an unknown key and with a v1-disabled component", async () => {
    const cfg = join(dir, "unknown.json");
    writeFileSync(cfg, JSON.stringify({ resolution_smoother: { n_points: 3 } }));
    let r = await runMain("scale", "--expt", EXPT, "--refl", REFL, "--config", cfg, "--out", join(dir, "o5"));
    expect(r.code).toBe(2);
    expectOneLine(r.err, /unknown\.json: resolution_smoother: Unrecognized key/);
    writeFileSync(cfg, JSON.stringify({ experimental_components: { panel_scale: { enabled: true } } }));
    r = await runMain("scale", "--expt", EXPT, "--refl", REFL, "--config", cfg, "--out", join(dir, "o6"));
    expect(r.code).toBe(2);
    expectOneLine(r.err, /panel_scale cannot be enabled/);
  });
});

describe("numerical trouble exits 1", () => {
  it("stills that share no reflection: RefinementFailure, one line, exit 1", async () => {
    const t = new ReflectionTable(2);
    t.setColumn("id", { type: "int", data: Int32Array.from([0, 1]) });
    // (1,2,3) and (2,3,5) are not symmetry-equivalent in P 43 21 2: the two stills share no reference
    t.setColumn("miller_index", { type: "cctbx::miller::index<>", data: Int32Array.from([1, 2, 3, 2, 3, 5]) });
    t.setColumn("flags", { type: "std::size_t", data: BigUint64Array.from([1n << 8n, 1n << 8n]) });
    t.setColumn("intensity.sum.value", { type: "double", data: Float64Array.from([10, 20]) });
    t.setColumn("intensity.sum.variance", { type: "double", data: Float64Array.from([1, 2]) });
    t.setColumn("partiality", { type: "double", data: Float64Array.from([0.9, 0.9]) });
    t.setColumn("d", { type: "double", data: Float64Array.from([2, 2]) });
    const refl = join(dir, "split.refl");
    await writeReflections(refl, t);
    const out = join(dir, "split-out");
    const r = await runMain("scale", "--expt", EXPT, "--refl", refl, "--out", out, "--quiet");
    expect(r.code).toBe(1);
    expectOneLine(r.err, /Parameter refinement failed: fewer than two stills share observations/);
    // nothing was written
    expect(existsSync(join(out, "scales.json"))).toBe(false);
  });
});

describe("exit-code mapping", () => {
  it("maps errors to codes and lines", () => {
    expect(exitCodeFor(new RefinementFailure("singular"))).toBe(1);
    expect(exitCodeFor(new InputError("x", "f"))).toBe(2);
    expect(exitCodeFor(new ConfigError("x"))).toBe(2);
    expect(exitCodeFor(new CommanderError(1, "commander.unknownOption", "error: unknown option '--x'"))).toBe(2);
    expect(exitCodeFor(new CommanderError(0, "commander.helpDisplayed", "(outputHelp)"))).toBe(0);
    expect(exitCodeFor(new CommanderError(0, "commander.version", "1.0.0"))).toBe(0);
    expect(exitCodeFor(new TypeError("boom"))).toBe(1);
    expect(errorLine(new TypeError("a\r\nb\u0000c"))).toBe("diffuse-scale: internal error: a b\\u0000c");
    expect(errorLine(new RefinementFailure("diverged"))).toBe("diffuse-scale: Parameter refinement failed: diverged");
    let written = "";
    expect(
      reportError(new CommanderError(0, "commander.helpDisplayed", "(outputHelp)"), { write: (s) => (written += s) }),
    ).toBe(0);
    expect(written).toBe("");
  });
});

describe("a real process", () => {
  it("exits with status 2 and one stderr line for an unknown option", async () => {
    const r = await runCli(["scale", "--expt", "a", "--refl", "b", "--nope"], dir);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expectOneLine(r.stderr, /unknown option '--nope'/);
  }, 60_000);
});
