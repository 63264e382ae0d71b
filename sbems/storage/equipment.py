"""HVAC units as the HTTP API shows them: the unit, its zone, and the latest value of each of its points."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import psycopg
from psycopg.rows import class_row


@dataclass(frozen=True)
class HvacUnitRow:
    key: str
    name: str
    zone: str | None
    manufacturer: str | None
    model: str | None
    capacity_kw: float | None
    protocol: str
    status: str
    last_seen_at: datetime | None


@dataclass(frozen=True)
class UnitPointRow:
    unit: str  # the unit's key
    key: str  # the point's (sensor's) key
    sensor_type: str
    time_utc: datetime | None
    value: float | None
    point_unit: str
    quality: int | None


def read_hvac_units(conn: psycopg.Connection, *, building_id: UUID) -> list[HvacUnitRow]:
    with conn.cursor(row_factory=class_row(HvacUnitRow)) as cursor:
        return cursor.execute(
            "SELECT u.key, u.name, z.key AS zone, u.manufacturer, u.model, "
            "u.capacity_kw::float8 AS capacity_kw, u.protocol, u.status, u.last_seen_at "
            "FROM hvac_units u LEFT JOIN zones z ON z.id = u.zone_id "
            "WHERE u.building_id = %s ORDER BY u.key",
            (building_id,),
        ).fetchall()


def read_hvac_unit_points(conn: psycopg.Connection, *, building_id: UUID) -> list[UnitPointRow]:
    """Every point of the building's HVAC units with its latest value (None before the first)."""
    with conn.cursor(row_factory=class_row(UnitPointRow)) as cursor:
        return cursor.execute(
            "SELECT u.key AS unit, s.key, s.sensor_type, l.time AS time_utc, l.value, s.unit AS point_unit, "
            "l.quality::int AS quality FROM sensors s JOIN hvac_units u ON u.id = s.hvac_unit_id "
            "LEFT JOIN live_state l ON l.sensor_id = s.id WHERE s.building_id = %s ORDER BY u.key, s.key",
            (building_id,),
        ).fetchall()
