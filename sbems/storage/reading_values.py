"""The values already stored for given (point, instant) keys: how the listener tells a re-delivery (same
value, a no-op) from a conflicting duplicate (another value, quarantined)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import psycopg

Key = tuple[UUID, datetime]


def _read(conn: psycopg.Connection, query: str, keys: Sequence[Key]) -> dict[Key, float | None]:
    if not keys:
        return {}
    ids, times = [k[0] for k in keys], [k[1] for k in keys]
    rows = conn.execute(query, (ids, times, min(times), max(times))).fetchall()
    return {(point_id, at): value for point_id, at, value in rows}


def read_stored_values(
    conn: psycopg.Connection, *, sensor_keys: Sequence[Key], meter_keys: Sequence[Key]
) -> dict[Key, float | None]:
    """(point id, time) -> stored value for the keys that are stored (sensor_readings, energy_readings)."""
    return _read(
        conn,
        "SELECT r.sensor_id, r.time, r.value FROM sensor_readings r "
        "JOIN unnest(%s::uuid[], %s::timestamptz[]) AS k(id, t) ON r.sensor_id = k.id AND r.time = k.t "
        "WHERE r.time BETWEEN %s AND %s",
        sensor_keys,
    ) | _read(
        conn,
        "SELECT r.point_id, r.time, r.power_kw FROM energy_readings r "
        "JOIN unnest(%s::uuid[], %s::timestamptz[]) AS k(id, t) ON r.point_id = k.id AND r.time = k.t "
        "WHERE r.time BETWEEN %s AND %s",
        meter_keys,
    )
