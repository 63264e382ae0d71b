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
    a_csc = sp.csc_matrix(a_matrix)
    n_vars = a_csc.shape[1]
    air = a_csc[:n].tocsc()
    coupling = air[:, :n]
    diagonal = coupling.diagonal()
    if coupling.nnz != n or np.any(np.abs(diagonal) < MIN_INPUT_COEFFICIENT):
        return None
    if sp.triu(coupling, 1).nnz or sp.tril(coupling, -1).nnz:
        return None
    inverse = 1.0 / diagonal
    rest = air[:, n:]
    # x = [q; y] = T y + x0 with q = D^-1 (b_air - rest y)
    transform = sp.vstack([-sp.diags(inverse) @ rest, sp.identity(n_vars - n, format="csc")], format="csc")
    x0 = np.concatenate([inverse * b[:n], np.zeros(n_vars - n)])
    others = a_csc[n:]
    a_reduced = (others @ transform).tocsc()
    b_reduced = b[n:] - others @ x0
    p_full = sp.csc_matrix(p_matrix)
    p_full = p_full + sp.triu(p_full, 1).T
    p_reduced = sp.triu(transform.T @ p_full @ transform, format="csc")
    px0 = p_full @ x0
    c_reduced = transform.T @ (c + px0)
    constant = float(c @ x0 + 0.5 * x0 @ px0)
    reduced_cones = [("zero", cones[0][1] - n), *cones[1:]]
    for matrix in (a_reduced, p_reduced):
        matrix.sort_indices()
    c_reduced, b_reduced = np.asarray(c_reduced), np.asarray(b_reduced)
    return Eliminated(p_reduced, c_reduced, a_reduced, b_reduced, reduced_cones, transform, x0, constant)
