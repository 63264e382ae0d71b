"""Eliminating the cooling input through the air dynamics (a smaller KKT system for CLARABEL, same optimum).

In ``clarabel_data`` the first ``zones x steps`` rows are the air dynamics, each with exactly one cooling
variable ``q[z,k]`` (coefficient ``-b_cool``, never 0 for a zone that can be cooled) and the cooling columns
come first. Each row is solved for its ``q``: ``q = (d - rest) / (-b_cool)``, where ``rest`` holds the air,
mass and heating terms of the row; substituting ``x = T y + x0`` (``y``: every variable but ``q``) into the
other rows, the cost and the quadratic term removes those rows and columns. The substitution is exact: same
feasible set and optimum, and ``T`` is sparse (each ``q`` depends on at most 5 variables), so the other rows
stay sparse (ramps and the building-power rows gain a few entries each).

Measured (docs/optimization.md, "Scaling, round 6"): the KKT matrix shrinks by about a fifth, with one or two
fewer iterations; at 1000 one-state zones -15 % CPU per solve, 100 zones -22 %.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

MIN_INPUT_COEFFICIENT = 1e-9  # |b_cool| below this (a row without a usable cooling term): no elimination


@dataclass(frozen=True)
class Eliminated:
    """The reduced data and the map back: ``x = T @ y + x0`` gives the original variables from the reduced
    solution ``y``; ``constant`` is the objective term the substitution moved out of the reduced problem."""

    p_matrix: Any
    c: np.ndarray
    a_matrix: Any
    b: np.ndarray
    cones: list[tuple[str, int]]
    transform: Any
    x0: np.ndarray
    constant: float

    def original(self, y: np.ndarray) -> np.ndarray:
        return self.transform @ y + self.x0


def eliminate_cooling_inputs(
    p_matrix: Any,
    c: np.ndarray,
    a_matrix: Any,
    b: np.ndarray,
    cones: list[tuple[str, int]],
    n_inputs: int,
) -> Eliminated | None:
    """The data of ``clarabel_data`` (optionally conditioned) with the first ``n_inputs`` variables (cooling)
    eliminated through the first ``n_inputs`` rows (the air dynamics, in the zero cone). ``None`` when the
    layout does not allow it (a row without exactly its own cooling term, a coefficient ~0, or too few
    equality rows): the caller then solves the original data."""
    n = int(n_inputs)
    if n == 0 or not cones or cones[0][0] != "zero" or cones[0][1] < n:
        return None
    a_csr = sp.csr_matrix(a_matrix)
    n_vars = a_csr.shape[1]
    air = a_csr[:n]
    entry_rows = np.repeat(np.arange(n), np.diff(air.indptr))
    is_input = air.indices < n
    # each air row: exactly one cooling entry, its own (row i <-> q_i), with a usable coefficient
    if int(is_input.sum()) != n or not np.array_equal(air.indices[is_input], entry_rows[is_input]):
        return None
    diagonal = np.zeros(n)
    diagonal[entry_rows[is_input]] = air.data[is_input]
    if np.any(np.abs(diagonal) < MIN_INPUT_COEFFICIENT):
        return None
    inverse = 1.0 / diagonal
    # x = [q; y] = T y + x0 with q = D^-1 (b_air - rest y)
    rest_rows, rest_cols = entry_rows[~is_input], air.indices[~is_input] - n
    identity = np.arange(n_vars - n)
    transform = sp.csr_matrix(
        (
            np.concatenate([-inverse[rest_rows] * air.data[~is_input], np.ones(identity.size)]),
            (np.concatenate([rest_rows, n + identity]), np.concatenate([rest_cols, identity])),
        ),
        shape=(n_vars, n_vars - n),
    )
    x0 = np.concatenate([inverse * b[:n], np.zeros(n_vars - n)])
    others = a_csr[n:]
    a_reduced = (others @ transform).tocsc()
    b_reduced = b[n:] - others @ x0
    p_full = sp.csc_matrix(p_matrix)
    p_full = p_full + sp.triu(p_full, 1).T
    p_reduced = sp.triu(transform.T @ p_full @ transform, format="csc")
    px0 = p_full @ x0
    c_reduced = transform.T @ (c + px0)
    # elementwise sums, not BLAS dot products: a threaded BLAS spins its worker threads after a large dot
    # product and the solve's process CPU time doubles at 100 zones
    constant = float(np.sum(c * x0) + 0.5 * np.sum(x0 * px0))
    reduced_cones = [("zero", cones[0][1] - n), *cones[1:]]
    for matrix in (a_reduced, p_reduced):
        matrix.sort_indices()
    c_reduced, b_reduced = np.asarray(c_reduced), np.asarray(b_reduced)
    return Eliminated(p_reduced, c_reduced, a_reduced, b_reduced, reduced_cones, transform, x0, constant)
