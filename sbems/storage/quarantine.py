"""Quarantine: rejected input kept whole with its reason (never silently dropped)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import psycopg


@dataclass(frozen=True, slots=True)
class QuarantineItem:
    source: str  # listener, poll, webhook, site-import ...
    reason: str
    payload: bytes
    topic: str | None = None
    received_at: datetime | None = None
    metadata: dict = field(default_factory=dict)


def write_quarantine(conn: psycopg.Connection, *, items: Sequence[QuarantineItem]) -> int:
    if not items:
        return 0
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY quarantine (received_at, source, topic, reason, payload, metadata) "
            "FROM STDIN (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(["timestamptz", "text", "text", "text", "bytea", "jsonb"])
        for item in items:
            copy.write_row(
                (
                    item.received_at or datetime.now().astimezone(),
                    item.source,
                    item.topic,
                    item.reason,
                    item.payload,
                    item.metadata,
                )
            )
    return len(items)


def read_quarantine(conn: psycopg.Connection, *, limit: int = 100, source: str | None = None) -> list[dict]:
    cursor = conn.execute(
        "SELECT id, received_at, source, topic, reason, payload FROM quarantine "
        "WHERE %(source)s::text IS NULL OR source = %(source)s ORDER BY id DESC LIMIT %(limit)s",
        {"source": source, "limit": limit},
    )
    names = [c.name for c in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
