"""Problem -> backend -> plan: a ``Planner`` solves ``MpcProblem``s with one backend it owns.

    planner = Planner()                      # the block interior point (the default; CLARABEL as fallback)
    plan = planner.solve(problem)
    Planner(ClarabelBackend()).solve(problem)  # direct sparse CLARABEL: a re-plan updates its kept solver
    Planner(CvxpyBackend()).solve(problem)   # the cvxpy reference backend (any solver cvxpy knows)

Solving never raises for solver trouble: an infeasible or failed solve is a ``Plan`` with that status and a
reason (``sbems.optimization.plan.plan_from_result``). The caller owns the planner and so its cached solvers:
keep one per planning loop (benchmarks, a long-running worker) to re-plan warm.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from sbems.optimization.block_backend import BlockBackend
from sbems.optimization.clarabel_backend import ClarabelBackend
from sbems.optimization.explain import comfort_notes
from sbems.optimization.plan import (
    Plan,
    SolverResult,
    baseline_schedule,
    evaluate_cooling,
    plan_from_result,
)
from sbems.optimization.problem import MpcProblem

DEFAULT_SOLVER = "CLARABEL"
BACKENDS = ("block", "direct", "cvxpy")
# the block interior point: linear work per zone, 1000 zones warm 1.6 s vs 1.8 s with CLARABEL, growth
# 100 -> 1000 zones x10.3 vs x12.6 (docs/optimization.md, "Scaling, round 8"); CLARABEL remains its fallback
DEFAULT_BACKEND = "block"


class Backend(Protocol):
    """Turns a problem into a solver result; may keep solvers between calls."""

    solver: str

    def solve(self, problem: MpcProblem, timings: dict[str, float] | None = None) -> SolverResult: ...

    def clear(self) -> None: ...


def backend_for(
    solver: str = DEFAULT_SOLVER, backend: str = DEFAULT_BACKEND, **solver_options: Any
) -> Backend:
    """``backend="block"`` (the default): the structure-exploiting interior point
    (``block_backend.BlockBackend``, with direct CLARABEL as its fallback); ``backend="direct"``: CLARABEL on
    the directly assembled problem; ``backend="cvxpy"`` (and every solver but CLARABEL): the cvxpy
    reference."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if solver == "CLARABEL" and backend == "direct":
        return ClarabelBackend(solver_options)
    if solver == "CLARABEL" and backend == "block":
        return BlockBackend(ClarabelBackend(solver_options))
    from sbems.optimization.cvxpy_backend import CvxpyBackend  # 1.6 s cvxpy import: only when asked for

    return CvxpyBackend(solver, solver_options)


class Planner:
    """Solves problems with ``backend`` (default: a new ``BlockBackend``), pricing each plan against the
    schedule-only baseline."""

    def __init__(self, backend: Backend | None = None) -> None:
        self.backend: Backend = BlockBackend() if backend is None else backend

    def solve(
        self,
        problem: MpcProblem,
        timings: dict[str, float] | None = None,
        priced_on: MpcProblem | None = None,
    ) -> Plan:
        """The plan for ``problem``. ``timings`` (optional dict) receives where the time went: baseline_s,
        plan_s and the backend's own figures (assemble_s, setup_s, solver_s, solver_cpu_s, iterations; direct
        CLARABEL: solver_reused; the block backend: fallback). ``priced_on``: the same problem with the
        tariff's own demand charges, where ``problem`` plans under others (``robust.per_day_demand``); the
        plan and the baseline are simulated and priced on it."""
        timings = {} if timings is None else timings
        pricing = problem if priced_on is None else priced_on
        if pricing.n_steps != problem.n_steps or pricing.n_zones != problem.n_zones:
            raise ValueError("priced_on must be the same problem (zones and steps) with other charges")
        started = time.perf_counter()
        baseline_q, baseline_heating = baseline_schedule(pricing)
        baseline = evaluate_cooling(pricing, baseline_q, baseline_heating)
        timings["baseline_s"] = time.perf_counter() - started
        result = self.backend.solve(problem, timings)
        started = time.perf_counter()
        plan = plan_from_result(pricing, result, self.backend.solver, baseline_q, baseline, baseline_heating)
        plan.notes = comfort_notes(pricing, plan)  # why any zone is planned outside its band
        timings["plan_s"] = time.perf_counter() - started
        return plan


def solve_plan(
    problem: MpcProblem,
    solver: str = DEFAULT_SOLVER,
    backend: str = DEFAULT_BACKEND,
    timings: dict[str, float] | None = None,
    **solver_options: Any,
) -> Plan:
    """One cold solve with a fresh backend (nothing kept); a loop that re-plans keeps a ``Planner``."""
    return Planner(backend_for(solver, backend, **solver_options)).solve(problem, timings)
