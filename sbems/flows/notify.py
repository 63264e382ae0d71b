"""The ``notify`` flow (every minute): one pass of the alert delivery loop for a building."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow

from sbems.runtime import flow_database_url
from sbems.tasks import notify as t


@flow(name="notify", log_prints=True)
def notify(building_id: str = "hq", database_url: str | None = None, now_utc: datetime | None = None) -> dict:
    """Route the building's new alerts, escalate the unacknowledged ones and send what is due (alerts
    without a building are handled by every building's pass; row locks keep them from going out twice)."""
    url = flow_database_url(database_url)
    now = now_utc or datetime.now(UTC)
    routed, queued = t.route_new_alerts(url, building_id, now)
    escalated = t.escalate_alerts(url, building_id, now)
    sent = t.send_due_deliveries(url, building_id, now)
    summary = {"building": building_id, "routed": routed, "queued": queued, "escalated": escalated} | sent
    print(", ".join(f"{k}: {v}" for k, v in summary.items()))
    return summary
