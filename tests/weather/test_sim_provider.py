"""The production Open-Meteo client against the virtual building's forecast endpoint: the demo's weather
path (``sbems demo`` points SBEMS_WEATHER_URL at the simulator's control port)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from sbems.domain.site import entity_uuid
from sbems.flows.weather import weather
from sbems.services.weather import WeatherSettings, get_forecast, read_weather_source
from sbems.sim.harness import running_sim
from sbems.storage import entities
from sbems.storage.weather import read_forecast_rows
from sbems.weather import weather_source_for

SIM_NOW_UTC = datetime(2026, 7, 6, 18, 20, tzinfo=UTC)


def test_open_meteo_client_accepts_the_simulators_forecast(example_site):
    building = example_site.building("hq")
    with running_sim(example_site, paused=True, seed=3, start_utc=SIM_NOW_UTC) as sim:
        settings = WeatherSettings(
            provider="open-meteo", base_url=sim.control_url, user_agent="sbems-test", retention_days=365
        )
        forecast = get_forecast(settings, building, SIM_NOW_UTC, horizon_h=72)
    frame = forecast.hours
    hours = pd.DatetimeIndex(frame.index)
    assert hours.min() <= pd.Timestamp(SIM_NOW_UTC).floor("h")
    assert hours.max() >= pd.Timestamp(SIM_NOW_UTC + timedelta(hours=72)).floor("h")
    assert (hours.to_series().diff().dropna() == pd.Timedelta(hours=1)).all()
    # a forecast, not the truth: close to the typical year the simulator runs on, but not equal to it
    truth = weather_source_for(building).weather_at(hours)["outdoor_temp_c"].to_numpy()
    error_c = frame["temperature_c"].to_numpy() - truth
    assert np.sqrt(np.mean(error_c**2)) < 4.0
    assert np.abs(error_c).max() > 0.01


@pytest.mark.flows
def test_the_weather_flow_on_the_virtual_building_feeds_the_planners(
    prefect_harness, conn, db_url, example_site
):
    """End to end: the simulator's Open-Meteo endpoint -> the weather flow -> weather_forecasts -> the
    weather a planner reads (step ``forecast``, this issue), with no sbems.sim import in the path."""
    entities.upsert_site(conn, site=example_site)
    conn.commit()
    building = example_site.building("hq")
    with running_sim(example_site, paused=True, seed=3, start_utc=SIM_NOW_UTC) as sim:
        summary = weather(
            building_id="hq",
            database_url=db_url,
            now_utc=SIM_NOW_UTC,
            provider="open-meteo",
            base_url=sim.control_url,
        )
    assert summary["status"] == "ok" and summary["source"] == "open-meteo"
    rows = read_forecast_rows(conn, building_id=entity_uuid("building", "hq"))
    valid = pd.DatetimeIndex([r["valid_at"] for r in rows])
    assert len(rows) == summary["written"] == summary["hours"] and valid.is_unique
    assert (valid.to_series().diff().dropna() == pd.Timedelta(hours=1)).all()
    horizon_end = SIM_NOW_UTC + timedelta(hours=48)
    used = read_weather_source(db_url, building, SIM_NOW_UTC + timedelta(minutes=5), horizon_end)
    info = used.describe()
    assert info["weather"] == "forecast" and info["issued_at"] == summary["issued_at"]
    ahead = pd.date_range(pd.Timestamp(SIM_NOW_UTC).ceil("h"), horizon_end, freq="h")
    stored = pd.Series([r["temperature_c"] for r in rows], index=valid)
    assert used.weather_at(ahead)["outdoor_temp_c"].to_numpy() == pytest.approx(stored[ahead].to_numpy())
