"""Reads for the FDD flow (windows of readings and telemetry, the equipment, its open alerts) and the
writes it needs beyond ``sbems.storage.alerts`` (a per-building lock, resolving alerts by id).

FDD alerts carry ``metadata.source = 'fdd'``, ``metadata.fault_code`` and ``metadata.subject`` (the point,
unit, thermostat or zone key the finding is about); de-duplication and resolution go by those.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import psycopg

FDD_SOURCE = "fdd"


def lock_fdd_building(conn: psycopg.Connection, *, building_id: UUID) -> None:
    """Serialise FDD runs of one building until the transaction ends (no duplicate alerts from two runs)."""
    conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('sbems-fdd/' || %s::text, 0))", (building_id,)
    )


def read_fdd_points(
    conn: psycopg.Connection,
    *,
    building_id: UUID,
    start_utc: datetime,
    end_utc: datetime,
    sensor_types: Sequence[str],
) -> list[tuple]:
    """Readings of the building's points of ``sensor_types`` in [start, end):
    (time, point key, sensor type, zone key, unit key, thermostat key, value), by point and time."""
    return conn.execute(
        "SELECT r.time, s.key, s.sensor_type, z.key, h.key, t.key, r.value FROM sensor_readings r "
        "JOIN sensors s ON s.id = r.sensor_id LEFT JOIN zones z ON z.id = s.zone_id "
        "LEFT JOIN hvac_units h ON h.id = s.hvac_unit_id LEFT JOIN thermostats t ON t.id = s.thermostat_id "
        "WHERE s.building_id = %s AND s.sensor_type = ANY(%s) AND r.time >= %s AND r.time < %s "
        "ORDER BY s.key, r.time",
        (building_id, list(sensor_types), start_utc, end_utc),
    ).fetchall()


def read_fdd_telemetry(
    conn: psycopg.Connection, *, building_id: UUID, start_utc: datetime, end_utc: datetime
) -> list[tuple]:
    """HVAC telemetry of the building's units in [start, end):
    (time, unit key, status, mode, power_kw, compressor_speed_pct), by unit and time."""
    return conn.execute(
        "SELECT t.time, h.key, t.status, t.mode, t.power_kw, t.compressor_speed_pct FROM hvac_telemetry t "
        "JOIN hvac_units h ON h.id = t.hvac_unit_id WHERE h.building_id = %s "
        "AND t.time >= %s AND t.time < %s ORDER BY h.key, t.time",
        (building_id, start_utc, end_utc),
    ).fetchall()


def read_fdd_equipment(conn: psycopg.Connection, *, building_id: UUID) -> list[dict]:
    """Units and thermostats of the building: key, kind, zone key, capacity_kw, fan_power_kw (from the
    spec)."""
    rows = conn.execute(
        "SELECT h.key, 'hvac_unit', z.key, h.capacity_kw, (h.metadata->'spec'->>'fan_power_kw')::float8 "
        "FROM hvac_units h LEFT JOIN zones z ON z.id = h.zone_id WHERE h.building_id = %(b)s "
        "UNION ALL SELECT t.key, 'thermostat', z.key, (t.metadata->'spec'->>'capacity_kw')::float8, "
        "(t.metadata->'spec'->>'fan_power_kw')::float8 "
        "FROM thermostats t LEFT JOIN zones z ON z.id = t.zone_id WHERE t.building_id = %(b)s ORDER BY 1",
        {"b": building_id},
    ).fetchall()
    return [
        {
            "key": key,
            "kind": kind,
            "zone": zone,
            "capacity_kw": float(cap) if cap is not None else 0.0,
            "fan_power_kw": float(fan) if fan is not None else 0.0,
        }
        for key, kind, zone, cap, fan in rows
    ]


def read_open_fdd_alerts(conn: psycopg.Connection, *, building_id: UUID) -> dict[tuple[str, str], list[UUID]]:
    """Unresolved FDD alerts of the building: (fault code, subject) -> their ids, oldest first."""
    rows = conn.execute(
        "SELECT metadata->>'fault_code', metadata->>'subject', id FROM alerts WHERE building_id = %s "
        "AND NOT resolved AND metadata->>'source' = %s ORDER BY created_at, id",
        (building_id, FDD_SOURCE),
    ).fetchall()
    open_alerts: dict[tuple[str, str], list[UUID]] = {}
    for code, subject, alert_id in rows:
        open_alerts.setdefault((code, subject), []).append(alert_id)
    return open_alerts


def write_resolve_alerts(conn: psycopg.Connection, *, alert_ids: Sequence[UUID], at: datetime) -> int:
    """Resolve open alerts by id; returns how many were resolved."""
    if not alert_ids:
        return 0
    cursor = conn.execute(
        "UPDATE alerts SET resolved = true, resolved_at = %s WHERE id = ANY(%s) AND NOT resolved",
        (at, list(alert_ids)),
    )
    return cursor.rowcount
