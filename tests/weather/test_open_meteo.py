"""Open-Meteo provider against a real HTTP server on loopback: good answers, every bad input, HTTP errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from sbems.weather import http as weather_http
from sbems.weather.forecast import WeatherRefused
from sbems.weather.open_meteo import get_open_meteo_forecast, parse_open_meteo_forecast
from tests.weather.fixtures import encode, open_meteo_body
from tests.weather.server import Reply

FIRST = datetime(2026, 7, 1, tzinfo=UTC)
NOW = datetime(2026, 7, 1, 10, 20, tzinfo=UTC)
NEEDED = NOW + timedelta(hours=72)


@pytest.fixture(autouse=True)
def _no_back_off(monkeypatch):
    monkeypatch.setattr(weather_http, "DEFAULT_BACKOFF_S", 0.0)
    weather_http._VALIDATED.clear()


def parse(document: dict | bytes):
    body = document if isinstance(document, bytes) else encode(document)
    return parse_open_meteo_forecast(
        body, issued_at=NOW.replace(minute=0), needed_from_utc=NOW, needed_until_utc=NEEDED
    )


def test_parses_every_hour_in_si_units():
    forecast = parse(open_meteo_body(FIRST))
    assert len(forecast.hours) == 96
    assert forecast.hours.index[0] == FIRST and forecast.hours.index[-1] == FIRST + timedelta(hours=95)
    assert forecast.hours["temperature_c"].iloc[6] == pytest.approx(25.0)
    assert forecast.hours["relative_humidity_pct"].eq(60).all()
    assert forecast.hours.loc[FIRST + timedelta(hours=12), "ghi_w_m2"] == pytest.approx(800.0)
    assert forecast.horizon_h == pytest.approx(95 - 10)


def with_hourly(**values) -> dict:
    body = open_meteo_body(FIRST)
    body["hourly"].update(values)
    return body


def bad_unit() -> dict:
    body = open_meteo_body(FIRST)
    body["hourly_units"]["temperature_2m"] = "°F"
    return body


def shifted_times(offset_h: int, at: int) -> dict:
    body = open_meteo_body(FIRST)
    times = body["hourly"]["time"]
    times[at] = times[at + offset_h]
    return body


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"hourly_units": {', "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (encode({"hourly_units": {}}), "no hourly_units/hourly"),
        (encode(bad_unit()), "temperature_2m in '°F'"),
        (encode(open_meteo_body(FIRST, utc_offset_seconds=-18000)), "not UTC"),
        (encode(with_hourly(temperature_2m=[None] * 96)), "null or non-numeric"),
        (encode(open_meteo_body(FIRST)).replace(b"60", b"NaN", 1), "outside|NaN"),
        (encode(with_hourly(cloud_cover=[25] * 95)), "not one value per time"),
        (encode(shifted_times(1, 40)), "duplicated hours"),
        (encode(open_meteo_body(FIRST, hours=60)), "too short"),
        (encode(with_hourly(relative_humidity_2m=[160] * 96)), "outside"),
        (encode(open_meteo_body(FIRST + timedelta(hours=12))), "after the first hour needed"),
        (encode({"error": True, "reason": "Latitude must be in range"}), "provider error"),
    ],
)
def test_refuses_bad_input_with_a_reason(body, reason):
    with pytest.raises(WeatherRefused, match=reason) as refused:
        parse(body)
    assert refused.value.payload == body and refused.value.source == "open-meteo"


def test_refuses_a_missing_hour():
    body = open_meteo_body(FIRST)
    for values in body["hourly"].values():
        del values[30]
    with pytest.raises(WeatherRefused, match="missing hours after 2026-07-02T05:00"):
        parse(body)


def test_get_asks_the_documented_request_and_parses(provider):
    provider.route("/v1/forecast", Reply(body=encode(open_meteo_body(FIRST))))
    forecast = get_open_meteo_forecast(provider.url, 36.07, -79.79, now_utc=NOW, needed_until_utc=NEEDED)
    assert len(forecast.hours) == 96 and forecast.issued_at == datetime(2026, 7, 1, 10, tzinfo=UTC)
    path, _ = provider.requests[0]
    for part in (
        "latitude=36.0700",
        "longitude=-79.7900",
        "hourly=temperature_2m%2Crelative_humidity_2m%2Cshortwave_radiation%2Cdirect_normal_irradiance"
        "%2Cdiffuse_radiation%2Ccloud_cover",
        "forecast_days=4",
        "timezone=UTC",
    ):
        assert part in path


def test_server_errors_and_429_are_retried(provider):
    good = Reply(body=encode(open_meteo_body(FIRST)))
    provider.route("/v1/forecast", Reply(503, b"busy"), Reply(429, b"slow down", {"Retry-After": "0"}), good)
    forecast = get_open_meteo_forecast(provider.url, 36.07, -79.79, now_utc=NOW, needed_until_utc=NEEDED)
    assert len(forecast.hours) == 96 and provider.hits("/v1/forecast") == 3


def test_retries_end_in_a_refusal(provider):
    provider.route("/v1/forecast", Reply(500, b"down"))
    with pytest.raises(WeatherRefused, match="HTTP 500 .* after 3 attempts"):
        get_open_meteo_forecast(provider.url, 36.07, -79.79, now_utc=NOW, needed_until_utc=NEEDED)
    assert provider.hits("/v1/forecast") == 3


def test_client_errors_are_not_retried(provider):
    provider.route("/v1/forecast", Reply(400, json.dumps({"error": True, "reason": "bad"}).encode()))
    with pytest.raises(WeatherRefused, match="HTTP 400"):
        get_open_meteo_forecast(provider.url, 36.07, -79.79, now_utc=NOW, needed_until_utc=NEEDED)
    assert provider.hits("/v1/forecast") == 1


def test_unreachable_server_is_refused_after_retries():
    with pytest.raises(WeatherRefused, match="ConnectError"):
        get_open_meteo_forecast("http://127.0.0.1:9", 36.07, -79.79, now_utc=NOW, needed_until_utc=NEEDED)


def test_conditional_get_reuses_the_body_on_304(provider):
    modified = "Wed, 01 Jul 2026 09:00:00 GMT"
    provider.route(
        "/v1/forecast",
        Reply(body=encode(open_meteo_body(FIRST)), headers={"ETag": '"v1"', "Last-Modified": modified}),
        Reply(304),
    )
    first = get_open_meteo_forecast(provider.url, 36.07, -79.79, now_utc=NOW, needed_until_utc=NEEDED)
    second = get_open_meteo_forecast(provider.url, 36.07, -79.79, now_utc=NOW, needed_until_utc=NEEDED)
    assert first.issued_at == second.issued_at == datetime(2026, 7, 1, 9, tzinfo=UTC)
    assert second.hours.equals(first.hours)
    _, headers = provider.requests[1]
    assert headers["if-none-match"] == '"v1"' and headers["if-modified-since"] == modified


def test_conditional_get_survives_the_process_with_a_cache_dir(provider, tmp_path):
    """A served deployment runs each flow run in a new process: the validators and body come from disk."""
    modified = "Wed, 01 Jul 2026 09:00:00 GMT"
    provider.route(
        "/v1/forecast",
        Reply(body=encode(open_meteo_body(FIRST)), headers={"ETag": '"v2"', "Last-Modified": modified}),
        Reply(304),
    )
    fetch = dict(now_utc=NOW, needed_until_utc=NEEDED, cache_dir=tmp_path / "weather-http")
    first = get_open_meteo_forecast(provider.url, 36.07, -79.79, **fetch)
    weather_http._VALIDATED.clear()  # what a new process starts with
    second = get_open_meteo_forecast(provider.url, 36.07, -79.79, **fetch)
    assert second.hours.equals(first.hours) and second.issued_at == first.issued_at
    _, headers = provider.requests[1]
    assert headers["if-none-match"] == '"v2"' and headers["if-modified-since"] == modified
    assert len(list((tmp_path / "weather-http").glob("*.body"))) == 1


def test_a_304_without_a_remembered_body_is_refused(provider):
    provider.route("/v1/forecast", Reply(304))
    with pytest.raises(WeatherRefused, match="HTTP 304"):
        get_open_meteo_forecast(provider.url, 36.07, -79.79, now_utc=NOW, needed_until_utc=NEEDED)
    assert provider.hits("/v1/forecast") == 1


def test_a_slow_server_times_out_and_is_retried(provider):
    provider.route("/v1/forecast", Reply(body=encode(open_meteo_body(FIRST)), delay_s=1.0))
    with pytest.raises(WeatherRefused, match="ReadTimeout.* after 3 attempts"):
        get_open_meteo_forecast(
            provider.url, 36.07, -79.79, now_utc=NOW, needed_until_utc=NEEDED, timeout_s=0.2
        )
    assert provider.hits("/v1/forecast") == 3


def test_retry_after_in_seconds_or_as_an_http_date_is_capped():
    assert weather_http.retry_after_s("2", 0.5) == 2.0
    assert weather_http.retry_after_s(None, 0.5) == 0.5 and weather_http.retry_after_s("soon", 0.5) == 0.5
    assert weather_http.retry_after_s("3600", 0.5) == weather_http.MAX_RETRY_AFTER_S
    assert weather_http.retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT", 0.5) == 0.0  # in the past
