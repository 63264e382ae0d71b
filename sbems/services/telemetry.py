"""An HVAC unit's telemetry history for the HTTP API: rows per reading time with each point's value,
newest first, paged by time (the cursor is the oldest time on the page, the next page's exclusive bound)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sbems.domain.site import entity_uuid
from sbems.services.connections import service_connection
from sbems.storage.telemetry import read_unit_telemetry

MAX_ROWS = 500


@dataclass(frozen=True)
class TelemetryRow:
    time_utc: datetime
    values: dict[str, float]  # point key -> value (SI units, as stored)


@dataclass(frozen=True)
class TelemetryPage:
    items: list[TelemetryRow]
    next_cursor: datetime | None


def read_telemetry(
    database_url: str,
    building_key: str,
    unit_key: str,
    *,
    since_utc: datetime | None = None,
    until_utc: datetime | None = None,
    limit: int = 100,
) -> TelemetryPage:
    limit = max(1, min(int(limit), MAX_ROWS))
    with service_connection(database_url) as conn:
        values = read_unit_telemetry(
            conn,
            building_id=entity_uuid("building", building_key),
            unit_key=unit_key,
            since_utc=since_utc,
            until_utc=until_utc,
            times=limit + 1,
        )
    rows: dict[datetime, dict[str, float]] = {}
    for value in values:
        rows.setdefault(value.time_utc, {})[value.point] = value.value
    items = [TelemetryRow(t, v) for t, v in rows.items()]
    more = len(items) > limit
    return TelemetryPage(items[:limit], items[limit - 1].time_utc if more else None)
