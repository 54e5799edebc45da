/**
 * The CLI's progress display: nothing at all with `--quiet` or off a terminal (cli-progress is then never loaded),
 * bars on a terminal.
 */
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createProgressReporter } from "../../src/cli/progress.ts";

/** A writable that records what is written and claims (or not) to be a terminal. */
function fakeStream(isTTY: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  const chunks: string[] = [];
  const w = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  Object.assign(w, {
    isTTY,
    columns: 100,
    cursorTo: () => true,
    clearLine: () => true,
    moveCursor: () => true,
  });
  return { stream: w as unknown as NodeJS.WriteStream, text: () => chunks.join("") };
}

describe("createProgressReporter", () => {
  it("writes nothing when the stream is not a terminal", () => {
    const s = fakeStream(false);
    const p = createProgressReporter({ stream: s.stream });
    p.report({ phase: "read", done: 1, total: 3, label: "reflections" });
    p.stop();
    expect(s.text()).toBe("");
  });

  it("writes nothing with quiet, even on a terminal", () => {
    const s = fakeStream(true);
    const p = createProgressReporter({ quiet: true, stream: s.stream });
    p.report({ phase: "read", done: 1, total: 3, label: "reflections" });
    p.stop();
    expect(s.text()).toBe("");
  });

  it("draws a bar with the phase, the count and the label on a terminal", () => {
    const s = fakeStream(true);
    const p = createProgressReporter({ stream: s.stream });
    p.report({ phase: "read", done: 2, total: 3, label: "diffuse" });
    p.report({ phase: "refine", cycle: 0, iteration: 3, rmsd: 0.5, rFactor: 0.0346, seconds: 0.3 });
    p.stop();
    const text = s.text();
    expect(text).toContain("read");
    expect(text).toContain("2/3 diffuse");
    expect(text).toContain("refine cycle 1");
    expect(text).toContain("R 0.0346");
  });
});
