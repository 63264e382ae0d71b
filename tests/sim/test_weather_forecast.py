"""The simulator's weather forecasts: the seeded error model (pure) and the Open-Meteo endpoint over HTTP."""

from __future__ import annotations

import httpx
import numpy as np
import pandas as pd
import pytest
from pvlib import clearsky, solarposition

from sbems.sim.harness import running_sim
from sbems.sim.weather_forecast import (
    ForecastQueryError,
    cloud_cover_pct,
    forecast_from_truth,
    parse_forecast_query,
)
from sbems.weather.typical_year import read_typical_year, weather_at
from tests.sim.conftest import HOT_AFTERNOON_UTC

YEAR = read_typical_year("723170TYA.CSV")
LEADS_H = np.arange(0, 97)
HOURLY = (
    "temperature_2m,relative_humidity_2m,shortwave_radiation,direct_normal_irradiance,diffuse_radiation,"
    "cloud_cover"
)
QUERY = {
    "latitude": "36.1",
    "longitude": "-79.95",
    "hourly": HOURLY,
    "forecast_days": "4",
    "timezone": "UTC",
}


def _forecast(issued_at: pd.Timestamp, seed: int = 0, hours: int = 97) -> tuple[pd.DataFrame, pd.DataFrame]:
    times = pd.date_range(issued_at, periods=hours, freq="h")
    truth = weather_at(YEAR, times)
    fc = forecast_from_truth(truth, issued_at, latitude=YEAR.latitude, longitude=YEAR.longitude, seed=seed)
    return truth, fc


@pytest.fixture(scope="module")
def temperature_errors() -> np.ndarray:
    """Forecast minus truth (K) by lead, for 200 issue times spread over the year (rows)."""
    start = pd.Timestamp("2026-01-01", tz="UTC")
    rows = []
    for k in range(200):
        issued = start + pd.Timedelta(hours=43 * k)
        truth, fc = _forecast(issued)
        rows.append(fc["outdoor_temp_c"].to_numpy() - truth["outdoor_temp_c"].to_numpy())
    return np.array(rows)


def test_temperature_rmse_grows_with_lead(temperature_errors):
    rmse = np.sqrt((temperature_errors**2).mean(axis=0))
    assert 0.7 <= rmse[24] <= 1.3
    assert 1.5 <= rmse[72] <= 2.5
    assert rmse[0] < rmse[24] < rmse[48] < rmse[72] < rmse[96]


def test_errors_are_correlated_from_hour_to_hour(temperature_errors):
    lag1 = np.corrcoef(temperature_errors[:, :-1].ravel(), temperature_errors[:, 1:].ravel())[0, 1]
    assert lag1 > 0.8


def test_lead_zero_is_close_to_truth(temperature_errors):
    assert np.abs(temperature_errors[:, 0]).max() < 1.2
    assert np.sqrt((temperature_errors[:, 0] ** 2).mean()) < 0.4


def test_same_seed_same_forecast_and_a_stable_prefix():
    issued = pd.Timestamp("2026-07-10 06:00", tz="UTC")
    _, first = _forecast(issued, seed=7)
    _, again = _forecast(issued, seed=7)
    _, other = _forecast(issued, seed=8)
    _, shorter = _forecast(issued, seed=7, hours=25)
    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(first["outdoor_temp_c"], other["outdoor_temp_c"])
    pd.testing.assert_frame_equal(shorter, first.iloc[:25])


def test_humidity_irradiance_and_cloud_cover_stay_physical():
    issued = pd.Timestamp("2026-04-02 12:00", tz="UTC")
    truth, fc = _forecast(issued, seed=3, hours=16 * 24)
    assert fc["relative_humidity_pct"].between(0, 100).all()
    assert (fc["dew_point_c"] <= fc["outdoor_temp_c"] + 1e-9).all()
    assert (fc[["ghi_w_m2", "dni_w_m2", "dhi_w_m2", "direct_horizontal_w_m2"]] >= 0).all().all()
    np.testing.assert_allclose(fc["dhi_w_m2"] + fc["direct_horizontal_w_m2"], fc["ghi_w_m2"], atol=1e-6)
    assert fc["cloud_cover_pct"].between(0, 100).all()
    night = truth["ghi_w_m2"] == 0
    assert night.any() and (fc.loc[night, "ghi_w_m2"] == 0).all()
    # cloud cover is the cloud cover of the forecast clear-sky index: more clouds, less sun
    zenith = solarposition.get_solarposition(fc.index, YEAR.latitude, YEAR.longitude)["apparent_zenith"]
    clear = clearsky.haurwitz(zenith)["ghi"]
    day = clear > 200
    np.testing.assert_allclose(
        fc.loc[day, "cloud_cover_pct"], cloud_cover_pct(fc.loc[day, "ghi_w_m2"] / clear[day]), atol=1e-6
    )
    assert fc["cloud_cover_pct"].std() > 1  # not a constant


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"latitude": "100"}, "Latitude must be in range of -90 to 90°. Given: 100.0."),
        ({"longitude": "-181"}, "Longitude must be in range of -180 to 180°. Given: -181.0."),
        ({"latitude": "north"}, "Value of type 'Float' required for key 'latitude'."),
        ({"longitude": None}, "Value required for key 'longitude'."),
        ({"hourly": "temperature_2m,tempeture_2m"}, "invalid String value tempeture_2m for key hourly"),
        ({"forecast_days": "17"}, "Forecast days is invalid. Allowed range 0 to 16. Given 17."),
        ({"temperature_unit": "kelvin"}, "invalid String value kelvin for key temperature_unit"),
        ({"daily": "temperature_2m_max"}, "Parameter 'daily' is not supported"),
    ],
)
def test_query_validation(change, reason):
    params = {**QUERY, **change}
    items = [(k, v) for k, v in params.items() if v is not None]
    with pytest.raises(ForecastQueryError) as excinfo:
        parse_forecast_query(items)
    assert reason in excinfo.value.reason


def test_query_accepts_repeated_hourly_parameters():
    items = [*((k, v) for k, v in QUERY.items() if k != "hourly"), ("hourly", "temperature_2m")]
    items.append(("hourly", "cloud_cover"))
    assert parse_forecast_query(items).hourly == ("temperature_2m", "cloud_cover")


# ----------------------------------------------------------------------------- over HTTP, on a running sim
@pytest.fixture(scope="module")
def sim(example_site):
    with running_sim(example_site, paused=True, seed=5, start_utc=HOT_AFTERNOON_UTC) as handle:
        yield handle


def _get(sim, **params) -> httpx.Response:
    return httpx.get(sim.control_url + "/v1/forecast", params={**QUERY, **params}, timeout=30.0)


def test_the_sim_answers_the_open_meteo_shape(sim):
    response = _get(sim)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {
        "latitude", "longitude", "generationtime_ms", "utc_offset_seconds", "timezone",
        "timezone_abbreviation", "elevation", "hourly_units", "hourly",
    }  # fmt: skip
    assert (body["latitude"], body["longitude"]) == (36.1, -79.95)
    assert (body["utc_offset_seconds"], body["timezone"], body["timezone_abbreviation"]) == (0, "GMT", "GMT")
    assert isinstance(body["elevation"], float) and body["elevation"] > 0
    assert body["hourly_units"] == {
        "time": "iso8601",
        "temperature_2m": "°C",
        "relative_humidity_2m": "%",
        "shortwave_radiation": "W/m²",
        "direct_normal_irradiance": "W/m²",
        "diffuse_radiation": "W/m²",
        "cloud_cover": "%",
    }
    hourly = body["hourly"]
    assert list(hourly) == ["time", *HOURLY.split(",")]
    times = hourly["time"]
    assert len(times) == 96 and times[0] == "2026-07-10T00:00" and times[-1] == "2026-07-13T23:00"
    assert all(len(values) == 96 for values in hourly.values())
    assert all(isinstance(v, int) and 0 <= v <= 100 for v in hourly["relative_humidity_2m"])
    assert all(v >= 0 for v in hourly["shortwave_radiation"])
    # the sim clock is "now" (18:00): the forecast for this hour is close to the plant's weather
    state = sim.state()
    now = times.index("2026-07-10T18:00")
    assert hourly["temperature_2m"][now] == pytest.approx(state["outdoor_temp_c"], abs=1.0)
    # same sim time, same forecast
    again = _get(sim).json()
    assert again["hourly"] == hourly


def test_the_sim_clock_issues_the_forecast(sim):
    before = _get(sim).json()["hourly"]
    sim.advance(86_400)
    after = _get(sim).json()["hourly"]
    assert after["time"][0] == "2026-07-11T00:00"
    # a later issue: the shared valid hours differ (a new forecast run), but not by much at short lead
    shared = slice(0, 24)
    old = np.array(before["temperature_2m"][24:48])
    new = np.array(after["temperature_2m"][shared])
    assert not np.array_equal(old, new)
    assert np.abs(old - new).mean() < 3.0


def test_units_and_timezones(sim):
    fahrenheit = _get(sim, temperature_unit="fahrenheit", forecast_days="1").json()
    assert fahrenheit["hourly_units"]["temperature_2m"] == "°F"
    assert min(fahrenheit["hourly"]["temperature_2m"]) > 50
    local = _get(sim, timezone="America/New_York", forecast_days="1").json()
    assert (local["utc_offset_seconds"], local["timezone_abbreviation"]) == (-14_400, "EDT")
    assert local["hourly"]["time"][0].endswith("T00:00") and len(local["hourly"]["time"]) == 24


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"latitude": "100"}, "Latitude must be in range of -90 to 90°. Given: 100.0."),
        ({"hourly": "temperature_2m,wind_speed_10m"}, "invalid String value wind_speed_10m for key hourly"),
        ({"timezone": "Mars/Olympus"}, "Invalid timezone"),
        ({"forecast_days": "x"}, "Value of type 'Int' required for key 'forecast_days'."),
    ],
)
def test_bad_requests_get_the_api_error_body(sim, params, reason):
    response = _get(sim, **params)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] is True and reason in body["reason"]


def test_no_hourly_variables_only_the_header(sim):
    body = httpx.get(
        sim.control_url + "/v1/forecast", params={"latitude": "1", "longitude": "2"}, timeout=30.0
    ).json()
    assert "hourly" not in body and "hourly_units" not in body and body["latitude"] == 1.0
