"""Optimization plans (seed optimization_plans) and the few reads the optimizer needs beyond readings.

Plans are stored as plain JSON (lists of floats, ISO times): no numpy objects reach the database.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb


def _plain(value: Any) -> Any:
    """JSON-safe copy: numpy scalars/arrays to Python, NaN/inf to None; fails loudly on anything else."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):  # numpy array or scalar
        return _plain(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | str):
        return value
    raise TypeError(f"not storable as plan JSON: {type(value).__name__}")


def write_plan(
    conn: psycopg.Connection,
    *,
    building_id: UUID,
    horizon_start: datetime,
    step_s: int,
    status: str,
    reason: str | None,
    summary: dict[str, Any],
    plan: dict[str, Any],
) -> UUID:
    """Store one plan (any status: an infeasible or refused plan is stored with its reason)."""
    summary_json, plan_json = _plain(summary), _plain(plan)
    json.dumps(summary_json), json.dumps(plan_json)  # strict: raises before anything is written
    return conn.execute(
        "INSERT INTO optimization_plans (building_id, horizon_start, step_s, status, reason, summary, plan) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (building_id, horizon_start, int(step_s), status, reason, Jsonb(summary_json), Jsonb(plan_json)),
    ).fetchone()[0]


def read_latest_plan(
    conn: psycopg.Connection, *, building_id: UUID, status: str | None = None
) -> dict | None:
    """The building's most recent plan (optionally of one status), as a dict of its columns."""
    cursor = conn.execute(
        "SELECT id, building_id, created_at, horizon_start, step_s, status, reason, summary, plan "
        "FROM optimization_plans WHERE building_id = %s AND (%s::text IS NULL OR status = %s) "
        "ORDER BY created_at DESC, horizon_start DESC LIMIT 1",
        (building_id, status, status),
    )
    row = cursor.fetchone()
    return dict(zip([c.name for c in cursor.description], row, strict=True)) if row else None


def read_plans_between(
    conn: psycopg.Connection, *, building_id: UUID, start_utc: datetime, end_utc: datetime
) -> list[dict]:
    """The building's solved plans whose horizon starts in [start, end), oldest first (horizon_start, step_s,
    plan document): what past plans predicted, to measure their errors."""
    cursor = conn.execute(
        "SELECT horizon_start, step_s, plan FROM optimization_plans WHERE building_id = %s "
        "AND horizon_start >= %s AND horizon_start < %s AND status IN ('optimal', 'optimal_inaccurate') "
        "ORDER BY horizon_start",
        (building_id, start_utc, end_utc),
    )
    return [dict(zip([c.name for c in cursor.description], row, strict=True)) for row in cursor.fetchall()]


def read_autopilot(conn: psycopg.Connection, *, building_id: UUID) -> bool:
    row = conn.execute("SELECT autopilot FROM buildings WHERE id = %s", (building_id,)).fetchone()
    return bool(row[0]) if row else False


def read_zone_hvac_power_series(
    conn: psycopg.Connection,
    *,
    building_id: UUID,
    zone_id: UUID,
    hvac_unit_id: UUID | None,
    start_utc: datetime,
    end_utc: datetime,
    bucket_s: int,
) -> list[tuple[datetime, float]]:
    """Electric kW of a zone's HVAC equipment per bucket (labelled by bucket end).

    Sources, first that has data: power points of the zone (its unit's power point or a submeter,
    any protocol) in sensor/energy readings; else the unit's ``hvac_telemetry.power_kw``.
    """
    points = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM sensors WHERE building_id = %s AND zone_id = %s AND sensor_type = 'power' "
            "ORDER BY key",
            (building_id, zone_id),
        )
    ]
    params = {"ids": points, "start": start_utc, "end": end_utc, "bucket": bucket_s, "unit": hvac_unit_id}
    rows = conn.execute(
        "WITH raw AS ("
        "  SELECT sensor_id AS point, time, value FROM sensor_readings WHERE sensor_id = ANY(%(ids)s) "
        "    AND time >= %(start)s AND time < %(end)s "
        "  UNION ALL SELECT point_id, time, power_kw FROM energy_readings WHERE point_id = ANY(%(ids)s) "
        "    AND time >= %(start)s AND time < %(end)s AND power_kw IS NOT NULL), "
        "per_point AS (SELECT point, "
        "date_bin(make_interval(secs => %(bucket)s), time, '2000-01-01'::timestamptz) "
        "    + make_interval(secs => %(bucket)s) AS bucket, avg(value) AS value FROM raw GROUP BY 1, 2) "
        "SELECT bucket, sum(value) FROM per_point GROUP BY bucket ORDER BY bucket",
        params,
    ).fetchall()
    if rows or hvac_unit_id is None:
        return rows
    return conn.execute(
        "SELECT date_bin(make_interval(secs => %(bucket)s), time, '2000-01-01'::timestamptz) "
        "  + make_interval(secs => %(bucket)s) AS bucket, avg(power_kw) FROM hvac_telemetry "
        "WHERE hvac_unit_id = %(unit)s AND time >= %(start)s AND time < %(end)s AND power_kw IS NOT NULL "
        "GROUP BY 1 ORDER BY 1",
        params,
    ).fetchall()


def read_plans_since(
    conn: psycopg.Connection, *, building_id: UUID, start_utc: datetime, end_utc: datetime, limit: int = 2000
) -> list[dict]:
    """The building's solved plans whose horizon started in [start_utc, end_utc), oldest first: what the
    planner asked for at each re-plan (the panel's plan-vs-executed chart)."""
    cursor = conn.execute(
        "SELECT created_at, horizon_start, step_s, plan FROM optimization_plans "
        "WHERE building_id = %s AND horizon_start >= %s AND horizon_start < %s AND status IN ('optimal', "
        "'optimal_inaccurate') ORDER BY horizon_start, created_at LIMIT %s",
        (building_id, start_utc, end_utc, limit),
    )
    names = [c.name for c in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def write_autopilot(conn: psycopg.Connection, *, building_id: UUID, on: bool) -> bool | None:
    """Set the building's autopilot flag; returns the previous value (None: no such building)."""
    row = conn.execute(
        "UPDATE buildings b SET autopilot = %s, updated_at = now() FROM buildings old "
        "WHERE b.id = %s AND old.id = b.id RETURNING old.autopilot",
        (on, building_id),
    ).fetchone()
    return bool(row[0]) if row else None
