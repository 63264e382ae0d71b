"""An HVAC unit's stored telemetry as a wide table: one row per reading time, the values of its points."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import psycopg
from psycopg.rows import class_row


@dataclass(frozen=True)
class TelemetryValueRow:
    time_utc: datetime
    point: str  # the point's (sensor's) key
    value: float


def read_unit_telemetry(
    conn: psycopg.Connection,
    *,
    building_id: UUID,
    unit_key: str,
    since_utc: datetime | None,
    until_utc: datetime | None,
    times: int,
) -> list[TelemetryValueRow]:
    """Every value of the unit's points at the newest ``times`` distinct reading times with
    ``since <= time < until`` (each bound optional), newest first."""
    with conn.cursor(row_factory=class_row(TelemetryValueRow)) as cursor:
        return cursor.execute(
            "WITH pts AS (SELECT s.id, s.key FROM sensors s JOIN hvac_units u ON u.id = s.hvac_unit_id "
            " WHERE u.building_id = %(b)s AND u.key = %(u)s), "
            "times AS (SELECT DISTINCT r.time FROM sensor_readings r "
            " WHERE r.sensor_id IN (SELECT id FROM pts) "
            " AND (%(since)s::timestamptz IS NULL OR r.time >= %(since)s) "
            " AND (%(until)s::timestamptz IS NULL OR r.time < %(until)s) ORDER BY r.time DESC LIMIT %(n)s) "
            "SELECT r.time AS time_utc, p.key AS point, r.value FROM sensor_readings r "
            "JOIN pts p ON p.id = r.sensor_id WHERE r.time IN (SELECT time FROM times) "
            "ORDER BY r.time DESC, p.key",
            {"b": building_id, "u": unit_key, "since": since_utc, "until": until_utc, "n": times},
        ).fetchall()
