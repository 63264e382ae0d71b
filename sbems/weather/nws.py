"""U.S. National Weather Service API (no key, a User-Agent is required):
https://www.weather.gov/documentation/services-web-api

``GET {base}/points/{lat},{lon}`` -> ``properties.forecastHourly`` (-> ``properties.periods[]``: startTime,
temperature + temperatureUnit, relativeHumidity.value) and ``properties.forecastGridData`` (->
``properties.skyCover.values[]``: validTime "start/ISO-duration", value in %). °F becomes °C here. NWS
gives no irradiance: GHI is pvlib's clear-sky GHI (Haurwitz) reduced by sky cover (Kasten-Czeplak),
split into DNI/DHI with pvlib's Erbs model, as the mean of the hour before the valid time (like
Open-Meteo). The issue time is the hourly forecast's ``updateTime``.

``temperature`` comes in two forms: the deprecated number with ``temperatureUnit`` "F"/"C", and the
QuantitativeValue ``{"unitCode": "wmoUnit:degC" | "wmoUnit:degF", "value": ..}`` that the API's
``forecast_temperature_qv`` feature flag (sent in ``Feature-Flags``) gives today and later versions give by
default. Both are parsed; any other unit is refused.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

from sbems.weather.forecast import WeatherForecast, WeatherRefused, checked_forecast
from sbems.weather.http import DEFAULT_TIMEOUT_S, get_body

SOURCE = "nws"
DEFAULT_BASE_URL = "https://api.weather.gov"
FEATURE_FLAGS = "forecast_temperature_qv"  # temperature as a QuantitativeValue (the API's future default)
QV_UNIT_LETTER = {"wmoUnit:degC": "C", "wmoUnit:degF": "F"}
_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$")


def get_nws_forecast(
    base_url: str,
    latitude: float,
    longitude: float,
    *,
    user_agent: str,
    now_utc: datetime,
    needed_until_utc: datetime,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    cache_dir: Path | None = None,
) -> WeatherForecast:
    """Points -> hourly forecast + grid data (sky cover) -> one forecast; WeatherRefused when unusable.
    ``cache_dir`` keeps each answer's ETag/Last-Modified for the next run's conditional requests."""
    headers = {
        "User-Agent": user_agent,
        "Accept": "application/geo+json",
        "Feature-Flags": FEATURE_FLAGS,
    }
    with httpx.Client(timeout=timeout_s, headers=headers) as client:
        points_url = f"{base_url.rstrip('/')}/points/{latitude:.4f},{longitude:.4f}"
        points = get_body(client, points_url, source=SOURCE, cache_dir=cache_dir)
        hourly_url, grid_url = parse_nws_points(points.body)
        hourly = get_body(client, hourly_url, source=SOURCE, cache_dir=cache_dir)
        grid = get_body(client, grid_url, source=SOURCE, cache_dir=cache_dir)
    return parse_nws_forecast(
        hourly.body,
        grid.body,
        latitude=latitude,
        longitude=longitude,
        needed_from_utc=now_utc,
        needed_until_utc=needed_until_utc,
    )


def _json_object(body: bytes, what: str) -> dict:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WeatherRefused(SOURCE, f"{what} is not JSON: {exc}", body) from exc
    if not isinstance(document, dict) or not isinstance(document.get("properties"), dict):
        raise WeatherRefused(SOURCE, f"{what} has no properties object", body)
    return document["properties"]


def parse_nws_points(body: bytes) -> tuple[str, str]:
    """The hourly forecast and grid data URLs of a /points answer."""
    properties = _json_object(body, "points")
    urls = properties.get("forecastHourly"), properties.get("forecastGridData")
    if not all(isinstance(u, str) and u.startswith(("http://", "https://")) for u in urls):
        raise WeatherRefused(SOURCE, "points: forecastHourly/forecastGridData missing", body)
    return urls[0], urls[1]


def parse_nws_sky_cover(body: bytes) -> pd.Series:
    """Sky cover (%) per UTC hour from grid data (each value repeated over its validTime interval)."""
    values = _json_object(body, "grid data").get("skyCover", {})
    if not isinstance(values, dict) or values.get("uom") != "wmoUnit:percent":
        raise WeatherRefused(SOURCE, "grid data: skyCover missing or not in wmoUnit:percent", body)
    hours: dict[pd.Timestamp, float] = {}
    for item in values.get("values") or []:
        start_text, _, duration = str(item.get("validTime", "")).partition("/")
        match = _DURATION.match(duration)
        value = item.get("value")
        if not match or not isinstance(value, int | float):
            raise WeatherRefused(SOURCE, f"grid data: bad skyCover entry {item!r}", body)
        days, hrs, minutes = (int(g or 0) for g in match.groups())
        try:
            start = pd.Timestamp(start_text).tz_convert(UTC)
        except (TypeError, ValueError) as exc:
            raise WeatherRefused(SOURCE, f"grid data: bad validTime {start_text!r}", body) from exc
        for hour in pd.date_range(start, periods=max(days * 24 + hrs + (minutes > 0), 1), freq="h"):
            hours[hour] = float(value)
    if not hours:
        raise WeatherRefused(SOURCE, "grid data: no skyCover values", body)
    return pd.Series(hours).sort_index()


def parse_nws_forecast(
    hourly_body: bytes,
    grid_body: bytes,
    *,
    latitude: float,
    longitude: float,
    needed_from_utc: datetime,
    needed_until_utc: datetime,
) -> WeatherForecast:
    """The forecast from a forecastHourly answer and the grid data's sky cover covering
    [needed_from_utc, needed_until_utc], or WeatherRefused."""
    properties = _json_object(hourly_body, "hourly forecast")
    periods = properties.get("periods")
    if not isinstance(periods, list) or not periods:
        raise WeatherRefused(SOURCE, "hourly forecast: no periods", hourly_body)
    try:
        issued_at = pd.Timestamp(properties["updateTime"]).tz_convert(UTC).to_pydatetime()
        index = pd.DatetimeIndex([pd.Timestamp(p["startTime"]).tz_convert(UTC) for p in periods])
    except (KeyError, TypeError, ValueError) as exc:
        raise WeatherRefused(
            SOURCE, f"hourly forecast: bad updateTime/startTime ({exc})", hourly_body
        ) from exc
    temps_c, rh_pct = [], []
    for period in periods:
        temp_c = period_temperature_c(period)
        if temp_c is None:
            raise WeatherRefused(SOURCE, f"period {period.get('startTime')}: bad temperature", hourly_body)
        humidity = period.get("relativeHumidity") or {}
        if humidity.get("unitCode") != "wmoUnit:percent" or not isinstance(
            humidity.get("value"), int | float
        ):
            raise WeatherRefused(
                SOURCE, f"period {period.get('startTime')}: bad relativeHumidity", hourly_body
            )
        temps_c.append(temp_c)
        rh_pct.append(float(humidity["value"]))
    sky = parse_nws_sky_cover(grid_body).reindex(index)
    if sky.isna().any():
        first = index[sky.isna().to_numpy()][0].isoformat()
        raise WeatherRefused(SOURCE, f"grid data: no sky cover for {first}", grid_body)
    cloud = sky.to_numpy(dtype=float)
    ghi, dni, dhi = irradiance_from_sky_cover(index, cloud, latitude, longitude)
    frame = pd.DataFrame(
        {
            "temperature_c": temps_c,
            "relative_humidity_pct": rh_pct,
            "ghi_w_m2": ghi,
            "dni_w_m2": dni,
            "dhi_w_m2": dhi,
            "cloud_cover_pct": cloud,
        },
        index=index,
    )
    return checked_forecast(SOURCE, issued_at, frame, needed_from_utc, needed_until_utc, hourly_body)


def period_temperature_c(period: dict) -> float | None:
    """A period's temperature in °C from either form (number + temperatureUnit F/C, or the
    QuantitativeValue with unitCode wmoUnit:degC/degF); None when it is neither, or the two disagree."""
    temp, unit = period.get("temperature"), period.get("temperatureUnit")
    if isinstance(temp, dict):
        letter = QV_UNIT_LETTER.get(temp.get("unitCode"))
        if unit not in (None, temp.get("unitCode"), letter):  # a contradicting legacy unit
            return None
        temp, unit = temp.get("value"), letter
    if isinstance(temp, bool) or not isinstance(temp, int | float) or unit not in ("F", "C"):
        return None
    return (temp - 32.0) * 5.0 / 9.0 if unit == "F" else float(temp)


def irradiance_from_sky_cover(
    valid_at: pd.DatetimeIndex, cloud_cover_pct: np.ndarray, latitude: float, longitude: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GHI, DNI, DHI (W/m²) for the hour before each valid time: clear-sky GHI (pvlib Haurwitz) times the
    Kasten-Czeplak cloud factor 1 - 0.75 (cover)^3.4, split with pvlib's Erbs model."""
    import pvlib  # heavy import, needed by this provider only

    middles = valid_at - pd.Timedelta(minutes=30)
    position = pvlib.solarposition.get_solarposition(middles, latitude, longitude)
    clear = pvlib.clearsky.haurwitz(position["apparent_zenith"])["ghi"].to_numpy()
    ghi = clear * (1.0 - 0.75 * (np.clip(cloud_cover_pct, 0, 100) / 100.0) ** 3.4)
    split = pvlib.irradiance.erbs(ghi, position["zenith"].to_numpy(), middles)
    dni = np.nan_to_num(np.asarray(split["dni"], dtype=float))
    dhi = np.nan_to_num(np.asarray(split["dhi"], dtype=float))
    return np.maximum(ghi, 0.0), np.clip(dni, 0.0, None), np.clip(dhi, 0.0, None)
