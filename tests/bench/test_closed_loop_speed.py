"""The closed loop's fast paths give the numbers of the slow ones they replace (bench/closed_loop_setup.py):
the plant's zone readings read as arrays, the profile forecasts with their table built once, and the
fallback heating schedule computed for the whole run at once."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import numpy as np
import pandas as pd

BENCH = Path(__file__).resolve().parents[2] / "bench"
for path in (str(BENCH.parent), str(BENCH)):
    if path not in sys.path:
        sys.path.insert(0, path)

from closed_loop_setup import heating_fallback_c, set_setpoints_c, zone_arrays  # noqa: E402
from closed_loop_speed import SlotProfile, heating_fallback_table_c, zone_arrays_from_states  # noqa: E402

from sbems.optimization.horizon import slot_profile_forecast  # noqa: E402
from sbems.sim.plant import Plant  # noqa: E402
from sbems.sim.realism import Realism  # noqa: E402

SUMMER_MORNING_UTC = dt.datetime(2026, 7, 10, 10, 0, tzinfo=dt.UTC)  # 06:00 EDT: units start, people come
WINTER_MORNING_UTC = dt.datetime(2026, 1, 20, 10, 0, tzinfo=dt.UTC)


def test_zone_arrays_read_what_zone_state_reports(example_site):
    for start in (SUMMER_MORNING_UTC, WINTER_MORNING_UTC):
        plant = Plant(example_site, "hq", start, seed=3, step_s=60, realism=Realism(seed=3))
        rng = np.random.default_rng(0)
        compared = 0
        for minute in range(240):
            if minute % 15 == 0:  # setpoint commands too, so that units cool, heat and idle
                for zone_id in plant.zone_ids:
                    value = float(rng.uniform(19.0, 27.0))
                    set_setpoints_c(plant, zone_id, value, value - 1.0)
            plant.step(1)
            fast, slow = zone_arrays(plant), zone_arrays_from_states(plant)
            for a, b in zip(fast, slow, strict=True):
                np.testing.assert_array_equal(a, b)
                assert a.dtype == b.dtype
            compared += 1
        states = zone_arrays(plant)
        assert compared == 240 and states[3].sum() > 0  # people came in: the occupants column is exercised


def test_slot_profile_gives_slot_profile_forecast(example_site):
    tz = example_site.building("hq").timezone
    index = pd.date_range("2026-06-01", periods=21 * 96, freq="15min", tz="UTC")
    rng = np.random.default_rng(1)
    history = pd.Series(rng.uniform(0.0, 20.0, len(index)), index=index)
    history.iloc[rng.integers(0, len(index), 300)] = np.nan  # gaps
    history = history[~((index.hour == 3) & (index.dayofweek >= 5))]  # slots with no history at all
    profile = SlotProfile(history, tz, 900)
    skip = pd.DatetimeIndex(["2026-06-03", "2026-06-13"]).tz_localize(tz)  # a weekday and a Saturday
    skipping = SlotProfile(history, tz, 900, skip)
    for start in ("2026-06-22 04:07", "2026-06-27 00:00", "2026-07-04 12:30"):
        times = pd.date_range(start, periods=500, freq="15min", tz="UTC")
        np.testing.assert_array_equal(profile(times), slot_profile_forecast(history, times, tz, 900))
        expected = slot_profile_forecast(history, times, tz, 900, skip)
        np.testing.assert_array_equal(skipping(times), expected)
        assert not np.array_equal(expected, profile(times))  # the skipped days did count
    empty = pd.Series([], index=pd.DatetimeIndex([], tz="UTC"), dtype=float)
    np.testing.assert_array_equal(SlotProfile(empty, tz, 900)(index[:5]), np.zeros(5))


def test_heating_fallback_table_matches_one_call_per_step(example_site):
    plant = Plant(example_site, "hq", WINTER_MORNING_UTC - dt.timedelta(hours=8), seed=0, step_s=60)
    table = heating_fallback_table_c(plant, 96)
    for step in (0, 20, 33, 47, 95):
        now = pd.Timestamp(plant.now_utc) + pd.Timedelta(seconds=900 * step)
        np.testing.assert_array_equal(table[step], heating_fallback_c(plant, now))
    assert len(np.unique(table)) > 1  # the schedule changes within the day
