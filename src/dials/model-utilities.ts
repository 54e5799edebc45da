/**
 * Small helpers shared by the scaling models and components (`S/model/model.py`,
 * `S/model/components/smooth_scale_components.py`, `calc_sigmasq` in `S/scaling_helper.h`).
 *
 * @packageDocumentation
 */
import { ConfigError } from "../errors.ts";
import type { SparseMatrix } from "./sparse-matrix.ts";

/** Result of {@link initialiseSmoothInput}. */
export interface SmoothInput {
  /** Number of smoother parameters (2, 3 or ≥ 5). */
  nParam: number;
  /** Factor taking the frame coordinate to normalised smoother units: `0.999·oneOscWidth/rotInt`. */
  normFac: number;
  /** Rotation interval (degrees) between smoother parameters. */
  rotInt: number;
}

/**
 * Number of smoother parameters and normalisation for a rotation sweep, as DIALS `initialise_smooth_input`.
 * The interval is widened by 1e-5 and the 0.999 factor keeps normalised values strictly below the bin count.
 *
 * @param oscRange - `[start, end]` oscillation range in degrees, end > start
 * @param oneOscWidth - width of one image in degrees, > 0
 * @param interval - requested parameter spacing in degrees, > 0
 */
export function initialiseSmoothInput(
  oscRange: readonly [number, number],
  oneOscWidth: number,
  interval: number,
): SmoothInput {
  const r = oscRange[1] - oscRange[0];
  if (!(r > 0) || !Number.isFinite(r)) {
    throw new ConfigError(`initialiseSmoothInput: oscillation range [${oscRange[0]}, ${oscRange[1]}] must increase`);
  }
  if (!(oneOscWidth > 0) || !(interval > 0)) {
    throw new ConfigError(
      `initialiseSmoothInput: oscillation width (${oneOscWidth}) and interval (${interval}) must be positive`,
    );
  }
  const iv = interval + 0.00001;
  let nParam: number;
  let rotInt: number;
  if (r < 2 * iv) {
    if (r <= iv) {
      rotInt = r;
      nParam = 2;
    } else {
      rotInt = r / 2;
      nParam = 3;
    }
  } else {
    const nBins = Math.max(Math.trunc(r / iv) + 1, 3);
    rotInt = r / nBins;
    nParam = nBins + 2;
  }
  return { nParam, normFac: (0.999 * oneOscWidth) / rotInt, rotInt };
}

/**
 * Number of smoother parameters for a number of bins over `[min, max]` (DIALS `calc_n_param_from_bins`):
 * 2 for 1 bin, 3 for 2 bins, otherwise `nBins + 2`; bin width `(max − min)/nBins`.
 *
 * @param valueMin - lower end of the range
 * @param valueMax - upper end of the range
 * @param nBins - positive integer number of bins
 */
export function calcNParamFromBins(
  valueMin: number,
  valueMax: number,
  nBins: number,
): { nParam: number; binWidth: number } {
  if (!Number.isInteger(nBins) || nBins < 1) {
    throw new ConfigError(`calcNParamFromBins: number of bins must be a positive integer, got ${nBins}`);
  }
  const nParam = nBins === 1 ? 2 : nBins === 2 ? 3 : nBins + 2;
  return { nParam, binWidth: (valueMax - valueMin) / nBins };
}

/**
 * Number of smoother intervals for a number of smoother parameters (DIALS `nparam_to_val`): `n − 1` for 2 or 3,
 * otherwise `n − 2`. DIALS silently maps 4 parameters to a 3-value smoother (an inconsistency it never triggers);
 * we reject 4, as well as anything below 2.
 *
 * @param nParams - number of parameters (2, 3 or ≥ 5)
 * @throws ConfigError for n < 2, n = 4 or a non-integer
 */
export function nparamToVal(nParams: number): number {
  if (!Number.isInteger(nParams) || nParams < 2) {
    throw new ConfigError(`smoother parameter count must be an integer >= 2, got ${nParams}`);
  }
  if (nParams === 4) {
    throw new ConfigError("smoother parameter count 4 is not supported (DIALS only creates 2, 3 or >= 5)");
  }
  return nParams === 2 || nParams === 3 ? nParams - 1 : nParams - 2;
}

/**
 * Per-observation variance of the inverse scale, `σ²(g_i) = j_iᵀ V j_i` (DIALS `calc_sigmasq`), where j_i is row i
 * of the Jacobian ∂g/∂p over all model parameters.
 *
 * @param jacobian - nObs × nParams derivatives of the inverse scales
 * @param varCov - dense nParams × nParams variance–covariance matrix, row-major
 * @returns one variance per observation
 */
export function calcSigmasq(jacobian: SparseMatrix, varCov: ArrayLike<number>): Float64Array {
  const n = jacobian.nCols;
  if (varCov.length !== n * n) {
    throw new ConfigError(`calcSigmasq: variance-covariance matrix has ${varCov.length} entries, expected ${n * n}`);
  }
  const rows = jacobian.transpose();
  const out = new Float64Array(jacobian.nRows);
  for (let i = 0; i < jacobian.nRows; i++) {
    const a = rows.colPtr[i];
    const b = rows.colPtr[i + 1];
    let s = 0;
    for (let p = a; p < b; p++) {
      const cp = rows.rowIdx[p] * n;
      const vp = rows.values[p];
      for (let q = a; q < b; q++) s += vp * rows.values[q] * varCov[cp + rows.rowIdx[q]];
    }
    out[i] = s;
  }
  return out;
}
