from datetime import UTC, datetime, timedelta

from sbems.domain.site import entity_uuid
from sbems.storage import entities, partitions
from sbems.storage.quarantine import QuarantineItem, read_quarantine, write_quarantine
from sbems.storage.readings import (
    EnergyRow,
    SensorRow,
    TelemetryRow,
    read_live_state,
    write_energy_readings,
    write_hvac_telemetry,
    write_sensor_readings,
)

T0 = datetime(2026, 7, 6, 12, 0, tzinfo=UTC)


def _rows(site, count: int, start: datetime = T0, value: float = 22.0) -> list[SensorRow]:
    sensor = entity_uuid("sensor", "hq", "z1-temp")
    zone = entity_uuid("zone", "hq", "z1")
    return [
        SensorRow(start + timedelta(seconds=30 * i), sensor, zone, value + i / 100, "celsius")
        for i in range(count)
    ]


def _count(conn, table="sensor_readings") -> int:
    return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_batch_is_stored_and_restoring_creates_no_duplicates(conn, example_site):
    entities.upsert_site(conn, site=example_site)
    rows = _rows(example_site, 500)
    assert write_sensor_readings(conn, rows=rows) == 500
    conn.commit()
    assert write_sensor_readings(conn, rows=rows) == 0
    conn.commit()
    assert _count(conn) == 500
    # a batch that overlaps: only the new half is added, and a batch with internal repeats too
    overlap = _rows(example_site, 750)
    assert write_sensor_readings(conn, rows=overlap + overlap[-10:]) == 250
    assert _count(conn) == 750
    stored = conn.execute("SELECT value FROM sensor_readings ORDER BY time LIMIT 1").fetchone()[0]
    assert stored == rows[0].value


def test_partitions_exist_for_new_time_ranges_without_manual_steps(conn, example_site):
    entities.upsert_site(conn, site=example_site)
    far = datetime(2031, 3, 14, 23, 59, 40, tzinfo=UTC)  # spans midnight: two new days
    assert write_sensor_readings(conn, rows=_rows(example_site, 3, start=far)) == 3
    conn.commit()
    names = partitions.list_partitions(conn, table="sensor_readings")
    assert "sensor_readings_p20310314" in names and "sensor_readings_p20310315" in names
    in_default = conn.execute("SELECT count(*) FROM ONLY sensor_readings_default").fetchone()[0]
    assert in_default == 0


def test_a_batch_of_old_and_new_rows_creates_partitions_only_for_its_days(conn, example_site):
    entities.upsert_site(conn, site=example_site)
    old = _rows(example_site, 2, start=datetime(2029, 1, 10, 12, tzinfo=UTC))  # e.g. a replayed buffer
    new = _rows(example_site, 2, start=datetime(2029, 6, 20, 12, tzinfo=UTC))
    before = set(partitions.list_partitions(conn, table="sensor_readings"))
    assert write_sensor_readings(conn, rows=old + new) == 4
    conn.commit()
    created = set(partitions.list_partitions(conn, table="sensor_readings")) - before
    assert created == {"sensor_readings_p20290110", "sensor_readings_p20290620"}


def test_rows_in_default_partition_move_into_a_new_partition(conn, example_site):
    entities.upsert_site(conn, site=example_site)
    sensor = entity_uuid("sensor", "hq", "z2-temp")
    day = datetime(2032, 1, 2, 8, tzinfo=UTC)
    conn.execute(
        "INSERT INTO sensor_readings (time, sensor_id, value, unit) VALUES (%s, %s, 20, 'celsius')",
        (day, sensor),
    )  # another client wrote before the partition existed
    created = partitions.ensure_partitions(conn, table="sensor_readings", start_utc=day, end_utc=day)
    assert created == ["sensor_readings_p20320102"]
    assert conn.execute("SELECT count(*) FROM sensor_readings_p20320102").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM sensor_readings_default").fetchone()[0] == 0


def test_retention_drops_whole_old_partitions(conn, example_site):
    entities.upsert_site(conn, site=example_site)
    write_sensor_readings(conn, rows=_rows(example_site, 2, start=datetime(2030, 1, 1, tzinfo=UTC)))
    write_sensor_readings(conn, rows=_rows(example_site, 2, start=datetime(2030, 1, 5, tzinfo=UTC)))
    dropped = partitions.drop_partitions_before(
        conn, table="sensor_readings", cutoff_utc=datetime(2030, 1, 3, tzinfo=UTC)
    )
    assert dropped == ["sensor_readings_p20300101"]
    assert _count(conn) == 2


def test_live_state_keeps_the_newest_value(conn, example_site):
    entities.upsert_site(conn, site=example_site)
    rows = _rows(example_site, 10)
    write_sensor_readings(conn, rows=rows)
    write_sensor_readings(conn, rows=rows[:3])  # older re-delivery must not move the state back
    state = {r["key"]: r for r in read_live_state(conn, building_id=entity_uuid("building", "hq"))}
    assert state["z1-temp"]["value"] == rows[-1].value
    assert state["z1-temp"]["time"] == rows[-1].time


def test_energy_and_telemetry_writers(conn, example_site):
    entities.upsert_site(conn, site=example_site)
    meter = entity_uuid("sensor", "hq", "main-meter")
    building = entity_uuid("building", "hq")
    energy = [EnergyRow(T0 + timedelta(minutes=i), meter, building, None, None, 100.0 + i) for i in range(5)]
    assert write_energy_readings(conn, rows=energy) == 5
    assert write_energy_readings(conn, rows=energy) == 0
    unit = entity_uuid("hvac_unit", "hq", "rtu1")
    telemetry = [
        TelemetryRow(
            T0, unit, supply_temp_c=13.0, return_temp_c=24.0, power_kw=20.0, mode="cool", status="running"
        )
    ]
    assert write_hvac_telemetry(conn, rows=telemetry) == 1
    assert write_hvac_telemetry(conn, rows=telemetry) == 0
    assert _count(conn, "hvac_telemetry") == 1


def test_quarantine_keeps_payload_and_reason(conn):
    items = [
        QuarantineItem(
            "listener", "invalid JSON: Expecting value", b"\xff\x00not json", "sbems/x", metadata={"n": 1}
        )
    ]
    assert write_quarantine(conn, items=items) == 1
    (row,) = read_quarantine(conn)
    assert row["reason"].startswith("invalid JSON")
    assert bytes(row["payload"]) == b"\xff\x00not json"
    assert row["topic"] == "sbems/x"


def test_a_partition_created_in_a_rolled_back_batch_is_created_again(conn, example_site):
    entities.upsert_site(conn, site=example_site)
    conn.commit()
    day = datetime(2033, 5, 1, 12, tzinfo=UTC)
    conn.execute("SELECT 1")  # the caller has a transaction open
    write_sensor_readings(conn, rows=_rows(example_site, 2, start=day))
    conn.rollback()  # e.g. the database died mid-batch
    assert "sensor_readings_p20330501" not in partitions.list_partitions(conn, table="sensor_readings")
    write_sensor_readings(conn, rows=_rows(example_site, 2, start=day))
    conn.commit()
    assert "sensor_readings_p20330501" in partitions.list_partitions(conn, table="sensor_readings")
    assert conn.execute("SELECT count(*) FROM ONLY sensor_readings_default").fetchone()[0] == 0
