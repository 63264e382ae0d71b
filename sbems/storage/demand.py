"""The main meter within the current demand interval, for the within-interval demand limiter (issue 14):
which points are the meter, their mean so far and their kW now. Reached peaks of the month come from
``predictions.read_bucketed_series`` (the same buckets the planner uses)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import psycopg


@dataclass(frozen=True)
class IntervalMeter:
    """The meter's kW within an interval so far, summed over its points."""

    mean_kw: float  # each point's mean of its readings in the interval so far, summed
    current_kw: float  # each point's mean of its last ``last_n`` readings, summed
    samples: int  # the fewest readings any point has in the interval so far
    last_at: datetime  # the latest reading


def read_meter_point_ids(
    conn: psycopg.Connection, *, building_id: UUID, key: str | None = None
) -> list[UUID]:
    """The building's main-meter points: the power sensor ``key``, else every building-level power sensor
    (no zone: the points the demand charges are computed on)."""
    return [
        r[0]
        for r in conn.execute(
            "SELECT id FROM sensors WHERE building_id = %s AND sensor_type = 'power' AND zone_id IS NULL "
            "AND (%s::text IS NULL OR key = %s) ORDER BY key",
            (building_id, key, key),
        )
    ]


def read_interval_meter(
    conn: psycopg.Connection,
    *,
    sensor_ids: Sequence[UUID],
    start_utc: datetime,
    end_utc: datetime,
    last_n: int = 2,
) -> IntervalMeter | None:
    """The meter's readings in ``[start_utc, end_utc)`` (sensor and energy readings); None without any, or
    when one of the points has none (a partial sum would under-read the building)."""
    rows = conn.execute(
        "WITH raw AS ("
        "  SELECT sensor_id AS point, time, value FROM sensor_readings WHERE sensor_id = ANY(%(ids)s) "
        "    AND time >= %(start)s AND time < %(end)s "
        "  UNION ALL SELECT point_id, time, power_kw FROM energy_readings WHERE point_id = ANY(%(ids)s) "
        "    AND time >= %(start)s AND time < %(end)s AND power_kw IS NOT NULL), "
        "ranked AS (SELECT point, time, value, "
        "  row_number() OVER (PARTITION BY point ORDER BY time DESC) AS n FROM raw) "
        "SELECT point, avg(value), avg(value) FILTER (WHERE n <= %(last)s), count(*), max(time) "
        "FROM ranked GROUP BY point",
        {"ids": list(sensor_ids), "start": start_utc, "end": end_utc, "last": last_n},
    ).fetchall()
    if not rows or len(rows) < len(set(sensor_ids)):
        return None
    return IntervalMeter(
        mean_kw=float(sum(r[1] for r in rows)),
        current_kw=float(sum(r[2] for r in rows)),
        samples=int(min(r[3] for r in rows)),
        last_at=max(r[4] for r in rows),
    )
