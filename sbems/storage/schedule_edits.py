"""SQL for schedules edited in the panel: the stored weekly specs (``schedules.metadata.spec``, one row
per zone and occupied period) with the panel's edit marker (``metadata.panel_edit``: who, when), a
rewrite of a schedule's rows for new periods and holidays, and the marker set after a setpoint edit."""

from __future__ import annotations

from datetime import time
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from sbems.domain.schedule import SEED_DAY_NUMBER
from sbems.domain.site import entity_uuid


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
    return written


def read_panel_autopilot(conn: psycopg.Connection) -> dict[str, tuple[bool, str, str]]:
    """Buildings whose autopilot was last switched in the panel: key -> (value now, by, at ISO)."""
    rows = conn.execute(
        "SELECT DISTINCT ON (a.resource_id) a.resource_id, b.autopilot, a.actor, a.time "
        "FROM audit_log a JOIN buildings b ON b.key = a.resource_id "
        "WHERE a.action = 'autopilot' AND a.resource = 'building' AND a.result = 'success' "
        "ORDER BY a.resource_id, a.id DESC"
    ).fetchall()
    return {key: (bool(on), actor, at.isoformat()) for key, on, actor, at in rows}
