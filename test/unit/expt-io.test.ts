import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, InputError } from "../../src/errors.ts";
import { ExperimentList, parseExperiments, readExperiments, writeExperiments } from "../../src/io/expt.ts";
import { formatExperimentJson } from "../../src/io/expt-json.ts";
import type { Crystal, Experiment, Panel } from "../../src/io/expt-models.ts";
import {
  mat3Determinant,
  mat3Multiply,
  mat3Transpose,
  mat3Vec3,
  vec3,
  vec3Dot,
  vec3Length,
} from "../../src/geometry/vector-maths.ts";
import { readReflections } from "../../src/io/refl-read.ts";

const FIX = join(import.meta.dirname, "..", "fixtures", "expt");
const fx = (name: string): string => join(FIX, name);

let tmp = "";
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "expt-io-"));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function rawJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(path, "utf8")) as Record<string, unknown>;
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) expect(Math.abs(actual[i] - expected[i])).toBeLessThanOrEqual(tol);
}

function crystalOf(e: Experiment | undefined): Crystal {
  if (e?.crystal === undefined) throw new Error("test: experiment has no crystal");
  return e.crystal;
}

function firstPanel(e: Experiment | undefined): Panel {
  const p = e?.detector?.panels[0];
  if (p === undefined) throw new Error("test: experiment has no panel");
  return p;
}

/** Expect an InputError whose message is exactly `message`. */
async function expectInputError(p: Promise<unknown>, message: string | RegExp): Promise<void> {
  const err: unknown = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InputError);
  if (typeof message === "string") expect((err as Error).message).toBe(message);
  else expect((err as Error).message).toMatch(message);
  expect((err as Error).message).not.toMatch(/\n/);
}

function expectParseError(doc: unknown, name: string, message: string | RegExp): void {
  let err: unknown;
  try {
    parseExperiments(doc, name);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(InputError);
  if (typeof message === "string") expect((err as Error).message).toBe(message);
  else expect((err as Error).message).toMatch(message);
}

describe("readExperiments: DIALS facts", () => {
  it("ssx_CuNiR integrated.expt: 5 stills in P 21 3 with Sauter2014 mosaicity", async () => {
    const list = await readExperiments(fx("ssx-cunir-integrated.expt"));
    const raw = await rawJson(fx("ssx-cunir-integrated.expt"));
    expect(list.length).toBe(5);
    const rawExpts = raw.experiment as { identifier: string }[];
    list.experiments.forEach((e, i) => {
      expect(e.identifier).toBe(rawExpts[i].identifier);
      expect(crystalOf(e).spaceGroupHall).toBe(" P 2ac 2ab 3");
      expect(e.scan).toBeUndefined();
      expect(e.goniometer).toBeUndefined();
      expect(e.scalingModel).toBeUndefined();
    });
    const e0 = list.experiments[0];
    expect(crystalOf(e0).mosaicity).toEqual({
      halfMosaicityDeg: 0.04057373200215286,
      domainSizeAng: 10228.023127344168,
    });
    // beam: direction (0, 0, 1), wavelength 1.37611 Å → s0 = (0, 0, −1/1.37611)
    expect(e0.beam?.wavelength).toBe(1.37611);
    expectClose(e0.beam?.s0 ?? [], [0, 0, -1 / 1.37611], 1e-15);
    // cubic cell, all angles 90°
    const cell = crystalOf(e0).unitCell;
    expect(Math.abs(cell[0] - cell[1])).toBeLessThan(1e-9);
    expect(Math.abs(cell[0] - cell[2])).toBeLessThan(1e-9);
    expectClose(cell.slice(3), [90, 90, 90], 1e-9);
  });

  it.each(["sim-tetragonal-40-stills.expt", "sim-smoother-40-stills.expt"])(
    "%s: 40 stills, Hall ' P 4nw 2abw', cell 79.1 79.1 37.9 90 90 90",
    async (name) => {
      const list = await readExperiments(fx(name));
      expect(list.length).toBe(40);
      list.experiments.forEach((e, i) => {
        expect(e.identifier).toBe(`still-${String(i).padStart(5, "0")}`);
        const c = crystalOf(e);
        expect(c.spaceGroupHall).toBe(" P 4nw 2abw");
        expectClose(c.unitCell, [79.1, 79.1, 37.9, 90, 90, 90], 1e-6);
        expect(c.mosaicity).toEqual({ halfMosaicityDeg: 0.05, domainSizeAng: 1000 });
        expect(e.scan).toBeUndefined();
        expect(e.goniometer).toBeUndefined();
      });
      // shared models: every experiment points at beam 0 and detector 0
      expect(list.experiments[7].beam).toBe(list.experiments[0].beam);
      expect(list.experiments[7].detector).toBe(list.experiments[0].detector);
    },
  );

  it("quartz scaled.expt keeps the physical scaling model verbatim", async () => {
    const list = await readExperiments(fx("quartz-scaled.expt"));
    const raw = await rawJson(fx("quartz-scaled.expt"));
    const model = list.experiments[0].scalingModel;
    expect(model?.__id__).toBe("physical");
    expect(model).toEqual((raw.scaling_model as unknown[])[0]);
    const scale = model?.scale as { n_parameters: number; parameters: number[] };
    expect(scale.n_parameters).toBe(9);
    expect(scale.parameters[0]).toBe(0.9538401200987155);
    // Hall symbol kept verbatim, including the leading space and the trailing quote
    expect(crystalOf(list.experiments[0]).spaceGroupHall).toBe(' P 31 2"');
    // rotation geometry
    const e = list.experiments[0];
    expect(e.scan?.imageRange).toEqual([1, 100]);
    expect(e.scan?.oscillation).toEqual([-50, 1]);
    expect(e.scan?.batchOffset).toBe(0);
    const axis = [0.9999570551912293, 0.009267565661199248, 0];
    const n = Math.hypot(axis[0], axis[1], axis[2]);
    expectClose(e.goniometer?.rotationAxis ?? [], [axis[0] / n, axis[1] / n, 0], 1e-15);
    expectClose(e.goniometer?.fixedRotation ?? [], [1, 0, 0, 0, 1, 0, 0, 0, 1], 0);
    expect(e.goniometer?.multiAxis).toBeUndefined();
  });

  it("ssx_CuNiR scaled.expt: KB models verbatim, one per experiment", async () => {
    const list = await readExperiments(fx("ssx-cunir-scaled.expt"));
    const raw = await rawJson(fx("ssx-cunir-scaled.expt"));
    expect(list.length).toBe(5);
    list.experiments.forEach((e, i) => {
      expect(e.scalingModel?.__id__).toBe("KB");
      expect(e.scalingModel).toEqual((raw.scaling_model as unknown[])[i]);
    });
  });

  it("quartz: the panel frame is composed with the detector hierarchy (non-zero group origin)", async () => {
    const list = await readExperiments(fx("quartz-integrated.expt"));
    const p = firstPanel(list.experiments[0]);
    // panel local origin (-13.154675924679426, 13.31205573740905, -280) + group origin (0.104, -0.156, 0); group axes are x, y
    expectClose(
      p.origin,
      [-13.154675924679426 + 0.1039999999999992, 13.31205573740905 - 0.15600000000000058, -280],
      1e-12,
    );
    expectClose(p.fastAxis, [1, 0, 0], 0);
    expectClose(p.slowAxis, [0, -1, 0], 0);
    expect(p.pixelSize).toEqual([0.026, 0.026]);
    expect(p.imageSize).toEqual([1024, 1024]);
  });

  it("l-cysteine: multi-axis goniometer, legacy scan and legacy beam (no __id__)", async () => {
    const list = await readExperiments(fx("l-cysteine-11-integrated.expt"));
    const e = list.experiments[0];
    expect(e.identifier).toBe("0812526a-eca7-467f-b271-26cb05ff56f4");
    const g = e.goniometer;
    // axes [[0.5774, -0.8165, 0], [1, 0, 0]], angles [0, -145], scan_axis 1 → rotation axis x, F = R(phi axis, 0°) = I
    expectClose(g?.rotationAxis ?? [], [1, 0, 0], 0);
    expectClose(g?.fixedRotation ?? [], [1, 0, 0, 0, 1, 0, 0, 0, 1], 1e-15);
    expectClose(g?.settingRotation ?? [], [1, 0, 0, 0, 1, 0, 0, 0, 1], 0);
    expect(g?.multiAxis?.names).toEqual(["GON_PHI", "GON_OMEGA"]);
    expect(g?.multiAxis?.scanAxis).toBe(1);
    expect(e.scan?.imageRange).toEqual([1, 10]);
    expect(e.scan?.oscillation).toEqual([-145, 0.1]);
    expect(e.beam?.probe).toBe("x-ray");
    expect(e.beam?.wavelength).toBe(0.6889);
    expect(crystalOf(e).spaceGroupHall).toBe(" P 2 2");
  });
});

describe("crystal matrices", () => {
  it("A = [a;b;c]^-1, U = A·B^-1 is a rotation, B is the transposed cctbx fractionalisation matrix", async () => {
    const list = await readExperiments(fx("quartz-scaled.expt"));
    const c = crystalOf(list.experiments[0]);
    expectClose(mat3Multiply(c.A, c.Ainv), [1, 0, 0, 0, 1, 0, 0, 0, 1], 1e-13);
    expectClose(c.Ainv, [...c.realSpaceA, ...c.realSpaceB, ...c.realSpaceC], 0);
    expectClose(mat3Multiply(c.U, mat3Transpose(c.U)), [1, 0, 0, 0, 1, 0, 0, 0, 1], 1e-12);
    expect(Math.abs(mat3Determinant(c.U) - 1)).toBeLessThan(1e-12);
    expectClose(mat3Multiply(c.U, c.B), c.A, 1e-14);
    // B is lower triangular with B[0] = 1/a (cctbx: F[0][0] = 1/a)
    expect(Math.abs(c.B[1])).toBe(0);
    expect(Math.abs(c.B[2])).toBe(0);
    expect(Math.abs(c.B[5])).toBe(0);
    expect(Math.abs(c.B[0] - 1 / c.unitCell[0])).toBeLessThan(1e-15);
    // hexagonal cell (quartz): a = b, gamma = 120
    expect(Math.abs(c.unitCell[0] - c.unitCell[1])).toBeLessThan(1e-9);
    expectClose(c.unitCell.slice(3), [90, 90, 120], 1e-9);
  });

  it("matches DIALS's predictions on the simulated stills: d = 1/|A·h| and s1 ∥ pixelToLab(xyzcal.px)", async () => {
    const list = await readExperiments(fx("sim-tetragonal-40-stills.expt"));
    const rows = JSON.parse(await readFile(fx("sim-tetragonal-40-rows.json"), "utf8")) as {
      id: number;
      panel: number;
      "xyzcal.px": number[];
      s1: number[];
      miller_index: number[];
      d: number;
    }[];
    expect(rows.length).toBe(8);
    for (const r of rows) {
      const e = list.experiments[r.id];
      const c = crystalOf(e);
      const h = vec3(r.miller_index[0], r.miller_index[1], r.miller_index[2]);
      expect(Math.abs(1 / vec3Length(mat3Vec3(c.A, h)) - r.d)).toBeLessThan(1e-9 * r.d);
      const panel = e.detector?.panels[r.panel];
      if (panel === undefined) throw new Error("test: missing panel");
      const lab = panel.pixelToLab(r["xyzcal.px"][0], r["xyzcal.px"][1]);
      const s1 = vec3(r.s1[0], r.s1[1], r.s1[2]);
      const cos = vec3Dot(lab, s1) / (vec3Length(lab) * vec3Length(s1));
      expect(1 - cos).toBeLessThan(1e-12);
      // |s1| = |s0| = 1/λ
      expect(Math.abs(vec3Length(s1) - vec3Length(e.beam?.s0 ?? vec3(0, 0, 0)))).toBeLessThan(1e-12);
    }
  });

  it("pixelToLab = origin + fast·px·x + slow·px·y on the simulated detector", async () => {
    const list = await readExperiments(fx("sim-tetragonal-40-stills.expt"));
    const p = firstPanel(list.experiments[0]);
    // file: origin (-211, 217, -150), fast (1, 0, 0), slow (0, -1, 0), pixel 0.172 mm, 2463 × 2527 pixels
    expectClose(p.origin, [-211, 217, -150], 0);
    expect(p.imageSize).toEqual([2463, 2527]);
    expectClose(p.pixelToLab(0, 0), [-211, 217, -150], 0);
    expectClose(p.pixelToLab(100, 200), [-211 + 17.2, 217 - 34.4, -150], 1e-12);
    expectClose(p.pixelToLab(2463, 2527), [-211 + 2463 * 0.172, 217 - 2527 * 0.172, -150], 1e-12);
  });

  it("matches DIALS's rotation data: d = 1/|A·h| and s1 ∥ origin + fast·x_mm + slow·y_mm (l-cysteine)", async () => {
    const list = await readExperiments(fx("l-cysteine-11-integrated.expt"));
    const t = await readReflections(fx("l-cysteine-11-integrated.refl"));
    const e = list.experiments[0];
    const c = crystalOf(e);
    const p = firstPanel(e);
    const hkl = t.column("miller_index").data as Int32Array;
    const d = t.column("d").data as Float64Array;
    const mm = t.column("xyzcal.mm").data as Float64Array;
    const s1 = t.column("s1").data as Float64Array;
    expect(t.nrows).toBe(92);
    let checked = 0;
    let dChecked = 0;
    for (let i = 0; i < t.nrows; i++) {
      // 7 rows are unindexed (hkl 0 0 0, d 0, flagged BadReference/centroid outlier): nothing to compare
      if (hkl[3 * i] === 0 && hkl[3 * i + 1] === 0 && hkl[3 * i + 2] === 0) continue;
      checked++;
      // rows 82-91 (strong spots that were not integrated) carry d = 0
      if (d[i] > 0) {
        dChecked++;
        const r = mat3Vec3(c.A, vec3(hkl[3 * i], hkl[3 * i + 1], hkl[3 * i + 2]));
        expect(Math.abs(1 / vec3Length(r) - d[i])).toBeLessThan(1e-9 * d[i]);
      }
      const x = mm[3 * i];
      const y = mm[3 * i + 1];
      const lab = vec3(
        p.origin[0] + p.fastAxis[0] * x + p.slowAxis[0] * y,
        p.origin[1] + p.fastAxis[1] * x + p.slowAxis[1] * y,
        p.origin[2] + p.fastAxis[2] * x + p.slowAxis[2] * y,
      );
      const s = vec3(s1[3 * i], s1[3 * i + 1], s1[3 * i + 2]);
      expect(1 - vec3Dot(lab, s) / (vec3Length(lab) * vec3Length(s))).toBeLessThan(1e-12);
    }
    expect(checked).toBe(85);
    expect(dChecked).toBe(75);
  });
});

describe("round trip", () => {
  it("reading and writing back every .expt fixture gives deep-equal JSON", async () => {
    const names = (await readdir(FIX)).filter((n) => n.endsWith(".expt"));
    expect(names.length).toBe(7);
    for (const name of names) {
      const list = await readExperiments(fx(name));
      const out = join(tmp, name);
      await writeExperiments(out, list);
      expect(JSON.parse(await readFile(out, "utf8"))).toEqual(await rawJson(fx(name)));
      // no temporary file left behind
      expect((await readdir(tmp)).filter((n) => n.includes(name) && n !== name)).toEqual([]);
    }
  });

  it("writes DIALS layout (indent 2), -0.0, NaN and Infinity as Python does, and reads them back", async () => {
    const doc = {
      __id__: "ExperimentList",
      experiment: [{ __id__: "Experiment", identifier: "x", scaling_model: 0 }],
      scaling_model: [{ __id__: "KB", v: [-0, Number.NaN, Infinity, -Infinity, 1.5, 2], empty: [], o: {} }],
    };
    const text = formatExperimentJson(parseExperiments(doc, "mem").toJSON());
    expect(text).toBe(
      [
        "{",
        '  "__id__": "ExperimentList",',
        '  "experiment": [',
        "    {",
        '      "__id__": "Experiment",',
        '      "identifier": "x",',
        '      "scaling_model": 0',
        "    }",
        "  ],",
        '  "scaling_model": [',
        "    {",
        '      "__id__": "KB",',
        '      "v": [',
        "        -0.0,",
        "        NaN,",
        "        Infinity,",
        "        -Infinity,",
        "        1.5,",
        "        2",
        "      ],",
        '      "empty": [],',
        '      "o": {}',
        "    }",
        "  ]",
        "}",
      ].join("\n"),
    );
    const path = join(tmp, "nonfinite.expt");
    await writeFile(path, text);
    const back = await readExperiments(path);
    const v = back.experiments[0].scalingModel?.v as number[];
    expect(Object.is(v[0], -0)).toBe(true);
    expect(v[1]).toBeNaN();
    expect(v.slice(2)).toEqual([Infinity, -Infinity, 1.5, 2]);
  });

  it("a string containing NaN is not mistaken for a number", async () => {
    const path = join(tmp, "nanstring.expt");
    await writeFile(
      path,
      '{"__id__": "ExperimentList", "experiment": [{"identifier": "NaN Infinity", "scaling_model": 0}], "scaling_model": [{"x": NaN, "s": "a \\" NaN"}]}',
    );
    const list = await readExperiments(path);
    expect(list.experiments[0].identifier).toBe("NaN Infinity");
    expect(list.experiments[0].scalingModel?.s).toBe('a " NaN');
    expect(list.experiments[0].scalingModel?.x).toBeNaN();
  });
});

describe("setScalingModel", () => {
  const kb = (k: number): Record<string, unknown> => ({
    __id__: "KB",
    scale: { n_parameters: 1, parameters: [k], null_parameter_value: 1.0, est_standard_devs: [0.1] },
    configuration_parameters: { corrections: ["scale"] },
  });

  it("replaces one experiment's model in place and leaves the others untouched", async () => {
    const list = await readExperiments(fx("ssx-cunir-scaled.expt"));
    const raw = await rawJson(fx("ssx-cunir-scaled.expt"));
    const model = kb(2.5);
    list.setScalingModel(2, model);
    model.__id__ = "mutated after the call";
    expect(list.experiments[2].scalingModel).toEqual(kb(2.5));
    const out = join(tmp, "replaced.expt");
    await writeExperiments(out, list);
    const written = await rawJson(out);
    const models = written.scaling_model as unknown[];
    expect(models.length).toBe(5);
    expect(models[2]).toEqual(kb(2.5));
    const rawModels = raw.scaling_model as unknown[];
    for (const i of [0, 1, 3, 4]) expect(models[i]).toEqual(rawModels[i]);
    expect(written.experiment).toEqual(raw.experiment);
    const back = await readExperiments(out);
    expect(back.experiments[2].scalingModel).toEqual(kb(2.5));
  });

  it("adds scaling models to a file that has none", async () => {
    const list = await readExperiments(fx("sim-tetragonal-40-stills.expt"));
    list.setScalingModel(3, kb(1.1));
    list.setScalingModel(0, kb(0.9));
    const doc = list.toJSON() as { experiment: Record<string, unknown>[]; scaling_model: unknown[] };
    expect(doc.scaling_model).toEqual([kb(0.9), kb(1.1)]);
    expect(doc.experiment[0].scaling_model).toBe(0);
    expect(doc.experiment[3].scaling_model).toBe(1);
    expect(doc.experiment[1].scaling_model).toBeUndefined();
    const back = parseExperiments(doc, "mem");
    expect(back.experiments[3].scalingModel).toEqual(kb(1.1));
    expect(back.experiments[1].scalingModel).toBeUndefined();
  });

  it("gives an experiment its own entry when its model was shared", () => {
    const doc = {
      __id__: "ExperimentList",
      experiment: [
        { identifier: "a", scaling_model: 0 },
        { identifier: "b", scaling_model: 0 },
      ],
      scaling_model: [kb(1)],
    };
    const list = parseExperiments(doc, "mem");
    list.setScalingModel(1, kb(3));
    const out = list.toJSON() as { experiment: Record<string, unknown>[]; scaling_model: unknown[] };
    expect(out.scaling_model).toEqual([kb(1), kb(3)]);
    expect(out.experiment.map((e) => e.scaling_model)).toEqual([0, 1]);
    // the input document was copied, not modified
    expect(doc.scaling_model).toEqual([kb(1)]);
  });

  it("rejects a bad index or a non-object model", async () => {
    const list = await readExperiments(fx("ssx-cunir-integrated.expt"));
    expect(() => {
      list.setScalingModel(5, kb(1));
    }).toThrow(ConfigError);
    expect(() => {
      list.setScalingModel(0, [] as unknown as Record<string, unknown>);
    }).toThrow(ConfigError);
    expect(list).toBeInstanceOf(ExperimentList);
  });
});

describe("other forms", () => {
  it("scan in the current form (properties), with and without oscillation_width", async () => {
    const raw = await rawJson(fx("quartz-integrated.expt"));
    const scan = (raw.scan as Record<string, unknown>[])[0];
    delete scan.oscillation;
    const starts = Array.from({ length: 100 }, (_, i) => -50 + i);
    scan.properties = { oscillation: starts, oscillation_width: [1.0], exposure_time: [], epochs: [] };
    expect(parseExperiments(raw, "p.expt").experiments[0].scan?.oscillation).toEqual([-50, 1]);
    scan.properties = { oscillation: starts.map((s) => s / 2) };
    expect(parseExperiments(raw, "p.expt").experiments[0].scan?.oscillation).toEqual([-25, 0.5]);
    scan.properties = { oscillation: [3] };
    expectParseError(raw, "p.expt", "p.expt: scan[0].properties.oscillation_width: needed for a single-image scan");
  });

  it("legacy beam with only direction and wavelength gets the dxtbx defaults", () => {
    const list = parseExperiments(
      {
        __id__: "ExperimentList",
        experiment: [{ identifier: "x", beam: 0 }],
        beam: [{ direction: [0, 0, 2], wavelength: 0.5 }],
      },
      "legacy.expt",
    );
    const b = list.experiments[0].beam;
    expectClose(b?.direction ?? [], [0, 0, 1], 0);
    expectClose(b?.s0 ?? [], [0, 0, -2], 0);
    expect(b?.divergence).toBe(0);
    expect(b?.sigmaDivergence).toBe(0);
    expectClose(b?.polarizationNormal ?? [], [0, 1, 0], 0);
    expect(b?.polarizationFraction).toBe(0.999);
    expect(b?.flux).toBe(0);
    expect(b?.transmission).toBe(1);
    expect(b?.probe).toBe("x-ray");
    expect(list.experiments[0].crystal).toBeUndefined();
  });

  it("missing or null model indices mean absent", () => {
    const list = parseExperiments(
      { __id__: "ExperimentList", experiment: [{ identifier: "x", beam: null }, {}] },
      "m.expt",
    );
    expect(list.length).toBe(2);
    expect(list.experiments[0].beam).toBeUndefined();
    expect(list.experiments[1].identifier).toBe("");
  });

  it("multi-axis goniometer: F and S are products of the axis rotations before and after the scan axis", () => {
    const list = parseExperiments(
      {
        __id__: "ExperimentList",
        experiment: [{ goniometer: 0 }],
        goniometer: [
          {
            axes: [
              [0, 0, 1],
              [0, 2, 0],
              [1, 0, 0],
            ],
            angles: [90, 10, 90],
            names: ["phi", "kappa", "omega"],
            scan_axis: 1,
          },
        ],
      },
      "g.expt",
    );
    const g = list.experiments[0].goniometer;
    expectClose(g?.rotationAxis ?? [], [0, 1, 0], 0);
    // F = R(z, 90°): x → y; S = R(x, 90°): y → z
    expectClose(mat3Vec3(g?.fixedRotation ?? new Float64Array(9), vec3(1, 0, 0)), [0, 1, 0], 1e-15);
    expectClose(mat3Vec3(g?.settingRotation ?? new Float64Array(9), vec3(0, 1, 0)), [0, 0, 1], 1e-15);
  });
});

describe("errors", () => {
  async function brokenStills(mutate: (doc: Record<string, unknown>) => void): Promise<Record<string, unknown>> {
    const doc = await rawJson(fx("sim-tetragonal-40-stills.expt"));
    mutate(doc);
    return doc;
  }

  it("names the file and the JSON path of a bad crystal vector", async () => {
    const doc = await brokenStills((d) => {
      (d.crystal as Record<string, unknown>[])[3].real_space_a = [1, 2];
    });
    expectParseError(doc, "stills.expt", "stills.expt: crystal[3].real_space_a: expected 3 numbers");
  });

  it("rejects NaN in a real-space vector (Python writes NaN as a bare token)", async () => {
    const text = (await readFile(fx("sim-tetragonal-40-stills.expt"), "utf8")).replace(
      '"real_space_b": [\n        72.81186182828885,',
      '"real_space_b": [\n        NaN,',
    );
    expect(text).toContain("NaN");
    const path = join(tmp, "stills.expt");
    await writeFile(path, text);
    await expectInputError(readExperiments(path), `${path}: crystal[0].real_space_b: expected 3 numbers`);
  });

  it("rejects singular real-space vectors", async () => {
    const doc = await brokenStills((d) => {
      const c = (d.crystal as Record<string, unknown>[])[5];
      const a = c.real_space_a as number[];
      const b = c.real_space_b as number[];
      c.real_space_c = [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
    });
    expectParseError(doc, "stills.expt", /^stills\.expt: crystal\[5\]: .*singular/);
  });

  it("reports a model index out of range, a bad index and a wrong document type", async () => {
    let doc = await brokenStills((d) => {
      (d.experiment as Record<string, unknown>[])[2].crystal = 40;
    });
    expectParseError(doc, "s.expt", "s.expt: experiment[2].crystal: index 40 out of range (40 crystal entries)");
    doc = await brokenStills((d) => {
      (d.experiment as Record<string, unknown>[])[2].beam = "0";
    });
    expectParseError(doc, "s.expt", /^s\.expt: experiment\[2\]\.beam: /);
    doc = await brokenStills((d) => {
      d.__id__ = "Experiment";
    });
    expectParseError(doc, "s.expt", /^s\.expt: __id__: expected "ExperimentList"/);
    expectParseError([], "s.expt", /^s\.expt: expected a JSON object/);
  });

  it("reports bad beams, detectors and scans with their paths", async () => {
    let doc = await brokenStills((d) => {
      (d.beam as Record<string, unknown>[])[0].wavelength = 0;
    });
    expectParseError(doc, "s.expt", /^s\.expt: beam\[0\]\.wavelength: expected a positive wavelength/);
    doc = await brokenStills((d) => {
      const det = (d.detector as Record<string, unknown>[])[0];
      (det.panels as Record<string, unknown>[])[0].pixel_size = [0.172];
    });
    expectParseError(doc, "s.expt", /^s\.expt: detector\[0\]\.panels\[0\]\.pixel_size: /);
    const q = await rawJson(fx("quartz-integrated.expt"));
    delete (q.scan as Record<string, unknown>[])[0].oscillation;
    expectParseError(q, "q.expt", 'q.expt: scan[0]: expected "oscillation" or "properties.oscillation"');
  });

  it("missing, empty, truncated, non-JSON and msgpack files give one-line InputErrors naming the file", async () => {
    const missing = join(tmp, "missing.expt");
    await expectInputError(readExperiments(missing), `${missing}: cannot read experiment list: file not found`);
    const empty = join(tmp, "empty.expt");
    await writeFile(empty, "");
    await expectInputError(readExperiments(empty), /empty\.expt: file is empty/);
    const truncated = join(tmp, "truncated.expt");
    await writeFile(truncated, (await readFile(fx("ssx-cunir-integrated.expt"), "utf8")).slice(0, 5000));
    await expectInputError(readExperiments(truncated), /truncated\.expt: invalid JSON: /);
    const text = join(tmp, "text.expt");
    await writeFile(text, "this is not json\nsecond line\n");
    await expectInputError(readExperiments(text), /text\.expt: invalid JSON: /);
    await expectInputError(
      readExperiments(fx("l-cysteine-11-integrated.refl")),
      /l-cysteine-11-integrated\.refl: is a msgpack file/,
    );
    await expectInputError(readExperiments(tmp), /cannot read experiment list: is a directory/);
  });
});
