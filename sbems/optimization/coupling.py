"""Conditioning of the building-level coupling in the direct CLARABEL data (fewer interior-point iterations).

The only rows that couple zones are the building-power equalities ``p[k] - sum_z Q[z,k]/COP[k] = fan[k]`` and
the demand-peak rows ``p[k] - peak_m <= 0`` (stated ``PEAK_ROW_COPIES`` times) plus the peak floors. Their
slacks are in building kW (thousands of kW at 1000 zones) while the ~7 x zones x steps per-zone slacks are in
zone kW and kelvin, so the barrier under-weighs the peak complementarity pairs and the interior-point method
spends its extra iterations there (without demand charges: 15 iterations at any size).

``condition_coupling`` rescales, without changing the optimum: the building-kW and peak variables are stated
in units of ``scale`` kW (their columns and costs multiplied by ``scale``) and the peak rows (every row with
a peak variable in it) divided by ``scale``, so their slacks are ``scale`` times smaller. Same feasible set,
same sparsity pattern (a kept solver is still updated in place), only the numbers of a few columns and rows
change; the per-zone decisions are untouched, so a solution needs no unscaling for them.

Measured on ``bench/mpc_scaling.py`` scenarios (iterations are deterministic, load-independent): with
``PEAK_ROW_COPIES = 16`` and ``scale = 10``, 1000 zones x 34 blocks 29 -> 23 iterations (seeds 0 and 1),
two-state 26 -> 24, 100 zones 20-21 -> 17-18; objectives agree to ~1e-6 relative. See docs/optimization.md
("Scaling, round 5") for what else was tried.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BUILDING_KW_SCALE = 10.0  # the building-kW and peak variables in units of this many kW (direct path)


def condition_coupling(
    c: np.ndarray,
    a_matrix: Any,
    b: np.ndarray,
    offsets: dict[str, int],
    n_steps: int,
    n_charges: int,
    scale: float,
) -> tuple[np.ndarray, Any, np.ndarray]:
    """(c, A, b) with building kW ``p`` and the peaks in units of ``scale`` kW and the peak rows divided by
    ``scale``. ``a_matrix`` is CSC (as ``clarabel_data`` builds it); returned as a new CSC matrix of the same
    pattern. ``scale == 1`` returns the inputs unchanged."""
    if scale == 1.0:
        return c, a_matrix, b
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError("scale must be finite and > 0")
    columns = np.r_[offsets["p"] : offsets["p"] + n_steps, offsets["peaks"] : offsets["peaks"] + n_charges]
    column_scale = np.ones(a_matrix.shape[1])
    column_scale[columns] = scale
    peak_columns = np.arange(offsets["peaks"], offsets["peaks"] + n_charges)
    peak_rows = np.unique(
        np.concatenate(
            [a_matrix.indices[a_matrix.indptr[j] : a_matrix.indptr[j + 1]] for j in peak_columns]
            or [np.zeros(0, dtype=int)]
        )
    )
    row_scale = np.ones(a_matrix.shape[0])
    row_scale[peak_rows] = 1.0 / scale
    scaled = a_matrix.copy()
    per_entry_column = np.repeat(column_scale, np.diff(scaled.indptr))
    scaled.data = scaled.data * per_entry_column * row_scale[scaled.indices]
    return c * column_scale, scaled, b * row_scale
