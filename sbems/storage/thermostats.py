"""Thermostats as the HTTP API shows them: the device, its zone, its stored state and its points' latest
values (the same ``live_state`` the poller and webhooks keep)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import psycopg

from sbems.storage.equipment import UnitPointRow, fetch_rows, read_device_points


@dataclass(frozen=True)
class ThermostatRow:
    key: str
    name: str
    zone: str | None
    manufacturer: str | None
    model: str | None
    device_id: str | None
    current_temp_c: float | None
    target_temp_c: float | None
    mode: str | None
    status: str
    last_seen_at: datetime | None


def read_thermostats(conn: psycopg.Connection, *, building_id: UUID) -> list[ThermostatRow]:
    return fetch_rows(
        conn,
        ThermostatRow,
        "SELECT t.key, t.name, z.key AS zone, t.manufacturer, t.model, t.device_id, "
        "t.current_temp_c::float8 AS current_temp_c, t.target_temp_c::float8 AS target_temp_c, t.mode, "
        "t.status, t.last_seen_at FROM thermostats t LEFT JOIN zones z ON z.id = t.zone_id "
        "WHERE t.building_id = %s ORDER BY t.key",
        (building_id,),
    )


def read_thermostat_points(conn: psycopg.Connection, *, building_id: UUID) -> list[UnitPointRow]:
    """Every point of the building's thermostats with its latest value (None before the first);
    ``unit`` holds the thermostat's key."""
    return read_device_points(conn, building_id=building_id, device_kind="thermostat")
