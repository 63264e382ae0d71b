"""Open-Meteo forecast API (global, no key): https://open-meteo.com/en/docs

``GET {base}/v1/forecast?latitude=..&longitude=..&hourly=<HOURLY>&forecast_days=4&timezone=UTC`` answers
``{"utc_offset_seconds": 0, "hourly_units": {"time": "iso8601", "temperature_2m": "°C", ...},
"hourly": {"time": ["2026-07-01T00:00", ...], "temperature_2m": [...], ...}}``. We parse exactly that
shape and refuse anything else (other units, nulls, missing or duplicated hours, too short).
Open-Meteo gives no issue time: the issue is the answer's Last-Modified, else the fetch hour, so a
re-fetch within the hour stores the same issue again (idempotent).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import pandas as pd

from sbems.weather.forecast import WeatherForecast, WeatherRefused, checked_forecast
from sbems.weather.http import DEFAULT_TIMEOUT_S, get_body

SOURCE = "open-meteo"
DEFAULT_BASE_URL = "https://api.open-meteo.com"
FORECAST_DAYS = 4
# Open-Meteo variable -> (our column, the unit we accept in hourly_units)
HOURLY = {
    "temperature_2m": ("temperature_c", "°C"),
    "relative_humidity_2m": ("relative_humidity_pct", "%"),
    "shortwave_radiation": ("ghi_w_m2", "W/m²"),
    "direct_normal_irradiance": ("dni_w_m2", "W/m²"),
    "diffuse_radiation": ("dhi_w_m2", "W/m²"),
    "cloud_cover": ("cloud_cover_pct", "%"),
}


def forecast_params(latitude: float, longitude: float) -> dict[str, str]:
    return {
        "latitude": f"{latitude:.4f}",
        "longitude": f"{longitude:.4f}",
        "hourly": ",".join(HOURLY),
        "forecast_days": str(FORECAST_DAYS),
        "timezone": "UTC",
    }


def get_open_meteo_forecast(
    base_url: str,
    latitude: float,
    longitude: float,
    *,
    now_utc: datetime,
    needed_until_utc: datetime,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    cache_dir: Path | None = None,
) -> WeatherForecast:
    """Fetch and parse the hourly forecast at the coordinates; WeatherRefused when it is not usable.
    ``cache_dir`` keeps the answer's ETag/Last-Modified for the next run's conditional request."""
    with httpx.Client(timeout=timeout_s) as client:
        answer = get_body(
            client,
            f"{base_url.rstrip('/')}/v1/forecast",
            source=SOURCE,
            params=forecast_params(latitude, longitude),
            cache_dir=cache_dir,
        )
    issued_at = _issue_time(answer.last_modified, now_utc)
    return parse_open_meteo_forecast(
        answer.body, issued_at=issued_at, needed_from_utc=now_utc, needed_until_utc=needed_until_utc
    )


def _issue_time(last_modified: str | None, now_utc: datetime) -> datetime:
    """Last-Modified (never later than now: clocks differ), else the fetch hour."""
    if last_modified:
        try:
            return min(parsedate_to_datetime(last_modified).astimezone(UTC), now_utc.astimezone(UTC))
        except (TypeError, ValueError):
            pass  # an unreadable header: the fetch hour is the issue
    return now_utc.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def parse_open_meteo_forecast(
    body: bytes, *, issued_at: datetime, needed_from_utc: datetime, needed_until_utc: datetime
) -> WeatherForecast:
    """The forecast in ``body`` (an Open-Meteo /v1/forecast answer with timezone=UTC) covering
    [needed_from_utc, needed_until_utc], or WeatherRefused."""

    def refuse(reason: str) -> WeatherRefused:
        return WeatherRefused(SOURCE, reason, body)

    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise refuse(f"not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise refuse("not a JSON object")
    if document.get("error"):
        raise refuse(f"provider error: {document.get('reason', '?')}")
    if document.get("utc_offset_seconds", 0) != 0:
        raise refuse(f"times are not UTC (utc_offset_seconds={document.get('utc_offset_seconds')})")
    units, hourly = document.get("hourly_units"), document.get("hourly")
    if not isinstance(units, dict) or not isinstance(hourly, dict):
        raise refuse("no hourly_units/hourly objects")
    if units.get("time") != "iso8601":
        raise refuse(f"time unit {units.get('time')!r}, expected 'iso8601'")
    times = hourly.get("time")
    if not isinstance(times, list) or not times:
        raise refuse("hourly.time is missing or empty")
    columns = {}
    for variable, (column, unit) in HOURLY.items():
        if units.get(variable) != unit:
            raise refuse(f"{variable} in {units.get(variable)!r}, expected {unit!r}")
        values = hourly.get(variable)
        if not isinstance(values, list) or len(values) != len(times):
            raise refuse(f"hourly.{variable} is missing or has not one value per time")
        if any(not isinstance(v, int | float) or isinstance(v, bool) for v in values):
            raise refuse(f"hourly.{variable} has null or non-numeric values")
        columns[column] = [float(v) for v in values]
    try:
        index = pd.DatetimeIndex(pd.to_datetime(times, format="%Y-%m-%dT%H:%M")).tz_localize(UTC)
    except (TypeError, ValueError) as exc:
        raise refuse(f"hourly.time is not ISO 8601 'YYYY-MM-DDTHH:MM': {exc}") from exc
    frame = pd.DataFrame(columns, index=index)
    return checked_forecast(SOURCE, issued_at, frame, needed_from_utc, needed_until_utc, body)
