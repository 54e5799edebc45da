import { describe, expect, it } from "vitest";
import {
  FIT_WARNING_THRESHOLDS,
  fitWarnings,
  type ErrorModelSummaryLike,
  type FitWarningInput,
} from "../../src/merge/fit-warnings.ts";

const T = FIT_WARNING_THRESHOLDS;

/** A healthy run of 4 stills: well-determined scales, residual sd 1, few outliers. Nothing to warn about. */
function healthy(): FitWarningInput {
  return {
    stills: [0, 1, 2, 3],
    scales: [0.5, 1, 1, 2],
    scaleEsds: [0.005, 0.01, 0.01, 0.02],
    nObservations: [500, 500, 500, 500],
    nSharedGroups: [200, 200, 200, 200],
    scalesBeforeRejection: [0.5, 1, 1, 2],
    classes: {
      bragg: { nUsed: 1000, nOutliers: 5, residuals: { n: 800, sd: 1.02 } },
      diffuse: { nUsed: 1000, nOutliers: 0, residuals: { n: 900, sd: 0.98 } },
    },
  };
}

function model(over: Partial<ErrorModelSummaryLike> = {}): ErrorModelSummaryLike {
  return {
    model: "basic",
    a: 1.1,
    b: 0.03,
    refined: true,
    atBound: false,
    ...over,
    normalisedResidualSd: { before: 1.3, after: 1.0 },
  };
}

function codes(input: FitWarningInput): string[] {
  return fitWarnings(input).map((w) => w.code);
}

describe("fitWarnings", () => {
  it("a healthy run gives none", () => {
    expect(fitWarnings(healthy())).toEqual([]);
    expect(fitWarnings({ ...healthy(), errorModel: { bragg: model(), diffuse: model() } })).toEqual([]);
  });

  it("every message is one line", () => {
    const input: FitWarningInput = {
      ...healthy(),
      scales: [0.01, 1, 1, 100],
      scaleEsds: [0.01, 0.2, 0.01, 2],
      nObservations: [10, 500, 500, 500],
      nSharedGroups: [3, 200, 200, 200],
      scalesBeforeRejection: [0.02, 1, 1, 50],
      classes: { bragg: { nUsed: 100, nOutliers: 10, residuals: { n: 80, sd: 5 } } },
      errorModel: {
        bragg: { ...model({ atBound: true }), normalisedResidualSd: { before: 5, after: 3 } },
        diffuse: model({ refined: false }),
      },
    };
    const w = fitWarnings(input);
    expect(w.map((x) => x.code)).toEqual([
      "scales_poorly_determined",
      "few_shared_groups",
      "residual_sd",
      "scales_moved_by_rejection",
      "outlier_fraction",
      "few_observations",
      "scale_range",
      "error_model_at_bound",
      "error_model_fixed",
    ]);
    for (const x of w) expect(x.message).not.toMatch(/\n/);
  });

  it("scales_poorly_determined: a relative ESD above the threshold, naming the worst still", () => {
    const input = healthy();
    const esds = [...input.scaleEsds];
    esds[2] = 1 * (T.maxRelativeScaleEsd * 1.2);
    const w = fitWarnings({ ...input, scaleEsds: esds });
    expect(w.map((x) => x.code)).toEqual(["scales_poorly_determined"]);
    expect(w[0].message).toMatch(/1 of 4 stills.*largest 6\.00 % on still 2/);
    esds[2] = 1 * (T.maxRelativeScaleEsd * 0.9);
    expect(codes({ ...input, scaleEsds: esds })).toEqual([]);
  });

  it("few_shared_groups: a still in fewer multiply-observed groups than the threshold", () => {
    const shared = [200, T.minSharedGroupsPerStill - 1, 200, 200];
    const w = fitWarnings({ ...healthy(), nSharedGroups: shared });
    expect(w.map((x) => x.code)).toEqual(["few_shared_groups"]);
    expect(w[0].message).toMatch(/fewest 19; stills 1\)/);
    expect(codes({ ...healthy(), nSharedGroups: [200, T.minSharedGroupsPerStill, 200, 200] })).toEqual([]);
  });

  it("residual_sd: per class, above the factor or below its inverse, with enough residuals", () => {
    const withSd = (bragg: number, diffuse: number, n = 800): FitWarningInput => ({
      ...healthy(),
      classes: {
        bragg: { nUsed: 1000, nOutliers: 0, residuals: { n, sd: bragg } },
        diffuse: { nUsed: 1000, nOutliers: 0, residuals: { n, sd: diffuse } },
      },
    });
    const w = fitWarnings(withSd(5.5, 0.4));
    expect(w.map((x) => x.code)).toEqual(["residual_sd", "residual_sd"]);
    expect(w[0].message).toMatch(/^Bragg normalised residual sd 5\.50 .*too small/);
    expect(w[1].message).toMatch(/^diffuse normalised residual sd 0\.400 .*too large/);
    expect(codes(withSd(T.residualSdFactor * 0.99, 1 / (T.residualSdFactor * 0.99)))).toEqual([]);
    // too few residuals to judge
    expect(codes(withSd(5.5, 0.4, T.minResidualsForSd - 1))).toEqual([]);
    // a class without residuals is skipped
    expect(codes({ ...healthy(), classes: { bragg: { nUsed: 10, nOutliers: 0, residuals: null } } })).toEqual([]);
  });

  it("residual_sd: after the error model when its summary is present (the run's own sd is then not used)", () => {
    const bad = { ...model(), normalisedResidualSd: { before: 5.5, after: 1.05 } };
    const input: FitWarningInput = {
      ...healthy(),
      classes: { bragg: { nUsed: 1000, nOutliers: 0, residuals: { n: 800, sd: 5.5 } } },
      errorModel: { bragg: bad },
    };
    expect(codes(input)).toEqual([]);
    const still = { ...model(), normalisedResidualSd: { before: 5.5, after: 2.0 } };
    const w = fitWarnings({ ...input, errorModel: { bragg: still } });
    expect(w.map((x) => x.code)).toEqual(["residual_sd"]);
    expect(w[0].message).toMatch(/sd 2\.00 after the error model \(5\.50 before\)/);
    // model "none": the run's own sd
    expect(codes({ ...input, errorModel: { bragg: { ...bad, model: "none" } } })).toEqual(["residual_sd"]);
  });

  it("scales_moved_by_rejection: moves beyond the threshold in ESDs, in the geometric-mean-1 gauge", () => {
    const input = healthy();
    // still 1 moved by 5 ESDs (0.05 on 1), the others unchanged: compensate in the gauge by scaling before
    const before = [0.5, 1.05, 1, 2];
    const w = fitWarnings({ ...input, scalesBeforeRejection: before });
    expect(w.map((x) => x.code)).toEqual(["scales_moved_by_rejection"]);
    expect(w[0].message).toMatch(/rejecting 5 outliers moved the scales of \d of 4 stills.*still 1/);
    // a common factor is the gauge, not a move
    expect(codes({ ...input, scalesBeforeRejection: input.scales.map((b) => 3 * b) })).toEqual([]);
    // within the threshold
    expect(codes({ ...input, scalesBeforeRejection: [0.5, 1.02, 1, 2] })).toEqual([]);
    // rejection off
    expect(codes({ ...input, scalesBeforeRejection: undefined })).toEqual([]);
  });

  it("outlier_fraction: per class, above the threshold", () => {
    const frac = (f: number): FitWarningInput => {
      const nOutliers = Math.round(f * 10000);
      return { ...healthy(), classes: { bragg: { nUsed: 10000 - nOutliers, nOutliers, residuals: null } } };
    };
    const w = fitWarnings(frac(0.02));
    expect(w.map((x) => x.code)).toEqual(["outlier_fraction"]);
    expect(w[0].message).toMatch(/2\.00 % of the usable Bragg observations \(200 of 10000\)/);
    expect(codes(frac(T.maxOutlierFraction))).toEqual([]);
  });

  it("few_observations: a still with fewer used observations than the threshold", () => {
    const w = fitWarnings({ ...healthy(), nObservations: [500, 500, T.minObservationsPerStill - 1, 500] });
    expect(w.map((x) => x.code)).toEqual(["few_observations"]);
    expect(w[0].message).toMatch(/1 of 4 stills .*fewest 49; stills 2\)/);
    expect(codes({ ...healthy(), nObservations: [500, 500, T.minObservationsPerStill, 500] })).toEqual([]);
  });

  it("scale_range: largest over smallest scale above the threshold", () => {
    const scales = [0.05, 1, 1, 6];
    const esds = scales.map((b) => 0.01 * b);
    const w = fitWarnings({ ...healthy(), scales, scaleEsds: esds, scalesBeforeRejection: scales });
    expect(w.map((x) => x.code)).toEqual(["scale_range"]);
    expect(w[0].message).toMatch(/span 120× \(still 0 at 0\.0500, still 3 at 6\.00\)/);
    const ok = [0.06, 1, 1, 5];
    expect(codes({ ...healthy(), scales: ok, scaleEsds: ok.map((b) => 0.01 * b), scalesBeforeRejection: ok })).toEqual(
      [],
    );
  });

  it("error_model_at_bound and error_model_fixed: from the summary, per class", () => {
    const fixed = fitWarnings({
      ...healthy(),
      errorModel: { bragg: model({ refined: false, fixedReason: "3 groups with ≥ 2 members, 10 needed" }) },
    });
    expect(fixed.map((x) => x.code)).toEqual(["error_model_fixed"]);
    expect(fixed[0].message).toMatch(/Bragg error model was fixed at a = 1\.10, b = 0\.0300.*3 groups/);
    const bound = fitWarnings({ ...healthy(), errorModel: { diffuse: model({ atBound: true }) } });
    expect(bound.map((x) => x.code)).toEqual(["error_model_at_bound"]);
    expect(bound[0].message).toMatch(/diffuse error model ended at a bound/);
    expect(codes({ ...healthy(), errorModel: { bragg: model({ model: "none", refined: false }) } })).toEqual([]);
  });

  it("custom thresholds replace the defaults", () => {
    expect(fitWarnings(healthy(), { ...T, maxRelativeScaleEsd: 0.001 }).map((x) => x.code)).toEqual([
      "scales_poorly_determined",
    ]);
  });
});
