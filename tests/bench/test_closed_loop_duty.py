"""Duty-cycled cooling of unoccupied zones on the real plant (bench/closed_loop_duty.py): a zone cools at full
output for its minutes and then floats with its fan off; zones not duty-cycled step as they would anyway."""

from __future__ import annotations

import copy
import datetime as dt
import sys
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parents[2] / "bench"
for path in (str(BENCH.parent), str(BENCH)):
    if path not in sys.path:
        sys.path.insert(0, path)

from closed_loop_duty import duty_minutes, step_with_duty_cycle  # noqa: E402
from closed_loop_setup import MINUTES_PER_STEP, Record, auto_mode, set_setpoints_c, step_and_record  # noqa: E402

from sbems.sim.plant import Plant  # noqa: E402

SATURDAY_AFTERNOON_UTC = dt.datetime(2026, 7, 11, 18, 0, tzinfo=dt.UTC)  # 14:00 EDT, unoccupied, warm


def test_duty_minutes_only_for_unoccupied_zones_the_plan_cools_below_full_output():
    minutes = duty_minutes(
        planned_cooling_kw=np.array([14.0, 14.0, 0.2, 70.0, 35.0]),
        capacity_kw=np.array([70.0, 70.0, 70.0, 70.0, 70.0]),
        occupied=np.array([False, True, False, False, False]),
    )
    # 20 % of 15 min = 3 min; occupied: not cycled; idle: not cycled; full output: not cycled; half: 8 min
    assert minutes.tolist() == [3, -1, -1, -1, 8]


def test_a_duty_cycled_zone_cools_at_full_output_then_floats_with_its_fan_off(example_site):
    plant = Plant(example_site, "hq", SATURDAY_AFTERNOON_UTC, seed=3, step_s=60)
    auto_mode(plant)
    for zone_id in plant.zone_ids:
        set_setpoints_c(plant, zone_id, 28.0, 16.0)
    plant.step(120)  # the zones settle at the weekend setback
    n = len(plant.zone_ids)
    twin = copy.deepcopy(plant)
    on = np.full(n, -1)
    on[0] = 4
    record = Record()
    step_with_duty_cycle(
        plant,
        record,
        None,
        on_minutes=on,
        cooling_c=[28.0] * n,
        heating_c=[16.0] * n,
        low_c=np.full(n, 21.0),
        high_c=np.full(n, 30.0),
    )
    cooling = np.array(record.cooling_kw)
    assert len(record.times) == MINUTES_PER_STEP
    capacity_kw = plant.capacity_w[0] / 1000.0
    assert np.all(cooling[:4, 0] > 0.5 * capacity_kw)  # full output while on (capacity derated by heat)
    assert np.all(cooling[5:, 0] == 0.0)  # then the zone floats: no cooling, so no fan
    assert plant._outputs["fan_w"][0] == 0.0
    twin_record = Record()
    step_and_record(twin, twin_record, MINUTES_PER_STEP)
    # zones that do not touch z1 (its neighbours z2, z4 feel its cooler air) cool as without the duty cycle
    others = [plant.zone_index(z) for z in ("z3", "z5", "z6")]
    np.testing.assert_allclose(cooling[:, others], np.array(twin_record.cooling_kw)[:, others], atol=1e-9)
