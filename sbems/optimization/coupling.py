"""Conditioning of the building-level coupling in the direct CLARABEL data (fewer interior-point iterations).

The only rows that couple zones are the building-power equalities ``p[k] - sum_z Q[z,k]/COP[k] = fan[k]`` and
the demand-peak rows ``p[k] - peak_m <= 0`` (``clarabel_data`` states each ``PEAK_ROW_COPIES`` = 8 times) plus
the peak floors. Their slacks are in building kW (thousands of kW at 1000 zones) while the ~7 x zones x steps
per-zone slacks are in zone kW and kelvin, so the barrier under-weighs the peak complementarity pairs and the
interior-point method spends its extra iterations there (without demand charges: 15 iterations at any size).

``condition_coupling`` states the peak rows ``PEAK_ROW_FACTOR`` times as often (identical rows appended: the
barrier weighs those pairs more) and rescales, without changing the optimum: the building-kW and peak
variables are stated in units of ``scale`` kW (their columns and costs multiplied by ``scale``) and the peak
rows (every row with a peak variable in it) divided by ``scale``, so their slacks are ``scale`` times smaller.
Same feasible set; the pattern follows from the input pattern (a kept solver is still updated in place); the
per-zone decisions are untouched, so a solution needs no unscaling for them. ``clarabel_data`` itself is
unchanged: this is a separate step in ``ClarabelBackend``.

Measured on ``bench/mpc_scaling.py`` scenarios (iterations are deterministic, load-independent): round 5
chose 16 copies in all and ``scale = 10`` (1000 zones x 34 blocks 29 -> 23 iterations, two-state 26 -> 24,
100 zones 20-21 -> 17-18); round 6 takes 32 copies and ``scale = 30`` (1000 zones 23 -> 21 on seeds 1 and 2,
300 zones 19-20 -> 18-19, 100 zones 17-19 -> 17-18, 100 two-state 18-19 -> 19, 96 steps 20-23 -> 20-21).
Objectives agree to ~1e-6 relative. See docs/optimization.md ("Scaling, round 5" and "round 6").
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

BUILDING_KW_SCALE = 30.0  # the building-kW and peak variables in units of this many kW (direct path)
PEAK_ROW_FACTOR = 4  # each demand-peak row stated 4 times as often as clarabel_data does (8 -> 32 copies)


def condition_coupling(
    c: np.ndarray,
    a_matrix: Any,
    b: np.ndarray,
    cones: list[tuple[str, int]],
    offsets: dict[str, int],
    scale: float = BUILDING_KW_SCALE,
    peak_row_factor: int = PEAK_ROW_FACTOR,
) -> tuple[np.ndarray, Any, np.ndarray, list[tuple[str, int]]]:
    """(c, A, b, cones) of ``clarabel_data`` with the peak rows ``p[k] - peak_m <= 0`` stated
    ``peak_row_factor`` times as often (extra identical rows appended to the last, nonnegative cone), the
    building kW ``p`` and the peaks in units of ``scale`` kW and every row with a peak variable in it divided
    by ``scale``. Variables: ``p`` from ``offsets["p"]`` to ``offsets["peaks"]``, the peaks last. Same optimum
    and per-zone decisions; the pattern depends only on the input pattern (kept solvers still update in
    place). ``scale == 1`` and ``peak_row_factor == 1`` return the inputs unchanged."""
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError("scale must be finite and > 0")
    if peak_row_factor < 1:
        raise ValueError("peak_row_factor must be >= 1")
    n_vars = a_matrix.shape[1]
    is_p = np.zeros(n_vars, dtype=bool)
    is_p[offsets["p"] : offsets["peaks"]] = True
    is_peak = np.zeros(n_vars, dtype=bool)
    is_peak[offsets["peaks"] :] = True
    if peak_row_factor > 1 and is_peak.any():
        if not cones or cones[-1][0] != "nonneg":
            raise ValueError("the last cone must be the nonnegative one")
        csr = a_matrix.tocsr()
        entry_rows = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
        with_peak = np.bincount(entry_rows, weights=is_peak[csr.indices], minlength=csr.shape[0]) > 0
        with_p = np.bincount(entry_rows, weights=is_p[csr.indices], minlength=csr.shape[0]) > 0
        peak_rows = np.flatnonzero(with_peak & with_p)
        repeats = peak_row_factor - 1
        a_matrix = sp.vstack([csr, *[csr[peak_rows]] * repeats], format="csc")
        b = np.concatenate([b, np.tile(b[peak_rows], repeats)])
        cones = [*cones[:-1], ("nonneg", cones[-1][1] + repeats * peak_rows.size)]
    if scale == 1.0:
        return c, a_matrix, b, cones
    column_scale = np.where(is_p | is_peak, scale, 1.0)
    peak_rows_all = np.unique(
        np.concatenate(
            [a_matrix.indices[a_matrix.indptr[j] : a_matrix.indptr[j + 1]] for j in np.flatnonzero(is_peak)]
            or [np.zeros(0, dtype=int)]
        )
    )
    row_scale = np.ones(a_matrix.shape[0])
    row_scale[peak_rows_all] = 1.0 / scale
    scaled = a_matrix.copy()
    scaled.data = scaled.data * np.repeat(column_scale, np.diff(scaled.indptr)) * row_scale[scaled.indices]
    return c * column_scale, scaled, b * row_scale, cones
