"""The ``maintenance`` flow (hourly): daily partitions ahead, hourly/daily energy rollups, retention (the
weather tables included, with the other raw data)."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from sbems.domain.maintenance import (
    RAW_TABLES,
    ROLLUP_TABLES,
    RetentionPolicy,
    retention_cutoffs,
    rollup_window,
    summary_markdown,
)
from sbems.runtime import flow_database_url
from sbems.services.maintenance import read_retention_policy
from sbems.tasks import maintenance as t
from sbems.tasks import weather as weather_tasks


@flow(name="maintenance", log_prints=True)
def maintenance(
    building_id: str | None = None,
    database_url: str | None = None,
    now_utc: datetime | None = None,
    rollup_hours: float = 3,
    partitions_ahead_days: int = 7,
    retention: RetentionPolicy | None = None,
) -> dict:
    """Create partitions ahead, recompute the energy rollups touching the last ``rollup_hours`` (of
    ``building_id``, or every building when None), then apply retention (``SBEMS_RETENTION_*`` unless
    ``retention`` is given). Partitions and retention are database-wide."""
    url = flow_database_url(database_url)
    now = now_utc or datetime.now(UTC)
    policy = retention or read_retention_policy()
    created = t.create_partitions_ahead(url, now, partitions_ahead_days)
    start, end = rollup_window(now, rollup_hours)
    upserted = t.write_rollups(url, building_id, start, end)
    removed = t.apply_retention(
        url, retention_cutoffs(now, policy, RAW_TABLES), retention_cutoffs(now, policy, ROLLUP_TABLES)
    )
    weather_deleted = weather_tasks.delete_expired_weather(url, now, policy.raw_days)
    summary = {
        "building": building_id or "all",
        "now_utc": now.isoformat(),
        "rollup_window_utc": [start.isoformat(), end.isoformat()],
        "partitions_created": created,
        "buckets_upserted": upserted,
        **removed,
        "weather_rows_deleted": weather_deleted,
    }
    weather_lines = [f"| {table} rows deleted | {n} |" for table, n in weather_deleted.items()]
    create_markdown_artifact(
        key=f"maintenance-{building_id or 'all'}",
        markdown="\n".join([summary_markdown(summary), *weather_lines]),
        description=f"Maintenance at {now:%Y-%m-%d %H:%M} UTC",
    )
    return summary
