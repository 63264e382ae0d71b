"""Dual setpoints in schedules: the heating setpoint schedule and the units' fixed early start."""

import pandas as pd

from sbems.domain.schedule import (
    OccupiedPeriod,
    WeeklySchedule,
    occupied_mask,
    scheduled_heating_setpoints_c,
    scheduled_setpoints_c,
)

TZ = "America/New_York"


def _schedule(**kw):
    period = OccupiedPeriod(days=["mon", "tue", "wed", "thu", "fri"], start="07:00", end="19:00")
    return WeeklySchedule(id="s", name="s", occupied=[period], mode="auto", **kw)


def _times(*local):
    return pd.DatetimeIndex([pd.Timestamp(t, tz=TZ) for t in local]).tz_convert("UTC")


def test_heating_setpoints_follow_occupancy_and_early_starts_lead_it():
    schedule = _schedule(cooling_early_start_min=60, heating_early_start_min=120)
    times = _times("2026-01-12 04:59", "2026-01-12 05:00", "2026-01-12 06:30", "2026-01-12 07:00",
                   "2026-01-12 19:00", "2026-01-10 06:00")  # fmt: skip
    assert list(occupied_mask(schedule, times, TZ)) == [False, False, False, True, False, False]
    assert list(scheduled_heating_setpoints_c(schedule, times, TZ)) == [16, 21, 21, 21, 16, 16]
    assert list(scheduled_setpoints_c(schedule, times, TZ)) == [28, 28, 23, 23, 28, 28]


def test_without_early_start_the_setpoints_change_with_occupancy():
    schedule = _schedule()
    times = _times("2026-01-12 06:59", "2026-01-12 07:00")
    assert list(scheduled_heating_setpoints_c(schedule, times, TZ)) == [16, 21]
    assert list(scheduled_setpoints_c(schedule, times, TZ)) == [28, 23]
