"""weather_forecasts / weather_observations: idempotent issues, the covering issue, sensor before provider,
retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sbems.domain.site import entity_uuid
from sbems.storage import entities
from sbems.storage.weather import (
    ObservationRow,
    delete_expired_weather,
    read_forecast_rows,
    read_latest_covering_forecast,
    read_weather_observations,
    write_weather_forecast,
    write_weather_observations,
)

T0 = datetime(2026, 7, 1, tzinfo=UTC)
HQ = entity_uuid("building", "hq")


def rows(first: datetime, hours: int, temp_c: float) -> list[tuple]:
    return [(first + timedelta(hours=h), temp_c, 50.0, 0.0, 0.0, 0.0, 10.0) for h in range(hours)]


def test_issues_are_idempotent_and_the_newest_covering_one_is_read(conn, example_site):
    entities.upsert_site(conn, site=example_site)
    write_weather_forecast(conn, building_id=HQ, source="open-meteo", issued_at=T0, rows=rows(T0, 96, 20.0))
    write_weather_forecast(conn, building_id=HQ, source="open-meteo", issued_at=T0, rows=rows(T0, 96, 21.0))
    later = T0 + timedelta(hours=6)
    write_weather_forecast(conn, building_id=HQ, source="nws", issued_at=later, rows=rows(later, 24, 30.0))
    assert len(read_forecast_rows(conn, building_id=HQ)) == 96 + 24
    now = T0 + timedelta(hours=7)
    source, issued_at, got = read_latest_covering_forecast(
        conn, building_id=HQ, start_utc=now, end_utc=now + timedelta(hours=12), now_utc=now
    )
    assert (source, issued_at, got[0][1]) == ("nws", later, 30.0)
    source, issued_at, got = read_latest_covering_forecast(  # the newer issue is too short for 48 h
        conn, building_id=HQ, start_utc=now, end_utc=now + timedelta(hours=48), now_utc=now
    )
    assert (source, issued_at, len(got), got[0][1]) == ("open-meteo", T0, 96, 21.0)
    assert (
        read_latest_covering_forecast(
            conn, building_id=HQ, start_utc=now, end_utc=now + timedelta(hours=100), now_utc=now
        )
        is None
    )


def test_a_refetched_issue_keeps_only_its_new_hours(conn, example_site):
    entities.upsert_site(conn, site=example_site)
    write_weather_forecast(conn, building_id=HQ, source="open-meteo", issued_at=T0, rows=rows(T0, 96, 20.0))
    write_weather_forecast(conn, building_id=HQ, source="open-meteo", issued_at=T0, rows=rows(T0, 80, 22.0))
    stored = read_forecast_rows(conn, building_id=HQ)
    assert len(stored) == 80 and {r["temperature_c"] for r in stored} == {22.0}


def test_sensor_observations_win_and_retention_deletes_old_rows(conn, example_site):
    entities.upsert_site(conn, site=example_site)
    write_weather_observations(
        conn,
        building_id=HQ,
        rows=[
            ObservationRow(T0, "open-meteo:current", 20.0),
            ObservationRow(T0, "sensor:outdoor-temp", 22.0),
            ObservationRow(T0 + timedelta(hours=1), "open-meteo:current", 23.0),
        ],
    )
    write_weather_forecast(conn, building_id=HQ, source="open-meteo", issued_at=T0, rows=rows(T0, 48, 20.0))
    got = read_weather_observations(conn, building_id=HQ, start_utc=T0, end_utc=T0 + timedelta(hours=2))
    assert [(o.source, o.temperature_c) for o in got] == [
        ("sensor:outdoor-temp", 22.0),
        ("open-meteo:current", 23.0),
    ]
    deleted = delete_expired_weather(conn, cutoff_utc=T0 + timedelta(hours=24))
    assert deleted == {"weather_forecasts": 24, "weather_observations": 3}
    assert min(r["valid_at"] for r in read_forecast_rows(conn, building_id=HQ)) == T0 + timedelta(hours=24)
