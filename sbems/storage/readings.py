"""Bulk writers for readings, telemetry and the live state: binary COPY, idempotent on re-delivery.

The fast path COPYs a batch straight into the partitioned table inside a savepoint. When the batch
repeats rows already stored (a re-delivery), the unique key (point, time) rejects it and the batch goes
through a staging table with ``ON CONFLICT DO NOTHING`` instead: no duplicates, nothing lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import psycopg
from psycopg import sql

from sbems.storage.partitions import ensure_partitions


@dataclass(frozen=True, slots=True)
class SensorRow:
    time: datetime
    sensor_id: UUID
    zone_id: UUID | None
    value: float
    unit: str
    quality: int = 100


@dataclass(frozen=True, slots=True)
class EnergyRow:
    time: datetime
    point_id: UUID
    building_id: UUID
    zone_id: UUID | None
    hvac_unit_id: UUID | None
    power_kw: float | None
    energy_total_kwh: float | None = None


@dataclass(frozen=True, slots=True)
class TelemetryRow:
    time: datetime
    hvac_unit_id: UUID
    supply_temp_c: float | None = None
    return_temp_c: float | None = None
    flow_rate_m3_per_h: float | None = None
    pressure_kpa: float | None = None
    compressor_speed_pct: float | None = None
    fan_speed_pct: float | None = None
    power_kw: float | None = None
    mode: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class _Table:
    name: str
    columns: tuple[str, ...]
    types: tuple[str, ...]
    key: tuple[str, ...]


SENSOR_READINGS = _Table(
    "sensor_readings",
    ("time", "sensor_id", "zone_id", "value", "unit", "quality"),
    ("timestamptz", "uuid", "uuid", "float8", "text", "int2"),
    ("sensor_id", "time"),
)
ENERGY_READINGS = _Table(
    "energy_readings",
    ("time", "point_id", "building_id", "zone_id", "hvac_unit_id", "power_kw", "energy_total_kwh"),
    ("timestamptz", "uuid", "uuid", "uuid", "uuid", "float8", "float8"),
    ("point_id", "time"),
)
HVAC_TELEMETRY = _Table(
    "hvac_telemetry",
    (
        "time",
        "hvac_unit_id",
        "supply_temp_c",
        "return_temp_c",
        "flow_rate_m3_per_h",
        "pressure_kpa",
        "compressor_speed_pct",
        "fan_speed_pct",
        "power_kw",
        "mode",
        "status",
    ),
    (
        "timestamptz",
        "uuid",
        "float8",
        "float8",
        "float8",
        "float8",
        "float8",
        "float8",
        "float8",
        "text",
        "text",
    ),
    ("hvac_unit_id", "time"),
)


def _copy(conn: psycopg.Connection, table: str, spec: _Table, rows: Sequence[tuple]) -> None:
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, spec.columns))
    )
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.set_types(list(spec.types))
        for row in rows:
            copy.write_row(row)


def _write(conn: psycopg.Connection, spec: _Table, rows: Sequence[tuple]) -> int:
    """COPY ``rows`` into ``spec``'s table; returns how many were new."""
    if not rows:
        return 0
    times = [row[0] for row in rows]
    first, last = min(times), max(times)
    if last - first <= timedelta(days=2):
        ensure_partitions(conn, table=spec.name, start_utc=first, end_utc=last)
    else:  # e.g. a replay mixing old buffered rows with new ones: only the days the batch holds
        ensure_partitions(conn, table=spec.name, days={t.astimezone(UTC).date() for t in times})
    with conn.transaction():
        try:
            with conn.transaction():
                _copy(conn, spec.name, spec, rows)
            return len(rows)
        except psycopg.errors.UniqueViolation:
            pass
        stage = f"_stage_{spec.name}"
        conn.execute(
            sql.SQL(
                "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            ).format(sql.Identifier(stage), sql.Identifier(spec.name))
        )
        _copy(conn, stage, spec, rows)
        columns = sql.SQL(", ").join(map(sql.Identifier, spec.columns))
        key = sql.SQL(", ").join(map(sql.Identifier, spec.key))
        cursor = conn.execute(
            sql.SQL(
                "INSERT INTO {table} ({columns}) SELECT DISTINCT ON ({key}) {columns} FROM {stage} "
                "ON CONFLICT DO NOTHING"
            ).format(table=sql.Identifier(spec.name), columns=columns, key=key, stage=sql.Identifier(stage))
        )
        return cursor.rowcount


def write_sensor_readings(
    conn: psycopg.Connection, *, rows: Sequence[SensorRow], update_live_state: bool = True
) -> int:
    """Store sensor readings (idempotent) and move the live state forward; returns rows newly stored."""
    stored = _write(
        conn, SENSOR_READINGS, [(r.time, r.sensor_id, r.zone_id, r.value, r.unit, r.quality) for r in rows]
    )
    if update_live_state:
        upsert_live_state(conn, rows=rows)
    return stored


def write_energy_readings(conn: psycopg.Connection, *, rows: Sequence[EnergyRow]) -> int:
    return _write(
        conn,
        ENERGY_READINGS,
        [
            (r.time, r.point_id, r.building_id, r.zone_id, r.hvac_unit_id, r.power_kw, r.energy_total_kwh)
            for r in rows
        ],
    )


def write_hvac_telemetry(conn: psycopg.Connection, *, rows: Sequence[TelemetryRow]) -> int:
    return _write(
        conn,
        HVAC_TELEMETRY,
        [
            (
                r.time,
                r.hvac_unit_id,
                r.supply_temp_c,
                r.return_temp_c,
                r.flow_rate_m3_per_h,
                r.pressure_kpa,
                r.compressor_speed_pct,
                r.fan_speed_pct,
                r.power_kw,
                r.mode,
                r.status,
            )
            for r in rows
        ],
    )


def upsert_live_state(conn: psycopg.Connection, *, rows: Sequence[SensorRow]) -> int:
    """Keep the newest value per point; an older reading never overwrites a newer one."""
    latest: dict[UUID, SensorRow] = {}
    for row in rows:
        current = latest.get(row.sensor_id)
        if current is None or row.time > current.time:
            latest[row.sensor_id] = row
    if not latest:
        return 0
    values = list(latest.values())
    conn.execute(
        "INSERT INTO live_state (sensor_id, time, value, unit, quality) "
        "SELECT * FROM unnest(%s::uuid[], %s::timestamptz[], %s::float8[], %s::text[], %s::int2[]) "
        "ON CONFLICT (sensor_id) DO UPDATE SET time = EXCLUDED.time, value = EXCLUDED.value, "
        "unit = EXCLUDED.unit, quality = EXCLUDED.quality, updated_at = now() "
        "WHERE live_state.time <= EXCLUDED.time",
        (
            [v.sensor_id for v in values],
            [v.time for v in values],
            [v.value for v in values],
            [v.unit for v in values],
            [v.quality for v in values],
        ),
    )
    return len(values)


def read_live_state(conn: psycopg.Connection, *, building_id: UUID) -> list[dict]:
    rows = conn.execute(
        "SELECT s.key, s.sensor_type, z.key AS zone, l.time, l.value, l.unit, l.quality "
        "FROM live_state l JOIN sensors s ON s.id = l.sensor_id LEFT JOIN zones z ON z.id = s.zone_id "
        "WHERE s.building_id = %s ORDER BY s.key",
        (building_id,),
    )
    names = [c.name for c in rows.description]
    return [dict(zip(names, r, strict=True)) for r in rows.fetchall()]


def read_sensor_series(
    conn: psycopg.Connection, *, sensor_id: UUID, start_utc: datetime, end_utc: datetime
) -> list[tuple[datetime, float]]:
    return conn.execute(
        "SELECT time, value FROM sensor_readings WHERE sensor_id = %s AND time >= %s AND time < %s "
        "ORDER BY time",
        (sensor_id, start_utc, end_utc),
    ).fetchall()
