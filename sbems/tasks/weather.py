"""Tasks of the ``weather`` flow: settings, fetch (a refusal is a normal outcome), store, quarantine,
observations, retention. The use cases are ``sbems.services.weather``."""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from sbems.domain.site import Building
from sbems.services import weather as weather_service
from sbems.services.weather import WeatherSettings
from sbems.weather.chain import ChainedWeather
from sbems.weather.forecast import WeatherForecast, WeatherRefused


@task(cache_policy=NO_CACHE)
def read_weather_settings(provider: str | None, base_url: str | None) -> WeatherSettings:
    return weather_service.read_weather_settings(provider, base_url)


@task(tags=["network"], cache_policy=NO_CACHE)
def get_forecast(
    settings: WeatherSettings, building: Building, now_utc: datetime, horizon_h: float
) -> WeatherForecast | WeatherRefused:
    """The provider's forecast, or the refusal (HTTP retries happen inside; a refusal is not retried)."""
    try:
        return weather_service.get_forecast(settings, building, now_utc, horizon_h)
    except WeatherRefused as refused:
        return refused


@task(retries=2, retry_delay_seconds=5, tags=["database"], cache_policy=NO_CACHE)
def write_forecast(database_url: str, building_id: str, forecast: WeatherForecast) -> int:
    return weather_service.write_forecast(database_url, building_id, forecast)


@task(retries=2, retry_delay_seconds=5, tags=["database"], cache_policy=NO_CACHE)
def write_refusal(database_url: str, building_id: str, refused: WeatherRefused) -> None:
    weather_service.write_refusal(database_url, building_id, refused)


@task(retries=2, retry_delay_seconds=5, tags=["database"], cache_policy=NO_CACHE)
def write_observations(
    database_url: str, building: Building, now_utc: datetime, forecast: WeatherForecast | None
) -> dict:
    return weather_service.write_observations(database_url, building, now_utc, forecast)


@task(retries=2, retry_delay_seconds=5, tags=["database"], cache_policy=NO_CACHE)
def delete_expired_weather(database_url: str, now_utc: datetime, retention_days: int) -> dict[str, int]:
    return weather_service.delete_expired(database_url, now_utc, retention_days)


@task(retries=2, retry_delay_seconds=5, tags=["database"], cache_policy=NO_CACHE)
def read_weather_source(
    database_url: str,
    building: Building,
    now_utc: datetime,
    horizon_end_utc: datetime,
    history_start_utc: datetime | None = None,
) -> ChainedWeather:
    """The weather consumers plan with (stored forecast -> measured persistence -> typical year)."""
    return weather_service.read_weather_source(
        database_url, building, now_utc, horizon_end_utc, history_start_utc
    )
