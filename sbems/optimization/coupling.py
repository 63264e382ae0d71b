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


# building-power rows summed through per-group partial sums (``group_power_rows``): zones per group. 125:
# the size whose KKT factor stayed within 4 % of the ungrouped one's nnz(L) at every size and model measured
# (rc1 100-1500, rc2 300-1000 zones); 1000 zones -16 % CPU per iteration. Smaller groups were faster on
# some shapes (32: rc1 1000 zones -27 %) but CLARABEL's AMD ordering then fills in badly on others (32: rc1
# 700 zones nnz(L) +25 %, rc2 1000 zones +18 %, slower than no groups). Up to 125 zones: one group, no change.
ZONES_PER_GROUP = 125


def group_power_rows(
    p_matrix: Any,
    c: np.ndarray,
    a_matrix: Any,
    b: np.ndarray,
    cones: list[tuple[str, int]],
    column_zone: np.ndarray,
    n_power_rows: int,
    zones_per_group: int = ZONES_PER_GROUP,
) -> tuple[Any, np.ndarray, Any, np.ndarray, list[tuple[str, int]]] | None:
    """The building-power rows ``p[k] - sum_z e[z,k] = fan[k]`` (the last ``n_power_rows`` rows of the zero
    cone) written through partial sums over groups of ``zones_per_group`` zones: a new variable ``g[G,k]`` per
    group and row, a new equality ``sum_{z in G} e[z,k] - g[G,k] = 0`` (appended to the zero cone) and the
    power row ``p[k] + sum_G g[G,k] = fan[k]``. Exact: same feasible set and optimum for the original
    variables; the new variables are appended after all others (a solution's leading entries are the original
    ones). ``column_zone``: the zone of each column (-1: not a zone's). ``None`` when there is at most one
    group (nothing to gain).

    Why: CLARABEL's QDLDL factorisation computes each power row of L from every zone's columns in turn; at
    1000 zones that working set (all zones, ~300 L entries each, x 34 rows) leaves the core's cache and the
    power rows cost more per zone than at 100 zones. With partial sums, each group row gathers only its own
    zones' columns (AMD's postorder keeps a group's zones together: a working set that fits the core's cache)
    and the power rows see one column per group; AMD also orders the KKT faster (cold solves). Measured in
    docs/optimization.md ("Scaling, round 7")."""
    if zones_per_group < 1:
        raise ValueError("zones_per_group must be >= 1")
    if not cones or cones[0][0] != "zero" or cones[0][1] < n_power_rows:
        raise ValueError("the power rows must be the last rows of the first, zero cone")
    zones = column_zone[column_zone >= 0]
    n_groups = int(zones.max()) // zones_per_group + 1 if zones.size else 0
    if n_groups <= 1:
        return None
    n_eq = cones[0][1]
    first = n_eq - n_power_rows
    n_rows, n_vars = a_matrix.shape
    coo = sp.csr_matrix(a_matrix)[first:n_eq].tocoo()
    zone = column_zone[coo.col]
    in_zone = zone >= 0
    group = zone[in_zone] // zones_per_group
    new_col = lambda g, k: n_vars + g * n_power_rows + k  # noqa: E731
    all_groups = np.repeat(np.arange(n_groups), n_power_rows)
    all_steps = np.tile(np.arange(n_power_rows), n_groups)
    new_rows = n_groups * n_power_rows
    top = sp.csr_matrix(
        (
            np.concatenate([coo.data[~in_zone], np.ones(new_rows), coo.data[in_zone], -np.ones(new_rows)]),
            (
                np.concatenate(
                    [
                        coo.row[~in_zone],
                        all_steps,
                        n_power_rows + group * n_power_rows + coo.row[in_zone],
                        n_power_rows + np.arange(new_rows),
                    ]
                ),
                np.concatenate(
                    [
                        coo.col[~in_zone],
                        new_col(all_groups, all_steps),
                        coo.col[in_zone],
                        new_col(all_groups, all_steps),
                    ]
                ),
            ),
        ),
        shape=(n_power_rows + new_rows, n_vars + new_rows),
    )
    csr = sp.csr_matrix(a_matrix)
    pad = sp.csr_matrix((n_rows, new_rows))
    a_grouped = sp.vstack(
        [sp.hstack([csr[:first], pad[:first]]), top, sp.hstack([csr[n_eq:], pad[n_eq:]])], format="csc"
    )
    a_grouped.sort_indices()
    b_grouped = np.concatenate([b[:n_eq], np.zeros(new_rows), b[n_eq:]])
    p_grouped = sp.block_diag([sp.csc_matrix(p_matrix), sp.csc_matrix((new_rows, new_rows))], format="csc")
    c_grouped = np.concatenate([c, np.zeros(new_rows)])
    return p_grouped, c_grouped, a_grouped, b_grouped, [("zero", n_eq + new_rows), *cones[1:]]
