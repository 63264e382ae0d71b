"""Forecasting use cases of a building: read the history of every target, fit and bring models up to date
with the exogenous inputs (the building's weather source and occupancy schedule), store and load models,
write forecasts and track their accuracy. The models are ``sbems.forecasting`` (pure)."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pandas as pd

from sbems.domain.schedule import occupied_mask
from sbems.domain.site import Building, Site, entity_uuid
from sbems.forecasting import api
from sbems.forecasting.series import FREQ_SECONDS, TARGET_SOURCES, Series, future_index, series_from_rows
from sbems.forecasting.sufficiency import InsufficientHistoryError
from sbems.forecasting.tracking import accuracy_by_horizon, metrics_jsonable
from sbems.storage import db
from sbems.storage.predictions import (
    PredictionRow,
    fill_actuals,
    insert_model,
    read_active_model,
    read_bucketed_series,
    read_points_of_type,
    read_prediction_pairs,
    write_predictions,
)
from sbems.weather import WeatherSource, weather_source_for


def exogenous(
    site: Site,
    building: Building,
    index: pd.DatetimeIndex,
    zone: str | None = None,
    weather: WeatherSource | None = None,
) -> pd.DataFrame:
    """Outdoor temperature and irradiance and the occupancy schedule on ``index``; the weather is ``weather``
    (the flows pass ``sbems.services.weather.read_weather_source``), else the building's typical year."""
    weather = (weather or weather_source_for(building)).weather_at(index)
    schedule = site.schedule(building.zone(zone).schedule if zone else building.zones[0].schedule)
    return pd.DataFrame(
        {
            "outdoor_temp_c": weather["outdoor_temp_c"].to_numpy(),
            "ghi_w_m2": weather["ghi_w_m2"].to_numpy(),
            "occupied": occupied_mask(schedule, index, building.timezone),
        },
        index=index,
    )


def read_history(
    database_url: str, building: Building, end_utc: datetime, days: int, freq: str
) -> list[Series]:
    """History of every target of a building, bucketed at ``freq`` (bucket labelled by its end)."""
    b_id = entity_uuid("building", building.id)
    start = end_utc - timedelta(days=days)
    bucket_s = FREQ_SECONDS[freq]
    out = []
    with db.connect(database_url) as conn:
        meters = read_points_of_type(conn, building_id=b_id, sensor_type="power", building_level=True)
        rows = read_bucketed_series(
            conn, sensor_ids=meters, start_utc=start, end_utc=end_utc, bucket_s=bucket_s, combine="sum"
        )
        out.append(Series("load_kw", None, series_from_rows(rows)))
        for zone in building.zones:
            z_id = entity_uuid("zone", building.id, zone.id)
            for target in ("zone_temp_c", "zone_occupancy_count"):
                _, sensor_type, combine = TARGET_SOURCES[target]
                points = read_points_of_type(conn, building_id=b_id, sensor_type=sensor_type, zone_id=z_id)
                rows = read_bucketed_series(
                    conn,
                    sensor_ids=points,
                    start_utc=start,
                    end_utc=end_utc,
                    bucket_s=bucket_s,
                    combine=combine,
                )
                out.append(Series(target, zone.id, series_from_rows(rows)))
    return out


def fit_series(
    site: Site,
    building: Building,
    series: Series,
    freq: str,
    candidates: tuple[str, ...] | None = None,
    weather: WeatherSource | None = None,
) -> api.ForecastModel | str:
    """Select and fit a forecaster; returns the model or the refusal reason (a normal outcome)."""
    X = exogenous(site, building, series.y.index, series.zone, weather) if len(series.y) else None
    holidays = site.schedule(building.zones[0].schedule).holidays
    kwargs = {"candidates": candidates} if candidates else {}
    try:
        return api.fit(
            series.y,
            X,
            freq=freq,
            target=series.target,
            tz=building.timezone,
            holidays_local=holidays,
            **kwargs,
        )
    except InsufficientHistoryError as exc:
        return str(exc)


def predict_series(
    site: Site,
    building: Building,
    series: Series,
    model: api.ForecastModel,
    horizon_steps: int,
    weather: WeatherSource | None = None,
) -> pd.DataFrame:
    """Bring the model up to the latest history, then forecast ``horizon_steps`` ahead."""
    new = series.y[series.y.index > model.cutoff_utc]
    if len(new):
        model = api.update(model, new, exogenous(site, building, new.index, series.zone, weather))
    future = future_index(model.cutoff_utc, model.cfg.freq, horizon_steps)
    return api.predict(model, horizon_steps, exogenous(site, building, future, series.zone, weather))


def _zone_uuid(building: Building, series: Series) -> UUID | None:
    return entity_uuid("zone", building.id, series.zone) if series.zone else None


def store_model(database_url: str, building: Building, series: Series, model: api.ForecastModel) -> str:
    """Store the fitted model (pickled) as the active forecaster of its target; returns its version."""
    with db.connect(database_url) as conn:
        insert_model(
            conn,
            building_id=entity_uuid("building", building.id),
            zone_id=_zone_uuid(building, series),
            kind="forecast",
            target=series.target,
            version=model.version,
            trained_from=model.train_start_utc.to_pydatetime(),
            trained_to=model.train_end_utc.to_pydatetime(),
            metrics={"backtest": metrics_jsonable(model.metrics)},
            params={"name": model.name},
            artifact=pickle.dumps(model),
        )
    return model.version


def load_model(database_url: str, building: Building, series: Series) -> api.ForecastModel | None:
    """The active forecaster of the series' target, or None."""
    with db.connect(database_url) as conn:
        row = read_active_model(
            conn,
            building_id=entity_uuid("building", building.id),
            zone_id=_zone_uuid(building, series),
            kind="forecast",
            target=series.target,
        )
    return pickle.loads(row["artifact"]) if row else None


def write_forecast(
    database_url: str, building: Building, series: Series, forecast: pd.DataFrame, issued_at: datetime
) -> int:
    prediction_type = TARGET_SOURCES[series.target][0]
    rows = [
        PredictionRow(
            entity_uuid("building", building.id),
            _zone_uuid(building, series),
            prediction_type,
            str(r.model_version),
            issued_at,
            t.to_pydatetime(),
            int(r.horizon_minutes),
            float(r.predicted_value),
            float(r.lower_value),
            float(r.upper_value),
            float(r.confidence_pct),
        )
        for t, r in forecast.iterrows()
    ]
    with db.connect(database_url) as conn:
        return write_predictions(conn, rows=rows)


def track_accuracy(database_url: str, building: Building, series: Series, window_days: int = 7) -> dict:
    """Fill actuals on past predictions, then CV(RMSE)/NMBE/MAE per horizon hour over the window."""
    prediction_type = TARGET_SOURCES[series.target][0]
    b_id = entity_uuid("building", building.id)
    z_id = _zone_uuid(building, series)
    actuals = [(t.to_pydatetime(), float(v)) for t, v in series.y.items()]
    since = (
        (series.y.index.max() - pd.Timedelta(days=window_days)).to_pydatetime()
        if len(series.y)
        else datetime.now(UTC)
    )
    with db.connect(database_url) as conn:
        filled = fill_actuals(
            conn, building_id=b_id, zone_id=z_id, prediction_type=prediction_type, actuals=actuals
        )
        pairs = read_prediction_pairs(
            conn, building_id=b_id, zone_id=z_id, prediction_type=prediction_type, since=since
        )
    return {"filled": filled, **accuracy_by_horizon(pairs)}
