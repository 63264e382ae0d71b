"""The SQL behind the panel's history charts: time-binned power and zone readings, hourly energy from the
rollups, the building's tariff and alert counts. Bins are ``date_bin`` over UTC (whole minutes), so they
line up with the local clock of every zone whose offset is a whole number of bin widths (all whole-hour
and half-hour zones for bins up to 30 min)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row

_ORIGIN = "2000-01-01T00:00:00Z"


@dataclass(frozen=True)
class PowerBinRow:
    """Mean power of one meter point over one bin."""

    bin_utc: datetime
    point_key: str
    zone: str | None  # None: a meter not tied to a zone
    avg_power_kw: float


@dataclass(frozen=True)
class ZoneReadingBinRow:
    """Mean of one zone point (temperature or setpoint) over one bin."""

    bin_utc: datetime
    zone: str
    point_key: str
    sensor_type: str  # temperature | setpoint
    protocol: str
    avg_value: float


@dataclass(frozen=True)
class HourlyEnergyRow:
    """One meter point's hourly rollup."""

    bucket_utc: datetime
    point_key: str
    zone: str | None
    energy_kwh: float
    covered_s: float


def _rows(conn: psycopg.Connection, row_type: type, query: str, params: Any = None) -> list:
    with conn.cursor(row_factory=class_row(row_type)) as cursor:
        return cursor.execute(query, params).fetchall()


def read_power_bins(
    conn: psycopg.Connection, *, building_id: UUID, start_utc: datetime, end_utc: datetime, bin_s: int
) -> list[PowerBinRow]:
    """Mean power per meter point and ``bin_s`` bin over [start_utc, end_utc), oldest first.

    Samples come from ``energy_readings`` (MQTT meters, polled power points) and from the power points'
    rows in ``sensor_readings`` (polled points, the simulated history a demo backfills); a sample stored
    in both counts once (UNION drops identical rows)."""
    return _rows(
        conn,
        PowerBinRow,
        "WITH samples AS ("
        " SELECT e.time, e.point_id, e.power_kw FROM energy_readings e"
        " WHERE e.building_id = %(building_id)s AND e.time >= %(start)s AND e.time < %(end)s"
        " AND e.power_kw IS NOT NULL"
        " UNION"
        " SELECT r.time, r.sensor_id, r.value FROM sensor_readings r JOIN sensors p ON p.id = r.sensor_id"
        " WHERE p.building_id = %(building_id)s AND p.sensor_type = 'power'"
        " AND r.time >= %(start)s AND r.time < %(end)s"
        ") "
        "SELECT date_bin(make_interval(secs => %(bin_s)s), x.time, %(origin)s::timestamptz) AS bin_utc, "
        "s.key AS point_key, z.key AS zone, avg(x.power_kw) AS avg_power_kw "
        "FROM samples x JOIN sensors s ON s.id = x.point_id LEFT JOIN zones z ON z.id = s.zone_id "
        "GROUP BY 1, 2, 3 ORDER BY 1, 2",
        {"bin_s": bin_s, "origin": _ORIGIN, "building_id": building_id, "start": start_utc, "end": end_utc},
    )


def read_zone_reading_bins(
    conn: psycopg.Connection, *, building_id: UUID, start_utc: datetime, end_utc: datetime, bin_s: int
) -> list[ZoneReadingBinRow]:
    """Mean temperature and setpoint per zone point and bin over [start_utc, end_utc), oldest first."""
    return _rows(
        conn,
        ZoneReadingBinRow,
        "SELECT date_bin(make_interval(secs => %(bin_s)s), r.time, %(origin)s::timestamptz) AS bin_utc, "
        "z.key AS zone, s.key AS point_key, s.sensor_type, s.protocol, avg(r.value) AS avg_value "
        "FROM sensor_readings r JOIN sensors s ON s.id = r.sensor_id JOIN zones z ON z.id = s.zone_id "
        "WHERE s.building_id = %(building_id)s AND s.sensor_type IN ('temperature', 'setpoint') "
        "AND r.time >= %(start)s AND r.time < %(end)s GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 3",
        {"bin_s": bin_s, "origin": _ORIGIN, "building_id": building_id, "start": start_utc, "end": end_utc},
    )


def read_hourly_energy(
    conn: psycopg.Connection, *, building_id: UUID, start_utc: datetime, end_utc: datetime
) -> list[HourlyEnergyRow]:
    """Hourly energy rollups (``energy_readings_hourly``) per meter point over [start_utc, end_utc)."""
    return _rows(
        conn,
        HourlyEnergyRow,
        "SELECT h.bucket AS bucket_utc, s.key AS point_key, z.key AS zone, "
        "h.total_energy_kwh AS energy_kwh, h.covered_s "
        "FROM energy_readings_hourly h JOIN sensors s ON s.id = h.point_id "
        "LEFT JOIN zones z ON z.id = s.zone_id "
        "WHERE h.building_id = %s AND h.bucket >= %s AND h.bucket < %s ORDER BY h.bucket, s.key",
        (building_id, start_utc, end_utc),
    )


def read_building_tariff(conn: psycopg.Connection, *, building_id: UUID) -> dict | None:
    """The stored definition (site-file form) of the building's tariff, or None."""
    row = conn.execute(
        "SELECT t.definition FROM buildings b JOIN tariffs t ON t.id = b.tariff_id WHERE b.id = %s",
        (building_id,),
    ).fetchone()
    return row[0] if row else None


def read_open_alert_counts(conn: psycopg.Connection, *, building_id: UUID) -> dict[str, int]:
    """Open (unresolved) alerts of the building, and site-wide ones, by severity."""
    rows = conn.execute(
        "SELECT severity, count(*) FROM alerts WHERE (building_id = %s OR building_id IS NULL) "
        "AND NOT resolved GROUP BY severity",
        (building_id,),
    ).fetchall()
    return {severity: int(count) for severity, count in rows}


def read_building_area_m2(conn: psycopg.Connection, *, building_id: UUID) -> float | None:
    """The building's floor area: its total area, else the sum of its zones' areas; None when neither."""
    row = conn.execute(
        "SELECT COALESCE(b.total_area_m2, (SELECT sum(z.area_m2) FROM zones z WHERE z.building_id = b.id)) "
        "FROM buildings b WHERE b.id = %s",
        (building_id,),
    ).fetchone()
    return float(row[0]) if row and row[0] is not None else None
