"""The maintenance flow end to end under the Prefect test harness: partitions ahead, rollups, retention."""

from datetime import UTC, datetime, timedelta

import pytest

from sbems.domain.maintenance import summary_markdown
from sbems.domain.site import entity_uuid
from sbems.flows.maintenance import maintenance
from sbems.storage import entities
from sbems.storage.partitions import TIMESERIES_TABLES, list_partitions, partition_name, timeseries_mode
from sbems.storage.readings import EnergyRow, SensorRow, write_energy_readings, write_sensor_readings
from sbems.storage.rollups import (
    read_daily_rollups,
    read_hourly_rollups,
    write_daily_rollups,
    write_hourly_rollups,
)
from sbems.storage.weather import ObservationRow, write_weather_forecast, write_weather_observations

pytestmark = pytest.mark.flows

NOW = datetime(2027, 3, 10, 10, 20, tzinfo=UTC)
BUILDING = entity_uuid("building", "hq")
MAIN = entity_uuid("sensor", "hq", "main-meter")
TEMP = entity_uuid("sensor", "hq", "z1-temp")
Z1 = entity_uuid("zone", "hq", "z1")
RETENTION_ENV = {
    "SBEMS_RETENTION_RAW_DAYS": "365",
    "SBEMS_RETENTION_ENERGY_DAYS": "730",
    "SBEMS_RETENTION_HOURLY_DAYS": "1095",
    "SBEMS_RETENTION_DAILY_DAYS": "3650",
}


def _days_ago(days: int) -> datetime:
    return (NOW - timedelta(days=days)).replace(hour=12, minute=0)


def _seed(conn, example_site) -> list[float]:
    entities.upsert_site(conn, site=example_site)
    conn.commit()
    recent_kw = [10.0 + i for i in range(10)]  # 08:00 .. 10:15, every 15 min
    start = NOW.replace(hour=8, minute=0)
    write_energy_readings(
        conn,
        rows=[
            EnergyRow(start + timedelta(minutes=15 * i), MAIN, BUILDING, None, None, kw)
            for i, kw in enumerate(recent_kw)
        ],
    )
    old = [_days_ago(1100), _days_ago(800), _days_ago(700)]
    for t in old:  # one batch each: a batch gets a partition for every day it spans
        write_energy_readings(conn, rows=[EnergyRow(t, MAIN, BUILDING, None, None, 5.0)])
    write_hourly_rollups(conn, start_utc=old[0], end_utc=old[0] + timedelta(hours=1))
    write_daily_rollups(conn, start_utc=old[0], end_utc=old[0] + timedelta(hours=1))
    for d in (400, 300):
        write_sensor_readings(
            conn, rows=[SensorRow(_days_ago(d), TEMP, Z1, 22.0, "celsius")], update_live_state=False
        )
    conn.commit()
    return recent_kw


def test_maintenance_creates_rolls_up_and_applies_retention(
    prefect_harness, conn, db_url, example_site, monkeypatch
):
    if timeseries_mode(conn) != "partitioned":
        pytest.skip("asserts native partitions")
    for name, value in RETENTION_ENV.items():
        monkeypatch.setenv(name, value)
    recent_kw = _seed(conn, example_site)
    before = {table: set(list_partitions(conn, table=table)) for table in TIMESERIES_TABLES}
    conn.commit()

    summary = maintenance(building_id="hq", database_url=db_url, now_utc=NOW)

    ahead = {
        table: {partition_name(table, NOW.date() + timedelta(days=i)) for i in range(8)}
        for table in TIMESERIES_TABLES
    }
    assert set(summary["partitions_created"]) == set().union(
        *(ahead[t] - before[t] for t in TIMESERIES_TABLES)
    )
    for table in TIMESERIES_TABLES:
        assert ahead[table] <= set(list_partitions(conn, table=table))
    assert summary["buckets_upserted"] == {"energy_readings_hourly": 3, "energy_readings_daily": 1}
    assert summary["partitions_dropped"] == {
        "sensor_readings": [partition_name("sensor_readings", _days_ago(400).date())],
        "hvac_telemetry": [],
        "energy_readings": [partition_name("energy_readings", _days_ago(d).date()) for d in (1100, 800)],
    }
    assert summary["rollup_rows_deleted"] == {"energy_readings_hourly": 1, "energy_readings_daily": 0}

    hourly = read_hourly_rollups(conn, start_utc=NOW - timedelta(days=1), end_utc=NOW, building_id=BUILDING)
    assert [r["bucket"].astimezone(UTC).hour for r in hourly] == [8, 9, 10]
    assert hourly[0]["total_energy_kwh"] == pytest.approx(sum(recent_kw[:4]) * 0.25)
    assert hourly[0]["peak_power_kw"] == recent_kw[3]
    daily = read_daily_rollups(conn, start_utc=_days_ago(1101), end_utc=NOW, building_id=BUILDING)
    assert [r["bucket"].date() for r in daily] == [
        _days_ago(1100).date(),
        NOW.date(),
    ]  # old day kept (10 years)
    kept = [r[0] for r in conn.execute("SELECT time FROM sensor_readings ORDER BY time")]
    assert kept == [_days_ago(300)]
    markdown = summary_markdown(summary)
    assert partition_name("sensor_readings", _days_ago(400).date()) in markdown
    conn.commit()

    again = maintenance(building_id="hq", database_url=db_url, now_utc=NOW)
    assert again["partitions_created"] == []
    assert all(names == [] for names in again["partitions_dropped"].values())
    assert again["rollup_rows_deleted"] == {"energy_readings_hourly": 0, "energy_readings_daily": 0}
    assert again["buckets_upserted"] == summary["buckets_upserted"]
    assert (
        read_hourly_rollups(conn, start_utc=NOW - timedelta(days=1), end_utc=NOW, building_id=BUILDING)
        == hourly
    )


def test_maintenance_expires_weather_rows_with_the_other_raw_data(
    prefect_harness, conn, db_url, example_site, monkeypatch
):
    """The weather tables follow SBEMS_RETENTION_RAW_DAYS in the maintenance flow too (not only in the
    weather flow): forecast hours valid, and observations made, before the cutoff are deleted."""
    for name, value in RETENTION_ENV.items():
        monkeypatch.setenv(name, value)
    entities.upsert_site(conn, site=example_site)
    columns = (20.0, 50.0, 0.0, 0.0, 0.0, 10.0)
    for days in (400, 366, 300):
        issued = _days_ago(days)
        write_weather_forecast(
            conn,
            building_id=BUILDING,
            source="open-meteo",
            issued_at=issued,
            rows=[(issued + timedelta(hours=h), *columns) for h in range(3)],
        )
        write_weather_observations(
            conn, building_id=BUILDING, rows=[ObservationRow(issued, "sensor:outdoor-temp", 20.0)]
        )
    conn.commit()

    summary = maintenance(building_id="hq", database_url=db_url, now_utc=NOW)

    assert summary["weather_rows_deleted"] == {"weather_forecasts": 6, "weather_observations": 2}
    kept = conn.execute("SELECT min(valid_at) FROM weather_forecasts").fetchone()[0]
    assert kept == _days_ago(300)
    observed = [r[0] for r in conn.execute("SELECT observed_at FROM weather_observations")]
    assert observed == [_days_ago(300)]
    conn.commit()
    again = maintenance(building_id="hq", database_url=db_url, now_utc=NOW)
    assert again["weather_rows_deleted"] == {"weather_forecasts": 0, "weather_observations": 0}
