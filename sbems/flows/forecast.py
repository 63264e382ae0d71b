"""Forecast flows: ``forecast`` (every 15 min) and ``retrain`` (daily), both runnable ad hoc."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from sbems.forecasting.series import horizon_steps
from sbems.forecasting.tracking import (
    backtest_cvrmse_pct,
    drifted,
    forecast_markdown,
    retrain_markdown,
    retrain_row,
)
from sbems.runtime import flow_database_url
from sbems.tasks import forecast as t
from sbems.tasks.site import read_site_from_db
from sbems.tasks.weather import read_weather_source


@flow(name="retrain", log_prints=True)
def retrain(
    building_id: str = "hq",
    days: int = 60,
    freq: str = "h",
    database_url: str | None = None,
    now_utc: datetime | None = None,
) -> dict[str, str]:
    """Select and fit a forecaster per target (model selection once per target class), store them."""
    url = flow_database_url(database_url)
    site = read_site_from_db(url)
    building = site.building(building_id)
    now = now_utc or datetime.now(UTC)
    history = t.read_history(url, building, now, days, freq)
    weather = read_weather_source(url, building, now, now, now - timedelta(days=days))
    outcome: dict[str, str] = {}
    winners: dict[str, tuple[str, ...]] = {}
    rows = []
    for series in history:
        model = t.fit_model(site, building, series, freq, winners.get(series.target), weather)
        label = f"{series.target}/{series.zone or building_id}"
        if isinstance(model, str):
            outcome[label] = f"refused: {model}"
            continue
        winners.setdefault(series.target, (model.name,))
        outcome[label] = t.store_model(url, building, series, model)
        rows.append(retrain_row(label, model, outcome[label]))
    create_markdown_artifact(
        key=f"retrain-{building_id}",
        description="Selected forecasters",
        markdown=retrain_markdown(rows, outcome),
    )
    return outcome


@flow(name="forecast", log_prints=True)
def forecast(
    building_id: str = "hq",
    horizon_h: int = 24,
    freq: str = "h",
    days: int = 21,
    database_url: str | None = None,
    now_utc: datetime | None = None,
) -> dict[str, dict]:
    """Predict every target ``horizon_h`` ahead with the active models, track accuracy, retrain on drift."""
    url = flow_database_url(database_url)
    issued_at = now_utc or datetime.now(UTC)
    site = read_site_from_db(url)
    building = site.building(building_id)
    history = t.read_history(url, building, issued_at, days, freq)
    weather = read_weather_source(
        url, building, issued_at, issued_at + timedelta(hours=horizon_h), issued_at - timedelta(days=days)
    )
    print(f"weather: {weather.describe()}")
    steps = horizon_steps(horizon_h, freq)
    report: dict[str, dict] = {}
    for series in history:
        label = f"{series.target}/{series.zone or building_id}"
        accuracy = t.track_accuracy(url, building, series)
        model = t.load_model(url, building, series)
        retrained = False
        if model is not None and drifted(
            accuracy.get("overall", {}).get("cvrmse_pct"), backtest_cvrmse_pct(model)
        ):
            model, retrained = None, True
        if model is None:
            model = t.fit_model(site, building, series, freq, weather=weather)
            if isinstance(model, str):
                report[label] = {"status": "refused", "reason": model}
                continue
            t.store_model(url, building, series, model)
        predictions = t.predict_target(site, building, series, model, steps, weather)
        written = t.write_forecast(url, building, series, predictions, issued_at)
        report[label] = {
            "status": "ok",
            "model_version": model.version,
            "written": written,
            "retrained_on_drift": retrained,
            "accuracy": accuracy.get("overall"),
        }
    step = weather.describe()["weather"]
    create_markdown_artifact(
        key=f"forecast-{building_id}",
        description=f"Forecast issued {issued_at:%Y-%m-%d %H:%M} UTC; weather: {step}",
        markdown=forecast_markdown(report),
    )
    return report
