/** The refinement options resolver: every default in one place, validated once, resolving twice is a no-op. */
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/errors.ts";
import { resolveScalingOptions, SCALING_DEFAULTS } from "../../src/refine/scaling-options.ts";

describe("resolveScalingOptions", () => {
  it("fills in every default, for missing and for undefined fields alike", () => {
    expect(resolveScalingOptions()).toEqual(SCALING_DEFAULTS);
    expect(resolveScalingOptions({ maxIterations: undefined, threads: undefined })).toEqual(SCALING_DEFAULTS);
    expect(SCALING_DEFAULTS).toMatchObject({ maxIterations: 100, convergenceTolerance: 1e-4, outlierZmax: 6 });
  });

  it("keeps given values, ignores other fields and returns a frozen object", () => {
    const r = resolveScalingOptions({ ...{ outDir: "x" }, outlierZmax: 0, minimizer: "gauss_newton", shardRows: 10 });
    expect(r).toEqual({ ...SCALING_DEFAULTS, outlierZmax: 0, minimizer: "gauss_newton", shardRows: 10 });
    expect(Object.isFrozen(r)).toBe(true);
    expect(resolveScalingOptions({ outlierZmax: Infinity }).outlierZmax).toBe(Infinity);
  });

  it("returns a resolved object unchanged (validated once), and re-validates a modified copy", () => {
    const r = resolveScalingOptions({ threads: 2 });
    expect(resolveScalingOptions(r)).toBe(r);
    expect(resolveScalingOptions(SCALING_DEFAULTS)).toBe(SCALING_DEFAULTS);
    expect(() => resolveScalingOptions({ ...r, threads: 0 })).toThrow(ConfigError);
  });

  const invalid: [string, Record<string, unknown>, RegExp][] = [
    ["minimizer", { minimizer: "bfgs" }, /^minimizer must be "lm" or "gauss_newton", got "bfgs"$/],
    ["maxIterations", { maxIterations: -1 }, /^maxIterations must be a non-negative integer, got -1$/],
    ["maxIterations", { maxIterations: 2.5 }, /maxIterations/],
    ["convergenceTolerance", { convergenceTolerance: NaN }, /convergenceTolerance must be finite/],
    ["outlierZmax", { outlierZmax: -1 }, /outlierZmax must be >= 0/],
    ["maxCycles", { maxCycles: 0 }, /maxCycles must be a positive integer/],
    ["threads", { threads: 1.5 }, /^threads must be an integer in 1..1024, got 1.5$/],
    ["iterativeAbove", { iterativeAbove: NaN }, /iterativeAbove/],
    ["denseGroupLimit", { denseGroupLimit: -2 }, /denseGroupLimit/],
    ["shardRows", { shardRows: 0 }, /shardRows must be an integer in 1..2147483647/],
  ];
  for (const [name, options, message] of invalid) {
    it(`rejects an invalid ${name} (${JSON.stringify(options)}) with a ConfigError`, () => {
      expect(() => resolveScalingOptions(options)).toThrow(ConfigError);
      expect(() => resolveScalingOptions(options)).toThrow(message);
    });
  }
});
