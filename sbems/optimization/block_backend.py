"""``BlockBackend``: the structure-exploiting interior point (``block_ipm``), CLARABEL where it does not
converge.

Its work per iteration grows linearly with the zones (per-zone dense blocks, one small Schur complement on the
demand-peak rows), where a general sparse factorisation of the whole problem grows faster than the zones
(docs/optimization.md, "Scaling"). Same problem, same optimum as ``ClarabelBackend`` (costs within ~1e-5
relative, ``tests/optimization/test_block_ipm.py``). BLAS runs single-threaded inside a solve: its few
products are small, and a second thread only contends with the machine's other work.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
from threadpoolctl import threadpool_limits

from sbems.optimization.block_ipm import MAX_ITERATIONS, run_ipm
from sbems.optimization.block_newton import BlockIpm
from sbems.optimization.block_structure import build_structure
from sbems.optimization.clarabel_backend import ClarabelBackend
from sbems.optimization.plan import SolverResult
from sbems.optimization.problem import MpcProblem

REFINE_PASSES = (0, 8)  # iterative-refinement passes per Newton solve: none, then (on a failure) up to 8


class BlockBackend:
    """The block interior point; ``fallback`` (default: a new ``ClarabelBackend``) solves what it does not
    (no convergence in ``max_iterations``, a numerically singular block). ``timings`` get assemble_s,
    solver_s, solver_cpu_s and iterations as the CLARABEL backend's do, plus fallback (1.0 when used)."""

    solver = "BLOCK-IPM"

    def __init__(self, fallback: ClarabelBackend | None = None, max_iterations: int = MAX_ITERATIONS) -> None:
        self.fallback = ClarabelBackend() if fallback is None else fallback
        self.max_iterations = int(max_iterations)

    def clear(self) -> None:
        """Forget the fallback's kept solvers (the block solve keeps nothing between plans)."""
        self.fallback.clear()

    def solve(self, problem: MpcProblem, timings: dict[str, float] | None = None) -> SolverResult:
        timings = {} if timings is None else timings
        started = time.perf_counter()
        reason = ""
        with threadpool_limits(limits=1, user_api="blas"):
            structure = build_structure(problem)
            timings.update(assemble_s=time.perf_counter() - started, setup_s=0.0, solver_reused=0.0)
            solve_started, cpu_started = time.perf_counter(), time.process_time()
            result = None
            for passes in REFINE_PASSES:  # fast first; a failure is retried with iterative refinement
                try:
                    result = run_ipm(BlockIpm(structure), self.max_iterations, passes)
                except np.linalg.LinAlgError as error:
                    result, reason = None, f"a zone block was numerically singular ({error})"
                if result is not None and result.status == "optimal":
                    break
            timings["solver_s"] = time.perf_counter() - solve_started
            timings["solver_cpu_s"] = time.process_time() - cpu_started
        if result is not None:
            timings["iterations"] = float(result.iterations)
            if result.status == "optimal" and result.inputs is not None:
                timings["fallback"] = 0.0
                return self._result(problem, structure.n_in, result.inputs, time.perf_counter() - started)
            reason = f"no convergence in {result.iterations} iterations"
        timings["fallback"] = 1.0
        fallback = self.fallback.solve(problem, timings)
        detail = f"block interior point: {reason}; solved by {self.fallback.solver}"
        return replace(
            fallback,
            solve_s=time.perf_counter() - started,
            detail=f"{fallback.detail}; {detail}" if fallback.detail else detail,
            solver=fallback.solver or self.fallback.solver,
        )

    @staticmethod
    def _result(problem: MpcProblem, n_in: int, inputs: np.ndarray, solve_s: float) -> SolverResult:
        cooling = inputs[:, 0, :]
        if not problem.has_heating:
            return SolverResult("optimal", cooling, solve_s)
        shape = cooling.shape
        column = 1
        heat_pump = backup = np.zeros(shape)
        if np.any(problem.heat_pump_cap_kw > 0):
            heat_pump, column = inputs[:, column, :], column + 1
        if np.any(problem.backup_cap_kw > 0):
            backup = inputs[:, column, :]
        assert column <= n_in
        return SolverResult("optimal", cooling, solve_s, heat_pump_kw=heat_pump, backup_heat_kw=backup)
