"""MPC: pre-cooling under the evaluation TOU tariff, limits respected, infeasible -> empty plan, re-plan
reuse."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from sbems.domain.tariff import Tariff, demand_charge_masks, energy_prices_usd_per_kwh
from sbems.optimization.cvxpy_backend import CvxpyBackend
from sbems.optimization.mpc import Planner, solve_plan
from sbems.optimization.plan import Plan
from sbems.optimization.problem import MpcProblem, comfort_bands, cop_from_outdoor_c
from sbems.optimization.zone_model import ZoneModelParams
from sbems.optimization.zone_model_rc2 import Rc2Params

TZ = "America/New_York"
TARIFF = Tariff(
    name="evaluation-tou",
    energy_periods=[
        {
            "name": "on_peak",
            "price_usd_per_kwh": 0.32,
            "days": ["mon", "tue", "wed", "thu", "fri"],
            "start": "16:00",
            "end": "21:00",
        },
        {
            "name": "mid_peak",
            "price_usd_per_kwh": 0.18,
            "days": ["mon", "tue", "wed", "thu", "fri"],
            "start": "08:00",
            "end": "16:00",
        },
        {"name": "off_peak", "price_usd_per_kwh": 0.12},
    ],
    demand_charges=[
        {"name": "facility", "usd_per_kw": 18.0},
        {"name": "on_peak_demand", "usd_per_kw": 9.0, "period": "on_peak"},
    ],
)
TIMES = pd.date_range(pd.Timestamp("2024-07-15", tz=TZ), periods=96, freq="15min").tz_convert("UTC")  # Monday
HOUR = np.arange(96) * 0.25  # local hour at each step start
OCCUPIED = (HOUR >= 7) & (HOUR < 19)
ON_PEAK = (HOUR >= 16) & (HOUR < 21)


def make_problem(n_zones: int = 1, seed: int = 0, **overrides) -> MpcProblem:
    rng = np.random.default_rng(seed)
    outdoor = 31 + 5 * np.sin((HOUR - 9) / 24 * 2 * np.pi)
    prices = energy_prices_usd_per_kwh(TARIFF, TIMES, TZ)
    charges = demand_charge_masks(TARIFF, TIMES, TZ)
    low, high = comfort_bands(np.broadcast_to(OCCUPIED, (n_zones, 96)))
    kwargs = dict(
        a_frac=rng.uniform(0.96, 0.98, n_zones) if n_zones > 1 else 0.97,
        b_cool_c_per_kw=-0.02,
        gain_delta_c=np.where(OCCUPIED, 0.08, 0.02),
        initial_temp_c=26.0,
        comfort_min_c=low,
        comfort_max_c=high,
        capacity_kw=60.0,
        ramp_kw_per_step=20.0,
        outdoor_temp_c=outdoor,
        price_usd_per_kwh=prices,
        cop=cop_from_outdoor_c(outdoor),
        baseline_setpoint_c=np.where(OCCUPIED, 23.0, 28.0),
        demand_masks=np.vstack([mask for _, mask in charges]),
        demand_rates_usd_per_kw=[rate for rate, _ in charges],
        demand_peak_so_far_kw=0.0,
        fan_kw=0.5,
    )
    kwargs.update(overrides)
    return MpcProblem(**kwargs)


def test_precools_before_on_peak_and_floats_during_it():
    # energy prices only: the on-peak price step alone must cause pre-cooling
    plan = solve_plan(make_problem(demand_rates_usd_per_kw=[0.0, 0.0]))
    assert plan.status == "optimal", plan.reason
    temps, cooling = plan.expected_temp_c[0], plan.cooling_kw[0]
    # expected_temp_c[k] is the temperature at the END of step k: step 63 ends 16:00, step 75 ends 19:00
    at_16, at_19 = temps[63], temps[75]
    assert at_16 < 22.5  # pre-cooled well below the 25 C needed (and below the 23 C baseline)
    assert at_19 > at_16 + 2.0  # floats up during on-peak ...
    assert temps[OCCUPIED].max() <= 25.0 + 0.05  # ... but stays within the band
    assert cooling[ON_PEAK].mean() < 0.5 * cooling[(HOUR >= 12) & (HOUR < 16)].mean()
    assert plan.energy_cost_usd < plan.baseline_energy_cost_usd
    assert plan.discomfort_kh <= plan.baseline_discomfort_kh + 1e-6


def test_demand_charges_flatten_the_peak():
    plan = solve_plan(make_problem())
    assert plan.status == "optimal", plan.reason
    temps = plan.expected_temp_c[0]
    assert temps[63] < 25.0 - 0.5  # still enters on-peak with stored cooling
    assert plan.peak_kw < 0.5 * plan.baseline_peak_kw
    assert plan.total_cost_usd < plan.baseline_total_cost_usd and plan.savings_usd > 0
    assert plan.peak_change_frac < -0.5
    assert plan.discomfort_kh <= plan.baseline_discomfort_kh + 1e-6


def test_respects_comfort_capacity_and_ramp():
    problem = make_problem(n_zones=5, seed=3)
    plan = solve_plan(problem)
    assert plan.status == "optimal", plan.reason
    assert plan.cooling_kw.shape == plan.expected_temp_c.shape == plan.setpoint_c.shape == (5, 96)
    occupied_temps = plan.expected_temp_c[:, OCCUPIED]
    assert occupied_temps.max() <= 25.0 + 0.05 and occupied_temps.min() >= 21.0 - 0.05
    assert plan.cooling_kw.min() >= 0.0 and plan.cooling_kw.max() <= 60.0 + 1e-6
    assert np.abs(np.diff(plan.cooling_kw, axis=1)).max() <= 20.0 + 1e-3
    np.testing.assert_allclose(plan.building_electric_kw, plan.electric_kw.sum(axis=0))
    assert plan.peak_kw == pytest.approx(plan.building_electric_kw.max())
    # demand cost is the facility and on-peak rates on the plan's own peaks
    on_peak_max = plan.building_electric_kw[ON_PEAK].max()
    assert plan.demand_cost_usd == pytest.approx(18.0 * plan.peak_kw + 9.0 * on_peak_max)
    # nothing from cvxpy leaves the package
    for value in dataclasses.asdict(plan).values():
        assert isinstance(value, np.ndarray | float | int | str | list | type(None))
        assert not isinstance(value, list) or all(isinstance(v, dict) for v in value)


def test_already_reached_peak_is_a_floor_not_a_target():
    plan = solve_plan(make_problem(demand_peak_so_far_kw=[500.0, 400.0]))
    assert plan.status == "optimal"
    assert plan.demand_cost_usd == pytest.approx(18.0 * 500 + 9.0 * 400)


def test_infeasible_returns_empty_plan_with_reason():
    # hard band 21-25 C from the first step, zone at 30 C, only 1 kW of cooling: cannot be held
    problem = make_problem(initial_temp_c=30.0, capacity_kw=1.0, hard_comfort=True)
    plan = solve_plan(problem)
    assert isinstance(plan, Plan)
    assert plan.status == "infeasible" and not plan.ok
    assert "infeasible" in plan.reason
    assert plan.setpoint_c.size == 0 and plan.cooling_kw.size == 0 and plan.building_electric_kw.size == 0
    assert np.isnan(plan.total_cost_usd)
    assert np.isfinite(plan.baseline_total_cost_usd)  # the building falls back to its schedule


def test_soft_comfort_same_case_is_feasible_with_discomfort():
    plan = solve_plan(make_problem(initial_temp_c=30.0, capacity_kw=1.0))
    assert plan.ok
    assert plan.discomfort_kh > 0
    assert plan.cooling_kw.max() <= 1.0 + 1e-6


def test_replan_reuses_compiled_problem():
    """The cvxpy path (backend="cvxpy"; every solver but CLARABEL uses it) compiles once per shape."""
    backend = CvxpyBackend()
    planner = Planner(backend)
    first = planner.solve(make_problem(n_zones=20, seed=1))
    controller = backend.controller_for(20, 96, 2, False)
    compiled = controller.problem._cache.param_prog
    assert compiled is not None
    second = planner.solve(
        make_problem(
            n_zones=20,
            seed=2,
            initial_temp_c=24.0,
            price_usd_per_kwh=energy_prices_usd_per_kwh(TARIFF, TIMES, TZ) * 1.5,
        )
    )
    assert first.ok and second.ok
    assert backend.controller_for(20, 96, 2, False) is controller and controller.solve_count == 2
    assert controller.problem._cache.param_prog is compiled  # no recompilation
    assert controller.problem.is_dpp()
    assert not np.allclose(first.cooling_kw, second.cooling_kw)


def test_from_models_builds_gain_terms():
    model = ZoneModelParams(0.97, -0.02, (0.004,), 0.01, 900.0, ("occupancy_count",))
    occupancy = np.where(OCCUPIED, 20.0, 0.0)
    base = make_problem()
    problem = MpcProblem.from_models(
        [model, model],
        {"occupancy_count": occupancy},
        step_s=900.0,
        initial_temp_c=26.0,
        comfort_min_c=base.comfort_min_c[0],
        comfort_max_c=base.comfort_max_c[0],
        capacity_kw=60.0,
        ramp_kw_per_step=20.0,
        outdoor_temp_c=base.outdoor_temp_c,
        price_usd_per_kwh=base.price_usd_per_kwh,
        cop=base.cop,
        baseline_setpoint_c=base.baseline_setpoint_c[0],
    )
    np.testing.assert_allclose(problem.gain_delta_c[1], 0.004 * occupancy + 0.01)
    assert solve_plan(problem).ok


@pytest.mark.parametrize(
    "override",
    [
        {"initial_temp_c": np.nan},
        {"a_frac": 1.2},
        {"b_cool_c_per_kw": 0.1},
        {"cop": 0.0},
        {"comfort_min_c": 26.0},
        {"capacity_kw": np.ones(3)},
    ],
)
def test_invalid_problem_rejected(override):
    with pytest.raises(ValueError):
        make_problem(**override)


RC2 = Rc2Params(
    c_air_kwh_per_k=1.8,
    c_mass_kwh_per_k=25.0,
    ua_air_out_kw_per_k=0.3,
    ua_mass_out_kw_per_k=0.36,
    h_air_mass_kw_per_k=4.5,
    ua_vent_kw_per_k=0.7,
    gain_air_kw_per_unit=(0.075,),
    gain_mass_kw_per_unit=(0.0,),
    const_air_kw=2.0,
    const_mass_kw=2.0,
    gain_columns=("occupancy_count",),
)


def rc2_problem(durations=None, times=TIMES, **overrides) -> MpcProblem:
    hour = np.asarray((times.tz_convert(TZ).hour + times.tz_convert(TZ).minute / 60), dtype=float)
    occupied = (hour >= 7) & (hour < 19)
    outdoor = 31 + 5 * np.sin((hour - 9) / 24 * 2 * np.pi)
    low, high = comfort_bands(occupied[None, :])
    kwargs = dict(
        initial_temp_c=26.0,
        initial_mass_temp_c=27.0,
        comfort_min_c=low,
        comfort_max_c=high,
        capacity_kw=40.0,
        ramp_kw_per_step=40.0,
        outdoor_temp_c=outdoor,
        price_usd_per_kwh=energy_prices_usd_per_kwh(TARIFF, times, TZ),
        cop=cop_from_outdoor_c(outdoor),
        baseline_setpoint_c=np.where(occupied, 23.0, 28.0),
        step_durations_s=durations,
        demand_masks=np.zeros((0, len(times)), dtype=bool),
        demand_rates_usd_per_kw=[],
    )
    kwargs.update(overrides)
    gains = {"occupancy_count": np.where(occupied, 40.0, 0.0), "occupied": occupied.astype(float)}
    return MpcProblem.from_models([RC2], gains, step_s=900.0, **kwargs)


def test_two_state_model_precools_the_mass_off_peak():
    problem = rc2_problem()
    assert problem.two_state
    plan = solve_plan(problem)
    assert plan.ok, plan.reason
    temps, cooling = plan.expected_temp_c[0], plan.cooling_kw[0]
    assert temps[OCCUPIED].max() <= 25.0 + 0.05 and temps[OCCUPIED].min() >= 21.0 - 0.05
    # cheaper energy than the schedule, and less cooling during on-peak than the thermostat uses
    assert plan.energy_cost_usd < plan.baseline_energy_cost_usd
    assert cooling[ON_PEAK].sum() < 0.8 * plan.baseline_cooling_kw[0][ON_PEAK].sum()
    # the heavy mass stores the cooling: the plan cools overnight at off-peak prices, the thermostat does not
    night = HOUR < 7
    assert cooling[night].sum() > 10 * plan.baseline_cooling_kw[0][night].sum() + 100.0


def test_move_blocked_steps_match_the_fine_model():
    """Hourly steps discretise the same physics: holding the fine plan's hourly means reproduces the
    temperatures at the hour boundaries."""
    fine = rc2_problem(outdoor_temp_c=30.0, cop=3.0)
    hourly_times = TIMES[::4]
    blocked = rc2_problem(durations=np.full(24, 3600.0), times=hourly_times, outdoor_temp_c=30.0, cop=3.0)
    assert blocked.n_steps == 24
    cooling = np.full((1, 24), 10.0)
    from sbems.optimization.plan import simulate_temps_c as _simulate

    np.testing.assert_allclose(
        _simulate(blocked, cooling)[0], _simulate(fine, np.repeat(cooling, 4, axis=1))[0][3::4], atol=1e-8
    )
    plan = solve_plan(blocked)
    assert plan.ok and plan.cooling_kw.shape == (1, 24)


@pytest.mark.parametrize("hard", [False, True])
def test_direct_clarabel_data_matches_the_cvxpy_controller(hard):
    """The directly assembled CLARABEL problem is the cvxpy problem: same optimum, one- and two-state."""
    for problem in (
        make_problem(
            n_zones=5, seed=4, hard_comfort=hard, initial_cooling_kw=10.0, demand_peak_so_far_kw=[30.0, 0.0]
        ),
        rc2_problem(hard_comfort=hard, initial_cooling_kw=5.0),
    ):
        direct, via_cvxpy = solve_plan(problem), solve_plan(problem, backend="cvxpy")
        assert direct.ok and via_cvxpy.ok, (direct.reason, via_cvxpy.reason)
        assert direct.total_cost_usd == pytest.approx(via_cvxpy.total_cost_usd, rel=1e-3)
        assert direct.discomfort_kh == pytest.approx(via_cvxpy.discomfort_kh, abs=1e-2)
        np.testing.assert_allclose(direct.expected_temp_c, via_cvxpy.expected_temp_c, atol=0.05)


def test_direct_path_reports_infeasible_with_reason():
    plan = solve_plan(make_problem(initial_temp_c=30.0, capacity_kw=1.0, hard_comfort=True))
    assert plan.status == "infeasible" and "infeasible" in plan.reason
    assert plan.cooling_kw.size == 0


def test_move_blocks_cover_the_horizon():
    from sbems.optimization.problem import move_block_steps

    blocks = move_block_steps(96)
    assert blocks.sum() == 96 and len(blocks) == 34 and list(blocks[:8]) == [1] * 8
    assert move_block_steps(5).tolist() == [1] * 5
    assert move_block_steps(30).sum() == 30


def test_time_varying_two_state_many_zones_is_solvable():
    """Per-step coefficients (occupancy-dependent ventilation, blocked steps) for many zones: the direct
    path's data stay linear in zones x steps (cvxpy's DPP tensor grows quadratically)."""
    from sbems.optimization.problem import move_block_steps

    lengths = move_block_steps(96)
    starts = TIMES[np.concatenate([[0], np.cumsum(lengths)[:-1]])]
    problem = rc2_problem(durations=lengths * 900.0, times=starts)
    n = 300
    wide = dataclasses.replace(
        problem,
        **{
            name: np.repeat(getattr(problem, name), n, axis=0)
            for name in (
                "a_frac",
                "b_cool_c_per_kw",
                "gain_delta_c",
                "comfort_min_c",
                "comfort_max_c",
                "baseline_setpoint_c",
                "fan_kw",
                "air_from_mass_frac",
                "mass_from_air_frac",
                "mass_frac",
                "mass_b_cool_c_per_kw",
                "mass_delta_c",
                "outdoor_frac",
            )
        },
        initial_temp_c=np.full(n, 26.0),
        initial_mass_temp_c=np.full(n, 27.0),
        capacity_kw=np.full(n, 40.0),
        ramp_kw_per_step=np.full(n, 40.0),
    )
    assert wide.time_varying and wide.two_state and wide.n_zones == n
    plan = solve_plan(wide)
    assert plan.ok and plan.cooling_kw.shape == (n, 34)
    single = solve_plan(problem)
    np.testing.assert_allclose(plan.cooling_kw.mean(axis=0), single.cooling_kw[0], atol=0.5)
