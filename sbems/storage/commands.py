"""Control commands (seed control_commands) and the audit log: every write to equipment is recorded
with who/why, its lifetime, and its outcome."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

COMMAND_STATUSES = ("pending", "sent", "confirmed", "failed", "rejected", "released", "overridden")


def insert_command(
    conn: psycopg.Connection,
    *,
    command_type: str,
    command_data: dict[str, Any],
    source: str,
    status: str = "pending",
    user_id: UUID | None = None,
    building_id: UUID | None = None,
    zone_id: UUID | None = None,
    hvac_unit_id: UUID | None = None,
    thermostat_id: UUID | None = None,
    priority: int | None = None,
    lifetime_s: int | None = None,
    expires_at: datetime | None = None,
    error_message: str | None = None,
    created_at: datetime | None = None,
) -> UUID:
    """Record a command; ``created_at`` is the caller's clock (rate limits run on it), else now()."""
    row = conn.execute(
        "INSERT INTO control_commands (user_id, building_id, zone_id, hvac_unit_id, thermostat_id, "
        "command_type, command_data, source, status, priority, lifetime_s, expires_at, error_message, "
        "created_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, coalesce(%s, now())) RETURNING id",
        (
            user_id,
            building_id,
            zone_id,
            hvac_unit_id,
            thermostat_id,
            command_type,
            Jsonb(command_data),
            source,
            status,
            priority,
            lifetime_s,
            expires_at,
            error_message,
            created_at,
        ),
    ).fetchone()
    return row[0]


ZONE_LOCK_CLASS = 0x5BE5  # the advisory-lock namespace of zone command locks


def lock_zone_commands(conn: psycopg.Connection, *, zone_id: UUID) -> None:
    """Take the zone's command lock until this transaction ends: requests for one zone check the rate limit
    and record their pending command one at a time (concurrent requests from any process wait here)."""
    conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s::text))", (ZONE_LOCK_CLASS, zone_id))


def update_command_status(
    conn: psycopg.Connection,
    *,
    command_id: UUID,
    status: str,
    error_message: str | None = None,
    read_back: Any = None,
    at: datetime | None = None,
) -> bool:
    """Move a command to ``status`` (sent/confirmed/failed/released/overridden); False if unknown id."""
    if status not in COMMAND_STATUSES:
        raise ValueError(f"unknown command status {status!r}")
    stamp_column = {"sent": "sent_at", "confirmed": "confirmed_at", "released": "released_at"}.get(status)
    stamp = f", {stamp_column} = coalesce(%(at)s, now())" if stamp_column else ""
    cursor = conn.execute(
        f"UPDATE control_commands SET status = %(status)s, "
        f"error_message = coalesce(%(error)s, error_message), command_data = command_data || %(extra)s"
        f"{stamp} WHERE id = %(id)s",
        {
            "status": status,
            "error": error_message,
            "id": command_id,
            "at": at,
            "extra": Jsonb({"read_back": read_back} if read_back is not None else {}),
        },
    )
    return cursor.rowcount == 1


def read_command(conn: psycopg.Connection, *, command_id: UUID) -> dict | None:
    cursor = conn.execute("SELECT * FROM control_commands WHERE id = %s", (command_id,))
    row = cursor.fetchone()
    return dict(zip([c.name for c in cursor.description], row, strict=True)) if row else None


def insert_audit(
    conn: psycopg.Connection,
    *,
    actor: str,
    action: str,
    resource: str,
    resource_id: str | None,
    result: str,
    changes: dict[str, Any] | None = None,
    user_id: UUID | None = None,
    source: str | None = None,
    error_message: str | None = None,
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> int:
    row = conn.execute(
        "INSERT INTO audit_log (user_id, actor, action, resource, resource_id, changes, source, ip_address, "
        "user_agent, result, error_message) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (
            user_id,
            actor,
            action,
            resource,
            resource_id,
            Jsonb(changes or {}),
            source,
            ip_address,
            user_agent,
            result,
            error_message,
        ),
    ).fetchone()
    return row[0]


def read_last_command(
    conn: psycopg.Connection, *, zone_id: UUID, statuses: tuple[str, ...], command_type: str | None = None
) -> dict | None:
    """The zone's most recent command in one of ``statuses`` (of ``command_type``, None: any)."""
    cursor = conn.execute(
        "SELECT * FROM control_commands WHERE zone_id = %s AND status = ANY(%s) "
        "AND (%s::text IS NULL OR command_type = %s) ORDER BY created_at DESC LIMIT 1",
        (zone_id, list(statuses), command_type, command_type),
    )
    row = cursor.fetchone()
    return dict(zip([c.name for c in cursor.description], row, strict=True)) if row else None


def read_held_commands(
    conn: psycopg.Connection,
    *,
    building_id: UUID | None = None,
    due_before: datetime | None = None,
    source: str | None = None,
) -> list[dict]:
    """Confirmed writes not yet released: all, those expiring before ``due_before``, or of one source."""
    cursor = conn.execute(
        "SELECT * FROM control_commands WHERE status IN ('confirmed', 'overridden') AND released_at IS NULL "
        "AND command_type IN ('setpoint', 'heating_setpoint', 'mode', 'fan_speed', 'power') "
        "AND (%(b)s::uuid IS NULL OR building_id = %(b)s) "
        "AND (%(due)s::timestamptz IS NULL OR expires_at <= %(due)s) "
        "AND (%(src)s::text IS NULL OR source = %(src)s) ORDER BY created_at",
        {"b": building_id, "due": due_before, "src": source},
    )
    names = [c.name for c in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def read_audit(conn: psycopg.Connection, *, resource_id: str | None = None, limit: int = 100) -> list[dict]:
    cursor = conn.execute(
        "SELECT * FROM audit_log WHERE %(r)s::text IS NULL OR resource_id = %(r)s "
        "ORDER BY id DESC LIMIT %(n)s",
        {"r": resource_id, "n": limit},
    )
    names = [c.name for c in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def supersede_held_commands(
    conn: psycopg.Connection,
    *,
    zone_id: UUID,
    by_command_id: UUID,
    at: datetime,
    command_type: str | None = None,
) -> int:
    """Mark the zone's earlier held writes (of ``command_type``, None: any) as replaced by a newer one
    (nothing to release on the device)."""
    return conn.execute(
        "UPDATE control_commands SET released_at = %s, error_message = 'superseded by ' || %s::text "
        "WHERE zone_id = %s AND id <> %s AND status IN ('confirmed', 'overridden') AND released_at IS NULL "
        "AND (%s::text IS NULL OR command_type = %s)",
        (at, by_command_id, zone_id, by_command_id, command_type, command_type),
    ).rowcount


def read_source_commands(
    conn: psycopg.Connection, *, building_id: UUID, source: str, since: datetime, statuses: tuple[str, ...]
) -> list[dict]:
    """The building's commands of one source created since ``since`` in one of ``statuses``, oldest first."""
    cursor = conn.execute(
        "SELECT * FROM control_commands WHERE building_id = %s AND source = %s AND created_at >= %s "
        "AND status = ANY(%s) ORDER BY created_at",
        (building_id, source, since, list(statuses)),
    )
    names = [c.name for c in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
