"""Fans that run only to condition an unoccupied zone (``MpcProblem.idle_fan_kw``): the plan pays the unit's
fan for the share of the step it would run at full output, in the building power (energy and peak) of every
backend alike, and so trades night pre-conditioning against what the fan costs."""

import numpy as np
import pytest

from sbems.optimization.block_backend import BlockBackend
from sbems.optimization.building_problem import Tuning
from sbems.optimization.clarabel_backend import ClarabelBackend
from sbems.optimization.cvxpy_backend import CvxpyBackend
from sbems.optimization.mpc import Planner
from sbems.optimization.plan import Heating, evaluate_cooling
from tests.optimization.test_backends import OCCUPIED, objective_usd, small_problem
from tests.optimization.test_building_heating import margin_problem
from tests.optimization.test_heating import objective_usd as heating_objective_usd
from tests.optimization.test_heating import winter_problem

IDLE = np.where(OCCUPIED, 0.0, 3.0)  # a 3 kW fan, paid by the plan outside occupied hours


def test_the_idle_fan_is_paid_per_kw_of_output_at_full_output_for_part_of_the_step():
    problem = small_problem(n_zones=1, capacity_kw=30.0, idle_fan_kw=IDLE)
    plain = small_problem(n_zones=1, capacity_kw=30.0)
    cooling = np.full((1, 24), 6.0)  # a fifth of capacity: the fan runs a fifth of each idle step
    extra_kw = evaluate_cooling(problem, cooling).building_kw - evaluate_cooling(plain, cooling).building_kw
    np.testing.assert_allclose(extra_kw, np.where(OCCUPIED, 0.0, 3.0 * 6.0 / 30.0))
    # heating: per kW of heat over the heat pump's and the backup's capacity together
    winter = winter_problem(n_zones=1, idle_fan_kw=IDLE)
    heat = Heating(np.full((1, 24), 5.0), np.full((1, 24), 2.0))
    zero = np.zeros((1, 24))
    extra_kw = (
        evaluate_cooling(winter, zero, heat).building_kw
        - evaluate_cooling(winter_problem(n_zones=1), zero, heat).building_kw
    )
    heat_cap = winter.heating_capacity_kw[0] + winter.backup_heat_kw[0]
    np.testing.assert_allclose(extra_kw, IDLE * 7.0 / heat_cap)


@pytest.mark.parametrize("season", ["summer", "winter"])
def test_every_backend_states_the_same_idle_fan_cost(season):
    if season == "summer":
        problem, objective = small_problem(idle_fan_kw=IDLE, initial_cooling_kw=5.0), objective_usd
    else:
        problem, objective = winter_problem(idle_fan_kw=IDLE), heating_objective_usd
    plans = {
        name: Planner(backend).solve(problem)
        for name, backend in (
            ("direct", ClarabelBackend()),
            ("cvxpy", CvxpyBackend()),
            ("block", BlockBackend()),
        )
    }
    assert all(plan.ok for plan in plans.values()), {k: p.reason for k, p in plans.items()}
    assert plans["block"].solver == "BLOCK-IPM"
    reference = objective(problem, plans["direct"])
    for name in ("cvxpy", "block"):
        assert objective(problem, plans[name]) == pytest.approx(reference, rel=1e-4), name
        assert plans[name].peak_kw == pytest.approx(plans["direct"].peak_kw, rel=1e-3, abs=0.05)


def test_a_plan_that_pays_the_idle_fan_cools_less_at_night_and_costs_less_on_the_true_bill():
    # night energy cheap, the afternoon dear: without the fan the plan pre-cools hard before occupancy
    night_cheap = np.where((np.arange(24) >= 12) & (np.arange(24) < 19), 0.30, 0.06)
    fan = np.where(OCCUPIED, 0.0, 15.0)[None, :].repeat(3, axis=0)  # a large fan makes the trade visible
    blind = small_problem(price_usd_per_kwh=night_cheap)
    aware = small_problem(price_usd_per_kwh=night_cheap, idle_fan_kw=fan)
    planner = Planner(ClarabelBackend())
    blind_plan, aware_plan = planner.solve(blind), planner.solve(aware)
    assert blind_plan.ok and aware_plan.ok
    night = ~OCCUPIED
    assert aware_plan.cooling_kw[:, night].sum() < blind_plan.cooling_kw[:, night].sum() - 1.0
    # on the bill with the fan, the blind plan costs more than the one that planned for it
    blind_true = evaluate_cooling(aware, blind_plan.cooling_kw)
    assert aware_plan.total_cost_usd < blind_true.energy_cost_usd + blind_true.demand_cost_usd - 0.1


def test_the_building_problem_pays_each_units_fan_outside_occupied_steps_on_request(example_site):
    bands, plain = margin_problem(example_site, 30.0, 25.0, Tuning())
    assert not plain.has_idle_fans
    _, aware = margin_problem(example_site, 30.0, 25.0, Tuning(idle_fan_cost=True))
    building = example_site.building("hq")
    rated = np.array([building.controller_of(z.id).fan_power_kw for z in building.zones])
    expected = np.where(bands.occupied_start, 0.0, rated[:, None])
    np.testing.assert_allclose(aware.idle_fan_kw, expected)
    assert aware.has_idle_fans and (~bands.occupied_start).any()
