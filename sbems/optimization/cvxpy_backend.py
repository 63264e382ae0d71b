"""The reference backend: the same problem stated in cvxpy (a DPP problem compiled once per shape).

Everything that changes between re-plans is a Parameter, so a controller compiled for (n_zones, n_steps,
n_charges, hard_comfort, two_state, time_varying, heating, idle_fans) is reused; a ``CvxpyBackend`` keeps the
controllers it compiled (the caller owns it). It serves every solver cvxpy knows (CLARABEL gets the quadratic
smoothing injected into its data; other solvers get the LP) and cross-checks the direct CLARABEL backend in
the tests.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import cvxpy as cp
import numpy as np
import scipy.sparse as sp
from cvxpy import settings as cvxpy_settings

from sbems.optimization.clarabel_backend import CLARABEL_OPTIONS, RIDGE_USD_PER_KW2
from sbems.optimization.plan import SolverResult
from sbems.optimization.problem import MpcProblem

CONTROLLER_CACHE_SIZE = 16


class CvxpyController:
    """A compiled cvxpy problem for one shape; only parameter values change between solves."""

    def __init__(
        self,
        n_zones: int,
        n_steps: int,
        n_charges: int,
        hard_comfort: bool,
        two_state: bool = False,
        time_varying: bool = False,
        heating: bool = False,
        idle_fans: bool = False,
    ) -> None:
        started = time.perf_counter()
        self.solve_count = 0
        nz, ns, nm = n_zones, n_steps, n_charges
        # per-zone coefficients as (nz, 1) unless they vary along the horizon: cvxpy's DPP tensor for an
        # (nz, ns) parameter times a variable grows as (nz*ns)^2 (1000 zones: out of memory)
        self.time_varying = time_varying
        cols = ns if time_varying else 1
        self.a = cp.Parameter((nz, cols), name="a")
        self.b = cp.Parameter((nz, cols), name="b_cool")
        self.d = cp.Parameter((nz, ns), name="disturbance")
        self.t0 = cp.Parameter(nz, name="t0")
        self.t_min = cp.Parameter((nz, ns), name="t_min")
        self.t_max = cp.Parameter((nz, ns), name="t_max")
        self.cap = cp.Parameter((nz, ns), nonneg=True, name="capacity")  # x availability
        self.ramp = cp.Parameter((nz, ns), nonneg=True, name="ramp")  # step 0: against q_prev
        self.q_prev = cp.Parameter(nz, nonneg=True, name="q_prev")
        self.inv_cop = cp.Parameter(ns, nonneg=True, name="inv_cop")
        self.fan = cp.Parameter(ns, nonneg=True, name="fan_total")
        self.energy_weight = cp.Parameter(ns, nonneg=True, name="price_x_dt")
        self.comfort_weight = cp.Parameter(ns, nonneg=True, name="comfort_weight_x_dt")

        # plain variable (explicit q >= 0 row) so its column block in the stuffed problem is known
        self.q = cp.Variable((nz, ns), name="cooling_kw")
        self.t = cp.Variable((nz, ns + 1), name="temp_c")
        self.p = cp.Variable(ns, name="electric_kw")
        self.heating = heating
        net = self.q
        electric = cp.multiply(self.inv_cop, cp.sum(self.q, axis=0))
        if heating:  # heat-pump heating h and resistance backup r enter as negative cooling
            self.h = cp.Variable((nz, ns), name="heat_pump_kw")
            self.r = cp.Variable((nz, ns), name="backup_heat_kw")
            self.cap_h = cp.Parameter((nz, ns), nonneg=True, name="heat_pump_capacity")
            self.cap_r = cp.Parameter((nz, ns), nonneg=True, name="backup_capacity")
            self.inv_cop_h = cp.Parameter(ns, nonneg=True, name="inv_heating_cop")
            net = self.q - self.h - self.r
            electric = electric + cp.multiply(self.inv_cop_h, cp.sum(self.h, axis=0)) + cp.sum(self.r, axis=0)
        self.idle_fans = idle_fans
        if idle_fans:  # fan kW per kW of output, (nz, ns): only when some unit has one (a large DPP tensor)
            self.fan_per_q = cp.Parameter((nz, ns), nonneg=True, name="idle_fan_per_cooling")
            electric = electric + cp.sum(cp.multiply(self.fan_per_q, self.q), axis=0)
            if heating:
                self.fan_per_heat = cp.Parameter((nz, ns), nonneg=True, name="idle_fan_per_heat")
                electric = electric + cp.sum(cp.multiply(self.fan_per_heat, self.h + self.r), axis=0)
        air_next = cp.multiply(self.a, self.t[:, :-1]) + cp.multiply(self.b, net) + self.d
        constraints = [self.t[:, 0] == self.t0]
        self.two_state = two_state
        if two_state:
            self.am = cp.Parameter((nz, cols), name="air_from_mass")
            self.ma = cp.Parameter((nz, cols), name="mass_from_air")
            self.mm = cp.Parameter((nz, cols), name="mass_self")
            self.bm = cp.Parameter((nz, cols), name="mass_b_cool")
            self.dm = cp.Parameter((nz, ns), name="mass_disturbance")
            self.m0 = cp.Parameter(nz, name="mass0")
            self.m = cp.Variable((nz, ns + 1), name="mass_temp_c")
            air_next = air_next + cp.multiply(self.am, self.m[:, :-1])
            constraints += [
                self.m[:, 0] == self.m0,
                self.m[:, 1:]
                == cp.multiply(self.ma, self.t[:, :-1])
                + cp.multiply(self.mm, self.m[:, :-1])
                + cp.multiply(self.bm, net)
                + self.dm,
            ]
        constraints += [
            self.t[:, 1:] == air_next,
            self.q >= 0,
            self.q <= self.cap,
            self.q[:, 0] - self.q_prev <= self.ramp[:, 0],
            self.q_prev - self.q[:, 0] <= self.ramp[:, 0],
            self.p == electric + self.fan,
        ]
        if heating:
            constraints += [self.h >= 0, self.h <= self.cap_h, self.r >= 0, self.r <= self.cap_r]
        if ns > 1:
            change = self.q[:, 1:] - self.q[:, :-1]
            constraints += [change <= self.ramp[:, 1:], change >= -self.ramp[:, 1:]]
        objective = self.energy_weight @ self.p
        if hard_comfort:
            constraints += [self.t[:, 1:] >= self.t_min, self.t[:, 1:] <= self.t_max]
        else:
            self.s = cp.Variable((nz, ns), nonneg=True, name="comfort_slack_c")
            constraints += [self.t[:, 1:] >= self.t_min - self.s, self.t[:, 1:] <= self.t_max + self.s]
            objective = objective + self.comfort_weight @ cp.sum(self.s, axis=0)
        if nm:
            self.masks = cp.Parameter((nm, ns), nonneg=True, name="demand_masks")
            self.rates = cp.Parameter(nm, nonneg=True, name="demand_rates")
            self.peak_so_far = cp.Parameter(nm, nonneg=True, name="peak_so_far")
            self.peaks = cp.Variable(nm, name="peaks_kw")
            # billed = max(peak, floor) at (1 - f) x rate, the peak itself at f x rate (f: below the floor)
            self.billed = cp.Variable(nm, name="billed_peaks_kw")
            self.below_rates = cp.Parameter(nm, nonneg=True, name="below_floor_rates")
            constraints += [self.billed >= self.peak_so_far, self.billed >= self.peaks, self.peaks >= 0]
            constraints += [self.peaks[m] >= cp.multiply(self.masks[m], self.p) for m in range(nm)]
            objective = objective + self.rates @ self.billed + self.below_rates @ self.peaks
        self.problem = cp.Problem(cp.Minimize(objective), constraints)
        if not self.problem.is_dpp():
            raise RuntimeError("MPC formulation is not DPP; re-plans would recompile")
        self.n_charges = nm
        self.hard_comfort = hard_comfort
        self._smoothing_gram: Any = None
        self._ridge: Any = None
        self.build_s = time.perf_counter() - started

    def solve(self, problem: MpcProblem, solver: str, solver_options: dict[str, Any]) -> None:
        """Write the data and solve; CLARABEL gets the quadratic smoothing term injected into its data.

        cvxpy densifies (n_vars x n_params) when extracting a quadratic objective from a problem with
        many parameters, so the smoothing w*sum((Q[z,k+1]-Q[z,k])^2) (plus a tiny ridge on Q, which
        halves interior-point iterations) is added to the compiled problem data instead: still one
        compilation, data-only re-plans. Other solvers get the LP without it.
        """
        self.set_values(problem)
        if solver != "CLARABEL":
            self.problem.solve(solver=solver, **solver_options)
            return
        options = {**CLARABEL_OPTIONS, **solver_options}
        data, chain, inverse = self.problem.get_problem_data(cp.CLARABEL, solver_opts=dict(options))
        if self._smoothing_gram is None:
            columns = data[cvxpy_settings.PARAM_PROB].var_id_to_col
            self._build_smoothing_structure(
                [columns[self.q.id]] + ([columns[self.h.id]] if self.heating else []),
                [columns[self.r.id]] if self.heating else [],
                data[cvxpy_settings.A].shape[1],
            )
        weight = 2.0 * problem.smoothing_usd_per_kw2
        data[cvxpy_settings.P] = (weight * self._smoothing_gram + self._ridge).tocsc()
        solution = chain.solve_via_data(self.problem, data, False, False, options)
        self.problem.unpack_results(solution, chain, inverse)

    def _build_smoothing_structure(self, smooth_cols: list[int], ridge_cols: list[int], n_x: int) -> None:
        """Sparse D'D (first differences along steps, per zone) and the ridge at the columns of the smoothed
        blocks (cooling, heat-pump heating), the ridge alone at the others (backup heat)."""
        nz, ns = self.q.shape
        m = nz * ns  # cvxpy flattens column-major: Q[z, k] -> z + k*nz
        diff = sp.diags([-np.ones(m - nz), np.ones(m - nz)], [0, nz], shape=(m - nz, m))
        gram, ridge = sp.csc_matrix((n_x, n_x)), sp.csc_matrix((n_x, n_x))
        for col in [*smooth_cols, *ridge_cols]:
            place = sp.csc_matrix((np.ones(m), (col + np.arange(m), np.arange(m))), shape=(n_x, m))
            if col in smooth_cols:
                gram = gram + place @ (diff.T @ diff) @ place.T
            ridge = ridge + place @ (2.0 * RIDGE_USD_PER_KW2 * sp.eye(m)) @ place.T
        self._smoothing_gram, self._ridge = gram.tocsc(), ridge.tocsc()

    def set_values(self, problem: MpcProblem) -> None:
        """Write a problem's data into the parameters."""
        cols = problem.n_steps if self.time_varying else 1
        self.a.value = problem.a_frac[:, :cols]
        self.b.value = problem.b_cool_c_per_kw[:, :cols]
        self.d.value = problem.disturbance_delta_c
        self.t0.value = problem.initial_temp_c
        self.t_min.value = problem.comfort_min_c
        self.t_max.value = problem.comfort_max_c
        self.cap.value = problem.cooling_cap_kw
        self.ramp.value = problem.ramp_bound_kw
        self.q_prev.value = problem.previous_cooling_kw
        self.inv_cop.value = 1.0 / problem.cop
        if self.heating:
            self.cap_h.value = problem.heat_pump_cap_kw
            self.cap_r.value = problem.backup_cap_kw
            self.inv_cop_h.value = 1.0 / problem.heating_cop
        if self.idle_fans:
            per_cool, per_heat_pump, _ = problem.electric_kw_per_kw
            self.fan_per_q.value = per_cool - 1.0 / problem.cop[None, :]
            if self.heating:
                self.fan_per_heat.value = per_heat_pump - 1.0 / problem.heating_cop[None, :]
        self.fan.value = problem.fan_kw.sum(axis=0)
        self.energy_weight.value = problem.price_usd_per_kwh * problem.step_h_per_step
        self.comfort_weight.value = problem.comfort_penalty_usd_per_kh * problem.step_h_per_step
        if self.two_state:
            self.am.value = problem.air_from_mass_frac[:, :cols]
            self.ma.value = problem.mass_from_air_frac[:, :cols]
            self.mm.value = problem.mass_frac[:, :cols]
            self.bm.value = problem.mass_b_cool_c_per_kw[:, :cols]
            self.dm.value = problem.mass_delta_c
            self.m0.value = problem.initial_mass_temp_c
        if self.n_charges:
            self.masks.value = problem.demand_masks.astype(float)
            below = problem.demand_below_floor_frac
            self.rates.value = (1.0 - below) * problem.demand_rates_usd_per_kw
            self.below_rates.value = below * problem.demand_rates_usd_per_kw
            self.peak_so_far.value = problem.demand_peak_floor_kw


class CvxpyBackend:
    """cvxpy with ``solver`` (default CLARABEL), keeping up to ``cache_size`` compiled controllers (least
    recently used dropped). A shared instance serialises its solves."""

    def __init__(
        self,
        solver: str = "CLARABEL",
        solver_options: Mapping[str, Any] | None = None,
        cache_size: int = CONTROLLER_CACHE_SIZE,
    ) -> None:
        self.solver = solver
        self.solver_options = dict(solver_options or {})
        self.cache_size = cache_size
        self._controllers: OrderedDict[tuple[Any, ...], CvxpyController] = OrderedDict()
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget the compiled controllers (the next solve compiles again)."""
        with self._lock:
            self._controllers.clear()

    def controller_for(
        self,
        n_zones: int,
        n_steps: int,
        n_charges: int,
        hard_comfort: bool,
        two_state: bool = False,
        time_varying: bool = False,
        heating: bool = False,
        idle_fans: bool = False,
    ) -> CvxpyController:
        """The kept compiled controller for a shape (compiled on first use)."""
        key = (
            int(n_zones),
            int(n_steps),
            int(n_charges),
            bool(hard_comfort),
            bool(two_state),
            bool(time_varying),
            bool(heating),
            bool(idle_fans),
        )
        controller = self._controllers.get(key)
        if controller is None:
            controller = CvxpyController(*key)
            self._controllers[key] = controller
            while len(self._controllers) > self.cache_size:
                self._controllers.popitem(last=False)
        self._controllers.move_to_end(key)
        return controller

    def solve(self, problem: MpcProblem, timings: dict[str, float] | None = None) -> SolverResult:
        """Solve with the controller of the problem's shape (``build_s``: finding or compiling it)."""
        with self._lock:
            build_started = time.perf_counter()
            controller = self.controller_for(
                problem.n_zones,
                problem.n_steps,
                problem.n_charges,
                problem.hard_comfort,
                problem.two_state,
                problem.time_varying,
                problem.has_heating,
                problem.has_idle_fans,
            )
            build_s = time.perf_counter() - build_started
            started = time.perf_counter()
            try:
                controller.solve(problem, self.solver, self.solver_options)
            except cp.error.SolverError as error:
                return SolverResult(
                    "failed", None, time.perf_counter() - started, build_s, f"failed: {error}"
                )
            solve_s = time.perf_counter() - started
            controller.solve_count += 1
            status = controller.problem.status
            cooling_kw = None if controller.q.value is None else np.array(controller.q.value)
            heating = (
                (np.array(controller.h.value), np.array(controller.r.value))
                if controller.heating and controller.h.value is not None
                else (None, None)
            )
        if status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
            return SolverResult("infeasible", None, solve_s, build_s)
        if status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or cooling_kw is None:
            return SolverResult("failed", None, solve_s, build_s, f"returned status {status}")
        return SolverResult(
            "optimal" if status == cp.OPTIMAL else "optimal_inaccurate",
            cooling_kw,
            solve_s,
            build_s,
            heat_pump_kw=heating[0],
            backup_heat_kw=heating[1],
        )
