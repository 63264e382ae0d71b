"""NWS provider against a real HTTP server on loopback: points -> hourly + grid data, °F -> °C, irradiance
from sky cover, User-Agent, bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sbems.weather import http as weather_http
from sbems.weather.forecast import WeatherRefused
from sbems.weather.nws import get_nws_forecast, parse_nws_forecast
from tests.weather.fixtures import (
    encode,
    nws_grid_body,
    nws_hourly_body,
    nws_hourly_qv_body,
    nws_points_body,
)
from tests.weather.server import FakeProvider, Reply

FIRST = datetime(2026, 7, 1, 10, tzinfo=UTC)
NEEDED = FIRST + timedelta(hours=72)
LAT, LON = 36.07, -79.79
UA = "sbems-test (ops@example.org)"


@pytest.fixture(autouse=True)
def _no_back_off(monkeypatch):
    monkeypatch.setattr(weather_http, "DEFAULT_BACKOFF_S", 0.0)


def serve(provider: FakeProvider, hourly: dict, grid: dict) -> None:
    provider.route(f"/points/{LAT:.4f},{LON:.4f}", Reply(body=encode(nws_points_body(provider.url))))
    provider.route("/gridpoints/RAH/10,20/forecast/hourly", Reply(body=encode(hourly)))
    provider.route("/gridpoints/RAH/10,20", Reply(body=encode(grid)))


def test_fetches_points_then_hourly_and_grid_with_the_user_agent(provider):
    serve(provider, nws_hourly_body(FIRST, temp_f=86.0), nws_grid_body(FIRST, sky_cover_pct=0))
    forecast = get_nws_forecast(provider.url, LAT, LON, user_agent=UA, now_utc=FIRST, needed_until_utc=NEEDED)
    assert forecast.source == "nws" and forecast.issued_at == FIRST
    assert len(forecast.hours) == 156 and forecast.hours.index[0] == FIRST
    assert forecast.hours["temperature_c"].to_numpy() == pytest.approx(30.0)  # 86 °F
    assert forecast.hours["relative_humidity_pct"].eq(55).all()
    assert {headers["user-agent"] for _, headers in provider.requests} == {UA}
    noon_edt = forecast.hours.loc[datetime(2026, 7, 1, 17, tzinfo=UTC)]  # 13:00 EDT, sun high in July
    midnight = forecast.hours.loc[datetime(2026, 7, 2, 5, tzinfo=UTC)]
    assert 700 < noon_edt["ghi_w_m2"] < 1100 and noon_edt["dni_w_m2"] > noon_edt["dhi_w_m2"] > 0
    assert midnight["ghi_w_m2"] == 0 and midnight["dni_w_m2"] == 0


def test_sky_cover_reduces_irradiance():
    hourly = encode(nws_hourly_body(FIRST))
    clear = parse_nws_forecast(
        hourly,
        encode(nws_grid_body(FIRST, sky_cover_pct=0)),
        latitude=LAT,
        longitude=LON,
        needed_from_utc=FIRST,
        needed_until_utc=NEEDED,
    )
    overcast = parse_nws_forecast(
        hourly,
        encode(nws_grid_body(FIRST, sky_cover_pct=100)),
        latitude=LAT,
        longitude=LON,
        needed_from_utc=FIRST,
        needed_until_utc=NEEDED,
    )
    noon = datetime(2026, 7, 1, 17, tzinfo=UTC)
    assert overcast.hours.loc[noon, "ghi_w_m2"] == pytest.approx(0.25 * clear.hours.loc[noon, "ghi_w_m2"])
    assert overcast.hours["cloud_cover_pct"].eq(100).all()


def test_an_issue_older_than_its_first_period_is_accepted():
    """NWS updates the forecast every few hours; the hourly periods start at the current hour."""
    body = nws_hourly_body(FIRST)
    body["properties"]["updateTime"] = "2026-07-01T07:12:00+00:00"
    forecast = parse_nws_forecast(
        encode(body),
        encode(nws_grid_body(FIRST)),
        latitude=LAT,
        longitude=LON,
        needed_from_utc=FIRST + timedelta(minutes=20),
        needed_until_utc=NEEDED,
    )
    assert forecast.issued_at == datetime(2026, 7, 1, 7, 12, tzinfo=UTC) and forecast.hours.index[0] == FIRST
    with pytest.raises(WeatherRefused, match="after the first hour needed"):
        parse_nws_forecast(
            encode(body),
            encode(nws_grid_body(FIRST)),
            latitude=LAT,
            longitude=LON,
            needed_from_utc=FIRST - timedelta(hours=1),
            needed_until_utc=NEEDED,
        )


def test_http_403_without_retry_is_a_refusal(provider):
    provider.route(f"/points/{LAT:.4f},{LON:.4f}", Reply(403, b'{"title": "Forbidden"}'))
    with pytest.raises(WeatherRefused, match="HTTP 403"):
        get_nws_forecast(provider.url, LAT, LON, user_agent=UA, now_utc=FIRST, needed_until_utc=NEEDED)
    assert provider.hits(f"/points/{LAT:.4f},{LON:.4f}") == 1


def quantity(value, unit_code: str = "wmoUnit:degC", legacy_unit: str | None = None) -> dict:
    """The QuantitativeValue form in one period; ``legacy_unit`` also keeps a temperatureUnit."""
    body = nws_hourly_qv_body(FIRST)
    period = body["properties"]["periods"][3]
    period["temperature"] = {"unitCode": unit_code, "value": value}
    if legacy_unit is not None:
        period["temperatureUnit"] = legacy_unit
    return body


def no_humidity() -> dict:
    body = nws_hourly_body(FIRST)
    body["properties"]["periods"][5]["relativeHumidity"] = None
    return body


def duplicated() -> dict:
    body = nws_hourly_body(FIRST)
    periods = body["properties"]["periods"]
    periods[10] = periods[9]
    return body


def missing_hour() -> dict:
    body = nws_hourly_body(FIRST)
    del body["properties"]["periods"][20]
    return body


@pytest.mark.parametrize(
    ("hourly", "grid", "reason"),
    [
        (b"<html>", encode(nws_grid_body(FIRST)), "not JSON"),
        (encode(quantity(20, "wmoUnit:K")), encode(nws_grid_body(FIRST)), "bad temperature"),
        (encode(quantity(None)), encode(nws_grid_body(FIRST)), "bad temperature"),
        (encode(quantity("20")), encode(nws_grid_body(FIRST)), "bad temperature"),
        (encode(quantity(20, legacy_unit="F")), encode(nws_grid_body(FIRST)), "bad temperature"),
        (encode(quantity(float("nan"))), encode(nws_grid_body(FIRST)), "NaN|null|missing"),
        (encode(no_humidity()), encode(nws_grid_body(FIRST)), "bad relativeHumidity"),
        (encode(duplicated()), encode(nws_grid_body(FIRST)), "duplicated hours"),
        (encode(missing_hour()), encode(nws_grid_body(FIRST)), "missing hours"),
        (encode(nws_hourly_body(FIRST, hours=48)), encode(nws_grid_body(FIRST)), "too short"),
        (encode(nws_hourly_body(FIRST)), encode(nws_grid_body(FIRST, hours=24)), "no sky cover for"),
        (encode(nws_hourly_body(FIRST)), encode({"properties": {}}), "skyCover missing"),
    ],
)
def test_refuses_bad_input_with_a_reason(hourly, grid, reason):
    with pytest.raises(WeatherRefused, match=reason):
        parse_nws_forecast(
            hourly, grid, latitude=LAT, longitude=LON, needed_from_utc=FIRST, needed_until_utc=NEEDED
        )


@pytest.mark.parametrize(
    ("body", "expected_c", "fourth_c"),
    [
        (nws_hourly_qv_body(FIRST, temp=21.1, unit="degC"), 21.1, 21.1),
        (nws_hourly_qv_body(FIRST, temp=86.0, unit="degF"), 30.0, 30.0),
        (quantity(20, legacy_unit="C"), 21.1, 20.0),  # a transitional answer keeping temperatureUnit
        (quantity(68, "wmoUnit:degF", legacy_unit="wmoUnit:degF"), 21.1, 20.0),
    ],
)
def test_the_quantitative_value_temperature_is_parsed(body, expected_c, fourth_c):
    """NWS's newer form (feature flag forecast_temperature_qv): {"unitCode": "wmoUnit:degC|degF", "value"}."""
    forecast = parse_nws_forecast(
        encode(body),
        encode(nws_grid_body(FIRST)),
        latitude=LAT,
        longitude=LON,
        needed_from_utc=FIRST,
        needed_until_utc=NEEDED,
    )
    temps = forecast.hours["temperature_c"]
    assert temps.drop(temps.index[3]).to_numpy() == pytest.approx(expected_c)
    assert temps.iloc[3] == pytest.approx(fourth_c)


def test_the_feature_flag_is_asked_for_and_the_quantity_answer_parsed(provider):
    serve(provider, nws_hourly_qv_body(FIRST, temp=25.0), nws_grid_body(FIRST))
    forecast = get_nws_forecast(provider.url, LAT, LON, user_agent=UA, now_utc=FIRST, needed_until_utc=NEEDED)
    assert forecast.hours["temperature_c"].to_numpy() == pytest.approx(25.0)
    assert {headers["feature-flags"] for _, headers in provider.requests} == {"forecast_temperature_qv"}
