"""SQL for schedules edited in the panel: the stored weekly specs (``schedules.metadata.spec``, one row
per zone and occupied period) with the panel's edit marker (``metadata.panel_edit``: who, when), a
rewrite of a schedule's rows for new periods and holidays, and its four setpoints (cooling and heating,
occupied and unoccupied) written into every row's spec, with the rows locked while they are checked."""

from __future__ import annotations

from datetime import time
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from sbems.domain.schedule import SEED_DAY_NUMBER
from sbems.domain.site import entity_uuid
from sbems.storage.schedule_states import sync_schedule_state_spec


def read_schedule_specs(conn: psycopg.Connection) -> dict[str, tuple[dict, dict | None]]:
    """Every stored weekly schedule: id -> (spec, panel edit marker or None)."""
    out: dict[str, tuple[dict, dict | None]] = {}
    for (meta,) in conn.execute("SELECT metadata FROM schedules ORDER BY key, id"):
        spec = (meta or {}).get("spec")
        if spec and spec.get("id") and spec["id"] not in out:
            out[spec["id"]] = (spec, meta.get("panel_edit"))
    return out


def mark_panel_edit(conn: psycopg.Connection, *, schedule_id: str, marker: dict[str, Any]) -> int:
    return conn.execute(
        "UPDATE schedules SET metadata = metadata || jsonb_build_object('panel_edit', %s::jsonb) "
        "WHERE metadata->'spec'->>'id' = %s",
        (Jsonb(marker), schedule_id),
    ).rowcount


def write_schedule_spec(
    conn: psycopg.Connection, *, schedule_id: str, spec: dict[str, Any], marker: dict[str, Any]
) -> int:
    """Replace the rows of ``schedule_id`` in every zone that follows it with one row per occupied period
    of ``spec`` (its setpoint, mode, days and times), keeping the zones; returns the rows written."""
    zones = conn.execute(
        "SELECT s.zone_id, z.key, b.key, coalesce(bool_and(s.enabled), true) FROM schedules s "
        "JOIN zones z ON z.id = s.zone_id JOIN buildings b ON b.id = z.building_id "
        "WHERE s.metadata->'spec'->>'id' = %s GROUP BY s.zone_id, z.key, b.key",
        (schedule_id,),
    ).fetchall()
    written = 0
    for zone_id, zone_key, building_key, enabled in zones:
        conn.execute(
            "DELETE FROM schedules WHERE zone_id = %s AND metadata->'spec'->>'id' = %s",
            (zone_id, schedule_id),
        )
        for index, period in enumerate(spec["occupied"]):
            key = f"{schedule_id}#{index}"
            conn.execute(
                "INSERT INTO schedules (id, zone_id, key, name, schedule_type, days_of_week, start_time, "
                "end_time, target_temp_c, mode, enabled, metadata) "
                "VALUES (%s, %s, %s, %s, 'weekly', %s, %s, %s, %s, %s, %s, %s)",
                (
                    entity_uuid("schedule", building_key, zone_key, key),
                    zone_id,
                    key,
                    spec["name"],
                    sorted(SEED_DAY_NUMBER[d] for d in period["days"]),
                    time.fromisoformat(period["start"]),
                    time.fromisoformat(period["end"]),
                    spec["occupied_setpoint_c"],
                    spec.get("mode"),
                    enabled,
                    Jsonb({"spec": spec, "panel_edit": marker}),
                ),
            )
            written += 1
    sync_schedule_state_spec(conn, schedule_id=schedule_id)
    return written


def lock_schedule_spec(conn: psycopg.Connection, *, schedule_id: str) -> dict | None:
    """The stored spec of ``schedule_id`` with every row of it locked (``FOR UPDATE``) until the
    transaction ends, so two edits of its setpoints are checked one after the other; None if unknown."""
    rows = conn.execute(
        "SELECT metadata->'spec' FROM schedules WHERE metadata->'spec'->>'id' = %s ORDER BY id FOR UPDATE",
        (schedule_id,),
    ).fetchall()
    return rows[0][0] if rows else None


def read_schedule_zones(conn: psycopg.Connection, *, schedule_id: str) -> list[tuple[str, str, dict]]:
    """(building key, zone key, zone spec) of every zone that follows ``schedule_id``."""
    return conn.execute(
        "SELECT DISTINCT b.key, z.key, z.metadata->'spec' FROM schedules s JOIN zones z ON z.id = s.zone_id "
        "JOIN buildings b ON b.id = z.building_id WHERE s.metadata->'spec'->>'id' = %s ORDER BY b.key, z.key",
        (schedule_id,),
    ).fetchall()


def write_setpoint_specs(
    conn: psycopg.Connection, *, schedule_id: str, setpoints_c: dict[str, float], marker: dict[str, Any]
) -> int:
    """Write the schedule's setpoints (``occupied_setpoint_c``, ``unoccupied_setpoint_c``,
    ``occupied_heating_setpoint_c``, ``unoccupied_heating_setpoint_c``; any subset) into the spec of every
    row that follows it, the occupied cooling one also as the row's target, and the panel's edit marker;
    returns the rows changed."""
    changed = conn.execute(
        "UPDATE schedules SET updated_at = now(), "
        "target_temp_c = coalesce((%(values)s::jsonb->>'occupied_setpoint_c')::float8, target_temp_c), "
        "metadata = jsonb_set(metadata, '{spec}', (metadata->'spec') || %(values)s::jsonb) "
        "|| jsonb_build_object('panel_edit', %(marker)s::jsonb) WHERE metadata->'spec'->>'id' = %(id)s",
        {"values": Jsonb(setpoints_c), "marker": Jsonb(marker), "id": schedule_id},
    ).rowcount
    sync_schedule_state_spec(conn, schedule_id=schedule_id)
    return changed


def read_panel_autopilot(conn: psycopg.Connection) -> dict[str, tuple[bool, str, str]]:
    """Buildings whose autopilot was last switched in the panel: key -> (value now, by, at ISO)."""
    rows = conn.execute(
        "SELECT DISTINCT ON (a.resource_id) a.resource_id, b.autopilot, a.actor, a.time "
        "FROM audit_log a JOIN buildings b ON b.key = a.resource_id "
        "WHERE a.action = 'autopilot' AND a.resource = 'building' AND a.result = 'success' "
        "ORDER BY a.resource_id, a.id DESC"
    ).fetchall()
    return {key: (bool(on), actor, at.isoformat()) for key, on, actor, at in rows}
