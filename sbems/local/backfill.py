"""Backfill stored history from the virtual building's plant (demo, tests, benchmarks).

The plant runs in-process (``simulate_history``) and its zone temperatures, occupancy and building power
are stored as the MQTT sensors of the site would have reported them.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import psycopg

from sbems.domain.site import Site, entity_uuid
from sbems.sim.history import simulate_history
from sbems.storage.readings import SensorRow, write_sensor_readings

_ZONE_COLUMNS = {
    "temperature": ("zone_temp_c", "celsius"),
    "occupancy": ("occupancy_count", "count"),
    "power": ("electric_kw", "kW"),
}  # a zone's HVAC submeter


def backfill_end_utc(now_utc: datetime, step_s: float = 900.0) -> datetime:
    """Where a backfill that runs up to now ends: the start of the current step (aware UTC).

    Not the hour: the live readings must continue the backfilled ones within the two steps the optimizer's
    state observer bridges, or a fresh demo's first plans are refused until two hours of live data exist
    ("not enough recent history to estimate the mass temperature")."""
    step_us = int(step_s * 1_000_000)
    epoch = datetime(1970, 1, 1, tzinfo=now_utc.tzinfo)
    elapsed_us = (now_utc - epoch) // timedelta(microseconds=1)
    return epoch + timedelta(microseconds=elapsed_us - elapsed_us % step_us)


def backfill_simulated_history(
    conn: psycopg.Connection,
    *,
    site: Site,
    building_id: str,
    start_utc: datetime,
    days: float,
    step_s: float = 900.0,
    seed: int = 0,
) -> int:
    """Simulate ``days`` from ``start_utc`` and store it; returns rows stored."""
    building = site.building(building_id)
    building_df, zones_df = simulate_history(site, building_id, start_utc, days, step_s=step_s, seed=seed)
    rows: list[SensorRow] = []
    # powers are step means: stamped mid-step; temperatures and counts are end-of-step states
    mid_step = timedelta(seconds=step_s / 2)
    meters = [s for s in building.sensors if s.sensor_type == "power" and s.zone is None]
    for meter in meters[:1]:
        sensor_id = entity_uuid("sensor", building_id, meter.id)
        rows += [
            SensorRow(t.to_pydatetime() - mid_step, sensor_id, None, float(v), "kW")
            for t, v in building_df["load_kw"].items()
        ]
    for sensor in building.sensors:
        if sensor.zone is None or sensor.sensor_type not in _ZONE_COLUMNS:
            continue
        column, unit = _ZONE_COLUMNS[sensor.sensor_type]
        series = zones_df[column].xs(sensor.zone, level="zone_id")
        sensor_id = entity_uuid("sensor", building_id, sensor.id)
        zone_id = entity_uuid("zone", building_id, sensor.zone)
        shift = mid_step if sensor.sensor_type == "power" else timedelta(0)
        rows += [
            SensorRow(t.to_pydatetime() - shift, sensor_id, zone_id, float(v), unit)
            for t, v in series.items()
        ]
    return write_sensor_readings(conn, rows=rows)


def prime_forecasters(
    database_url: str,
    *,
    site: Site,
    building_id: str,
    now_utc: datetime,
    days: int = 21,
    candidates: tuple[str, ...] = ("reduction_ridge",),
) -> float:
    """First-run forecaster work done at backfill: a bounded forecaster per series, fitted and stored.

    A fresh demo's first ``forecast`` run would otherwise select a forecaster per series (every zone's
    temperature and occupancy: ~12 min on a busy 2-core machine). Here every series gets ``candidates``
    only (default the linear reduction model: about a second per series, backtested all the same); the
    daily ``retrain`` flow does the full model selection later, and the ``forecast`` flow keeps these until
    drift or retrain. Returns the seconds it took.
    """
    from sbems.services import forecasting
    from sbems.services import weather as weather_service

    started = time.perf_counter()
    building = site.building(building_id)
    weather = weather_service.read_weather_source(
        database_url, building, now_utc, now_utc + timedelta(hours=24), now_utc - timedelta(days=days)
    )
    for series in forecasting.read_history(database_url, building, now_utc, days, "h"):
        model = forecasting.fit_series(site, building, series, "h", candidates, weather)
        if isinstance(model, str):  # refused (e.g. too little history): the flow reports it
            continue
        forecasting.store_model(database_url, building, series, model)
    return time.perf_counter() - started


def prime_zone_models(
    database_url: str, *, site: Site, building_id: str, now_utc: datetime, zone_model_days: int = 7
) -> float:
    """First-run planning work done at backfill: every zone's thermal model identified and stored, as the
    optimize flow would, from the last ``zone_model_days`` only (21 days took ~5 min on a loaded 2-core
    machine); the optimize flow reuses them for 24 h, then identifies them from its full window. Returns
    the seconds it took."""
    from sbems.services import planning
    from sbems.services import weather as weather_service

    started = time.perf_counter()
    building = site.building(building_id)
    history_start = now_utc - timedelta(days=zone_model_days)
    weather = weather_service.read_weather_source(
        database_url, building, now_utc, now_utc + timedelta(hours=24), history_start
    )
    inputs = planning.read_optimization_inputs(database_url, building, now_utc, zone_model_days, 900, weather)
    planning.identify_zone_models(database_url, site, building, inputs)
    return time.perf_counter() - started
