"""A weather forecast as SBEMS stores it, and the strict checks every provider's parse ends with.

A forecast is whole or refused: one row per valid UTC hour, no gap, no duplicate, no NaN, values in
physical ranges, covering the hours the caller needs. Anything else raises :class:`WeatherRefused`
with the reason (the weather flow quarantines the body with it); nothing partial is ever returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

FORECAST_COLUMNS = (
    "temperature_c",
    "relative_humidity_pct",
    "ghi_w_m2",
    "dni_w_m2",
    "dhi_w_m2",
    "cloud_cover_pct",
)
# physical plausibility per column (inclusive); outside it the whole forecast is refused
VALID_RANGES = {
    "temperature_c": (-90.0, 60.0),
    "relative_humidity_pct": (0.0, 100.0),
    "ghi_w_m2": (0.0, 1500.0),
    "dni_w_m2": (0.0, 1500.0),
    "dhi_w_m2": (0.0, 1000.0),
    "cloud_cover_pct": (0.0, 100.0),
}
HOUR = pd.Timedelta(hours=1)


class WeatherRefused(ValueError):
    """A provider's answer that cannot be used; ``reason`` says why, ``payload`` is what was received."""

    def __init__(self, source: str, reason: str, payload: bytes = b"") -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason
        self.payload = payload


@dataclass(frozen=True)
class WeatherForecast:
    """One issue of a provider's forecast: ``hours`` is indexed by valid hour (UTC) with FORECAST_COLUMNS."""

    source: str
    issued_at: datetime
    hours: pd.DataFrame

    @property
    def horizon_h(self) -> float:
        """Hours from the issue time to the last valid hour."""
        return (self.hours.index[-1] - pd.Timestamp(self.issued_at)) / HOUR

    def summary(self) -> dict:
        return {
            "source": self.source,
            "issued_at": self.issued_at.isoformat(),
            "first_valid_at": self.hours.index[0].isoformat(),
            "last_valid_at": self.hours.index[-1].isoformat(),
            "hours": len(self.hours),
            "horizon_h": round(self.horizon_h, 1),
        }


def checked_forecast(
    source: str,
    issued_at: datetime,
    hours: pd.DataFrame,
    needed_from_utc: datetime,
    needed_until_utc: datetime,
    payload: bytes = b"",
) -> WeatherForecast:
    """The forecast if ``hours`` is whole and covers [the hour of needed_from_utc, needed_until_utc] (the
    fetch time and the horizon the caller needs); else WeatherRefused."""

    def refuse(reason: str) -> WeatherRefused:
        return WeatherRefused(source, reason, payload)

    if issued_at.tzinfo is None or needed_from_utc.tzinfo is None or needed_until_utc.tzinfo is None:
        raise ValueError("issued_at, needed_from_utc and needed_until_utc must be timezone-aware")
    if hours.empty:
        raise refuse("no hours in the forecast")
    missing = [c for c in FORECAST_COLUMNS if c not in hours.columns]
    if missing:
        raise refuse(f"missing columns {missing}")
    index = hours.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise refuse("valid times are not timezone-aware instants")
    index = index.tz_convert("UTC")
    if index.has_duplicates:
        raise refuse(f"duplicated hours: {sorted({t.isoformat() for t in index[index.duplicated()]})[:3]}")
    if not index.is_monotonic_increasing:
        raise refuse("valid hours are not in order")
    if (index != index.floor("h")).any():
        raise refuse("valid times are not whole UTC hours")
    gaps = np.flatnonzero(np.asarray(index[1:] - index[:-1]) != HOUR.to_timedelta64())
    if len(gaps):
        raise refuse(f"missing hours after {index[gaps[0]].isoformat()}")
    values = hours[list(FORECAST_COLUMNS)].astype(float)
    for column in FORECAST_COLUMNS:
        series = values[column].to_numpy()
        if not np.isfinite(series).all():
            where = index[~np.isfinite(series)][0].isoformat()
            raise refuse(f"{column} is NaN or missing at {where}")
        low, high = VALID_RANGES[column]
        if (series < low).any() or (series > high).any():
            raise refuse(f"{column} outside [{low:g}, {high:g}]: {series.min():g}..{series.max():g}")
    first_needed = pd.Timestamp(needed_from_utc).tz_convert("UTC").floor("h")
    if index[0] > first_needed:
        raise refuse(f"starts {index[0].isoformat()}, after the first hour needed {first_needed.isoformat()}")
    if index[-1] < pd.Timestamp(needed_until_utc):
        needed = needed_until_utc.astimezone(UTC).isoformat()
        raise refuse(f"too short: ends {index[-1].isoformat()}, needed until {needed}")
    values.index = index
    values.index.name = "valid_at"
    return WeatherForecast(source, issued_at.astimezone(UTC), values)


def forecast_from_rows(source: str, issued_at: datetime, rows: list[tuple]) -> WeatherForecast:
    """A stored issue back as a forecast: ``rows`` are (valid_at, *FORECAST_COLUMNS) in valid-hour order."""
    frame = pd.DataFrame(rows, columns=["valid_at", *FORECAST_COLUMNS]).set_index("valid_at")
    frame.index = pd.DatetimeIndex(frame.index).tz_convert("UTC")
    return WeatherForecast(source, issued_at.astimezone(UTC), frame.astype(float))
