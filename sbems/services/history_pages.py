"""History reads with time ranges and paging for the HTTP API (the panel shows fixed-size latest lists).

Raises ``sbems.services.errors.ServiceUnavailable`` when the database cannot be reached.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sbems.domain.site import entity_uuid
from sbems.services.connections import service_connection
from sbems.storage.history_pages import (
    AuditEntryRow,
    ReadingRow,
    SensorRow,
    read_audit_page,
    read_building_sensors,
    read_readings_page,
)

MAX_PAGE = 500


@dataclass(frozen=True)
class ReadingsPage:
    items: list[ReadingRow]
    next_cursor: datetime | None  # pass as ``until_utc`` for the next (older) page; None: no more


@dataclass(frozen=True)
class AuditPage:
    items: list[AuditEntryRow]
    next_cursor: int | None  # pass as ``before_id`` for the next (older) page; None: no more


def read_control_history(
    database_url: str,
    building_key: str,
    *,
    since_utc: datetime | None = None,
    until_utc: datetime | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> AuditPage:
    """One page of the building's audit trail (commands, releases, refusals, alert and schedule changes)."""
    limit = max(1, min(int(limit), MAX_PAGE))
    with service_connection(database_url) as conn:
        rows = read_audit_page(
            conn,
            building_key=building_key,
            since_utc=since_utc,
            until_utc=until_utc,
            before_id=before_id,
            limit=limit + 1,
        )
    more = len(rows) > limit
    return AuditPage(rows[:limit], rows[limit - 1].id if more else None)


def read_sensors(database_url: str, building_key: str) -> list[SensorRow]:
    """The building's sensors (every point SBEMS reads) with their latest value."""
    with service_connection(database_url) as conn:
        return read_building_sensors(conn, building_id=entity_uuid("building", building_key))


def read_sensor_readings(
    database_url: str,
    building_key: str,
    sensor_key: str,
    *,
    since_utc: datetime | None = None,
    until_utc: datetime | None = None,
    limit: int = 100,
) -> ReadingsPage:
    """One page of a sensor's stored readings, newest first (readings share no id: the cursor is the
    oldest time on the page, used as the next page's exclusive upper bound)."""
    limit = max(1, min(int(limit), MAX_PAGE))
    with service_connection(database_url) as conn:
        rows = read_readings_page(
            conn,
            sensor_id=entity_uuid("sensor", building_key, sensor_key),
            since_utc=since_utc,
            until_utc=until_utc,
            limit=limit + 1,
        )
    more = len(rows) > limit
    return ReadingsPage(rows[:limit], rows[limit - 1].time_utc if more else None)
