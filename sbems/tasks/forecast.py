"""Tasks of the forecast and retrain flows: read history, fit, predict, store, track accuracy.

Each task takes plain data (database URL, building, series) and wraps one use case of
``sbems.services.forecasting`` (which opens its own connections) with its retry policy.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from prefect import task

from sbems.domain.site import Building, Site
from sbems.forecasting.api import ForecastModel
from sbems.forecasting.series import Series
from sbems.services import forecasting
from sbems.weather import WeatherSource


@task(retries=2, retry_delay_seconds=5, tags=["database"])
def read_history(
    database_url: str, building: Building, end_utc: datetime, days: int, freq: str
) -> list[Series]:
    """History of every target of a building, bucketed at ``freq`` (bucket labelled by its end)."""
    return forecasting.read_history(database_url, building, end_utc, days, freq)


@task(tags=["ml"])
def fit_model(
    site: Site,
    building: Building,
    series: Series,
    freq: str,
    candidates: tuple[str, ...] | None = None,
    weather: WeatherSource | None = None,
) -> ForecastModel | str:
    """Select and fit a forecaster; returns the model or the refusal reason (a normal outcome)."""
    return forecasting.fit_series(site, building, series, freq, candidates, weather)


@task(retries=2, retry_delay_seconds=5, tags=["database"])
def store_model(database_url: str, building: Building, series: Series, model: ForecastModel) -> str:
    return forecasting.store_model(database_url, building, series, model)


@task(retries=2, retry_delay_seconds=5, tags=["database"])
def load_model(database_url: str, building: Building, series: Series) -> ForecastModel | None:
    return forecasting.load_model(database_url, building, series)


@task(tags=["ml"])
def predict_target(
    site: Site,
    building: Building,
    series: Series,
    model: ForecastModel,
    horizon_steps: int,
    weather: WeatherSource | None = None,
) -> pd.DataFrame:
    """Bring the model up to the latest history, then forecast ``horizon_steps`` ahead."""
    return forecasting.predict_series(site, building, series, model, horizon_steps, weather)


@task(retries=2, retry_delay_seconds=5, tags=["database"])
def write_forecast(
    database_url: str, building: Building, series: Series, forecast: pd.DataFrame, issued_at: datetime
) -> int:
    return forecasting.write_forecast(database_url, building, series, forecast, issued_at)


@task(retries=2, retry_delay_seconds=5, tags=["database"])
def track_accuracy(database_url: str, building: Building, series: Series, window_days: int = 7) -> dict:
    """Fill actuals on past predictions, then CV(RMSE)/NMBE/MAE per horizon hour over the window."""
    return forecasting.track_accuracy(database_url, building, series, window_days)
