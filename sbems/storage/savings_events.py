"""SQL of the savings method's non-routine events (migration 0009): record, withdraw, read.

An event is never updated or deleted, only withdrawn; recording and withdrawing each write an
``audit_log`` row (resource ``savings_event``, resource id ``<building key>/savings-events/<id>``) in the
same transaction, so the audit trail says who recorded or withdrew what, when and why.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

import psycopg

from sbems.storage.commands import insert_audit

_COLUMNS = (
    "id, kind, action, start_date, end_date, kwh_per_day, kwh_per_day_sd, description, created_at, "
    "created_by, "
    "withdrawn_at, withdrawn_by, withdrawn_reason"
)


def _resource_id(building_key: str, event_id: UUID) -> str:
    return f"{building_key}/savings-events/{event_id}"


def insert_nonroutine_event(
    conn: psycopg.Connection,
    *,
    building_id: UUID,
    building_key: str,
    kind: str,
    action: str,
    start_date: date,
    end_date: date | None,
    kwh_per_day: float | None,
    description: str,
    actor: str,
    user_id: UUID | None = None,
    kwh_per_day_sd: float = 0.0,
) -> UUID:
    """Record an event and its audit row (one transaction); returns the event id."""
    with conn.transaction():
        event_id = conn.execute(
            "INSERT INTO savings_nonroutine_events (building_id, kind, action, start_date, end_date, "
            "kwh_per_day, kwh_per_day_sd, description, created_by) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                building_id,
                kind,
                action,
                start_date,
                end_date,
                kwh_per_day,
                kwh_per_day_sd,
                description,
                actor,
            ),
        ).fetchone()[0]
        insert_audit(
            conn,
            actor=actor,
            user_id=user_id,
            action="record_savings_event",
            resource="savings_event",
            resource_id=_resource_id(building_key, event_id),
            result="success",
            changes={
                "kind": kind,
                "action": action,
                "start_date": start_date.isoformat(),
                "end_date": None if end_date is None else end_date.isoformat(),
                "kwh_per_day": kwh_per_day,
                "kwh_per_day_sd": kwh_per_day_sd,
                "description": description,
            },
        )
    return event_id


def withdraw_nonroutine_event(
    conn: psycopg.Connection,
    *,
    building_id: UUID,
    building_key: str,
    event_id: UUID,
    reason: str,
    actor: str,
    user_id: UUID | None = None,
) -> bool:
    """Withdraw an active event of the building (audited); False when there is none to withdraw."""
    with conn.transaction():
        done = conn.execute(
            "UPDATE savings_nonroutine_events SET withdrawn_at = now(), withdrawn_by = %s, "
            "withdrawn_reason = %s WHERE id = %s AND building_id = %s AND withdrawn_at IS NULL",
            (actor, reason, event_id, building_id),
        ).rowcount
        if done:
            insert_audit(
                conn,
                actor=actor,
                user_id=user_id,
                action="withdraw_savings_event",
                resource="savings_event",
                resource_id=_resource_id(building_key, event_id),
                result="success",
                changes={"reason": reason},
            )
    return bool(done)


def read_nonroutine_events(
    conn: psycopg.Connection, *, building_id: UUID, include_withdrawn: bool = False
) -> list[dict]:
    """The building's events by start date (active ones only unless ``include_withdrawn``)."""
    cursor = conn.execute(
        f"SELECT {_COLUMNS} FROM savings_nonroutine_events WHERE building_id = %s "
        "AND (%s OR withdrawn_at IS NULL) ORDER BY start_date, created_at",
        (building_id, include_withdrawn),
    )
    names = [c.name for c in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
