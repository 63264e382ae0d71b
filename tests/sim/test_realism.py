"""Realism of the virtual building: days differ (attendance, holidays, meetings, plug loads), sensors err,
and the plant's own state stays exact."""

from __future__ import annotations

import datetime as dt

import numpy as np

from sbems.sim.plant import Plant
from sbems.sim.realism import Realism, Sensors

THANKSGIVING_WEEK_UTC = dt.datetime(2026, 11, 23, 5, 0, tzinfo=dt.UTC)  # Monday 00:00 EST


def _daily(plant: Plant, days: int) -> tuple[np.ndarray, np.ndarray]:
    """Occupant-steps per day and zone, and mean building kW per day, at the plant's step."""
    steps = int(86400 / plant.step_s)
    people, power = [], []
    for _ in range(days * steps):
        plant.step(1)
        people.append([plant.zone_state(z).occupancy_count for z in plant.zone_ids])
        power.append(plant.building_power_kw)
    people = np.array(people).reshape(days, steps, -1).sum(axis=1)
    return people, np.array(power).reshape(days, steps).mean(axis=1)


def test_days_differ_holidays_are_empty_and_plug_loads_follow_people(example_site):
    alike_people, alike_kw = _daily(Plant(example_site, "hq", THANKSGIVING_WEEK_UTC, step_s=900), 5)
    people, kw = _daily(Plant(example_site, "hq", THANKSGIVING_WEEK_UTC, step_s=900, realism=Realism()), 5)
    # without realism every weekday looks alike (within the 15-min noise); with it they differ
    assert np.ptp(alike_people.sum(axis=1)) < 0.1 * alike_people.sum(axis=1).mean()
    assert np.ptp(people[[0, 1, 2, 4]].sum(axis=1)) > 0.1 * people[[0, 1, 2, 4]].sum(axis=1).mean()
    # Thursday is Thanksgiving: the schedule says occupied, nobody comes, lights and plugs stay low
    assert alike_people[3].sum() > 0 and people[3].sum() == 0
    assert kw[3] < alike_kw[3] - 3.0
    # Friday is quieter than the usual weekday
    assert people[4].sum() < alike_people[4].sum()


def test_the_same_seed_gives_the_same_people_at_any_step_length(example_site):
    realism = Realism(seed=4)
    fine = Plant(example_site, "hq", THANKSGIVING_WEEK_UTC, step_s=60, realism=realism)
    coarse = Plant(example_site, "hq", THANKSGIVING_WEEK_UTC, step_s=900, realism=realism)
    fine_forcing = fine._compute_forcing(0, 2 * 1440)
    coarse_forcing = coarse._compute_forcing(0, 2 * 96)
    np.testing.assert_allclose(fine_forcing.occupancy_frac[::15], coarse_forcing.occupancy_frac)
    np.testing.assert_allclose(fine_forcing.extra["plug_frac"][::15], coarse_forcing.extra["plug_frac"])
    other = Plant(example_site, "hq", THANKSGIVING_WEEK_UTC, step_s=900, realism=Realism(seed=5))
    assert not np.allclose(other._compute_forcing(0, 2 * 96).occupancy_frac, coarse_forcing.occupancy_frac)


def test_sensors_lag_are_quantised_and_noisy_but_unbiased_on_average():
    realism = Realism(seed=1, temp_offset_sd_c=0.0)
    sensors = Sensors(realism, 3)
    readings = np.array([sensors.temps_c(np.array([22.0, 23.0, 24.0]), 60.0) for _ in range(400)])
    np.testing.assert_allclose(readings, np.round(readings, 1))  # 0.1 K resolution
    assert 0.05 < readings.std(axis=0).mean() < 0.2
    np.testing.assert_allclose(readings.mean(axis=0), [22.0, 23.0, 24.0], atol=0.03)
    # a 2 K step shows up with the sensor's lag (120 s time constant): about 1 - e^-0.5 after a minute
    lagged = Sensors(Realism(seed=2, temp_noise_c=0.0, temp_offset_sd_c=0.0, temp_quantum_c=0.0), 1)
    lagged.temps_c(np.array([20.0]), 60.0)
    assert abs(lagged.temps_c(np.array([22.0]), 60.0)[0] - (20.0 + 2.0 * (1 - np.exp(-0.5)))) < 1e-9
    meter = Sensors(Realism(seed=3), 1)
    readings_kw = np.array([meter.power_kw(100.0) for _ in range(2000)])
    assert 0.5 < readings_kw.std() < 1.5 and abs(readings_kw.mean() - 100.0) < 0.2
