"""Open alerts counted by severity per building (site-wide alerts counted in every building), for the
API's ``/alerts/summary``."""

from __future__ import annotations

from sbems.domain.site import entity_uuid
from sbems.services.connections import service_connection
from sbems.storage.trends import read_open_alert_counts

SEVERITIES = ("critical", "warning", "info")


def open_alert_counts(database_url: str, building_keys: list[str]) -> dict[str, dict[str, int]]:
    """building key -> {critical, warning, info, total} of its open (unresolved) alerts."""
    out = {}
    with service_connection(database_url) as conn:
        for key in building_keys:
            counts = read_open_alert_counts(conn, building_id=entity_uuid("building", key))
            row = {s: counts.get(s, 0) for s in SEVERITIES}
            out[key] = {**row, "total": sum(counts.values())}
    return out
