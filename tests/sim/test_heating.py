"""Heating in the virtual building: heat-pump capacity and COP follow the outdoor temperature, the
resistance backup covers only what the heat pump cannot, dual setpoints float in auto, airflow limits
heating, and a cold week stays comfortable with the schedule's early start."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from sbems.domain.heat_pump import heating_capacity_frac, heating_cop
from sbems.sim.heating import UnitHeat, capacities_w, dual_setpoint_loop, hvac_electric_w
from sbems.sim.plant import Plant

# Monday 06:00 EST in the coldest week of the Greensboro typical year (Jan 8-14, mean -3.9 C)
COLD_MORNING_UTC = dt.datetime(2026, 1, 12, 11, 0, tzinfo=dt.UTC)
COLD_WEEK_UTC = dt.datetime(2026, 1, 8, 5, 0, tzinfo=dt.UTC)  # Thu 00:00 local
ONE = np.ones(1)


def _caps(outdoor_c, fan_pct=100.0, fault=False):
    return capacities_w(
        np.array([70e3]),
        np.array([60e3]),
        np.array([30e3]),
        outdoor_c,
        ONE,
        np.array([fault]),
        np.array([True]),
        np.array([fan_pct]),
    )


def _loop(free_c, mode="auto", temp_c=22.0, cool_c=24.0, heat_c=21.0, caps=None):
    return dual_setpoint_loop(
        [mode],
        np.array([cool_c]),
        np.array([heat_c]),
        np.array([temp_c]),
        np.array([free_c]),
        np.array([1e-5]),  # K per W: 100 kW moves the air 1 K over the step
        60.0,
        caps or _caps(5.0),
    )


def test_heat_pump_capacity_and_cop_fall_with_outdoor_temperature():
    caps = {t: _caps(t)[1][0] for t in (10.0, 0.0, -8.3, -20.0)}
    assert caps[10.0] == pytest.approx(60e3)
    assert caps[10.0] > caps[0.0] > caps[-8.3] == pytest.approx(0.6 * 60e3)
    assert caps[-20.0] == 0.0  # compressor locked out below -15 C
    assert heating_cop(8.3) > heating_cop(0.0) > heating_cop(-8.3)
    heat = UnitHeat(np.zeros(1), np.array([10e3]), np.zeros(1))
    mild, cold = hvac_electric_w(heat, 8.3)[1][0], hvac_electric_w(heat, -8.3)[1][0]
    assert mild == pytest.approx(10e3 / 3.5) and cold == pytest.approx(10e3 / 2.2)
    # the backup heater does not depend on the outdoor temperature and has COP 1
    assert _caps(-20.0)[2][0] == _caps(10.0)[2][0] == 30e3
    backup = UnitHeat(np.zeros(1), np.zeros(1), np.array([10e3]))
    assert hvac_electric_w(backup, -5.0)[2][0] == pytest.approx(10e3)


def test_resistance_backup_engages_only_past_heat_pump_capacity():
    caps = _caps(-8.3)  # heat pump 36 kW, backup 30 kW
    small = _loop(free_c=21.5, temp_c=21.5, heat_c=23.0, caps=caps)  # asks well under 36 kW
    assert 0 < small.heat_pump_w[0] < 36e3 and small.backup_w[0] == 0.0
    large = _loop(free_c=10.0, temp_c=10.0, heat_c=21.0, caps=caps)  # asks ~105 kW
    assert large.heat_pump_w[0] == pytest.approx(0.6 * 60e3)
    assert large.backup_w[0] == pytest.approx(30e3)
    middle = _loop(free_c=16.0, temp_c=16.0, heat_c=21.0, caps=caps)  # asks ~48 kW
    demand_w = middle.heating_w[0]
    assert middle.heat_pump_w[0] == pytest.approx(36e3)
    assert middle.backup_w[0] == pytest.approx(demand_w - 36e3) and 0 < middle.backup_w[0] < 30e3
    # a faulted compressor leaves all the heating to the backup (emergency heat)
    faulted = _loop(free_c=21.5, temp_c=21.5, heat_c=23.0, caps=_caps(-8.3, fault=True))
    assert faulted.heat_pump_w[0] == 0.0 and faulted.backup_w[0] > 0


def test_auto_floats_inside_the_deadband_and_modes_restrict_the_loop():
    inside = _loop(free_c=22.5)  # between 21 and 24
    assert inside.cooling_w[0] == inside.heating_w[0] == 0.0
    assert _loop(free_c=25.0).cooling_w[0] > 0 and _loop(free_c=25.0).heating_w[0] == 0.0
    assert _loop(free_c=20.0).heating_w[0] > 0 and _loop(free_c=20.0).cooling_w[0] == 0.0
    assert _loop(free_c=20.0, mode="cool").heating_w[0] == 0.0
    assert _loop(free_c=25.0, mode="heat").cooling_w[0] == 0.0
    assert _loop(free_c=15.0, mode="off").heating_w[0] == 0.0


def test_plant_auto_mode_floats_between_commanded_setpoints(example_site):
    plant = Plant(example_site, "hq", COLD_MORNING_UTC + dt.timedelta(hours=6), seed=0, step_s=60)
    plant.step(30)
    for zone_id in plant.zone_ids:
        assert plant.zone_state(zone_id).mode == "auto"
    before = plant.zone_state("z1")
    plant.set_heating_setpoint_c("z1", before.zone_temp_c - 2.0)
    plant.set_setpoint_c("z1", before.zone_temp_c + 2.0)
    state = plant.zone_state("z1")
    assert state.heating_setpoint_source == "override" and state.heating_setpoint_c == before.zone_temp_c - 2
    plant.step(20)
    after = plant.zone_state("z1")
    assert after.heating_kw == 0.0 and after.cooling_kw == 0.0  # floating: it drifts, nothing runs
    assert before.zone_temp_c - 2.0 < after.zone_temp_c < before.zone_temp_c
    plant.set_heating_setpoint_c("z1", None)
    assert plant.zone_state("z1").heating_setpoint_c == 21.0


def _night_then_warm_up(site, fan_speed_pct=100.0):
    """From 22:00 Sunday (setback 16 C) to 05:02 Monday, 2 min into the 2 h warm-up."""
    plant = Plant(site, "hq", COLD_MORNING_UTC - dt.timedelta(hours=8), seed=0, step_s=60)
    plant.step(7 * 60)
    assert plant.zone_state("z1").heating_setpoint_c == 16.0
    plant.set_fan_speed_pct("z1", fan_speed_pct)
    plant.step(2)
    return plant


def test_cold_morning_heats_with_heat_pump_then_backup_and_capacity_follows_fan_speed(example_site):
    plant = _night_then_warm_up(example_site)
    assert plant.outdoor_temp_c < 0.0
    assert plant.zone_state("z1").heating_setpoint_c == 21.0
    state = plant.zone_state("z1")
    to_c = plant.outdoor_temp_c
    hp_cap_kw = 60.0 * float(heating_capacity_frac(to_c))
    # the warm-up from the 16 C night setback saturates the heat pump and brings the backup in
    hp_heat_kw = state.heating_kw - state.backup_heat_kw
    assert hp_heat_kw == pytest.approx(hp_cap_kw)
    assert 5.0 < state.backup_heat_kw <= 30.0
    assert state.heat_pump_kw == pytest.approx(hp_cap_kw / float(heating_cop(to_c)))
    assert state.electric_kw == pytest.approx(state.heat_pump_kw + state.backup_heat_kw + state.fan_kw)
    assert state.cooling_kw == 0.0
    slow = _night_then_warm_up(example_site, fan_speed_pct=50.0)
    half = slow.zone_state("z1")
    assert half.heating_kw == pytest.approx(0.5 * (hp_cap_kw + 30.0))
    assert half.zone_temp_c < state.zone_temp_c


def _cold_week(site, step_s=300.0):
    plant = Plant(site, "hq", COLD_WEEK_UTC, seed=1, step_s=step_s)
    temps, occupied, backup_kw, hours = [], [], [], []
    for _ in range(int(7 * 86_400 / step_s)):
        plant.step()
        states = [plant.zone_state(z) for z in plant.zone_ids]
        temps.append([s.zone_temp_c for s in states])
        occupied.append([s.occupied for s in states])
        backup_kw.append(sum(s.backup_heat_kw for s in states))
        hours.append(pd.Timestamp(plant.now_utc).tz_convert("America/New_York").hour)
    return np.array(temps), np.array(occupied), np.array(backup_kw), np.array(hours)


def test_cold_week_keeps_occupied_zones_warm_with_the_early_start(example_site):
    temps, occupied, backup_kw, hours = _cold_week(example_site)
    assert occupied.sum() > 0
    assert temps[occupied].min() >= 20.95
    # the backup runs in the warm-up spike, not all day
    assert backup_kw.max() > 20.0
    assert set(hours[backup_kw > 0]) <= set(range(4, 10))
    # without the early start the same week starts its office hours cold
    schedule = example_site.schedules[0].model_copy(update={"heating_early_start_min": 0})
    late = example_site.model_copy(update={"schedules": [schedule]})
    late_temps, late_occupied, _, _ = _cold_week(late)
    assert late_temps[late_occupied].min() < 20.0
