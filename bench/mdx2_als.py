#!/usr/bin/python3
"""Per-iteration cost of an mdx2-style alternating-least-squares (ALS) scaling loop, for comparison.

This is our own re-implementation for benchmarking, written from the description of mdx2's scaling loop in
/work/shared/reference/peers.md sections 1.4-1.5; it is not mdx2's code. Only the per-batch scale b is fitted
(mdx2's first and longest step); a batch here is one still, so b_j has a single control point and the
second-difference regulariser along phi is empty.

One iteration, as mdx2's refine loop does it:
  1. apply the scales and merge: I_h = sum w I/b / sum w with w = (b/sigma)^2 (numpy bincount over voxels);
  2. build the sparse design A = diag(I_h/sigma) A0 (A0: one interpolation weight per observation) and y = I/sigma;
  3. solve the normal equations (A'A + alpha B'B) u = A'y with scipy.sparse.linalg.lsqr;
  4. chi^2 = (u'A'Au - 2u'A'y + y'y) / N_obs.
Singleton voxels are masked first, as mdx2 does.

Usage: mdx2_als.py PREFIX N_ITER   (reads PREFIX.still int32, PREFIX.voxel float64, PREFIX.intensity float32,
PREFIX.sigma float32; prints one JSON line)
"""
import json
import sys
import time

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla


def main() -> None:
    prefix, n_iter = sys.argv[1], int(sys.argv[2])
    still = np.fromfile(prefix + ".still", dtype=np.int32)
    voxel = np.fromfile(prefix + ".voxel", dtype=np.float64).astype(np.int64)
    intensity = np.fromfile(prefix + ".intensity", dtype=np.float32).astype(np.float64)
    sigma = np.fromfile(prefix + ".sigma", dtype=np.float32).astype(np.float64)
    ok = np.isfinite(intensity) & (sigma > 0) & np.isfinite(sigma)
    still, voxel, intensity, sigma = still[ok], voxel[ok], intensity[ok], sigma[ok]
    _, inverse, counts = np.unique(voxel, return_inverse=True, return_counts=True)
    keep = counts[inverse] > 1  # mask singletons
    still, intensity, sigma = still[keep], intensity[keep], sigma[keep]
    _, inverse = np.unique(voxel[keep], return_inverse=True)
    n = intensity.size
    n_voxels = int(inverse.max()) + 1
    n_batches = int(still.max()) + 1
    rows = np.arange(n)
    y = intensity / sigma
    yty = float(y @ y)
    b = np.ones(n_batches)
    chi2 = []
    t0 = time.perf_counter()
    for _ in range(n_iter):
        scale = b[still]
        w = (scale / sigma) ** 2
        ih = np.bincount(inverse, w * intensity / scale, n_voxels) / np.bincount(inverse, w, n_voxels)
        a = sp.csr_matrix((ih[inverse] / sigma, (rows, still)), shape=(n, n_batches))
        ata = (a.T @ a).tocsr()
        aty = a.T @ y
        u = spla.lsqr(ata, aty, atol=1e-10, btol=1e-10)[0]
        chi2.append(float((u @ (ata @ u) - 2 * u @ aty + yty) / n))
        b = u
    seconds = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "n_observations": n,
                "iterations": n_iter,
                "seconds": seconds,
                "observation_iterations_per_s": n * n_iter / seconds,
                "chi2": chi2,
            }
        )
    )


if __name__ == "__main__":
    main()
