"""Analytics for the HTTP API over the panel's history use case (``services.history.read_history``):
building energy (power series and energy per local day), cost (energy and demand charges per day, from
the building's tariff), zone temperature history, a comparison across buildings, and a building's energy
summary. Rows are plain dicts, JSON-ready (NaN -> None), times aware UTC in ISO 8601.

Time ranges: ``start_utc`` < ``end_utc`` <= now + 5 min, at most ``MAX_RANGE_DAYS``; the power bin is
5 min up to a day, 30 min up to a week, 1 h beyond (``services.history.display_bin_s``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd

from sbems.services.history import HistoryView, read_history

MAX_RANGE_DAYS = 31
MAX_SKEW = timedelta(minutes=5)
MAX_AGE = timedelta(days=10 * 365)  # stored history is far shorter; pandas times end in 1677


class RangeError(ValueError):
    """A time range the analytics do not serve."""


@dataclass(frozen=True)
class TimeRange:
    start_utc: datetime
    end_utc: datetime

    @property
    def hours(self) -> float:
        return (self.end_utc - self.start_utc).total_seconds() / 3600.0


def time_range(
    start_utc: datetime | None,
    end_utc: datetime | None,
    *,
    default_h: float = 24,
    now_utc: datetime | None = None,
) -> TimeRange:
    """The range asked for (defaults: the last ``default_h`` hours up to now); ``RangeError`` when invalid."""
    now_utc = now_utc or datetime.now(UTC)
    for value in (start_utc, end_utc):
        if value is not None and value.tzinfo is None:
            raise RangeError("times need a UTC offset (e.g. 2026-11-30T00:00:00Z)")
    try:
        end = (end_utc or now_utc).astimezone(UTC)
        start = (start_utc or end - timedelta(hours=default_h)).astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise RangeError(f"time out of range: {exc}") from None
    if start < now_utc - MAX_AGE:
        raise RangeError(f"start lies more than {MAX_AGE.days // 365} years back")
    if end > now_utc + MAX_SKEW:
        raise RangeError("end lies in the future")
    if start >= end:
        raise RangeError("start must be before end")
    if end - start > timedelta(days=MAX_RANGE_DAYS):
        raise RangeError(f"a range spans at most {MAX_RANGE_DAYS} days")
    return TimeRange(start, end)


def _clean(value):
    if value is None:
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime().astimezone(UTC).isoformat()
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if hasattr(value, "isoformat"):  # a date
        return value.isoformat()
    if isinstance(value, float) or hasattr(value, "dtype"):
        number = float(value)
        return None if math.isnan(number) else round(number, 4)
    return value


def frame_rows(frame: pd.DataFrame) -> list[dict]:
    """A frame as JSON-ready rows (pure)."""
    return [{k: _clean(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _total(frame: pd.DataFrame, column: str) -> float | None:
    if frame.empty or column not in frame or frame[column].isna().all():
        return None
    return round(float(frame[column].sum()), 4)


def _history(database_url: str, building_key: str, timezone: str, span: TimeRange) -> HistoryView:
    return read_history(database_url, building_key, timezone, range_h=span.hours, now_utc=span.end_utc)


def energy_consumption(database_url: str, building_key: str, timezone: str, span: TimeRange) -> dict:
    """Building power per bin and energy per local day (kWh) over the range, with the totals."""
    view = _history(database_url, building_key, timezone, span)
    power = view.power[["time_utc", "power_kw"]]
    daily = view.daily[["date", "energy_kwh"]]
    return {
        "building_id": building_key,
        "start": _clean(span.start_utc),
        "end": _clean(span.end_utc),
        "timezone": timezone,
        "power": frame_rows(power),
        "daily": frame_rows(daily),
        "energy_kwh": _total(daily, "energy_kwh"),
        "peak_kw": None if power.empty else round(float(power["power_kw"].max()), 4),
        "notes": view.notes,
    }


def energy_cost(database_url: str, building_key: str, timezone: str, span: TimeRange) -> dict:
    """Energy and demand charges per local day (USD) and the month's billing peaks, from the tariff."""
    view = _history(database_url, building_key, timezone, span)
    daily = view.daily
    return {
        "building_id": building_key,
        "start": _clean(span.start_utc),
        "end": _clean(span.end_utc),
        "timezone": timezone,
        "tariff": view.tariff_name,
        "daily": frame_rows(daily),
        "energy_kwh": _total(daily, "energy_kwh"),
        "energy_usd": _total(daily, "energy_usd"),
        "demand_usd": _total(daily, "demand_usd"),
        "total_usd": _total(daily, "total_usd"),
        "billing_peaks": [
            {"charge": p.charge, "usd_per_kw": p.usd_per_kw, "peak_kw": p.peak_kw, "time": _clean(p.time_utc)}
            for p in view.peaks
        ],
        "notes": view.notes,
    }


def temperature_history(
    database_url: str, building_key: str, zone_key: str, timezone: str, span: TimeRange
) -> dict:
    """A zone's temperature and setpoint per bin with its comfort band, and the share of time in it."""
    view = _history(database_url, building_key, timezone, span)
    frame = view.temperatures[view.temperatures["zone"] == zone_key].drop(columns=["zone"])
    known = frame.dropna(subset=["temperature_c"])
    inside = known[
        (known["temperature_c"] >= known["comfort_min_c"])
        & (known["temperature_c"] <= known["comfort_max_c"])
    ]
    return {
        "zone_id": f"{building_key}.{zone_key}",
        "start": _clean(span.start_utc),
        "end": _clean(span.end_utc),
        "points": frame_rows(frame),
        "mean_temperature_c": None if known.empty else round(float(known["temperature_c"].mean()), 3),
        "in_comfort_pct": None if known.empty else round(100.0 * len(inside) / len(known), 2),
    }


def comparison(database_url: str, buildings: list[tuple[str, str]], span: TimeRange) -> list[dict]:
    """Per building (key, timezone): energy, cost, peak and mean power over the same range."""
    rows = []
    for key, timezone in buildings:
        view = _history(database_url, key, timezone, span)
        power = view.power["power_kw"]
        rows.append(
            {
                "building_id": key,
                "energy_kwh": _total(view.daily, "energy_kwh"),
                "total_usd": _total(view.daily, "total_usd"),
                "peak_kw": None if power.empty else round(float(power.max()), 4),
                "mean_kw": None if power.empty else round(float(power.mean()), 4),
            }
        )
    return rows


def energy_summary(
    database_url: str, building_key: str, timezone: str, *, now_utc: datetime | None = None
) -> dict:
    """The last 7 days: energy and cost per local day, totals, and the latest building power."""
    now_utc = now_utc or datetime.now(UTC)
    span = TimeRange(now_utc - timedelta(days=7), now_utc)
    cost = energy_cost(database_url, building_key, timezone, span)
    view = _history(database_url, building_key, timezone, TimeRange(now_utc - timedelta(hours=1), now_utc))
    latest = view.power.iloc[-1] if not view.power.empty else None
    return {
        **{k: cost[k] for k in ("building_id", "start", "end", "timezone", "tariff", "daily", "notes")},
        "energy_kwh_7d": cost["energy_kwh"],
        "total_usd_7d": cost["total_usd"],
        "latest_power_kw": None if latest is None else _clean(latest["power_kw"]),
        "latest_power_at": None if latest is None else _clean(latest["time_utc"]),
    }
