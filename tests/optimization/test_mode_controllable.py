"""Units the site marks ``mode_controllable`` (issue 14, availability and actuation): the problem offers
them heating and cooling at every step whatever the schedule's mode (capacity still applies), the baseline
keeps the schedule's mode, and the plan's current step asks dispatch for ``auto`` where it goes beyond the
schedule's mode. Without the flag the problem is the one of old."""

from datetime import UTC, datetime

import numpy as np

from sbems.domain.heat_pump import heating_capacity_frac
from sbems.domain.site import dump_site_yaml, parse_site_yaml
from sbems.domain.tariff import tariff_step_prices
from sbems.optimization.building_problem import Forecasts, Horizon, ZoneState, building_problem, zone_bands
from sbems.optimization.horizon import horizon_blocks
from sbems.optimization.mpc import Planner
from sbems.optimization.setpoints import dual_setpoints_c, mode_commands
from sbems.optimization.zone_model import ZoneModelParams

CONTROLLABLE = ("rtu1", "tstat-z3")  # z1 (BACnet unit) and z3 (REST thermostat)


def site_in_mode(site, mode: str, controllable: tuple[str, ...] = ()):
    """The example site with every schedule in ``mode`` and ``controllable`` units mode-controllable."""
    schedules = [s.model_copy(update={"mode": mode}) for s in site.schedules]
    buildings = []
    for building in site.buildings:

        def flag(c):
            return c.model_copy(update={"mode_controllable": c.id in controllable})

        units = [flag(u) for u in building.hvac_units]
        tstats = [flag(t) for t in building.thermostats]
        buildings.append(building.model_copy(update={"hvac_units": units, "thermostats": tstats}))
    return site.model_copy(update={"schedules": schedules, "buildings": buildings})


def problem_for(site, now_utc: datetime, outdoor_c: float, initial_c: float):
    building = site.building("hq")
    times, durations = horizon_blocks(now_utc, 24, 900, blocking=True)
    n, ns = len(building.zones), len(times)
    model = ZoneModelParams(0.97, -0.03, (), 0.0, 900.0, ())
    bands = zone_bands(site, building, times, 900, durations)
    problem = building_problem(
        [model] * n,
        building,
        Horizon(times, 900, durations),
        tariff_step_prices(site.tariff(building.tariff), times, building.timezone),
        bands,
        Forecasts(np.full(ns, outdoor_c), np.zeros(ns), np.zeros((n, ns)), np.full(ns, 20.0)),
        ZoneState(np.full(n, initial_c)),
    )
    return building, bands, problem


COLD_NIGHT_UTC = datetime(2027, 1, 12, 9, tzinfo=UTC)  # 04:00 in New York, the day's occupancy at 07:00
HOT_MORNING_UTC = datetime(2026, 7, 14, 13, tzinfo=UTC)  # 09:00 in New York, occupied


def test_the_flag_defaults_to_off_and_round_trips_through_the_site_file(example_site):
    units = [*example_site.building("hq").hvac_units, *example_site.building("hq").thermostats]
    assert not any(u.mode_controllable for u in units)
    flagged = site_in_mode(example_site, "cool", CONTROLLABLE)
    again = parse_site_yaml(dump_site_yaml(flagged))
    assert "mode_controllable: true" in dump_site_yaml(flagged)
    assert again.building("hq").controller_of("z1").mode_controllable
    assert again.building("hq").controller_of("z3").mode_controllable
    assert not again.building("hq").controller_of("z2").mode_controllable


def test_without_the_flag_a_cool_schedule_zone_cannot_heat_and_nothing_changes(example_site):
    site = site_in_mode(example_site, "cool")
    building, bands, problem = problem_for(site, COLD_NIGHT_UTC, -5.0, 15.0)
    assert bands.schedule_can_cool is None and bands.schedule_can_heat is None  # the bands of old
    assert problem.baseline_cooling_available is None and problem.baseline_heating_available is None
    assert not problem.has_heating and problem.cooling_available.all()
    plan = Planner().solve(problem)
    assert plan.ok, plan.reason
    assert mode_commands(plan, problem, bands, [z.id for z in building.zones]) == {}


def test_a_mode_controllable_cool_zone_may_heat_at_every_step_and_asks_for_auto(example_site):
    site = site_in_mode(example_site, "cool", CONTROLLABLE)
    building, bands, problem = problem_for(site, COLD_NIGHT_UTC, -5.0, 15.0)
    zone_ids = [z.id for z in building.zones]
    switchable = np.array([z in ("z1", "z3") for z in zone_ids])
    # availability: both outputs at every step for z1 and z3, cooling only elsewhere (the schedule's mode)
    assert (bands.can_heat.all(axis=1) == switchable).all() and not bands.can_heat[~switchable].any()
    assert bands.can_cool.all() and bands.schedule_can_cool.all() and not bands.schedule_can_heat.any()
    assert (problem.heating_available.all(axis=1) == switchable).all()
    # capacity still applies: the rated heat-pump capacity x the outdoor derating, and the unit's backup
    for z in np.flatnonzero(switchable):
        unit = building.controller_of(zone_ids[z])
        rated = unit.heating_capacity_kw or unit.capacity_kw
        np.testing.assert_allclose(problem.heat_pump_cap_kw[z], rated * heating_capacity_frac(-5.0))
        np.testing.assert_allclose(problem.backup_cap_kw[z], unit.backup_heat_kw)
    # a zone that may heat floats down to the unoccupied heating setback (16 C), the others keep 21 C
    unoccupied = ~bands.occupied_end
    assert problem.comfort_min_c[switchable][unoccupied[switchable]].min() == 16.0
    assert problem.comfort_min_c[~switchable][unoccupied[~switchable]].min() == 21.0

    plan = Planner().solve(problem)
    assert plan.ok, plan.reason
    heat_kw = plan.heat_pump_kw + plan.backup_heat_kw
    assert heat_kw[switchable].sum(axis=1).min() > 1.0  # pre-heated, through the cold morning
    assert heat_kw[~switchable].sum() == 0.0
    # the baseline keeps the schedule's mode: it never heats (the plan's savings are against that)
    assert plan.baseline_heat_pump_kw.sum() == 0.0 and plan.baseline_backup_heat_kw.sum() == 0.0
    occupied = bands.occupied_end
    assert plan.expected_temp_c[0][occupied[0]].min() >= 21.0 - 0.05  # z1 (70 kW) holds the band
    # z3's 35 kW heat pump (x0.68 at -5 C) + 15 kW backup cannot get it there by 07:00: capacity applies,
    # it runs at (within 2 % of) full output until then
    short = np.flatnonzero(occupied[2] & (plan.expected_temp_c[2] < 21.0 - 0.05))
    full_kw = problem.heat_pump_cap_kw[2] + problem.backup_cap_kw[2]
    np.testing.assert_allclose(heat_kw[2, : short.max() + 1], full_kw[: short.max() + 1], rtol=0.02)
    assert plan.baseline_discomfort_kh > plan.discomfort_kh + 100.0  # z2, z4-z6 stay cold in both

    # 15 C now, under the 16 C floor: the first step heats z1 and z3, which their "cool" mode does not allow
    assert (heat_kw[switchable, 0] > 0.5).all()
    assert mode_commands(plan, problem, bands, zone_ids) == {"z1": "auto", "z3": "auto"}
    setpoints = dual_setpoints_c(plan, problem, bands, zone_ids)
    assert setpoints["z1"].heating_c is not None and setpoints["z3"].heating_c is not None
    assert setpoints["z2"].heating_c is None  # not controllable: cooling setpoint only, as before
    # a step where the switchable zones float needs no mode: none is asked for
    floating = np.flatnonzero((heat_kw[switchable] <= 0.5).all(axis=0) & (plan.cooling_kw <= 0.5).all(axis=0))
    assert floating.size, "the plan floats somewhere in 24 h"
    assert mode_commands(plan, problem, bands, zone_ids, step=int(floating[0])) == {}


def test_a_mode_controllable_heat_zone_may_cool_and_asks_for_auto(example_site):
    site = site_in_mode(example_site, "heat", ("rtu1",))
    building, bands, problem = problem_for(site, HOT_MORNING_UTC, 33.0, 26.5)
    zone_ids = [z.id for z in building.zones]
    assert problem.cooling_available[0].all() and not problem.cooling_available[1:].any()
    assert not bands.schedule_can_cool.any()
    plan = Planner().solve(problem)
    assert plan.ok, plan.reason
    assert plan.cooling_kw[0, 0] > 0.5 and plan.cooling_kw[1:].sum() == 0.0
    assert plan.baseline_cooling_kw.sum() == 0.0  # under "heat" the schedule never cools
    assert mode_commands(plan, problem, bands, zone_ids) == {"z1": "auto"}
