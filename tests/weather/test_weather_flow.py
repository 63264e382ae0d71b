"""The weather flow end to end: a loopback Open-Meteo server -> weather_forecasts (idempotent), refusals
quarantined, observations from the building's outdoor-air sensor or the provider's current conditions (also
for the hours a configured sensor stays silent)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prefect.artifacts import Artifact

from sbems.deployments import build_deployments
from sbems.domain.site import entity_uuid
from sbems.flows.weather import weather
from sbems.services.weather import read_weather_source
from sbems.storage import entities
from sbems.storage.quarantine import read_quarantine
from sbems.storage.readings import SensorRow, write_sensor_readings
from sbems.storage.weather import read_forecast_rows
from tests.weather.fixtures import encode, open_meteo_body
from tests.weather.server import Reply
from tests.weather.support import NOW, TODAY, with_outdoor_sensor, without_outdoor_sensor

pytestmark = pytest.mark.flows
HQ = entity_uuid("building", "hq")


def observations(conn) -> list[tuple]:
    return conn.execute(
        "SELECT source, observed_at, temperature_c FROM weather_observations WHERE building_id = %s "
        "ORDER BY observed_at",
        (HQ,),
    ).fetchall()


def test_stores_one_row_per_valid_hour_idempotently(prefect_harness, provider, conn, db_url, example_site):
    entities.upsert_site(conn, site=without_outdoor_sensor(example_site))
    conn.commit()
    body = open_meteo_body(TODAY)
    provider.route("/v1/forecast", Reply(body=encode(body)))
    run = dict(
        building_id="hq", database_url=db_url, now_utc=NOW, provider="open-meteo", base_url=provider.url
    )

    first = weather(**run)
    assert first["status"] == "ok" and first["written"] == 96 and first["source"] == "open-meteo"
    assert first["issued_at"] == "2026-07-01T10:00:00+00:00" and first["horizon_h"] == 85.0
    rows = read_forecast_rows(conn, building_id=HQ)
    assert len(rows) == 96 and len({r["valid_at"] for r in rows}) == 96
    assert [r["temperature_c"] for r in rows] == body["hourly"]["temperature_2m"]
    # no outdoor sensor: the provider's conditions at the issue hour
    assert observations(conn) == [
        ("open-meteo:current", TODAY + timedelta(hours=10), rows[10]["temperature_c"])
    ]

    artifact = Artifact.get("weather-hq", _sync=True)  # the latest: source, issue time, horizon
    assert "| source | open-meteo |" in artifact.data
    assert "| issued_at | 2026-07-01T10:00:00+00:00 |" in artifact.data
    assert "| horizon_h | 85.0 |" in artifact.data

    again = weather(**run)
    assert again["written"] == 96 and len(read_forecast_rows(conn, building_id=HQ)) == 96


def test_the_weather_flow_is_deployed_hourly_per_building():
    (deployment,) = build_deployments(["hq"], ["weather"])
    assert deployment.name == "weather-hq" and deployment.parameters == {"building_id": "hq"}
    assert deployment.schedules[0].schedule.interval == timedelta(hours=1)


def test_a_refused_answer_is_quarantined_and_nothing_stored(
    prefect_harness, provider, conn, db_url, example_site
):
    entities.upsert_site(conn, site=example_site)
    conn.commit()
    body = open_meteo_body(TODAY)
    body["hourly_units"]["temperature_2m"] = "°F"
    provider.route("/v1/forecast", Reply(body=encode(body)))
    result = weather("hq", db_url, NOW, "open-meteo", provider.url)
    assert result["status"] == "refused" and "°F" in result["reason"]
    assert read_forecast_rows(conn, building_id=HQ) == []
    (item,) = read_quarantine(conn, source="weather:open-meteo")
    assert "temperature_2m in '°F'" in item["reason"] and bytes(item["payload"]) == encode(body)
    assert observations(conn) == []


def test_outdoor_sensor_is_stored_as_hourly_observations(prefect_harness, conn, db_url, example_site):
    site = with_outdoor_sensor(example_site)
    entities.upsert_site(conn, site=site)
    sensor = entity_uuid("sensor", "hq", "outdoor-temp")
    readings = [
        SensorRow(TODAY + timedelta(hours=8, minutes=m), sensor, None, 20.0 + m / 15, "celsius")
        for m in range(0, 60, 15)
    ] + [
        SensorRow(TODAY + timedelta(hours=9, minutes=m), sensor, None, 30.0, "celsius")
        for m in range(0, 60, 15)
    ]
    write_sensor_readings(conn, rows=readings)
    conn.commit()
    result = weather("hq", db_url, NOW, "tmy")
    assert result["status"] == "typical-year" and result["observations"]["written"] == 2
    assert observations(conn) == [
        ("sensor:outdoor-temp", TODAY + timedelta(hours=8, minutes=30), pytest.approx(21.5)),
        ("sensor:outdoor-temp", TODAY + timedelta(hours=9, minutes=30), 30.0),
    ]


def _outdoor_readings(conn, example_site, minutes_after_today: list[int]) -> None:
    entities.upsert_site(conn, site=with_outdoor_sensor(example_site))
    sensor = entity_uuid("sensor", "hq", "outdoor-temp")
    rows = [
        SensorRow(TODAY + timedelta(minutes=m), sensor, None, 31.0, "celsius") for m in minutes_after_today
    ]
    if rows:
        write_sensor_readings(conn, rows=rows)
    conn.commit()


@pytest.mark.parametrize(
    ("reading_minutes", "silent_since", "fallback_hours"),
    [
        ([8 * 60 + m for m in range(0, 60, 15)], "2026-07-01T08:45:00+00:00", [9, 10]),  # stopped at 08:45
        ([], "never", list(range(0, 11))),  # configured but never sent anything
    ],
)
def test_a_silent_outdoor_sensor_is_replaced_by_the_provider_for_the_missing_hours(
    prefect_harness,
    provider,
    conn,
    db_url,
    example_site,
    caplog,
    reading_minutes,
    silent_since,
    fallback_hours,
):
    """The sensor sent nothing for > 2 poll periods (or never): the provider's conditions stand in for the
    hours after its last reading, stored with a source that says so, and logged."""
    _outdoor_readings(conn, example_site, reading_minutes)
    body = open_meteo_body(TODAY)
    provider.route("/v1/forecast", Reply(body=encode(body)))
    with caplog.at_level("WARNING", logger="sbems.services.weather"):
        result = weather("hq", db_url, NOW, "open-meteo", provider.url)
    assert result["status"] == "ok"
    assert result["observations"]["sensor_silent_since"] == silent_since
    assert result["observations"]["fallback_written"] == len(fallback_hours)
    silent = "open-meteo:current (sensor silent)"
    assert [row for row in observations(conn) if row[0] == silent] == [
        (silent, TODAY + timedelta(hours=h), body["hourly"]["temperature_2m"][h]) for h in fallback_hours
    ]
    measured = [row for row in observations(conn) if row[0].startswith("sensor:")]
    assert measured == (
        [("sensor:outdoor-temp", TODAY + timedelta(hours=8, minutes=30), 31.0)] if reading_minutes else []
    )
    assert any("outdoor-air sensor silent since" in r.getMessage() for r in caplog.records)
    # the planners now have a recent measurement to persist (the provider's, at the issue hour)
    assert (
        read_weather_source(
            db_url, with_outdoor_sensor(example_site).building("hq"), NOW, NOW + timedelta(hours=200)
        ).describe()["observed_at"]
        == "2026-07-01T10:00:00+00:00"
    )


def test_a_reporting_outdoor_sensor_gets_no_provider_fallback(
    prefect_harness, provider, conn, db_url, example_site
):
    last = 10 * 60 + 19  # 10:19, one minute before the run: within 2 poll periods
    _outdoor_readings(conn, example_site, [8 * 60, 9 * 60, last])
    provider.route("/v1/forecast", Reply(body=encode(open_meteo_body(TODAY))))
    result = weather("hq", db_url, NOW, "open-meteo", provider.url)
    assert "sensor_silent_since" not in result["observations"]
    assert {row[0] for row in observations(conn)} == {"sensor:outdoor-temp"}


def _short() -> dict:
    return open_meteo_body(TODAY, hours=60)  # ends 2 July 11:00, before NOW + 72 h


def _duplicated() -> dict:
    body = open_meteo_body(TODAY)
    body["hourly"]["time"][41] = body["hourly"]["time"][40]
    return body


def _nan() -> dict:
    body = open_meteo_body(TODAY)
    body["hourly"]["temperature_2m"][30] = float("nan")  # json.dumps writes the NaN token
    return body


@pytest.mark.parametrize(
    ("body", "reason"),
    [(_short, "too short"), (_duplicated, "duplicated hours"), (_nan, "temperature_c is NaN")],
)
def test_short_duplicated_or_nan_forecasts_are_refused_quarantined_and_the_chain_falls_back(
    prefect_harness, provider, conn, db_url, example_site, body, reason
):
    site = without_outdoor_sensor(example_site)
    entities.upsert_site(conn, site=site)
    conn.commit()
    payload = encode(body())
    provider.route("/v1/forecast", Reply(body=payload))
    result = weather("hq", db_url, NOW, "open-meteo", provider.url)
    assert result["status"] == "refused" and reason in result["reason"]
    assert read_forecast_rows(conn, building_id=HQ) == []
    (item,) = read_quarantine(conn, source="weather:open-meteo")
    assert reason in item["reason"] and bytes(item["payload"]) == payload
    chosen = read_weather_source(db_url, site.building("hq"), NOW, NOW + timedelta(hours=24)).describe()
    assert chosen["weather"] == "typical-year" and "no stored forecast covers" in chosen["reason"]
