"""Pages of history for the HTTP API: a building's audit trail (the control history) and a sensor's
readings, each over a time range, newest first, with a keyset cursor (the last entry's id or time) so
pages stay stable while new entries arrive; and the building's sensors with their latest value."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row


@dataclass(frozen=True)
class AuditEntryRow:
    id: int
    time: datetime
    actor: str | None
    action: str
    resource: str | None
    resource_id: str | None
    source: str | None
    result: str | None
    error_message: str | None
    changes: dict[str, Any] | None


def read_audit_page(
    conn: psycopg.Connection,
    *,
    building_key: str,
    since_utc: datetime | None,
    until_utc: datetime | None,
    before_id: int | None,
    limit: int,
) -> list[AuditEntryRow]:
    """Entries about one building's resources (``resource_id`` 'key' or 'key/...') with ``since <= time <
    until`` and ``id < before_id`` (each bound optional), newest first, at most ``limit``."""
    with conn.cursor(row_factory=class_row(AuditEntryRow)) as cursor:
        return cursor.execute(
            "SELECT id, time, actor, action, resource, resource_id, source, result, error_message, changes "
            "FROM audit_log WHERE (resource_id = %(b)s OR resource_id LIKE %(b)s || '/%%') "
            "AND (%(since)s::timestamptz IS NULL OR time >= %(since)s) "
            "AND (%(until)s::timestamptz IS NULL OR time < %(until)s) "
            "AND (%(before)s::bigint IS NULL OR id < %(before)s) ORDER BY id DESC LIMIT %(n)s",
            {"b": building_key, "since": since_utc, "until": until_utc, "before": before_id, "n": limit},
        ).fetchall()


@dataclass(frozen=True)
class SensorRow:
    key: str
    name: str
    sensor_type: str
    protocol: str
    unit: str
    zone: str | None
    status: str
    time_utc: datetime | None  # latest value (live state), None before the first
    value: float | None


@dataclass(frozen=True)
class ReadingRow:
    time_utc: datetime
    value: float
    unit: str
    quality: int


def read_building_sensors(conn: psycopg.Connection, *, building_id: UUID) -> list[SensorRow]:
    """Every sensor (point) of a building with its zone key and latest value, by key."""
    with conn.cursor(row_factory=class_row(SensorRow)) as cursor:
        return cursor.execute(
            "SELECT s.key, s.name, s.sensor_type, s.protocol, s.unit, z.key AS zone, s.status, "
            "l.time AS time_utc, l.value FROM sensors s LEFT JOIN zones z ON z.id = s.zone_id "
            "LEFT JOIN live_state l ON l.sensor_id = s.id WHERE s.building_id = %s ORDER BY s.key",
            (building_id,),
        ).fetchall()


def read_readings_page(
    conn: psycopg.Connection,
    *,
    sensor_id: UUID,
    since_utc: datetime | None,
    until_utc: datetime | None,
    limit: int,
) -> list[ReadingRow]:
    """A sensor's readings with ``since <= time < until`` (each bound optional), newest first."""
    with conn.cursor(row_factory=class_row(ReadingRow)) as cursor:
        return cursor.execute(
            "SELECT time AS time_utc, value, unit, quality::int AS quality FROM sensor_readings "
            "WHERE sensor_id = %(s)s AND (%(since)s::timestamptz IS NULL OR time >= %(since)s) "
            "AND (%(until)s::timestamptz IS NULL OR time < %(until)s) ORDER BY time DESC LIMIT %(n)s",
            {"s": sensor_id, "since": since_utc, "until": until_utc, "n": limit},
        ).fetchall()
