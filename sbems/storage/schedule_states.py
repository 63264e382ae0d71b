"""SQL for the state of each weekly schedule (``schedule_states``, migration 0012): enabled or not (kept
equal on its per-zone ``schedules`` rows, which the panel and API read), its last stored spec, the buildings
whose zones followed it, and whether it was deleted (retired: the row stays, ``read_site`` leaves it out).
A schedule no zone follows any more keeps its state row, so it can be followed again or deleted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb


@dataclass(frozen=True)
class ScheduleState:
    key: str
    spec: dict[str, Any]
    enabled: bool
    building_keys: list[str]
    retired_at: datetime | None
    retired_by: str | None


_COLUMNS = "key, spec, enabled, building_keys, retired_at, retired_by"  # ScheduleState's fields, in order


def _state(row: tuple) -> ScheduleState:
    return ScheduleState(row[0], row[1], bool(row[2]), list(row[3]), row[4], row[5])


def upsert_schedule_state(
    conn: psycopg.Connection, *, spec: dict[str, Any], building_key: str | None = None
) -> None:
    """Record a schedule's spec. With ``building_key`` (a zone of that building follows it): the building
    is added to its list and a retired schedule is in use again (not retired). Without: the spec of a
    retired schedule is left as it was retired (a site file listing it does not bring it back)."""
    if building_key is None:
        conn.execute(
            "INSERT INTO schedule_states (key, spec) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE "
            "SET spec = EXCLUDED.spec WHERE schedule_states.retired_at IS NULL",
            (spec["id"], Jsonb(spec)),
        )
        return
    conn.execute(
        "INSERT INTO schedule_states (key, spec, building_keys) VALUES (%s, %s, ARRAY[%s]) "
        "ON CONFLICT (key) DO UPDATE SET spec = EXCLUDED.spec, retired_at = NULL, retired_by = NULL, "
        "building_keys = CASE WHEN %s = ANY(schedule_states.building_keys) "
        "THEN schedule_states.building_keys ELSE array_append(schedule_states.building_keys, %s::text) END",
        (spec["id"], Jsonb(spec), building_key, building_key, building_key),
    )


def read_schedule_enabled(conn: psycopg.Connection, *, schedule_id: str) -> bool:
    row = conn.execute("SELECT enabled FROM schedule_states WHERE key = %s", (schedule_id,)).fetchone()
    return True if row is None else bool(row[0])


def sync_schedule_state_spec(conn: psycopg.Connection, *, schedule_id: str) -> None:
    """Copy the spec of the schedule's rows (after a panel or API edit of them) into its state row."""
    conn.execute(
        "UPDATE schedule_states SET spec = sub.spec FROM (SELECT metadata->'spec' AS spec FROM schedules "
        "WHERE metadata->'spec'->>'id' = %(id)s ORDER BY key LIMIT 1) sub WHERE key = %(id)s",
        {"id": schedule_id},
    )


def read_schedule_states(conn: psycopg.Connection) -> dict[str, ScheduleState]:
    """Every schedule's state, retired ones included: key -> state."""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM schedule_states ORDER BY key").fetchall()
    return {r[0]: _state(r) for r in rows}


def read_disabled_schedule_ids(conn: psycopg.Connection) -> set[str]:
    """Ids of the schedules switched off (not applied by SBEMS; their zones are left to local control)."""
    rows = conn.execute("SELECT key FROM schedule_states WHERE NOT enabled AND retired_at IS NULL")
    return {key for (key,) in rows}


def lock_schedule_state(conn: psycopg.Connection, *, schedule_id: str) -> ScheduleState | None:
    """The schedule's state, locked (``FOR UPDATE``) until the transaction ends; None if unknown."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM schedule_states WHERE key = %s FOR UPDATE", (schedule_id,)
    ).fetchone()
    return _state(row) if row else None


def write_schedule_enabled(conn: psycopg.Connection, *, schedule_id: str, enabled: bool, actor: str) -> int:
    """Switch a schedule on or off, in its state row and on every per-zone row; returns the zone rows."""
    conn.execute(
        "UPDATE schedule_states SET enabled = %s, changed_at = now(), changed_by = %s WHERE key = %s",
        (enabled, actor, schedule_id),
    )
    return conn.execute(
        "UPDATE schedules SET enabled = %s, updated_at = now() WHERE metadata->'spec'->>'id' = %s",
        (enabled, schedule_id),
    ).rowcount


def write_schedule_retired(
    conn: psycopg.Connection, *, schedule_id: str, retired: bool, actor: str | None = None
) -> int:
    """Retire a schedule that no zone follows (or bring it back): its state row and history stay."""
    return conn.execute(
        "UPDATE schedule_states SET retired_at = CASE WHEN %(r)s THEN now() END, "
        "retired_by = CASE WHEN %(r)s THEN %(a)s END, changed_at = now(), changed_by = %(a)s "
        "WHERE key = %(id)s",
        {"r": retired, "a": actor, "id": schedule_id},
    ).rowcount


def read_schedule_zone_keys(conn: psycopg.Connection, *, schedule_id: str) -> list[str]:
    """``building/zone`` of every zone that follows the schedule."""
    rows = conn.execute(
        "SELECT DISTINCT b.key || '/' || z.key FROM schedules s JOIN zones z ON z.id = s.zone_id "
        "JOIN buildings b ON b.id = z.building_id WHERE s.metadata->'spec'->>'id' = %s ORDER BY 1",
        (schedule_id,),
    )
    return [key for (key,) in rows]
