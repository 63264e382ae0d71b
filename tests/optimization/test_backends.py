"""The cvxpy reference backend and the direct CLARABEL backend state the same problem: same objective, same
plan; the infeasible/failed handling is the same for both; each Planner owns its solver cache."""

import numpy as np
import pytest

from sbems.optimization.clarabel_backend import RIDGE_USD_PER_KW2, ClarabelBackend
from sbems.optimization.cvxpy_backend import CvxpyBackend
from sbems.optimization.mpc import Planner
from sbems.optimization.plan import Plan
from sbems.optimization.problem import MpcProblem, comfort_bands, cop_from_outdoor_c

N_STEPS = 24  # hourly steps over a day
HOUR = np.arange(N_STEPS, dtype=float)
OCCUPIED = (HOUR >= 7) & (HOUR < 19)
ON_PEAK = (HOUR >= 16) & (HOUR < 21)


def small_problem(n_zones: int = 3, **overrides) -> MpcProblem:
    rng = np.random.default_rng(11)
    outdoor = 30 + 5 * np.sin((HOUR - 9) / 24 * 2 * np.pi)
    low, high = comfort_bands(np.broadcast_to(OCCUPIED, (n_zones, N_STEPS)))
    kwargs = dict(
        a_frac=rng.uniform(0.85, 0.92, n_zones),
        b_cool_c_per_kw=-rng.uniform(0.05, 0.08, n_zones),
        gain_delta_c=np.where(OCCUPIED, 0.3, 0.1),
        initial_temp_c=rng.uniform(25, 27, n_zones),
        comfort_min_c=low,
        comfort_max_c=high,
        capacity_kw=30.0,
        ramp_kw_per_step=15.0,
        outdoor_temp_c=outdoor,
        price_usd_per_kwh=np.where(ON_PEAK, 0.30, 0.10),  # a plain per-step price array
        cop=cop_from_outdoor_c(outdoor),
        baseline_setpoint_c=np.where(OCCUPIED, 23.0, 28.0),
        demand_masks=np.vstack([np.ones(N_STEPS, dtype=bool), ON_PEAK]),
        demand_rates_usd_per_kw=[12.0, 6.0],
        fan_kw=0.3,
        step_s=3600.0,
    )
    kwargs.update(overrides)
    return MpcProblem(**kwargs)


def objective_usd(problem: MpcProblem, plan: Plan) -> float:
    """The MPC objective at a plan: energy + demand + comfort penalty + smoothing + ridge."""
    violation = np.maximum(
        0.0,
        np.maximum(
            plan.expected_temp_c - problem.comfort_max_c, problem.comfort_min_c - plan.expected_temp_c
        ),
    )
    comfort = problem.comfort_penalty_usd_per_kh * float((violation * problem.step_h_per_step).sum())
    smoothing = problem.smoothing_usd_per_kw2 * float((np.diff(plan.cooling_kw, axis=1) ** 2).sum())
    ridge = RIDGE_USD_PER_KW2 * float((plan.cooling_kw**2).sum())
    return plan.total_cost_usd + comfort + smoothing + ridge


@pytest.mark.parametrize("hard", [False, True])
def test_cvxpy_reference_and_direct_clarabel_agree_on_a_small_problem(hard):
    problem = small_problem(hard_comfort=hard, initial_cooling_kw=5.0)
    direct = Planner(ClarabelBackend()).solve(problem)
    reference = Planner(CvxpyBackend()).solve(problem)
    assert direct.ok and reference.ok, (direct.reason, reference.reason)
    assert direct.solver == reference.solver == "CLARABEL"
    assert objective_usd(problem, direct) == pytest.approx(objective_usd(problem, reference), rel=1e-4)
    assert direct.total_cost_usd == pytest.approx(reference.total_cost_usd, rel=1e-3)
    assert direct.peak_kw == pytest.approx(reference.peak_kw, rel=1e-3)
    np.testing.assert_allclose(direct.cooling_kw, reference.cooling_kw, atol=0.05 * 30.0)
    np.testing.assert_allclose(direct.expected_temp_c, reference.expected_temp_c, atol=0.05)


def test_both_backends_refuse_an_infeasible_problem_the_same_way():
    problem = small_problem(initial_temp_c=32.0, capacity_kw=0.5, hard_comfort=True)
    plans = [Planner(backend).solve(problem) for backend in (ClarabelBackend(), CvxpyBackend())]
    for plan in plans:
        assert plan.status == "infeasible" and plan.cooling_kw.size == 0
        assert np.isfinite(plan.baseline_total_cost_usd)  # the building follows its schedule
    assert plans[0].reason == plans[1].reason


def test_a_planner_owns_its_solver_and_replans_update_it_in_place():
    planner, other = Planner(ClarabelBackend()), Planner(ClarabelBackend())
    first: dict[str, float] = {}
    second: dict[str, float] = {}
    planner.solve(small_problem(), timings=first)
    replan = planner.solve(small_problem(initial_temp_c=24.0), timings=second)
    assert first["solver_reused"] == 0.0 and second["solver_reused"] == 1.0
    fresh: dict[str, float] = {}
    cold = other.solve(small_problem(initial_temp_c=24.0), timings=fresh)
    assert fresh["solver_reused"] == 0.0  # nothing shared between planners
    np.testing.assert_allclose(replan.cooling_kw, cold.cooling_kw, atol=1e-9)


def test_cvxpy_reference_and_direct_clarabel_agree_at_50_zones():
    """The building-level coupling (power and peak rows, conditioned in the direct data) at a size where it
    matters: 50 different zones, a reached peak as floor; plan and figures agree with the reference."""
    rng = np.random.default_rng(50)
    problem = small_problem(
        n_zones=50,
        capacity_kw=rng.uniform(15.0, 35.0, 50),
        initial_cooling_kw=rng.uniform(0.0, 10.0, 50),
        demand_peak_so_far_kw=[200.0, 0.0],
    )
    direct = Planner(ClarabelBackend()).solve(problem)
    reference = Planner(CvxpyBackend()).solve(problem)
    assert direct.ok and reference.ok, (direct.reason, reference.reason)
    assert direct.peak_kw > 201.0  # the coupling binds: the zones share one building peak above the floor
    assert objective_usd(problem, direct) == pytest.approx(objective_usd(problem, reference), rel=1e-4)
    assert direct.total_cost_usd == pytest.approx(reference.total_cost_usd, rel=1e-3)
    assert direct.peak_kw == pytest.approx(reference.peak_kw, rel=1e-3)
    np.testing.assert_allclose(direct.cooling_kw.sum(axis=0), reference.cooling_kw.sum(axis=0), atol=0.5)
    np.testing.assert_allclose(direct.expected_temp_c, reference.expected_temp_c, atol=0.05)


def test_backends_agree_on_the_robust_peak_and_the_price_below_the_floor():
    """Robust demand management: peak rows against the reached peak minus a back-off, and a small price on
    the horizon peak below that floor. Both backends state it alike; the price makes the plan stay lower
    under a reached peak that would otherwise be free headroom, and the back-off makes it plan under it."""
    reached = [40.0, 0.0]
    free = small_problem(demand_peak_so_far_kw=reached)
    priced = small_problem(demand_peak_so_far_kw=reached, demand_below_floor_frac=0.2)
    backed = small_problem(demand_peak_so_far_kw=reached, demand_peak_backoff_kw=[15.0, 0.0])
    plans = {}
    for name, problem in (("free", free), ("priced", priced), ("backed", backed)):
        direct = Planner(ClarabelBackend()).solve(problem)
        reference = Planner(CvxpyBackend()).solve(problem)
        assert direct.ok and reference.ok, (name, direct.reason, reference.reason)
        assert direct.peak_kw == pytest.approx(reference.peak_kw, rel=2e-3, abs=0.05), name
        assert direct.total_cost_usd == pytest.approx(reference.total_cost_usd, rel=1e-3), name
        plans[name] = direct
    assert plans["priced"].peak_kw < plans["free"].peak_kw - 1.0  # headroom is no longer free
    assert plans["backed"].peak_kw <= 25.0 + 0.05  # planned under reached - back-off
    # the plan's reported demand cost is still the bill's: against the reached peak, not the floor
    on_peak = plans["backed"].building_electric_kw[ON_PEAK].max()
    assert plans["backed"].demand_cost_usd == pytest.approx(12.0 * 40.0 + 6.0 * on_peak, rel=1e-6)
    with pytest.raises(ValueError, match="demand_below_floor_frac"):
        small_problem(demand_below_floor_frac=1.5)
