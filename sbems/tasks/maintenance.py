"""Tasks of the ``maintenance`` flow: partitions ahead, energy rollups, retention.

Each database task opens its own connection and commits when it returns. The pure helpers compute the
rollup window, the retention cutoffs and the run's markdown summary.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from prefect import task
from prefect.cache_policies import NO_CACHE

from sbems.domain.site import entity_uuid
from sbems.storage import db

RAW_TABLES = ("sensor_readings", "hvac_telemetry", "energy_readings")
ROLLUP_TABLES = ("energy_readings_hourly", "energy_readings_daily")


@dataclass(frozen=True)
class RetentionPolicy:
    """Days kept per table (defaults, from seed §4.4, live in the settings)."""

    raw_days: int  # sensor_readings, hvac_telemetry
    energy_days: int  # energy_readings
    hourly_days: int  # energy_readings_hourly
    daily_days: int  # energy_readings_daily

    def days_of(self, table: str) -> int:
        return {
            "sensor_readings": self.raw_days,
            "hvac_telemetry": self.raw_days,
            "energy_readings": self.energy_days,
            "energy_readings_hourly": self.hourly_days,
            "energy_readings_daily": self.daily_days,
        }[table]


def read_retention_policy() -> RetentionPolicy:
    """The policy from the ``SBEMS_RETENTION_*`` settings."""
    from sbems.config import load_settings

    s = load_settings()
    return RetentionPolicy(
        s.retention_raw_days, s.retention_energy_days, s.retention_hourly_days, s.retention_daily_days
    )


def retention_cutoffs(
    now_utc: datetime, policy: RetentionPolicy, tables: tuple[str, ...]
) -> dict[str, datetime]:
    return {table: now_utc - timedelta(days=policy.days_of(table)) for table in tables}


def rollup_window(now_utc: datetime, hours: float) -> tuple[datetime, datetime]:
    """[now - hours, now): every hourly and daily bucket touching it is recomputed."""
    return now_utc - timedelta(hours=hours), now_utc


@task(retries=2, retry_delay_seconds=5, tags=["database"], cache_policy=NO_CACHE)
def create_partitions_ahead(database_url: str, now_utc: datetime, days_ahead: int) -> list[str]:
    from sbems.storage.partitions import create_partitions_ahead as create

    with db.connect(database_url) as conn:
        return create(conn, now_utc=now_utc, days_ahead=days_ahead)


@task(retries=2, retry_delay_seconds=5, tags=["database"], cache_policy=NO_CACHE)
def write_rollups(
    database_url: str, building_id: str | None, start_utc: datetime, end_utc: datetime
) -> dict[str, int]:
    """Recompute the hourly and daily buckets touching the window; returns rows upserted per table."""
    from sbems.storage.rollups import write_daily_rollups, write_hourly_rollups

    b_id = entity_uuid("building", building_id) if building_id else None
    with db.connect(database_url) as conn:
        return {
            "energy_readings_hourly": write_hourly_rollups(
                conn, start_utc=start_utc, end_utc=end_utc, building_id=b_id
            ),
            "energy_readings_daily": write_daily_rollups(
                conn, start_utc=start_utc, end_utc=end_utc, building_id=b_id
            ),
        }


@task(retries=2, retry_delay_seconds=5, tags=["database"], cache_policy=NO_CACHE)
def apply_retention(
    database_url: str, raw_cutoffs_utc: dict[str, datetime], rollup_cutoffs_utc: dict[str, datetime]
) -> dict[str, dict]:
    """Drop expired raw partitions/chunks and delete expired rollup rows, in one transaction."""
    from sbems.storage.rollups import delete_expired_rollups, drop_expired_raw

    with db.connect(database_url) as conn:
        raw = drop_expired_raw(conn, cutoffs_utc=raw_cutoffs_utc)
        rollups = delete_expired_rollups(conn, cutoffs_utc=rollup_cutoffs_utc)
    return {
        "partitions_dropped": raw.dropped,
        "default_rows_deleted": raw.default_rows_deleted,
        "rollup_rows_deleted": rollups,
    }


def summary_markdown(summary: dict) -> str:
    created = summary["partitions_created"]
    dropped = [name for names in summary["partitions_dropped"].values() for name in names]
    lines = [
        f"Window {summary['rollup_window_utc'][0]} to {summary['rollup_window_utc'][1]} "
        f"(building: {summary['building']})",
        "",
        "| step | result |",
        "|---|---|",
        f"| partitions created | {len(created)}: {', '.join(created) or '-'} |",
        f"| partitions dropped | {len(dropped)}: {', '.join(dropped) or '-'} |",
    ]
    lines += [f"| {table} buckets upserted | {n} |" for table, n in summary["buckets_upserted"].items()]
    lines += [f"| {table} rows deleted | {n} |" for table, n in summary["rollup_rows_deleted"].items()]
    lines += [
        f"| {table}_default expired rows deleted | {n} |"
        for table, n in summary["default_rows_deleted"].items()
        if n
    ]
    return "\n".join(lines)
