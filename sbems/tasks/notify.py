"""Tasks of the ``notify`` flow: one delivery pass, step by step (``sbems.services.notifications``).

The apprise URLs are secrets: they come from the settings inside each task, never as flow parameters
(Prefect stores parameters).
"""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from sbems.config import load_settings
from sbems.services import notifications


@task(retries=2, retry_delay_seconds=5, tags=["database"], cache_policy=NO_CACHE)
def route_new_alerts(database_url: str, building_id: str, now_utc: datetime) -> tuple[int, int]:
    """Queue deliveries for the alerts nobody routed yet: (alerts routed, deliveries queued)."""
    return notifications.route_new_alerts(
        database_url, notifications.settings_notify_config(load_settings()), now_utc, building_id
    )


@task(retries=2, retry_delay_seconds=5, tags=["database"], cache_policy=NO_CACHE)
def escalate_alerts(database_url: str, building_id: str, now_utc: datetime) -> int:
    """Queue escalations for the alerts not acknowledged in time: alerts escalated."""
    return notifications.escalate_alerts(
        database_url, notifications.settings_notify_config(load_settings()), now_utc, building_id
    )


@task(tags=["notify"], cache_policy=NO_CACHE)  # no task retries: a failed delivery is retried by the table
def send_due_deliveries(database_url: str, building_id: str, now_utc: datetime) -> dict[str, int]:
    """Send what is due (apprise); counts per outcome (sent, retrying, held, skipped)."""
    return notifications.send_due_deliveries(
        database_url, notifications.settings_notify_config(load_settings()), now_utc, building_id
    )
