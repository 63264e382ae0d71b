"""The conditioned coupling rows (coupling.condition_coupling, 16 peak-row copies) state the same problem as
the previous formulation and as the cvxpy reference: same optimum, same plan, and a kept solver still
re-plans in place."""

import numpy as np
import pytest

from sbems.optimization.clarabel_backend import ClarabelBackend, clarabel_data
from sbems.optimization.coupling import condition_coupling
from sbems.optimization.cvxpy_backend import CvxpyBackend
from sbems.optimization.mpc import Planner
from tests.optimization.test_backends import objective_usd, small_problem


def test_condition_coupling_keeps_the_pattern_and_scales_only_the_coupling():
    problem = small_problem(demand_peak_so_far_kw=[40.0, 0.0])
    _, c, a_matrix, b, _, offsets = clarabel_data(problem)
    c2, a2, b2 = condition_coupling(c, a_matrix, b, offsets, problem.n_steps, problem.n_charges, 10.0)
    assert np.array_equal(a2.indptr, a_matrix.indptr) and np.array_equal(a2.indices, a_matrix.indices)
    p_cols = slice(offsets["p"], offsets["p"] + problem.n_steps)
    assert np.allclose(c2[p_cols], 10.0 * c[p_cols])
    assert np.array_equal(c2[: offsets["p"]], c[: offsets["p"]])  # per-zone costs untouched
    peak_rows = np.unique(a_matrix[:, offsets["peaks"] :].tocoo().row)
    assert np.allclose(b2[peak_rows], b[peak_rows] / 10.0)
    assert b2[peak_rows].min() == pytest.approx(-4.0)  # the 40-kW floor in 10-kW units
    others = np.setdiff1d(np.arange(b.size), peak_rows)
    assert np.array_equal(b2[others], b[others])
    # the zone dynamics rows are unchanged, the peak rows keep p - peak with unit coefficients
    zone_part = slice(0, offsets["p"])
    assert (a2[:, zone_part] != a_matrix[:, zone_part]).nnz == 0
    assert np.allclose(np.abs(a2[peak_rows][:, offsets["p"] :].data), 1.0)
    same = condition_coupling(c, a_matrix, b, offsets, problem.n_steps, problem.n_charges, 1.0)
    assert same[1] is a_matrix
    with pytest.raises(ValueError, match="scale"):
        condition_coupling(c, a_matrix, b, offsets, problem.n_steps, problem.n_charges, 0.0)


@pytest.mark.parametrize("hard", [False, True])
@pytest.mark.parametrize("floor_kw", [0.0, 45.0])
def test_conditioned_and_previous_formulation_give_the_cvxpy_optimum(hard, floor_kw):
    problem = small_problem(n_zones=4, hard_comfort=hard, demand_peak_so_far_kw=[floor_kw, 0.0])
    conditioned = Planner(ClarabelBackend()).solve(problem)
    previous = Planner(ClarabelBackend(peak_row_copies=8, building_kw_scale=1.0)).solve(problem)
    reference = Planner(CvxpyBackend()).solve(problem)
    assert conditioned.status == previous.status == reference.status == "optimal"
    objectives = [objective_usd(problem, plan) for plan in (conditioned, previous, reference)]
    assert objectives[0] == pytest.approx(objectives[2], rel=1e-4)
    assert objectives[0] == pytest.approx(objectives[1], rel=1e-4)
    assert conditioned.peak_kw == pytest.approx(reference.peak_kw, rel=1e-3, abs=0.05)
    # the optimum is flat in some directions: plans agree to solver tolerance, as in test_backends
    np.testing.assert_allclose(conditioned.cooling_kw, reference.cooling_kw, atol=0.05 * 30.0)
    np.testing.assert_allclose(conditioned.expected_temp_c, reference.expected_temp_c, atol=0.05)


def test_a_kept_conditioned_solver_replans_in_place_with_the_fresh_result():
    backend = ClarabelBackend()
    planner = Planner(backend)
    planner.solve(small_problem())
    changed = small_problem(initial_temp_c=[27.5, 24.0, 26.0], demand_peak_so_far_kw=[30.0, 10.0])
    timings: dict[str, float] = {}
    warm = planner.solve(changed, timings=timings)
    fresh = Planner(ClarabelBackend()).solve(changed)
    assert timings["solver_reused"] == 1.0
    assert warm.total_cost_usd == pytest.approx(fresh.total_cost_usd, rel=1e-9)
    np.testing.assert_allclose(warm.cooling_kw, fresh.cooling_kw, atol=1e-6)


def test_peak_row_copies_must_be_positive():
    with pytest.raises(ValueError, match="peak_row_copies"):
        ClarabelBackend(peak_row_copies=0)
