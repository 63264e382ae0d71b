"""Reads for the delivery check (``sbems.services.delivery``): the building's metered units with their
nameplate figures, and each unit's mean measured kW per plan step. Plans come from
``sbems.storage.plans.read_plans_since``."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import psycopg


def read_delivery_units(conn: psycopg.Connection, *, building_id: UUID) -> list[dict]:
    """The building's active HVAC units that condition a zone: unit key, zone key, rated cooling kW and,
    from the site file's spec, heat-pump heating kW (None: = cooling), backup heat kW and fan kW."""
    rows = conn.execute(
        "SELECT h.key, z.key, h.capacity_kw, (h.metadata->'spec'->>'heating_capacity_kw')::float8, "
        "(h.metadata->'spec'->>'backup_heat_kw')::float8, (h.metadata->'spec'->>'fan_power_kw')::float8 "
        "FROM hvac_units h JOIN zones z ON z.id = h.zone_id WHERE h.building_id = %s "
        "AND h.status <> 'retired' ORDER BY h.key",
        (building_id,),
    ).fetchall()
    return [
        {
            "unit": unit,
            "zone": zone,
            "cooling_capacity_kw": float(cap or 0.0),
            "heating_capacity_kw": float(heat) if heat is not None else float(cap or 0.0),
            "backup_heat_kw": float(backup or 0.0),
            "fan_power_kw": float(fan or 0.0),
        }
        for unit, zone, cap, heat, backup, fan in rows
    ]


def read_unit_power_steps(
    conn: psycopg.Connection, *, building_id: UUID, start_utc: datetime, end_utc: datetime, step_s: int
) -> list[tuple[str, datetime, float]]:
    """Each unit's mean measured ``hvac_telemetry.power_kw`` per step in [start, end): (unit key, step
    start, kW), steps aligned on ``step_s`` from 2000-01-01 UTC (as the plans' steps)."""
    return conn.execute(
        "SELECT h.key, date_bin(make_interval(secs => %(step)s), t.time, '2000-01-01'::timestamptz), "
        "avg(t.power_kw) FROM hvac_telemetry t JOIN hvac_units h ON h.id = t.hvac_unit_id "
        "WHERE h.building_id = %(b)s AND t.time >= %(start)s AND t.time < %(end)s AND t.power_kw IS NOT NULL "
        "GROUP BY 1, 2 ORDER BY 1, 2",
        {"b": building_id, "start": start_utc, "end": end_utc, "step": step_s},
    ).fetchall()


def read_building_timezone(conn: psycopg.Connection, *, building_id: UUID) -> str:
    row = conn.execute("SELECT timezone FROM buildings WHERE id = %s", (building_id,)).fetchone()
    return str(row[0]) if row else "UTC"
