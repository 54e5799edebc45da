/**
 * `inspect --json` against what DIALS 3.12 itself reports for every fixture file (made by DIALS, saved in
 * test/fixtures/dials/inspect-dials.json): row counts, column names, identifiers; experiment count, Hall symbol and
 * unit cell to 1e-6.
 */
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runInspect } from "../../src/cli/inspect.ts";

const shared = fileURLToPath(new URL("../../../shared/fixtures/", import.meta.url));
const reference = JSON.parse(
  readFileSync(new URL("../fixtures/dials/inspect-dials.json", import.meta.url), "utf8"),
) as {
  files: Record<
    string,
    {
      nrows?: number;
      columns?: string[];
      identifiers?: Record<string, string>;
      n?: number;
      crystals?: [string, number[]][];
    }
  >;
};

describe.skipIf(!existsSync(shared))("inspect --json agrees with DIALS", () => {
  for (const [file, ref] of Object.entries(reference.files)) {
    it(file, async () => {
      const ours = JSON.parse(await runInspect(shared + file, { json: true })) as {
        nrows?: number;
        columns?: Record<string, string>;
        identifiers?: Record<string, string>;
        n_experiments?: number;
        crystals?: { space_group_hall: string; unit_cell: number[] }[];
      };
      if (file.endsWith(".refl")) {
        expect(ours.nrows).toBe(ref.nrows);
        expect(Object.keys(ours.columns ?? {}).sort()).toEqual(ref.columns);
        expect(ours.identifiers).toEqual(ref.identifiers);
      } else {
        expect(ours.n_experiments).toBe(ref.n);
        (ref.crystals ?? []).forEach(([hall, cell], i) => {
          const c = ours.crystals?.[i];
          expect(c?.space_group_hall.trim()).toBe(hall.trim());
          cell.forEach((v, j) => {
            expect(Math.abs((c?.unit_cell[j] ?? NaN) - v)).toBeLessThan(1e-6);
          });
        });
      }
    });
  }
});
