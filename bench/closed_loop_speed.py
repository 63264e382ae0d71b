"""The closed loop's tables built once per run instead of at every re-plan (``bench/closed_loop.py``), with
the same numbers as the per-call code they replace (``tests/bench/test_closed_loop_speed.py`` checks it):
the profile forecasts' (weekday/weekend, time-of-day) tables of the fixed history, and the fallback heating
schedule on the run's plan steps; and ``zone_arrays_from_states``, the reference the plant's fast zone
readings (``closed_loop_setup.zone_arrays``) are checked against."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from closed_loop_setup import PLAN_STEP_S, Learned, fair_baseline_heating_setpoints_c  # noqa: E402

from sbems.optimization.horizon import atypical_days, without_days  # noqa: E402
from sbems.sim.plant import Plant  # noqa: E402


def run_tables(
    plant: Plant, learned: Learned, days: float, skip_atypical: bool = True
) -> tuple[list, SlotProfile, np.ndarray]:
    """(occupancy profile of each zone, other-load profile, fallback heating setpoints (steps, zones)) for a
    run of ``days`` from the plant's time: one row of the fallback table per plan step. ``skip_atypical``:
    the profiles leave out the history's atypical days (``atypical_days`` of the non-HVAC load: holidays
    the schedules do not know), as the production planner does."""
    tz = plant.building.timezone
    skip = atypical_days(learned.other_load_kw, tz) if skip_atypical else None
    occupancy = [SlotProfile(learned.occupancy[z], tz, PLAN_STEP_S, skip) for z in plant.zone_ids]
    steps = int(round(days * 86400 / PLAN_STEP_S))
    return (
        occupancy,
        SlotProfile(learned.other_load_kw, tz, PLAN_STEP_S, skip),
        heating_fallback_table_c(plant, steps),
    )


def heating_fallback_table_c(plant: Plant, steps: int) -> np.ndarray:
    """``heating_fallback_c`` at each of the next ``steps`` 15-min plan steps from the plant's time, at once
    (the schedule is elementwise in time: the same values as one call per step, without the per-call
    pandas overhead), (steps, zones)."""
    start = pd.Timestamp(plant.now_utc)
    times = pd.DatetimeIndex(start + pd.to_timedelta(np.arange(steps) * PLAN_STEP_S, unit="s"))
    return fair_baseline_heating_setpoints_c(plant, times)


class SlotProfile:
    """``sbems.optimization.horizon.slot_profile_forecast(history, times, tz, step_s, skip_days)`` with
    the table built once: mean of ``history`` by (weekday/weekend, local time-of-day slot), looked up at
    ``times``; empty slots fall back to the day-type mean, then to the overall mean (0 when empty). The
    closed loop's history is fixed for the whole run, so rebuilding the table at every re-plan only cost
    time (the same numbers: ``tests/bench/test_closed_loop_speed.py``)."""

    def __init__(
        self, history: pd.Series, tz: str, step_s: int, skip_days: pd.DatetimeIndex | None = None
    ) -> None:
        self.tz, self.step_s = tz, int(step_s)
        values = without_days(history.dropna(), tz, skip_days)
        self.empty = values.empty
        slots = 86_400 // self.step_s + 1
        self.table = np.full((2, slots), np.nan)
        self.by_daytype = np.full(2, np.nan)
        if self.empty:
            return
        index = pd.DatetimeIndex(values.index)
        for (weekend, slot), value in values.groupby(self._keys(index)).mean().items():
            self.table[int(weekend), int(slot)] = value
        weekend = np.asarray(index.tz_convert(tz).dayofweek >= 5)
        for day_type, value in values.groupby(weekend).mean().items():
            self.by_daytype[int(day_type)] = value
        self.overall = float(values.mean())

    def _keys(self, index: pd.DatetimeIndex) -> pd.MultiIndex:
        local = index.tz_convert(self.tz)
        slot = (local.hour * 3600 + local.minute * 60 + local.second) // self.step_s
        return pd.MultiIndex.from_arrays([np.asarray(local.dayofweek >= 5), np.asarray(slot)])

    def __call__(self, times: pd.DatetimeIndex) -> np.ndarray:
        if self.empty:
            return np.zeros(len(times))
        local = pd.DatetimeIndex(times).tz_convert(self.tz)
        weekend = np.asarray(local.dayofweek >= 5, dtype=int)
        slot = np.asarray((local.hour * 3600 + local.minute * 60 + local.second) // self.step_s, dtype=int)
        result = self.table[weekend, slot]
        result = np.where(np.isnan(result), self.by_daytype[weekend], result)
        return np.where(np.isnan(result), self.overall, result)


def zone_arrays_from_states(plant: Plant) -> tuple[np.ndarray, ...]:
    """``zone_arrays`` through ``plant.zone_state`` (the reference the fast read is checked against)."""
    states = [plant.zone_state(z) for z in plant.zone_ids]
    return (
        np.array([s.zone_temp_c for s in states]),
        np.array([s.cooling_kw - s.heating_kw for s in states]),
        np.array([s.electric_kw for s in states]),
        np.array([s.occupancy_count for s in states], dtype=float),
        np.array([s.occupied for s in states]),
    )
