"""A winter building problem from the site file: heating where the schedule's mode allows it, heat-pump
capacity from nameplate data and the outdoor forecast, dual setpoints out, and identification that reads a
heat pump's metered power as heating when it heats."""

from datetime import UTC, datetime

import numpy as np

from sbems.domain.heat_pump import heating_capacity_frac, heating_cop
from sbems.domain.tariff import tariff_step_prices
from sbems.optimization.building_problem import (
    Forecasts,
    Horizon,
    Tuning,
    ZoneState,
    building_problem,
    held_floor,
    thermal_from_electric_kw,
    zone_bands,
)
from sbems.optimization.horizon import horizon_blocks
from sbems.optimization.mpc import Planner
from sbems.optimization.setpoints import dual_setpoints_c
from sbems.optimization.zone_model import ZoneModelParams


def winter_site(site, mode: str, backup_kw: float = 20.0):
    schedules = [s.model_copy(update={"mode": mode}) for s in site.schedules]
    buildings = []
    for building in site.buildings:
        units = [u.model_copy(update={"backup_heat_kw": backup_kw}) for u in building.hvac_units]
        tstats = [t.model_copy(update={"backup_heat_kw": backup_kw}) for t in building.thermostats]
        buildings.append(building.model_copy(update={"hvac_units": units, "thermostats": tstats}))
    return site.model_copy(update={"schedules": schedules, "buildings": buildings})


def winter_problem(site, outdoor_c: float = -5.0, initial_c: float = 17.0):
    building = site.building("hq")
    now = datetime(2027, 1, 12, 9, tzinfo=UTC)  # 04:00 in New York: before the occupied day
    times, durations = horizon_blocks(now, 24, 900, blocking=True)
    n, ns = len(building.zones), len(times)
    model = ZoneModelParams(0.97, -0.03, (), 0.0, 900.0, ())
    bands = zone_bands(site, building, times, 900, durations)
    outdoor = np.full(ns, outdoor_c)
    problem = building_problem(
        [model] * n,
        building,
        Horizon(times, 900, durations),
        tariff_step_prices(site.tariff(building.tariff), times, building.timezone),
        bands,
        Forecasts(outdoor, np.zeros(ns), np.zeros((n, ns)), np.full(ns, 20.0)),
        ZoneState(np.full(n, initial_c)),
    )
    return building, bands, problem


def test_auto_mode_plans_heating_from_nameplate_data_and_sends_dual_setpoints(example_site):
    site = winter_site(example_site, "auto")
    building, bands, problem = winter_problem(site)
    assert problem.has_heating and problem.heating_available.all() and problem.cooling_available.all()
    controller = building.controller_of(building.zones[0].id)
    rated = controller.heating_capacity_kw or controller.capacity_kw
    np.testing.assert_allclose(problem.heating_capacity_kw[0], rated * heating_capacity_frac(-5.0))
    np.testing.assert_allclose(problem.heating_cop, heating_cop(-5.0))
    assert problem.baseline_heating_setpoint_c is not None
    # unoccupied the zones may float down to the schedule's heating setback (16 C), not to 18 C
    assert problem.comfort_min_c[~bands.occupied_end].min() == 16.0
    plan = Planner().solve(problem)
    assert plan.ok, plan.reason
    assert plan.expected_temp_c[bands.occupied_end].min() >= 21.0 - 0.05
    assert plan.heat_pump_kw.sum() > 0 and plan.cooling_kw.max() < 0.5
    assert plan.peak_kw < plan.baseline_peak_kw
    zone_ids = [z.id for z in building.zones]
    setpoints = dual_setpoints_c(plan, problem, bands, zone_ids)
    for z, value in enumerate(setpoints.values()):
        assert value.heating_c is not None and 15.0 <= value.heating_c <= 26.0
        cooling = bands.scheduled_c[z, 0] if value.cooling_c is None else value.cooling_c  # None: schedule's
        assert cooling - value.heating_c >= 1.0 - 1e-9


def test_cool_mode_has_no_heating_and_the_plan_says_why_zones_are_cold(example_site):
    site = winter_site(example_site, "cool")
    building, bands, problem = winter_problem(site)
    assert not problem.has_heating
    plan = Planner().solve(problem)
    assert plan.ok
    cold = [n for n in plan.notes if n["side"] == "below"]
    assert cold and {n["cause"] for n in cold} == {"heating not available"}
    setpoints = dual_setpoints_c(plan, problem, bands, [z.id for z in building.zones])
    assert all(v.heating_c is None for v in setpoints.values())


def test_metered_heat_pump_power_is_read_as_heating_when_it_heats():
    electric = np.array([0.5, 10.5, 10.5, 10.5, 30.5])
    outdoor = np.array([0.0, 0.0, 15.0, 30.0, -20.0])
    zone = np.array([20.0, 20.0, 20.0, 24.0, 20.0])
    net = thermal_from_electric_kw(electric, outdoor, zone, 0.5, heating_capacity_kw=40.0)
    assert net[0] == 0.0  # fan only
    assert net[1] < 0 and net[2] < 0  # cold, or mild with the zone low in its band: heating
    assert net[3] > 0  # hot: cooling
    assert net[4] == -30.0  # below the compressor cut-off: resistance heat, COP 1
    cop0 = float(heating_cop(0.0))
    assert net[1] == -min(10.0 * cop0, 40.0 * float(heating_capacity_frac(0.0))) - max(
        10.0 - 40.0 * float(heating_capacity_frac(0.0)) / cop0, 0.0
    )
    cooling_only = thermal_from_electric_kw(electric, outdoor, zone, 0.5, heating_capacity_kw=None)
    assert (cooling_only >= 0).all()


def test_a_summer_day_in_auto_mode_offers_no_heating_so_the_problem_keeps_its_size(example_site):
    site = winter_site(example_site, "auto")
    _, bands, summer = winter_problem(site, outdoor_c=30.0, initial_c=25.0)
    assert summer.heating_available.any(axis=1).sum() == 0 and not summer.has_heating
    # no heating offered: the unoccupied floor is the cooling setpoint limit again (21 C: no pre-cooling
    # below what dispatch accepts)
    assert summer.comfort_min_c[~bands.occupied_end].min() == bands.limit_min_c.min() == 21.0
    _, _, winter = winter_problem(site, outdoor_c=-5.0)
    assert winter.heating_available.all()


def margin_problem(site, outdoor_c: float, initial_c: float, tuning):
    building = site.building("hq")
    now = datetime(2027, 1, 12, 9, tzinfo=UTC)  # 04:00 in New York: occupancy starts at 07:00
    times, durations = horizon_blocks(now, 24, 900, blocking=True)
    n, ns = len(building.zones), len(times)
    bands = zone_bands(site, building, times, 900, durations)
    problem = building_problem(
        [ZoneModelParams(0.97, -0.03, (), 0.0, 900.0, ())] * n,
        building,
        Horizon(times, 900, durations),
        tariff_step_prices(site.tariff(building.tariff), times, building.timezone),
        bands,
        Forecasts(np.full(ns, outdoor_c), np.zeros(ns), np.zeros((n, ns)), np.full(ns, 20.0)),
        ZoneState(np.full(n, initial_c)),
        tuning,
    )
    return bands, problem


def test_no_comfort_margin_on_a_lower_edge_the_units_hold_themselves(example_site):
    site = winter_site(example_site, "auto")
    occupied_margin = Tuning(comfort_margin_c=0.3)
    # summer: no zone heats, the lowest cooling setpoint (21 C) is the band's lower edge: cooling stops
    # there whatever the plan's error, so the plan may pre-cool to 21.0 C; the upper edge keeps its margin
    bands, summer = margin_problem(site, 30.0, 25.0, occupied_margin)
    occupied = bands.occupied_end
    assert occupied.any() and not summer.has_heating
    assert (held_floor(np.ones(len(bands.limit_min_c), dtype=bool), bands) == occupied).all()
    assert np.allclose(summer.comfort_min_c[occupied], 21.0)
    assert np.allclose(summer.comfort_max_c[occupied], 25.0 - 0.3)
    # the old behaviour on request: the margin on both edges
    _, both = margin_problem(site, 30.0, 25.0, Tuning(comfort_margin_c=0.3, margin_on_held_floor=True))
    assert np.allclose(both.comfort_min_c[occupied], 21.3)
    # winter: zones heat, so the plan itself holds the lower edge and keeps the margin there
    _, winter = margin_problem(site, -5.0, 17.0, occupied_margin)
    assert winter.heating_available.all()
    assert np.allclose(winter.comfort_min_c[occupied], 21.3)


def test_the_smoothing_weight_is_a_tuning_knob(example_site):
    _, problem = margin_problem(example_site, 30.0, 25.0, Tuning(smoothing_usd_per_kw2=3e-4))
    assert problem.smoothing_usd_per_kw2 == 3e-4
    _, default = margin_problem(example_site, 30.0, 25.0, Tuning())
    assert default.smoothing_usd_per_kw2 == 1e-4  # chosen on the summer tuning week (issue 14)


def test_heat_pump_capacity_can_be_planned_as_expected_over_the_forecast_error(example_site):
    from sbems.domain.heat_pump import expected_heating_capacity_frac

    site = winter_site(example_site, "auto")
    building = site.building("hq")
    now = datetime(2027, 1, 12, 9, tzinfo=UTC)
    times, durations = horizon_blocks(now, 24, 900, blocking=True)
    n, ns = len(building.zones), len(times)
    bands = zone_bands(site, building, times, 900, durations)
    outdoor = np.full(ns, -14.5)  # just warmer than the -15 C cut-off

    def problem(tuning):
        return building_problem(
            [ZoneModelParams(0.97, -0.03, (), 0.0, 900.0, ())] * n,
            building,
            Horizon(times, 900, durations),
            tariff_step_prices(site.tariff(building.tariff), times, building.timezone),
            bands,
            Forecasts(outdoor, np.zeros(ns), np.zeros((n, ns)), np.full(ns, 20.0)),
            ZoneState(np.full(n, 17.0)),
            tuning,
        )

    knots = ((0.0, 0.25), (24.0, 1.0))
    sure = problem(Tuning(heat_pump_forecast_sigma_c=None))
    unsure = problem(Tuning(heat_pump_forecast_sigma_c=knots))
    rated = building.controller_of(building.zones[0].id)
    rated_kw = rated.heating_capacity_kw or rated.capacity_kw
    np.testing.assert_allclose(sure.heating_capacity_kw[0], rated_kw * heating_capacity_frac(-14.5))
    ends_h = np.cumsum(durations) / 3600.0
    sigma = np.interp(ends_h, *zip(*knots, strict=True))
    np.testing.assert_allclose(
        unsure.heating_capacity_kw[0], rated_kw * expected_heating_capacity_frac(-14.5, sigma)
    )
    # further ahead the forecast is less sure, and the plan counts on less of the heat pump
    assert (
        unsure.heating_capacity_kw[0, -1] < unsure.heating_capacity_kw[0, 0] < sure.heating_capacity_kw[0, 0]
    )
