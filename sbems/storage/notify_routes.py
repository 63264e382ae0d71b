"""SQL for the notification routes edited in the panel (``notification_routes``, migration 0010): one row
per building and severity with the tags and target keys that get those alerts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import psycopg
from psycopg.rows import class_row


@dataclass(frozen=True)
class NotifyRouteRow:
    severity: str
    tags: list[str]
    target_keys: list[str]
    updated_by: str
    updated_at: datetime


def read_notify_routes(conn: psycopg.Connection, *, building_key: str) -> list[NotifyRouteRow]:
    """The building's panel routes (by key; none for an unknown building), critical first."""
    with conn.cursor(row_factory=class_row(NotifyRouteRow)) as cursor:
        return cursor.execute(
            "SELECT r.severity, r.tags, r.target_keys, r.updated_by, r.updated_at FROM notification_routes r "
            "JOIN buildings b ON b.id = r.building_id WHERE b.key = %s "
            "ORDER BY array_position(ARRAY['critical', 'warning', 'info'], r.severity)",
            (building_key,),
        ).fetchall()


def write_notify_route(
    conn: psycopg.Connection,
    *,
    building_id: UUID,
    severity: str,
    tags: Sequence[str],
    target_keys: Sequence[str],
    updated_by: str,
) -> bool:
    """Insert or replace the building's route for ``severity``; False for an unknown building."""
    return (
        conn.execute(
            "INSERT INTO notification_routes (building_id, severity, tags, target_keys, updated_by) "
            "SELECT id, %s, %s, %s, %s FROM buildings WHERE id = %s "
            "ON CONFLICT (building_id, severity) DO UPDATE SET tags = EXCLUDED.tags, "
            "target_keys = EXCLUDED.target_keys, updated_by = EXCLUDED.updated_by, updated_at = now()",
            (severity, list(tags), list(target_keys), updated_by, building_id),
        ).rowcount
        == 1
    )


def delete_notify_route(conn: psycopg.Connection, *, building_id: UUID, severity: str) -> bool:
    return (
        conn.execute(
            "DELETE FROM notification_routes WHERE building_id = %s AND severity = %s",
            (building_id, severity),
        ).rowcount
        == 1
    )
