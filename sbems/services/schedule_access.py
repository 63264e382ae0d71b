"""Which buildings use a schedule: a schedule's setpoints are changed everywhere it is used, so a change
needs write access to each of those buildings (checked by the API before
``schedule_edits.write_schedule_setpoints``)."""

from __future__ import annotations

from sbems.services.connections import service_connection
from sbems.services.panel_read import read_schedules
from sbems.storage.panel import read_buildings


def schedule_buildings(database_url: str, schedule_id: str) -> list[str]:
    """Keys of every building whose zones follow ``schedule_id`` (visible to the caller or not)."""
    with service_connection(database_url) as conn:
        keys = [b.key for b in read_buildings(conn)]
    return [key for key in keys if any(v.id == schedule_id for v in read_schedules(database_url, key))]
