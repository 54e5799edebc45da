#!/usr/bin/python3
"""Scores a merged diffuse map made from `extract` output against the true D of the images-8 fixture.

The true D of a voxel is the simulator's function (shared/tools/simulate_stills.py, diffuse_truth) at the voxel's
ASU centre h_c = sub/ndiv, q_c = |B·h_c|: 300·exp(-((q_c - 0.31)/0.06)^2) + 40 + 120/(1 + |B·(h_c - round(h_c))|^2/0.004^2).
Prints the correlation over the merged voxels and merged/true per |q| shell (ten shells of equal voxel count), each
shell's ratio divided by the overall ratio (flatness: the largest |shell ratio - 1|).

Usage: /usr/bin/python3 bench/score_extract_map.py scaled/merged_diffuse.h5 ../shared/fixtures/sim/images-8
"""
import json
import sys

import h5py
import numpy as np

merged_path, fixture = sys.argv[1], sys.argv[2]
truth = json.load(open(f"{fixture}/truth.json"))
cell = [float(x) for x in truth["args"]["cell"].split(",")]
from cctbx import uctbx  # noqa: E402

Bnp = np.array(uctbx.unit_cell(cell).fractionalization_matrix()).reshape(3, 3).T
with h5py.File(merged_path, "r") as f:
    mv = f["voxel_index"][:]
    mi = f["intensity"][:]
    mq = f["q_magnitude"][:]
    nobs = f["n_observations"][:]
    msig = f["sigma"][:]
with h5py.File(merged_path, "r") as f:
    ndiv = int(f.attrs["ndiv"])
    hmax = np.asarray(f.attrs["hkl_max"])
    dims = np.asarray(f.attrs["voxel_grid_dims"])
l_ = mv % dims[2]
k_ = (mv // dims[2]) % dims[1]
h_ = mv // (dims[2] * dims[1])
centre = np.stack([h_ - hmax[0] * ndiv, k_ - hmax[1] * ndiv, l_ - hmax[2] * ndiv], axis=1) / float(ndiv)
qc = np.linalg.norm((Bnp @ centre.T).T, axis=1)
dq = (Bnp @ (centre - np.round(centre)).T).T
t = 300.0 * np.exp(-((qc - 0.31) / 0.06) ** 2) + 40.0 + 120.0 / (1.0 + (dq**2).sum(axis=1) / (0.004**2))
m = mi
q = mq
ok = np.isfinite(m)
t, m, q = t[ok], m[ok], q[ok]
nobs, msig = nobs[ok], msig[ok]
corr = float(np.corrcoef(t, m)[0, 1])
corr_multi = {f"n_obs>={k}": float(np.corrcoef(t[nobs >= k], m[nobs >= k])[0, 1]) for k in (2, 3)}
w = 1 / msig**2
wt, wm = np.sum(w * t) / w.sum(), np.sum(w * m) / w.sum()
corr_w = float(np.sum(w * (t - wt) * (m - wm)) / np.sqrt(np.sum(w * (t - wt) ** 2) * np.sum(w * (m - wm) ** 2)))
overall = m.sum() / t.sum()
edges = np.quantile(q, np.linspace(0, 1, 11))
shells = []
for lo, hi in zip(edges[:-1], edges[1:]):
    s = (q >= lo) & (q <= hi)
    shells.append({"q_lo": float(lo), "q_hi": float(hi), "n": int(s.sum()), "ratio": float(m[s].sum() / t[s].sum() / overall)})
flat = max(abs(s["ratio"] - 1) for s in shells)
print(json.dumps({"voxels_compared": int(len(t)), "correlation": corr, "correlation_weighted_1/sigma2": corr_w, "correlation_by_observations": corr_multi, "flatness_max_abs": flat, "shells": shells}, indent=1))
