"""The fallback chain consumers get (``read_weather_source``): stored forecast covering the horizon ->
measured persistence blended into the typical year -> typical year; each says which and how old."""

from __future__ import annotations

import math
from datetime import timedelta

import pandas as pd
import pytest

from sbems.domain.site import entity_uuid
from sbems.optimization.plan_report import metadata_markdown
from sbems.services.weather import read_weather_source, write_forecast
from sbems.storage import entities
from sbems.storage.weather import ObservationRow, write_weather_observations
from sbems.weather import TypicalYearSource
from sbems.weather.chain import PERSISTENCE_TAU_H
from sbems.weather.open_meteo import parse_open_meteo_forecast
from tests.weather.fixtures import encode, open_meteo_body
from tests.weather.support import NOW, TODAY

HQ = entity_uuid("building", "hq")
TMY = TypicalYearSource("723170TYA.CSV")


@pytest.fixture
def hq(conn, example_site):
    entities.upsert_site(conn, site=example_site)
    conn.commit()
    return example_site.building("hq")


def store_forecast(db_url: str, issued_hour: int, first=TODAY) -> pd.DataFrame:
    issued_at = TODAY + timedelta(hours=issued_hour)
    forecast = parse_open_meteo_forecast(
        encode(open_meteo_body(first)),
        issued_at=issued_at,
        needed_from_utc=issued_at,
        needed_until_utc=issued_at,
    )
    write_forecast(db_url, "hq", forecast)
    return forecast.hours


def observe(conn, at, temp_c: float, source: str = "sensor:outdoor-temp") -> None:
    write_weather_observations(conn, building_id=HQ, rows=[ObservationRow(at, source, temp_c)])
    conn.commit()


def test_the_latest_forecast_covering_the_horizon_is_used(db_url, hq):
    store_forecast(db_url, 4)
    newer = store_forecast(db_url, 9)
    source = read_weather_source(db_url, hq, NOW, NOW + timedelta(hours=24))
    info = source.describe()
    assert info["weather"] == "forecast" and info["source"] == "open-meteo"
    assert info["issued_at"] == "2026-07-01T09:00:00+00:00" and info["age_h"] == pytest.approx(1.33, abs=0.01)
    times = pd.date_range(NOW.replace(minute=0) + timedelta(hours=1), periods=24, freq="h")
    got = source.weather_at(times)
    assert got["outdoor_temp_c"].to_numpy() == pytest.approx(newer.loc[times, "temperature_c"].to_numpy())
    assert got["ghi_w_m2"].to_numpy() == pytest.approx(newer.loc[times, "ghi_w_m2"].to_numpy())
    half = source.weather_at(pd.DatetimeIndex([times[0] + timedelta(minutes=30)]))["outdoor_temp_c"].iloc[0]
    assert half == pytest.approx(newer.loc[times[:2], "temperature_c"].mean())


def test_a_forecast_too_short_for_the_horizon_falls_back_to_measured_persistence(db_url, conn, hq):
    store_forecast(db_url, 9)  # ends 4 July 23:00
    observed_at = NOW - timedelta(minutes=50)
    observe(conn, observed_at, 35.0)
    source = read_weather_source(db_url, hq, NOW, NOW + timedelta(hours=100))
    info = source.describe()
    assert (
        info["weather"] == "persistence"
        and info["observed_temp_c"] == 35.0
        and "no stored forecast" in info["reason"]
    )
    anomaly = 35.0 - TMY.weather_at(pd.DatetimeIndex([observed_at]))["outdoor_temp_c"].iloc[0]
    times = pd.DatetimeIndex([NOW + timedelta(hours=h) for h in (1, 12, 48)])
    expected = (
        TMY.weather_at(times)["outdoor_temp_c"].to_numpy()
        + anomaly
        * pd.Series(
            [math.exp(-((t - observed_at) / timedelta(hours=1)) / PERSISTENCE_TAU_H) for t in times]
        ).to_numpy()
    )
    assert source.weather_at(times)["outdoor_temp_c"].to_numpy() == pytest.approx(expected)
    # the past is what was measured
    assert source.weather_at(pd.DatetimeIndex([observed_at]))["outdoor_temp_c"].iloc[0] == 35.0


def test_without_forecast_or_recent_measurement_the_typical_year(db_url, conn, hq):
    observe(conn, NOW - timedelta(hours=5), 35.0)  # too old to persist
    source = read_weather_source(db_url, hq, NOW, NOW + timedelta(hours=24))
    assert source.describe()["weather"] == "typical-year" and source.describe()["age_h"] is None
    times = pd.date_range(NOW, periods=24, freq="h")
    assert source.weather_at(times).equals(TMY.weather_at(times))


def test_a_forecast_issued_after_now_is_not_used(db_url, hq):
    store_forecast(db_url, 11)
    assert (
        read_weather_source(db_url, hq, NOW, NOW + timedelta(hours=2)).describe()["weather"] == "typical-year"
    )


def test_a_forecast_older_than_the_maximum_age_is_stale(db_url, conn, hq, monkeypatch, caplog):
    """SBEMS_WEATHER_MAX_AGE_H (default 12 h): an older issue is stale even though it covers the horizon;
    the chain moves on to measured persistence, logs it, and the plan's weather line says so."""
    store_forecast(db_url, 9)  # issued 1 July 09:00, valid until 4 July 23:00
    later = TODAY + timedelta(hours=22)  # 13 h after the issue; the horizon is still covered
    observe(conn, later - timedelta(minutes=40), 28.0)
    with caplog.at_level("WARNING", logger="sbems.services.weather"):
        source = read_weather_source(db_url, hq, later, later + timedelta(hours=24))
    info = source.describe()
    assert info["weather"] == "persistence" and info["observed_temp_c"] == 28.0
    assert "stale forecast: open-meteo issued 2026-07-01 09:00 UTC is 13.0 h old (max 12 h" in info["reason"]
    assert any("stale forecast" in r.getMessage() for r in caplog.records)
    (line,) = metadata_markdown({"weather": info})
    assert line.startswith("Weather: persistence from measured persistence") and "stale forecast" in line
    # the same forecast within the maximum age is used
    monkeypatch.setenv("SBEMS_WEATHER_MAX_AGE_H", "14")
    assert (
        read_weather_source(db_url, hq, later, later + timedelta(hours=24)).describe()["weather"]
        == "forecast"
    )
    # stale and no recent measurement: the typical year, and the reason still names the stale forecast
    typical = read_weather_source(
        db_url, hq, later + timedelta(hours=4), later + timedelta(hours=28), max_forecast_age_h=12
    ).describe()
    assert typical["weather"] == "typical-year" and typical["reason"].startswith("stale forecast")
