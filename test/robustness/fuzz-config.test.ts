/**
 * Fuzzing of the configuration reader (issue 7): 10,000 cases in three families. Random JSON values and
 * schema-shaped objects with hostile values through {@link parseDiffuseScalingConfigJson} and
 * {@link resolveDiffuseScalingConfig}; structural mutations (type swaps, deletions, length lies) of a full valid
 * configuration; and byte-level mutations of the configuration file's text through the `scaleDataset` entry point
 * (which reads the configuration before anything else). Every case must end in a typed error (ConfigError,
 * InputError, or the v1 guards DisabledComponentAccess / ParameterLimitExceeded) on one line, naming the file where
 * the error concerns the file's content, or in a configuration whose every number is finite and in its domain.
 */
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, DisabledComponentAccess, InputError, ParameterLimitExceeded } from "../../src/errors.ts";
import {
  parseDiffuseScalingConfigJson,
  resolveDiffuseScalingConfig,
  type DiffuseScalingConfig,
} from "../../src/refine/config.ts";
import { scaleDataset } from "../../src/job/scale-dataset.ts";
import {
  CASE_TIME_LIMIT_MS,
  Tally,
  applyMutation,
  classify,
  expectClean,
  mutationArb,
  withTimeout,
  scratchDirectory,
} from "./fuzz-harness.ts";

const NAME = "model.json";
const TYPED = [ConfigError, InputError, DisabledComponentAccess, ParameterLimitExceeded];
const scratch = scratchDirectory("fuzz-config-");

/** A configuration with every key set. */
const FULL = {
  per_still_scale: { enabled: true, initial_values: { "0": 1.2, "3": 0.8 } },
  resolution_smoother: { enabled: true, n_control_points: 5, resolution_range: [0.05, 0.9], restraint_weight: 100 },
  experimental_components: {
    panel_scale: { enabled: false },
    spatial_scale: { enabled: false },
    additive_offset: { enabled: false },
  },
  partiality_threshold: 0.25,
};

/** A resolved configuration must hold only finite, in-domain values. */
function checkResolved(c: DiffuseScalingConfig): void {
  const r = c.resolutionSmoother;
  const ok =
    c.perStillScale.enabled &&
    [...c.perStillScale.initialValues].every(
      ([k, v]) => Number.isInteger(k) && k >= 0 && v > 0 && Number.isFinite(v),
    ) &&
    (!r.enabled || [2, 3, 5].includes(r.nControlPoints)) &&
    Number.isFinite(r.restraintWeight) &&
    r.restraintWeight >= 0 &&
    (r.resolutionRange === undefined ||
      (Number.isFinite(r.resolutionRange[0]) &&
        r.resolutionRange[1] > r.resolutionRange[0] &&
        r.resolutionRange[0] >= 0)) &&
    c.partialityThreshold >= 0 &&
    c.partialityThreshold <= 1 &&
    !c.experimentalComponents.panelScale.enabled &&
    !c.experimentalComponents.spatialScale.enabled &&
    !c.experimentalComponents.additiveOffset.enabled;
  if (!ok)
    throw new Error(
      `accepted an out-of-domain configuration: ${JSON.stringify(c, (_k, v: unknown) => (v instanceof Map ? [...v] : v))}`,
    );
}

/** Parses then resolves; parse-stage errors must name the file (resolve-stage guards concern values, not bytes). */
function runCase(t: Tally, json: unknown): void {
  const start = performance.now();
  let stage: "parse" | "resolve" = "parse";
  try {
    const input = parseDiffuseScalingConfigJson(json, NAME);
    stage = "resolve";
    checkResolved(resolveDiffuseScalingConfig(input));
    t.record("valid", performance.now() - start);
  } catch (err) {
    const c = classify(err, TYPED, stage === "parse" ? NAME : undefined);
    t.record(c.outcome, performance.now() - start, `${stage}: ${c.detail}`);
  }
}

const hostileNumber = fc.oneof(
  fc.double(),
  fc.integer({ min: -10, max: 10 }),
  fc.constantFrom(0, -0, 1, 2, 3, 4, 5, 6, 1e308, -1e308, 5e-324, 2 ** 53, NaN, Infinity, -Infinity),
);
const hostile: fc.Arbitrary<unknown> = fc.oneof(
  hostileNumber,
  fc.constantFrom(null, true, false, "", "3", [], {}, [1], [1, 2, 3], { enabled: true }, { enabled: "yes" }),
  fc.string({ maxLength: 6 }),
  fc.array(hostileNumber, { maxLength: 3 }),
);
const maybe = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined });

/** Objects shaped like the schema (right keys, often wrong values), plus unknown keys now and then. */
const schemaShaped: fc.Arbitrary<unknown> = fc.record(
  {
    per_still_scale: fc.oneof(
      hostile,
      fc.record(
        {
          enabled: fc.oneof(fc.boolean(), hostile),
          initial_values: fc.oneof(
            hostile,
            fc.dictionary(fc.oneof(fc.nat(50).map(String), fc.string({ maxLength: 4 })), hostileNumber, { maxKeys: 4 }),
          ),
        },
        { requiredKeys: [] },
      ),
    ),
    resolution_smoother: fc.oneof(
      hostile,
      fc.record(
        {
          enabled: fc.oneof(fc.boolean(), hostile),
          n_control_points: fc.oneof(fc.integer({ min: -2, max: 9 }), hostile),
          resolution_range: fc.oneof(fc.tuple(hostileNumber, hostileNumber), hostile),
          restraint_weight: hostileNumber,
        },
        { requiredKeys: [] },
      ),
    ),
    experimental_components: fc.oneof(
      hostile,
      fc.record(
        {
          panel_scale: fc.oneof(fc.record({ enabled: fc.boolean() }), hostile),
          spatial_scale: fc.oneof(fc.record({ enabled: fc.boolean() }), hostile),
          additive_offset: fc.oneof(fc.record({ enabled: fc.boolean() }), hostile),
        },
        { requiredKeys: [] },
      ),
    ),
    partiality_threshold: hostileNumber,
    [`unknown\nkey`]: maybe(hostile),
    __proto__: maybe(hostile),
  },
  { requiredKeys: [] },
);

/** Structural mutation of FULL: replace or delete one leaf or object, or add a key. */
function paths(v: unknown, prefix: string[] = [], out: string[][] = []): string[][] {
  if (v !== null && typeof v === "object") {
    for (const [k, x] of Object.entries(v)) {
      out.push([...prefix, k]);
      paths(x, [...prefix, k], out);
    }
  }
  return out;
}
const FULL_PATHS = paths(FULL);
const structural = fc
  .tuple(fc.nat(FULL_PATHS.length - 1), fc.constantFrom("replace", "delete", "add"), hostile)
  .map(([i, kind, value]) => {
    const doc = structuredClone(FULL) as Record<string, unknown>;
    const path = FULL_PATHS[i];
    let parent = doc;
    for (const k of path.slice(0, -1)) parent = parent[k] as Record<string, unknown>;
    const key = path[path.length - 1];
    if (kind === "replace") parent[key] = value;
    else if (kind === "delete") Reflect.deleteProperty(parent, key);
    else parent[`${key}_extra`] = value;
    return doc;
  });

describe("fuzzing the configuration reader", () => {
  it("10,000 hostile configurations: only one-line typed errors, or finite in-domain configurations", async () => {
    const t = new Tally();
    fc.assert(
      fc.property(fc.jsonValue(), (json) => {
        runCase(t, json);
        return true;
      }),
      { seed: 42, numRuns: 1500 },
    );
    fc.assert(
      fc.property(schemaShaped, (json) => {
        runCase(t, json);
        return true;
      }),
      { seed: 43, numRuns: 3500 },
    );
    fc.assert(
      fc.property(structural, (json) => {
        runCase(t, json);
        return true;
      }),
      { seed: 44, numRuns: 2000 },
    );
    // Byte-level mutations of the file text, through scaleDataset (the config is read first; a configuration that is
    // accepted then fails on the missing experiment list, which counts as "valid" for the config reader).
    const base = new TextEncoder().encode(JSON.stringify(FULL, null, 2));
    const cfg = join(scratch(), NAME);
    const expt = join(scratch(), "absent.expt");
    await fc.assert(
      fc.asyncProperty(mutationArb(0, 0), async (m) => {
        writeFileSync(cfg, applyMutation(base, m, [], []));
        const start = performance.now();
        try {
          await withTimeout(
            scaleDataset({ exptPath: expt, reflPath: expt, configPath: cfg, outDir: join(scratch(), "out") }),
            CASE_TIME_LIMIT_MS,
          );
          t.record("other", performance.now() - start, "scaleDataset succeeded without an experiment list");
        } catch (err) {
          const c = classify(err, TYPED, undefined);
          const message = err instanceof Error ? err.message : "";
          if (c.outcome === "typed" && message.startsWith(`${expt}:`)) t.record("valid", performance.now() - start);
          else if (c.outcome === "typed" && !message.includes(cfg))
            t.record("other", performance.now() - start, `file not named: ${message}`);
          else t.record(c.outcome, performance.now() - start, c.detail);
        }
        return true;
      }),
      { seed: 45, numRuns: 3000 },
    );
    console.log(t.line("config"));
    expectClean(t, 10_000);
    expect(t.typed).toBeGreaterThan(t.cases / 3);
    expect(t.valid).toBeGreaterThan(0);
  });
});
