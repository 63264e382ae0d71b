"""Benchmark: rows/s of the storage writer vs raw psycopg binary COPY into the same table, same run.

    .venv/bin/python bench/ingest.py [--rows 500000] [--rounds 2]

Uses SBEMS_DATABASE_URL's server (else 127.0.0.1:5432, else the running embedded one) and a scratch database
it creates and drops. Each round: raw COPY into an emptied sensor_readings, then the writer
(``write_sensor_readings``: partition check, COPY, live-state upsert) into an emptied table; the best
round of each is compared. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg

from sbems.config import load_settings
from sbems.domain.site import entity_uuid, read_site_file
from sbems.runtime import resolve_database_url
from sbems.storage import db, entities
from sbems.storage.readings import SENSOR_READINGS, SensorRow, write_sensor_readings


def make_rows(site, count: int) -> list[SensorRow]:
    building = site.buildings[0]
    sensors = [
        (
            entity_uuid("sensor", building.id, s.id),
            entity_uuid("zone", building.id, s.zone) if s.zone else None,
            s.unit,
        )
        for s in building.sensors
    ]
    start = datetime(2026, 7, 6, tzinfo=UTC)
    rows = []
    for i in range(count):
        sensor, zone, unit = sensors[i % len(sensors)]
        rows.append(
            SensorRow(
                start + timedelta(seconds=5 * (i // len(sensors))),
                sensor,
                zone,
                20.0 + (i % 97) / 10,
                unit,
                100,
            )
        )
    return rows


def raw_copy(conn: psycopg.Connection, rows: list[SensorRow]) -> None:
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY sensor_readings (time, sensor_id, zone_id, value, unit, quality) FROM STDIN (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(list(SENSOR_READINGS.types))
        for r in rows:
            copy.write_row((r.time, r.sensor_id, r.zone_id, r.value, r.unit, r.quality))
    conn.commit()


def writer(conn: psycopg.Connection, rows: list[SensorRow]) -> None:
    write_sensor_readings(conn, rows=rows)
    conn.commit()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    server = resolve_database_url(load_settings())
    url = db.with_database(server, f"sbems_bench_{uuid.uuid4().hex[:8]}")
    db.upgrade(url)
    site = read_site_file("examples/site.yaml")
    rows = make_rows(site, args.rows)
    best = {"raw": float("inf"), "writer": float("inf")}
    try:
        with psycopg.connect(url) as conn:
            entities.upsert_site(conn, site=site)
            writer(conn, rows[:10])  # creates the partitions once, outside the timing
            for round_no in range(args.rounds):
                for name, func in (("raw", raw_copy), ("writer", writer)):
                    conn.execute("TRUNCATE sensor_readings, live_state")
                    conn.commit()
                    started = time.perf_counter()
                    func(conn, rows)
                    elapsed = time.perf_counter() - started
                    stored = conn.execute("SELECT count(*) FROM sensor_readings").fetchone()[0]
                    assert stored == len(rows), f"{name} stored {stored} of {len(rows)}"
                    best[name] = min(best[name], elapsed)
                    rate = len(rows) / elapsed
                    print(f"round {round_no + 1} {name:6s}: {rate:>10,.0f} rows/s ({elapsed:.2f} s)")
    finally:
        with psycopg.connect(db.with_database(server, "postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db.database_name(url)}" WITH (FORCE)')
    writer_rate, raw_rate = len(rows) / best["writer"], len(rows) / best["raw"]
    print(
        f"writer {writer_rate:,.0f} rows/s vs raw COPY {raw_rate:,.0f} rows/s: "
        f"ratio {writer_rate / raw_rate:.2f} (target >= 0.7)"
    )
    print(
        json.dumps(
            {
                "writer_rows_per_s": round(writer_rate),
                "raw_copy_rows_per_s": round(raw_rate),
                "ratio": round(writer_rate / raw_rate, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
