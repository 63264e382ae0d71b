"""The conditioned coupling rows (coupling.condition_coupling: 32 peak-row copies, 30-kW units) state the same
problem as the previous formulation and as the cvxpy reference: same optimum, same plan, and a kept solver
still re-plans in place; so does the data with the cooling inputs eliminated (input_elimination)."""

import numpy as np
import pytest

from sbems.optimization.clarabel_backend import ClarabelBackend, clarabel_data
from sbems.optimization.coupling import condition_coupling
from sbems.optimization.cvxpy_backend import CvxpyBackend
from sbems.optimization.input_elimination import eliminate_cooling_inputs
from sbems.optimization.mpc import Planner
from tests.optimization.test_backends import objective_usd, small_problem


def test_condition_coupling_scales_and_repeats_only_the_coupling_rows():
    problem = small_problem(demand_peak_so_far_kw=[40.0, 0.0])
    _, c, a_matrix, b, cones, offsets = clarabel_data(problem)
    c2, a2, b2, cones2 = condition_coupling(c, a_matrix, b, cones, offsets, 10.0, 2)  # 10-kW units, 16 copies
    n_peak_rows = int(problem.demand_masks.sum()) * 8  # p[k] - peak_m <= 0, 8 copies from clarabel_data
    assert a2.shape == (a_matrix.shape[0] + n_peak_rows, a_matrix.shape[1])
    assert cones2 == [cones[0], ("nonneg", cones[1][1] + n_peak_rows)]
    p_cols = slice(offsets["p"], offsets["peaks"])
    assert np.allclose(c2[p_cols], 10.0 * c[p_cols])
    assert np.array_equal(c2[: offsets["p"]], c[: offsets["p"]])  # per-zone costs untouched
    rows = a_matrix.shape[0]
    assert (a2[:rows, : offsets["p"]] != a_matrix[:, : offsets["p"]]).nnz == 0  # zone columns untouched
    peak_rows = np.unique(a2[:, offsets["peaks"] :].tocoo().row)
    assert peak_rows.size == 2 * n_peak_rows + problem.n_charges
    assert np.allclose(np.abs(a2[peak_rows][:, offsets["p"] :].data), 1.0)  # p - peak, in 10-kW units
    assert sorted(b2[peak_rows])[0] == pytest.approx(-4.0)  # the 40-kW floor in 10-kW units
    others = np.setdiff1d(np.arange(rows), peak_rows)
    assert np.array_equal(b2[others], b[others])
    # the appended rows repeat the peak rows exactly
    added = a2[rows:].toarray()
    original = {tuple(row) for row in a2[:rows][np.isin(np.arange(rows), peak_rows)].toarray()}
    assert all(tuple(row) in original for row in added)
    same = condition_coupling(c, a_matrix, b, cones, offsets, 1.0, 1)
    assert same[1] is a_matrix and same[3] == cones
    with pytest.raises(ValueError, match="scale"):
        condition_coupling(c, a_matrix, b, cones, offsets, 0.0, 1)
    with pytest.raises(ValueError, match="peak_row_factor"):
        condition_coupling(c, a_matrix, b, cones, offsets, 1.0, 0)


@pytest.mark.parametrize("hard", [False, True])
@pytest.mark.parametrize("floor_kw", [0.0, 45.0])
def test_conditioned_and_previous_formulation_give_the_cvxpy_optimum(hard, floor_kw):
    problem = small_problem(n_zones=4, hard_comfort=hard, demand_peak_so_far_kw=[floor_kw, 0.0])
    conditioned = Planner(ClarabelBackend()).solve(problem)
    previous = Planner(ClarabelBackend(peak_row_factor=1, building_kw_scale=1.0)).solve(problem)
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


def test_peak_row_factor_must_be_positive():
    with pytest.raises(ValueError, match="peak_row_factor"):
        ClarabelBackend(peak_row_factor=0)


def _problems():
    from tests.optimization.test_heating import winter_problem
    from tests.optimization.test_mpc import rc2_problem

    return {
        "one-state soft": small_problem(n_zones=4, demand_peak_so_far_kw=[40.0, 0.0]),
        "one-state hard": small_problem(n_zones=4, hard_comfort=True, initial_cooling_kw=5.0),
        "two-state": rc2_problem(),
        "heating": winter_problem(),
    }


@pytest.mark.parametrize("name", ["one-state soft", "one-state hard", "two-state", "heating"])
def test_eliminating_the_cooling_inputs_keeps_the_optimum(name):
    problem = _problems()[name]
    P, c, a_matrix, b, cones, offsets = clarabel_data(problem)
    n = problem.n_zones * problem.n_steps
    reduced = eliminate_cooling_inputs(P, c, a_matrix, b, cones, n)
    assert reduced is not None
    assert reduced.a_matrix.shape == (a_matrix.shape[0] - n, a_matrix.shape[1] - n)  # rows and columns gone
    assert reduced.cones[0] == ("zero", cones[0][1] - n)
    timings: dict[str, float] = {}
    eliminated = Planner(ClarabelBackend()).solve(problem, timings=timings)
    full = Planner(ClarabelBackend(eliminate_inputs=False)).solve(problem)
    assert eliminated.status == full.status == "optimal"
    assert eliminated.total_cost_usd == pytest.approx(full.total_cost_usd, rel=1e-4, abs=1e-3)
    np.testing.assert_allclose(eliminated.expected_temp_c, full.expected_temp_c, atol=0.05)
    assert eliminated.cooling_kw.min() >= -1e-6  # bounds on the eliminated inputs still hold
    assert np.all(eliminated.cooling_kw <= problem.cooling_cap_kw + 1e-6)


def test_elimination_needs_one_cooling_term_per_air_row():
    problem = small_problem()
    P, c, a_matrix, b, cones, _ = clarabel_data(problem)
    n = problem.n_zones * problem.n_steps
    zeroed = a_matrix.copy()
    zeroed.data[zeroed.indptr[0]] = 0.0  # the first cooling column's coefficient in its air row
    assert eliminate_cooling_inputs(P, c, zeroed, b, cones, n) is None
    assert eliminate_cooling_inputs(P, c, a_matrix, b, [("nonneg", b.size)], n) is None
    # the kept solver still updates in place on a re-plan with the reduced data
    planner = Planner(ClarabelBackend())
    planner.solve(problem)
    timings: dict[str, float] = {}
    planner.solve(small_problem(initial_temp_c=24.0), timings=timings)
    assert timings["solver_reused"] == 1.0
