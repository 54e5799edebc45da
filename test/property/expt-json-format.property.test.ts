import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { formatExperimentJson } from "../../src/io/expt-json.ts";

/** The oracle: JSON.stringify with two-space indentation, negative zero written as DIALS (Python) writes it. */
function reference(value: unknown): string {
  const NEG_ZERO = "\u0000negative-zero\u0000";
  const text = JSON.stringify(value, (_k, v: unknown) => (Object.is(v, -0) ? NEG_ZERO : v), 2);
  return text.split(JSON.stringify(NEG_ZERO)).join("-0.0");
}

describe("formatExperimentJson", () => {
  it("equals JSON.stringify(value, null, 2) on JSON data (negative zero as -0.0)", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), (v) => {
        expect(formatExperimentJson(v)).toBe(reference(v));
      }),
      { seed: 42, numRuns: 300 },
    );
  });

  it("writes typed arrays as lists, non-finite numbers as NaN/Infinity, and skips undefined members", () => {
    const text = formatExperimentJson({
      a: new Float64Array([1.5, -0, NaN]),
      b: [Infinity, -Infinity, undefined],
      c: undefined,
      d: { toJSON: () => ({ e: new Int32Array(0) }) },
      f: {},
    });
    expect(text).toBe(
      '{\n  "a": [\n    1.5,\n    -0.0,\n    NaN\n  ],\n  "b": [\n    Infinity,\n    -Infinity,\n    null\n  ],\n' +
        '  "d": {\n    "e": []\n  },\n  "f": {}\n}',
    );
  });
});
