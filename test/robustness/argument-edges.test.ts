/**
 * Edge values of arguments: each refusal exits 2 (or throws a `ConfigError`) with one line naming the option, file or
 * key, within a bounded time and before any work is done. In-process through `main(argv)` and the library entry points;
 * one spawned process for stdout closing early.
 */
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { writeFileSync } from "node:fs";
import { mkdtemp, rm, truncate } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { endQuietlyOnEpipe } from "../../src/cli/errors.ts";
import { seedFlag } from "../../src/cli/option-parsers.ts";
import { ConfigError } from "../../src/errors.ts";
import { scaleDataset } from "../../src/job/scale-dataset.ts";
import { mergeDiffuse } from "../../src/merge/merge.ts";
import { MAX_SEED, checkSeed } from "../../src/merge/seeded-random.ts";
import type { ScalingObservations } from "../../src/observations/scaling-observations.ts";
import type { JointModelState } from "../../src/passes/inverse-scales.ts";
import {
  ALLOWED_CONTROL_POINTS,
  MAX_CONFIG_FILE_BYTES,
  readDiffuseScalingConfigFile,
} from "../../src/refine/config.ts";
import { findJsonKeyProblem } from "../../src/io/json-keys.ts";
import { DiffuseScalingModel } from "../../src/refine/diffuse-scaling-model.ts";
import { MAX_THREADS, resolveScalingOptions } from "../../src/refine/scaling-options.ts";
import { simulateDataset } from "../../src/simulate/simulate-dataset.ts";
import { MAX_SIMULATED_STILLS, resolveSimulateOptions } from "../../src/simulate/simulation-options.ts";
import { makeVoxelGrid } from "../../src/voxelize/voxel-grid.ts";
import { runMain } from "./cli-in-process.ts";
import { startCli } from "./cli-process.ts";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "argument-edges-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Exit 2, nothing on stdout, exactly one line on stderr matching `pattern`. */
function expectRefused(r: { code: number; out: string; err: string }, pattern: RegExp): void {
  expect(r.code).toBe(2);
  expect(r.out).toBe("");
  expect(r.err.endsWith("\n")).toBe(true);
  expect(r.err.trimEnd().split("\n")).toHaveLength(1);
  expect(r.err).toMatch(/^diffuse-scale: /);
  expect(r.err).not.toMatch(/\n\s+at /);
  expect(r.err).toMatch(pattern);
}

/** The error `f` throws (or rejects with). */
async function thrown(f: () => unknown): Promise<unknown> {
  try {
    await f();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe("seeds are integers in 0..2^32-1", () => {
  const scaleArgs = ["scale", "--expt", "a.expt", "--refl", "b.refl", "--out", "o"];
  const simArgs = ["simulate", "--stills", "1", "--observations-per-still", "1", "--out", "o"];
  for (const seed of ["0.5", "1e308", "-1", "4294967296", "NaN", " "]) {
    it(`scale --seed "${seed}" exits 2 naming --seed`, async () => {
      const r = await runMain(...scaleArgs, "--seed", seed);
      expectRefused(r, /--seed must be an integer in 0\.\.4294967295, got "/);
    });
    it(`simulate --seed "${seed}" exits 2 naming --seed`, async () => {
      const r = await runMain(...simArgs, "--seed", seed);
      expectRefused(r, /--seed must be an integer in 0\.\.4294967295, got "/);
    });
  }
  it("the CLI's seed bound is the library's", () => {
    expect(seedFlag("--seed")(String(MAX_SEED))).toBe(MAX_SEED);
    expect(() => seedFlag("--seed")(String(MAX_SEED + 1))).toThrow(ConfigError);
  });
  it("checkSeed accepts the bounds and refuses the rest", () => {
    expect(checkSeed(0)).toBe(0);
    expect(checkSeed(MAX_SEED)).toBe(2 ** 32 - 1);
    for (const bad of [0.5, 1e308, -1, 2 ** 32, Number.NaN, Infinity, "1"]) {
      expect(() => checkSeed(bad)).toThrow(ConfigError);
    }
  });
  for (const seed of [Number.NaN, 0.5, 1e308, -1]) {
    it(`library: seed ${seed} is a ConfigError naming seed (scaleDataset, mergeDiffuse, simulateDataset)`, async () => {
      const outDir = join(dir, "never");
      // the seed is checked before any input is read: the paths do not exist
      const e1 = await thrown(() => scaleDataset({ exptPath: "missing.expt", reflPath: "missing.refl", outDir, seed }));
      expect(e1).toBeInstanceOf(ConfigError);
      expect((e1 as Error).message).toMatch(/^seed must be an integer in 0\.\.4294967295, got /);
      const obs = {} as ScalingObservations;
      const state = {} as JointModelState;
      const e2 = await thrown(() =>
        mergeDiffuse(obs, state, makeVoxelGrid(2, [1, 1, 1]), new Float64Array(9), { seed }),
      );
      expect(e2).toBeInstanceOf(ConfigError);
      expect((e2 as Error).message).toMatch(/^seed must be an integer/);
      const e3 = await thrown(() => simulateDataset({ outDir, stills: 1, observationsPerStill: 1, seed }));
      expect(e3).toBeInstanceOf(ConfigError);
      expect((e3 as Error).message).toMatch(/^--seed must be an integer in 0\.\.4294967295, got /);
    });
  }
});

describe("demo --smoother-points: the help lists what the check accepts", () => {
  it("the help's choices are the model's allowed control points", async () => {
    const r = await runMain("demo", "--help");
    expect(r.code).toBe(0);
    const choices = /--smoother-points <n>[^(]*\(choices:\s*((?:"\d+",?\s*)+)/.exec(r.out);
    expect(choices).not.toBeNull();
    expect(choices?.[1].replaceAll(/[",]/g, " ").trim().split(/\s+/).map(Number)).toEqual(ALLOWED_CONTROL_POINTS);
  });
  for (const n of ["1", "4", "6", "3.0", "abc"]) {
    it(`demo --smoother-points ${n} exits 2 naming the option and the choices`, async () => {
      const r = await runMain("demo", "--smoother-points", n, "--out", join(dir, "demo"));
      expectRefused(r, /option '--smoother-points <n>' argument '.*' is invalid\. Allowed choices are 2, 3, 5/);
    });
  }
});

describe("stdout closed early (EPIPE) ends the command quietly with exit 0", () => {
  for (const args of [["scale", "--help"], ["--help"]]) {
    it(`diffuse-scale ${args.join(" ")} into a closed pipe`, async () => {
      const child = startCli(args, dir);
      // close the read end before the CLI has started: its first write to stdout gets EPIPE
      child.stdout?.destroy();
      let stderr = "";
      child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
      const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
        (resolve, reject) => {
          child.on("error", reject);
          child.on("close", (c, s) => {
            resolve({ code: c, signal: s });
          });
        },
      );
      expect(signal).toBeNull();
      expect(code).toBe(0);
      expect(stderr).toBe("");
    }, 60_000);
  }
  it("other stream errors are not swallowed", () => {
    const stream = new PassThrough();
    const exits: number[] = [];
    endQuietlyOnEpipe(stream, (c) => exits.push(c));
    stream.emit("error", Object.assign(new Error("write EPIPE"), { code: "EPIPE" }));
    expect(exits).toEqual([0]);
    expect(() => stream.emit("error", Object.assign(new Error("write EIO"), { code: "EIO" }))).toThrow(/EIO/);
  });
});

describe("config JSON: duplicate and prototype keys, size", () => {
  const cases: [string, string, RegExp][] = [
    [
      "duplicate at the top",
      '{"partiality_threshold": 0.1, "partiality_threshold": 0.2}',
      /duplicate key "partiality_threshold" at the top level/,
    ],
    [
      "duplicate nested",
      '{"resolution_smoother": {"enabled": true, "enabled": false}}',
      /duplicate key "enabled" in resolution_smoother \(each key may appear once per object\)/,
    ],
    [
      "duplicate spelt with an escape",
      '{"per_still_scale": {"initial_values": {"0": 1, "\\u0030": 2}}}',
      /duplicate key "0" in per_still_scale\.initial_values/,
    ],
    ["__proto__", '{"__proto__": {"enabled": true}}', /key "__proto__" at the top level is not allowed/],
    [
      "constructor, nested",
      '{"resolution_smoother": {"constructor": 1}}',
      /key "constructor" in resolution_smoother is not allowed/,
    ],
    ["prototype in an array", '{"x": [{"a": 1}, {"prototype": 2}]}', /key "prototype" in x\.1 is not allowed/],
  ];
  for (const [what, text, pattern] of cases) {
    it(`${what}: ConfigError naming the file and key; scale exits 2`, async () => {
      const cfg = join(dir, "keys.json");
      writeFileSync(cfg, text);
      const e = await thrown(() => readDiffuseScalingConfigFile(cfg));
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as Error).message.startsWith(`${cfg}: `)).toBe(true);
      expect((e as Error).message).toMatch(pattern);
      const r = await runMain(
        "scale",
        "--expt",
        "a.expt",
        "--refl",
        "b.refl",
        "--config",
        cfg,
        "--out",
        join(dir, "o"),
      );
      expectRefused(r, pattern);
    });
  }
  it("values that look like keys, strings with quotes and escapes, and equal keys in different objects are fine", () => {
    expect(
      findJsonKeyProblem('{"a": "a", "b": {"a": 1}, "c": ["a", "a"], "d\\"": "\\"d\\"", "e": [{"a": 1}, {"a": 2}]}'),
    ).toBeUndefined();
    expect(findJsonKeyProblem('[1, "__proto__", {"k": "constructor"}]')).toBeUndefined();
    expect(findJsonKeyProblem('{"a": {"b": 1}, "a ": 2}')).toBeUndefined();
  });
  it("the key check is linear: 200 000 keys and 100 000 nesting levels in well under a second", () => {
    const wide = `{${Array.from({ length: 200_000 }, (_, i) => `"k${i}": ${i}`).join(",")}}`;
    const deep = `${"[".repeat(100_000)}{"a": 1, "a": 2}${"]".repeat(100_000)}`;
    const start = performance.now();
    expect(findJsonKeyProblem(wide)).toBeUndefined();
    expect(findJsonKeyProblem(deep)?.kind).toBe("duplicate");
    expect(performance.now() - start).toBeLessThan(1000);
  });
  it(`a config file over ${MAX_CONFIG_FILE_BYTES} bytes is refused before it is read`, async () => {
    const cfg = join(dir, "huge.json");
    writeFileSync(cfg, "");
    await truncate(cfg, 2 ** 40); // a sparse terabyte: reading it whole would never end
    const start = performance.now();
    const e = await thrown(() => readDiffuseScalingConfigFile(cfg));
    expect(performance.now() - start).toBeLessThan(1000);
    expect((e as Error).message).toBe(`${cfg}: config file is ${2 ** 40} bytes, more than the 16777216 allowed`);
    const r = await runMain("scale", "--expt", "a.expt", "--refl", "b.refl", "--config", cfg, "--out", join(dir, "o"));
    expectRefused(r, /huge\.json: config file is 1099511627776 bytes, more than the 16777216 allowed/);
  });
  it("a device that never ends is refused before it is read", async () => {
    const start = performance.now();
    const e = await thrown(() => readDiffuseScalingConfigFile("/dev/zero"));
    expect(performance.now() - start).toBeLessThan(5000);
    expect((e as Error).message).toBe("/dev/zero: cannot read config file: is a character device, not a regular file");
  });
});

describe("numeric arguments: integers where integers are meant, finite bounded ranges", () => {
  const scaleArgs = ["scale", "--expt", "a.expt", "--refl", "b.refl", "--out", "o"];
  const simArgs = ["simulate", "--observations-per-still", "1", "--out", "o"];
  const cli: [string, string[], RegExp][] = [
    [
      "simulate --stills 1e9",
      [...simArgs, "--stills", "1e9"],
      /--stills must be an integer in 1\.\.500000, got 1000000000/,
    ],
    [
      "simulate --smoother-amp 1e308",
      [...simArgs, "--stills", "1", "--smoother-amp", "1e308"],
      /--smoother-amp must be a number in \(-1, 1000\], got 1e\+308/,
    ],
    [
      "simulate --noise 1e308",
      [...simArgs, "--stills", "1", "--noise", "1e308"],
      /--noise must be a number in \[0, 1000\], got 1e\+308/,
    ],
    [
      "scale --threads 5000",
      [...scaleArgs, "--threads", "5000"],
      /--threads must be an integer in 1\.\.1024, got "5000"/,
    ],
    [
      "scale --threads 1.5",
      [...scaleArgs, "--threads", "1.5"],
      /--threads must be an integer in 1\.\.1024, got "1\.5"/,
    ],
    [
      "scale --max-iterations 1e300",
      [...scaleArgs, "--max-iterations", "1e300"],
      /--max-iterations must be a positive integer, got "1e300"/,
    ],
  ];
  for (const [what, args, pattern] of cli) {
    it(`${what} exits 2 naming the option and its bound`, async () => {
      const start = performance.now();
      expectRefused(await runMain(...args), pattern);
      expect(performance.now() - start).toBeLessThan(2000);
    });
  }
  it("resolveScalingOptions refuses NaN, non-safe integers and unbounded thread counts", () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ outlierZmax: Number.NaN }, /^outlierZmax must be >= 0 \(0 or Infinity disables rejection\), got NaN$/],
      [{ threads: 1e9 }, /^threads must be an integer in 1\.\.1024, got 1000000000$/],
      [{ threads: MAX_THREADS + 1 }, /^threads must be an integer in 1\.\.1024/],
      [{ shardRows: 1e300 }, /^shardRows must be an integer in 1\.\.2147483647, got 1e\+300$/],
      [{ maxIterations: 1e300 }, /^maxIterations must be a non-negative integer, got 1e\+300$/],
      [{ maxCycles: 2 ** 60 }, /^maxCycles must be a positive integer/],
      [{ iterativeAbove: Number.NaN }, /^iterativeAbove must be >= 0/],
      [{ denseGroupLimit: Number.NaN }, /^denseGroupLimit must be >= 0/],
      [{ convergenceTolerance: Infinity }, /^convergenceTolerance must be finite and >= 0/],
    ];
    for (const [options, pattern] of bad) {
      expect(() => resolveScalingOptions(options)).toThrow(ConfigError);
      expect(() => resolveScalingOptions(options)).toThrow(pattern);
    }
    expect(resolveScalingOptions({ threads: MAX_THREADS, outlierZmax: Infinity }).threads).toBe(1024);
  });
  it("scaleDataset checks the refinement options before reading any input", async () => {
    const e = await thrown(() =>
      scaleDataset({
        exptPath: "missing.expt",
        reflPath: "missing.refl",
        outDir: join(dir, "never"),
        outlierZmax: Number.NaN,
      }),
    );
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as Error).message).toMatch(/^outlierZmax must be >= 0/);
  });
  it("generateReferences refuses zmax NaN instead of turning outlier rejection off", () => {
    const model = new DiffuseScalingModel({}, { nStills: 2 });
    expect(() => model.generateReferences(undefined, undefined, { zmax: Number.NaN })).toThrow(
      /^zmax must be >= 0 \(0 or Infinity disables rejection\), got NaN$/,
    );
    expect(() => model.generateReferences(undefined, undefined, { zmax: -1 })).toThrow(ConfigError);
  });
  it("a model of 1e9 stills is refused at once, not allocated", () => {
    const start = performance.now();
    for (const nStills of [1e9, 2 ** 24 + 1, 1.5, Number.NaN]) {
      expect(() => new DiffuseScalingModel({}, { nStills })).toThrow(ConfigError);
      expect(() => new DiffuseScalingModel({}, { nStills })).toThrow(
        /^nStills \(experiments\) must be an integer in 1\.\.16777216, got /,
      );
    }
    expect(performance.now() - start).toBeLessThan(1000);
  });
  it("simulateDataset refuses more stills than it can write, and amplitudes or noise that would overflow", async () => {
    const base = { outDir: join(dir, "never"), stills: 1, observationsPerStill: 1 };
    for (const [bad, pattern] of [
      [{ stills: 1e9 }, /^--stills must be an integer in 1\.\.500000, got 1000000000$/],
      [{ stills: MAX_SIMULATED_STILLS + 1 }, /^--stills must be an integer in 1\.\.500000/],
      [{ smootherAmp: 1e308 }, /^--smoother-amp must be a number in \(-1, 1000\], got 1e\+308$/],
      [{ smootherAmp: -1 }, /^--smoother-amp must be a number in \(-1, 1000\]/],
      [{ noise: 1e22 }, /^--noise must be a number in \[0, 1000\], got 1e\+22$/],
    ] as const) {
      const e = await thrown(() => simulateDataset({ ...base, ...bad }));
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as Error).message).toMatch(pattern);
    }
    expect(resolveSimulateOptions({ ...base, smootherAmp: 1000, noise: 1000 }).smootherAmp).toBe(1000);
  });
});
