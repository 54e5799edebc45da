import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ConfigError,
  DisabledComponentAccess,
  InputError,
  ParameterLimitExceeded,
  RefinementFailure,
} from "../../src/errors.ts";
import { errorLine, exitCodeFor, reportError } from "../../src/cli/errors.ts";
import { createProgram } from "../../src/cli/program.ts";
import { detectDialsFileKind, runInspect } from "../../src/cli/inspect.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const FIX = join(ROOT, "test", "fixtures", "expt");
const fx = (name: string): string => join(FIX, name);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "src/cli/main.ts", ...args],
      { cwd: ROOT, encoding: "utf8" },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === "number" ? err.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function stderrLines(r: Run): string[] {
  return r.stderr.split("\n").filter((l) => l.length > 0);
}

let tmp = "";
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "cli-inspect-"));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

// Each child process pays the tsx start-up (about a second), so these run concurrently.
describe.concurrent("diffuse-scale inspect (child process)", () => {
  it(".expt --json: one JSON object with the experiments' crystals (ssx_CuNiR: 5 stills, P 21 3)", async ({
    expect,
  }) => {
    const r = await cli("inspect", fx("ssx-cunir-integrated.expt"), "--json");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split("\n")).toHaveLength(1);
    const out = JSON.parse(r.stdout) as {
      kind: string;
      n_experiments: number;
      crystals: { space_group_hall: string; unit_cell: number[] }[];
    };
    expect(out.kind).toBe("experiments");
    expect(out.n_experiments).toBe(5);
    expect(out.crystals).toHaveLength(5);
    for (const c of out.crystals) {
      expect(c.space_group_hall).toBe(" P 2ac 2ab 3");
      expect(c.unit_cell).toHaveLength(6);
      for (const angle of c.unit_cell.slice(3)) expect(Math.abs(angle - 90)).toBeLessThan(1e-9);
    }
  });

  it(".refl --json: rows, column types and identifiers (l-cysteine 11_integrated.refl)", async ({ expect }) => {
    const r = await cli("inspect", fx("l-cysteine-11-integrated.refl"), "--json");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split("\n")).toHaveLength(1);
    const out = JSON.parse(r.stdout) as {
      kind: string;
      nrows: number;
      columns: Record<string, string>;
      identifiers: Record<string, string>;
    };
    expect(out.kind).toBe("reflections");
    // reference §6.1 worked decode: 92 rows, 35 columns, identifiers {0: "0812526a-..."}
    expect(out.nrows).toBe(92);
    expect(Object.keys(out.columns)).toHaveLength(35);
    expect(out.identifiers).toEqual({ "0": "0812526a-eca7-467f-b271-26cb05ff56f4" });
    expect(out.columns.miller_index).toBe("cctbx::miller::index<>");
    expect(out.columns.flags).toBe("std::size_t");
    expect(out.columns.shoebox).toBe("Shoebox<>");
    expect(out.columns.bbox).toBe("int6");
    expect(out.columns["xyzobs.px.value"]).toBe("vec3<double>");
    expect(out.columns["intensity.sum.value"]).toBe("double");
    expect(out.columns.entering).toBe("bool");
    expect(out.columns.id).toBe("int");
  });

  it("without --json: a readable summary", async ({ expect }) => {
    const r = await cli("inspect", fx("ssx-cunir-integrated.expt"));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("5 experiments");
    expect(r.stdout).toContain("P 2ac 2ab 3");
    expect(r.stdout).toContain("2c2f20d9-7012-4f15-8065-c7f1dadeacec");
  });

  it("missing file: exit 2, one line on stderr naming the file, no stack trace", async ({ expect }) => {
    const missing = join(tmp, "nope.expt");
    const r = await cli("inspect", missing, "--json");
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(stderrLines(r)).toEqual([`diffuse-scale: ${missing}: cannot read file: file not found`]);
  });

  it("truncated .expt: exit 2 with one line", async ({ expect }) => {
    const expt = join(tmp, "truncated.expt");
    await writeFile(expt, (await readFile(fx("ssx-cunir-integrated.expt"), "utf8")).slice(0, 3000));
    const r = await cli("inspect", expt);
    expect(r.code).toBe(2);
    expect(stderrLines(r)).toHaveLength(1);
    expect(stderrLines(r)[0]).toMatch(/^diffuse-scale: .*truncated\.expt: invalid JSON: /);
  });

  it("non-JSON .expt: exit 2 with one line; --debug adds the stack", async ({ expect }) => {
    const bad = join(tmp, "bad.expt");
    await writeFile(bad, "not json at all\nreally not\n");
    const r = await cli("inspect", bad);
    expect(r.code).toBe(2);
    expect(stderrLines(r)).toHaveLength(1);
    expect(stderrLines(r)[0]).toMatch(/^diffuse-scale: .*bad\.expt: invalid JSON: /);
    const d = await cli("--debug", "inspect", bad);
    expect(d.code).toBe(2);
    expect(stderrLines(d)[0]).toBe(stderrLines(r)[0]);
    expect(stderrLines(d).length).toBeGreaterThan(2);
    expect(d.stderr).toMatch(/\n\s+at /);
  });
});

describe("inspect (in process)", () => {
  it(".expt --json on the simulated stills: 40 crystals, 79.1 79.1 37.9 90 90 90", async () => {
    const out = JSON.parse(await runInspect(fx("sim-tetragonal-40-stills.expt"), { json: true })) as {
      n_experiments: number;
      crystals: { space_group_hall: string; unit_cell: number[] }[];
    };
    expect(out.n_experiments).toBe(40);
    expect(out.crystals).toHaveLength(40);
    const want = [79.1, 79.1, 37.9, 90, 90, 90];
    for (const c of out.crystals) {
      expect(c.space_group_hall).toBe(" P 4nw 2abw");
      c.unit_cell.forEach((x, i) => {
        expect(Math.abs(x - want[i])).toBeLessThan(1e-6);
      });
    }
  });

  it("kind is decided by content, not extension", async () => {
    const renamed = join(tmp, "really-a-table.expt");
    await writeFile(renamed, await readFile(fx("l-cysteine-11-integrated.refl")));
    expect(await detectDialsFileKind(renamed)).toBe("reflections");
    expect(JSON.parse(await runInspect(renamed, { json: true }))).toMatchObject({ kind: "reflections", nrows: 92 });
    const json = join(tmp, "experiments.dat");
    await writeFile(json, await readFile(fx("quartz-scaled.expt")));
    expect(await detectDialsFileKind(json)).toBe("experiments");
    expect(JSON.parse(await runInspect(json, { json: true }))).toMatchObject({ kind: "experiments", n_experiments: 1 });
    const other = join(tmp, "other.bin");
    await writeFile(other, "xyz");
    await expect(detectDialsFileKind(other)).rejects.toThrow(InputError);
    const empty = join(tmp, "empty.refl");
    await writeFile(empty, "");
    await expect(detectDialsFileKind(empty)).rejects.toThrow(/empty\.refl: file is empty/);
  });

  it("readable .refl summary lists the columns and identifiers", async () => {
    const text = await runInspect(fx("l-cysteine-11-integrated.refl"));
    expect(text).toContain("92 rows, 35 columns, 1 experiment identifier");
    expect(text).toMatch(/miller_index\s+cctbx::miller::index<>/);
    expect(text).toMatch(/0\s+0812526a-eca7-467f-b271-26cb05ff56f4/);
  });

  it("a truncated .refl is an InputError (exit 2) naming the file", async () => {
    const refl = join(tmp, "truncated.refl");
    await writeFile(refl, (await readFile(fx("l-cysteine-11-integrated.refl"))).subarray(0, 20000));
    const err: unknown = await runInspect(refl, { json: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect(exitCodeFor(err)).toBe(2);
    expect(errorLine(err)).toMatch(/^diffuse-scale: .*truncated\.refl/);
  });
});

describe("program and error mapping (in process)", () => {
  it("the program is named diffuse-scale, reports the package version and has the inspect command", async () => {
    const program = createProgram();
    expect(program.name()).toBe("diffuse-scale");
    const pkg = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { version: string };
    expect(program.version()).toBe(pkg.version);
    expect(program.commands.map((c) => c.name())).toContain("inspect");
    let out = "";
    program.exitOverride().configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) });
    await expect(program.parseAsync(["node", "diffuse-scale", "--version"])).rejects.toMatchObject({
      code: "commander.version",
    });
    expect(out.trim()).toBe(pkg.version);
  });

  it("maps typed errors to exit codes", () => {
    expect(exitCodeFor(new InputError("x", "f"))).toBe(2);
    expect(exitCodeFor(new ConfigError("x"))).toBe(2);
    expect(exitCodeFor(new ParameterLimitExceeded("x"))).toBe(2);
    expect(exitCodeFor(new DisabledComponentAccess("x"))).toBe(2);
    expect(exitCodeFor(new RefinementFailure("x"))).toBe(1);
    expect(exitCodeFor(new Error("boom"))).toBe(1);
  });

  it("prints exactly one line, and the stack only with debug", () => {
    let text = "";
    const write = (s: string): void => {
      text += s;
    };
    expect(reportError(new InputError("bad\nfield", "a.expt"), { write })).toBe(2);
    expect(text).toBe("diffuse-scale: a.expt: bad field\n");
    text = "";
    expect(reportError(new RangeError("oops"), { write, debug: true })).toBe(1);
    const lines = text.split("\n").filter((l) => l !== "");
    expect(lines[0]).toBe("diffuse-scale: internal error: oops");
    expect(lines.length).toBeGreaterThan(1);
    expect(errorLine(new RefinementFailure("diverged"))).toBe("diffuse-scale: Parameter refinement failed: diverged");
  });
});
