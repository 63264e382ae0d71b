"""Forecasts and optimal start plan with the stored forecast (``read_weather_source``), not the TMY."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from sbems.optimization.zone_model import ZoneModelParams
from sbems.services.forecasting import exogenous
from sbems.services.planning import OptimizationInputs, ZoneModels, plan_building
from sbems.services.schedules import schedule_targets
from sbems.services.weather import read_weather_source, write_forecast
from sbems.storage import entities
from sbems.weather.open_meteo import parse_open_meteo_forecast
from tests.weather.fixtures import encode, open_meteo_body

# Monday 2026-07-06, 06:15 EDT: unoccupied, occupancy at 07:00 (3 steps of 15 min)
NOW = datetime(2026, 7, 6, 10, 15, tzinfo=UTC)
SLOW_ZONE = ZoneModelParams(
    a_frac=0.95, b_cool_c_per_kw=-0.004, b_gain_c_per_unit=(), c_gain_delta_c=0.0, step_s=900
)


@pytest.fixture
def heat_wave(conn, db_url, example_site):
    """A stored Open-Meteo forecast of 45 °C for the whole horizon, and the source reading it."""
    entities.upsert_site(conn, site=example_site)
    conn.commit()
    body = open_meteo_body(NOW.replace(hour=0, minute=0))
    body["hourly"]["temperature_2m"] = [45.0] * 96
    issued_at = NOW.replace(minute=0)
    write_forecast(
        db_url,
        "hq",
        parse_open_meteo_forecast(
            encode(body), issued_at=issued_at, needed_from_utc=NOW, needed_until_utc=NOW + timedelta(hours=72)
        ),
    )
    return read_weather_source(db_url, example_site.building("hq"), NOW, NOW + timedelta(hours=24))


def test_forecast_inputs_come_from_the_stored_forecast(heat_wave, example_site):
    assert heat_wave.describe()["weather"] == "forecast"
    hq = example_site.building("hq")
    index = pd.date_range(NOW + timedelta(minutes=45), periods=24, freq="h")
    assert exogenous(example_site, hq, index, weather=heat_wave)["outdoor_temp_c"].eq(45.0).all()
    assert exogenous(example_site, hq, index)["outdoor_temp_c"].max() < 40  # the typical year


def test_optimal_start_starts_earlier_before_a_heat_wave(heat_wave, example_site):
    hq = example_site.building("hq")
    temps, models = {"z2": 23.2}, {"z2": SLOW_ZONE}
    assert schedule_targets(example_site, hq, NOW, temps, models) == []  # typical year: time enough
    (target,) = schedule_targets(example_site, hq, NOW, temps, models, weather=heat_wave)
    assert target.zone_id == "z2" and target.setpoint_c == 23.0 and "optimal start" in target.reason


def test_the_plan_says_which_weather_and_how_old_even_when_refused(heat_wave, example_site):
    """The plan's summary (the panel's Plans page) and its artifact markdown name the weather step, its
    source, issue time and age: here a plan refused for want of zone models."""
    hq = example_site.building("hq")
    empty = pd.Series(dtype=float, index=pd.DatetimeIndex([], tz="UTC"))
    inputs = OptimizationInputs("hq", NOW, 900, False, empty, {}, weather=heat_wave)
    models = ZoneModels({}, {}, {zone.id: "no history" for zone in hq.zones}, [])
    outcome = plan_building(example_site, hq, inputs, models, horizon_h=24)
    assert outcome.status == "refused"
    weather = outcome.summary["weather"]  # what the panel shows
    assert weather["weather"] == "forecast" and weather["source"] == "open-meteo"
    assert weather["issued_at"] == "2026-07-06T10:00:00+00:00" and weather["age_h"] == 0.25
    line = "Weather: forecast from open-meteo (issued 2026-07-06T10:00:00+00:00, age 0.25 h"
    assert line in outcome.markdown
