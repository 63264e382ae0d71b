"""HVAC units as the HTTP API shows them: the unit, its zone, and the latest value of each of its points."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.rows import class_row

Row = TypeVar("Row")


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


DEVICE_TABLES = {"hvac_unit": ("hvac_units", "hvac_unit_id"), "thermostat": ("thermostats", "thermostat_id")}


def fetch_rows(
    conn: psycopg.Connection, row_type: type[Row], query: sql.Composable | str, params: tuple
) -> list[Row]:
    """The rows of ``query`` as ``row_type`` dataclasses."""
    with conn.cursor(row_factory=class_row(row_type)) as cursor:
        return cursor.execute(query, params).fetchall()


def read_hvac_units(conn: psycopg.Connection, *, building_id: UUID) -> list[HvacUnitRow]:
    return fetch_rows(
        conn,
        HvacUnitRow,
        "SELECT u.key, u.name, z.key AS zone, u.manufacturer, u.model, "
        "u.capacity_kw::float8 AS capacity_kw, u.protocol, u.status, u.last_seen_at "
        "FROM hvac_units u LEFT JOIN zones z ON z.id = u.zone_id "
        "WHERE u.building_id = %s ORDER BY u.key",
        (building_id,),
    )


def read_device_points(
    conn: psycopg.Connection, *, building_id: UUID, device_kind: str
) -> list[UnitPointRow]:
    """Every point of the building's devices of ``device_kind`` (hvac_unit | thermostat) with its latest
    value (None before the first); ``unit`` holds the device's key."""
    table, column = DEVICE_TABLES[device_kind]
    query = sql.SQL(
        "SELECT d.key AS unit, s.key, s.sensor_type, l.time AS time_utc, l.value, s.unit AS point_unit, "
        "l.quality::int AS quality FROM sensors s JOIN {table} d ON d.id = s.{column} "
        "LEFT JOIN live_state l ON l.sensor_id = s.id WHERE s.building_id = %s ORDER BY d.key, s.key"
    ).format(table=sql.Identifier(table), column=sql.Identifier(column))
    return fetch_rows(conn, UnitPointRow, query, (building_id,))


def read_hvac_unit_points(conn: psycopg.Connection, *, building_id: UUID) -> list[UnitPointRow]:
    """Every point of the building's HVAC units with its latest value (None before the first)."""
    return read_device_points(conn, building_id=building_id, device_kind="hvac_unit")
