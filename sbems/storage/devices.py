"""Device health (seen / stale), alerts raised by the poll, and thermostat webhook events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from sbems.domain.site import entity_uuid

_DEVICE_TABLES = {"hvac": ("hvac_units", "hvac_unit"), "thermostat": ("thermostats", "thermostat")}


def _device_uuid(kind: str, building_key: str, device_key: str) -> tuple[str, UUID]:
    table, uuid_kind = _DEVICE_TABLES[kind]
    return table, entity_uuid(uuid_kind, building_key, device_key)


def write_devices_seen(
    conn: psycopg.Connection, *, building_key: str, kind: str, device_keys: Sequence[str], seen_at: datetime
) -> int:
    """Mark devices as answering (status ``active``/``online``) and stamp ``last_seen_at``."""
    if not device_keys:
        return 0
    table, _ = _DEVICE_TABLES[kind]
    status = "active" if kind == "hvac" else "online"
    ids = [_device_uuid(kind, building_key, key)[1] for key in device_keys]
    statement = (
        f"UPDATE {table} SET status = %s, last_seen_at = %s, updated_at = now() "  # noqa: S608
        "WHERE id = ANY(%s)"
    )
    cursor = conn.execute(statement, (status, seen_at, ids))
    return cursor.rowcount


def write_device_stale(conn: psycopg.Connection, *, building_key: str, kind: str, device_key: str) -> bool:
    """Mark one device ``stale``; returns False for an unknown device."""
    table, device_id = _device_uuid(kind, building_key, device_key)
    cursor = conn.execute(
        f"UPDATE {table} SET status = 'stale', updated_at = now() WHERE id = %s",  # noqa: S608
        (device_id,),
    )
    return cursor.rowcount == 1


def read_device_status(
    conn: psycopg.Connection, *, building_key: str, kind: str, device_key: str
) -> dict | None:
    table, device_id = _device_uuid(kind, building_key, device_key)
    statement = f"SELECT key, status, last_seen_at FROM {table} WHERE id = %s"  # noqa: S608
    cursor = conn.execute(statement, (device_id,))
    row = cursor.fetchone()
    return dict(zip([c.name for c in cursor.description], row, strict=True)) if row else None


def insert_device_alert(
    conn: psycopg.Connection,
    *,
    building_key: str,
    kind: str,
    device_key: str,
    alert_type: str,
    severity: str,
    title: str,
    description: str,
    metadata: dict[str, Any] | None = None,
) -> UUID | None:
    """Raise an alert for a device unless an unresolved one of the same type is open; returns its id or
    None."""
    b_id = entity_uuid("building", building_key)
    _, device_id = _device_uuid(kind, building_key, device_key)
    hvac_id = device_id if kind == "hvac" else None
    zone_row = conn.execute(
        f"SELECT zone_id FROM {_DEVICE_TABLES[kind][0]} WHERE id = %s",  # noqa: S608
        (device_id,),
    ).fetchone()
    open_row = conn.execute(
        "SELECT id FROM alerts WHERE building_id = %s AND alert_type = %s AND NOT resolved "
        "AND metadata->>'device' = %s LIMIT 1",
        (b_id, alert_type, device_key),
    ).fetchone()
    if open_row:
        return None
    row = conn.execute(
        "INSERT INTO alerts (building_id, zone_id, hvac_unit_id, alert_type, severity, title, description, "
        "metadata) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (
            b_id,
            zone_row[0] if zone_row else None,
            hvac_id,
            alert_type,
            severity,
            title,
            description,
            Jsonb({**(metadata or {}), "device": device_key, "device_kind": kind}),
        ),
    ).fetchone()
    return row[0]


def write_resolve_device_alerts(
    conn: psycopg.Connection, *, building_key: str, device_key: str, alert_type: str
) -> int:
    """Resolve open alerts of ``alert_type`` for a device that answers again."""
    cursor = conn.execute(
        "UPDATE alerts SET resolved = true, resolved_at = now() WHERE building_id = %s AND alert_type = %s "
        "AND NOT resolved AND metadata->>'device' = %s",
        (entity_uuid("building", building_key), alert_type, device_key),
    )
    return cursor.rowcount


def read_open_alerts(conn: psycopg.Connection, *, building_key: str) -> list[dict]:
    cursor = conn.execute(
        "SELECT id, alert_type, severity, title, description, metadata, created_at FROM alerts "
        "WHERE building_id = %s AND NOT resolved ORDER BY created_at",
        (entity_uuid("building", building_key),),
    )
    names = [c.name for c in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


@dataclass(frozen=True, slots=True)
class StoredThermostatEvent:
    building_key: str
    thermostat_key: str
    applied: bool  # False: older than the thermostat's last event, kept as history only


def write_thermostat_event(
    conn: psycopg.Connection, *, remote_device_id: str, event: str, at: datetime, data: dict[str, Any]
) -> StoredThermostatEvent | None:
    """Store a validated webhook event: kept in the audit log, and the thermostat's state moved forward.

    The state (temperature, mode, ``last_event_at``) moves only when the event is not older than the
    thermostat's last event: a late or replayed old event never moves it back (history only, audit result
    ``stale``). Returns None when no thermostat has that device id.
    """
    row = conn.execute(
        "SELECT t.id, t.key, b.key FROM thermostats t JOIN buildings b ON b.id = t.building_id "
        "WHERE t.device_id = %s",
        (remote_device_id,),
    ).fetchone()
    if row is None:
        return None
    t_id, t_key, b_key = row
    temperature = data.get("temperature")
    mode = data.get("mode")
    changes = {"last_event_at": at}
    if event == "temperature_change" and type(temperature) in (int, float):
        changes["current_temp_c"] = temperature
    elif event == "mode_change" and isinstance(mode, str):
        changes["mode"] = mode
    if "current_temp_c" in changes or "mode" in changes:
        changes["last_seen_at"] = at
    columns = ", ".join(f"{name} = %({name})s" for name in changes)
    cursor = conn.execute(
        f"UPDATE thermostats SET {columns}, updated_at = now() "  # noqa: S608 - column names are ours
        "WHERE id = %(id)s AND (last_event_at IS NULL OR last_event_at <= %(last_event_at)s)",
        {**changes, "id": t_id},
    )
    applied = cursor.rowcount == 1
    conn.execute(
        "INSERT INTO audit_log (time, actor, action, resource, resource_id, changes, source, result) "
        "VALUES (%s, 'thermostat-webhook', %s, 'thermostat', %s, %s, 'webhook', %s)",
        (
            at,
            event,
            f"{b_key}/{t_key}",
            Jsonb({"device_id": remote_device_id, "data": data}),
            "success" if applied else "stale",
        ),
    )
    return StoredThermostatEvent(b_key, t_key, applied)


def read_thermostat_events(conn: psycopg.Connection, *, limit: int = 100) -> list[dict]:
    cursor = conn.execute(
        "SELECT time, action, resource_id, changes FROM audit_log WHERE actor = 'thermostat-webhook' "
        "ORDER BY id DESC LIMIT %s",
        (limit,),
    )
    names = [c.name for c in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
