"""Heating and cooling in one problem: heat-pump heating (capacity and COP falling with the outdoor
temperature), resistance backup, demand charges on the whole meter; both backends agree."""

import numpy as np
import pytest

from sbems.domain.heat_pump import heating_capacity_frac, heating_cop
from sbems.optimization.clarabel_backend import RIDGE_USD_PER_KW2, ClarabelBackend
from sbems.optimization.cvxpy_backend import CvxpyBackend
from sbems.optimization.mpc import Planner
from sbems.optimization.plan import Plan
from sbems.optimization.problem import MpcProblem, comfort_bands, cop_from_outdoor_c

N_STEPS = 24  # hourly steps from midnight
HOUR = np.arange(N_STEPS, dtype=float)
OCCUPIED = (HOUR >= 7) & (HOUR < 19)  # the band applies at the end of each step


def winter_problem(n_zones: int = 3, **overrides) -> MpcProblem:
    rng = np.random.default_rng(5)
    outdoor = -6 + 4 * np.sin((HOUR - 9) / 24 * 2 * np.pi)
    low, high = comfort_bands(np.broadcast_to(OCCUPIED, (n_zones, N_STEPS)), (21.0, 24.0), (16.0, 28.0))
    kwargs = dict(
        a_frac=rng.uniform(0.85, 0.9, n_zones),
        b_cool_c_per_kw=-rng.uniform(0.12, 0.15, n_zones),
        gain_delta_c=np.where(OCCUPIED, 0.25, 0.0),
        initial_temp_c=16.5,
        comfort_min_c=low,
        comfort_max_c=high,
        capacity_kw=30.0,
        ramp_kw_per_step=30.0,
        outdoor_temp_c=outdoor,
        price_usd_per_kwh=np.where((HOUR >= 8) & (HOUR < 20), 0.15, 0.08),
        cop=cop_from_outdoor_c(outdoor),
        baseline_setpoint_c=np.where(OCCUPIED, 24.0, 28.0),
        baseline_heating_setpoint_c=np.where(np.roll(OCCUPIED, -1), 21.0, 16.0),
        heating_capacity_kw=50.0 * heating_capacity_frac(outdoor)[None, :],
        backup_heat_kw=20.0,
        heating_cop=heating_cop(outdoor),
        demand_masks=np.ones((1, N_STEPS), dtype=bool),
        demand_rates_usd_per_kw=[15.0],
        fan_kw=0.3,
        step_s=3600.0,
    )
    kwargs.update(overrides)
    return MpcProblem(**kwargs)


def objective_usd(problem: MpcProblem, plan: Plan) -> float:
    violation = np.maximum(
        0.0,
        np.maximum(
            plan.expected_temp_c - problem.comfort_max_c, problem.comfort_min_c - plan.expected_temp_c
        ),
    )
    comfort = problem.comfort_penalty_usd_per_kh * float((violation * problem.step_h_per_step).sum())
    smooth = sum(float((np.diff(x, axis=1) ** 2).sum()) for x in (plan.cooling_kw, plan.heat_pump_kw))
    ridge = sum(float((x**2).sum()) for x in (plan.cooling_kw, plan.heat_pump_kw, plan.backup_heat_kw))
    return plan.total_cost_usd + comfort + problem.smoothing_usd_per_kw2 * smooth + RIDGE_USD_PER_KW2 * ridge


TWO_STATE = dict(  # an air node coupled to a heavy mass node; heat reaches both
    air_from_mass_frac=0.06,
    mass_from_air_frac=0.04,
    mass_frac=0.95,
    mass_b_cool_c_per_kw=-0.01,
    mass_delta_c=0.0,
    initial_mass_temp_c=17.0,
)


PARTIAL = dict(  # heat pumps in zones 0 and 1 only, backup in zones 1 and 2 only: blocks over zone subsets
    heating_capacity_kw=np.array([50.0, 30.0, 0.0])[:, None] * heating_capacity_frac(-6.0),
    backup_heat_kw=np.array([0.0, 20.0, 60.0]),
)


@pytest.mark.parametrize("variant", ["one_state", "two_state", "zone_subsets"])
def test_direct_and_cvxpy_backends_agree_with_heating(variant):
    overrides = {"one_state": {}, "two_state": TWO_STATE, "zone_subsets": PARTIAL}[variant]
    problem = winter_problem(**overrides)
    assert problem.has_heating and problem.two_state == (variant == "two_state")
    direct = Planner(ClarabelBackend()).solve(problem)
    reference = Planner(CvxpyBackend()).solve(problem)
    assert direct.ok and reference.ok, (direct.reason, reference.reason)
    assert objective_usd(problem, direct) == pytest.approx(objective_usd(problem, reference), rel=1e-4)
    assert direct.peak_kw == pytest.approx(reference.peak_kw, rel=1e-3)
    np.testing.assert_allclose(direct.expected_temp_c, reference.expected_temp_c, atol=0.05)
    np.testing.assert_allclose(direct.heat_pump_kw, reference.heat_pump_kw, atol=0.05 * 25.0)
    np.testing.assert_allclose(direct.backup_heat_kw, reference.backup_heat_kw, atol=0.05 * 25.0)
    if variant == "zone_subsets":
        assert direct.heat_pump_kw[2].max() == 0.0 and direct.backup_heat_kw[0].max() == 0.0
        assert direct.backup_heat_kw[2].sum() > 1.0  # zone 2 heats with its backup alone


def test_the_plan_preheats_with_the_heat_pump_and_keeps_resistance_off_the_peak():
    problem = winter_problem()
    plan = Planner().solve(problem)
    assert plan.ok, plan.reason
    occupied_temps = plan.expected_temp_c[:, OCCUPIED]
    assert occupied_temps.min() >= 21.0 - 0.05  # warm when people arrive
    assert plan.cooling_kw.max() < 0.5  # nothing to cool in this weather
    # the baseline (dual-setpoint thermostat, no early start) recovers at 07:00 with resistance heat
    assert plan.baseline_backup_heat_kw.sum() > 1.0
    assert plan.backup_heat_kw.sum() < 0.25 * plan.baseline_backup_heat_kw.sum()
    warm_up = slice(0, 7)
    assert plan.heat_pump_kw[:, warm_up].sum() > 1.0  # heats before occupancy (pre-heat)
    assert plan.peak_kw < 0.8 * plan.baseline_peak_kw
    assert plan.total_cost_usd < plan.baseline_total_cost_usd
    # electric power is what heating and cooling draw at their COPs, plus fans
    electric = (
        plan.cooling_kw / problem.cop + plan.heat_pump_kw / problem.heating_cop + plan.backup_heat_kw + 0.3
    )
    np.testing.assert_allclose(plan.electric_kw, electric, atol=1e-9)


def test_resistance_heat_is_used_when_the_heat_pump_is_locked_out():
    outdoor = np.full(N_STEPS, -20.0)  # below the compressor cut-off: the heat pump delivers nothing
    problem = winter_problem(
        outdoor_temp_c=outdoor,
        heating_capacity_kw=50.0 * heating_capacity_frac(outdoor)[None, :],
        heating_cop=heating_cop(outdoor),
        cop=cop_from_outdoor_c(outdoor),
        backup_heat_kw=60.0,
    )
    plan = Planner().solve(problem)
    assert plan.ok
    assert plan.heat_pump_kw.max() < 1e-3
    assert plan.backup_heat_kw.sum() > 10.0
    assert plan.expected_temp_c[:, OCCUPIED].min() >= 21.0 - 0.05


def test_availability_stops_cooling_and_heating_where_the_equipment_cannot_run():
    problem = winter_problem(heating_available=np.broadcast_to(HOUR >= 6, (3, N_STEPS)))
    plan = Planner().solve(problem)
    assert plan.ok
    assert plan.heat_pump_kw[:, :6].max() < 1e-6 and plan.backup_heat_kw[:, :6].max() < 1e-6
    hot = winter_problem(
        outdoor_temp_c=np.full(N_STEPS, 32.0),
        cop=cop_from_outdoor_c(np.full(N_STEPS, 32.0)),
        initial_temp_c=26.0,
        gain_delta_c=0.6,
        cooling_available=np.broadcast_to(HOUR < 12, (3, N_STEPS)),
        initial_cooling_kw=10.0,
        ramp_kw_per_step=5.0,
    )
    plan = Planner().solve(hot)
    assert plan.ok
    assert plan.cooling_kw[:, 12:].max() < 1e-6  # a unit switched off stops at once (ramp widened)
    assert plan.cooling_kw[:, :12].max() > 1.0


def test_a_zone_outside_its_band_gets_a_reason():
    # a heat pump too small and no backup: the occupied morning is cold and the plan says why
    problem = winter_problem(heating_capacity_kw=5.0, backup_heat_kw=0.0)
    plan = Planner().solve(problem)
    assert plan.ok and plan.expected_temp_c[:, OCCUPIED].min() < 21.0 - 0.5
    below = [n for n in plan.notes if n["side"] == "below"]
    assert below and all(n["cause"] == "heating capacity insufficient" for n in below)
    covered = np.zeros_like(plan.expected_temp_c, dtype=bool)
    for note in plan.notes:
        covered[note["zone"], note["first_step"] : note["last_step"] + 1] = True
    outside = (problem.comfort_min_c - plan.expected_temp_c > 0.05) | (
        plan.expected_temp_c - problem.comfort_max_c > 0.05
    )
    assert np.array_equal(covered, outside)  # every step outside the band is explained, none other
    # no heating at all in the schedule's mode: "not available"
    plan = Planner().solve(winter_problem(heating_available=False))
    assert {n["cause"] for n in plan.notes if n["side"] == "below"} == {"heating not available"}
    # a comfortable plan has no notes
    assert Planner().solve(winter_problem()).notes == []
