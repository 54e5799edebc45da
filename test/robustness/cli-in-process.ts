/**
 * Running the `diffuse-scale` CLI in-process through `main(argv)`, with stdout and stderr captured, for the tests
 * of exit codes and messages. Not a test file itself.
 */
import { vi } from "vitest";
import { main } from "../../src/cli/program.ts";

/** Runs `main` in-process, capturing stdout/stderr writes; `process.exitCode` is restored afterwards. */
export async function runMain(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const o = vi.spyOn(process.stdout, "write").mockImplementation((s: string | Uint8Array) => {
    out += String(s);
    return true;
  });
  const e = vi.spyOn(process.stderr, "write").mockImplementation((s: string | Uint8Array) => {
    err += String(s);
    return true;
  });
  const before = process.exitCode;
  try {
    const code = await main(["node", "diffuse-scale", ...args]);
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
    process.exitCode = before;
  }
}
