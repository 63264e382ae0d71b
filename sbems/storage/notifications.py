"""Alert notifications: routing state per alert, and deliveries with their attempts (migration 0005).

A delivery is one (alert, purpose, target) row; ``purpose`` is ``alert`` or ``escalation``. The target is
kept as ``target_key`` (a hash of its apprise URL) and ``target_label`` (secrets masked), never the URL.
``lock_due_delivery`` takes a due row with ``FOR UPDATE SKIP LOCKED``: two delivery passes at once never
take the same row, and the row stays locked until the caller's transaction records the outcome.
``building_id`` filters (None: every building) keep alerts without a building in every pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import psycopg

OPEN_STATUSES = ("pending", "held", "retrying")


@dataclass(frozen=True, slots=True)
class AlertToNotify:
    """An alert with what routing needs: its building's key, time zone and ``notifications`` block."""

    id: UUID
    severity: str
    building_key: str | None
    timezone: str | None
    routing: dict | None
    acknowledged: bool = False
    first_sent_at: datetime | None = None
    notified_keys: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A locked delivery row and the alert it tells of."""

    id: UUID
    alert_id: UUID
    purpose: str
    target_key: str
    attempts: int
    severity: str
    title: str
    description: str | None
    created_at: datetime
    acknowledged: bool
    resolved: bool
    building_key: str | None
    timezone: str | None
    routing: dict | None


_BUILDING = "(%(building)s::uuid IS NULL OR a.building_id IS NULL OR a.building_id = %(building)s::uuid)"


def read_building_routing(
    conn: psycopg.Connection, *, building_key: str
) -> tuple[UUID, str, dict | None] | None:
    """(id, time zone, ``notifications`` block) of a building by key; None when there is no such building."""
    return conn.execute(
        "SELECT id, timezone, metadata->'spec'->'notifications' FROM buildings WHERE key = %s",
        (building_key,),
    ).fetchone()


def read_unrouted_alerts(
    conn: psycopg.Connection, *, since_utc: datetime, building_id: UUID | None = None
) -> list[AlertToNotify]:
    """Open alerts since ``since_utc`` that no pass has routed yet (e.g. raised by the rules or FDD)."""
    rows = conn.execute(
        "SELECT a.id, a.severity, b.key, b.timezone, b.metadata->'spec'->'notifications' FROM alerts a "
        "LEFT JOIN buildings b ON b.id = a.building_id "
        f"WHERE NOT a.resolved AND a.created_at >= %(since)s AND {_BUILDING} AND NOT EXISTS "
        "(SELECT 1 FROM alert_notifications n WHERE n.alert_id = a.id) ORDER BY a.created_at, a.id",
        {"since": since_utc, "building": building_id},
    ).fetchall()
    return [AlertToNotify(*row) for row in rows]


def write_alert_routed(conn: psycopg.Connection, *, alert_id: UUID, at: datetime) -> bool:
    """Mark an alert routed; False when another pass (or the raise) already did (then route nothing)."""
    cursor = conn.execute(
        "INSERT INTO alert_notifications (alert_id, routed_at) VALUES (%s, %s) "
        "ON CONFLICT (alert_id) DO NOTHING RETURNING alert_id",
        (alert_id, at),
    )
    return cursor.fetchone() is not None


def write_deliveries(
    conn: psycopg.Connection,
    *,
    alert_id: UUID,
    purpose: str,
    targets: Sequence[tuple[str, str]],
    next_attempt_at: datetime,
) -> int:
    """Queue one delivery per (target key, target label); returns how many were new."""
    if not targets:
        return 0
    cursor = conn.execute(
        "INSERT INTO notification_deliveries (alert_id, purpose, target_key, target_label, next_attempt_at, "
        "created_at) SELECT %s, %s, k, l, %s, %s FROM unnest(%s::text[], %s::text[]) AS t(k, l) "
        "ON CONFLICT (alert_id, purpose, target_key) DO NOTHING",
        (
            alert_id,
            purpose,
            next_attempt_at,
            next_attempt_at,
            [k for k, _ in targets],
            [lbl for _, lbl in targets],
        ),
    )
    return cursor.rowcount


def lock_escalation_candidates(
    conn: psycopg.Connection, *, building_id: UUID | None = None
) -> list[AlertToNotify]:
    """Open, unacknowledged, not yet escalated alerts whose notification went out at least once (locked:
    a concurrent pass skips them), with the time of their first sent notification and its targets."""
    rows = conn.execute(
        "SELECT a.id, a.severity, b.key, b.timezone, b.metadata->'spec'->'notifications', a.acknowledged, "
        "(SELECT min(d.sent_at) FROM notification_deliveries d "
        " WHERE d.alert_id = a.id AND d.purpose = 'alert' AND d.status = 'sent'), "
        "(SELECT array_agg(d.target_key) FROM notification_deliveries d "
        " WHERE d.alert_id = a.id AND d.purpose = 'alert' AND d.status = 'sent') "
        "FROM alert_notifications n JOIN alerts a ON a.id = n.alert_id "
        "LEFT JOIN buildings b ON b.id = a.building_id "
        f"WHERE n.escalated_at IS NULL AND NOT a.acknowledged AND NOT a.resolved AND {_BUILDING} "
        "AND EXISTS (SELECT 1 FROM notification_deliveries d "
        " WHERE d.alert_id = a.id AND d.purpose = 'alert' AND d.status = 'sent') "
        "ORDER BY a.created_at, a.id FOR UPDATE OF n SKIP LOCKED",
        {"building": building_id},
    ).fetchall()
    return [AlertToNotify(*row[:7], frozenset(row[7] or ())) for row in rows]


def write_alert_escalated(conn: psycopg.Connection, *, alert_id: UUID, at: datetime) -> None:
    conn.execute("UPDATE alert_notifications SET escalated_at = %s WHERE alert_id = %s", (at, alert_id))


def lock_due_delivery(
    conn: psycopg.Connection,
    *,
    now_utc: datetime,
    target_keys: Sequence[str],
    building_id: UUID | None = None,
) -> DueDelivery | None:
    """The oldest due delivery to a configured target that no other pass holds, locked until the caller's
    transaction ends; None when nothing is due."""
    row = conn.execute(
        "SELECT d.id, d.alert_id, d.purpose, d.target_key, d.attempts, a.severity, a.title, a.description, "
        "a.created_at, a.acknowledged, a.resolved, b.key, b.timezone, b.metadata->'spec'->'notifications' "
        "FROM notification_deliveries d JOIN alerts a ON a.id = d.alert_id "
        "LEFT JOIN buildings b ON b.id = a.building_id "
        "WHERE d.status IN ('pending', 'held', 'retrying') AND d.next_attempt_at <= %(now)s "
        f"AND d.target_key = ANY(%(keys)s) AND {_BUILDING} "
        "ORDER BY d.next_attempt_at, d.created_at, d.id LIMIT 1 FOR UPDATE OF d SKIP LOCKED",
        {"now": now_utc, "keys": list(target_keys), "building": building_id},
    ).fetchone()
    return DueDelivery(*row) if row else None


def write_delivery_outcome(
    conn: psycopg.Connection,
    *,
    delivery_id: UUID,
    status: str,
    attempted: bool,
    at: datetime,
    next_attempt_at: datetime | None = None,
    error: str | None = None,
) -> None:
    """Record an attempt (``attempted``) or a decision: sent, retrying (with the error and when to try
    again), held (until ``next_attempt_at``) or skipped (``error`` says why)."""
    conn.execute(
        "UPDATE notification_deliveries SET status = %s, attempts = attempts + %s, "
        "last_error = coalesce(%s, last_error), next_attempt_at = coalesce(%s, next_attempt_at), "
        "sent_at = CASE WHEN %s = 'sent' THEN %s::timestamptz END WHERE id = %s",
        (status, int(attempted), error, next_attempt_at, status, at, delivery_id),
    )


def read_deliveries(
    conn: psycopg.Connection, *, alert_id: UUID | None = None, limit: int = 200
) -> list[dict]:
    """Deliveries, newest first (all, or of one alert)."""
    cursor = conn.execute(
        "SELECT d.id, d.alert_id, d.purpose, d.target_key, d.target_label, d.status, d.attempts, "
        "d.last_error, d.next_attempt_at, d.created_at, d.sent_at FROM notification_deliveries d "
        "WHERE %(alert)s::uuid IS NULL OR d.alert_id = %(alert)s::uuid "
        "ORDER BY d.created_at DESC, d.purpose, d.target_label LIMIT %(limit)s",
        {"alert": alert_id, "limit": limit},
    )
    names = [c.name for c in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
