"""Weather use cases: fetch a provider's forecast, store it (or quarantine the refusal), store observations
(the building's outdoor-air points, else the provider's current conditions), retention, and the one call
every consumer makes: :func:`read_weather_source` (the fallback chain of ``sbems.weather.chain``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from sbems.config import load_settings
from sbems.domain.site import Building, entity_uuid
from sbems.storage import db
from sbems.storage.quarantine import QuarantineItem, write_quarantine
from sbems.storage.weather import (
    FORECAST_COLUMNS,
    ObservationRow,
    delete_expired_weather,
    read_hourly_point_means,
    read_latest_covering_forecast,
    read_latest_point_reading,
    read_weather_observations,
    write_weather_forecast,
    write_weather_observations,
)
from sbems.weather import nws, open_meteo, weather_source_for
from sbems.weather.chain import ChainedWeather
from sbems.weather.forecast import WeatherForecast, WeatherRefused, forecast_from_rows
from sbems.weather.measured import outdoor_point_keys

log = logging.getLogger(__name__)

PERSISTENCE_MAX_AGE = timedelta(hours=3)  # older measurements do not say much about the next hours
OBSERVATION_LOOKBACK = timedelta(hours=24)  # each run (re)writes the last day's hourly sensor means
# an outdoor sensor with no reading for longer than 2 poll periods (the poll deployment runs every 30 s) is
# silent: the provider's conditions stand in for the hours since its last reading
SENSOR_SILENT_AFTER = timedelta(seconds=60)
SILENT_SUFFIX = ":current (sensor silent)"
DEFAULT_URLS = {"open-meteo": open_meteo.DEFAULT_BASE_URL, "nws": nws.DEFAULT_BASE_URL}


@dataclass(frozen=True)
class WeatherSettings:
    provider: str  # "tmy" | "open-meteo" | "nws"
    base_url: str | None
    user_agent: str
    retention_days: int  # kept as long as the other raw data (SBEMS_RETENTION_RAW_DAYS)
    cache_dir: Path | None = None  # ETag/Last-Modified + body per URL, for the next run's conditional GET


def read_weather_settings(provider: str | None = None, base_url: str | None = None) -> WeatherSettings:
    """``SBEMS_WEATHER_PROVIDER``, ``SBEMS_WEATHER_URL`` (default: the provider's public API),
    ``SBEMS_WEATHER_USER_AGENT``, ``SBEMS_RETENTION_RAW_DAYS``; arguments override the first two. The
    conditional-request cache lives in ``SBEMS_DATA_DIR/weather-http``."""
    settings = load_settings()
    chosen = provider or settings.weather_provider
    return WeatherSettings(
        provider=chosen,
        base_url=base_url or settings.weather_url or DEFAULT_URLS.get(chosen),
        user_agent=settings.weather_user_agent,
        retention_days=settings.retention_raw_days,
        cache_dir=Path(settings.data_dir) / "weather-http",
    )


def get_forecast(
    settings: WeatherSettings, building: Building, now_utc: datetime, horizon_h: float
) -> WeatherForecast:
    """The provider's forecast for the building covering ``horizon_h`` hours from now; WeatherRefused with
    the reason otherwise (including a building without coordinates)."""
    if building.latitude is None or building.longitude is None:
        raise WeatherRefused(settings.provider, f"building {building.id!r} has no latitude/longitude")
    needed_until = now_utc + timedelta(hours=horizon_h)
    if settings.provider == "open-meteo":
        return open_meteo.get_open_meteo_forecast(
            settings.base_url,
            building.latitude,
            building.longitude,
            now_utc=now_utc,
            needed_until_utc=needed_until,
            cache_dir=settings.cache_dir,
        )
    if settings.provider == "nws":
        return nws.get_nws_forecast(
            settings.base_url,
            building.latitude,
            building.longitude,
            user_agent=settings.user_agent,
            now_utc=now_utc,
            needed_until_utc=needed_until,
            cache_dir=settings.cache_dir,
        )
    raise ValueError(f"provider {settings.provider!r} has no forecast to fetch")


def write_forecast(database_url: str, building_id: str, forecast: WeatherForecast) -> int:
    rows = [
        (valid_at.to_pydatetime(), *map(float, values))
        for valid_at, values in zip(
            forecast.hours.index, forecast.hours[list(FORECAST_COLUMNS)].to_numpy(), strict=True
        )
    ]
    with db.connect(database_url) as conn:
        return write_weather_forecast(
            conn,
            building_id=entity_uuid("building", building_id),
            source=forecast.source,
            issued_at=forecast.issued_at,
            rows=rows,
        )


def write_refusal(database_url: str, building_id: str, refused: WeatherRefused) -> None:
    """Quarantine the refused answer with its reason and source (``weather:<provider>``)."""
    item = QuarantineItem(
        source=f"weather:{refused.source}"[:50],
        reason=refused.reason,
        payload=refused.payload,
        metadata={"building": building_id},
    )
    with db.connect(database_url) as conn:
        write_quarantine(conn, items=[item])


def write_observations(
    database_url: str, building: Building, now_utc: datetime, forecast: WeatherForecast | None
) -> dict:
    """Hourly means of the building's outdoor-air points over the last whole hours; where it has none,
    the provider's conditions at the issue hour (``<provider>:current``); where its points are silent (no
    reading for more than ``SENSOR_SILENT_AFTER``, or none in the last day), the provider's hours after the
    last reading up to the issue hour (``<provider>:current (sensor silent)``, logged). Returns what was
    written."""
    b_id = entity_uuid("building", building.id)
    keys = outdoor_point_keys(building)
    rows: list[ObservationRow] = []
    summary: dict = {}
    if keys:
        rows, last_seen = _sensor_observations(database_url, building, keys, now_utc)
        if last_seen is None or now_utc - last_seen > SENSOR_SILENT_AFTER:
            fallback = _silent_sensor_fallback(building, now_utc, last_seen, forecast)
            summary["sensor_silent_since"] = last_seen.isoformat() if last_seen else "never"
            summary["fallback_written"] = len(fallback)
            rows += fallback
    elif forecast is not None:
        hour = pd.Timestamp(forecast.issued_at).floor("h")
        if hour in forecast.hours.index:
            rows = _provider_rows(forecast, [hour], f"{forecast.source}:current")
    if not rows:
        return {"source": None, "written": 0, **summary}
    with db.connect(database_url) as conn:
        written = write_weather_observations(conn, building_id=b_id, rows=rows)
    return {
        "source": rows[0].source,
        "written": written,
        "last_observed_at": max(r.observed_at for r in rows).isoformat(),
        **summary,
    }


def _sensor_observations(
    database_url: str, building: Building, keys: dict[str, list[str]], now_utc: datetime
) -> tuple[list[ObservationRow], datetime | None]:
    """The hourly means of the outdoor-air points over the lookback, and their newest reading time."""
    end = pd.Timestamp(now_utc).floor("h").to_pydatetime()
    means: dict[datetime, dict] = {}
    all_ids = []
    with db.connect(database_url) as conn:
        for column, point_keys in keys.items():
            ids = [entity_uuid("sensor", building.id, key) for key in point_keys]
            all_ids += ids
            for mid, value in read_hourly_point_means(
                conn, sensor_ids=ids, start_utc=end - OBSERVATION_LOOKBACK, end_utc=end
            ):
                means.setdefault(mid, {})[column] = float(value)
        last_seen = read_latest_point_reading(
            conn, sensor_ids=all_ids, start_utc=now_utc - OBSERVATION_LOOKBACK, end_utc=now_utc
        )
    source = "sensor:" + ",".join(k for point_keys in keys.values() for k in point_keys)
    rows = [
        ObservationRow(mid, source[:80], v.get("temperature_c"), v.get("relative_humidity_pct"))
        for mid, v in sorted(means.items())
    ]
    return rows, last_seen


def _silent_sensor_fallback(
    building: Building, now_utc: datetime, last_seen: datetime | None, forecast: WeatherForecast | None
) -> list[ObservationRow]:
    """The provider's hours after the sensor's last reading (or the lookback start) up to the issue hour."""
    since = last_seen or now_utc - OBSERVATION_LOOKBACK
    if forecast is None:
        log.warning(
            "weather for %s: outdoor-air sensor silent since %s and no provider forecast to fall back on",
            building.id,
            last_seen.isoformat() if last_seen else "ever (no reading in the last day)",
        )
        return []
    issue_hour = pd.Timestamp(forecast.issued_at).floor("h")
    hours = forecast.hours.index
    missing = hours[(hours > pd.Timestamp(since)) & (hours <= min(issue_hour, pd.Timestamp(now_utc)))]
    log.warning(
        "weather for %s: outdoor-air sensor silent since %s: %d missing hours from %s's conditions",
        building.id,
        last_seen.isoformat() if last_seen else "ever (no reading in the last day)",
        len(missing),
        forecast.source,
    )
    return _provider_rows(forecast, list(missing), f"{forecast.source}{SILENT_SUFFIX}")


def _provider_rows(forecast: WeatherForecast, hours: list[pd.Timestamp], source: str) -> list[ObservationRow]:
    return [
        ObservationRow(
            hour.to_pydatetime(),
            source[:80],
            float(forecast.hours.at[hour, "temperature_c"]),
            float(forecast.hours.at[hour, "relative_humidity_pct"]),
            float(forecast.hours.at[hour, "ghi_w_m2"]),
        )
        for hour in hours
    ]


def delete_expired(database_url: str, now_utc: datetime, retention_days: int) -> dict[str, int]:
    with db.connect(database_url) as conn:
        return delete_expired_weather(conn, cutoff_utc=now_utc - timedelta(days=retention_days))


def read_observations(
    database_url: str, building: Building, start_utc: datetime, end_utc: datetime
) -> pd.DataFrame:
    """Stored observations in [start_utc, end_utc) indexed by observed_at (sensors preferred)."""
    with db.connect(database_url) as conn:
        rows = read_weather_observations(
            conn, building_id=entity_uuid("building", building.id), start_utc=start_utc, end_utc=end_utc
        )
    frame = pd.DataFrame(
        [(r.observed_at, r.temperature_c, r.relative_humidity_pct, r.ghi_w_m2) for r in rows],
        columns=["observed_at", "temperature_c", "relative_humidity_pct", "ghi_w_m2"],
    ).set_index("observed_at")
    frame.index = pd.DatetimeIndex(frame.index, tz="UTC") if frame.empty else pd.DatetimeIndex(frame.index)
    frame.index = frame.index.tz_convert("UTC")
    return frame.astype(float)


def read_weather_source(
    database_url: str,
    building: Building,
    now_utc: datetime,
    horizon_end_utc: datetime,
    history_start_utc: datetime | None = None,
    max_forecast_age_h: float | None = None,
) -> ChainedWeather:
    """The weather to plan with from ``now_utc`` to ``horizon_end_utc`` (and measured weather back to
    ``history_start_utc``, default one day): the newest stored forecast still covering the horizon and at
    most ``max_forecast_age_h`` old (default ``SBEMS_WEATHER_MAX_AGE_H``; an older one is stale), else the
    last measurement (at most 3 h old) persisted into the typical year, else the typical year. The step is
    logged; ``.describe()`` says which weather it is and how old (and why, e.g. a stale forecast)."""
    max_age_h = max_forecast_age_h if max_forecast_age_h is not None else load_settings().weather_max_age_h
    climatology = weather_source_for(building)
    start = pd.Timestamp(now_utc).floor("h").to_pydatetime()
    end = max(horizon_end_utc, now_utc)
    history_start = history_start_utc or now_utc - timedelta(days=1)
    with db.connect(database_url) as conn:
        stored = read_latest_covering_forecast(
            conn,
            building_id=entity_uuid("building", building.id),
            start_utc=start,
            end_utc=end,
            now_utc=now_utc,
        )
    observations = read_observations(
        database_url,
        building,
        min(history_start, now_utc - PERSISTENCE_MAX_AGE),
        now_utc + timedelta(seconds=1),
    )
    horizon = f"{start:%Y-%m-%d %H:%M}..{end:%Y-%m-%d %H:%M} UTC"
    missing = f"no stored forecast covers {horizon}"
    if stored is not None:
        age_h = (now_utc - stored[1]).total_seconds() / 3600
        if age_h > max_age_h:
            missing = (
                f"stale forecast: {stored[0]} issued {stored[1]:%Y-%m-%d %H:%M} UTC is {age_h:.1f} h old "
                f"(max {max_age_h:g} h, SBEMS_WEATHER_MAX_AGE_H)"
            )
            log.warning("weather for %s: %s", building.id, missing)
            stored = None
    if stored is not None:
        forecast = forecast_from_rows(*stored)
        chosen = ChainedWeather(climatology, now_utc, "forecast", forecast, observations, f"covers {horizon}")
    else:
        recent = observations["temperature_c"].dropna()
        recent = recent[recent.index >= pd.Timestamp(now_utc - PERSISTENCE_MAX_AGE)]
        if len(recent):
            chosen = ChainedWeather(climatology, now_utc, "persistence", None, observations, missing)
        else:
            reason = f"{missing} and no measurement in the last 3 h"
            chosen = ChainedWeather(climatology, now_utc, "typical-year", None, observations, reason)
    info = chosen.describe()
    log.info(
        "weather for %s: %s from %s (age %s h): %s",
        building.id,
        info["weather"],
        info["source"],
        info["age_h"],
        info["reason"],
    )
    return chosen
