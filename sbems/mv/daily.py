"""Daily inputs of the M&V models (pure): energy per local day from a power series, daily means, day types.

``daily_energy_kwh`` holds each sample until the next one, for at most ``max_gap_s`` (a longer gap is
missing data) and splits the held time at the building's *local* midnights; ``max_gap_for_interval_s``
derives that gap from the meter's own sampling interval, so 15-minute, hourly and daily meters all work.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

import numpy as np
import pandas as pd

GAP_TOLERANCE = 1.5  # a sample holds for 1.5 of the meter's interval before the gap counts as missing


def day_types(dates: Sequence[date], holidays: Iterable[date] = ()) -> np.ndarray:
    """'weekend' for Saturdays, Sundays and holidays, else 'weekday'."""
    off = set(holidays)
    return np.array(["weekend" if d.weekday() >= 5 or d in off else "weekday" for d in dates], dtype=object)


def daily_energy_kwh(
    power_kw: pd.Series, tz: str, max_gap_s: float = 900.0, price_usd_per_kwh: np.ndarray | None = None
) -> pd.DataFrame:
    """Energy per local calendar day of one meter's power series (aware UTC index).

    Each sample holds until the next sample, for at most ``max_gap_s`` (the last sample holds
    ``max_gap_s``). Returns a frame indexed by local date with ``energy_kwh``, ``covered_s`` (seconds of the
    day the integral covers), ``day_s`` (length of the local day: 82800/86400/90000 across DST) and, when
    ``price_usd_per_kwh`` (one price per sample, applied to its held energy) is given, ``energy_usd``.
    """
    if not isinstance(power_kw.index, pd.DatetimeIndex) or power_kw.index.tz is None:
        raise ValueError("power_kw must have a timezone-aware DatetimeIndex")
    if max_gap_s <= 0 or max_gap_s >= 86400:
        raise ValueError("max_gap_s must be in (0, 86400)")
    prices = (
        None
        if price_usd_per_kwh is None
        else pd.Series(np.asarray(price_usd_per_kwh, dtype=float), index=power_kw.index)
    )
    series = power_kw.dropna().sort_index()
    series = series[~series.index.duplicated(keep="last")]
    columns = ["energy_kwh", "covered_s", "day_s"] + ([] if prices is None else ["energy_usd"])
    if series.empty:
        return pd.DataFrame(columns=columns, index=pd.Index([], name="date"), dtype=float)
    start = series.index.tz_convert("UTC").as_unit("ns")
    gap = pd.Timedelta(seconds=max_gap_s)
    following = start[1:].append(pd.DatetimeIndex([start[-1] + gap]))
    held_until = pd.DatetimeIndex(np.minimum(following.asi8, (start + gap).asi8), tz="UTC")
    local = start.tz_convert(tz)
    day = local.normalize()
    next_midnight = (
        (day.tz_localize(None) + pd.Timedelta(days=1)).tz_localize(tz).tz_convert("UTC").as_unit("ns")
    )
    first_s = (np.minimum(held_until.asi8, next_midnight.asi8) - start.asi8) / 1e9
    second_s = np.maximum(held_until.asi8 - next_midnight.asi8, 0) / 1e9  # spills into the next day
    power = series.to_numpy(dtype=float)
    this_date = pd.Index(day.date)
    next_date = pd.Index((day.tz_localize(None) + pd.Timedelta(days=1)).date)
    kwh = np.concatenate([power * first_s, power * second_s]) / 3600.0
    parts = pd.DataFrame(
        {"date": np.concatenate([this_date, next_date]), "kwh": kwh, "s": np.concatenate([first_s, second_s])}
    )
    if prices is not None:
        price = prices[~prices.index.duplicated(keep="last")].reindex(series.index).to_numpy(dtype=float)
        parts["usd"] = kwh * np.concatenate([price, price])
    grouped = parts[parts["s"] > 0].groupby("date").sum()
    days = pd.Index(grouped.index, name="date")
    midnights = pd.DatetimeIndex(pd.to_datetime(list(days))).tz_localize(tz)
    day_s = ((midnights.tz_localize(None) + pd.Timedelta(days=1)).tz_localize(tz) - midnights).total_seconds()
    frame = pd.DataFrame(
        {
            "energy_kwh": grouped["kwh"].to_numpy(),
            "covered_s": grouped["s"].to_numpy(),
            "day_s": np.asarray(day_s, dtype=float),
        },
        index=days,
    )
    if prices is not None:
        frame["energy_usd"] = grouped["usd"].to_numpy()
    return frame


def daily_mean(series: pd.Series, tz: str) -> pd.Series:
    """Mean of a series per local calendar day (e.g. outdoor temperature), indexed by local date."""
    local_dates = series.index.tz_convert(tz).date
    means = series.groupby(local_dates).mean()
    means.index = pd.Index(means.index, name="date")
    return means


def max_gap_for_interval_s(times: pd.DatetimeIndex, default_s: float = 900.0) -> float:
    """How long a sample of this meter holds: 1.5 times its median sampling interval (``default_s`` with
    fewer than two samples), capped just below a day (``daily_energy_kwh`` needs a gap < 86400 s)."""
    if len(times) < 2:
        return default_s
    steps_s = np.diff(np.sort(times.as_unit("ns").asi8)) / 1e9
    steps_s = steps_s[steps_s > 0]
    if steps_s.size == 0:
        return default_s
    return float(min(GAP_TOLERANCE * float(np.median(steps_s)), 86_399.0))
