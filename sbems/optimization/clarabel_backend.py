"""The default backend: CLARABEL on the problem assembled directly into its data (scipy.sparse).

Linear in zones x steps for any per-step coefficients (two-state models, move-blocked steps). A
``ClarabelBackend`` keeps the solvers it built: a re-plan with the same sparsity pattern updates one in place
(no new KKT ordering). The caller owns the backend (and so the cache): one per planning loop or worker.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import clarabel
import numpy as np
import scipy.sparse as sp

from sbems.optimization.coupling import (
    BUILDING_KW_SCALE,
    PEAK_ROW_FACTOR,
    ZONES_PER_GROUP,
    condition_coupling,
    group_power_rows,
)
from sbems.optimization.input_elimination import eliminate_cooling_inputs
from sbems.optimization.plan import SolverResult
from sbems.optimization.problem import MpcProblem

# moderately loose interior-point tolerances: costs agree to ~1e-5 relative, ~25% fewer iterations
CLARABEL_OPTIONS: dict[str, Any] = {
    "tol_gap_abs": 1e-5,
    "tol_gap_rel": 1e-5,
    "tol_feas": 1e-6,
    "tol_ktratio": 1e-5,
}
RIDGE_USD_PER_KW2 = 1e-5  # tiny strongly-convex term on cooling: unique, well-conditioned optimum
# Direct path: each demand-peak row (peak_m >= P[k]) is stated this many times. Identical rows: the same
# feasible set and optimum, but the interior-point barrier weighs these few pairs (one per step and charge,
# slacks in building kW) that much more against the ~7 x zones x steps per-zone pairs. Empirical, on the
# bench/mpc_scaling.py scenarios: 1000 zones x 96 steps 40-44 -> 27 iterations (3 seeds; 16 copies: 29),
# two-state 38-40 -> 31-32, 100 zones 23-27 -> 21-23; the factorisation is unchanged (same nnz(L)).
PEAK_ROW_COPIES = 8


def heating_blocks(
    problem: MpcProblem, offsets: Mapping[str, int] | None = None
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The heating variable blocks: ``h`` (heat pump) and ``r`` (backup), each only for the zones with some
    of it available in the horizon (the others' heating is 0: no variables, so a summer problem whose heating
    is off stays the cooling-only problem): name -> (zones, flat (zone, step) cells, variable columns)."""
    ns = problem.n_steps
    blocks = {}
    for name, available in (("h", problem.heat_pump_cap_kw), ("r", problem.backup_cap_kw)):
        zones = np.flatnonzero(available.max(axis=1) > 0)
        if zones.size:
            cells = (zones[:, None] * ns + np.arange(ns)[None, :]).ravel()
            start = 0 if offsets is None else offsets[name]
            blocks[name] = (zones, cells, start + np.arange(cells.size))
    return blocks


def clarabel_data(
    problem: MpcProblem,
) -> tuple[Any, np.ndarray, Any, np.ndarray, list[tuple[str, int]], dict[str, int]]:
    """The MPC as CLARABEL data (P, c, A, b, cones, offsets), assembled with scipy.sparse.

    Same problem as the cvxpy controller, written straight into the solver's standard form
    (min 0.5 x'Px + c'x, A x + s = b, s in zero x nonneg cones). Dynamics coefficients may vary
    per zone and step (two-state models, move-blocked steps) at no extra cost: the matrix has
    O(zones x steps) entries either way, where cvxpy's DPP tensor grows as (zones x steps)^2.
    Variables per zone z and step k (row-major z*ns + k): cooling q, end-of-step air t, mass m
    (two-state only), comfort slack s (soft only); heat-pump heating h and backup r only for the zones that
    have some of it available (``heating_blocks``; row-major over those zones); then building kW p per step
    and one peak per charge.
    The peak rows are repeated ``PEAK_ROW_COPIES`` times (same feasible set; fewer interior-point iterations).
    """
    nz, ns, nm = problem.n_zones, problem.n_steps, problem.n_charges
    n = nz * ns
    two_state, soft = problem.two_state, not problem.hard_comfort
    offsets: dict[str, int] = {"q": 0, "t": n}
    size = 2 * n
    if two_state:
        offsets["m"], size = size, size + n
    if soft:
        offsets["s"], size = size, size + n
    blocks = heating_blocks(problem)  # name -> (zones, their (zone, step) indices, variable columns)
    for name, (zones, _, _) in blocks.items():
        offsets[name], size = size, size + zones.size * ns
    blocks = heating_blocks(problem, offsets)
    offsets["p"], size = size, size + ns
    offsets["peaks"], size = size, size + nm
    below = problem.demand_below_floor_frac if nm else 0.0  # > 0: billed_m = max(peak_m, floor) apart
    if below > 0:
        offsets["billed"], size = size, size + nm
    idx = np.arange(n).reshape(nz, ns)
    later, earlier = idx[:, 1:].ravel(), idx[:, :-1].ravel()  # step k and its predecessor k-1
    q, t = offsets["q"] + idx.ravel(), offsets["t"] + idx.ravel()
    flat = lambda x: np.asarray(x, dtype=float).ravel()  # noqa: E731  (nz, ns) row-major

    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    rhs: list[np.ndarray] = []
    row0 = 0

    def add(r: np.ndarray, c: np.ndarray, v: np.ndarray | float) -> None:
        rows.append(row0 + np.asarray(r))
        cols.append(np.asarray(c))
        vals.append(np.broadcast_to(np.asarray(v, dtype=float), np.shape(r)).ravel())

    # equalities: air, mass, building power
    d = problem.disturbance_delta_c.copy()
    d[:, 0] += problem.a_frac[:, 0] * problem.initial_temp_c
    add(idx.ravel(), t, 1.0)
    add(idx.ravel(), q, -flat(problem.b_cool_c_per_kw))
    add(later, offsets["t"] + earlier, -problem.a_frac[:, 1:].ravel())
    for _, cells, columns in blocks.values():  # heat enters as negative cooling
        add(cells, columns, problem.b_cool_c_per_kw.ravel()[cells])
    if two_state:
        d[:, 0] += problem.air_from_mass_frac[:, 0] * problem.initial_mass_temp_c
        add(later, offsets["m"] + earlier, -problem.air_from_mass_frac[:, 1:].ravel())
    rhs.append(d.ravel())
    row0 += n
    if two_state:
        dm = problem.mass_delta_c.copy()
        dm[:, 0] += (
            problem.mass_from_air_frac[:, 0] * problem.initial_temp_c
            + problem.mass_frac[:, 0] * problem.initial_mass_temp_c
        )
        add(idx.ravel(), offsets["m"] + idx.ravel(), 1.0)
        add(idx.ravel(), q, -flat(problem.mass_b_cool_c_per_kw))
        for _, cells, columns in blocks.values():
            add(cells, columns, problem.mass_b_cool_c_per_kw.ravel()[cells])
        add(later, offsets["t"] + earlier, -problem.mass_from_air_frac[:, 1:].ravel())
        add(later, offsets["m"] + earlier, -problem.mass_frac[:, 1:].ravel())
        rhs.append(dm.ravel())
        row0 += n
    steps = np.arange(ns)
    add(steps, offsets["p"] + steps, 1.0)
    per_cool, per_heat_pump, per_backup = problem.electric_kw_per_kw
    add(np.tile(steps, nz), q, -per_cool.ravel())
    for name, (_, cells, columns) in blocks.items():
        add(cells % ns, columns, -(per_heat_pump if name == "h" else per_backup).ravel()[cells])
    rhs.append(problem.fan_kw.sum(axis=0))
    row0 += ns
    n_equalities = row0

    # inequalities (A x <= b): cooling bounds, ramps, comfort, peaks
    cap = problem.cooling_cap_kw.ravel()
    add(idx.ravel(), q, -1.0)
    rhs.append(np.zeros(n))
    row0 += n
    add(idx.ravel(), q, 1.0)
    rhs.append(cap)
    row0 += n
    q_prev, ramp = problem.previous_cooling_kw, problem.ramp_bound_kw
    for sign in (1.0, -1.0):
        add(idx.ravel(), q, sign)
        add(later, offsets["q"] + earlier, -sign)
        bound = ramp.copy()
        bound[:, 0] += sign * q_prev
        rhs.append(bound.ravel())
        row0 += n
    add(idx.ravel(), t, -1.0)
    if soft:
        add(idx.ravel(), offsets["s"] + idx.ravel(), -1.0)
    rhs.append(-problem.comfort_min_c.ravel())
    row0 += n
    add(idx.ravel(), t, 1.0)
    if soft:
        add(idx.ravel(), offsets["s"] + idx.ravel(), -1.0)
    rhs.append(problem.comfort_max_c.ravel())
    row0 += n
    if soft:
        add(idx.ravel(), offsets["s"] + idx.ravel(), -1.0)
        rhs.append(np.zeros(n))
        row0 += n
    for name, (_, cells, columns) in blocks.items():  # 0 <= h <= heat pump available, 0 <= r <= backup
        upper = (problem.heat_pump_cap_kw if name == "h" else problem.backup_cap_kw).ravel()[cells]
        local = np.arange(cells.size)
        add(local, columns, -1.0)
        add(cells.size + local, columns, 1.0)
        rhs += [np.zeros(cells.size), upper]
        row0 += 2 * cells.size
    for _copy, m in itertools.product(range(PEAK_ROW_COPIES), range(nm)):
        in_mask = np.flatnonzero(problem.demand_masks[m])
        local = np.arange(in_mask.size)
        add(local, offsets["p"] + in_mask, 1.0)
        add(local, np.full(in_mask.size, offsets["peaks"] + m), -1.0)
        rhs.append(np.zeros(in_mask.size))
        row0 += in_mask.size
    if nm and below > 0:  # billed >= floor, billed >= peak, peak >= 0
        charges = np.arange(nm)
        add(charges, offsets["billed"] + charges, -1.0)
        add(nm + charges, offsets["billed"] + charges, -1.0)
        add(nm + charges, offsets["peaks"] + charges, 1.0)
        add(2 * nm + charges, offsets["peaks"] + charges, -1.0)
        rhs += [-problem.demand_peak_floor_kw, np.zeros(2 * nm)]
        row0 += 3 * nm
    elif nm:
        add(np.arange(nm), offsets["peaks"] + np.arange(nm), -1.0)
        rhs.append(-problem.demand_peak_floor_kw)
        row0 += nm

    a_matrix = sp.csc_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(row0, size)
    )
    c = np.zeros(size)
    c[offsets["p"] : offsets["p"] + ns] = problem.price_usd_per_kwh * problem.step_h_per_step
    if soft:
        c[offsets["s"] : offsets["s"] + n] = np.tile(
            problem.comfort_penalty_usd_per_kh * problem.step_h_per_step, nz
        )
    c[offsets["peaks"] : offsets["peaks"] + nm] = problem.demand_rates_usd_per_kw
    if below > 0:
        c[offsets["peaks"] : offsets["peaks"] + nm] *= below
        c[offsets["billed"] : offsets["billed"] + nm] = (1.0 - below) * problem.demand_rates_usd_per_kw
    # 0.5 x'Px = w*sum((q[z,k+1]-q[z,k])^2) + ridge*sum(q^2), upper triangle over q's columns
    weight = 2.0 * problem.smoothing_usd_per_kw2
    diagonal = np.full((nz, ns), 2.0 * weight) + 2.0 * RIDGE_USD_PER_KW2
    diagonal[:, 0] -= weight
    diagonal[:, -1] -= weight
    if ns == 1:
        diagonal[:, 0] = 2.0 * RIDGE_USD_PER_KW2
    p_rows = np.concatenate([idx.ravel(), earlier])
    p_cols = np.concatenate([idx.ravel(), later])
    p_vals = np.concatenate([diagonal.ravel(), np.full(earlier.size, -weight)])
    for name, (zones, _, columns) in blocks.items():  # heat pump: the cooling's smoothing; backup: ridge
        grid = columns.reshape(zones.size, ns)
        if name == "h":
            block = (grid.ravel(), grid[:, :-1].ravel(), diagonal[zones].ravel(), grid[:, 1:].ravel())
        else:
            block = (grid.ravel(), grid[:, :0].ravel(), np.full(grid.size, 2.0 * RIDGE_USD_PER_KW2), None)
        diag, before, values, after = block
        p_rows = np.concatenate([p_rows, diag, before])
        p_cols = np.concatenate([p_cols, diag, before if after is None else after])
        p_vals = np.concatenate([p_vals, values, np.full(before.size, -weight)])
    p_matrix = sp.csc_matrix((p_vals, (p_rows, p_cols)), shape=(size, size))
    cones = [("zero", n_equalities), ("nonneg", row0 - n_equalities)]
    return p_matrix, c, a_matrix, np.concatenate(rhs), cones, offsets


def column_zones(problem: MpcProblem, offsets: Mapping[str, int], n_vars: int) -> np.ndarray:
    """The zone of each variable column of ``clarabel_data`` (-1 for the building kW and peaks)."""
    zone = np.full(n_vars, -1)
    n, ns = problem.n_zones * problem.n_steps, problem.n_steps
    for name in ("q", "t", "m", "s"):
        if name in offsets:
            zone[offsets[name] : offsets[name] + n] = np.arange(n) // ns
    for zones, _, columns in heating_blocks(problem, offsets).values():
        zone[columns] = np.repeat(zones, ns)
    return zone


# direct path: skip iterative refinement of the KKT solves (about 40 % of the time on large problems; the
# termination test still checks the true residuals); a solve that does not end "optimal" is repeated with it
DIRECT_FAST_OPTIONS: dict[str, Any] = {"iterative_refinement_enable": False}
# CLARABEL's presolve only drops rows with infinite bounds (there are none here) and, when on, forbids
# updating a solver's data in place; off, a re-plan of the same structure reuses the solver
# (see _ReusableSolver)
DIRECT_SOLVER_OPTIONS: dict[str, Any] = {"presolve_enable": False}
DIRECT_SOLVER_CACHE_SIZE = 2


@dataclass(eq=False)
class _ReusableSolver:
    """A CLARABEL solver kept for re-plans with the same sparsity pattern.

    Building a solver runs the AMD fill-reducing ordering of the KKT matrix, whose cost grows as
    zones^2 here: each step's building-power row touches every zone (1000 zones x 96 steps: 3-4 s, a third
    of a cold solve; without those rows 0.5 s; 100 zones: 0.1 s). ``update`` writes new values (P, q, A, b)
    into the same structure and keeps the ordering and symbolic factorisation (0.15 s for 1000 zones); the
    interior-point solve starts from scratch as always (CLARABEL does not warm-start): same iterates, same
    optimum as a new solver. Memory: a 1000-zone solver holds about 0.5 GB while cached.
    """

    solver: Any
    patterns: tuple[np.ndarray, ...]
    refine: bool

    def update(
        self, p_matrix: Any, c: np.ndarray, a_matrix: Any, b: np.ndarray, options: Mapping[str, Any]
    ) -> bool:
        """Write new data (and the refinement setting) into the kept solver; False when CLARABEL rejects it
        (the caller then builds a new solver)."""
        refine = bool(options.get("iterative_refinement_enable", True))
        try:
            self.solver.update(P=p_matrix, q=c, A=a_matrix, b=b)
            if self.refine != refine:
                self.solver.update(settings=_clarabel_settings(options))
                self.refine = refine
        except Exception:  # noqa: BLE001 - clarabel raises plain exceptions for a rejected update
            return False
        return True

    def fits(self, patterns: tuple[np.ndarray, ...]) -> bool:
        return len(patterns) == len(self.patterns) and all(
            np.array_equal(mine, theirs) for mine, theirs in zip(self.patterns, patterns, strict=True)
        )


def _clarabel_settings(options: Mapping[str, Any]) -> Any:
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    for key, value in options.items():
        setattr(settings, key, value)
    return settings


class ClarabelBackend:
    """CLARABEL on directly assembled data, with the solvers it built kept for re-plans (at most
    ``cache_size`` structures, least recently used dropped). A shared instance serialises its solves."""

    solver = "CLARABEL"

    def __init__(
        self,
        solver_options: Mapping[str, Any] | None = None,
        cache_size: int = DIRECT_SOLVER_CACHE_SIZE,
        peak_row_factor: int = PEAK_ROW_FACTOR,
        building_kw_scale: float = BUILDING_KW_SCALE,
        eliminate_inputs: bool = True,
        zones_per_group: int | None = ZONES_PER_GROUP,
    ) -> None:
        """``peak_row_factor`` and ``building_kw_scale`` condition the coupling rows
        (``coupling.condition_coupling``: same optimum, fewer iterations; 1 and 1.0 give the previous
        formulation, the benchmark's baseline). ``eliminate_inputs``: solve for the cooling inputs through
        the air dynamics before CLARABEL sees the data (``input_elimination``: smaller KKT, same optimum).
        ``zones_per_group``: the building-power rows summed through partial sums over groups of that many
        zones (``coupling.group_power_rows``: same optimum, cheaper factorisation at many zones); ``None``:
        not grouped."""
        if peak_row_factor < 1:
            raise ValueError("peak_row_factor must be >= 1")
        self.solver_options = dict(solver_options or {})
        self.cache_size = cache_size
        self.peak_row_factor = int(peak_row_factor)
        self.building_kw_scale = float(building_kw_scale)
        self.eliminate_inputs = bool(eliminate_inputs)
        self.zones_per_group = zones_per_group
        self._solvers: OrderedDict[tuple[Any, ...], _ReusableSolver] = OrderedDict()
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget the kept solvers (the next solve is cold; frees their memory)."""
        with self._lock:
            self._solvers.clear()

    def solve(self, problem: MpcProblem, timings: dict[str, float] | None = None) -> SolverResult:
        """Solve; ``timings`` (optional) gets assemble_s, setup_s, solver_reused (1.0 when a kept solver was
        updated in place), solver_s, solver_cpu_s (process CPU time of the iterations: what other load on the
        machine does not inflate) and iterations. ``solve_s`` of the result includes the assembly."""
        timings = {} if timings is None else timings
        started = time.perf_counter()
        with self._lock:
            status, decisions = self._solve(problem, timings)
        solve_s = time.perf_counter() - started
        if status.startswith("failed:"):
            return SolverResult(
                "failed", None, solve_s, detail=f"returned status {status.removeprefix('failed:')}"
            )
        cooling_kw, heat_pump_kw, backup_kw = decisions
        return SolverResult(status, cooling_kw, solve_s, heat_pump_kw=heat_pump_kw, backup_heat_kw=backup_kw)

    def _solve(self, problem: MpcProblem, timings: dict[str, float]) -> tuple[str, tuple[Any, Any, Any]]:
        started = time.perf_counter()
        p_matrix, c, a_matrix, b, cones, offsets = clarabel_data(problem)
        c, a_matrix, b, cones = condition_coupling(
            c, a_matrix, b, cones, offsets, self.building_kw_scale, self.peak_row_factor
        )
        if self.zones_per_group is not None:
            grouped = group_power_rows(
                p_matrix,
                c,
                a_matrix,
                b,
                cones,
                column_zones(problem, offsets, a_matrix.shape[1]),
                problem.n_steps,
                self.zones_per_group,
            )
            if grouped is not None:
                p_matrix, c, a_matrix, b, cones = grouped
        reduced = None
        if self.eliminate_inputs:
            reduced = eliminate_cooling_inputs(
                p_matrix, c, a_matrix, b, cones, problem.n_zones * problem.n_steps
            )
        if reduced is not None:
            p_matrix, c, a_matrix, b, cones = (
                reduced.p_matrix,
                reduced.c,
                reduced.a_matrix,
                reduced.b,
                reduced.cones,
            )
        timings["assemble_s"] = time.perf_counter() - started
        for fast in (True, False):
            options = {
                **CLARABEL_OPTIONS,
                **DIRECT_SOLVER_OPTIONS,
                **(DIRECT_FAST_OPTIONS if fast else {}),
                **self.solver_options,
            }
            entry = self._solver_for(p_matrix, c, a_matrix, b, cones, options, timings)
            iterations_started, cpu_started = time.perf_counter(), time.process_time()
            solution = entry.solver.solve()
            timings["solver_s"] = time.perf_counter() - iterations_started
            timings["solver_cpu_s"] = time.process_time() - cpu_started
            timings["iterations"] = float(solution.iterations)
            status = str(solution.status)
            if status == "Solved" or entry.refine:
                break
        mapped = {
            "Solved": "optimal",
            "AlmostSolved": "optimal_inaccurate",
            "PrimalInfeasible": "infeasible",
            "AlmostPrimalInfeasible": "infeasible",
        }.get(status, f"failed:{status}")
        if not mapped.startswith("optimal"):
            return mapped, (None, None, None)
        x = np.asarray(solution.x) if reduced is None else reduced.original(np.asarray(solution.x))
        n = problem.n_zones * problem.n_steps
        shape = (problem.n_zones, problem.n_steps)
        q = x[offsets["q"] : offsets["q"] + n].reshape(shape)
        if not problem.has_heating:
            return mapped, (q, None, None)
        heat = {"h": np.zeros(shape), "r": np.zeros(shape)}
        for name, (zones, _, columns) in heating_blocks(problem, offsets).items():
            heat[name][zones] = x[columns].reshape(zones.size, problem.n_steps)
        return mapped, (q, heat["h"], heat["r"])

    def _solver_for(
        self,
        p_matrix: Any,
        c: np.ndarray,
        a_matrix: Any,
        b: np.ndarray,
        cones: list[tuple[str, int]],
        options: Mapping[str, Any],
        timings: dict[str, float],
    ) -> _ReusableSolver:
        """A solver holding this data: the kept one for the same structure, updated in place, or a new one."""
        started = time.perf_counter()
        patterns = (p_matrix.indptr, p_matrix.indices, a_matrix.indptr, a_matrix.indices)
        refine = bool(options.get("iterative_refinement_enable", True))
        other_options = sorted((k, v) for k, v in options.items() if k != "iterative_refinement_enable")
        key = (p_matrix.shape, a_matrix.shape, p_matrix.nnz, a_matrix.nnz, tuple(cones), repr(other_options))
        cached = self._solvers.get(key)
        if cached is not None:
            self._solvers.move_to_end(key)
        if cached is not None and cached.fits(patterns) and cached.update(p_matrix, c, a_matrix, b, options):
            timings.update(setup_s=time.perf_counter() - started, solver_reused=1.0)
            return cached
        cone_objects = [
            clarabel.ZeroConeT(size) if kind == "zero" else clarabel.NonnegativeConeT(size)
            for kind, size in cones
            if size
        ]
        solver = clarabel.DefaultSolver(p_matrix, c, a_matrix, b, cone_objects, _clarabel_settings(options))
        fresh = _ReusableSolver(solver, tuple(np.array(x) for x in patterns), refine)
        if solver.is_data_update_allowed():
            self._solvers[key] = fresh
            self._solvers.move_to_end(key)
            while len(self._solvers) > self.cache_size:
                self._solvers.popitem(last=False)
        timings.update(setup_s=time.perf_counter() - started, solver_reused=0.0)
        return fresh
