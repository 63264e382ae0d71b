"""Pages of a building's audit trail (the API's control history): a time range, newest first, with a
keyset cursor (the last entry's id) so pages stay stable while new entries arrive."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

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
