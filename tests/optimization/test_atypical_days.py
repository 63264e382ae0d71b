"""Atypical days (holidays the schedules do not know) found in a building-level history and left out of
the slot profiles the planner forecasts occupancy and the non-HVAC load with."""

import numpy as np
import pandas as pd

from sbems.optimization.horizon import atypical_days, slot_profile_forecast, without_days

TZ = "America/New_York"


def _office_load_kw(days: int = 21, holidays: tuple[str, ...] = ()) -> pd.Series:
    """15-min non-HVAC load: 50 kW in weekday office hours, 20 kW otherwise; ``holidays`` (local dates)
    stay at 20 kW all day, as a weekend does."""
    index = pd.date_range("2026-06-13", periods=days * 96, freq="15min", tz=TZ)
    office = (index.dayofweek < 5) & (index.hour >= 9) & (index.hour < 18)
    office &= ~np.isin(index.strftime("%Y-%m-%d"), list(holidays))
    rng = np.random.default_rng(0)
    load = np.where(office, 50.0, 20.0) + rng.normal(0.0, 1.0, len(index))
    return pd.Series(load, index=index.tz_convert("UTC"))


def test_holidays_on_weekdays_are_atypical_and_normal_days_are_not():
    history = _office_load_kw(holidays=("2026-06-19", "2026-07-03"))
    found = atypical_days(history, TZ)
    assert [d.strftime("%Y-%m-%d") for d in found] == ["2026-06-19", "2026-07-03"]
    assert str(found.tz) == TZ
    assert len(atypical_days(_office_load_kw(), TZ)) == 0


def test_partial_days_and_short_day_types_are_left_alone():
    history = _office_load_kw(holidays=("2026-06-19",))
    # the last day cut at 06:00: a partial day is not judged, however low its mean
    cut = history[history.index < pd.Timestamp("2026-07-03 06:00", tz=TZ)]
    assert [d.strftime("%Y-%m-%d") for d in atypical_days(cut, TZ)] == ["2026-06-19"]
    # two days of history: no day type has the three whole days a median needs
    assert len(atypical_days(_office_load_kw(days=2), TZ)) == 0
    empty = pd.Series([], index=pd.DatetimeIndex([], tz="UTC"), dtype=float)
    assert len(atypical_days(empty, TZ)) == 0


def test_profile_without_the_holidays_keeps_the_weekday_level():
    history = _office_load_kw(holidays=("2026-06-19", "2026-07-03"))
    noon = pd.DatetimeIndex([pd.Timestamp("2026-07-06 12:00", tz=TZ).tz_convert("UTC")])  # a Monday
    with_holidays = slot_profile_forecast(history, noon, TZ, 900)[0]
    skipped = slot_profile_forecast(history, noon, TZ, 900, atypical_days(history, TZ))[0]
    assert abs(skipped - 50.0) < 1.0  # the 13 ordinary weekdays' level
    assert with_holidays < skipped - 3.0  # two holidays in fifteen weekdays pull it down by ~4 kW
    kept = without_days(history, TZ, atypical_days(history, TZ))
    assert len(kept) == len(history) - 2 * 96
