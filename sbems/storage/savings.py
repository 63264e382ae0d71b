"""SQL of the savings flow: when control started, the building meter samples, and ``energy_savings`` rows.

A savings row is identified by (building, period_start, period_end, calculation_method) (unique index of
migration 0003), so writing the same days again updates them in place. ``metadata->>'granularity'`` is
``day`` for a reporting day and ``period`` for the whole reporting period; the period row is cumulative to
date, so a newer one replaces the older rows of the same method and reporting start.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from sbems.mv.report import SavingsRow

# a command with one of these statuses reached the equipment (or was at least sent to it)
WRITTEN_STATUSES = ("sent", "confirmed", "overridden", "released")


def read_first_command_time(
    conn: psycopg.Connection, *, building_id: UUID, source: str = "optimizer"
) -> datetime | None:
    """When the first command of ``source`` that was sent to the building's equipment was created."""
    return conn.execute(
        "SELECT min(created_at) FROM control_commands "
        "WHERE building_id = %s AND source = %s AND status = ANY(%s)",
        (building_id, source, list(WRITTEN_STATUSES)),
    ).fetchone()[0]


def read_meter_point_ids(conn: psycopg.Connection, *, building_id: UUID) -> list[UUID]:
    """The building meter(s): active power points not attached to a zone, HVAC unit or thermostat."""
    return [
        r[0]
        for r in conn.execute(
            "SELECT id FROM sensors WHERE building_id = %s AND sensor_type = 'power' AND zone_id IS NULL "
            "AND hvac_unit_id IS NULL AND thermostat_id IS NULL AND status = 'active' ORDER BY key",
            (building_id,),
        )
    ]


def read_power_samples(
    conn: psycopg.Connection, *, point_ids: Sequence[UUID], start_utc: datetime, end_utc: datetime
) -> list[tuple[UUID, datetime, float]]:
    """(point, time, kW) of the points in [start_utc, end_utc), from sensor_readings and energy_readings
    (a meter may land in either), ordered by point and time."""
    return conn.execute(
        "SELECT sensor_id, time, value FROM sensor_readings WHERE sensor_id = ANY(%(ids)s) "
        "AND time >= %(start)s AND time < %(end)s "
        "UNION ALL SELECT point_id, time, power_kw FROM energy_readings WHERE point_id = ANY(%(ids)s) "
        "AND time >= %(start)s AND time < %(end)s AND power_kw IS NOT NULL ORDER BY 1, 2",
        {"ids": list(point_ids), "start": start_utc, "end": end_utc},
    ).fetchall()


_UPSERT = (
    "INSERT INTO energy_savings (building_id, period_start, period_end, baseline_consumption_kwh, "
    "actual_consumption_kwh, savings_kwh, savings_pct, cost_savings_usd, co2_reduction_kg, "
    "calculation_method, "
    "metadata) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (building_id, period_start, period_end, calculation_method) DO UPDATE SET "
    "baseline_consumption_kwh = EXCLUDED.baseline_consumption_kwh, "
    "actual_consumption_kwh = EXCLUDED.actual_consumption_kwh, savings_kwh = EXCLUDED.savings_kwh, "
    "savings_pct = EXCLUDED.savings_pct, cost_savings_usd = EXCLUDED.cost_savings_usd, "
    "co2_reduction_kg = EXCLUDED.co2_reduction_kg, metadata = EXCLUDED.metadata, created_at = now()"
)


def write_energy_savings(conn: psycopg.Connection, *, building_id: UUID, rows: Sequence[SavingsRow]) -> int:
    """Upsert savings rows; a ``period`` row replaces the older period rows of its method and start.
    Returns rows written. One transaction (the caller commits)."""
    with conn.transaction(), conn.cursor() as cur:
        for row in rows:
            if row.metadata.get("granularity") == "period":
                cur.execute(
                    "DELETE FROM energy_savings WHERE building_id = %s AND calculation_method = %s "
                    "AND period_start = %s AND period_end <> %s AND metadata->>'granularity' = 'period'",
                    (building_id, row.calculation_method, row.period_start, row.period_end),
                )
        cur.executemany(
            _UPSERT,
            [
                (
                    building_id,
                    r.period_start,
                    r.period_end,
                    r.baseline_consumption_kwh,
                    r.actual_consumption_kwh,
                    r.savings_kwh,
                    r.savings_pct,
                    r.cost_savings_usd,
                    r.co2_reduction_kg,
                    r.calculation_method,
                    Jsonb(r.metadata),
                )
                for r in rows
            ],
        )
    return len(rows)


def read_savings_rows(
    conn: psycopg.Connection, *, building_id: UUID, method: str | None = None
) -> list[dict]:
    """Every savings row of a building (optionally one method), by period start then end; numbers as
    floats."""
    cursor = conn.execute(
        "SELECT period_start, period_end, baseline_consumption_kwh::float8 AS baseline_consumption_kwh, "
        "actual_consumption_kwh::float8 AS actual_consumption_kwh, savings_kwh::float8 AS savings_kwh, "
        "savings_pct::float8 AS savings_pct, cost_savings_usd::float8 AS cost_savings_usd, "
        "co2_reduction_kg::float8 AS co2_reduction_kg, calculation_method, metadata, created_at "
        "FROM energy_savings WHERE building_id = %s AND (%s::text IS NULL OR calculation_method = %s) "
        "ORDER BY period_start, period_end",
        (building_id, method, method),
    )
    names = [c.name for c in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
