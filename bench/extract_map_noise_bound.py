#!/usr/bin/python3
"""The correlation with the true D that a perfect extraction of the images-8 fixture can reach: the counting-noise bound.

Independent of the project's code: DIALS/dxtbx read the experiments and the images, and NumPy does the rest. Every
pixel is masked as `extract` documents (values outside the trusted range, beyond d_min, inside a `.refl` bbox), its
corrections are P (the formula of the issue, checked against DIALS's `Corrections.lp` on three pixels) and the relative
solid angle Ω = d²·|n·ŝ1|/r², and its voxel is cctbx's `map_to_asu` of round(hkl·ndiv). Per (still, voxel) the
coverage S = Σ P·Ω and the image's summed counts C are formed; the fixture's counts are Poisson(0.5·b·D·P·Ω), so a
row's expectation is λ = 0.5·b·D·S. Then, with the true scales:
- `bound_analytic`: √(var D / (var D + mean noise variance)) over the voxels, the noise variance of a voxel
  1/Σ(1/v) over its rows with v = λ/(0.5·b·S)² — the correlation a perfect extraction and merge reach;
- `bound_poisson_draws`: the same by 20 Poisson draws of every row (mean, sd), merged with 1/σ² weights from the
  drawn counts (as the scale job's merge weights the rows) and from λ;
- `images_counts_merged`: the images' own counts merged the same way (no project code: what any extraction of these
  pixels gets before scaling errors);
- with a `binned.h5` from `extract`: whether its rows are these rows (same (still, voxel) set, S and C).

Usage: /usr/bin/python3 bench/extract_map_noise_bound.py ../shared/fixtures/sim/images-8 [binned.h5]   (~15 s)
"""
import json
import sys

import numpy as np
from cctbx import crystal, miller, sgtbx, uctbx
from dials.algorithms.integration import Corrections
from dials.array_family import flex
from dxtbx.model.experiment_list import ExperimentListFactory

fixture = sys.argv[1]
binned = sys.argv[2] if len(sys.argv) > 2 else None
truth = json.load(open(f"{fixture}/truth.json"))
b = np.array(truth["true_scales"])
args = truth["args"]
cell = [float(x) for x in args["cell"].split(",")]
ndiv, dmin = int(args["voxel_subdiv"]), float(args["dmin"])
hmax, dims = np.array(truth["hkl_max"]), np.array(truth["voxel_grid_dims"])
Bnp = np.array(uctbx.unit_cell(cell).fractionalization_matrix()).reshape(3, 3).T
sym = crystal.symmetry(unit_cell=uctbx.unit_cell(cell), space_group_info=sgtbx.space_group_info(args["space_group"]))

experiments = ExperimentListFactory.from_json_file(f"{fixture}/stills.expt", check_format=True)
refl = flex.reflection_table.from_file(f"{fixture}/stills.refl")
rows = {"sid": [], "vox": [], "S": [], "C": []}
pixels_used = 0
for i, expt in enumerate(experiments):
    panel = expt.detector[0]
    nx, ny = panel.get_image_size()
    x, y = np.meshgrid(np.arange(nx) + 0.5, np.arange(ny) + 0.5)
    o, f, s = (np.array(v) for v in (panel.get_origin(), panel.get_fast_axis(), panel.get_slow_axis()))
    px = panel.get_pixel_size()
    lab = (o + x[..., None] * px[0] * f + y[..., None] * px[1] * s).reshape(-1, 3)
    assert np.allclose(panel.get_pixel_lab_coord((700.5, 300.5)), o + 700.5 * px[0] * f + 300.5 * px[1] * s)
    r = np.linalg.norm(lab, axis=1)
    unit = lab / r[:, None]
    s0 = np.array(expt.beam.get_s0())
    s1 = unit / expt.beam.get_wavelength()
    q = s1 - s0
    frac, normal = expt.beam.get_polarization_fraction(), np.array(expt.beam.get_polarization_normal())
    P = (1 - frac) * (1 - (unit @ normal) ** 2) + frac * (1 - (unit @ np.cross(normal, s0 / np.linalg.norm(s0))) ** 2)
    corrections = Corrections(expt.beam, expt.detector)
    for k in (0, 123456, nx * ny - 1):
        assert abs(1 / corrections.lp(tuple(s1[k])) - P[k]) < 1e-12
    n = np.array(panel.get_normal())
    distance = abs(np.dot(n, o))
    omega = distance**2 * np.abs(unit @ n) / r**2
    image = np.array(expt.imageset.get_raw_data(0)[0].as_numpy_array(), dtype=float).reshape(-1)
    lo, hi = panel.get_trusted_range()
    use = ((image > lo) & (image < hi) & (image >= 0) & (np.linalg.norm(q, axis=1) <= 1 / dmin)).reshape(ny, nx)
    for x0, x1, y0, y1, _, _ in refl["bbox"].select(refl["id"] == i):
        use[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = False
    use = use.reshape(-1)
    pixels_used += int(use.sum())
    A = np.array(expt.crystal.get_A()).reshape(3, 3)
    sub = np.round(q[use] @ np.linalg.inv(A).T * ndiv).astype(np.int64)
    usub, back = np.unique(sub, axis=0, return_inverse=True)
    asu = miller.set(sym, flex.miller_index([tuple(int(v) for v in h) for h in usub]), anomalous_flag=False)
    asu = np.array(asu.map_to_asu().indices(), dtype=np.int64).reshape(-1, 3)[back.reshape(-1)]
    off = hmax * ndiv
    vox = ((asu[:, 0] + off[0]) * dims[1] + (asu[:, 1] + off[1])) * dims[2] + (asu[:, 2] + off[2])
    uv, inv = np.unique(vox, return_inverse=True)
    rows["sid"].append(np.full(len(uv), i))
    rows["vox"].append(uv)
    rows["S"].append(np.bincount(inv, (P * omega)[use]))
    rows["C"].append(np.bincount(inv, image[use]))
sid, vox, S, C = (np.concatenate(rows[k]) for k in ("sid", "vox", "S", "C"))


def true_d(v):
    l_ = v % dims[2]
    k_ = (v // dims[2]) % dims[1]
    h_ = v // (dims[2] * dims[1])
    c = np.stack([h_, k_, l_], axis=1).astype(float) / ndiv - hmax
    qc = np.linalg.norm(c @ Bnp.T, axis=1)
    dq = (c - np.round(c)) @ Bnp.T
    return 300 * np.exp(-(((qc - 0.31) / 0.06) ** 2)) + 40 + 120 / (1 + (dq**2).sum(axis=1) / 0.004**2)


g = 0.5 * b[sid]
lam = g * true_d(vox) * S
voxels, inv = np.unique(vox, return_inverse=True)
t = true_d(voxels)
nobs = np.bincount(inv)
noise = 1 / np.bincount(inv, (g * S) ** 2 / lam)


def merged(counts, weight):
    return np.bincount(inv, weight * counts / (S * g)) / np.bincount(inv, weight)


rng = np.random.default_rng(1)
draws = {"observed_weights": [], "expected_weights": []}
for _ in range(20):
    c = rng.poisson(lam).astype(float)
    draws["observed_weights"].append(np.corrcoef(t, merged(c, (g * S) ** 2 / np.maximum(c, 1)))[0, 1])
    draws["expected_weights"].append(np.corrcoef(t, merged(c, (g * S) ** 2 / lam))[0, 1])
m = merged(C, (g * S) ** 2 / np.maximum(C, 1))
out = {
    "pixels_used": pixels_used,
    "rows": int(len(sid)),
    "voxels": int(len(voxels)),
    "voxels_seen_once": int((nobs == 1).sum()),
    "row_z_mean": float(np.mean((C - lam) / np.sqrt(lam))),
    "row_z_var": float(np.var((C - lam) / np.sqrt(lam))),
    "bound_analytic": float(np.sqrt(t.var() / (t.var() + noise.mean()))),
    "bound_poisson_draws": {k: [float(np.mean(v)), float(np.std(v))] for k, v in draws.items()},
    "bound_n_obs>=3": float(np.sqrt(t[nobs >= 3].var() / (t[nobs >= 3].var() + noise[nobs >= 3].mean()))),
    "images_counts_merged": float(np.corrcoef(t, m)[0, 1]),
    "noise_share_of_voxels_seen_once": float(noise[nobs == 1].sum() / noise.sum()),
    "pixels_factor_needed_for_0.999": float(noise.mean() / (t.var() * (1 / 0.999**2 - 1))),
}
if binned is not None:
    import h5py

    with h5py.File(binned, "r") as h:
        I, sig = h["intensities"][:].astype(float), h["sigmas"][:].astype(float)
        key = h["still_ids"][:].astype(np.int64) * 10**9 + h["voxel_indices"][:]
    a, oa = np.argsort(sid * 10**9 + vox), np.argsort(key)
    same = len(key) == len(sid) and np.array_equal((sid * 10**9 + vox)[a], key[oa])
    out["binned_rows_same_set"] = bool(same)
    if same:
        out["binned_S_max_rel_diff"] = float(np.max(np.abs((I / sig**2)[oa] / S[a] - 1)))
        out["binned_counts_max_abs_diff"] = float(np.max(np.abs(((I / sig) ** 2)[oa] - C[a])))
print(json.dumps(out, indent=1))
