"""History reads with time ranges and paging for the HTTP API (the panel shows fixed-size latest lists).

Raises ``sbems.services.errors.ServiceUnavailable`` when the database cannot be reached.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sbems.services.connections import service_connection
from sbems.storage.audit_pages import AuditEntryRow, read_audit_page

MAX_PAGE = 500


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
