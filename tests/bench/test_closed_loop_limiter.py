"""The bench's demand limiter on the real plant (bench/closed_loop_limiter.py): with nothing to shed it steps
exactly as ``step_and_record`` does; with a target under the building's kW it sheds, the interval's mean
drops, and no setpoint leaves the band."""

from __future__ import annotations

import copy
import datetime as dt
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parents[2] / "bench"
for path in (str(BENCH.parent), str(BENCH)):
    if path not in sys.path:
        sys.path.insert(0, path)

from closed_loop_limiter import step_with_limiter  # noqa: E402
from closed_loop_setup import MINUTES_PER_STEP, Record, auto_mode, set_setpoints_c, step_and_record  # noqa: E402

from sbems.sim.plant import Plant  # noqa: E402
from sbems.sim.realism import Realism, Sensors  # noqa: E402

SUMMER_AFTERNOON_UTC = dt.datetime(2026, 7, 10, 17, 0, tzinfo=dt.UTC)  # 13:00 EDT, occupied, cooling


@dataclass
class _Plan:  # the fields of sbems.optimization.plan.Plan the limiter reads
    building_electric_kw: np.ndarray
    cooling_kw: np.ndarray
    heat_pump_kw: np.ndarray
    backup_heat_kw: np.ndarray
    ok: bool = True


@dataclass
class _Problem:
    demand_masks: np.ndarray
    cop: np.ndarray
    heating_cop: float = 3.0


@dataclass
class _Bands:
    scheduled_c: np.ndarray
    scheduled_heating_c: np.ndarray
    comfort_max_c: np.ndarray
    comfort_min_c: np.ndarray
    limit_max_c: np.ndarray


def _setup(example_site):
    realism = Realism(seed=5)
    plant = Plant(example_site, "hq", SUMMER_AFTERNOON_UTC, seed=5, step_s=60, realism=realism)
    auto_mode(plant)
    sensors = Sensors(realism, len(plant.zone_ids))
    for zone_id in plant.zone_ids:
        set_setpoints_c(plant, zone_id, 22.0, 20.0)  # cooling hard, so there is load to shed
    plant.step(30)
    n = len(plant.zone_ids)
    cooling_kw = np.full((n, 1), 6.0)  # the plan's cooling, thermal kW per zone
    plan = _Plan(np.array([0.0]), cooling_kw, np.zeros((n, 1)), np.zeros((n, 1)))
    problem = _Problem(np.ones((2, 1), dtype=bool), np.array([3.0]))
    bands = _Bands(
        np.full((n, 1), 24.0),
        np.full((n, 1), 21.0),
        np.full((n, 1), 25.0),
        np.full((n, 1), 21.0),
        np.full(n, 30.0),
    )
    return plant, sensors, plan, problem, bands


def _limited(plant, sensors, plan, problem, bands, reached_kw, stats):
    record = Record()
    n = len(plant.zone_ids)
    means = step_with_limiter(
        plant,
        record,
        sensors,
        plan=plan,
        problem=problem,
        bands=bands,
        reached_kw=reached_kw,
        cooling_c=[22.0] * n,
        heating_c=[20.0] * n,
        temps_c=np.array(plant.temp_air_c),
        edge_margin_c=0.15,
        deadband_kw=0.5,
        stats=stats,
    )
    return record, means


def test_nothing_to_shed_steps_as_step_and_record(example_site):
    plant, sensors, plan, problem, bands = _setup(example_site)
    twin, twin_sensors = copy.deepcopy(plant), copy.deepcopy(sensors)
    stats: dict = {}
    record, means = _limited(plant, sensors, plan, problem, bands, [1e6, 1e6], stats)
    expected = Record()
    expected_means = step_and_record(twin, expected, MINUTES_PER_STEP, twin_sensors)
    assert record.measured_power_kw == expected.measured_power_kw
    assert record.power_kw == expected.power_kw
    for key, value in expected_means.items():
        np.testing.assert_allclose(means[key], value, rtol=1e-12, atol=1e-12)
    assert stats["limiter"]["intervals_shed"] == 0 and stats["limiter"]["minutes_shed"] == 0


def test_a_target_under_the_load_sheds_within_the_band(example_site):
    plant, sensors, plan, problem, bands = _setup(example_site)
    free, free_sensors = copy.deepcopy(plant), copy.deepcopy(sensors)
    free_record = Record()
    step_and_record(free, free_record, MINUTES_PER_STEP, free_sensors)
    free_mean_kw = float(np.mean(free_record.power_kw))
    stats: dict = {}
    target_kw = free_mean_kw - 5.0
    record, _ = _limited(plant, sensors, plan, problem, bands, [target_kw, target_kw], stats)
    log = stats["limiter"]
    assert log["intervals_shed"] == 1 and log["minutes_shed"] > 0 and log["shed_kw_max"] > 0
    assert float(np.mean(record.power_kw)) < free_mean_kw - 1.0  # the interval's true mean came down
    setpoints = np.array([plant._controls.override_c[plant.zone_index(z)] for z in plant.zone_ids])
    assert np.all(setpoints <= 25.0 - 0.15 + 1e-9) and np.any(setpoints > 22.0)
