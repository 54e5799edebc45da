#!/usr/bin/env python3
"""Score a refined Bragg error model against a simulated scenario's true variances.

Usage: python3 score_variances.py SCALES_JSON SCENARIO_DIR
Reads error_model.bragg (a, b) from scales.json, the scenario's stills.refl (intensity.sum.value/variance,
partiality) through DIALS's flex (run with /usr/bin/python3 where DIALS is installed) and truth_sigmas.npz
(bragg_true_variance, one per .refl row). Rows with partiality >= 0.1 and I > 0 are put in 10 bins of equal count by
intensity; per bin the ratio mean(a^2(V + (b I)^2)) / mean(true variance) is printed, and their mean |ratio - 1|.
"""
import json, sys
import numpy as np
from dials.array_family import flex

scales = json.load(open(sys.argv[1]))
d = sys.argv[2]
em = scales["error_model"]["bragg"]
a, b = em["a"], em["b"]
r = flex.reflection_table.from_file(d + "/stills.refl")
tv = np.load(d + "/truth_sigmas.npz")["bragg_true_variance"]
I = np.array(r["intensity.sum.value"]); V = np.array(r["intensity.sum.variance"]); p = np.array(r["partiality"])
sel = (p >= 0.1) & (I > 0)
I, V, tv = I[sel], V[sel], tv[sel]
model = a * a * (V + (b * I) ** 2)
order = np.argsort(I)
ratios = []
for chunk in np.array_split(order, 10):
    ratios.append(model[chunk].mean() / tv[chunk].mean())
out = {"a": a, "b": b, "bin_ratios": [round(x, 4) for x in ratios],
       "mean_abs_ratio_minus_1": float(np.mean(np.abs(np.array(ratios) - 1))),
       "reported_mean_abs_ratio_minus_1": float(np.mean([abs(V[c].mean() / tv[c].mean() - 1) for c in np.array_split(order, 10)]))}
print(json.dumps(out))
