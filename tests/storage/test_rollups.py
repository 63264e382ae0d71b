"""Energy rollups and retention against a real PostgreSQL: exact figures from known readings."""

from datetime import UTC, datetime, timedelta

import pytest

from sbems.domain.site import entity_uuid
from sbems.storage import entities
from sbems.storage.partitions import ensure_partitions, list_partitions, partition_name, timeseries_mode
from sbems.storage.readings import EnergyRow, SensorRow, write_energy_readings, write_sensor_readings
from sbems.storage.rollups import (
    delete_expired_rollups,
    drop_expired_raw,
    read_daily_rollups,
    read_hourly_rollups,
    write_daily_rollups,
    write_hourly_rollups,
)

DAY = datetime(2026, 3, 2, tzinfo=UTC)
BUILDING = entity_uuid("building", "hq")
MAIN = entity_uuid("sensor", "hq", "main-meter")
Z1 = entity_uuid("sensor", "hq", "z1-hvac-power")
Z1_ZONE = entity_uuid("zone", "hq", "z1")
VALUES = ("avg_power_kw", "peak_power_kw", "total_energy_kwh", "covered_s", "reading_count")


def at(hh: int, mm: int) -> datetime:
    return DAY.replace(hour=hh, minute=mm)


def _main(hh: int, mm: int, kw: float) -> EnergyRow:
    return EnergyRow(at(hh, mm), MAIN, BUILDING, None, None, kw)


def _z1(hh: int, mm: int, kw: float) -> EnergyRow:
    return EnergyRow(at(hh, mm), Z1, BUILDING, Z1_ZONE, None, kw)


# main meter: every 15 min from 10:00 to 11:15, then a 75-min gap (held only 15 min), a last reading at 12:30.
# z1 submeter: 10:50 (held 15 min across the 11:00 boundary), 11:05 (the last sample: held 15 min).
READINGS = [
    _main(10, 0, 10),
    _main(10, 15, 20),
    _main(10, 30, 30),
    _main(10, 45, 40),
    _main(11, 0, 50),
    _main(11, 15, 60),
    _main(12, 30, 70),
    _z1(10, 50, 12),
    _z1(11, 5, 6),
]


@pytest.fixture
def site_conn(conn, example_site):
    entities.upsert_site(conn, site=example_site)
    conn.commit()
    return conn


def _by_key(rows: list[dict]) -> dict:
    return {(r["bucket"].astimezone(UTC).hour, r["point_id"]): tuple(r[k] for k in VALUES) for r in rows}


def test_hourly_rollups_give_exact_avg_peak_and_integrated_energy(site_conn):
    write_energy_readings(site_conn, rows=READINGS)
    # a session time zone with a half-hour offset must not move the UTC buckets
    site_conn.execute("SET TIME ZONE 'Asia/Kolkata'")
    assert write_hourly_rollups(site_conn, start_utc=at(10, 20), end_utc=at(12, 10)) == 5
    rows = read_hourly_rollups(site_conn, start_utc=at(0, 0), end_utc=at(23, 0), building_id=BUILDING)
    expected = {
        (10, MAIN): (25.0, 40.0, (10 + 20 + 30 + 40) * 0.25, 3600.0, 4),
        (11, MAIN): (55.0, 60.0, (50 + 60) * 0.25, 1800.0, 2),
        (12, MAIN): (70.0, 70.0, 70 * 0.25, 900.0, 1),
        (10, Z1): (12.0, 12.0, 12 * 10 / 60, 600.0, 1),  # 10:50-11:00
        (11, Z1): (6.0, 6.0, 12 * 5 / 60 + 6 * 15 / 60, 1200.0, 1),  # 11:00-11:05 at 12 kW, then 6 kW
    }
    got = _by_key(rows)
    assert got.keys() == expected.keys()
    assert all(got[key] == pytest.approx(value) for key, value in expected.items()), got
    assert all(r["bucket"].astimezone(UTC).minute == 0 for r in rows)
    assert {r["zone_id"] for r in rows if r["point_id"] == Z1} == {Z1_ZONE}


def test_daily_rollups_match_the_sum_of_the_hours(site_conn):
    write_energy_readings(site_conn, rows=READINGS)
    write_hourly_rollups(site_conn, start_utc=DAY, end_utc=DAY + timedelta(days=1))
    assert write_daily_rollups(site_conn, start_utc=at(11, 0), end_utc=at(12, 0)) == 2
    daily = {
        r["point_id"]: r
        for r in read_daily_rollups(site_conn, start_utc=DAY, end_utc=DAY + timedelta(days=1))
    }
    assert tuple(daily[MAIN][k] for k in VALUES) == pytest.approx((40.0, 70.0, 70.0, 6300.0, 7))
    assert tuple(daily[Z1][k] for k in VALUES) == pytest.approx((9.0, 12.0, 4.5, 1800.0, 2))
    hourly = read_hourly_rollups(site_conn, start_utc=DAY, end_utc=DAY + timedelta(days=1))
    for point in (MAIN, Z1):
        assert sum(r["total_energy_kwh"] for r in hourly if r["point_id"] == point) == pytest.approx(
            daily[point]["total_energy_kwh"]
        )


def test_rerun_is_idempotent_and_late_data_updates_the_bucket(site_conn):
    write_energy_readings(site_conn, rows=READINGS)
    write_hourly_rollups(site_conn, start_utc=at(10, 0), end_utc=at(13, 0))
    first = read_hourly_rollups(site_conn, start_utc=at(10, 0), end_utc=at(13, 0))
    assert write_hourly_rollups(site_conn, start_utc=at(10, 0), end_utc=at(13, 0)) == 5
    assert read_hourly_rollups(site_conn, start_utc=at(10, 0), end_utc=at(13, 0)) == first

    write_energy_readings(site_conn, rows=[_main(10, 50, 100)])  # arrives late
    assert write_hourly_rollups(site_conn, start_utc=at(10, 55), end_utc=at(11, 5)) == 4  # hours 10 and 11
    after = _by_key(read_hourly_rollups(site_conn, start_utc=at(10, 0), end_utc=at(13, 0)))
    # 10:45 now holds 5 min, 10:50 holds 10 min
    assert after[(10, MAIN)] == pytest.approx(
        (40.0, 100.0, 2.5 + 5 + 7.5 + 40 * 5 / 60 + 100 * 10 / 60, 3600.0, 5)
    )
    assert after[(11, MAIN)] == _by_key(first)[(11, MAIN)]
    assert after[(12, MAIN)] == _by_key(first)[(12, MAIN)]


def test_building_filter_only_touches_that_building(site_conn):
    write_energy_readings(site_conn, rows=READINGS)
    assert (
        write_hourly_rollups(
            site_conn,
            start_utc=at(10, 0),
            end_utc=at(13, 0),
            building_id=entity_uuid("building", "elsewhere"),
        )
        == 0
    )
    assert read_hourly_rollups(site_conn, start_utc=DAY, end_utc=DAY + timedelta(days=1)) == []


def test_expired_rollup_rows_are_deleted_and_the_rest_kept(site_conn):
    write_energy_readings(site_conn, rows=READINGS)
    write_hourly_rollups(site_conn, start_utc=DAY, end_utc=DAY + timedelta(days=1))
    write_daily_rollups(site_conn, start_utc=DAY, end_utc=DAY + timedelta(days=1))
    deleted = delete_expired_rollups(
        site_conn,
        cutoffs_utc={
            "energy_readings_hourly": at(12, 0),  # hours 10 and 11 have ended by then
            "energy_readings_daily": DAY + timedelta(hours=23),
        },
    )  # the day has not ended: kept
    assert deleted == {"energy_readings_hourly": 4, "energy_readings_daily": 0}
    left = read_hourly_rollups(site_conn, start_utc=DAY, end_utc=DAY + timedelta(days=1))
    assert [(r["bucket"].astimezone(UTC).hour, r["point_id"]) for r in left] == [(12, MAIN)]
    assert delete_expired_rollups(
        site_conn, cutoffs_utc={"energy_readings_daily": DAY + timedelta(days=1)}
    ) == {"energy_readings_daily": 2}


def test_raw_retention_drops_whole_expired_days_only(site_conn):
    if timeseries_mode(site_conn) != "partitioned":
        pytest.skip("native partitioning only (TimescaleDB drops chunks)")
    temp = entity_uuid("sensor", "hq", "z1-temp")
    days = [DAY + timedelta(days=i) for i in range(4)]  # 03-02 .. 03-05
    write_sensor_readings(
        site_conn,
        rows=[SensorRow(d + timedelta(hours=12), temp, Z1_ZONE, 22.0, "celsius") for d in days],
        update_live_state=False,
    )
    # rows written past the partition helper land in the DEFAULT partition
    for when in (DAY - timedelta(days=10), DAY + timedelta(days=20)):
        site_conn.execute(
            "INSERT INTO sensor_readings (time, sensor_id, zone_id, value, unit) "
            "VALUES (%s, %s, %s, 21.0, 'celsius')",
            (when, temp, Z1_ZONE),
        )
    ensure_partitions(site_conn, table="hvac_telemetry", start_utc=days[0], end_utc=days[0])
    site_conn.commit()

    cutoff = days[2] + timedelta(hours=6)  # 03-04 06:00: 03-02 and 03-03 have ended
    result = drop_expired_raw(site_conn, cutoffs_utc={"sensor_readings": cutoff})
    site_conn.commit()
    assert result.dropped == {
        "sensor_readings": [partition_name("sensor_readings", d.date()) for d in days[:2]]
    }
    assert result.default_rows_deleted == {"sensor_readings": 1}
    assert list_partitions(site_conn, table="sensor_readings") == sorted(
        [partition_name("sensor_readings", d.date()) for d in days[2:]] + ["sensor_readings_default"]
    )
    kept = [r[0] for r in site_conn.execute("SELECT time FROM sensor_readings ORDER BY time")]
    assert kept == [days[2] + timedelta(hours=12), days[3] + timedelta(hours=12), DAY + timedelta(days=20)]
    # other tables are untouched; running again drops nothing more
    assert partition_name("hvac_telemetry", days[0].date()) in list_partitions(
        site_conn, table="hvac_telemetry"
    )
    again = drop_expired_raw(site_conn, cutoffs_utc={"sensor_readings": cutoff})
    assert again.dropped == {"sensor_readings": []} and again.default_rows_deleted == {"sensor_readings": 0}
