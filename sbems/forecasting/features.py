"""Pure feature builders for forecasting: calendar flags and lagged target values.

All inputs are indexed by an aware UTC ``DatetimeIndex``; calendar fields are taken in the
site's local time zone (``tz``) because schedules and holidays are local.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

import numpy as np
import pandas as pd

CALENDAR_COLUMNS = ("hour_of_week", "hour_of_day", "day_of_week", "is_weekend", "is_holiday", "occupied")


def steps_per_day(freq: str) -> int:
    """Number of regular steps in one day for a pandas frequency string ("h", "15min")."""
    step_s = pd.Timedelta(pd.tseries.frequencies.to_offset(freq)).total_seconds()
    n = 86400.0 / step_s
    if step_s <= 0 or n != int(n):
        raise ValueError(f"freq {freq!r} does not divide a day evenly")
    return int(n)


def calendar_features(
    index: pd.DatetimeIndex,
    tz: str = "UTC",
    holidays_local: Iterable[date] = (),
    occupied: pd.Series | None = None,
) -> pd.DataFrame:
    """Calendar features for each timestamp of ``index`` (aware UTC).

    Columns: ``hour_of_week`` (0 = Monday 00:00 local, 167 = Sunday 23:00; fractional hours for
    sub-hourly steps), ``hour_of_day`` (0-23.75), ``day_of_week`` (0 = Monday), ``is_weekend``,
    ``is_holiday`` (local date in ``holidays_local``) and ``occupied`` (from the given boolean
    schedule aligned on ``index``; when None: 1 on local weekdays 07:00-19:00 that are not holidays).
    Flags are 0/1 floats.
    """
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise ValueError("index must be a timezone-aware DatetimeIndex")
    local = index.tz_convert(tz)
    hour_of_day = local.hour + local.minute / 60.0
    day_of_week = local.dayofweek
    holiday_set = {pd.Timestamp(d).date() for d in holidays_local}
    local_dates = pd.Index(local.date)
    is_holiday = local_dates.isin(list(holiday_set)) if holiday_set else np.zeros(len(index), dtype=bool)
    is_weekend = day_of_week >= 5
    if occupied is None:
        occ = (~is_weekend) & (~np.asarray(is_holiday)) & (hour_of_day >= 7) & (hour_of_day < 19)
        occ_values = np.asarray(occ, dtype=float)
    else:
        aligned = occupied.reindex(index)
        if aligned.isna().any():
            raise ValueError("occupied schedule does not cover every timestamp of index")
        occ_values = aligned.astype(bool).to_numpy(dtype=float)
    return pd.DataFrame(
        {
            "hour_of_week": np.asarray(day_of_week * 24 + hour_of_day, dtype=float),
            "hour_of_day": np.asarray(hour_of_day, dtype=float),
            "day_of_week": np.asarray(day_of_week, dtype=float),
            "is_weekend": np.asarray(is_weekend, dtype=float),
            "is_holiday": np.asarray(is_holiday, dtype=float),
            "occupied": occ_values,
        },
        index=index,
    )


def lag_features(
    y: pd.Series, lags_steps: Sequence[int], index: pd.DatetimeIndex | None = None
) -> pd.DataFrame:
    """Lagged values of ``y`` (regular index) as columns ``lag_{k}``: ``lag_k[t] = y[t - k steps]``.

    ``index`` may extend past the end of ``y`` (future rows); values not available are NaN.
    The step is taken from ``y.index.freq`` (or inferred).
    """
    step = _step_of(y.index)
    target_index = y.index if index is None else index
    out = {}
    for k in lags_steps:
        if k <= 0:
            raise ValueError("lags must be positive steps")
        out[f"lag_{k}"] = y.reindex(target_index - k * step).to_numpy(dtype=float)
    return pd.DataFrame(out, index=target_index)


def hour_of_day_onehot(calendar: pd.DataFrame, steps_in_day: int) -> pd.DataFrame:
    """One-hot columns ``hod_{i}`` of the (integer) local hour of day; for linear regressors."""
    hours = np.floor(calendar["hour_of_day"].to_numpy()).astype(int)
    n_hours = min(24, steps_in_day)
    data = {f"hod_{h}": (hours == h).astype(float) for h in range(n_hours)}
    return pd.DataFrame(data, index=calendar.index)


def _step_of(index: pd.DatetimeIndex) -> pd.Timedelta:
    """The regular step of an index (from freq, else inferred, else the median difference)."""
    if index.freq is not None:
        return pd.Timedelta(index.freq)
    inferred = pd.infer_freq(index) if len(index) >= 3 else None
    if inferred is not None:
        return pd.Timedelta(pd.tseries.frequencies.to_offset(inferred))
    if len(index) < 2:
        raise ValueError("cannot infer the step of an index with fewer than 2 timestamps")
    return pd.Timedelta(np.median(np.diff(index.asi8)), unit="ns")
