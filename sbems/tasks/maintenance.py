"""Tasks of the ``maintenance`` flow: partitions ahead, energy rollups, retention.

Each task opens its own connection and commits when it returns. The window, cutoffs and summary are
``sbems.domain.maintenance``; the SQL is ``sbems.storage.partitions`` and ``sbems.storage.rollups``.
"""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from sbems.domain.site import entity_uuid
from sbems.storage import db, partitions, rollups


@task(retries=2, retry_delay_seconds=5, tags=["database"], cache_policy=NO_CACHE)
def create_partitions_ahead(database_url: str, now_utc: datetime, days_ahead: int) -> list[str]:
    with db.connect(database_url) as conn:
        return partitions.create_partitions_ahead(conn, now_utc=now_utc, days_ahead=days_ahead)


@task(retries=2, retry_delay_seconds=5, tags=["database"], cache_policy=NO_CACHE)
def write_rollups(
    database_url: str, building_id: str | None, start_utc: datetime, end_utc: datetime
) -> dict[str, int]:
    """Recompute the hourly and daily buckets touching the window; returns rows upserted per table."""
    b_id = entity_uuid("building", building_id) if building_id else None
    with db.connect(database_url) as conn:
        return {
            "energy_readings_hourly": rollups.write_hourly_rollups(
                conn, start_utc=start_utc, end_utc=end_utc, building_id=b_id
            ),
            "energy_readings_daily": rollups.write_daily_rollups(
                conn, start_utc=start_utc, end_utc=end_utc, building_id=b_id
            ),
        }


@task(retries=2, retry_delay_seconds=5, tags=["database"], cache_policy=NO_CACHE)
def apply_retention(
    database_url: str, raw_cutoffs_utc: dict[str, datetime], rollup_cutoffs_utc: dict[str, datetime]
) -> dict[str, dict]:
    """Drop expired raw partitions/chunks and delete expired rollup rows, in one transaction."""
    with db.connect(database_url) as conn:
        raw = rollups.drop_expired_raw(conn, cutoffs_utc=raw_cutoffs_utc)
        deleted = rollups.delete_expired_rollups(conn, cutoffs_utc=rollup_cutoffs_utc)
    return {
        "partitions_dropped": raw.dropped,
        "default_rows_deleted": raw.default_rows_deleted,
        "rollup_rows_deleted": deleted,
    }
