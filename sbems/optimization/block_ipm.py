"""A structure-exploiting interior-point solve of ``MpcProblem`` (issue 14's scaling target).

The zones share nothing but the building's electric power: per zone the problem is small and dense once
its temperatures are written as affine functions of its inputs (condensing), and only the demand-peak rows
(one per step and charge) couple the zones. So each Newton system is block-arrow shaped: one dense block
per zone (its inputs: cooling, and heat-pump and backup heating where any zone has them; the comfort slacks
are eliminated exactly), plus a low-rank coupling term. It is solved per zone in batched dense linear
algebra (numpy) and with a small dense bordered system on the coupling rows, so the work per
iteration grows linearly with the zones, where a general sparse factorisation of the whole problem gathers
every zone into each coupling row (``docs/optimization.md``, "Scaling").

The algorithm is Mehrotra's predictor-corrector for a convex QP with linear inequalities (no equalities
remain after condensing), started from an infeasible point:

    minimise 0.5 x'Px + c'x  subject to  Gx + s = h,  s >= 0.

Variables: per zone the inputs ``u`` (n_in x n_steps, input-major: q, then h, r when present) and the
comfort slacks ``e`` (soft comfort only); then the building's peaks (and billed peaks with
``demand_below_floor_frac``). The building kW ``P[k]`` is not a variable: its cost is folded into the inputs'
linear cost and the peak rows read ``sum_z E[z,k] u_z - peak_m <= -fan[k]``. Inputs whose upper bound is 0
(unavailable cooling or heating) are fixed at 0.

Modules: ``block_structure`` (the condensed problem), ``block_newton`` (the rows, G and G', the Newton solve),
this one (the iteration). Same problem, same optimum as ``clarabel_backend.clarabel_data`` (cross-checked in
``tests/optimization/test_block_ipm.py``); ``BlockBackend`` (``block_backend.py``) uses it and falls back to
CLARABEL where this solve does not converge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sbems.optimization.block_newton import BlockIpm, Point, combine, inf_norm
from sbems.optimization.block_structure import Structure, build_structure
from sbems.optimization.problem import MpcProblem

TOL_FEAS = 1e-6  # as the CLARABEL backend's tolerances
TOL_GAP_REL = 1e-5
TOL_GAP_ABS = 1e-5
MAX_ITERATIONS = 60
STEP_FRACTION = 0.99
# barrier weights: each peak row counts as this many rows (as CLARABEL's repeated peak rows do), at least
# COUPLING_ROW_WEIGHT and growing with the square root of the zones it gathers (chosen on
# bench/mpc_scaling.py's scenarios, 10-1000 zones: 17-22 iterations)
COUPLING_ROW_WEIGHT = 32.0
COUPLING_ROW_WEIGHT_PER_SQRT_ZONE = 4.0


@dataclass
class IpmResult:
    status: str  # optimal | failed
    inputs: np.ndarray | None  # (nz, n_in, ns)
    iterations: int
    objective: float


def solve_block(
    problem: MpcProblem, max_iterations: int = MAX_ITERATIONS, refine_passes: int = 0
) -> tuple[Structure, IpmResult]:
    """Solve ``problem`` by the block interior-point method."""
    st = build_structure(problem)
    return st, run_ipm(BlockIpm(st), max_iterations, refine_passes)


def run_ipm(ipm: BlockIpm, max_iterations: int = MAX_ITERATIONS, refine_passes: int = 0) -> IpmResult:
    """Mehrotra's predictor-corrector from CVXOPT's starting point. ``refine_passes``: iterative refinement of
    each Newton solve against the exact operator (0: none, the fast path; ``BlockBackend`` retries a failed
    solve with it)."""
    st, rows = ipm.st, ipm.rows
    active, h = rows.active, rows.h
    # barrier weights: each coupling (peak) row counts as COUPLING_ROW_WEIGHT rows (as CLARABEL's repeated
    # peak rows do: the centring keeps these few rows' slacks comparable to the many per-zone rows')
    nu = active.astype(float)
    nu[rows.slices["cp"]] *= max(COUPLING_ROW_WEIGHT, COUPLING_ROW_WEIGHT_PER_SQRT_ZONE * np.sqrt(st.nz))
    n_active = max(float(nu.sum()), 1.0)
    c = ipm.linear()
    # start (as CVXOPT's coneqp): x minimising 0.5x'Px + c'x + 0.5|Gx - h|^2, then s and z shifted inside
    f = ipm.factor(active.astype(float))
    x = ipm.solve(f, combine(ipm.apply_gt(h), c, -1.0))
    gx = ipm.apply_g(x)
    s, lam = h - gx, gx - h
    for vec in (s, lam):
        shift = -vec[active].min() if active.any() else 0.0
        if shift >= -1e-8:
            vec += (1.0 + shift) * active
    s[~active], lam[~active] = 1.0, 0.0
    h_norm, c_norm = max(1.0, float(np.abs(h).max(initial=0.0))), max(1.0, inf_norm(c))
    for iteration in range(max_iterations + 1):
        px = ipm.quad(x)
        gt_lam = ipm.apply_gt(lam)
        rd = combine(combine(px, c, 1.0), gt_lam, 1.0)
        rp = np.where(active, ipm.apply_g(x) + s - h, 0.0)
        gap = float(np.dot(s[active], lam[active]))
        pobj = 0.5 * ipm.dot(x, px) + ipm.dot(c, x)
        dobj = -0.5 * ipm.dot(x, px) - float(np.dot(h, lam))
        # CLARABEL's tests: residuals against the size of what they are made of, the duality gap
        gx_norm = float(np.abs(rp - s + h).max(initial=0.0))
        primal_scale = max(h_norm, gx_norm, float(np.abs(s[active]).max(initial=0.0)))
        dual_scale = max(c_norm, inf_norm(px), inf_norm(gt_lam))
        feasible = (
            np.abs(rp).max(initial=0.0) <= TOL_FEAS * primal_scale and inf_norm(rd) <= TOL_FEAS * dual_scale
        )
        gap_pd = abs(pobj - dobj)
        converged = gap_pd <= TOL_GAP_ABS or gap_pd <= TOL_GAP_REL * max(1e-12, min(abs(pobj), abs(dobj)))
        if feasible and converged:
            inputs = (x.u * st.free).reshape(st.nz, st.n_in, st.ns)
            return IpmResult("optimal", inputs, iteration, pobj)
        if iteration == max_iterations or not np.isfinite(gap):
            break
        mu = gap / n_active
        w = np.where(active, lam / s, 0.0)
        f = ipm.factor(w)

        newton = _Newton(ipm, f, w, rd, rp, s, lam, active, refine_passes)
        rc = s * lam * active
        dx, ds, dlam = newton.direction(rc)
        alpha = _max_step(s, ds, lam, dlam, active)
        mu_aff = float(np.dot((s + alpha * ds)[active], (lam + alpha * dlam)[active])) / n_active
        sigma = min(1.0, (mu_aff / mu) ** 3) if mu > 0 else 0.0
        rc = (s * lam + ds * dlam - sigma * mu * nu) * active
        dx, ds, dlam = newton.direction(rc)
        alpha = min(1.0, STEP_FRACTION * _max_step(s, ds, lam, dlam, active, cap=np.inf))
        x = x.axpy(alpha, dx)
        s = np.where(active, s + alpha * ds, 1.0)
        lam = np.where(active, lam + alpha * dlam, 0.0)
    return IpmResult("failed", None, max_iterations, float("nan"))


@dataclass
class _Newton:
    """One iteration's Newton system: the factors of P + G'WG and the residuals it corrects."""

    ipm: BlockIpm
    factors: dict[str, np.ndarray]
    w: np.ndarray
    rd: Point
    rp: np.ndarray
    s: np.ndarray
    lam: np.ndarray
    active: np.ndarray
    refine_passes: int

    def direction(self, rc: np.ndarray) -> tuple[Point, np.ndarray, np.ndarray]:
        """(dx, ds, dlam) for the complementarity residual ``rc``: dx from
        (P + G'WG) dx = -rd - G'(W (rp - rc/lam)), then dlam and ds."""
        ipm, active, lam = self.ipm, self.active, self.lam
        safe = np.where(active, rc / np.where(active, lam, 1.0), 0.0)
        minus_rd = Point(-self.rd.u, -self.rd.e, -self.rd.v)
        rhs = combine(minus_rd, ipm.apply_gt(self.w * (self.rp - safe)), -1.0)
        if self.refine_passes:
            dx = ipm.solve_refined(self.factors, self.w, rhs, self.refine_passes)
        else:
            dx = ipm.solve(self.factors, rhs)
        dlam = np.where(active, self.w * (ipm.apply_g(dx) + self.rp - safe), 0.0)
        ds = np.where(active, -(rc + self.s * dlam) / np.where(active, lam, 1.0), 0.0)
        return dx, ds, dlam


def _max_step(
    s: np.ndarray, ds: np.ndarray, lam: np.ndarray, dlam: np.ndarray, active: np.ndarray, cap: float = 1.0
) -> float:
    """The largest step in (0, cap] keeping s and lam nonnegative on the active rows."""
    step = cap
    for value, delta in ((s, ds), (lam, dlam)):
        neg = active & (delta < 0)
        if neg.any():
            step = min(step, float((-value[neg] / delta[neg]).min()))
    return step
