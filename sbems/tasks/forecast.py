"""Tasks of the forecast and retrain flows: read history, fit, predict, store, track accuracy.

Each task takes plain data (database URL, building key, frames) and builds its connections inside.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from prefect import task

from sbems.domain.schedule import occupied_mask
from sbems.domain.site import Building, Site, entity_uuid
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
from sbems.weather import weather_source_for

# forecasting target -> (seed prediction_type, sensor type, how points combine)
TARGET_SOURCES = {
    "load_kw": ("load", "power", "sum"),
    "zone_temp_c": ("temperature", "temperature", "avg"),
    "zone_occupancy_count": ("occupancy", "occupancy", "sum"),
}
FREQ_SECONDS = {"h": 3600, "15min": 900}


@dataclass(frozen=True)
class Series:
    """One target's history for one building or zone."""

    target: str
    zone: str | None
    y: pd.Series


def exogenous(
    site: Site, building: Building, index: pd.DatetimeIndex, zone: str | None = None
) -> pd.DataFrame:
    """Outdoor temperature and irradiance (the weather source) and the occupancy schedule on ``index``."""

    weather = weather_source_for(building).weather_at(index)
    schedule = site.schedule(building.zone(zone).schedule if zone else building.zones[0].schedule)
    return pd.DataFrame(
        {
            "outdoor_temp_c": weather["outdoor_temp_c"].to_numpy(),
            "ghi_w_m2": weather["ghi_w_m2"].to_numpy(),
            "occupied": occupied_mask(schedule, index, building.timezone),
        },
        index=index,
    )


@task(retries=2, retry_delay_seconds=5, tags=["database"])
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
        out.append(
            Series(
                "load_kw",
                None,
                _series(
                    read_bucketed_series(
                        conn,
                        sensor_ids=meters,
                        start_utc=start,
                        end_utc=end_utc,
                        bucket_s=bucket_s,
                        combine="sum",
                    )
                ),
            )
        )
        for zone in building.zones:
            z_id = entity_uuid("zone", building.id, zone.id)
            for target in ("zone_temp_c", "zone_occupancy_count"):
                _, sensor_type, combine = TARGET_SOURCES[target]
                points = read_points_of_type(conn, building_id=b_id, sensor_type=sensor_type, zone_id=z_id)
                out.append(
                    Series(
                        target,
                        zone.id,
                        _series(
                            read_bucketed_series(
                                conn,
                                sensor_ids=points,
                                start_utc=start,
                                end_utc=end_utc,
                                bucket_s=bucket_s,
                                combine=combine,
                            )
                        ),
                    )
                )
    return out


def _series(rows: list[tuple[datetime, float]]) -> pd.Series:
    if not rows:
        return pd.Series(dtype=float, index=pd.DatetimeIndex([], tz="UTC"))
    index = pd.DatetimeIndex([t for t, _ in rows]).tz_convert("UTC")
    return pd.Series([float(v) for _, v in rows], index=index, dtype=float)


@task(tags=["ml"])
def fit_model(
    site: Site, building: Building, series: Series, freq: str, candidates: tuple[str, ...] | None = None
):
    """Select and fit a forecaster; returns the model or the refusal reason (a normal outcome)."""
    from sbems.forecasting import api
    from sbems.forecasting.sufficiency import InsufficientHistoryError

    X = exogenous(site, building, series.y.index, series.zone) if len(series.y) else None
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


@task(retries=2, retry_delay_seconds=5, tags=["database"])
def store_model(database_url: str, building: Building, series: Series, model) -> str:
    with db.connect(database_url) as conn:
        insert_model(
            conn,
            building_id=entity_uuid("building", building.id),
            zone_id=entity_uuid("zone", building.id, series.zone) if series.zone else None,
            kind="forecast",
            target=series.target,
            version=model.version,
            trained_from=model.train_start_utc.to_pydatetime(),
            trained_to=model.train_end_utc.to_pydatetime(),
            metrics={"backtest": _jsonable(model.metrics)},
            params={"name": model.name},
            artifact=pickle.dumps(model),
        )
    return model.version


def _jsonable(frame: pd.DataFrame) -> list[dict]:
    return [
        {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()}
        for row in frame.reset_index().to_dict(orient="records")
    ]


@task(retries=2, retry_delay_seconds=5, tags=["database"])
def load_model(database_url: str, building: Building, series: Series):
    with db.connect(database_url) as conn:
        row = read_active_model(
            conn,
            building_id=entity_uuid("building", building.id),
            zone_id=entity_uuid("zone", building.id, series.zone) if series.zone else None,
            kind="forecast",
            target=series.target,
        )
    return pickle.loads(row["artifact"]) if row else None


@task(tags=["ml"])
def predict_target(site: Site, building: Building, series: Series, model, horizon_steps: int) -> pd.DataFrame:
    """Bring the model up to the latest history, then forecast ``horizon_steps`` ahead."""
    from sbems.forecasting import api

    new = series.y[series.y.index > model.cutoff_utc]
    if len(new):
        X_new = exogenous(site, building, new.index, series.zone)
        model = api.update(model, new, X_new)
    step = pd.Timedelta(pd.tseries.frequencies.to_offset(model.cfg.freq))
    future = pd.DatetimeIndex([model.cutoff_utc + (k + 1) * step for k in range(horizon_steps)])
    return api.predict(model, horizon_steps, exogenous(site, building, future, series.zone))


@task(retries=2, retry_delay_seconds=5, tags=["database"])
def write_forecast(
    database_url: str, building: Building, series: Series, forecast: pd.DataFrame, issued_at: datetime
) -> int:
    prediction_type = TARGET_SOURCES[series.target][0]
    rows = [
        PredictionRow(
            entity_uuid("building", building.id),
            entity_uuid("zone", building.id, series.zone) if series.zone else None,
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


@task(retries=2, retry_delay_seconds=5, tags=["database"])
def track_accuracy(database_url: str, building: Building, series: Series, window_days: int = 7) -> dict:
    """Fill actuals on past predictions, then CV(RMSE)/NMBE/MAE per horizon hour over the window."""
    prediction_type = TARGET_SOURCES[series.target][0]
    b_id = entity_uuid("building", building.id)
    z_id = entity_uuid("zone", building.id, series.zone) if series.zone else None
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
    result: dict = {"filled": filled, "n": len(pairs), "by_horizon_h": {}}
    if pairs:
        frame = pd.DataFrame(pairs, columns=["horizon_minutes", "predicted", "actual"])
        frame["horizon_h"] = np.ceil(frame["horizon_minutes"] / 60).astype(int)
        result["overall"] = _accuracy(frame["actual"], frame["predicted"])
        for hour, group in frame.groupby("horizon_h"):
            result["by_horizon_h"][int(hour)] = _accuracy(group["actual"], group["predicted"])
    return result


def _accuracy(actual: pd.Series, predicted: pd.Series) -> dict[str, float]:
    """CV(RMSE), NMBE and MAE; the relative metrics are NaN where the actuals' mean is 0 (e.g. empty rooms)."""
    from sbems.forecasting.metrics import accuracy_table_row, mae

    try:
        return accuracy_table_row(actual, predicted)
    except ValueError:
        return {"cvrmse_pct": float("nan"), "nmbe_pct": float("nan"), "mae": mae(actual, predicted)}


def backtest_cvrmse_pct(model) -> float:
    return float(model.selection.backtests[model.name].cvrmse_pct)


def drifted(
    recent_cvrmse_pct: float | None, backtest_cvrmse: float, *, factor: float = 1.5, margin_pct: float = 10.0
) -> bool:
    """Accuracy has degraded past the threshold: recent error above both factor x and margin + backtest."""
    if recent_cvrmse_pct is None or not np.isfinite(recent_cvrmse_pct):
        return False
    return recent_cvrmse_pct > max(factor * backtest_cvrmse, backtest_cvrmse + margin_pct)
