"""Typical-year weather from a TMY3 file that pvlib ships offline (the demo's weather and the fallback).

A TMY3 year is 8760 hourly records in the station's local *standard* time, each labelled with the
end of its hour. We map any requested UTC instant onto that typical year by its position in the
(standard-time) year, ignoring the calendar year; 29 February reuses 28 February. Temperature and
humidity are taken as instantaneous at the label; irradiance is an hour average, placed at the
middle of its hour. Values between records are linearly interpolated (cyclic over the year end).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

HOURS_PER_YEAR = 8760


@dataclass(frozen=True)
class TypicalYear:
    """One station's typical year as plain arrays (index 0 = the hour ending 01:00 on 1 January)."""

    station_file: str
    station_name: str
    latitude: float
    longitude: float
    utc_offset_h: float
    temp_c: np.ndarray
    ghi_w_m2: np.ndarray
    relative_humidity_pct: np.ndarray


def resolve_station_file(station_file: str) -> Path:
    """Path of a TMY3 file: an existing path as given, else a file in pvlib's data directory."""
    path = Path(station_file)
    if path.is_file():
        return path
    import pvlib

    shipped = Path(pvlib.__file__).parent / "data" / station_file
    if not shipped.is_file():
        raise FileNotFoundError(f"TMY3 file {station_file!r} is neither a path nor shipped in pvlib/data")
    return shipped


@lru_cache(maxsize=8)
def read_typical_year(station_file: str = "723170TYA.CSV") -> TypicalYear:
    """Read a TMY3 file with ``pvlib.iotools.read_tmy3`` (cached per file)."""
    from pvlib.iotools import read_tmy3

    data, meta = read_tmy3(str(resolve_station_file(station_file)), coerce_year=1990, map_variables=True)
    # coerce_year puts the last record (hour ending 24:00 on 31 Dec) into 1990 too, so sort by
    # position in file rather than by index: the file order is the year order.
    if len(data) != HOURS_PER_YEAR:
        raise ValueError(f"{station_file}: expected {HOURS_PER_YEAR} hourly records, got {len(data)}")
    return TypicalYear(
        station_file=station_file,
        station_name=str(meta.get("Name", "")).strip('"'),
        latitude=float(meta["latitude"]),
        longitude=float(meta["longitude"]),
        utc_offset_h=float(meta["TZ"]),
        temp_c=data["temp_air"].to_numpy(dtype=float),
        ghi_w_m2=data["ghi"].to_numpy(dtype=float),
        relative_humidity_pct=data["relative_humidity"].to_numpy(dtype=float),
    )


def typical_year_hours(year: TypicalYear, times_utc: pd.DatetimeIndex) -> np.ndarray:
    """Position of each UTC instant in the typical year, in hours after 1 Jan 00:00 standard time."""
    if times_utc.tz is None:
        raise ValueError("times_utc must be timezone-aware")
    utc = times_utc.tz_convert("UTC")
    local_std = utc.tz_localize(None) + pd.Timedelta(hours=year.utc_offset_h)
    jan1 = pd.to_datetime(local_std.year.astype(str) + "-01-01")
    hours = (local_std - jan1) / pd.Timedelta(hours=1)
    hours = np.asarray(hours, dtype=float)
    leap = np.asarray(local_std.is_leap_year, dtype=bool)
    hours = np.where(leap & (hours >= 59 * 24), hours - 24.0, hours)
    return np.mod(hours, HOURS_PER_YEAR)


def weather_at(year: TypicalYear, times_utc: pd.DatetimeIndex) -> pd.DataFrame:
    """Outdoor temperature, GHI and relative humidity at each UTC instant (the typical-year "forecast")."""
    hours = typical_year_hours(year, times_utc)
    label_h = np.arange(1, HOURS_PER_YEAR + 1, dtype=float)  # instantaneous values at the hour label
    mid_h = label_h - 0.5  # hour-average irradiance at the middle of its hour
    temp_c = np.interp(hours, label_h, year.temp_c, period=HOURS_PER_YEAR)
    ghi = np.interp(hours, mid_h, year.ghi_w_m2, period=HOURS_PER_YEAR)
    rh = np.interp(hours, label_h, year.relative_humidity_pct, period=HOURS_PER_YEAR)
    return pd.DataFrame(
        {
            "outdoor_temp_c": temp_c,
            "ghi_w_m2": np.maximum(ghi, 0.0),
            "relative_humidity_pct": np.clip(rh, 0, 100),
        },
        index=times_utc.tz_convert("UTC"),
    )


def hottest_day(year: TypicalYear, calendar_year: int = 2026) -> dt.date:
    """The typical year's day with the highest maximum temperature (ties: higher mean), as a date in
    ``calendar_year`` (station standard time)."""
    temps = year.temp_c.reshape(365, 24)
    order = np.lexsort((temps.mean(axis=1), temps.max(axis=1)))
    day_index = int(order[-1])
    date = dt.date(calendar_year, 1, 1) + dt.timedelta(days=day_index)
    if _is_leap(calendar_year) and day_index >= 59:
        date += dt.timedelta(days=1)
    return date


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


@dataclass(frozen=True)
class TypicalYearSource:
    """A ``WeatherSource`` answering with one station's typical year (the file is read once per process)."""

    station_file: str = "723170TYA.CSV"
    name: str = "tmy3"

    def weather_at(self, times_utc: pd.DatetimeIndex) -> pd.DataFrame:
        return weather_at(read_typical_year(self.station_file), times_utc)

    def typical_year(self) -> TypicalYear:
        return read_typical_year(self.station_file)
