"""Fan speed sets the supply airflow: it caps cooling capacity and outdoor-air ventilation (so CO2
follows), fan power goes with the cube of speed, and fans are paid whenever they run."""

import datetime as dt

import numpy as np
import pytest

from sbems.sim.airflow import CO2_LIMIT_PPM
from sbems.sim.plant import Plant
from tests.sim.conftest import HOT_AFTERNOON_UTC

# 09:00 EDT on the Friday of the hot afternoon: the offices are filling up
MORNING_UTC = dt.datetime(2026, 7, 10, 13, 0, tzinfo=dt.UTC)
# 14:00 EDT on the Saturday after: unoccupied, hot outside
SATURDAY_AFTERNOON_UTC = dt.datetime(2026, 7, 11, 18, 0, tzinfo=dt.UTC)


def _plant(site, start, fan_speed_pct, zone="z1"):
    plant = Plant(site, "hq", start, seed=0, step_s=60)
    plant.set_fan_speed_pct(zone, fan_speed_pct)
    return plant


def test_at_30_percent_speed_the_zone_cannot_be_cooled_as_at_full_speed(example_site):
    full = _plant(example_site, HOT_AFTERNOON_UTC, 100.0)
    slow = _plant(example_site, HOT_AFTERNOON_UTC, 30.0)
    rated_kw = full.zone_state("z1").capacity_kw
    peak_full_kw = peak_slow_kw = 0.0
    for plant in (full, slow):
        plant.set_setpoint_c("z1", 21.0)  # a pull-down that needs more than 30 % of rated cooling
    for _ in range(60):
        full.step()
        slow.step()
        peak_full_kw = max(peak_full_kw, full.zone_state("z1").cooling_kw)
        peak_slow_kw = max(peak_slow_kw, slow.zone_state("z1").cooling_kw)
    assert peak_full_kw > 0.5 * rated_kw
    assert peak_slow_kw <= 0.3 * rated_kw + 1e-9
    assert peak_slow_kw > 0.25 * rated_kw  # it tries as hard as its airflow lets it
    assert slow.zone_state("z1").zone_temp_c > full.zone_state("z1").zone_temp_c + 1.0
    assert full.zone_state("z1").zone_temp_c < 21.5
    # the other zones, at full speed in both plants, are not affected
    assert slow.zone_state("z2").zone_temp_c == pytest.approx(full.zone_state("z2").zone_temp_c, abs=0.05)
    # supply airflow is proportional to speed
    assert slow.zone_state("z1").supply_flow_m3_per_h == pytest.approx(
        0.3 * full.zone_state("z1").supply_flow_m3_per_h
    )


def test_low_fan_speed_cuts_ventilation_so_co2_rises_with_occupants(example_site):
    full = _plant(example_site, MORNING_UTC, 100.0)
    slow = _plant(example_site, MORNING_UTC, 30.0)
    full.step(180)
    slow.step(180)
    full_z1, slow_z1 = full.zone_state("z1"), slow.zone_state("z1")
    assert full_z1.occupancy_count == slow_z1.occupancy_count > 20
    assert full_z1.co2_ppm < CO2_LIMIT_PPM
    assert slow_z1.co2_ppm > 1.5 * full_z1.co2_ppm
    assert slow_z1.co2_ppm > CO2_LIMIT_PPM + 100
    # indoor-air quality: ppm*h above 1,000 ppm, per zone
    assert full.co2_excess_ppmh[full.zone_index("z1")] == 0.0
    assert slow.co2_excess_ppmh[slow.zone_index("z1")] > 100.0
    assert slow.co2_excess_ppmh[slow.zone_index("z2")] == 0.0  # z2's fan stayed at full speed


def test_co2_stays_at_outdoor_level_without_occupants_whatever_the_speed(example_site):
    slow = _plant(example_site, SATURDAY_AFTERNOON_UTC, 30.0)
    slow.step(120)
    state = slow.zone_state("z1")
    assert state.occupancy_count == 0
    assert state.co2_ppm < 450
    assert slow.co2_excess_ppmh.sum() == 0.0


@pytest.mark.parametrize("speed_pct", [100.0, 70.0, 50.0, 30.0])
def test_fan_power_goes_with_the_cube_of_speed(example_site, speed_pct):
    plant = _plant(example_site, HOT_AFTERNOON_UTC, speed_pct)
    plant.step(5)
    state = plant.zone_state("z1")
    rated_kw = example_site.building("hq").controller_of("z1").fan_power_kw
    assert state.run_status
    assert state.fan_kw == pytest.approx(rated_kw * (speed_pct / 100.0) ** 3)
    assert state.electric_kw >= state.fan_kw


def test_fans_are_paid_whenever_they_run_unoccupied(example_site):
    plant = Plant(example_site, "hq", SATURDAY_AFTERNOON_UTC, seed=0, step_s=60)
    plant.step(5)
    rated_kw = example_site.building("hq").controller_of("z1").fan_power_kw
    idle = plant.zone_state("z1")
    assert not idle.occupied
    before_kw = plant.building_power_kw
    plant.set_setpoint_c("z1", 24.0)  # condition the empty zone (a pre-cool or an early start)
    plant.step(5)
    running = plant.zone_state("z1")
    assert not running.occupied and running.cooling_kw > 0
    assert running.run_status and running.fan_kw == pytest.approx(rated_kw)
    assert running.electric_kw == pytest.approx(running.cooling_kw / running.cop + rated_kw)
    assert plant.building_power_kw > before_kw + rated_kw
    # set back above the zone temperature: the unit stops, and so does its fan
    plant.set_setpoint_c("z1", 35.0)
    plant.step(5)
    stopped = plant.zone_state("z1")
    assert stopped.cooling_kw == 0.0 and not stopped.run_status and stopped.fan_kw == 0.0
    assert np.isfinite(stopped.zone_temp_c)
